/* SPDX-License-Identifier: ISC */
/*
 * cmd_init: coffer init [--name-by time|count] [--scope S] [--custody C]
 *                       [--no-password]
 * coffer init --like REPO
 */
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char init_usage[] =
    "usage: coffer init [--repo DIR] [--json] [--name-by time|count]\n"
    "                   [--scope device|period|backup] [--period day|week|month]\n"
    "                   [--custody local|escrow|local+escrow|escrow-wrap]\n"
    "                   [--no-password]\n"
    "       coffer init [--repo DIR] [--json] --like REPO\n"
    "\nCreate a repository in DIR (new or empty) and its key in the\n"
    "keystore.  Snapshots are named by their UTC time (default) or by a\n"
    "running count (1, 2, 3, ...).  The scope says which backups share a\n"
    "key: all of this device's (device, the default), those of one day,\n"
    "week or month (period), or none (backup: a new key every time).\n"
    "The custody says where each key set's key is kept: in the keystore\n"
    "(local, the default), only at the escrow server (escrow), both\n"
    "(local+escrow), or sealed on the card to a key pair of the server\n"
    "(escrow-wrap).  Escrow custodies need 'coffer escrow login' first.\n"
    "\n--like REPO makes DIR a copy of the repository REPO (a second card,\n"
    "a NAS folder): the same repository id, naming and defaults, so that\n"
    "REPO's key sets open there and 'coffer copy' fills it with REPO's\n"
    "snapshots and their keys; it writes no key to the keystore.\n"
    "\nOn a terminal, when the keystore has no password yet, init asks for\n"
    "one (twice; it must be hard to guess) before it writes the key, so\n"
    "that the key is never on the disk in the clear; COFFER_NEW_PASSWORD_FILE\n"
    "gives it without a terminal.  --no-password skips this: the key is\n"
    "then protected only by the keystore's file permissions, and a\n"
    "password set later leaves the clear key's old blocks on the disk.\n"
    "\nexamples:\n  coffer --repo /media/card/coffer init\n"
    "  coffer --repo /media/card/coffer init --custody escrow\n"
    "  coffer --repo /media/card2/coffer init --like /media/card/coffer\n";

/* The new password, answered when init unlocks the keystore it set. */
static int
held_password(void *cookie, const char *prompt, char *buf, size_t cap)
{
	const struct held { const char *p; int n; } *h = cookie;

	(void)prompt;
	if (h->n < 0 || (size_t)h->n > cap)
		return -1;
	memcpy(buf, h->p, (size_t)h->n);
	return h->n;
}

/*
 * first_password(ctx, &pw, &n): ask for (or read) the keystore's first
 * password and set it, before the repository's key is written.  *n
 * stays -1 when none is wanted: --no-password, a keystore that has one
 * already, or no terminal and no COFFER_NEW_PASSWORD_FILE (then a hint
 * on stderr).  EXIT_OK, or EXIT_FAIL after a message.
 */
static int
first_password(struct coffer_ctx *ctx, bool no_password, char **pw, int *n)
{
	struct coffer_err err = { 0 };
	const char *f = getenv("COFFER_NEW_PASSWORD_FILE");
	bool has = false;

	*pw = NULL;
	*n = -1;
	if (no_password)
		return EXIT_OK;
	if (coffer_keystore_has_password(ctx, &has, &err) != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if (has)
		return EXIT_OK;
	if ((f == NULL || *f == '\0') && !isatty(STDIN_FILENO)) {
		if (!g_opts.quiet)
			fprintf(stderr, "coffer init: the keystore has no "
			    "password; set one with 'coffer keystore passwd' "
			    "(or run init on a terminal, or give "
			    "--no-password)\n");
		return EXIT_OK;
	}
	if ((*pw = coffer_secret_alloc(SECRET_MAX)) == NULL)
		return EXIT_FAIL;
	if ((*n = ask_new_secret("keystore password",
	    "COFFER_NEW_PASSWORD_FILE", NULL, *pw, SECRET_MAX)) < 0)
		return EXIT_FAIL;
	if (coffer_keystore_first_password(ctx, *pw, (size_t)*n, &err) != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* init_like(ctx, like, json): coffer init --like REPO. */
static int
init_like(struct coffer_ctx *ctx, const char *like, bool json)
{
	struct coffer_err err = { 0 };

	if (coffer_repo_init_like(ctx, like, &err) != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if (json)
		return json_print(json_pack("{s:o, s:o}", "repo",
		    json_bytes(g_opts.repo, strlen(g_opts.repo)), "like",
		    json_bytes(like, strlen(like))));
	if (!g_opts.quiet)
		printf("created coffer repository at '%s', a copy of '%s': "
		    "fill it with 'coffer --repo %s copy --to %s'\n",
		    g_opts.repo, like, like, g_opts.repo);
	return EXIT_OK;
}

int
cmd_init(int argc, char **argv)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		{ "name-by",	required_argument,	NULL, 'n' },
		{ "scope",	required_argument,	NULL, 's' },
		{ "period",	required_argument,	NULL, 'p' },
		{ "custody",	required_argument,	NULL, 'c' },
		{ "json",	no_argument,		NULL, 'j' },
		{ "no-password", no_argument,		NULL, 'P' },
		{ "like",	required_argument,	NULL, 'L' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	struct coffer_err err = { 0 };
	struct coffer_ctx ctx;
	const char *name_by = "time";
	int scope = COFFER_SCOPE_DEFAULT, period = COFFER_PERIOD_DEFAULT;
	int custody = COFFER_CUSTODY_DEFAULT;
	struct held { const char *p; int n; } held = { NULL, -1 };
	const char *v, *like = NULL;
	bool json = false, no_password = false, other = false;
	char *pw = NULL;
	char ksdir[4096];
	int ch, rc;

	if (g_config.custody != 0)
		custody = g_config.custody;
	if ((v = getenv("COFFER_CUSTODY")) != NULL && *v != '\0' &&
	    parse_custody(v, &custody) != 0)
		return usage_err(init_usage, "COFFER_CUSTODY must be local, "
		    "escrow, local+escrow or escrow-wrap, not '%s'", v);
	while ((ch = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		if (global_opt(ch, optarg))
			continue;
		switch (ch) {
		case 'n':
			name_by = optarg;
			other = true;
			break;
		case 'L':
			like = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'P':
			no_password = true;
			break;
		case 's':
			other = true;
			if (parse_scope(optarg, &scope) != 0)
				return usage_err(init_usage, "--scope must be "
				    "device, period or backup, not '%s'", optarg);
			break;
		case 'p':
			other = true;
			if (parse_period(optarg, &period) != 0)
				return usage_err(init_usage, "--period must be "
				    "day, week or month, not '%s'", optarg);
			break;
		case 'c':
			other = true;
			if (parse_custody(optarg, &custody) != 0)
				return usage_err(init_usage, "--custody must be "
				    "local, escrow, local+escrow or escrow-wrap, "
				    "not '%s'", optarg);
			break;
		case 'h':
			fputs(init_usage, stdout);
			return EXIT_OK;
		default:
			fputs(init_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return usage_err(init_usage, "unexpected argument '%s'",
		    argv[optind]);
	if (strcmp(name_by, "time") != 0 && strcmp(name_by, "count") != 0)
		return usage_err(init_usage, "--name-by must be 'time' or "
		    "'count', not '%s'", name_by);
	if (g_opts.repo == NULL)
		return usage_err(init_usage, "no repository given (use --repo "
		    "DIR or set COFFER_REPO)");
	if (like != NULL && (other || no_password))
		return usage_err(init_usage, "--like takes everything from "
		    "'%s': give no --name-by, --scope, --period, --custody or "
		    "--no-password with it", like);
	if ((ch = ctx_make(&ctx)) != EXIT_OK)
		return ch;
	if (like != NULL)
		return init_like(&ctx, like, json);
	/* The password first: the key file is then never in the clear. */
	if ((rc = first_password(&ctx, no_password, &pw, &held.n)) !=
	    EXIT_OK) {
		coffer_secret_free(pw);
		return rc;
	}
	if (held.n >= 0) {
		held.p = pw;
		ctx.get_password = held_password;
		ctx.cookie = &held;
	}
	rc = coffer_repo_init(&ctx, strcmp(name_by, "count") == 0, scope,
	    period, custody, &err) != 0 ? EXIT_FAIL : EXIT_OK;
	coffer_secret_free(pw);
	if (rc != EXIT_OK) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if (coffer_keystore_dir(&ctx, ksdir, sizeof(ksdir), &err) != 0)
		snprintf(ksdir, sizeof(ksdir), "?");
	if (json) {
		static const char *const periods[] = { "day", "week", "month" };

		return json_print(json_pack("{s:o, s:o, s:s, s:s, s:s, s:s, "
		    "s:b}", "repo", json_bytes(g_opts.repo,
		    strlen(g_opts.repo)),
		    "keystore", json_bytes(ksdir, strlen(ksdir)),
		    "name_by", name_by, "scope", scope_names[scope ? scope :
		    COFFER_SCOPE_DEVICE], "period", periods[period >= 0 ?
		    period : 0], "custody", custody_names[custody ? custody :
		    COFFER_CUSTODY_LOCAL], "password_set", held.n >= 0));
	}
	if (g_opts.quiet)
		return EXIT_OK;
	if (held.n >= 0)
		printf("keystore password set\n");
	printf("created coffer repository at '%s'\n", g_opts.repo);
	if (custody == COFFER_CUSTODY_DEFAULT || custody == COFFER_CUSTODY_LOCAL)
		printf("its key is in the keystore '%s' on this device: keep "
		    "a copy of it somewhere safe, without it the backups "
		    "cannot be read\n", ksdir);
	else
		printf("custody %s: each key set's key goes to the escrow "
		    "server you are logged in to ('coffer escrow login')\n",
		    custody_names[custody]);
	return EXIT_OK;
}
