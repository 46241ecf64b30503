/* SPDX-License-Identifier: ISC */
/* cmd_prune: coffer prune [--dry-run] [--max-unused P] [--json] */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char prune_usage[] =
    "usage: coffer prune [--repo DIR] [-n | --dry-run] [--max-unused P]\n"
    "                    [--json]\n"
    "\nFree the space on the card that no snapshot uses any more (after\n"
    "'coffer forget', or left by interrupted backups).  Packs with nothing\n"
    "in use are deleted; packs with unused bytes are rewritten with what\n"
    "is still in use (bundles of small files cut down to their used\n"
    "files), most wasteful first, until at most P% of the packs is unused\n"
    "(default 5; 0 rewrites every pack with anything unused, 'unlimited'\n"
    "only deletes).  A crash at any instant loses nothing a snapshot\n"
    "needs.  Runs alone: no backup or restore may run meanwhile.\n";

int
cmd_prune(int argc, char **argv)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		{ "dry-run",	no_argument,		NULL, 'n' },
		{ "max-unused",	required_argument,	NULL, 'u' },
		{ "json",	no_argument,		NULL, 'j' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	struct coffer_prune_opts po = { .max_unused = COFFER_PRUNE_MAX_UNUSED };
	struct coffer_prune_result res;
	struct coffer_err err = { 0 };
	struct coffer_ctx ctx;
	bool json = false;
	char a[32], b[32], c[32];
	int ch, r;

	while ((ch = getopt_long(argc, argv, "qhn", longopts, NULL)) != -1) {
		if (global_opt(ch, optarg))
			continue;
		switch (ch) {
		case 'n': po.dry_run = true; break;
		case 'u':
			if (parse_max_unused(optarg, &po.max_unused) != 0)
				return usage_err(prune_usage, "--max-unused: "
				    "'%s' is not a percentage from 0 to 99 or "
				    "'unlimited'", optarg);
			break;
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
	/* Damage kept in place: the rest was pruned; say both. */
	if ((r = coffer_prune(&ctx, &po, &res, &err)) != 0 && res.damaged == 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if (r != 0)
		report_err(&err);
	if (json) {
		ch = json_print(json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, "
		    "s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "dry_run", po.dry_run,
		    "packs_deleted", (json_int_t)res.packs_deleted,
		    "packs_repacked", (json_int_t)res.packs_repacked,
		    "packs_written", (json_int_t)res.packs_written,
		    "blobs_removed", (json_int_t)res.blobs_removed,
		    "blobs_kept", (json_int_t)res.blobs_kept,
		    "bundles_cut", (json_int_t)res.bundles_cut,
		    "bytes_before", (json_int_t)res.bytes_before,
		    "bytes_after", (json_int_t)res.bytes_after,
		    "bytes_freed", (json_int_t)res.bytes_freed,
		    "bytes_repacked", (json_int_t)res.bytes_repacked,
		    "damaged", (json_int_t)res.damaged,
		    "revisions_removed", (json_int_t)res.revisions_removed));
		return r != 0 ? EXIT_FAIL : ch;
	}
	if (!g_opts.quiet) {
		printf("%s %llu unused chunk%s: %llu pack%s deleted, %llu "
		    "rewritten (%s written again)", po.dry_run ?
		    "would remove" : "removed",
		    (unsigned long long)res.blobs_removed,
		    res.blobs_removed == 1 ? "" : "s",
		    (unsigned long long)res.packs_deleted,
		    res.packs_deleted == 1 ? "" : "s",
		    (unsigned long long)res.packs_repacked,
		    human_size(res.bytes_repacked, c));
		if (po.dry_run)
			printf("; would free about %s of %s (nothing changed)\n",
			    human_size(res.bytes_freed, a),
			    human_size(res.bytes_before, b));
		else
			printf("; packs %s before, %s after\n",
			    human_size(res.bytes_before, a),
			    human_size(res.bytes_after, b));
		if (res.revisions_removed > 0)
			printf("%s %llu old snapshot revision file%s (left by "
			    "an interrupted 'coffer tag')\n", po.dry_run ?
			    "would remove" : "removed",
			    (unsigned long long)res.revisions_removed,
			    res.revisions_removed == 1 ? "" : "s");
	}
	return r != 0 ? EXIT_FAIL : EXIT_OK;
}
