/* SPDX-License-Identifier: ISC */
/* cmd_prune: coffer prune [--dry-run] [--json] */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char prune_usage[] =
    "usage: coffer prune [--repo DIR] [-n | --dry-run] [--json]\n"
    "\nFree the space on the card that no snapshot uses any more (after\n"
    "'coffer forget', or left by interrupted backups).  Packs with nothing\n"
    "in use are deleted; packs at least 10% unused are rewritten with what\n"
    "is still in use.  A crash at any instant loses nothing a snapshot\n"
    "needs.  Runs alone: no backup or restore may run meanwhile.\n";

int
cmd_prune(int argc, char **argv)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		{ "dry-run",	no_argument,		NULL, 'n' },
		{ "json",	no_argument,		NULL, 'j' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	struct coffer_prune_result res;
	struct coffer_err err = { 0 };
	struct coffer_ctx ctx;
	bool dry = false, json = false;
	char a[32], b[32];
	int ch;

	while ((ch = getopt_long(argc, argv, "qhn", longopts, NULL)) != -1) {
		if (global_opt(ch, optarg))
			continue;
		switch (ch) {
		case 'n': dry = true; break;
		case 'j': json = true; break;
		case 'h':
			fputs(prune_usage, stdout);
			return EXIT_OK;
		default:
			fputs(prune_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return usage_err(prune_usage, "unexpected argument '%s'",
		    argv[optind]);
	if (g_opts.repo == NULL)
		return usage_err(prune_usage, "no repository given (use --repo "
		    "DIR or set COFFER_REPO)");
	if ((ch = ctx_make(&ctx)) != EXIT_OK)
		return ch;
	if (coffer_prune(&ctx, dry, &res, &err) != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if (json)
		return json_print(json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, "
		    "s:I, s:I}", "dry_run", dry, "packs_deleted",
		    (json_int_t)res.packs_deleted, "packs_repacked",
		    (json_int_t)res.packs_repacked, "packs_written",
		    (json_int_t)res.packs_written, "blobs_removed",
		    (json_int_t)res.blobs_removed, "blobs_kept",
		    (json_int_t)res.blobs_kept, "bytes_before",
		    (json_int_t)res.bytes_before, "bytes_after",
		    (json_int_t)res.bytes_after));
	if (!g_opts.quiet) {
		printf("%s %llu unused chunk%s: %llu pack%s deleted, %llu "
		    "rewritten", dry ? "would remove" : "removed",
		    (unsigned long long)res.blobs_removed,
		    res.blobs_removed == 1 ? "" : "s",
		    (unsigned long long)res.packs_deleted,
		    res.packs_deleted == 1 ? "" : "s",
		    (unsigned long long)res.packs_repacked);
		if (dry)
			printf(" (nothing changed)\n");
		else
			printf("; packs %s before, %s after\n",
			    human_size(res.bytes_before, a),
			    human_size(res.bytes_after, b));
	}
	return EXIT_OK;
}
