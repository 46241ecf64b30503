/* SPDX-License-Identifier: ISC */
/*
 * cmd_card: coffer card add|list|remove|status|run — backups that start
 * when a recorded card goes in.  "run DEVICE" is what the udev rule's
 * systemd unit starts (dist/coffer-card@.service); it is a command so
 * that it can be run and tested without systemd.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "card.h"
#include "cli.h"

static const char card_usage[] =
    "usage: coffer card add [--repo DIR] [--label NAME] [--device DEV]\n"
    "                       [--exclude PATTERN]... [--exclude-file FILE]...\n"
    "                       [--exclude-caches] [-x | --one-file-system]\n"
    "                       [--keep-last N] [--keep-hourly N]\n"
    "                       [--keep-daily N] [--keep-weekly N]\n"
    "                       [--keep-monthly N] [--keep-yearly N] PATH...\n"
    "       coffer card list [--json]\n"
    "       coffer card remove UUID|LABEL\n"
    "       coffer card status [--json] [UUID|LABEL]\n"
    "       coffer card run DEVICE\n"
    "\nBack up when a card goes in.  'add' records the card that holds the\n"
    "repository --repo (mounted now): its file system UUID, the repository\n"
    "id and the key sets this keystore authenticates on it, with what to\n"
    "back up (PATH..., --exclude... as for 'coffer backup') and a retention\n"
    "policy (--keep-last N... as for 'coffer forget').  'run DEVICE' (root;\n"
    "the systemd unit coffer-card@.service runs it when a card appears)\n"
    "looks up the card's UUID, leaves an unrecorded card alone, mounts a\n"
    "recorded one read-only and checks that its repository is the recorded\n"
    "one, then mounts it read-write, backs up, forgets and prunes by the\n"
    "policy, flushes and unmounts it so it can be pulled.  'status' says\n"
    "when each card was last backed up and how its last runs ended.  With\n"
    "--system the records are /etc/coffer/cards and the keystore the system\n"
    "one.\n"
    "\nexamples:\n"
    "  coffer --system card add --repo /media/card/coffer --label blue \\\n"
    "      --keep-daily 7 --keep-weekly 5 /home /etc\n"
    "  coffer --system card status\n";

enum card_cmd { CARD_ADD, CARD_LIST, CARD_REMOVE, CARD_STATUS, CARD_RUN };

struct card_args {
	const char	*label, *device;
	struct card_rec	 rec;		/* add: the profile */
	bool		 json;
	bool		 add_only;	/* an option only 'add' takes */
};

static int
strv_push(char ***v, size_t *n, const char *s)
{
	char **nv;

	if ((nv = realloc(*v, (*n + 2) * sizeof(char *))) == NULL)
		return -1;
	*v = nv;
	if ((nv[*n] = strdup(s)) == NULL)
		return -1;
	nv[++*n] = NULL;
	return 0;
}

static bool
has_policy(const struct card_rec *c)
{
	return c->keep_last + c->keep_hourly + c->keep_daily +
	    c->keep_weekly + c->keep_monthly + c->keep_yearly > 0;
}

/* ---- add, list, remove ---- */

static int
card_add(struct card_args *a, char **paths, size_t npaths)
{
	struct card_rec *c = &a->rec, *old;
	struct card_recs recs = { 0 };
	struct coffer_ctx ctx;
	struct coffer_err err = { 0 };
	char recpath[PATH_MAX], dev[PATH_MAX], mnt[PATH_MAX], real[PATH_MAX];
	char label[256], ids[CARD_KEYS_MAX][17];
	struct stat s1, s2;
	size_t n, ml;
	int rc = EXIT_FAIL;

	if (g_opts.repo == NULL)
		return usage_err(card_usage, "no repository given (use --repo "
		    "DIR on the mounted card or set COFFER_REPO)");
	if (npaths == 0)
		return usage_err(card_usage, "card add: give the paths to back "
		    "up");
	for (size_t i = 0; i < npaths; i++) {
		if (realpath(paths[i], real) == NULL) {
			fprintf(stderr, "coffer card: cannot back up '%s': "
			    "%s\n", paths[i], strerror(errno));
			return EXIT_FAIL;
		}
		if (strv_push(&c->paths, &c->npaths, real) != 0)
			return EXIT_FAIL;
	}
	for (size_t i = 0; i < c->nexclude_files; i++)
		if (c->exclude_files[i][0] != '/') {
			if (realpath(c->exclude_files[i], real) == NULL) {
				fprintf(stderr, "coffer card: cannot read "
				    "'%s': %s\n", c->exclude_files[i],
				    strerror(errno));
				return EXIT_FAIL;
			}
			free(c->exclude_files[i]);
			if ((c->exclude_files[i] = strdup(real)) == NULL)
				return EXIT_FAIL;
		}
	if (card_mount_of(g_opts.repo, dev, sizeof(dev), mnt, sizeof(mnt)) != 0)
		return EXIT_FAIL;
	if (a->device != NULL && (stat(a->device, &s1) != 0 ||
	    stat(dev, &s2) != 0 || s1.st_rdev != s2.st_rdev)) {
		fprintf(stderr, "coffer card: '%s' is on '%s', not on '%s'\n",
		    g_opts.repo, dev, a->device);
		return EXIT_FAIL;
	}
	if (card_probe(dev, c->uuid, c->fstype, label, sizeof(label)) != 0)
		return EXIT_FAIL;
	if ((rc = ctx_make(&ctx)) != EXIT_OK)
		return rc;
	rc = EXIT_FAIL;
	if (coffer_card_identify(&ctx, c->repo_id, ids, CARD_KEYS_MAX, &n,
	    &err) != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if (n == 0) {
		fprintf(stderr, "coffer card: the repository '%s' has no key "
		    "set this keystore can authenticate, so the card could "
		    "not be recognised: back up to it once with this "
		    "keystore first (a set in escrow or escrow-wrap custody "
		    "alone cannot be checked without the server)\n",
		    g_opts.repo);
		return EXIT_FAIL;
	}
	for (size_t i = 0; i < n; i++)
		memcpy(c->key_ids[i], ids[i], 17);
	c->nkey_ids = n;
	if (realpath(g_opts.repo, real) == NULL)
		return EXIT_FAIL;
	ml = strcmp(mnt, "/") == 0 ? 0 : strlen(mnt);
	c->repo = strdup(real[ml] == '\0' ? "." : real + ml + 1);
	c->label = strdup(a->label != NULL ? a->label : label[0] != '\0' ?
	    label : c->uuid);
	if (c->repo == NULL || c->label == NULL)
		return EXIT_FAIL;
	c->added = (long long)time(NULL);
	if (card_recs_path(g_opts.system, recpath, sizeof(recpath)) != 0 ||
	    card_recs_load(recpath, &recs) != 0)
		goto out;
	for (size_t i = 0; i < recs.n; i++)
		if (strcmp(recs.v[i].label, c->label) == 0 &&
		    strcmp(recs.v[i].uuid, c->uuid) != 0) {
			fprintf(stderr, "coffer card: the label '%s' is card "
			    "%s's already (give --label)\n", c->label,
			    recs.v[i].uuid);
			goto out;
		}
	if ((old = card_recs_find(&recs, c->uuid)) != NULL) {
		card_rec_release(old);
		*old = *c;
	} else {
		struct card_rec *nv;

		if ((nv = realloc(recs.v, (recs.n + 1) * sizeof(*nv))) ==
		    NULL)
			goto out;
		recs.v = nv;
		recs.v[recs.n++] = *c;
	}
	memset(c, 0, sizeof(*c));	/* now recs' */
	if (card_recs_save(&recs) != 0)
		goto out;
	c = old != NULL ? old : &recs.v[recs.n - 1];
	if (!g_opts.quiet)
		printf("%s card %s (UUID %s, %s, repository '%s' on it, %zu "
		    "key set%s)\n", old != NULL ? "updated" : "recorded",
		    c->label, c->uuid, c->fstype, c->repo, n,
		    n == 1 ? "" : "s");
	rc = EXIT_OK;
out:
	card_recs_release(&recs);
	return rc;
}

static void
print_keep(FILE *f, const struct card_rec *c)
{
	const unsigned v[] = { c->keep_last, c->keep_hourly, c->keep_daily,
	    c->keep_weekly, c->keep_monthly, c->keep_yearly };
	const char *const nm[] = { "last", "hourly", "daily", "weekly",
	    "monthly", "yearly" };
	bool any = false;

	for (size_t i = 0; i < 6; i++)
		if (v[i] != 0) {
			fprintf(f, "%s%s %u", any ? ", " : "", nm[i], v[i]);
			any = true;
		}
	if (!any)
		fputs("none (nothing forgotten)", f);
}

static int
card_list(const struct card_args *a)
{
	struct card_recs recs;
	char path[PATH_MAX];
	json_t *arr;

	if (card_recs_path(g_opts.system, path, sizeof(path)) != 0 ||
	    card_recs_load(path, &recs) != 0)
		return EXIT_FAIL;
	if (a->json) {
		arr = json_array();
		for (size_t i = 0; i < recs.n; i++) {
			const struct card_rec *c = &recs.v[i];
			json_t *p = json_array(), *k = json_array();

			for (size_t j = 0; j < c->npaths; j++)
				json_array_append_new(p,
				    json_string(c->paths[j]));
			for (size_t j = 0; j < c->nkey_ids; j++)
				json_array_append_new(k,
				    json_string(c->key_ids[j]));
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, "
			    "s:s, s:s, s:o, s:o, s:{s:i, s:i, s:i, s:i, s:i, "
			    "s:i}}", "uuid", c->uuid, "label", c->label,
			    "fstype", c->fstype, "repo", c->repo, "repo_id",
			    c->repo_id, "key_ids", k, "paths", p, "keep",
			    "last", c->keep_last, "hourly", c->keep_hourly,
			    "daily", c->keep_daily, "weekly", c->keep_weekly,
			    "monthly", c->keep_monthly, "yearly",
			    c->keep_yearly));
		}
		card_recs_release(&recs);
		return json_print(json_pack("{s:o}", "cards", arr));
	}
	if (recs.n == 0 && !g_opts.quiet)
		printf("no cards recorded in '%s'\n", path);
	for (size_t i = 0; i < recs.n; i++) {
		const struct card_rec *c = &recs.v[i];

		printf("%s  UUID %s (%s), repository '%s'\n  backs up:",
		    c->label, c->uuid, c->fstype, c->repo);
		for (size_t j = 0; j < c->npaths; j++)
			printf(" %s", c->paths[j]);
		printf("\n  keeps: ");
		print_keep(stdout, c);
		printf("\n");
	}
	card_recs_release(&recs);
	return EXIT_OK;
}

static int
card_remove(const char *name)
{
	struct card_recs recs;
	struct card_rec *c;
	char path[PATH_MAX], state[PATH_MAX], st[PATH_MAX + 80];
	int rc = EXIT_FAIL;

	if (card_recs_path(g_opts.system, path, sizeof(path)) != 0 ||
	    card_recs_load(path, &recs) != 0)
		return EXIT_FAIL;
	if ((c = card_recs_find(&recs, name)) == NULL) {
		fprintf(stderr, "coffer card: no card '%s' in '%s'\n", name,
		    path);
		goto out;
	}
	if (card_state_dir(g_opts.system, state, sizeof(state)) == 0) {
		snprintf(st, sizeof(st), "%s/%s.json", state, c->uuid);
		(void)unlink(st);
	}
	if (!g_opts.quiet)
		printf("removed card %s (UUID %s): it is left alone from now "
		    "on; its repository is untouched\n", c->label, c->uuid);
	card_rec_release(c);
	*c = recs.v[--recs.n];
	if (card_recs_save(&recs) != 0)
		goto out;
	rc = EXIT_OK;
out:
	card_recs_release(&recs);
	return rc;
}

/* ---- status ---- */

/* utc(sec, buf): "2026-12-08T05:10:09Z". */
static const char *
utc(long long sec, char buf[48])
{
	time_t t = (time_t)sec;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, 48, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, 48, "%lld", sec);
	return buf;
}

/* run_busy(state, uuid): a run of this card holds its lock now. */
static bool
run_busy(const char *state, const char *uuid)
{
	char path[PATH_MAX + 80];
	bool busy = false;
	int fd;

	snprintf(path, sizeof(path), "%s/%s.lock", state, uuid);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return false;
	if (flock(fd, LOCK_SH | LOCK_NB) != 0)
		busy = errno == EWOULDBLOCK;
	close(fd);
	return busy;
}

/* The result shown: a "running" run no one runs was interrupted. */
static const char *
shown_result(const struct card_run *u, bool busy, bool last)
{
	if (strcmp(u->result, "running") == 0 && !(busy && last))
		return "interrupted";
	return u->result;
}

static json_t *
status_json(const struct card_rec *c, const struct card_status *st,
    bool busy)
{
	json_t *runs = json_array(), *o;
	char t[48];
	const struct card_run *good = NULL;

	for (size_t i = 0; i < st->n; i++) {
		const struct card_run *u = &st->runs[i];

		if (strcmp(u->result, "ok") == 0 ||
		    strcmp(u->result, "partial") == 0)
			good = u;
		o = json_pack("{s:s, s:s?, s:s, s:s?, s:s?, s:I, s:I}",
		    "start", utc(u->start, t), "end", NULL, "result",
		    shown_result(u, busy, i + 1 == st->n), "message",
		    u->message, "snapshot", u->snapshot[0] != '\0' ?
		    u->snapshot : NULL, "added", (json_int_t)u->added,
		    "forgotten", (json_int_t)u->forgotten);
		if (u->end != 0)
			json_object_set_new(o, "end",
			    json_string(utc(u->end, t)));
		json_array_append_new(runs, o);
	}
	o = json_pack("{s:s, s:s, s:n, s:n, s:o}", "uuid", c->uuid, "label",
	    c->label, "last_backup", "last_result", "runs", runs);
	if (good != NULL)
		json_object_set_new(o, "last_backup",
		    json_string(utc(good->end, t)));
	if (st->n > 0)
		json_object_set_new(o, "last_result", json_string(
		    shown_result(&st->runs[st->n - 1], busy, true)));
	return o;
}

static void
status_text(const struct card_rec *c, const struct card_status *st,
    bool busy)
{
	const struct card_run *good = NULL;
	char t[48], sz[32];

	for (size_t i = 0; i < st->n; i++)
		if (strcmp(st->runs[i].result, "ok") == 0 ||
		    strcmp(st->runs[i].result, "partial") == 0)
			good = &st->runs[i];
	printf("%s  UUID %s\n", c->label, c->uuid);
	if (good != NULL)
		printf("  last backup: %s (snapshot %s)\n",
		    utc(good->end, t), good->snapshot);
	else
		printf("  last backup: never\n");
	/* The last five runs, newest first. */
	for (size_t k = 0; k < st->n && k < 5; k++) {
		const struct card_run *u = &st->runs[st->n - 1 - k];

		printf("  %s  %-11s", utc(u->start, t),
		    shown_result(u, busy, k == 0));
		if (strcmp(u->result, "ok") == 0 ||
		    strcmp(u->result, "partial") == 0)
			printf(" snapshot %s, %s added, %llu forgotten",
			    u->snapshot, human_size(u->added, sz),
			    (unsigned long long)u->forgotten);
		if (u->message != NULL) {
			fputc(' ', stdout);
			print_escaped(stdout, u->message, strlen(u->message));
		}
		fputc('\n', stdout);
	}
}

static int
card_status(const struct card_args *a, const char *name)
{
	struct card_recs recs;
	char path[PATH_MAX], state[PATH_MAX];
	json_t *arr = json_array();
	bool found = false;
	size_t ncards;

	if (card_recs_path(g_opts.system, path, sizeof(path)) != 0 ||
	    card_state_dir(g_opts.system, state, sizeof(state)) != 0 ||
	    card_recs_load(path, &recs) != 0) {
		json_decref(arr);
		return EXIT_FAIL;
	}
	for (size_t i = 0; i < recs.n; i++) {
		const struct card_rec *c = &recs.v[i];
		struct card_status st;
		bool busy;

		if (name != NULL && strcmp(name, c->uuid) != 0 &&
		    strcmp(name, c->label) != 0)
			continue;
		found = true;
		card_status_load(state, c->uuid, &st);
		busy = run_busy(state, c->uuid);
		if (a->json)
			json_array_append_new(arr, status_json(c, &st, busy));
		else
			status_text(c, &st, busy);
		card_status_release(&st);
	}
	ncards = recs.n;
	card_recs_release(&recs);
	if (name != NULL && !found) {
		json_decref(arr);
		fprintf(stderr, "coffer card: no card '%s' in '%s'\n", name,
		    path);
		return EXIT_FAIL;
	}
	if (a->json)
		return json_print(json_pack("{s:o}", "cards", arr));
	json_decref(arr);
	if (ncards == 0 && !g_opts.quiet)
		printf("no cards recorded in '%s'\n", path);
	return EXIT_OK;
}

/* ---- run ---- */

struct run_state {
	struct card_status	 st;
	struct card_run		*cur;
	const struct card_rec	*c;
};

static int
run_end(struct run_state *rs, const char *result, int rc, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

/* run_end(rs, result, rc, fmt, ...): record and log how the run ended. */
static int
run_end(struct run_state *rs, const char *result, int rc, const char *fmt,
    ...)
{
	char msg[512] = "";
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	}
	snprintf(rs->cur->result, sizeof(rs->cur->result), "%s", result);
	rs->cur->end = (long long)time(NULL);
	free(rs->cur->message);
	rs->cur->message = msg[0] != '\0' ? strdup(msg) : NULL;
	(void)card_status_save(&rs->st);
	fprintf(rc == EXIT_OK ? stdout : stderr, "coffer card: card %s "
	    "(UUID %s): %s%s%s\n", rs->c->label, rs->c->uuid, result,
	    msg[0] != '\0' ? ": " : "", msg);
	return rc;
}

/*
 * verify(ctx, c, why, cap): the repository at ${ctx->repo} is card ${c}'s:
 * the recorded repository id, and a recorded key set that this keystore
 * authenticates there.  0, or -1 with the reason in ${why}.
 */
static int
verify(const struct coffer_ctx *ctx, const struct card_rec *c, char *why,
    size_t cap)
{
	struct coffer_err err = { 0 };
	char id[33], ids[CARD_KEYS_MAX][17];
	size_t n;

	if (coffer_card_identify(ctx, id, ids, CARD_KEYS_MAX, &n, &err) != 0) {
		snprintf(why, cap, "not the recorded repository: %s: %s",
		    coffer_strerror(err.code), err.msg);
		return -1;
	}
	if (strcmp(id, c->repo_id) != 0) {
		snprintf(why, cap, "not the recorded repository: '%s' has "
		    "repository id %s, the record %s", c->repo, id,
		    c->repo_id);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < c->nkey_ids; k++)
			if (strcmp(ids[i], c->key_ids[k]) == 0)
				return 0;
	snprintf(why, cap, "not the recorded repository: no recorded key set "
	    "on it authenticates under this keystore (%zu other%s do)", n,
	    n == 1 ? "" : "s");
	return -1;
}

static int
run_profile(struct run_state *rs, const struct coffer_ctx *ctx)
{
	const struct card_rec *c = rs->c;
	struct coffer_backup_opts bo = { 0 };
	struct coffer_backup_result br = { 0 };
	struct coffer_err err = { 0 };
	char sz[32];

	bo.paths = (const char *const *)c->paths;
	bo.npaths = c->npaths;
	bo.excludes = (const char *const *)c->excludes;
	bo.nexcludes = c->nexcludes;
	bo.exclude_files = (const char *const *)c->exclude_files;
	bo.nexclude_files = c->nexclude_files;
	bo.exclude_caches = c->exclude_caches;
	bo.one_file_system = c->one_file_system;
	bo.period = COFFER_PERIOD_DEFAULT;
	if (coffer_backup(ctx, &bo, &br, &err) != 0) {
		return run_end(rs, "failed", EXIT_FAIL, "backup: %s: %s",
		    coffer_strerror(err.code), err.msg);
	}
	snprintf(rs->cur->snapshot, sizeof(rs->cur->snapshot), "%s", br.name);
	rs->cur->added = br.added;
	printf("coffer card: backup %s: %llu files, %s added\n", br.name,
	    (unsigned long long)br.nfiles, human_size(br.added, sz));
	fflush(stdout);
	if (has_policy(c)) {
		struct coffer_forget_opts fo = { 0 };
		size_t n = 0;

		fo.keep_last = c->keep_last;
		fo.keep_hourly = c->keep_hourly;
		fo.keep_daily = c->keep_daily;
		fo.keep_weekly = c->keep_weekly;
		fo.keep_monthly = c->keep_monthly;
		fo.keep_yearly = c->keep_yearly;
		if (coffer_forget(ctx, &fo, NULL, NULL, &n, &err) != 0)
			return run_end(rs, "failed", EXIT_FAIL, "backup %s "
			    "done; forget: %s: %s", br.name,
			    coffer_strerror(err.code), err.msg);
		rs->cur->forgotten = n;
		printf("coffer card: forget: %zu snapshot%s forgotten\n", n,
		    n == 1 ? "" : "s");
		fflush(stdout);
		if (n > 0) {
			struct coffer_prune_opts po = {
				.max_unused = COFFER_PRUNE_MAX_UNUSED,
			};
			struct coffer_prune_result pr;
			char b[32];

			if (coffer_prune(ctx, &po, &pr, &err) != 0)
				return run_end(rs, "failed", EXIT_FAIL,
				    "backup %s done; prune: %s: %s", br.name,
				    coffer_strerror(err.code), err.msg);
			printf("coffer card: prune: %s of packs before, %s "
			    "after\n", human_size(pr.bytes_before, sz),
			    human_size(pr.bytes_after, b));
		}
	}
	if (br.nwarnings > 0 || br.ntorn > 0)
		return run_end(rs, "partial", EXIT_PARTIAL, "%llu entries "
		    "could not be read, %llu changed while read",
		    (unsigned long long)br.nwarnings,
		    (unsigned long long)br.ntorn);
	return EXIT_OK;
}

static int
card_run(const char *dev)
{
	struct card_recs recs = { 0 };
	struct run_state rs = { 0 };
	struct card_run run = { 0 };
	struct coffer_ctx ctx;
	const char *v;
	char uuid[CARD_UUID_MAX + 1], fstype[16], path[PATH_MAX];
	char state[PATH_MAX], lock[PATH_MAX + 80], mnt[PATH_MAX];
	char repo[2 * PATH_MAX], why[768];
	int lockfd = -1, rc = EXIT_FAIL;
	bool mounted = false;

	if (geteuid() != 0) {
		fprintf(stderr, "coffer card: run needs root: it mounts the "
		    "card (the systemd unit runs it as root)\n");
		return EXIT_FAIL;
	}
	/* Read-only probing: nothing else happens to an unrecorded card. */
	if (card_probe(dev, uuid, fstype, NULL, 0) != 0)
		return EXIT_FAIL;
	if (card_recs_path(g_opts.system, path, sizeof(path)) != 0 ||
	    card_recs_load(path, &recs) != 0)
		return EXIT_FAIL;
	if ((rs.c = card_recs_find(&recs, uuid)) == NULL ||
	    strcmp(rs.c->uuid, uuid) != 0) {
		printf("coffer card: %s (UUID %s): not a recorded card: left "
		    "alone\n", dev, uuid);
		rc = EXIT_OK;
		goto out;
	}
	if (card_state_dir(g_opts.system, state, sizeof(state)) != 0)
		goto out;
	snprintf(lock, sizeof(lock), "%s/%s.lock", state, uuid);
	if (card_mkdir_p(state) != 0)
		goto out;
	if ((lockfd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) < 0 || flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
		if (lockfd >= 0 && errno == EWOULDBLOCK) {
			printf("coffer card: card %s (UUID %s): another run "
			    "is under way; this one does nothing\n",
			    rs.c->label, uuid);
			rc = EXIT_OK;
		} else
			fprintf(stderr, "coffer card: cannot lock '%s': %s\n",
			    lock, strerror(errno));
		goto out;
	}
	card_status_load(state, uuid, &rs.st);
	/* A run that never ended (killed, card pulled) failed. */
	if (rs.st.n > 0 && strcmp(rs.st.runs[rs.st.n - 1].result,
	    "running") == 0) {
		struct card_run *u = &rs.st.runs[rs.st.n - 1];

		snprintf(u->result, sizeof(u->result), "failed");
		free(u->message);
		u->message = strdup("interrupted: the run ended before it "
		    "finished (card pulled, run killed or power lost)");
	}
	run.start = (long long)time(NULL);
	run.pid = (long)getpid();
	snprintf(run.result, sizeof(run.result), "running");
	card_status_push(&rs.st, &run);
	rs.cur = &rs.st.runs[rs.st.n - 1];
	if (card_status_save(&rs.st) != 0)
		goto out;
	printf("coffer card: card %s (UUID %s) in %s: checking it\n",
	    rs.c->label, uuid, dev);
	fflush(stdout);
	if (strcmp(fstype, rs.c->fstype) != 0) {
		rc = run_end(&rs, "refused", EXIT_FAIL, "the recorded card "
		    "is %s, this one %s: not the recorded card; left alone",
		    rs.c->fstype, fstype);
		goto out;
	}
	v = getenv("COFFER_CARD_MOUNTS");
	v = v != NULL && *v == '/' ? v : "/run/coffer-card";
	if (mkdir(v, 0700) != 0 && errno != EEXIST) {
		rc = run_end(&rs, "failed", EXIT_FAIL, "cannot make '%s': %s",
		    v, strerror(errno));
		goto out;
	}
	snprintf(mnt, sizeof(mnt), "%s/%s", v, uuid);
	snprintf(repo, sizeof(repo), "%s/%s", mnt, rs.c->repo);
	if ((rc = ctx_make(&ctx)) != EXIT_OK) {
		rc = run_end(&rs, "failed", rc, "no keystore");
		goto out;
	}
	ctx.repo = repo;
	ctx.stop = &g_stop;
	/* Read-only first: a card that is not ours is never written. */
	if (card_mount(dev, fstype, mnt, false) != 0) {
		rc = run_end(&rs, "failed", EXIT_FAIL, "cannot mount %s "
		    "read-only", dev);
		goto out;
	}
	mounted = true;
	if (verify(&ctx, rs.c, why, sizeof(why)) != 0) {
		mounted = card_unmount(mnt) != 0;
		rc = run_end(&rs, "refused", EXIT_FAIL, "%s; left alone", why);
		goto out;
	}
	if (card_unmount(mnt) != 0) {
		rc = run_end(&rs, "failed", EXIT_FAIL, "cannot unmount the "
		    "read-only mount");
		goto out;
	}
	mounted = false;
	if (card_mount(dev, fstype, mnt, true) != 0) {
		rc = run_end(&rs, "failed", EXIT_FAIL, "cannot mount %s", dev);
		goto out;
	}
	mounted = true;
	/* The same card still (it could have been swapped meanwhile). */
	if (verify(&ctx, rs.c, why, sizeof(why)) != 0) {
		rc = run_end(&rs, "refused", EXIT_FAIL, "%s", why);
		goto out;
	}
	interrupt_setup_stop("no new snapshot; the card is unmounted on the "
	    "next run");
	rc = run_profile(&rs, &ctx);
	mounted = false;
	if (card_unmount(mnt) != 0) {
		if (rc == EXIT_OK || rc == EXIT_PARTIAL)
			rc = run_end(&rs, "failed", EXIT_FAIL, "backup %s "
			    "done, but the card could not be unmounted: do "
			    "not pull it yet", rs.cur->snapshot);
		goto out;
	}
	printf("coffer card: unmounted: the card can be pulled\n");
	if (rc == EXIT_OK)
		rc = run_end(&rs, "ok", EXIT_OK, NULL);
out:
	if (mounted)
		(void)card_unmount(mnt);
	card_status_release(&rs.st);
	card_recs_release(&recs);
	if (lockfd >= 0)
		close(lockfd);
	return rc;
}

int
cmd_card(int argc, char **argv)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		{ "label",		required_argument,	NULL, 'L' },
		{ "device",		required_argument,	NULL, 'D' },
		{ "exclude",		required_argument,	NULL, 'e' },
		{ "exclude-file",	required_argument,	NULL, 'E' },
		{ "exclude-caches",	no_argument,		NULL, 'C' },
		{ "one-file-system",	no_argument,		NULL, 'x' },
		{ "keep-last",		required_argument,	NULL, 'l' },
		{ "keep-hourly",	required_argument,	NULL, 'H' },
		{ "keep-daily",		required_argument,	NULL, 'd' },
		{ "keep-weekly",	required_argument,	NULL, 'w' },
		{ "keep-monthly",	required_argument,	NULL, 'm' },
		{ "keep-yearly",	required_argument,	NULL, 'y' },
		{ "json",		no_argument,		NULL, 'j' },
		{ "help",		no_argument,		NULL, 'h' },
		{ NULL,			0,			NULL, 0 },
	};
	static const char *const subs[] = { "add", "list", "remove", "status",
	    "run" };
	struct card_args a = { 0 };
	struct card_rec *c = &a.rec;
	enum card_cmd sub;
	unsigned *slot;
	size_t nargs, i;
	char **args;
	int ch, rc = EXIT_FAIL;

	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		fputs(card_usage, stdout);
		return EXIT_OK;
	}
	if (argc < 2)
		return usage_err(card_usage, "give add, list, remove, status "
		    "or run");
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(argv[1], subs[i]) == 0)
			break;
	if (i == sizeof(subs) / sizeof(subs[0]))
		return usage_err(card_usage, "unknown card command '%s'",
		    argv[1]);
	sub = (enum card_cmd)i;
	argc--;
	argv++;
	while ((ch = getopt_long(argc, argv, "qhx", longopts, NULL)) != -1) {
		if (global_opt(ch, optarg))
			continue;
		slot = NULL;
		a.add_only = a.add_only || (ch != 'j' && ch != 'h');
		switch (ch) {
		case 'L':
			if (*optarg == '\0' || strlen(optarg) > 64 ||
			    strpbrk(optarg, "\n\t\r") != NULL) {
				rc = usage_err(card_usage, "--label: 1 to "
				    "64 characters, on one line");
				goto out;
			}
			a.label = optarg;
			break;
		case 'D': a.device = optarg; break;
		case 'e':
			if (strv_push(&c->excludes, &c->nexcludes, optarg) != 0)
				goto out;
			break;
		case 'E':
			if (strv_push(&c->exclude_files, &c->nexclude_files,
			    optarg) != 0)
				goto out;
			break;
		case 'C': c->exclude_caches = true; break;
		case 'x': c->one_file_system = true; break;
		case 'l': slot = &c->keep_last; break;
		case 'H': slot = &c->keep_hourly; break;
		case 'd': slot = &c->keep_daily; break;
		case 'w': slot = &c->keep_weekly; break;
		case 'm': slot = &c->keep_monthly; break;
		case 'y': slot = &c->keep_yearly; break;
		case 'j': a.json = true; break;
		case 'h':
			fputs(card_usage, stdout);
			rc = EXIT_OK;
			goto out;
		default:
			fputs(card_usage, stderr);
			rc = EXIT_USAGE;
			goto out;
		}
		if (slot != NULL && parse_count(optarg, slot) != 0) {
			rc = usage_err(card_usage, "'%s' is not a count",
			    optarg);
			goto out;
		}
	}
	args = argv + optind;
	nargs = (size_t)(argc - optind);
	if (a.add_only && sub != CARD_ADD) {
		rc = usage_err(card_usage, "card %s: only 'card add' takes "
		    "--label, --device, --exclude*, -x and --keep-*",
		    subs[sub]);
		goto out;
	}
	if (a.json && sub != CARD_LIST && sub != CARD_STATUS) {
		rc = usage_err(card_usage, "card %s: --json goes with list "
		    "and status", subs[sub]);
		goto out;
	}
	switch (sub) {
	case CARD_ADD:
		rc = card_add(&a, args, nargs);
		break;
	case CARD_LIST:
		if (nargs != 0) {
			rc = usage_err(card_usage, "card list takes no "
			    "arguments");
			goto out;
		}
		rc = card_list(&a);
		break;
	case CARD_REMOVE:
		if (nargs != 1) {
			rc = usage_err(card_usage, "card remove: give one "
			    "UUID or label");
			goto out;
		}
		rc = card_remove(args[0]);
		break;
	case CARD_STATUS:
		if (nargs > 1) {
			rc = usage_err(card_usage, "card status: at most one "
			    "UUID or label");
			goto out;
		}
		rc = card_status(&a, nargs == 1 ? args[0] : NULL);
		break;
	default:
		if (nargs != 1) {
			rc = usage_err(card_usage, "card run: give the "
			    "device (/dev/sdb1)");
			goto out;
		}
		rc = card_run(args[0]);
		break;
	}
out:
	card_rec_release(c);
	return rc;
}
