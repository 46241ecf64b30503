/* SPDX-License-Identifier: ISC */
/* cmd_snapshots: coffer snapshots [--tag T] [--host H] [--path P] [--json] */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char snapshots_usage[] =
    "usage: coffer snapshots [--repo DIR] [--tag T[,T...]]... [--host H]...\n"
    "                        [--path P]... [--json]\n"
    "\nList the snapshots on the card, oldest first.  Snapshots whose key\n"
    "is not in this keystore are listed by name and key id only.\n"
    "--tag a,b lists snapshots with both tags, --tag a --tag b those with\n"
    "either; --host: any of the hosts; --path: every path given is among\n"
    "the snapshot's.  With a filter, snapshots that cannot be read are\n"
    "left out of the list (still reported below).\n"
    "exit status: 1 if a snapshot is damaged (fails to authenticate), else\n"
    "4 if the key of some snapshots cannot be had now (escrow server not\n"
    "reachable, key destroyed there, no fresh proof), else 0.\n";

static json_t *
snap_json(const struct coffer_snapshot_info *s)
{
	json_t *o, *paths;
	char t[48];

	o = json_object();
	json_object_set_new(o, "name", json_string(s->name));
	json_object_set_new(o, "id", json_string(s->id));
	json_object_set_new(o, "key_id", json_string(s->key_id));
	json_object_set_new(o, "readable", json_boolean(s->readable));
	json_object_set_new(o, "damaged", json_boolean(s->damaged));
	json_object_set_new(o, "key_unavailable",
	    json_boolean(s->key_unavailable));
	if (!s->readable) {
		json_object_set_new(o, "problem", json_bytes(s->problem,
		    s->problem ? strlen(s->problem) : 0));
		return o;
	}
	json_object_set_new(o, "time", json_string(iso_time(s->time_sec,
	    s->time_nsec, t)));
	json_object_set_new(o, "hostname", json_bytes(s->hostname,
	    strlen(s->hostname)));
	json_object_set_new(o, "username", json_bytes(s->username,
	    strlen(s->username)));
	paths = json_array();
	for (size_t i = 0; i < s->npaths; i++)
		json_array_append_new(paths, json_bytes(s->paths[i],
		    strlen(s->paths[i])));
	json_object_set_new(o, "paths", paths);
	paths = json_array();
	for (size_t i = 0; i < s->ntags; i++)
		json_array_append_new(paths, json_bytes(s->tags[i],
		    strlen(s->tags[i])));
	json_object_set_new(o, "tags", paths);
	json_object_set_new(o, "size", json_integer((json_int_t)s->size));
	json_object_set_new(o, "files", json_integer((json_int_t)s->nfiles));
	json_object_set_new(o, "dirs", json_integer((json_int_t)s->ndirs));
	json_object_set_new(o, "added", json_integer((json_int_t)s->added));
	return o;
}

/* shown(fa, s): ${s} passes the filter (unreadable ones only without). */
static bool
shown(const struct filter_args *fa, const struct coffer_snapshot_info *s)
{
	if (!filter_given(fa))
		return true;
	return s->readable && coffer_snapshot_match(&fa->f, s->hostname,
	    (const char *const *)s->paths, s->npaths,
	    (const char *const *)s->tags, s->ntags);
}

int
cmd_snapshots(int argc, char **argv)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		FILTER_LONGOPTS,
		{ "json",	no_argument,		NULL, 'j' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	struct coffer_snapshot_info *v = NULL;
	struct coffer_err err = { 0 };
	struct coffer_ctx ctx;
	struct filter_args fa;
	bool json = false;
	size_t n = 0;
	int ch, rc;

	if (filter_init(&fa, argc) != 0)
		return EXIT_FAIL;
	while ((ch = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		if (global_opt(ch, optarg) || filter_opt(&fa, ch, optarg))
			continue;
		switch (ch) {
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(snapshots_usage, stdout);
			rc = EXIT_OK;
			goto out;
		default:
			fputs(snapshots_usage, stderr);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	rc = EXIT_USAGE;
	if (optind != argc) {
		usage_err(snapshots_usage, "unexpected argument '%s'",
		    argv[optind]);
		goto out;
	}
	if (g_opts.repo == NULL) {
		usage_err(snapshots_usage, "no repository given (use "
		    "--repo DIR or set COFFER_REPO)");
		goto out;
	}
	if ((rc = ctx_make(&ctx)) != EXIT_OK)
		goto out;
	if (coffer_snapshots(&ctx, &v, &n, &err) != 0) {
		report_err(&err);
		rc = EXIT_FAIL;
		goto out;
	}
	if (json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < n; i++)
			if (shown(&fa, &v[i]))
				json_array_append_new(arr, snap_json(&v[i]));
		rc = json_print(json_pack("{s:o}", "snapshots", arr));
	} else {
		printf("%-22s %-8s %-16s %-16s %10s  %s\n", "NAME", "ID",
		    "HOST", "KEY", "SIZE", "PATHS");
		size_t nshown = 0;

		for (size_t i = 0; i < n; i++) {
			char sz[32];

			if (!shown(&fa, &v[i]))
				continue;
			nshown++;
			printf("%-22s %-8.8s ", v[i].name, v[i].id);
			if (!v[i].readable) {
				printf("%-16s %-16s %10s  (%s%s)\n", "?",
				    v[i].key_id, "?", v[i].key_unavailable ?
				    "key unavailable: " : v[i].damaged ?
				    "damaged: " : "", v[i].problem ?
				    v[i].problem : "unreadable");
				continue;
			}
			printf("%-16.16s %-16s %10s  ", v[i].hostname,
			    v[i].key_id, human_size(v[i].size, sz));
			for (size_t k = 0; k < v[i].npaths; k++) {
				if (k > 0)
					fputc(' ', stdout);
				print_escaped(stdout, v[i].paths[k],
				    strlen(v[i].paths[k]));
			}
			for (size_t k = 0; k < v[i].ntags; k++) {
				fputs(k == 0 ? "  [" : ",", stdout);
				print_escaped(stdout, v[i].tags[k],
				    strlen(v[i].tags[k]));
			}
			fputs(v[i].ntags > 0 ? "]\n" : "\n", stdout);
		}
		if (!g_opts.quiet)
			printf("%zu snapshot%s\n", nshown, nshown == 1 ? "" :
			    "s");
		rc = EXIT_OK;
	}
	/*
	 * Damage is an error scripts must see; a key that cannot be had
	 * now is its own status (an escrow outage is no tampering); an
	 * absent key is neither.
	 */
	for (size_t i = 0; i < n; i++) {
		if (v[i].damaged) {
			fprintf(stderr, "coffer snapshots: damaged: snapshot "
			    "'%s': %s\n", v[i].name, v[i].problem ?
			    v[i].problem : "unreadable");
			rc = EXIT_FAIL;
		} else if (v[i].key_unavailable) {
			size_t cnt = 0;
			bool said = false;

			/* Once per key set: a set may hold many snapshots. */
			for (size_t j = 0; j < n; j++) {
				if (!v[j].key_unavailable ||
				    strcmp(v[j].key_id, v[i].key_id) != 0)
					continue;
				said = said || j < i;
				cnt++;
			}
			if (!said)
				fprintf(stderr, "coffer snapshots: key "
				    "unavailable: snapshot '%s'%s: %s\n",
				    v[i].name, cnt > 1 ? " and the others of "
				    "its key set" : "", v[i].problem ?
				    v[i].problem : "unreadable");
			if (rc == EXIT_OK)
				rc = EXIT_NOKEY;
		}
	}
out:
	coffer_snapshots_free(v, n);
	filter_release(&fa);
	return rc;
}
