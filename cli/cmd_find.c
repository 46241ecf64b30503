/* SPDX-License-Identifier: ISC */
/* cmd_find: coffer find PATTERN [--json] [--snapshot S]... */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char find_usage[] =
    "usage: coffer find [--repo DIR] [--json] [-s | --snapshot S]...\n"
    "                   PATTERN\n"
    "\nSearch every snapshot whose key is here (or only the snapshots\n"
    "given) for entries whose stored path matches PATTERN: a glob ('*',\n"
    "'?', '[...]') on the whole path if PATTERN holds a '/' ('*' does not\n"
    "match '/' then), else on the last component; on the raw bytes, or\n"
    "on the path as 'coffer ls' prints it.  Prints 'SNAPSHOT PATH'\n"
    "lines; exits 1 if nothing matches.\n"
    "\nexamples:\n  coffer find '*.odt'\n"
    "  coffer find 'home/*/notes.txt' --snapshot latest\n";

static const char *const type_names[] = {
	"?", "file", "dir", "symlink", "fifo", "chardev", "blockdev",
};

struct find_state {
	bool	 json;
	json_t	*arr;
};

static int
find_entry(void *cookie, const char *snapshot,
    const struct coffer_entry_info *e)
{
	struct find_state *st = cookie;
	int type = e->type >= 1 && e->type <= 6 ? e->type : 0;
	char t[48];

	if (st->json) {
		json_t *o = json_object();

		json_object_set_new(o, "snapshot", json_string(snapshot));
		json_object_set_new(o, "path", json_bytes(e->path, e->pathlen));
		json_object_set_new(o, "type", json_string(type_names[type]));
		json_object_set_new(o, "size", json_integer((json_int_t)e->size));
		json_object_set_new(o, "mtime", json_string(iso_time(
		    e->mtime_sec, e->mtime_nsec, t)));
		json_array_append_new(st->arr, o);
		return 0;
	}
	printf("%s ", snapshot);
	print_escaped(stdout, e->path, e->pathlen);
	fputc('\n', stdout);
	return 0;
}

int
cmd_find(int argc, char **argv)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		{ "json",	no_argument,		NULL, 'j' },
		{ "snapshot",	required_argument,	NULL, 's' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	struct find_state st = { 0 };
	struct coffer_err err = { 0 };
	struct coffer_ctx ctx;
	const char **snaps = NULL;
	size_t nsnaps = 0;
	uint64_t n = 0;
	int ch, rc = EXIT_USAGE;

	if ((snaps = calloc((size_t)argc + 1, sizeof(*snaps))) == NULL) {
		fprintf(stderr, "coffer find: out of memory\n");
		return EXIT_FAIL;
	}
	while ((ch = getopt_long(argc, argv, "qhs:", longopts, NULL)) != -1) {
		if (global_opt(ch, optarg))
			continue;
		switch (ch) {
		case 'j':
			st.json = true;
			break;
		case 's':
			snaps[nsnaps++] = optarg;
			break;
		case 'h':
			free(snaps);
			fputs(find_usage, stdout);
			return EXIT_OK;
		default:
			free(snaps);
			fputs(find_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		usage_err(find_usage, "give exactly one pattern");
	else if (argv[optind][0] == '\0')
		usage_err(find_usage, "the pattern is empty");
	else if (g_opts.repo == NULL)
		usage_err(find_usage, "no repository given (use --repo DIR or "
		    "set COFFER_REPO)");
	else
		rc = EXIT_OK;
	if (rc != EXIT_OK || (rc = ctx_make(&ctx)) != EXIT_OK) {
		free(snaps);
		return rc;
	}
	if (st.json)
		st.arr = json_array();
	if (coffer_find(&ctx, argv[optind], snaps, nsnaps, find_entry, &st, &n,
	    &err) != 0) {
		json_decref(st.arr);
		fflush(stdout);
		report_err(&err);
		free(snaps);
		return EXIT_FAIL;
	}
	free(snaps);
	if (st.json) {
		if (json_print(json_pack("{s:o}", "matches", st.arr)) != EXIT_OK)
			return EXIT_FAIL;
	} else if (fflush(stdout) != 0) {
		fprintf(stderr, "coffer find: cannot write the output\n");
		return EXIT_FAIL;
	}
	if (n == 0) {
		fprintf(stderr, "coffer find: not found: nothing matches '%s'"
		    "%s\n", argv[optind], nsnaps ? " in the snapshots given" :
		    " in the snapshots whose key is here");
		return EXIT_FAIL;
	}
	return EXIT_OK;
}
