/* SPDX-License-Identifier: ISC */
/* cmd_tag: coffer tag [--add T]... [--remove T]... [--set T]... SNAPSHOT... */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char tag_usage[] =
    "usage: coffer tag [--repo DIR] [--add T[,T...]]... [--remove T[,T...]]...\n"
    "                  [--set T[,T...]]... [--json] SNAPSHOT...\n"
    "\nChange the tags of snapshots (names, id prefixes or 'latest'):\n"
    "--set replaces them (--set '' removes all), --add adds, --remove\n"
    "removes; a comma separates several tags.  A snapshot whose tags change\n"
    "is rewritten under its key and gets a new id; a crash during the\n"
    "rewrite leaves the old snapshot or the new one, never none.  Tags are\n"
    "1 to 255 bytes without ',', '/' or control characters.\n"
    "\nexamples:\n  coffer tag latest --add before-upgrade\n"
    "  coffer tag 2026-11-25T17:31:00Z --set monthly,keep\n";

struct tstate {
	bool	 json;
	json_t	*arr;
};

static void
tag_cb(void *cookie, const char *name, const char *id,
    const char *const *tags, size_t ntags, bool changed)
{
	struct tstate *st = cookie;

	if (st->json) {
		json_t *t = json_array();

		for (size_t i = 0; i < ntags; i++)
			json_array_append_new(t, json_bytes(tags[i],
			    strlen(tags[i])));
		json_array_append_new(st->arr, json_pack("{s:s, s:s, s:o, s:b}",
		    "name", name, "id", id, "tags", t, "changed", changed));
		return;
	}
	if (g_opts.quiet)
		return;
	printf("%s %s (id %.8s): ", changed ? "retagged" : "unchanged", name,
	    id);
	if (ntags == 0)
		fputs("no tags", stdout);
	for (size_t i = 0; i < ntags; i++) {
		if (i > 0)
			fputc(',', stdout);
		print_escaped(stdout, tags[i], strlen(tags[i]));
	}
	fputc('\n', stdout);
}

/*
 * split_into(arg, v, &n): the comma-separated items of ${arg} (modified
 * in place) appended to ${v}; empty items are dropped.
 */
static void
split_into(char *arg, const char **v, size_t *n)
{
	char *p = arg, *c;

	for (;;) {
		if ((c = strchr(p, ',')) != NULL)
			*c = '\0';
		if (*p != '\0')
			v[(*n)++] = p;
		if (c == NULL)
			return;
		p = c + 1;
	}
}

static int
tag_main(int argc, char **argv, const char **add, const char **rem,
    const char **set)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		{ "add",	required_argument,	NULL, 'a' },
		{ "remove",	required_argument,	NULL, 'r' },
		{ "set",	required_argument,	NULL, 's' },
		{ "json",	no_argument,		NULL, 'j' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	struct coffer_tag_opts o = { .add = add, .remove = rem, .set = set };
	struct coffer_err err = { 0 };
	struct coffer_ctx ctx;
	struct tstate st = { 0 };
	int ch;

	while ((ch = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		if (global_opt(ch, optarg))
			continue;
		switch (ch) {
		case 'a': split_into(optarg, add, &o.nadd); break;
		case 'r': split_into(optarg, rem, &o.nremove); break;
		case 's':
			split_into(optarg, set, &o.nset);
			o.set_given = true;
			break;
		case 'j': st.json = true; break;
		case 'h':
			fputs(tag_usage, stdout);
			return EXIT_OK;
		default:
			fputs(tag_usage, stderr);
			return EXIT_USAGE;
		}
	}
	o.snapshots = (const char *const *)argv + optind;
	o.nsnapshots = (size_t)(argc - optind);
	if (o.nsnapshots == 0)
		return usage_err(tag_usage, "name the snapshots to tag");
	if (!o.set_given && o.nadd == 0 && o.nremove == 0)
		return usage_err(tag_usage, "give --add, --remove or --set");
	if (o.set_given && o.nadd > 0)
		return usage_err(tag_usage, "--set and --add exclude each other "
		    "(put every tag in --set)");
	for (size_t i = 0; i < o.nadd + o.nremove + o.nset; i++) {
		const char *t = i < o.nadd ? add[i] : i < o.nadd + o.nremove ?
		    rem[i - o.nadd] : set[i - o.nadd - o.nremove];

		if (!coffer_tag_ok(t))
			return usage_err(tag_usage, "'%s' is not a tag (1 to "
			    "255 bytes, no ',', '/' or control characters, not "
			    "'.' or '..')", t);
	}
	if (g_opts.repo == NULL)
		return usage_err(tag_usage, "no repository given (use --repo "
		    "DIR or set COFFER_REPO)");
	if ((ch = ctx_make(&ctx)) != EXIT_OK)
		return ch;
	if (st.json)
		st.arr = json_array();
	if (coffer_tag(&ctx, &o, tag_cb, &st, &err) != 0) {
		json_decref(st.arr);
		report_err(&err);
		return EXIT_FAIL;
	}
	if (st.json)
		return json_print(json_pack("{s:o}", "snapshots", st.arr));
	return EXIT_OK;
}

int
cmd_tag(int argc, char **argv)
{
	const char **add, **rem, **set;
	size_t room = 1;
	int rc = EXIT_FAIL;

	/* Room for every item any argument could split into. */
	for (int i = 0; i < argc; i++) {
		room++;
		for (const char *p = argv[i]; *p != '\0'; p++)
			room += *p == ',';
	}

	add = calloc(room, sizeof(char *));
	rem = calloc(room, sizeof(char *));
	set = calloc(room, sizeof(char *));
	if (add != NULL && rem != NULL && set != NULL)
		rc = tag_main(argc, argv, add, rem, set);
	free(add);
	free(rem);
	free(set);
	return rc;
}
