/* SPDX-License-Identifier: ISC */
/* cmd_snapshots: coffer snapshots [--json] */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char snapshots_usage[] =
    "usage: coffer snapshots [--repo DIR] [--json]\n"
    "\nList the snapshots on the card, oldest first.  Snapshots whose key\n"
    "is not in this keystore are listed by name and key id only.\n"
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
	json_object_set_new(o, "size", json_integer((json_int_t)s->size));
	json_object_set_new(o, "files", json_integer((json_int_t)s->nfiles));
	json_object_set_new(o, "dirs", json_integer((json_int_t)s->ndirs));
	json_object_set_new(o, "added", json_integer((json_int_t)s->added));
	return o;
}

int
cmd_snapshots(int argc, char **argv)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		{ "json",	no_argument,		NULL, 'j' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	struct coffer_snapshot_info *v = NULL;
	struct coffer_err err = { 0 };
	struct coffer_ctx ctx;
	bool json = false;
	size_t n = 0;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		if (global_opt(ch, optarg))
			continue;
		switch (ch) {
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(snapshots_usage, stdout);
			return EXIT_OK;
		default:
			fputs(snapshots_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return usage_err(snapshots_usage, "unexpected argument '%s'",
		    argv[optind]);
	if (g_opts.repo == NULL)
		return usage_err(snapshots_usage, "no repository given (use "
		    "--repo DIR or set COFFER_REPO)");
	if ((ch = ctx_make(&ctx)) != EXIT_OK)
		return ch;
	if (coffer_snapshots(&ctx, &v, &n, &err) != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if (json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, snap_json(&v[i]));
		rc = json_print(json_pack("{s:o}", "snapshots", arr));
	} else {
		printf("%-22s %-8s %-16s %-16s %10s  %s\n", "NAME", "ID",
		    "HOST", "KEY", "SIZE", "PATHS");
		for (size_t i = 0; i < n; i++) {
			char sz[32];

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
			fputc('\n', stdout);
		}
		if (!g_opts.quiet)
			printf("%zu snapshot%s\n", n, n == 1 ? "" : "s");
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
	coffer_snapshots_free(v, n);
	return rc;
}
