/* SPDX-License-Identifier: ISC */
/* cmd_backup: coffer backup PATH... | --stdin --stdin-name NAME */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char backup_usage[] =
    "usage: coffer backup [--repo DIR] [--json] [--scope S] [--period P] PATH...\n"
    "       coffer backup [--repo DIR] [--json] --stdin --stdin-name NAME\n"
    "\nBack up files and folders as one new snapshot.  Paths are stored as\n"
    "given, without a leading '/'.  Files that cannot be read are left\n"
    "out with a warning and the exit status is 3.  --scope and --period\n"
    "override the repository's default key scope for this backup.\n"
    "\nexamples:\n  coffer backup ~/Documents ~/Pictures\n"
    "  pg_dump db | coffer backup --stdin --stdin-name db.sql\n";

int
cmd_backup(int argc, char **argv)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		{ "stdin",	no_argument,		NULL, 's' },
		{ "stdin-name",	required_argument,	NULL, 'N' },
		{ "json",	no_argument,		NULL, 'j' },
		{ "scope",	required_argument,	NULL, 'S' },
		{ "period",	required_argument,	NULL, 'P' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	struct coffer_backup_opts o = { .period = COFFER_PERIOD_DEFAULT };
	struct coffer_backup_result res;
	struct coffer_err err = { 0 };
	struct coffer_ctx ctx;
	bool json = false;
	char a[32], b[32];
	int ch;

	while ((ch = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		if (global_opt(ch, optarg))
			continue;
		switch (ch) {
		case 's':
			o.use_stdin = true;
			break;
		case 'N':
			o.stdin_name = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'S':
			if (parse_scope(optarg, &o.scope) != 0)
				return usage_err(backup_usage, "--scope must be "
				    "device, period or backup, not '%s'", optarg);
			break;
		case 'P':
			if (parse_period(optarg, &o.period) != 0)
				return usage_err(backup_usage, "--period must be "
				    "day, week or month, not '%s'", optarg);
			break;
		case 'h':
			fputs(backup_usage, stdout);
			return EXIT_OK;
		default:
			fputs(backup_usage, stderr);
			return EXIT_USAGE;
		}
	}
	o.paths = (const char *const *)argv + optind;
	o.npaths = (size_t)(argc - optind);
	if (o.use_stdin && o.npaths > 0)
		return usage_err(backup_usage, "--stdin takes no paths");
	if (o.use_stdin && o.stdin_name == NULL)
		return usage_err(backup_usage, "--stdin needs --stdin-name NAME");
	if (!o.use_stdin && o.stdin_name != NULL)
		return usage_err(backup_usage, "--stdin-name needs --stdin");
	if (!o.use_stdin && o.npaths == 0)
		return usage_err(backup_usage, "nothing to back up: give paths");
	if (g_opts.repo == NULL)
		return usage_err(backup_usage, "no repository given (use --repo "
		    "DIR or set COFFER_REPO)");
	if ((ch = ctx_make(&ctx)) != EXIT_OK)
		return ch;
	if (coffer_backup(&ctx, &o, &res, &err) != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if (json) {
		json_t *doc = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, "
		    "s:I, s:I, s:I}", "name", res.name, "id", res.id, "key_id",
		    res.key_id, "files", (json_int_t)res.nfiles, "unchanged",
		    (json_int_t)res.nunchanged, "dirs",
		    (json_int_t)res.ndirs, "other", (json_int_t)res.nother,
		    "size", (json_int_t)res.size, "added",
		    (json_int_t)res.added, "warnings",
		    (json_int_t)res.nwarnings);

		if (json_print(doc) != EXIT_OK)
			return EXIT_FAIL;
	} else if (!g_opts.quiet) {
		printf("snapshot %s saved (id %.8s, key set %s)\n"
		    "  %llu files (%llu unchanged), %llu folders, %llu other; "
		    "%s of content, %s added to the card\n", res.name, res.id,
		    res.key_id, (unsigned long long)res.nfiles,
		    (unsigned long long)res.nunchanged,
		    (unsigned long long)res.ndirs,
		    (unsigned long long)res.nother, human_size(res.size, a),
		    human_size(res.added, b));
	}
	if (res.nwarnings > 0) {
		fprintf(stderr, "coffer backup: %llu entr%s could not be read "
		    "and %s left out (see warnings above)\n",
		    (unsigned long long)res.nwarnings,
		    res.nwarnings == 1 ? "y" : "ies",
		    res.nwarnings == 1 ? "was" : "were");
		return EXIT_PARTIAL;
	}
	return EXIT_OK;
}
