/* SPDX-License-Identifier: ISC */
/* cmd_check: coffer check [--read-data] */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char check_usage[] =
    "usage: coffer check [--repo DIR] [--read-data] [--json] [--json-progress]\n"
    "\nVerify the repository's structure: key sets, index, packs present,\n"
    "every snapshot and directory readable, every chunk accounted for.\n"
    "With --read-data, also read and authenticate every byte on the card.\n"
    "--json-progress writes progress as JSON lines on stderr.\n"
    "A key set whose key is not here, or cannot be had now (escrow server\n"
    "not reachable, key destroyed there, no fresh proof), gets only its\n"
    "files on the card checked, with a warning saying so.\n"
    "exit status: 1 if a problem was found, else 4 if some key set's key\n"
    "cannot be had now, else 0.\n";

/*
 * Packs of a backup (or prune) running beside the check: say whose, as
 * the "repository locked" message does, so that they are not taken for
 * leftovers.
 */
static void
print_pending(const struct coffer_check_result *res)
{
	printf("%llu pack%s not in any index yet: %s is running (",
	    (unsigned long long)res->npending, res->npending == 1 ? "" : "s",
	    res->writer_exclusive ? "an exclusive operation" : "a backup");
	if (res->writer_pid > 0)
		printf("pid %ld on ", res->writer_pid);
	printf("%s)\n", res->writer_this_host ? "this host" : "another host");
}

int
cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		{ "read-data",	no_argument,		NULL, 'r' },
		{ "json",	no_argument,		NULL, 'j' },
		{ "json-progress", no_argument,		NULL, OPT_JSON_PROGRESS },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	struct coffer_check_result res;
	struct coffer_err err = { 0 };
	struct coffer_ctx ctx;
	bool read_data = false, json = false;
	char sz[32];
	int ch, r;

	while ((ch = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		if (global_opt(ch, optarg))
			continue;
		switch (ch) {
		case 'r':
			read_data = true;
			break;
		case OPT_JSON_PROGRESS:
			g_progress_json = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(check_usage, stdout);
			return EXIT_OK;
		default:
			fputs(check_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return usage_err(check_usage, "unexpected argument '%s'",
		    argv[optind]);
	if (g_opts.repo == NULL)
		return usage_err(check_usage, "no repository given (use --repo "
		    "DIR or set COFFER_REPO)");
	if ((ch = ctx_make(&ctx)) != EXIT_OK)
		return ch;
	if (progress_wanted(json))
		ctx.progress = cli_progress;
	interrupt_setup("the check is incomplete; check changes nothing on "
	    "the card");
	r = coffer_check(&ctx, read_data, &res, &err);
	progress_clear();
	if (json) {
		json_t *doc = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, "
		    "s:I, s:I, s:I, s:I, s:I}", "ok", r == 0, "key_sets",
		    (json_int_t)res.nsets,
		    "key_sets_checked", (json_int_t)res.nsets_checked,
		    "key_sets_without_key", (json_int_t)res.nsets_nokey,
		    "key_sets_unavailable", (json_int_t)res.nsets_unavailable,
		    "snapshots", (json_int_t)res.nsnapshots, "trees",
		    (json_int_t)res.ntrees, "chunks", (json_int_t)res.nblobs,
		    "bytes_read", (json_int_t)res.bytes_read, "problems",
		    (json_int_t)res.nproblems, "leftovers",
		    (json_int_t)res.nleftovers, "pending",
		    (json_int_t)res.npending);

		if (json_print(doc) != EXIT_OK)
			return EXIT_FAIL;
	}
	if (r != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if (!json && !g_opts.quiet) {
		printf("checked %llu of %llu key set%s, %llu snapshot%s, %llu "
		    "distinct folders, %llu chunk references",
		    (unsigned long long)res.nsets_checked,
		    (unsigned long long)res.nsets, res.nsets == 1 ? "" : "s",
		    (unsigned long long)res.nsnapshots,
		    res.nsnapshots == 1 ? "" : "s",
		    (unsigned long long)res.ntrees,
		    (unsigned long long)res.nblobs);
		if (read_data)
			printf(", read %s", human_size(res.bytes_read, sz));
		printf(": no problems found\n");
		if (res.nleftovers > 0)
			printf("%llu leftover pack%s from interrupted backups "
			    "(harmless; not part of any snapshot)\n",
			    (unsigned long long)res.nleftovers,
			    res.nleftovers == 1 ? "" : "s");
		if (res.npending > 0)
			print_pending(&res);
		if (res.nsets_nokey > 0)
			printf("skipped %llu key set%s whose key is not here "
			    "(only %s files on the card were checked)\n",
			    (unsigned long long)res.nsets_nokey,
			    res.nsets_nokey == 1 ? "" : "s",
			    res.nsets_nokey == 1 ? "its" : "their");
		if (res.nsets_unavailable > 0)
			printf("skipped %llu key set%s whose key cannot be had "
			    "now (see the warnings above; only %s files on "
			    "the card were checked)\n",
			    (unsigned long long)res.nsets_unavailable,
			    res.nsets_unavailable == 1 ? "" : "s",
			    res.nsets_unavailable == 1 ? "its" : "their");
	}
	if (res.nsets_unavailable > 0)
		return EXIT_NOKEY;
	return EXIT_OK;
}
