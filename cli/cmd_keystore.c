/* SPDX-License-Identifier: ISC */
/* cmd_keystore: coffer keystore passwd */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char keystore_usage[] =
    "usage: coffer keystore passwd [--keystore DIR | --system] [--json]\n"
    "\nSet or change the keystore password.  Once set, every command that\n"
    "needs a key asks for it (or reads COFFER_PASSWORD_FILE), and the\n"
    "keys are stored wrapped under a key derived from it with Argon2id.\n"
    "The new password is asked twice on the terminal, or read from\n"
    "COFFER_NEW_PASSWORD_FILE.  It must be hard to guess: one that zxcvbn\n"
    "rates under 45 bits is refused with the reason (use 4 or more random\n"
    "words, or 12 or more random letters, digits and symbols).  The card\n"
    "is not touched.  Key files written before the first password stay\n"
    "on the disk in the clear until overwritten: set the password at\n"
    "'coffer init' instead.  --json prints {\"keystore\", \"password_set\"}\n"
    "when it is done.\n";

static int
get_new(void *cookie, const char *prompt, char *buf, size_t cap)
{
	(void)cookie;
	(void)prompt;
	return ask_new_secret("keystore password", "COFFER_NEW_PASSWORD_FILE",
	    NULL, buf, cap);
}

int
cmd_keystore(int argc, char **argv)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		{ "json",	no_argument,		NULL, 'j' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	struct coffer_err err = { 0 };
	struct coffer_ctx ctx;
	char ksdir[4096];
	bool json = false;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		if (global_opt(ch, optarg))
			continue;
		switch (ch) {
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(keystore_usage, stdout);
			return EXIT_OK;
		default:
			fputs(keystore_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1 || strcmp(argv[optind], "passwd") != 0)
		return usage_err(keystore_usage, "the subcommand is 'passwd'");
	if ((ch = ctx_make(&ctx)) != EXIT_OK)
		return ch;
	/* The library asks the current password first, then calls us. */
	rc = coffer_keystore_passwd(&ctx, get_new, &err) == 0 ? EXIT_OK :
	    EXIT_FAIL;
	if (rc != EXIT_OK) {
		report_err(&err);
		return rc;
	}
	if (json) {
		if (coffer_keystore_dir(&ctx, ksdir, sizeof(ksdir), &err) != 0) {
			report_err(&err);
			return EXIT_FAIL;
		}
		return json_print(json_pack("{s:o, s:b}", "keystore",
		    json_bytes(ksdir, strlen(ksdir)), "password_set", 1));
	}
	if (!g_opts.quiet)
		printf("keystore password set\n");
	return rc;
}
