/* SPDX-License-Identifier: ISC */
/* cmd_keystore: coffer keystore passwd */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char keystore_usage[] =
    "usage: coffer keystore passwd [--keystore DIR | --system]\n"
    "\nSet or change the keystore password.  Once set, every command that\n"
    "needs a key asks for it (or reads COFFER_PASSWORD_FILE), and the\n"
    "keys are stored wrapped under a key derived from it with Argon2id.\n"
    "The new password is asked twice on the terminal, or read from\n"
    "COFFER_NEW_PASSWORD_FILE.  The card is not touched.\n";

int
cmd_keystore(int argc, char **argv)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	struct coffer_err err = { 0 };
	struct coffer_ctx ctx;
	char *pw;
	int ch, n, rc;

	while ((ch = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		if (global_opt(ch, optarg))
			continue;
		switch (ch) {
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
	if ((pw = coffer_secret_alloc(SECRET_MAX)) == NULL)
		return EXIT_FAIL;
	/* The current password (if any) is asked first, by the library. */
	n = ask_new_secret("keystore password", "COFFER_NEW_PASSWORD_FILE",
	    NULL, pw, SECRET_MAX);
	if (n < 0) {
		coffer_secret_free(pw);
		return EXIT_FAIL;
	}
	rc = coffer_keystore_passwd(&ctx, pw, (size_t)n, &err) == 0 ?
	    EXIT_OK : EXIT_FAIL;
	coffer_secret_free(pw);
	if (rc != EXIT_OK)
		report_err(&err);
	else if (!g_opts.quiet)
		printf("keystore password set\n");
	return rc;
}
