/* SPDX-License-Identifier: ISC */
/* cmd_stats: coffer stats [SNAPSHOT] [--json] */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char stats_usage[] =
    "usage: coffer stats [--repo DIR] [--json] [SNAPSHOT]\n"
    "\nSizes before and after deduplication and compression, for every\n"
    "snapshot whose key is here (per key set), or for one snapshot:\n"
    "RESTORE SIZE sums the files of every snapshot counted; AFTER DEDUP\n"
    "is the distinct chunks they use; STORED is what those chunks take on\n"
    "the card, compressed and encrypted; RATIO is RESTORE SIZE / STORED.\n"
    "\nexamples:\n  coffer stats\n  coffer stats latest --json\n";

static json_t *
ratio_json(uint64_t a, uint64_t b)
{
	return b == 0 ? json_null() : json_real((double)a / (double)b);
}

static json_t *
set_json(const struct coffer_stats_set *s)
{
	json_t *o = json_object();

	if (s->key_id[0] != '\0')
		json_object_set_new(o, "key_id", json_string(s->key_id));
	json_object_set_new(o, "snapshots", json_integer((json_int_t)
	    s->nsnapshots));
	json_object_set_new(o, "files", json_integer((json_int_t)s->nfiles));
	json_object_set_new(o, "restore_size", json_integer((json_int_t)
	    s->restore_size));
	json_object_set_new(o, "chunks", json_integer((json_int_t)s->nchunks));
	json_object_set_new(o, "dedup_size", json_integer((json_int_t)
	    s->dedup_size));
	json_object_set_new(o, "stored_size", json_integer((json_int_t)
	    s->stored_size));
	json_object_set_new(o, "trees", json_integer((json_int_t)s->ntrees));
	json_object_set_new(o, "tree_stored_size", json_integer((json_int_t)
	    s->tree_stored_size));
	json_object_set_new(o, "missing_chunks", json_integer((json_int_t)
	    s->nmissing));
	json_object_set_new(o, "ratio", ratio_json(s->restore_size,
	    s->stored_size));
	json_object_set_new(o, "dedup_ratio", ratio_json(s->restore_size,
	    s->dedup_size));
	json_object_set_new(o, "compression_ratio", ratio_json(s->dedup_size,
	    s->stored_size));
	return o;
}

static void
set_row(const char *label, const struct coffer_stats_set *s)
{
	char a[32], b[32], c[32], r[32];

	if (s->stored_size == 0)
		snprintf(r, sizeof(r), "-");
	else
		snprintf(r, sizeof(r), "%.2fx", (double)s->restore_size /
		    (double)s->stored_size);
	printf("%-16s %9llu %9llu %12s %9llu %12s %12s %7s\n", label,
	    (unsigned long long)s->nsnapshots, (unsigned long long)s->nfiles,
	    human_size(s->restore_size, a), (unsigned long long)s->nchunks,
	    human_size(s->dedup_size, b), human_size(s->stored_size, c), r);
}

int
cmd_stats(int argc, char **argv)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		{ "json",	no_argument,		NULL, 'j' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	struct coffer_stats_result res;
	struct coffer_err err = { 0 };
	struct coffer_ctx ctx;
	const char *snap = NULL;
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
			fputs(stats_usage, stdout);
			return EXIT_OK;
		default:
			fputs(stats_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind > 1)
		return usage_err(stats_usage, "give at most one snapshot");
	if (argc - optind == 1)
		snap = argv[optind];
	if (g_opts.repo == NULL)
		return usage_err(stats_usage, "no repository given (use --repo "
		    "DIR or set COFFER_REPO)");
	if ((ch = ctx_make(&ctx)) != EXIT_OK)
		return ch;
	if (coffer_stats(&ctx, snap, &res, &err) != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if (json) {
		json_t *doc = set_json(&res.total), *sets = json_array();

		for (size_t i = 0; i < res.nsets; i++)
			json_array_append_new(sets, set_json(&res.sets[i]));
		json_object_set_new(doc, "key_sets", sets);
		json_object_set_new(doc, "unreadable_snapshots",
		    json_integer((json_int_t)res.nunreadable));
		if (snap != NULL)
			json_object_set_new(doc, "snapshot",
			    json_string(res.snapshot));
		rc = json_print(doc);
	} else {
		if (snap != NULL)
			printf("snapshot %s\n", res.snapshot);
		printf("%-16s %9s %9s %12s %9s %12s %12s %7s\n", "KEY SET",
		    "SNAPSHOTS", "FILES", "RESTORE SIZE", "CHUNKS",
		    "AFTER DEDUP", "STORED", "RATIO");
		for (size_t i = 0; i < res.nsets; i++)
			set_row(res.sets[i].key_id, &res.sets[i]);
		if (res.nsets != 1)
			set_row("total", &res.total);
		if (res.nunreadable > 0 && !g_opts.quiet)
			printf("%llu snapshot%s not counted (key not here, or "
			    "damaged)\n", (unsigned long long)res.nunreadable,
			    res.nunreadable == 1 ? "" : "s");
		if (res.total.nmissing > 0 && !g_opts.quiet)
			printf("%llu chunk%s not in the index (run 'coffer "
			    "check')\n", (unsigned long long)res.total.nmissing,
			    res.total.nmissing == 1 ? "" : "s");
		rc = EXIT_OK;
		if (fflush(stdout) != 0) {
			fprintf(stderr, "coffer stats: cannot write the "
			    "output\n");
			rc = EXIT_FAIL;
		}
	}
	coffer_stats_free(&res);
	return rc;
}
