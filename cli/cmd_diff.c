/* SPDX-License-Identifier: ISC */
/* cmd_diff: coffer diff SNAPSHOT1 SNAPSHOT2 [--json] */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char diff_usage[] =
    "usage: coffer diff [--repo DIR] [--json] SNAPSHOT1 SNAPSHOT2\n"
    "\nShow what changed from SNAPSHOT1 to SNAPSHOT2 (names, id prefixes\n"
    "or 'latest'), one line per entry:\n"
    "  + added   - removed   M content, size, type or link target changed\n"
    "  m only mode, owner, modification time or attributes changed\n"
    "\nexample:\n  coffer diff 2026-11-24T17:30:00Z latest\n";

static const char *const type_names[] = {
	"?", "file", "dir", "symlink", "fifo", "chardev", "blockdev",
};

static const struct {
	unsigned	 bit;
	const char	*name;
} what_names[] = {
	{ COFFER_DIFF_CONTENT,	"content" },
	{ COFFER_DIFF_SIZE,	"size" },
	{ COFFER_DIFF_TYPE,	"type" },
	{ COFFER_DIFF_TARGET,	"target" },
	{ COFFER_DIFF_DEVICE,	"device" },
	{ COFFER_DIFF_MODE,	"mode" },
	{ COFFER_DIFF_OWNER,	"owner" },
	{ COFFER_DIFF_MTIME,	"mtime" },
	{ COFFER_DIFF_XATTRS,	"xattrs" },
	{ COFFER_DIFF_IFLAGS,	"iflags" },
};

static const char *const change_names[] = {
	"?", "added", "removed", "modified", "metadata",
};
static const char change_chars[] = "?+-Mm";

struct diff_state {
	bool	 json;
	json_t	*arr;
};

static int
diff_entry(void *cookie, const struct coffer_diff_entry *d)
{
	struct diff_state *st = cookie;
	int c = d->change >= 1 && d->change <= 4 ? d->change : 0;
	int type = d->type >= 1 && d->type <= 6 ? d->type : 0;

	if (st->json) {
		json_t *o = json_object(), *what = json_array();

		for (size_t i = 0; i < sizeof(what_names) /
		    sizeof(what_names[0]); i++)
			if (d->what & what_names[i].bit)
				json_array_append_new(what,
				    json_string(what_names[i].name));
		json_object_set_new(o, "path", json_bytes(d->path,
		    d->pathlen));
		json_object_set_new(o, "change", json_string(change_names[c]));
		json_object_set_new(o, "type", json_string(type_names[type]));
		json_object_set_new(o, "what", what);
		json_array_append_new(st->arr, o);
		return 0;
	}
	printf("%c ", change_chars[c]);
	print_escaped(stdout, d->path, d->pathlen);
	fputc('\n', stdout);
	return 0;
}

int
cmd_diff(int argc, char **argv)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		{ "json",	no_argument,		NULL, 'j' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	struct diff_state st = { 0 };
	struct coffer_diff_result res;
	struct coffer_err err = { 0 };
	struct coffer_ctx ctx;
	int ch;

	while ((ch = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		if (global_opt(ch, optarg))
			continue;
		switch (ch) {
		case 'j':
			st.json = true;
			break;
		case 'h':
			fputs(diff_usage, stdout);
			return EXIT_OK;
		default:
			fputs(diff_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 2)
		return usage_err(diff_usage, "give exactly two snapshots");
	if (g_opts.repo == NULL)
		return usage_err(diff_usage, "no repository given (use --repo "
		    "DIR or set COFFER_REPO)");
	if ((ch = ctx_make(&ctx)) != EXIT_OK)
		return ch;
	if (st.json)
		st.arr = json_array();
	if (coffer_diff(&ctx, argv[optind], argv[optind + 1], diff_entry, &st,
	    &res, &err) != 0) {
		json_decref(st.arr);
		if (!st.json)
			fflush(stdout);
		report_err(&err);
		return EXIT_FAIL;
	}
	if (st.json)
		return json_print(json_pack("{s:o, s:I, s:I, s:I, s:I}",
		    "changes", st.arr, "added", (json_int_t)res.added,
		    "removed", (json_int_t)res.removed, "modified",
		    (json_int_t)res.modified, "metadata",
		    (json_int_t)res.metadata));
	if (!g_opts.quiet)
		printf("%llu added, %llu removed, %llu modified, %llu with "
		    "metadata changes only\n", (unsigned long long)res.added,
		    (unsigned long long)res.removed,
		    (unsigned long long)res.modified,
		    (unsigned long long)res.metadata);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "coffer diff: cannot write the output\n");
		return EXIT_FAIL;
	}
	return EXIT_OK;
}
