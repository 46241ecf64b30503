/* SPDX-License-Identifier: ISC */
/* cmd_backup: coffer backup PATH... | --stdin --stdin-name NAME */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char backup_usage[] =
    "usage: coffer backup [--repo DIR] [--json] [--json-progress] [--scope S]\n"
    "                     [--period P] [--custody C] [--exclude PATTERN]...\n"
    "                     [--exclude-file FILE]... [--exclude-caches]\n"
    "                     [--exclude-larger-than SIZE] [-x] [--tag T]...\n"
    "                     [--files-from FILE [-0 | --null]] PATH...\n"
    "       coffer backup [--repo DIR] [--json] [--tag T]... --stdin\n"
    "                     --stdin-name NAME\n"
    "\nBack up files and folders as one new snapshot.  Paths are stored as\n"
    "given, without a leading '/'.  Files that cannot be read are left\n"
    "out with a warning, files that change while they are read are\n"
    "stored as read with a warning; either way the exit status is 3.\n"
    "Unchanged files (the file cache) are not opened.  --scope and --period\n"
    "override the repository's default key scope for this backup, and\n"
    "--custody (local, escrow, local+escrow, escrow-wrap) its default\n"
    "custody for a key set this backup starts.  --json-progress writes\n"
    "progress as JSON lines on stderr.  --tag T (repeatable; T may be\n"
    "a,b for two) tags the snapshot (see 'coffer tag').\n"
    "\nselecting files:\n"
    "  --exclude PATTERN      leave out what matches (gitignore style: '*.o',\n"
    "                         'build/', '/home/me/tmp', '**/cache', '!keep.o')\n"
    "  --exclude-file FILE    patterns from FILE, one per line\n"
    "  --exclude-caches       keep only CACHEDIR.TAG of tagged cache folders\n"
    "  --exclude-larger-than SIZE  leave out files above SIZE (500K, 2G)\n"
    "  -x, --one-file-system  do not cross into other file systems\n"
    "  --files-from FILE      more paths, one per line\n"
    "  -0, --null             with --files-from: NUL-separated paths\n"
    "\nexamples:\n  coffer backup ~/Documents ~/Pictures\n"
    "  coffer backup --exclude '*.tmp' --exclude-caches ~\n"
    "  pg_dump db | coffer backup --stdin --stdin-name db.sql\n";

/* A growable list of paths: borrowed argv strings and owned file lines. */
struct pathlist {
	const char	**v;
	size_t		  n, cap;
	char		 *buf;		/* --files-from contents (owned) */
};

static int
pl_add(struct pathlist *pl, const char *p)
{
	if (pl->n == pl->cap) {
		size_t ncap = pl->cap ? 2 * pl->cap : 16;
		const char **nv;

		if ((nv = realloc(pl->v, ncap * sizeof(*nv))) == NULL)
			return -1;
		pl->v = nv;
		pl->cap = ncap;
	}
	pl->v[pl->n++] = p;
	return 0;
}

/* Add every line (or NUL-separated name) of ${file}. */
static int
pl_add_file(struct pathlist *pl, const char *file, bool nul)
{
	size_t len = 0, cap = 0;
	ssize_t got;
	char *p;
	int fd;

	if ((fd = strcmp(file, "-") == 0 ? STDIN_FILENO :
	    open(file, O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "coffer backup: cannot open '%s': %s\n", file,
		    strerror(errno));
		return -1;
	}
	do {
		if (len + 1 >= cap) {
			char *nb;

			cap = cap ? 2 * cap : 65536;
			if ((nb = realloc(pl->buf, cap)) == NULL) {
				got = -1;
				break;
			}
			pl->buf = nb;
		}
		got = read(fd, pl->buf + len, cap - len - 1);
		if (got > 0)
			len += (size_t)got;
	} while (got > 0 || (got == -1 && errno == EINTR));
	if (fd != STDIN_FILENO)
		close(fd);
	if (got < 0) {
		fprintf(stderr, "coffer backup: cannot read '%s': %s\n", file,
		    strerror(errno));
		return -1;
	}
	if (pl->buf == NULL)
		return 0;
	pl->buf[len] = '\0';
	for (p = pl->buf; p < pl->buf + len; ) {
		char *end = memchr(p, nul ? '\0' : '\n', (size_t)(pl->buf +
		    len - p));

		if (end == NULL)
			end = pl->buf + len;
		*end = '\0';
		if (!nul && end > p && end[-1] == '\r')
			end[-1] = '\0';
		if (*p != '\0' && pl_add(pl, p) != 0)
			return -1;
		p = end + 1;
	}
	return 0;
}

int
parse_size(const char *s, uint64_t *v)
{
	char num[32];
	size_t n = strlen(s);
	unsigned shift = 0;

	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	default: break;
	}
	if (shift > 0)
		num[--n] = '\0';
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (num[i] < '0' || num[i] > '9')
			return -1;
	errno = 0;
	*v = strtoull(num, NULL, 10);
	if (errno != 0 || *v > (UINT64_MAX >> shift))
		return -1;
	*v <<= shift;
	return 0;
}

static int
cmp_tag(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* tags_json(v, n): the tags as the snapshot holds them: sorted, unique. */
static json_t *
tags_json(const char **v, size_t n)
{
	json_t *a = json_array();

	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_tag);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(v[i - 1], v[i]) != 0)
			json_array_append_new(a, json_bytes(v[i],
			    strlen(v[i])));
	return a;
}

static int
report_result(const struct coffer_ctx *ctx,
    const struct coffer_backup_result *res, const char **tags, size_t ntags,
    bool json, double secs)
{
	struct coffer_err err = { 0 };
	char a[32], b[32], c[32], ksdir[4096];

	if (coffer_keystore_dir(ctx, ksdir, sizeof(ksdir), &err) != 0)
		snprintf(ksdir, sizeof(ksdir), "the keystore");
	if (json) {
		json_t *doc = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:f, "
		    "s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "name", res->name,
		    "id", res->id, "key_id", res->key_id, "files",
		    (json_int_t)res->nfiles, "new", (json_int_t)res->nnew,
		    "changed", (json_int_t)res->nchanged, "seconds", secs,
		    "unchanged", (json_int_t)res->nunchanged, "dirs",
		    (json_int_t)res->ndirs, "other", (json_int_t)res->nother,
		    "excluded", (json_int_t)res->nexcluded, "size",
		    (json_int_t)res->size, "added", (json_int_t)res->added,
		    "warnings", (json_int_t)res->nwarnings);

		json_object_set_new(doc, "changed_while_read",
		    json_integer((json_int_t)res->ntorn));
		json_object_set_new(doc, "resumed", json_integer((json_int_t)
		    res->resumed));

		json_object_set_new(doc, "keystore_excluded", res->
		    keystore_excluded ? json_bytes(ksdir, strlen(ksdir)) :
		    json_null());
		json_object_set_new(doc, "tags", tags_json(tags, ntags));
		if (json_print(doc) != EXIT_OK)
			return EXIT_FAIL;
	} else if (!g_opts.quiet) {
		printf("snapshot %s saved (id %.8s, key set %s)\n"
		    "  files: %llu new, %llu changed, %llu unchanged; %llu "
		    "folders, %llu other", res->name, res->id, res->key_id,
		    (unsigned long long)res->nnew,
		    (unsigned long long)res->nchanged,
		    (unsigned long long)res->nunchanged,
		    (unsigned long long)res->ndirs,
		    (unsigned long long)res->nother);
		if (res->nexcluded > 0)
			printf(", %llu excluded",
			    (unsigned long long)res->nexcluded);
		printf("\n  %s of content, %s read, %s added to the card, "
		    "%.1f s\n", human_size(res->size, a),
		    human_size(res->size - res->unchanged_bytes, c),
		    human_size(res->added, b), secs);
		if (res->resumed > 0)
			printf("  took over %s that an interrupted backup had "
			    "written (not written again)\n",
			    human_size(res->resumed, a));
		if (res->keystore_excluded)
			printf("  left out the keystore '%s': its keys, "
			    "encrypted under themselves, could restore nothing "
			    "(keep a copy of it elsewhere)\n", ksdir);
	}
	if (res->nwarnings > 0)
		fprintf(stderr, "coffer backup: %llu entr%s could not be read "
		    "and %s left out (see warnings above)\n",
		    (unsigned long long)res->nwarnings,
		    res->nwarnings == 1 ? "y" : "ies",
		    res->nwarnings == 1 ? "was" : "were");
	if (res->ntorn > 0)
		fprintf(stderr, "coffer backup: %llu file%s changed while "
		    "being read and %s stored as read (see warnings above)\n",
		    (unsigned long long)res->ntorn, res->ntorn == 1 ? "" : "s",
		    res->ntorn == 1 ? "was" : "were");
	return res->nwarnings > 0 || res->ntorn > 0 ? EXIT_PARTIAL : EXIT_OK;
}

/*
 * report_stopped(res, err, json): what a backup stopped by a signal
 * kept; 128 + the signal (130 for SIGINT, 143 for SIGTERM).
 */
static int
report_stopped(const struct coffer_backup_result *res,
    const struct coffer_err *err, bool json)
{
	char a[32];

	if (json) {
		json_t *doc = json_pack("{s:b, s:s, s:s, s:I, s:I}",
		    "interrupted", true, "signal", g_stop == SIGTERM ?
		    "SIGTERM" : "SIGINT", "key_id", res->key_id, "files",
		    (json_int_t)res->nfiles, "added", (json_int_t)res->added);

		(void)json_print(doc);
	}
	fprintf(stderr, "coffer backup: interrupted: no new snapshot; %llu "
	    "file%s, %s written to the card %s kept, and the next backup "
	    "into key set %s continues from there\n",
	    (unsigned long long)res->nfiles, res->nfiles == 1 ? "" : "s",
	    human_size(res->added, a), strcmp(err->msg, "interrupted") == 0 ?
	    "are" : "are mostly", res->key_id);
	if (strcmp(err->msg, "interrupted") != 0)
		fprintf(stderr, "coffer backup: %s\n", err->msg);
	return 128 + (int)g_stop;
}

/* arg_items(argc, argv): more than the items the arguments split into. */
static size_t
arg_items(int argc, char **argv)
{
	size_t n = 1;

	for (int i = 0; i < argc; i++) {
		n++;
		for (const char *p = argv[i]; *p != '\0'; p++)
			n += *p == ',';
	}
	return n;
}

/*
 * take_tags(arg, v, &n): the tags of the comma list ${arg} (split in
 * place) appended to ${v}; -1 if one is not a tag or there are none.
 */
static int
take_tags(char *arg, const char **v, size_t *n)
{
	size_t n0 = *n;
	char *p = arg, *c;

	for (;;) {
		if ((c = strchr(p, ',')) != NULL)
			*c = '\0';
		if (*p != '\0' && !coffer_tag_ok(p))
			return -1;
		if (*p != '\0')
			v[(*n)++] = p;
		if (c == NULL)
			break;
		p = c + 1;
	}
	return *n > n0 ? 0 : -1;
}

int
cmd_backup(int argc, char **argv)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		{ "stdin",	no_argument,		NULL, 's' },
		{ "stdin-name",	required_argument,	NULL, 'N' },
		{ "json",	no_argument,		NULL, 'j' },
		{ "json-progress", no_argument,		NULL, OPT_JSON_PROGRESS },
		{ "scope",	required_argument,	NULL, 'S' },
		{ "custody",	required_argument,	NULL, 'K' },
		{ "period",	required_argument,	NULL, 'P' },
		{ "exclude",	required_argument,	NULL, 'e' },
		{ "exclude-file", required_argument,	NULL, 'E' },
		{ "exclude-caches", no_argument,	NULL, 'C' },
		{ "exclude-larger-than", required_argument, NULL, 'L' },
		{ "one-file-system", no_argument,	NULL, 'x' },
		{ "files-from",	required_argument,	NULL, 'F' },
		{ "null",	no_argument,		NULL, '0' },
		{ "tag",	required_argument,	NULL, OPT_TAG },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	struct coffer_backup_opts o = { .period = COFFER_PERIOD_DEFAULT };
	struct coffer_backup_result res;
	struct coffer_err err = { 0 };
	struct coffer_ctx ctx;
	struct pathlist paths = { 0 };
	const char **ex = NULL, **exf = NULL, **tags = NULL;
	const char *files_from = NULL;
	bool json = false, nul = false;
	size_t nex = 0, nexf = 0, ntags = 0;
	struct timespec t0, t1;
	int ch, r, rc = EXIT_USAGE;

	if ((ex = calloc((size_t)argc + CONFIG_EXCLUDES_MAX + 1,
	    sizeof(*ex))) == NULL ||
	    (exf = calloc((size_t)argc + CONFIG_EXCLUDES_MAX + 1,
	    sizeof(*exf))) == NULL ||
	    (tags = calloc(arg_items(argc, argv), sizeof(*tags))) == NULL) {
		rc = EXIT_FAIL;
		goto out;
	}
	/* 0. Defaults: config file, then environment (flags come next). */
	for (size_t i = 0; i < g_config.nexcludes; i++)
		ex[nex++] = g_config.excludes[i];
	for (size_t i = 0; i < g_config.nexclude_files; i++)
		exf[nexf++] = g_config.exclude_files[i];
	o.exclude_caches = g_config.exclude_caches;
	o.one_file_system = g_config.one_file_system;
	if (g_config.scope != 0)
		o.scope = g_config.scope;
	if (g_config.period_set)
		o.period = g_config.period;
	if (g_config.custody != 0)
		o.custody = g_config.custody;
	{
		const char *v;

		if ((v = getenv("COFFER_SCOPE")) != NULL && *v != '\0' &&
		    parse_scope(v, &o.scope) != 0) {
			usage_err(backup_usage, "COFFER_SCOPE must be device, "
			    "period or backup, not '%s'", v);
			goto out;
		}
		if ((v = getenv("COFFER_CUSTODY")) != NULL && *v != '\0' &&
		    parse_custody(v, &o.custody) != 0) {
			usage_err(backup_usage, "COFFER_CUSTODY must be local, "
			    "escrow, local+escrow or escrow-wrap, not '%s'", v);
			goto out;
		}
		if ((v = getenv("COFFER_PERIOD")) != NULL && *v != '\0' &&
		    parse_period(v, &o.period) != 0) {
			usage_err(backup_usage, "COFFER_PERIOD must be day, "
			    "week or month, not '%s'", v);
			goto out;
		}
	}

	/* 1. Parse. */
	while ((ch = getopt_long(argc, argv, "qhx0", longopts, NULL)) != -1) {
		if (global_opt(ch, optarg))
			continue;
		switch (ch) {
		case 's': o.use_stdin = true; break;
		case 'N': o.stdin_name = optarg; break;
		case 'j': json = true; break;
		case OPT_JSON_PROGRESS: g_progress_json = true; break;
		case 'e': ex[nex++] = optarg; break;
		case 'E': exf[nexf++] = optarg; break;
		case 'C': o.exclude_caches = true; break;
		case 'x': o.one_file_system = true; break;
		case 'F': files_from = optarg; break;
		case '0': nul = true; break;
		case OPT_TAG:
			if (take_tags(optarg, tags, &ntags) != 0) {
				usage_err(backup_usage, "--tag: '%s' is not a "
				    "tag list (tags of 1 to 255 bytes, no '/' "
				    "or control characters, not '.' or '..', "
				    "separated by ',')", optarg);
				goto out;
			}
			break;
		case 'S':
			if (parse_scope(optarg, &o.scope) != 0) {
				usage_err(backup_usage, "--scope must be device, "
				    "period or backup, not '%s'", optarg);
				goto out;
			}
			break;
		case 'K':
			if (parse_custody(optarg, &o.custody) != 0) {
				usage_err(backup_usage, "--custody must be local, "
				    "escrow, local+escrow or escrow-wrap, not "
				    "'%s'", optarg);
				goto out;
			}
			break;
		case 'P':
			if (parse_period(optarg, &o.period) != 0) {
				usage_err(backup_usage, "--period must be day, "
				    "week or month, not '%s'", optarg);
				goto out;
			}
			break;
		case 'L':
			if (parse_size(optarg, &o.exclude_larger_than) != 0 ||
			    o.exclude_larger_than == 0) {
				usage_err(backup_usage, "--exclude-larger-than "
				    "takes a size like 500K, 20M or 2G, not "
				    "'%s'", optarg);
				goto out;
			}
			break;
		case 'h':
			fputs(backup_usage, stdout);
			rc = EXIT_OK;
			goto out;
		default:
			fputs(backup_usage, stderr);
			goto out;
		}
	}
	for (int i = optind; i < argc; i++)
		if (pl_add(&paths, argv[i]) != 0) {
			rc = EXIT_FAIL;
			goto out;
		}
	if (files_from != NULL && pl_add_file(&paths, files_from, nul) != 0) {
		rc = EXIT_FAIL;
		goto out;
	}
	o.paths = paths.v;
	o.npaths = paths.n;
	o.excludes = ex;
	o.nexcludes = nex;
	o.exclude_files = exf;
	o.nexclude_files = nexf;
	o.tags = tags;
	o.ntags = ntags;

	/* 2. Validate. */
	if (o.use_stdin && (o.npaths > 0 || files_from != NULL)) {
		usage_err(backup_usage, "--stdin takes no paths");
		goto out;
	}
	if (o.use_stdin && o.stdin_name == NULL) {
		usage_err(backup_usage, "--stdin needs --stdin-name NAME");
		goto out;
	}
	if (!o.use_stdin && o.stdin_name != NULL) {
		usage_err(backup_usage, "--stdin-name needs --stdin");
		goto out;
	}
	if (nul && files_from == NULL) {
		usage_err(backup_usage, "-0 goes with --files-from");
		goto out;
	}
	if (!o.use_stdin && o.npaths == 0) {
		usage_err(backup_usage, files_from ? "'%s' names no paths" :
		    "nothing to back up: give paths", files_from);
		goto out;
	}
	if (g_opts.repo == NULL) {
		usage_err(backup_usage, "no repository given (use --repo DIR "
		    "or set COFFER_REPO)");
		goto out;
	}

	/* 3. Run. */
	if ((rc = ctx_make(&ctx)) != EXIT_OK)
		goto out;
	if (progress_wanted(json))
		ctx.progress = cli_progress;
	/* Ctrl-C stops cleanly; a second one quits at once. */
	interrupt_setup_stop("no new snapshot (one is written only at the "
	    "end); the earlier ones are intact, and the next backup into "
	    "this key set takes over the packs this run finished");
	ctx.stop = &g_stop;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/*
	 * For a backup, buffers of 128 KiB and more always come from mmap
	 * and go back to the system when freed.  glibc's default raises
	 * that threshold after the first such free, and the trees and
	 * tables a backup frees then stay in the heap: 98-102 MB peak for
	 * the benchmark's first backup instead of 80-86 MB, at the same
	 * speed (docs/PERFORMANCE.md).  Not for restore or check, which
	 * free and take large buffers over and over.
	 */
	(void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	if ((r = coffer_backup(&ctx, &o, &res, &err)) != 0) {
		progress_clear();
		if (r == COFFER_EINTR && g_stop != 0) {
			rc = report_stopped(&res, &err, json);
			goto out;
		}
		report_err(&err);
		rc = EXIT_FAIL;
		goto out;
	}
	progress_clear();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	rc = report_result(&ctx, &res, tags, ntags, json,
	    (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
out:
	free(ex);
	free(exf);
	free(tags);
	free(paths.v);
	free(paths.buf);
	return rc;
}
