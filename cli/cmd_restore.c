/* SPDX-License-Identifier: ISC */
/*
 * cmd_restore: coffer restore SNAPSHOT --target DIR [--include PATH]...
 *              coffer restore SNAPSHOT --to-stdout --include FILE
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char restore_usage[] =
    "usage: coffer restore [--repo DIR] [--json] [--json-progress] SNAPSHOT\n"
    "                      -t | --target DIR [-i | --include PATH]...\n"
    "                      [--overwrite[=never|if-changed|always]] "
    "[-v | --verbose]\n"
    "       coffer restore [--repo DIR] SNAPSHOT --to-stdout --include FILE\n"
    "\nRestore a snapshot (by name, id prefix, or 'latest') under DIR.\n"
    "--include restores only PATH (a path as stored, as 'coffer ls'\n"
    "shows it, or its bytes as they are) and what is below it; repeatable.\n"
    "Entries already in DIR: without --overwrite, kept, and the restore\n"
    "fails; never: kept; if-changed: kept if identical (size, time and\n"
    "content), else replaced; always (or bare --overwrite): replaced.\n"
    "They are summarised; --verbose names each.  --to-stdout writes the bytes\n"
    "of the one regular file FILE to standard output instead.\n"
    "--json-progress writes progress as JSON lines on stderr.\n"
    "\nexamples:\n  coffer restore latest --target /tmp/back\n"
    "  coffer restore 2026-11-25T17:31:00Z --target . --include "
    "home/me/notes.txt\n"
    "  coffer restore latest --to-stdout --include home/me/notes.txt | less\n";

/* overwrite_mode(s): the enum coffer_overwrite named ${s}, or -1. */
static int
overwrite_mode(const char *s)
{
	if (strcmp(s, "never") == 0)
		return COFFER_OVERWRITE_NEVER;
	if (strcmp(s, "if-changed") == 0)
		return COFFER_OVERWRITE_IF_CHANGED;
	if (strcmp(s, "always") == 0)
		return COFFER_OVERWRITE_ALWAYS;
	return -1;
}

static json_t *
result_json(const struct coffer_restore_result *res, bool ok)
{
	return json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "ok", ok, "files", (json_int_t)res->nfiles, "dirs",
	    (json_int_t)res->ndirs, "other", (json_int_t)res->nother,
	    "bytes", (json_int_t)res->bytes, "errors",
	    (json_int_t)res->nerrors, "unchanged",
	    (json_int_t)res->nunchanged, "replaced",
	    (json_int_t)res->nreplaced, "kept", (json_int_t)res->nkept);
}

int
cmd_restore(int argc, char **argv)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		{ "target",	required_argument,	NULL, 't' },
		{ "include",	required_argument,	NULL, 'i' },
		{ "overwrite",	optional_argument,	NULL, 'o' },
		{ "verbose",	no_argument,		NULL, 'v' },
		{ "to-stdout",	no_argument,		NULL, 'c' },
		{ "json",	no_argument,		NULL, 'j' },
		{ "json-progress", no_argument,		NULL, OPT_JSON_PROGRESS },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	struct coffer_restore_opts o = { 0 };
	struct coffer_restore_result res;
	struct coffer_err err = { 0 };
	struct coffer_ctx ctx;
	const char **inc = NULL;
	const char *overwrite = NULL;
	bool to_stdout = false, json = false, bare = false;
	uint64_t bytes;
	char sz[32];
	int ch, rc;

	if ((inc = calloc((size_t)argc + 1, sizeof(*inc))) == NULL) {
		fprintf(stderr, "coffer restore: out of memory\n");
		return EXIT_FAIL;
	}
	while ((ch = getopt_long(argc, argv, "qhvt:i:", longopts,
	    NULL)) != -1) {
		if (global_opt(ch, optarg))
			continue;
		switch (ch) {
		case 't':
			o.target = optarg;
			break;
		case 'i':
			inc[o.nincludes++] = optarg;
			break;
		case 'o':
			overwrite = optarg != NULL ? optarg : "always";
			bare = optarg == NULL;
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'c':
			to_stdout = true;
			break;
		case OPT_JSON_PROGRESS:
			g_progress_json = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			free(inc);
			fputs(restore_usage, stdout);
			return EXIT_OK;
		default:
			free(inc);
			fputs(restore_usage, stderr);
			return EXIT_USAGE;
		}
	}
	o.includes = inc;
	if (overwrite != NULL)
		o.overwrite = overwrite_mode(overwrite);
	rc = EXIT_USAGE;
	if (bare && argc - optind == 2 && (overwrite_mode(argv[optind]) >= 0 ||
	    overwrite_mode(argv[optind + 1]) >= 0))
		usage_err(restore_usage, "give the mode with '=': "
		    "--overwrite=MODE");
	else if (argc - optind != 1)
		usage_err(restore_usage, "give exactly one snapshot");
	else if (to_stdout && o.target != NULL)
		usage_err(restore_usage, "--to-stdout and --target exclude each "
		    "other");
	else if (o.overwrite < 0)
		usage_err(restore_usage, "--overwrite is never, if-changed or "
		    "always, not '%s'", overwrite);
	else if (to_stdout && overwrite != NULL)
		usage_err(restore_usage, "--overwrite makes no sense with "
		    "--to-stdout");
	else if (to_stdout && json)
		usage_err(restore_usage, "--json and --to-stdout exclude each "
		    "other");
	else if (to_stdout && o.nincludes != 1)
		usage_err(restore_usage, "--to-stdout needs exactly one "
		    "--include FILE");
	else if (!to_stdout && o.target == NULL)
		usage_err(restore_usage, "no --target DIR given");
	else if (g_opts.repo == NULL)
		usage_err(restore_usage, "no repository given (use --repo DIR "
		    "or set COFFER_REPO)");
	else
		rc = EXIT_OK;
	if (rc != EXIT_OK) {
		free(inc);
		return rc;
	}
	o.snapshot = argv[optind];
	if ((ch = ctx_make(&ctx)) != EXIT_OK) {
		free(inc);
		return ch;
	}
	if (progress_wanted(json))
		ctx.progress = cli_progress;
	if (!to_stdout)
		interrupt_setup("what was restored so far stays in the target "
		    "folder (a file being written may be incomplete)");
	if (to_stdout) {
		rc = EXIT_OK;
		if (coffer_restore_fd(&ctx, o.snapshot, inc[0], STDOUT_FILENO,
		    &bytes, &err) != 0) {
			report_err(&err);
			rc = EXIT_FAIL;
		}
	} else if (coffer_restore(&ctx, &o, &res, &err) != 0) {
		progress_clear();
		report_err(&err);
		rc = EXIT_FAIL;
		if (json)
			(void)json_print(result_json(&res, false));
	} else if (json) {
		rc = json_print(result_json(&res, true));
	} else if (!g_opts.quiet) {
		printf("restored %llu file%s, %llu folder%s, %llu other (%s) "
		    "to '%s'\n", (unsigned long long)res.nfiles,
		    res.nfiles == 1 ? "" : "s", (unsigned long long)res.ndirs,
		    res.ndirs == 1 ? "" : "s", (unsigned long long)res.nother,
		    human_size(res.bytes, sz), o.target);
		if (res.nunchanged + res.nreplaced + res.nkept > 0)
			printf("existing entries: %llu unchanged, %llu "
			    "replaced, %llu kept\n",
			    (unsigned long long)res.nunchanged,
			    (unsigned long long)res.nreplaced,
			    (unsigned long long)res.nkept);
	}
	free(inc);
	return rc;
}
