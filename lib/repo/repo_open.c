/* SPDX-License-Identifier: ISC */
/*
 * repo_open: create and open the repository directory and its config.
 *
 * The config is cleartext text, one "key value" per line, closed by a
 * checksum line (BLAKE2b-128 of the lines before it), so that a damaged
 * config is reported rather than misread.  It holds nothing secret.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "repo.h"
#include "repo_internal.h"
#include "rfs.h"

#define CONFIG_MAX	4096

static const char *const scope_names[] = { "", "device", "period", "backup" };
static const char *const period_names[] = { "day", "week", "month" };
static const char *const custody_names[] = { "", "local", "escrow",
    "local+escrow", "escrow-wrap" };

/*
 * The config text for these values.  Version 1 has no custody line (local
 * custody); a repository whose backups default to another custody is
 * version 2, so that a coffer that knows no escrow refuses it and says to
 * upgrade, rather than backing up with the key kept locally.  Version 3
 * (every repository made now) says that every key set in it binds the
 * repository id into its associated data (FORMAT.md §2.3); it has the
 * custody line when the custody is not local.
 */
static void
config_text(char *out, size_t cap, int version, const char *idhex,
    int name_by, int scope, int period, int custody)
{
	uint8_t sum[16];
	char sumhex[33];
	int n;

	n = snprintf(out, cap, "coffer repository\nversion %d\nid %s\n"
	    "name-by %s\nscope %s\nperiod %s\n",
	    version, idhex,
	    name_by == NAME_BY_COUNT ? "count" : "time", scope_names[scope],
	    period_names[period]);
	if (custody != CUSTODY_LOCAL)
		n += snprintf(out + n, cap - (size_t)n, "custody %s\n",
		    custody_names[custody]);
	hash_plain(sum, sizeof(sum), out, (size_t)n);
	hex_encode(sumhex, sum, sizeof(sum));
	snprintf(out + n, cap - (size_t)n, "checksum %s\n", sumhex);
}

/*
 * The folder above ${path} ("." for a bare name) into ${out}; false if
 * it does not fit.
 */
static bool
parent_of(const char *path, char *out, size_t cap)
{
	size_t n = strlen(path);

	while (n > 1 && path[n - 1] == '/')
		n--;
	while (n > 0 && path[n - 1] != '/')
		n--;
	while (n > 1 && path[n - 1] == '/')
		n--;
	if (n == 0)
		return (size_t)snprintf(out, cap, ".") < cap;
	return (size_t)snprintf(out, cap, "%.*s", (int)n, path) < cap;
}

/* Is ${dir} a folder with nothing in it? */
static bool
dir_empty(const char *dir)
{
	struct dirent *de;
	bool empty = true;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return false;
	while (empty && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			empty = false;
	closedir(d);
	return empty;
}

/*
 * no_repo(path, err): no repository at ${path}.  A card that is not
 * mounted looks like a missing folder, or an empty one, above it: say
 * so, rather than suggest 'coffer init' (which would then write to the
 * internal disk).
 */
static int
no_repo(const char *path, struct coffer_err *err)
{
	char parent[4096];
	struct stat sb;

	if (parent_of(path, parent, sizeof(parent))) {
		if (stat(parent, &sb) != 0 && errno == ENOENT)
			return coffer_err_set(err, COFFER_ENOTFOUND, "no "
			    "repository at '%s': '%s' does not exist: is the "
			    "card mounted?", path, parent);
		if (strcmp(parent, "/") != 0 && strcmp(parent, ".") != 0 &&
		    dir_empty(parent))
			return coffer_err_set(err, COFFER_ENOTFOUND, "no "
			    "repository at '%s', and '%s' is empty: is the "
			    "card mounted? (on a mounted card, create one with "
			    "'coffer init')", path, parent);
	}
	return coffer_err_set(err, COFFER_ENOTFOUND, "no repository at '%s' "
	    "(create one with 'coffer init')", path);
}

/*
 * Is ${name} in the repository folder ${dfd} what an interrupted init
 * left (an empty sets/ or locks/, a config.tmp)?  Then init goes on.
 */
static bool
init_leftover(int dfd, const char *name)
{
	struct stat sb;

	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		return false;
	if (strcmp(name, "config.tmp") == 0)
		return S_ISREG(sb.st_mode);
	if ((strcmp(name, "sets") != 0 && strcmp(name, "locks") != 0) ||
	    !S_ISDIR(sb.st_mode))
		return false;
	return empty_dir_at(dfd, name);
}

/*
 * repo_make(path, version, id, name_by, scope, period, custody, err):
 * repo_create with the config's version and repository id given.
 */
static int
repo_make(const char *path, int version, const uint8_t id[REPO_ID_LEN],
    int name_by, int scope, int period, int custody, struct coffer_err *err)
{
	char text[512];
	char idhex[2 * REPO_ID_LEN + 1];
	struct dirent *de;
	DIR *d = NULL;
	int dfd = -1;
	int r;

	if (scope < SCOPE_DEVICE || scope > SCOPE_BACKUP || period < PERIOD_DAY ||
	    period > PERIOD_MONTH || custody < CUSTODY_LOCAL ||
	    custody > CUSTODY_ESCROW_WRAP)
		return coffer_err_set(err, COFFER_EINVAL, "bad scope, period or "
		    "custody");
	/*
	 * Only the repository folder itself: a missing folder above it is
	 * most often a card that is not mounted, and making it would put
	 * the backups on the internal disk.
	 */
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		char parent[4096];

		if (errno == ENOENT && parent_of(path, parent, sizeof(parent)))
			return coffer_err_set(err, COFFER_ENOTFOUND, "cannot "
			    "create repository '%s': '%s' does not exist: is "
			    "the card mounted? (init creates only the last "
			    "folder of the path)", path, parent);
		return coffer_err_sys(err, "cannot create repository '%s'", path);
	}
	if ((dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return coffer_err_sys(err, "cannot open repository '%s'", path);
	if (faccessat(dfd, "config", F_OK, 0) == 0) {
		r = coffer_err_set(err, COFFER_EEXIST, "'%s' already holds a "
		    "coffer repository", path);
		goto out;
	}
	/* Refuse to scatter files into a folder that holds other things. */
	if ((d = fdopendir(dup(dfd))) == NULL) {
		r = coffer_err_sys(err, "cannot read '%s'", path);
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (init_leftover(dfd, de->d_name))
			continue;
		r = coffer_err_set(err, COFFER_EEXIST, "'%s' is not empty "
		    "(found '%s'); give an empty or new folder", path,
		    de->d_name);
		goto out;
	}
	if ((mkdirat(dfd, "sets", 0700) != 0 && errno != EEXIST) ||
	    (mkdirat(dfd, "locks", 0700) != 0 && errno != EEXIST)) {
		r = coffer_err_sys(err, "cannot create folders in '%s'", path);
		goto out;
	}
	hex_encode(idhex, id, REPO_ID_LEN);
	config_text(text, sizeof(text), version, idhex, name_by, scope, period,
	    custody);
	if ((r = atomicfile_write(dfd, "config", text, strlen(text), 0600, true,
	    "config", err)) != 0) {
		coffer_err_prefix(err, "repository '%s'", path);
		goto out;
	}
	/* The repository's own name, in the folder above it, durable too. */
	{
		int pfd = openat(dfd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		int bad = pfd == -1 || fsync_dir(pfd) != 0;

		if (pfd != -1)
			close(pfd);
		if (bad) {
			r = coffer_err_sys(err, "cannot sync the folder above "
			    "'%s'", path);
			goto out;
		}
	}
	r = 0;
out:
	if (d != NULL)
		closedir(d);
	close(dfd);
	return r;
}

int
repo_create(const char *path, int name_by, int scope, int period,
    int custody, struct coffer_err *err)
{
	uint8_t id[REPO_ID_LEN];

	random_bytes(id, sizeof(id));
	return repo_make(path, REPO_CONFIG_VERSION, id, name_by, scope, period,
	    custody, err);
}

int
repo_create_like(const char *path, const struct repo *like,
    struct coffer_err *err)
{
	return repo_make(path, like->version, like->id, like->name_by,
	    like->scope, like->period, like->custody, err);
}

static int
config_parse(struct repo *rp, char *text, size_t len, struct coffer_err *err)
{
	char want[512];
	char *line, *save = NULL;
	char idhex[2 * REPO_ID_LEN + 1] = "";
	int version = -1, name_by = -1, scope = -1, period = -1;
	int custody = CUSTODY_LOCAL;
	bool unknown = false;

	if (len == 0 || memchr(text, '\0', len) != NULL)
		goto bad;
	text[len] = '\0';
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strcmp(line, "coffer repository") == 0)
			continue;
		if (strncmp(line, "version ", 8) == 0) {
			uint64_t v;

			if (parse_u64(line + 8, &v) != 0 || v > 1000)
				goto bad;
			version = (int)v;
		} else if (strncmp(line, "id ", 3) == 0) {
			if (strlen(line + 3) != 2 * REPO_ID_LEN)
				goto bad;
			memcpy(idhex, line + 3, sizeof(idhex));
		} else if (strcmp(line, "name-by time") == 0) {
			name_by = NAME_BY_TIME;
		} else if (strcmp(line, "name-by count") == 0) {
			name_by = NAME_BY_COUNT;
		} else if (strncmp(line, "scope ", 6) == 0) {
			for (int i = SCOPE_DEVICE; i <= SCOPE_BACKUP; i++)
				if (strcmp(line + 6, scope_names[i]) == 0)
					scope = i;
		} else if (strncmp(line, "period ", 7) == 0) {
			for (int i = PERIOD_DAY; i <= PERIOD_MONTH; i++)
				if (strcmp(line + 7, period_names[i]) == 0)
					period = i;
		} else if (strncmp(line, "custody ", 8) == 0) {
			custody = -1;
			for (int i = CUSTODY_LOCAL; i <= CUSTODY_ESCROW_WRAP; i++)
				if (strcmp(line + 8, custody_names[i]) == 0)
					custody = i;
		} else if (strncmp(line, "checksum ", 9) == 0) {
			continue;
		} else {
			unknown = true;
		}
	}
	if (version < 1 || version > REPO_CONFIG_VERSION) {
		if (version > REPO_CONFIG_VERSION)
			return coffer_err_set(err, COFFER_EFORMAT,
			    "'%s/config' is format version %d; this coffer "
			    "reads versions 1 to %d: upgrade coffer", rp->path,
			    version, REPO_CONFIG_VERSION);
		goto bad;
	}
	if (unknown)
		goto bad;
	if (hex_decode(rp->id, idhex, REPO_ID_LEN) != 0 || name_by < 0 ||
	    scope < 0 || period < 0 || custody < 0)
		goto bad;
	/* Versions 1 and 2 say the custody; 3 may have either. */
	if (version < 3 && version != (custody == CUSTODY_LOCAL ? 1 : 2))
		goto bad;
	/* The whole text must be exactly what we would have written. */
	config_text(want, sizeof(want), version, idhex, name_by, scope, period,
	    custody);
	if (strlen(want) != len)
		goto bad;
	memcpy(rp->idhex, idhex, sizeof(rp->idhex));
	rp->name_by = name_by;
	rp->scope = scope;
	rp->period = period;
	rp->custody = custody;
	rp->version = version;
	return 0;
bad:
	return coffer_err_set(err, COFFER_EFORMAT, "'%s/config' is damaged "
	    "or not a coffer repository config", rp->path);
}

int
repo_open(const char *path, struct repo **out, struct coffer_err *err)
{
	char want[512];
	struct repo *rp = NULL;
	uint8_t *text = NULL;
	size_t len;
	int r;

	*out = NULL;
	if ((rp = coffer_calloc(1, sizeof(*rp))) == NULL ||
	    (rp->path = coffer_strdup(path)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "opening repository");
		goto out;
	}
	rp->dirfd = -1;
	if ((rp->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		r = coffer_err_sys(err, "cannot open repository '%s'", path);
		if (r == COFFER_ENOTFOUND)
			no_repo(path, err);
		goto out;
	}
	if ((r = rfs_read(rp->dirfd, "config", "config", CONFIG_MAX, &text,
	    &len, err)) != 0) {
		if (r == COFFER_ENOTFOUND && dir_empty(path))
			coffer_err_set(err, r, "'%s' is an empty folder, not a "
			    "coffer repository: is the card mounted? (on a "
			    "mounted card, create one with 'coffer init')",
			    path);
		else if (r == COFFER_ENOTFOUND)
			coffer_err_set(err, r, "'%s' is not a coffer repository "
			    "(no config; create one with 'coffer init')", path);
		else
			coffer_err_prefix(err, "repository '%s'", path);
		goto out;
	}
	if ((r = config_parse(rp, (char *)text, len, err)) != 0)
		goto out;
	/* Re-read the checksum by regenerating: catches edited lines. */
	config_text(want, sizeof(want), rp->version, rp->idhex, rp->name_by,
	    rp->scope, rp->period, rp->custody);
	coffer_free(text);
	text = NULL;
	if ((r = rfs_read(rp->dirfd, "config", "config", CONFIG_MAX, &text,
	    &len, err)) != 0) {
		coffer_err_prefix(err, "repository '%s'", path);
		goto out;
	}
	if (len != strlen(want) || memcmp(text, want, len) != 0) {
		r = coffer_err_set(err, COFFER_EFORMAT, "'%s/config' is "
		    "damaged (checksum does not match)", path);
		goto out;
	}
	*out = rp;
	rp = NULL;
	r = 0;
out:
	coffer_free(text);
	repo_free(rp);
	return r;
}

void
repo_free(struct repo *rp)
{
	if (rp == NULL)
		return;
	if (rp->dirfd != -1)
		close(rp->dirfd);
	coffer_free(rp->path);
	coffer_free(rp->cachedir);
	coffer_free(rp);
}

int
repo_set_cache_dir(struct repo *rp, const char *dir)
{
	char *d;

	if ((d = coffer_strdup(dir)) == NULL)
		return COFFER_ENOMEM;
	coffer_free(rp->cachedir);
	rp->cachedir = d;
	return 0;
}

void
strlist_free(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		coffer_free(v[i]);
	coffer_free(v);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
dir_list(int dirfd, const char *sub, const char *label,
    bool (*want)(const char *), char ***out, size_t *nout,
    struct coffer_err *err)
{
	struct dirent *de;
	char **v = NULL, **nv;
	size_t n = 0, cap = 0;
	DIR *d = NULL;
	int fd;
	int r;

	*out = NULL;
	*nout = 0;
	if ((r = rfs_open_dir(dirfd, sub, label, &fd, err)) != 0)
		return r == COFFER_ENOTFOUND ? 0 : r;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return coffer_err_sys(err, "cannot read '%s'", label);
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !want(de->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			if ((nv = coffer_realloc(v, cap * sizeof(*v))) == NULL)
				goto oom;
			v = nv;
		}
		if ((v[n] = coffer_strdup(de->d_name)) == NULL)
			goto oom;
		n++;
	}
	if (errno != 0) {
		r = coffer_err_sys(err, "cannot read '%s'", label);
		goto fail;
	}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_str);
	*out = v;
	*nout = n;
	return 0;
oom:
	r = coffer_err_set(err, COFFER_ENOMEM, "listing '%s'", label);
fail:
	closedir(d);
	strlist_free(v, n);
	return r;
}

static bool
is_keyid(const char *s)
{
	uint8_t tmp[KEYID_LEN];

	return strlen(s) == KEYID_HEX_LEN && hex_decode(tmp, s, KEYID_LEN) == 0;
}

int
repo_list_sets(struct repo *rp, char ***ids, size_t *n, struct coffer_err *err)
{
	return dir_list(rp->dirfd, "sets", "sets", is_keyid, ids, n, err);
}
