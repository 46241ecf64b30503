/* SPDX-License-Identifier: ISC */
/*
 * card_store: the card records (docs/FORMAT.md §19: JSON, versioned)
 * and each card's run history, both files on the device written
 * atomically.  The records decide what root backs up and onto which
 * card, so a records file anyone else could have written is refused.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "card.h"
#include "cli.h"

#define CARDS_FORMAT		"coffer-cards"
#define CARDS_VERSION		1
#define CARD_STATUS_FORMAT	"coffer-card-status"
#define CARD_STATUS_VERSION	1
#define CARDS_FILE_MAX		(1024 * 1024)
#define CARD_KEEP_MAX		1000000

static const char *const keep_names[] = {
	"last", "hourly", "daily", "weekly", "monthly", "yearly",
};

static unsigned *
keep_slot(struct card_rec *c, size_t i)
{
	unsigned *slots[] = { &c->keep_last, &c->keep_hourly, &c->keep_daily,
	    &c->keep_weekly, &c->keep_monthly, &c->keep_yearly };

	return slots[i];
}

/* from_env_or(buf, cap, env, fallback...): the path a file goes to. */
static int
home_path(char *buf, size_t cap, const char *xdg, const char *home_rel,
    const char *tail)
{
	const char *v;

	if ((v = getenv(xdg)) != NULL && *v == '/')
		snprintf(buf, cap, "%s/%s", v, tail);
	else if ((v = getenv("HOME")) != NULL && *v == '/')
		snprintf(buf, cap, "%s/%s/%s", v, home_rel, tail);
	else {
		fprintf(stderr, "coffer %s: neither %s nor HOME is set: "
		    "no place for the card records\n", g_cmd, xdg);
		return -1;
	}
	return 0;
}

int
card_recs_path(bool system, char *buf, size_t cap)
{
	const char *v;

	if ((v = getenv("COFFER_CARDS")) != NULL && *v != '\0') {
		snprintf(buf, cap, "%s", v);
		return 0;
	}
	if (system) {
		snprintf(buf, cap, "/etc/coffer/cards");
		return 0;
	}
	return home_path(buf, cap, "XDG_CONFIG_HOME", ".config",
	    "coffer/cards");
}

int
card_state_dir(bool system, char *buf, size_t cap)
{
	const char *v;

	if ((v = getenv("COFFER_CARD_STATE")) != NULL && *v != '\0') {
		snprintf(buf, cap, "%s", v);
		return 0;
	}
	if (system) {
		snprintf(buf, cap, "/var/lib/coffer-card");
		return 0;
	}
	return home_path(buf, cap, "XDG_STATE_HOME", ".local/state",
	    "coffer/cards");
}

/* mkdirs(path): make the folders above the file ${path} (0700). */
static int
mkdirs(const char *path)
{
	char dir[PATH_MAX], *p;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((p = strrchr(dir, '/')) == NULL || p == dir)
		return 0;
	*p = '\0';
	for (p = dir + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

int
card_mkdir_p(const char *dir)
{
	char f[PATH_MAX];

	snprintf(f, sizeof(f), "%s/x", dir);
	if (mkdirs(f) != 0) {
		fprintf(stderr, "coffer %s: cannot make '%s': %s\n", g_cmd,
		    dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* write_json(path, doc): ${path}.tmp, fsync, rename, fsync the folder. */
static int
write_json(const char *path, json_t *doc)
{
	char tmp[PATH_MAX + 8], dir[PATH_MAX], *p;
	int fd = -1, dfd;

	if (mkdirs(path) != 0)
		goto fail;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) < 0)
		goto fail;
	if (json_dumpfd(doc, fd, JSON_INDENT(2) | JSON_ENSURE_ASCII) != 0 ||
	    write(fd, "\n", 1) != 1 || fsync(fd) != 0)
		goto fail;
	close(fd);
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	snprintf(dir, sizeof(dir), "%s", path);
	if ((p = strrchr(dir, '/')) != NULL) {
		*p = '\0';
		if ((dfd = open(p == dir ? "/" : dir, O_RDONLY |
		    O_DIRECTORY | O_CLOEXEC)) >= 0) {
			(void)fsync(dfd);
			close(dfd);
		}
	}
	return 0;
fail:
	fprintf(stderr, "coffer %s: cannot write '%s': %s\n", g_cmd, path,
	    strerror(errno));
	if (fd >= 0) {
		close(fd);
		(void)unlink(tmp);
	}
	return -1;
}

/*
 * read_json(path, strict, &doc): the JSON document in ${path}; NULL doc
 * if there is no file.  ${strict}: owned by us and writable by no one
 * else.  -1 after a message.
 */
static int
read_json(const char *path, bool strict, json_t **out)
{
	json_error_t je;
	struct stat st;
	int fd;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 0;
		fprintf(stderr, "coffer %s: cannot read '%s': %s\n", g_cmd,
		    path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "coffer %s: '%s' is not a regular file\n",
		    g_cmd, path);
		goto fail;
	}
	if (strict && (st.st_uid != geteuid() || (st.st_mode & 022) != 0)) {
		fprintf(stderr, "coffer %s: '%s' could have been written by "
		    "someone else (owner uid %u, mode %04o): it decides what "
		    "is backed up, so it must be yours and writable by you "
		    "only (chmod 600)\n", g_cmd, path, (unsigned)st.st_uid,
		    (unsigned)(st.st_mode & 07777));
		goto fail;
	}
	if (st.st_size > CARDS_FILE_MAX) {
		fprintf(stderr, "coffer %s: '%s' is larger than %d bytes\n",
		    g_cmd, path, CARDS_FILE_MAX);
		goto fail;
	}
	if ((*out = json_loadfd(fd, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		fprintf(stderr, "coffer %s: '%s', line %d: %s\n", g_cmd, path,
		    je.line, je.text);
		goto fail;
	}
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}

static bool
hex_ok(const char *s, size_t len)
{
	if (strlen(s) != len)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* text_ok(s): no control characters (it goes to a terminal and logs). */
static bool
text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* repo_rel_ok(s): a relative path with no ".." (stays on the card). */
static bool
repo_rel_ok(const char *s)
{
	if (!text_ok(s, 1024) || s[0] == '/')
		return false;
	for (const char *p = s; *p != '\0'; p += strcspn(p, "/"),
	    p += *p == '/') {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return false;
	}
	return true;
}

static int
strs_from_json(json_t *a, bool absolute, char ***out, size_t *n)
{
	size_t i;
	json_t *v;

	*out = NULL;
	*n = 0;
	if (a == NULL)
		return 0;
	if (!json_is_array(a))
		return -1;
	if ((*out = calloc(json_array_size(a) + 1, sizeof(char *))) == NULL)
		return -1;
	json_array_foreach(a, i, v) {
		const char *s = json_string_value(v);

		if (s == NULL || !text_ok(s, PATH_MAX) ||
		    (absolute && s[0] != '/'))
			return -1;
		if (((*out)[i] = strdup(s)) == NULL)
			return -1;
		(*n)++;
	}
	return 0;
}

static json_t *
strs_to_json(char **v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* rec_from_json(o, c): one record; the name of a bad field, or NULL. */
static const char *
rec_from_json(json_t *o, struct card_rec *c)
{
	json_t *v, *keep;
	const char *s;
	size_t i;

	if (!json_is_object(o))
		return "card";
	s = json_string_value(json_object_get(o, "uuid"));
	if (s == NULL || !card_uuid_ok(s))
		return "uuid";
	snprintf(c->uuid, sizeof(c->uuid), "%s", s);
	s = json_string_value(json_object_get(o, "fstype"));
	if (s == NULL || (strcmp(s, "exfat") != 0 && strcmp(s, "vfat") != 0))
		return "fstype";
	snprintf(c->fstype, sizeof(c->fstype), "%s", s);
	s = json_string_value(json_object_get(o, "label"));
	if (s == NULL || !text_ok(s, 64) || (c->label = strdup(s)) == NULL)
		return "label";
	s = json_string_value(json_object_get(o, "repo_id"));
	if (s == NULL || !hex_ok(s, 32))
		return "repo_id";
	snprintf(c->repo_id, sizeof(c->repo_id), "%s", s);
	s = json_string_value(json_object_get(o, "repo"));
	if (s == NULL || !repo_rel_ok(s) || (c->repo = strdup(s)) == NULL)
		return "repo";
	v = json_object_get(o, "key_ids");
	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > CARD_KEYS_MAX)
		return "key_ids";
	for (i = 0; i < json_array_size(v); i++) {
		s = json_string_value(json_array_get(v, i));
		if (s == NULL || !hex_ok(s, 16))
			return "key_ids";
		snprintf(c->key_ids[i], 17, "%s", s);
	}
	c->nkey_ids = i;
	if (strs_from_json(json_object_get(o, "paths"), true, &c->paths,
	    &c->npaths) != 0 || c->npaths == 0)
		return "paths";
	if (strs_from_json(json_object_get(o, "excludes"), false,
	    &c->excludes, &c->nexcludes) != 0)
		return "excludes";
	if (strs_from_json(json_object_get(o, "exclude_files"), true,
	    &c->exclude_files, &c->nexclude_files) != 0)
		return "exclude_files";
	if ((v = json_object_get(o, "exclude_caches")) != NULL &&
	    !json_is_boolean(v))
		return "exclude_caches";
	c->exclude_caches = json_is_true(v);
	if ((v = json_object_get(o, "one_file_system")) != NULL &&
	    !json_is_boolean(v))
		return "one_file_system";
	c->one_file_system = json_is_true(v);
	if ((keep = json_object_get(o, "keep")) != NULL &&
	    !json_is_object(keep))
		return "keep";
	for (i = 0; i < sizeof(keep_names) / sizeof(keep_names[0]); i++) {
		if ((v = json_object_get(keep, keep_names[i])) == NULL)
			continue;
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > CARD_KEEP_MAX)
			return "keep";
		*keep_slot(c, i) = (unsigned)json_integer_value(v);
	}
	if ((v = json_object_get(o, "added")) != NULL && !json_is_integer(v))
		return "added";
	c->added = json_integer_value(v);
	return NULL;
}

static json_t *
rec_to_json(struct card_rec *c)
{
	json_t *o, *keys = json_array(), *keep = json_object();

	for (size_t i = 0; i < c->nkey_ids; i++)
		json_array_append_new(keys, json_string(c->key_ids[i]));
	for (size_t i = 0; i < sizeof(keep_names) / sizeof(keep_names[0]); i++)
		if (*keep_slot(c, i) != 0)
			json_object_set_new(keep, keep_names[i],
			    json_integer(*keep_slot(c, i)));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:b, "
	    "s:b, s:o, s:I}", "uuid", c->uuid, "fstype", c->fstype, "label",
	    c->label, "repo_id", c->repo_id, "repo", c->repo, "key_ids", keys,
	    "paths", strs_to_json(c->paths, c->npaths), "excludes",
	    strs_to_json(c->excludes, c->nexcludes), "exclude_files",
	    strs_to_json(c->exclude_files, c->nexclude_files),
	    "exclude_caches", c->exclude_caches, "one_file_system",
	    c->one_file_system, "keep", keep, "added", (json_int_t)c->added);
	return o;
}

static void
strv_free(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
card_rec_release(struct card_rec *c)
{
	free(c->label);
	free(c->repo);
	strv_free(c->paths, c->npaths);
	strv_free(c->excludes, c->nexcludes);
	strv_free(c->exclude_files, c->nexclude_files);
	memset(c, 0, sizeof(*c));
}

void
card_recs_release(struct card_recs *recs)
{
	for (size_t i = 0; i < recs->n; i++)
		card_rec_release(&recs->v[i]);
	free(recs->v);
	free(recs->path);
	memset(recs, 0, sizeof(*recs));
}

int
card_recs_load(const char *path, struct card_recs *recs)
{
	json_t *doc = NULL, *cards, *v;
	const char *s, *bad;
	size_t i;

	memset(recs, 0, sizeof(*recs));
	if ((recs->path = strdup(path)) == NULL)
		return -1;
	if (read_json(path, true, &doc) != 0)
		goto fail;
	if (doc == NULL)
		return 0;
	s = json_string_value(json_object_get(doc, "format"));
	v = json_object_get(doc, "version");
	if (s == NULL || strcmp(s, CARDS_FORMAT) != 0 || !json_is_integer(v)) {
		fprintf(stderr, "coffer %s: '%s' is not a coffer card records "
		    "file\n", g_cmd, path);
		goto fail;
	}
	if (json_integer_value(v) != CARDS_VERSION) {
		fprintf(stderr, "coffer %s: '%s' is card records version "
		    "%lld; this coffer knows version %d (upgrade coffer)\n",
		    g_cmd, path, (long long)json_integer_value(v),
		    CARDS_VERSION);
		goto fail;
	}
	cards = json_object_get(doc, "cards");
	if (!json_is_array(cards) ||
	    (recs->v = calloc(json_array_size(cards) + 1,
	    sizeof(*recs->v))) == NULL) {
		fprintf(stderr, "coffer %s: '%s': bad 'cards'\n", g_cmd, path);
		goto fail;
	}
	json_array_foreach(cards, i, v) {
		recs->n = i + 1;
		if ((bad = rec_from_json(v, &recs->v[i])) != NULL) {
			fprintf(stderr, "coffer %s: '%s': card %zu: bad or "
			    "missing '%s'\n", g_cmd, path, i + 1, bad);
			goto fail;
		}
		for (size_t k = 0; k < i; k++)
			if (strcmp(recs->v[k].uuid, recs->v[i].uuid) == 0) {
				fprintf(stderr, "coffer %s: '%s': card %zu: "
				    "UUID %s recorded twice\n", g_cmd, path,
				    i + 1, recs->v[i].uuid);
				goto fail;
			}
	}
	json_decref(doc);
	return 0;
fail:
	json_decref(doc);
	card_recs_release(recs);
	return -1;
}

int
card_recs_save(const struct card_recs *recs)
{
	json_t *doc, *cards = json_array();
	int r;

	for (size_t i = 0; i < recs->n; i++)
		json_array_append_new(cards, rec_to_json(&recs->v[i]));
	doc = json_pack("{s:s, s:i, s:o}", "format", CARDS_FORMAT,
	    "version", CARDS_VERSION, "cards", cards);
	r = write_json(recs->path, doc);
	json_decref(doc);
	return r;
}

struct card_rec *
card_recs_find(struct card_recs *recs, const char *name)
{
	for (size_t i = 0; i < recs->n; i++)
		if (strcmp(recs->v[i].uuid, name) == 0)
			return &recs->v[i];
	for (size_t i = 0; i < recs->n; i++)
		if (strcmp(recs->v[i].label, name) == 0)
			return &recs->v[i];
	return NULL;
}

/* ---- run history ---- */

static const char *const results[] = {
	"running", "ok", "partial", "failed", "refused",
};

static bool
run_from_json(json_t *o, struct card_run *run)
{
	const char *s;
	bool known = false;

	memset(run, 0, sizeof(*run));
	if (!json_is_object(o) ||
	    !json_is_integer(json_object_get(o, "start")) ||
	    (s = json_string_value(json_object_get(o, "result"))) == NULL)
		return false;
	for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++)
		known |= strcmp(s, results[i]) == 0;
	if (!known)
		return false;
	snprintf(run->result, sizeof(run->result), "%s", s);
	run->start = json_integer_value(json_object_get(o, "start"));
	run->end = json_integer_value(json_object_get(o, "end"));
	run->pid = (long)json_integer_value(json_object_get(o, "pid"));
	run->added = (uint64_t)json_integer_value(json_object_get(o,
	    "added"));
	run->forgotten = (uint64_t)json_integer_value(json_object_get(o,
	    "forgotten"));
	if ((s = json_string_value(json_object_get(o, "snapshot"))) != NULL)
		snprintf(run->snapshot, sizeof(run->snapshot), "%s", s);
	if ((s = json_string_value(json_object_get(o, "message"))) != NULL &&
	    (run->message = strdup(s)) == NULL)
		return false;
	return true;
}

void
card_status_load(const char *dir, const char *uuid, struct card_status *st)
{
	char path[PATH_MAX];
	json_t *doc = NULL, *runs, *v;
	const char *s;
	size_t i;

	memset(st, 0, sizeof(*st));
	snprintf(path, sizeof(path), "%s/%s.json", dir, uuid);
	st->path = strdup(path);
	if (read_json(path, false, &doc) != 0 || doc == NULL)
		return;
	s = json_string_value(json_object_get(doc, "format"));
	runs = json_object_get(doc, "runs");
	if (s == NULL || strcmp(s, CARD_STATUS_FORMAT) != 0 ||
	    json_integer_value(json_object_get(doc, "version")) !=
	    CARD_STATUS_VERSION || !json_is_array(runs))
		goto bad;
	json_array_foreach(runs, i, v) {
		struct card_run run;

		if (!run_from_json(v, &run)) {
			free(run.message);
			goto bad;
		}
		card_status_push(st, &run);
	}
	json_decref(doc);
	return;
bad:
	fprintf(stderr, "coffer %s: warning: '%s' is damaged: the run history "
	    "of card %s starts afresh\n", g_cmd, path, uuid);
	json_decref(doc);
	for (i = 0; i < st->n; i++)
		free(st->runs[i].message);
	st->n = 0;
}

void
card_status_push(struct card_status *st, const struct card_run *run)
{
	if (st->n == CARD_RUNS_KEPT) {
		free(st->runs[0].message);
		memmove(&st->runs[0], &st->runs[1],
		    (CARD_RUNS_KEPT - 1) * sizeof(st->runs[0]));
		st->n--;
	}
	st->runs[st->n++] = *run;
}

int
card_status_save(const struct card_status *st)
{
	json_t *doc, *runs = json_array();
	int r;

	if (st->path == NULL)
		return -1;
	for (size_t i = 0; i < st->n; i++) {
		const struct card_run *u = &st->runs[i];

		json_array_append_new(runs, json_pack("{s:I, s:I, s:s, s:s?, "
		    "s:s, s:I, s:I, s:I}", "start", (json_int_t)u->start,
		    "end", (json_int_t)u->end, "result", u->result, "message",
		    u->message, "snapshot", u->snapshot, "added",
		    (json_int_t)u->added, "forgotten",
		    (json_int_t)u->forgotten, "pid", (json_int_t)u->pid));
	}
	doc = json_pack("{s:s, s:i, s:o}", "format", CARD_STATUS_FORMAT,
	    "version", CARD_STATUS_VERSION, "runs", runs);
	r = write_json(st->path, doc);
	json_decref(doc);
	return r;
}

void
card_status_release(struct card_status *st)
{
	for (size_t i = 0; i < st->n; i++)
		free(st->runs[i].message);
	free(st->path);
	memset(st, 0, sizeof(*st));
}
