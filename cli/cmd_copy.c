/* SPDX-License-Identifier: ISC */
/* cmd_copy: coffer copy --to REPO [--tag T] [--host H] [--path P] [SNAPSHOT...] */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char copy_usage[] =
    "usage: coffer copy [--repo DIR] --to REPO [--tag T[,T...]]... [--host H]...\n"
    "                   [--path P]... [--json] [SNAPSHOT...]\n"
    "\nCopy snapshots (default: all; or the names, id prefixes or 'latest'\n"
    "given, and those that pass --tag/--host/--path) into REPO, a second\n"
    "card or folder made by 'coffer init' as a copy of DIR (see 'coffer\n"
    "init --help').  Each snapshot goes with its key set (same key, same\n"
    "custody: an escrow set stays bound to its server) and keeps its id;\n"
    "only the data REPO lacks is written.  Every byte is authenticated\n"
    "before it is written; data first, then the index, then the snapshot,\n"
    "as a backup does, so an interrupted copy leaves no half snapshot and\n"
    "the next one goes on from where it stopped.\n"
    "\nexamples:\n"
    "  coffer --repo /media/card/coffer copy --to /media/card2/coffer\n"
    "  coffer --repo /media/card/coffer copy --to /mnt/nas/coffer --tag keep\n";

struct cstate {
	bool	 json;
	json_t	*arr;
};

static const char *const status_names[] = { "copied", "present", "failed" };

static void
copy_cb(void *cookie, const char *name, const char *id, const char *key_id,
    int status, const char *why)
{
	struct cstate *st = cookie;

	if (st->json) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "name", name,
		    "id", id, "key_id", key_id, "status",
		    status_names[status]);

		if (why != NULL)
			json_object_set_new(o, "error", json_string(why));
		json_array_append_new(st->arr, o);
		return;
	}
	if (status == COFFER_COPY_FAILED) {
		fprintf(stderr, "coffer copy: %s\n", why);
		return;
	}
	if (!g_opts.quiet)
		printf("%-8s %s (id %.8s, key set %s)\n",
		    status == COFFER_COPY_DONE ? "copied" : "present", name, id,
		    key_id);
}

static int
copy_main(int argc, char **argv, struct filter_args *fa)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		FILTER_LONGOPTS,
		{ "to",		required_argument,	NULL, 't' },
		{ "json",	no_argument,		NULL, 'j' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	struct coffer_copy_opts o = { 0 };
	struct coffer_copy_result res;
	struct coffer_err err = { 0 };
	struct coffer_ctx ctx;
	struct cstate st = { 0 };
	char b1[32], b2[32], b3[32];
	int ch, r;

	while ((ch = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		if (global_opt(ch, optarg) || filter_opt(fa, ch, optarg))
			continue;
		switch (ch) {
		case 't': o.to = optarg; break;
		case 'j': st.json = true; break;
		case 'h':
			fputs(copy_usage, stdout);
			return EXIT_OK;
		default:
			fputs(copy_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (o.to == NULL || *o.to == '\0')
		return usage_err(copy_usage, "give the destination: --to REPO");
	if (g_opts.repo == NULL)
		return usage_err(copy_usage, "no repository given (use --repo "
		    "DIR or set COFFER_REPO)");
	o.snapshots = (const char *const *)argv + optind;
	o.nsnapshots = (size_t)(argc - optind);
	o.filter = filter_given(fa) ? &fa->f : NULL;
	if ((ch = ctx_make(&ctx)) != EXIT_OK)
		return ch;
	interrupt_setup_stop("no snapshot is half copied; the next copy "
	    "takes over the packs this run finished");
	ctx.stop = &g_stop;
	if (st.json)
		st.arr = json_array();
	r = coffer_copy(&ctx, &o, copy_cb, &st, &res, &err);
	if (st.json) {
		json_t *doc = json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I, "
		    "s:I}", "snapshots", st.arr, "copied", (json_int_t)res.copied,
		    "present", (json_int_t)res.present, "failed",
		    (json_int_t)res.failed, "blobs_written",
		    (json_int_t)res.blobs, "bytes_written",
		    (json_int_t)res.bytes, "bytes_read",
		    (json_int_t)res.bytes_read, "bytes_resumed",
		    (json_int_t)res.resumed);

		if (r != 0)
			json_object_set_new(doc, "error", json_string(err.msg));
		json_print(doc);
	} else if (!g_opts.quiet && (r == 0 || res.copied + res.present +
	    res.failed > 0)) {
		printf("%llu copied, %llu already there, %llu failed; %llu "
		    "blobs written (%s), %s read%s%s\n",
		    (unsigned long long)res.copied,
		    (unsigned long long)res.present,
		    (unsigned long long)res.failed,
		    (unsigned long long)res.blobs, human_size(res.bytes, b1),
		    human_size(res.bytes_read, b2), res.resumed > 0 ?
		    "; taken over from an interrupted run: " : "",
		    res.resumed > 0 ? human_size(res.resumed, b3) : "");
	}
	if (r == COFFER_EINTR && g_stop != 0)
		return 128 + (int)g_stop;
	if (r != 0) {
		/* Per-snapshot failures were printed as they came. */
		if (res.failed == 0 || st.json)
			report_err(&err);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

int
cmd_copy(int argc, char **argv)
{
	struct filter_args fa;
	int rc;

	if (filter_init(&fa, argc) != 0) {
		fprintf(stderr, "coffer copy: out of memory\n");
		return EXIT_FAIL;
	}
	rc = copy_main(argc, argv, &fa);
	filter_release(&fa);
	return rc;
}
