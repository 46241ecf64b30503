/* SPDX-License-Identifier: ISC */
/* cmd_forget: coffer forget [--keep-* N]... [SNAPSHOT...] [--dry-run] */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char forget_usage[] =
    "usage: coffer forget [--repo DIR] [--keep-last N] [--keep-hourly N]\n"
    "                     [--keep-daily N] [--keep-weekly N]\n"
    "                     [--keep-monthly N] [--keep-yearly N]\n"
    "                     [-n | --dry-run] [--prune [--max-unused P]]\n"
    "                     [--tag T[,T...]]... [--host H]... [--path P]...\n"
    "                     [--group-by host,paths,tags] [--json]\n"
    "                     [SNAPSHOT...]\n"
    "\nRemove snapshots from the card: those a retention policy does not\n"
    "keep, or the ones named.  The policy applies to each group of\n"
    "snapshots with the same host and paths: keep-last N keeps the N\n"
    "newest; keep-daily N the newest of each of the last N days that have\n"
    "one (hourly, weekly (ISO weeks), monthly, yearly alike; UTC); a\n"
    "snapshot kept by any rule stays.  The data stays until 'coffer\n"
    "prune' (or --prune, with prune's --max-unused) frees it.\n"
    "--tag, --host and --path (as for 'coffer snapshots') limit the policy\n"
    "to the snapshots they select; the others are kept.  --group-by picks\n"
    "what a group shares: any of host, paths, tags (default host,paths;\n"
    "'' or none: one group).\n"
    "\nexamples:\n  coffer forget --keep-daily 7 --keep-weekly 5 --keep-monthly 12\n"
    "  coffer forget 2026-11-25T17:31:00Z --prune\n";

struct fstate {
	bool	 json;
	json_t	*arr;
	bool	 dry;
};

static void
forget_cb(void *cookie, const char *name, const char *key_id,
    const char *group, bool keep)
{
	struct fstate *st = cookie;

	if (st->json) {
		json_array_append_new(st->arr, json_pack("{s:s, s:s, s:o, s:b}",
		    "name", name, "key_id", key_id, "group", json_bytes(group,
		    strlen(group)), "keep", keep));
		return;
	}
	if (g_opts.quiet && keep)
		return;
	printf("%s %s  (", keep ? "keep  " : st->dry ? "would forget" :
	    "forget", name);
	print_escaped(stdout, group, strlen(group));
	printf(")\n");
}

int
parse_count(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 ||
	    v > 1000000)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* parse_group_by(s, &bits): "host,paths,tags" (any), "" or "none". */
static int
parse_group_by(const char *s, unsigned *out)
{
	unsigned bits = 0;

	if (*s == '\0' || strcmp(s, "none") == 0) {
		*out = COFFER_GROUP_NONE;
		return 0;
	}
	for (;;) {
		size_t len = strcspn(s, ",");

		if (len == 4 && strncmp(s, "host", 4) == 0)
			bits |= COFFER_GROUP_HOST;
		else if (len == 5 && strncmp(s, "paths", 5) == 0)
			bits |= COFFER_GROUP_PATHS;
		else if (len == 4 && strncmp(s, "tags", 4) == 0)
			bits |= COFFER_GROUP_TAGS;
		else
			return -1;
		if (s[len] == '\0')
			break;
		s += len + 1;
	}
	*out = bits;
	return 0;
}

static int
forget_main(int argc, char **argv, struct filter_args *fa)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		FILTER_LONGOPTS,
		{ "group-by",	required_argument,	NULL, 'g' },
		{ "keep-last",	required_argument,	NULL, 'l' },
		{ "keep-hourly", required_argument,	NULL, 'H' },
		{ "keep-daily",	required_argument,	NULL, 'd' },
		{ "keep-weekly", required_argument,	NULL, 'w' },
		{ "keep-monthly", required_argument,	NULL, 'm' },
		{ "keep-yearly", required_argument,	NULL, 'y' },
		{ "dry-run",	no_argument,		NULL, 'n' },
		{ "prune",	no_argument,		NULL, 'p' },
		{ "max-unused",	required_argument,	NULL, 'u' },
		{ "json",	no_argument,		NULL, 'j' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	struct coffer_forget_opts o = { 0 };
	struct fstate st = { 0 };
	struct coffer_err err = { 0 };
	struct coffer_ctx ctx;
	struct coffer_prune_opts po = { .max_unused = COFFER_PRUNE_MAX_UNUSED };
	bool prune = false, max_unused = false;
	size_t n = 0;
	unsigned *slot;
	int ch, rc;

	o.filter = &fa->f;
	while ((ch = getopt_long(argc, argv, "qhn", longopts, NULL)) != -1) {
		if (global_opt(ch, optarg) || filter_opt(fa, ch, optarg))
			continue;
		slot = NULL;
		switch (ch) {
		case 'l': slot = &o.keep_last; break;
		case 'H': slot = &o.keep_hourly; break;
		case 'd': slot = &o.keep_daily; break;
		case 'w': slot = &o.keep_weekly; break;
		case 'm': slot = &o.keep_monthly; break;
		case 'y': slot = &o.keep_yearly; break;
		case 'n': o.dry_run = true; break;
		case 'p': prune = true; break;
		case 'u':
			if (parse_max_unused(optarg, &po.max_unused) != 0)
				return usage_err(forget_usage, "--max-unused: "
				    "'%s' is not a percentage from 0 to 99 or "
				    "'unlimited'", optarg);
			max_unused = true;
			break;
		case 'j': st.json = true; break;
		case 'g':
			if (parse_group_by(optarg, &o.group_by) != 0)
				return usage_err(forget_usage, "--group-by takes "
				    "host, paths and tags, comma-separated, or "
				    "'none', not '%s'", optarg);
			break;
		case 'h':
			fputs(forget_usage, stdout);
			return EXIT_OK;
		default:
			fputs(forget_usage, stderr);
			return EXIT_USAGE;
		}
		if (slot != NULL && parse_count(optarg, slot) != 0)
			return usage_err(forget_usage, "'%s' is not a count",
			    optarg);
	}
	o.snapshots = (const char *const *)argv + optind;
	o.nsnapshots = (size_t)(argc - optind);
	if (o.nsnapshots == 0 && o.keep_last + o.keep_hourly + o.keep_daily +
	    o.keep_weekly + o.keep_monthly + o.keep_yearly == 0)
		return usage_err(forget_usage, "give a --keep-* policy or the "
		    "snapshots to forget");
	if (max_unused && !prune)
		return usage_err(forget_usage, "--max-unused goes with --prune");
	if (prune && o.dry_run)
		return usage_err(forget_usage, "--prune and --dry-run exclude "
		    "each other");
	if (g_opts.repo == NULL)
		return usage_err(forget_usage, "no repository given (use --repo "
		    "DIR or set COFFER_REPO)");
	if ((ch = ctx_make(&ctx)) != EXIT_OK)
		return ch;
	st.dry = o.dry_run;
	if (st.json)
		st.arr = json_array();
	if (coffer_forget(&ctx, &o, forget_cb, &st, &n, &err) != 0) {
		json_decref(st.arr);
		report_err(&err);
		return EXIT_FAIL;
	}
	if (st.json)
		rc = json_print(json_pack("{s:o, s:I, s:b}", "snapshots", st.arr,
		    "forgotten", (json_int_t)n, "dry_run", o.dry_run));
	else {
		if (!g_opts.quiet)
			printf("%zu snapshot%s %s\n", n, n == 1 ? "" : "s",
			    o.dry_run ? "would be forgotten" : "forgotten");
		rc = EXIT_OK;
	}
	if (rc == EXIT_OK && prune) {
		struct coffer_prune_result pr;
		char a[32], b[32];

		if (coffer_prune(&ctx, &po, &pr, &err) != 0) {
			report_err(&err);
			return EXIT_FAIL;
		}
		if (!g_opts.quiet && !st.json)
			printf("pruned: %s of packs before, %s after\n",
			    human_size(pr.bytes_before, a),
			    human_size(pr.bytes_after, b));
	}
	return rc;
}

int
cmd_forget(int argc, char **argv)
{
	struct filter_args fa;
	int rc;

	if (filter_init(&fa, argc) != 0)
		return EXIT_FAIL;
	rc = forget_main(argc, argv, &fa);
	filter_release(&fa);
	return rc;
}
