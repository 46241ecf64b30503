/* SPDX-License-Identifier: ISC */
/* cmd_ls: coffer ls SNAPSHOT [PATH] [--json] */
#include <getopt.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char ls_usage[] =
    "usage: coffer ls [--repo DIR] [--json] SNAPSHOT [PATH]\n"
    "\nList the entries of a snapshot (by name, id prefix, or 'latest'),\n"
    "all of them or those at and below PATH.\n"
    "\nexample:\n  coffer ls latest home/me/Documents\n";

static const char *const type_names[] = {
	"?", "file", "dir", "symlink", "fifo", "chardev", "blockdev",
};
static const char type_chars[] = "?-dlpcb";

struct ls_state {
	bool	 json;
	json_t	*arr;
	size_t	 n;
};

static int
ls_entry(void *cookie, const struct coffer_entry_info *e)
{
	struct ls_state *st = cookie;
	int type = e->type >= 1 && e->type <= 6 ? e->type : 0;
	char t[48];

	st->n++;
	if (st->json) {
		json_t *o = json_object();

		json_object_set_new(o, "path", json_bytes(e->path, e->pathlen));
		json_object_set_new(o, "type", json_string(type_names[type]));
		json_object_set_new(o, "size", json_integer((json_int_t)e->size));
		json_object_set_new(o, "mode", json_integer(e->mode));
		json_object_set_new(o, "uid", json_integer(e->uid));
		json_object_set_new(o, "gid", json_integer(e->gid));
		json_object_set_new(o, "mtime", json_string(iso_time(
		    e->mtime_sec, e->mtime_nsec, t)));
		if (e->target != NULL)
			json_object_set_new(o, "target", json_bytes(e->target,
			    e->targetlen));
		if (e->link_id != 0)
			json_object_set_new(o, "link_group",
			    json_integer((json_int_t)e->link_id));
		json_array_append_new(st->arr, o);
		return 0;
	}
	printf("%c%04o %5u %5u %12llu %.19s ", type_chars[type], e->mode,
	    e->uid, e->gid, (unsigned long long)e->size,
	    iso_time(e->mtime_sec, e->mtime_nsec, t));
	print_escaped(stdout, e->path, e->pathlen);
	if (e->target != NULL) {
		fputs(" -> ", stdout);
		print_escaped(stdout, e->target, e->targetlen);
	}
	fputc('\n', stdout);
	return 0;
}

int
cmd_ls(int argc, char **argv)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		{ "json",	no_argument,		NULL, 'j' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	struct ls_state st = { 0 };
	struct coffer_err err = { 0 };
	struct coffer_ctx ctx;
	const char *prefix = NULL;
	int ch;

	while ((ch = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		if (global_opt(ch, optarg))
			continue;
		switch (ch) {
		case 'j':
			st.json = true;
			break;
		case 'h':
			fputs(ls_usage, stdout);
			return EXIT_OK;
		default:
			fputs(ls_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return usage_err(ls_usage, "give a snapshot and at most one path");
	if (argc - optind == 2)
		prefix = argv[optind + 1];
	if (g_opts.repo == NULL)
		return usage_err(ls_usage, "no repository given (use --repo DIR "
		    "or set COFFER_REPO)");
	if ((ch = ctx_make(&ctx)) != EXIT_OK)
		return ch;
	if (st.json)
		st.arr = json_array();
	if (coffer_ls(&ctx, argv[optind], prefix, ls_entry, &st, &err) != 0) {
		json_decref(st.arr);
		report_err(&err);
		return EXIT_FAIL;
	}
	if (prefix != NULL && st.n == 0) {
		json_decref(st.arr);
		fprintf(stderr, "coffer ls: not found: no '%s' in snapshot "
		    "'%s'\n", prefix, argv[optind]);
		return EXIT_FAIL;
	}
	if (st.json)
		return json_print(json_pack("{s:o}", "entries", st.arr));
	return EXIT_OK;
}
