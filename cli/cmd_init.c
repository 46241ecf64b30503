/* SPDX-License-Identifier: ISC */
/* cmd_init: coffer init [--name-by time|count] [--scope S] [--custody C] */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char init_usage[] =
    "usage: coffer init [--repo DIR] [--json] [--name-by time|count]\n"
    "                   [--scope device|period|backup] [--period day|week|month]\n"
    "                   [--custody local|escrow|local+escrow|escrow-wrap]\n"
    "\nCreate a repository in DIR (new or empty) and its key in the\n"
    "keystore.  Snapshots are named by their UTC time (default) or by a\n"
    "running count (1, 2, 3, ...).  The scope says which backups share a\n"
    "key: all of this device's (device, the default), those of one day,\n"
    "week or month (period), or none (backup: a new key every time).\n"
    "The custody says where each key set's key is kept: in the keystore\n"
    "(local, the default), only at the escrow server (escrow), both\n"
    "(local+escrow), or sealed on the card to a key pair of the server\n"
    "(escrow-wrap).  Escrow custodies need 'coffer escrow login' first.\n"
    "\nexamples:\n  coffer --repo /media/card/coffer init\n"
    "  coffer --repo /media/card/coffer init --custody escrow\n";

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
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	struct coffer_err err = { 0 };
	struct coffer_ctx ctx;
	const char *name_by = "time";
	int scope = COFFER_SCOPE_DEFAULT, period = COFFER_PERIOD_DEFAULT;
	int custody = COFFER_CUSTODY_DEFAULT;
	const char *v;
	bool json = false;
	int ch;

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
			break;
		case 'j':
			json = true;
			break;
		case 's':
			if (parse_scope(optarg, &scope) != 0)
				return usage_err(init_usage, "--scope must be "
				    "device, period or backup, not '%s'", optarg);
			break;
		case 'p':
			if (parse_period(optarg, &period) != 0)
				return usage_err(init_usage, "--period must be "
				    "day, week or month, not '%s'", optarg);
			break;
		case 'c':
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
	if ((ch = ctx_make(&ctx)) != EXIT_OK)
		return ch;
	if (coffer_repo_init(&ctx, strcmp(name_by, "count") == 0, scope, period,
	    custody, &err) != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if (json) {
		static const char *const periods[] = { "day", "week", "month" };

		return json_print(json_pack("{s:o, s:s, s:s, s:s, s:s}", "repo",
		    json_bytes(g_opts.repo, strlen(g_opts.repo)), "name_by",
		    name_by, "scope", scope_names[scope ? scope :
		    COFFER_SCOPE_DEVICE], "period", periods[period >= 0 ?
		    period : 0], "custody", custody_names[custody ? custody :
		    COFFER_CUSTODY_LOCAL]));
	}
	if (g_opts.quiet)
		return EXIT_OK;
	printf("created coffer repository at '%s'\n", g_opts.repo);
	if (custody == COFFER_CUSTODY_DEFAULT || custody == COFFER_CUSTODY_LOCAL)
		printf("its key is in the keystore on this device: keep the "
		    "keystore safe, without it the backups cannot be read\n");
	else
		printf("custody %s: each key set's key goes to the escrow "
		    "server you are logged in to ('coffer escrow login')\n",
		    custody_names[custody]);
	return EXIT_OK;
}
