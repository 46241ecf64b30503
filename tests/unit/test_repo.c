/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/repo: creating and opening a repository and its
 * config, key sets (blobs in packs, index files, keyinfo), snapshots and
 * their file names, and locks.  Each test works in its own mkdtemp
 * directory, removed at the end.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "repo/repo.h"
#include "repo/keyinfo.h"
#include "repo/repo_internal.h"
#include "repo/tree.h"
#include "util/util.h"
#include "unit.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define MIB		((size_t)1 << 20)

/* ---- helpers (scratch files: unit.h) ---- */

/*
 * The calls whose signatures carry policy (scope, custody, period) go
 * through these two wrappers, so the tests below do not depend on them.
 */
static int
mkrepo(const char *path, int name_by, struct coffer_err *err)
{
	return repo_create(path, name_by, SCOPE_DEVICE, PERIOD_DAY, CUSTODY_LOCAL,
	    err);
}

static int
ksopen(struct repo *rp, const uint8_t dk[KEY_LEN], bool create,
    struct keyset **ks, struct coffer_err *err)
{
	return keyset_open(rp, dk, create, NULL, ks, err);
}

/* put(ks, type, id, data, len): keyset_put_blob; 0 or the error. */
static int
put(struct keyset *ks, int type, const uint8_t id[BLOB_ID_LEN],
    const uint8_t *data, size_t len)
{
	struct coffer_err err = { 0 };
	int r;

	if ((r = keyset_put_blob(ks, type, id, data, len, &err)) != 0 &&
	    r != COFFER_EINVAL)
		unit_fail(__FILE__, __LINE__, "keyset_put_blob: %d %s", r,
		    err.msg);
	return r;
}

/* flip_byte(path, off, x): XOR the byte at ${off} with ${x}. */
static bool
flip_byte(const char *path, off_t off, uint8_t x)
{
	uint8_t b;
	int fd;
	bool ok;

	if ((fd = open(path, O_RDWR | O_CLOEXEC)) == -1)
		return false;
	ok = pread_full(fd, &b, 1, off) == 0;
	b ^= x;
	ok = ok && pwrite(fd, &b, 1, off) == 1;
	return close(fd) == 0 && ok;
}

/* count_files(path, suffix): regular files below ${path} ending so. */
static int
count_files(const char *path, const char *suffix)
{
	char sub[PATH_MAX];
	struct dirent *de;
	struct stat sb;
	DIR *d;
	int n = 0;

	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name), sl = strlen(suffix);

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		unit_pathf(sub, "%s/%s", path, de->d_name);
		if (lstat(sub, &sb) != 0)
			continue;
		if (S_ISDIR(sb.st_mode))
			n += count_files(sub, suffix);
		else if (l >= sl && strcmp(de->d_name + l - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/*
 * fixture(dir, repo, name_by): a fresh temp dir ${dir} holding a new
 * repository "${dir}/repo", opened into *rp.  False on failure.
 */
static bool
fixture(char dir[PATH_MAX], char repo[PATH_MAX], int name_by,
    struct repo **rp)
{
	struct coffer_err err = { 0 };

	*rp = NULL;
	if (!unit_tmpdir_new(dir))
		return false;
	unit_pathf(repo, "%s/repo", dir);
	if (mkrepo(repo, name_by, &err) != 0 ||
	    repo_open(repo, rp, &err) != 0) {
		unit_fail(__FILE__, __LINE__, "fixture: %s", err.msg);
		unit_tmpdir_remove(dir);
		return false;
	}
	return true;
}

static void
fixture_done(const char *dir, struct repo *rp)
{
	repo_free(rp);
	unit_tmpdir_remove(dir);
}

/* open_set(rp, dk, create): a key set, or NULL (reported). */
static struct keyset *
open_set(struct repo *rp, const uint8_t dk[KEY_LEN], bool create)
{
	struct coffer_err err = { 0 };
	struct keyset *ks;
	int r;

	if ((r = ksopen(rp, dk, create, &ks, &err)) != 0) {
		unit_fail(__FILE__, __LINE__, "keyset_open: %d %s", r, err.msg);
		return NULL;
	}
	return ks;
}

/* ---- repository and config ---- */

static void
repo_create_open_roundtrip(void)
{
	char dir[PATH_MAX], repo[PATH_MAX], p[PATH_MAX], f[PATH_MAX];
	char hex[2 * REPO_ID_LEN + 1];
	struct coffer_err err = { 0 };
	struct repo *rp = NULL, *rp2 = NULL;
	struct stat sb;

	if (!unit_tmpdir_new(dir))
		return;
	/*
	 * Only the last folder is made: a missing parent is most often a
	 * card that is not mounted, and is named.
	 */
	unit_pathf(repo, "%s/a/b/repo", dir);
	T_EQ_INT(mkrepo(repo, NAME_BY_COUNT, &err), COFFER_ENOTFOUND);
	T_TRUE(strstr(err.msg, "/a/b' does not exist: is the card "
	    "mounted?") != NULL);
	T_TRUE(stat(unit_pathf(p, "%s/a", dir), &sb) != 0 && errno == ENOENT);
	T_TRUE(mkdir(unit_pathf(p, "%s/a", dir), 0700) == 0 &&
	    mkdir(unit_pathf(p, "%s/a/b", dir), 0700) == 0);
	T_EQ_INT(mkrepo(repo, NAME_BY_COUNT, &err), 0);
	T_TRUE(stat(unit_pathf(p, "%s/config", repo), &sb) == 0 &&
	    S_ISREG(sb.st_mode));
	T_TRUE(stat(unit_pathf(p, "%s/sets", repo), &sb) == 0 && S_ISDIR(sb.st_mode));
	T_TRUE(stat(unit_pathf(p, "%s/locks", repo), &sb) == 0 &&
	    S_ISDIR(sb.st_mode));
	T_EQ_INT(count_files(repo, ".tmp"), 0);

	T_EQ_INT(repo_open(repo, &rp, &err), 0);
	if (rp != NULL) {
		T_EQ_INT(rp->name_by, NAME_BY_COUNT);
		T_EQ_INT(rp->scope, SCOPE_DEVICE);
		T_EQ_INT(rp->period, PERIOD_DAY);
		T_EQ_STR(rp->path, repo);
		hex_encode(hex, rp->id, REPO_ID_LEN);
		T_EQ_STR(rp->idhex, hex);
		/* Opening twice gives the same id. */
		T_EQ_INT(repo_open(repo, &rp2, &err), 0);
		if (rp2 != NULL)
			T_EQ_MEM(rp2->id, rp->id, REPO_ID_LEN);
	}
	repo_free(rp);
	repo_free(rp2);
	rp = NULL;

	/* Another repository has another id and its own settings. */
	unit_pathf(p, "%s/repo2", dir);
	T_EQ_INT(repo_create(p, NAME_BY_TIME, SCOPE_PERIOD, PERIOD_MONTH,
	    CUSTODY_ESCROW_WRAP, &err), 0);
	T_EQ_INT(repo_open(p, &rp, &err), 0);
	if (rp != NULL) {
		T_EQ_INT(rp->name_by, NAME_BY_TIME);
		T_EQ_INT(rp->scope, SCOPE_PERIOD);
		T_EQ_INT(rp->period, PERIOD_MONTH);
		T_EQ_INT(rp->custody, CUSTODY_ESCROW_WRAP);
		T_TRUE(strcmp(rp->idhex, hex) != 0);
	}
	repo_free(rp);
	rp = NULL;
	/* Settings outside their enums are refused, leaving no config. */
	T_EQ_INT(repo_create(unit_pathf(p, "%s/bad1", dir), NAME_BY_TIME, 0,
	    PERIOD_DAY, CUSTODY_LOCAL, &err), COFFER_EINVAL);
	T_TRUE(access(unit_pathf(f, "%s/config", p), F_OK) != 0);
	T_EQ_INT(repo_create(unit_pathf(p, "%s/bad2", dir), NAME_BY_TIME,
	    SCOPE_BACKUP + 1, PERIOD_DAY, CUSTODY_LOCAL, &err), COFFER_EINVAL);
	T_TRUE(access(unit_pathf(f, "%s/config", p), F_OK) != 0);
	T_EQ_INT(repo_create(unit_pathf(p, "%s/bad3", dir), NAME_BY_TIME,
	    SCOPE_DEVICE, PERIOD_MONTH + 1, CUSTODY_LOCAL, &err), COFFER_EINVAL);
	T_TRUE(access(unit_pathf(f, "%s/config", p), F_OK) != 0);
	T_EQ_INT(repo_create(unit_pathf(p, "%s/bad4", dir), NAME_BY_TIME,
	    SCOPE_DEVICE, PERIOD_DAY, CUSTODY_ESCROW_WRAP + 1, &err),
	    COFFER_EINVAL);
	T_TRUE(access(unit_pathf(f, "%s/config", p), F_OK) != 0);

	/* Nothing there, or an empty folder: not found. */
	T_EQ_INT(repo_open(unit_pathf(p, "%s/none", dir), &rp, &err),
	    COFFER_ENOTFOUND);
	T_TRUE(rp == NULL);
	T_TRUE(mkdir(unit_pathf(p, "%s/empty", dir), 0700) == 0);
	T_EQ_INT(repo_open(p, &rp, &err), COFFER_ENOTFOUND);
	T_TRUE(strstr(err.msg, "coffer init") != NULL);
	repo_free(NULL);
	unit_tmpdir_remove(dir);
}

static void
repo_create_refuses_nonempty(void)
{
	char dir[PATH_MAX], p[PATH_MAX], f[PATH_MAX];
	struct coffer_err err = { 0 };

	if (!unit_tmpdir_new(dir))
		return;
	/* An existing repository. */
	unit_pathf(p, "%s/repo", dir);
	T_EQ_INT(mkrepo(p, NAME_BY_TIME, &err), 0);
	T_EQ_INT(mkrepo(p, NAME_BY_TIME, &err), COFFER_EEXIST);
	T_EQ_INT(err.code, COFFER_EEXIST);

	/* A folder with anything in it, even a dot file. */
	unit_pathf(p, "%s/photos", dir);
	T_TRUE(mkdir(p, 0700) == 0);
	T_TRUE(unit_spit(unit_pathf(f, "%s/img.jpg", p), "jpg", 3));
	memset(&err, 0, sizeof(err));
	T_EQ_INT(mkrepo(p, NAME_BY_TIME, &err), COFFER_EEXIST);
	T_TRUE(strstr(err.msg, "not empty") != NULL);
	T_TRUE(access(unit_pathf(f, "%s/config", p), F_OK) != 0);
	T_TRUE(access(unit_pathf(f, "%s/sets", p), F_OK) != 0);
	T_TRUE(access(unit_pathf(f, "%s/img.jpg", p), F_OK) == 0);

	unit_pathf(p, "%s/dotted", dir);
	T_TRUE(mkdir(p, 0700) == 0);
	T_TRUE(unit_spit(unit_pathf(f, "%s/.hidden", p), "", 0));
	T_EQ_INT(mkrepo(p, NAME_BY_TIME, &err), COFFER_EEXIST);

	/* An existing empty folder is fine. */
	unit_pathf(p, "%s/fresh", dir);
	T_TRUE(mkdir(p, 0700) == 0);
	T_EQ_INT(mkrepo(p, NAME_BY_TIME, &err), 0);
	unit_tmpdir_remove(dir);
}

/* Any one changed byte of config, or any truncation, is refused. */
static void
repo_config_damage_refused(void)
{
	char dir[PATH_MAX], repo[PATH_MAX], cfg[PATH_MAX];
	struct coffer_err err = { 0 };
	struct repo *rp = NULL;
	uint8_t *orig, *bad;
	size_t len, nbad = 0;
	int r;

	if (!fixture(dir, repo, NAME_BY_TIME, &rp))
		return;
	repo_free(rp);
	rp = NULL;
	unit_pathf(cfg, "%s/config", repo);
	if ((orig = unit_slurp(cfg, &len)) == NULL || (bad = coffer_malloc(len +
	    1)) == NULL) {
		T_TRUE(false);
		coffer_free(orig);
		unit_tmpdir_remove(dir);
		return;
	}
	T_TRUE(len > 40 && memcmp(orig, "coffer repository\n", 18) == 0);
	for (size_t i = 0; i < len; i++) {
		static const uint8_t xors[] = { 0x01, 0x20 };

		for (size_t k = 0; k < NELEM(xors); k++) {
			memcpy(bad, orig, len);
			bad[i] ^= xors[k];
			T_TRUE(unit_spit(cfg, bad, len));
			r = repo_open(repo, &rp, &err);
			if (r != COFFER_EFORMAT && nbad++ < 5)
				unit_fail(__FILE__, __LINE__, "byte %zu ('%c') "
				    "^ %#x: repo_open gave %d", i, orig[i],
				    xors[k], r);
			repo_free(rp);
			rp = NULL;
		}
	}
	for (size_t n = 0; n < len; n++) {
		T_TRUE(unit_spit(cfg, orig, n));
		r = repo_open(repo, &rp, &err);
		if (r != COFFER_EFORMAT && nbad++ < 5)
			unit_fail(__FILE__, __LINE__, "config cut to %zu bytes: "
			    "repo_open gave %d", n, r);
		repo_free(rp);
		rp = NULL;
	}
	/* An extra line, even a valid-looking one. */
	memcpy(bad, orig, len);
	bad[len] = '\n';
	T_TRUE(unit_spit(cfg, bad, len + 1));
	T_EQ_INT(repo_open(repo, &rp, &err), COFFER_EFORMAT);
	T_EQ_INT(nbad, 0);

	/* Restored, it opens again. */
	T_TRUE(unit_spit(cfg, orig, len));
	T_EQ_INT(repo_open(repo, &rp, &err), 0);
	repo_free(rp);
	coffer_free(orig);
	coffer_free(bad);
	unit_tmpdir_remove(dir);
}

/* ---- key sets ---- */

/*
 * The key id is part of the format: sets/<keyid>/ on every card.  If
 * this vector changes, existing key sets are no longer found.
 */
static void
keyset_keyid_vector(void)
{
	static const uint8_t want[KEYID_LEN] = {
		0xa2, 0xac, 0xf7, 0x9c, 0x0f, 0x2f, 0x39, 0x10,
	};
	uint8_t dk[KEY_LEN], id[KEYID_LEN], id2[KEYID_LEN];

	for (size_t i = 0; i < KEY_LEN; i++)
		dk[i] = (uint8_t)i;
	keyset_keyid(dk, id);
	T_EQ_MEM(id, want, KEYID_LEN);
	dk[31] ^= 1;
	keyset_keyid(dk, id2);
	T_TRUE(memcmp(id, id2, KEYID_LEN) != 0);
}

/*
 * The associated data of FORMAT.md §2.3, byte by byte: version 1 (sets
 * before format version 3) is 42 bytes; version 2 adds the repository id.
 */
static void
ad_layout(void)
{
	struct adbind b;
	uint8_t ad[AD_LEN], want[AD_LEN], id[4] = { 0xde, 0xad, 0xbe, 0xef };

	memset(&b, 0, sizeof(b));
	for (size_t i = 0; i < KEYID_LEN; i++)
		b.keyid[i] = (uint8_t)(0x10 + i);
	for (size_t i = 0; i < REPO_ID_LEN; i++)
		b.repoid[i] = (uint8_t)(0x80 + i);
	memset(want, 0, sizeof(want));
	want[0] = 1;
	want[1] = OBJ_SNAPSHOT;
	memcpy(want + 2, b.keyid, KEYID_LEN);
	memcpy(want + 10, id, sizeof(id));
	T_EQ_INT((int)ad_build(ad, &b, OBJ_SNAPSHOT, id, sizeof(id)), 42);
	T_EQ_MEM(ad, want, 42);
	b.repo = true;
	want[0] = 2;
	memcpy(want + 42, b.repoid, REPO_ID_LEN);
	T_EQ_INT((int)ad_build(ad, &b, OBJ_SNAPSHOT, id, sizeof(id)), 58);
	T_EQ_MEM(ad, want, 58);
}

struct blob {
	const char	*what;
	int		 type;
	uint8_t		*data;
	size_t		 len;
	uint8_t		 id[BLOB_ID_LEN];
	bool		 squeeze;	/* compresses well */
};

/* make_blobs(v): the blobs of the round-trip tests; free_blobs() them. */
static size_t
make_blobs(struct blob *v, size_t max)
{
	static const char line[] = "all work and no play makes a dull card\n";
	size_t n = 0;

	if (max < 7)
		return 0;
	v[n] = (struct blob){ .what = "compressible", .type = OBJ_DATA,
	    .len = 100000, .squeeze = true };
	if ((v[n].data = coffer_malloc(v[n].len)) != NULL)
		for (size_t i = 0; i < v[n].len; i++)
			v[n].data[i] = (uint8_t)line[i % (sizeof(line) - 1)];
	n++;
	v[n] = (struct blob){ .what = "random", .type = OBJ_DATA,
	    .len = 10000 };
	if ((v[n].data = coffer_malloc(v[n].len)) != NULL)
		random_bytes(v[n].data, v[n].len);
	n++;
	v[n] = (struct blob){ .what = "empty", .type = OBJ_DATA,
	    .len = 0 };
	v[n].data = coffer_malloc(1);
	n++;
	v[n] = (struct blob){ .what = "tree", .type = OBJ_TREE,
	    .len = 600, .squeeze = true };
	if ((v[n].data = coffer_malloc(v[n].len)) != NULL)
		for (size_t i = 0; i < v[n].len; i++)
			v[n].data[i] = (uint8_t)(i % 7);
	n++;
	v[n] = (struct blob){ .what = "4 MiB random", .type = OBJ_DATA,
	    .len = 4 * MIB };
	if ((v[n].data = coffer_malloc(v[n].len)) != NULL)
		random_bytes(v[n].data, v[n].len);
	n++;
	v[n] = (struct blob){ .what = "63 bytes", .type = OBJ_DATA,
	    .len = 63 };
	if ((v[n].data = coffer_malloc(v[n].len)) != NULL)
		memset(v[n].data, 'z', v[n].len);
	n++;
	/* The same bytes as a tree: another blob (ids are per type). */
	v[n] = (struct blob){ .what = "63 bytes as tree", .type = OBJ_TREE,
	    .len = 63 };
	if ((v[n].data = coffer_malloc(v[n].len)) != NULL)
		memset(v[n].data, 'z', v[n].len);
	n++;
	for (size_t i = 0; i < n; i++)
		if (v[i].data == NULL) {
			unit_fail(__FILE__, __LINE__, "out of memory");
			v[i].len = 0;
			v[i].data = coffer_malloc(1);
		}
	return n;
}

static void
free_blobs(struct blob *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		coffer_free(v[i].data);
}

/* check_blob(ks, b): keyset_get_blob gives exactly ${b}'s bytes. */
static void
check_blob(struct keyset *ks, const struct blob *b)
{
	struct coffer_err err = { 0 };
	struct wbuf out;
	int r;

	wbuf_init(&out, BLOB_MAX);
	if ((r = keyset_get_blob(ks, b->type, b->id, &out, &err)) != 0)
		unit_fail(__FILE__, __LINE__, "%s: keyset_get_blob: %d %s",
		    b->what, r, err.msg);
	else if (out.len != b->len || (b->len > 0 && memcmp(out.p, b->data,
	    b->len) != 0))
		unit_fail(__FILE__, __LINE__, "%s: wrong bytes (%zu, want %zu)",
		    b->what, out.len, b->len);
	wbuf_release(&out);
}

/* clen_of(ks, b): bytes ${b} takes in its pack, or 0 if unplaced. */
static uint64_t
clen_of(struct keyset *ks, const struct blob *b)
{
	const struct idx_entry *e = idx_find(ks, b->type, b->id);

	return e != NULL && e->loc.pack != LOC_PENDING ? e->loc.clen : 0;
}

/*
 * placed_sum(ks, v, n): bytes the distinct places of ${v} take in packs:
 * a bundle (FORMAT.md §7.1) counts once for all its members.
 */
static uint64_t
placed_sum(struct keyset *ks, const struct blob *v, size_t n)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		const struct idx_entry *e = idx_find(ks, v[i].type, v[i].id);
		bool seen = false;

		if (e == NULL || e->loc.pack == LOC_PENDING)
			continue;
		for (size_t k = 0; k < i && !seen; k++) {
			const struct idx_entry *f = idx_find(ks, v[k].type,
			    v[k].id);

			seen = f != NULL && f->loc.pack == e->loc.pack &&
			    f->loc.offset == e->loc.offset;
		}
		if (!seen)
			sum += e->loc.clen;
	}
	return sum;
}

/* bundled(ks, b): ${b} is stored in a bundle. */
static bool
bundled(struct keyset *ks, const struct blob *b)
{
	const struct idx_entry *e = idx_find(ks, b->type, b->id);

	return e != NULL && e->bundled;
}

static void
keyset_blobs_roundtrip(void)
{
	char dir[PATH_MAX], repo[PATH_MAX], p[PATH_MAX];
	struct coffer_err err = { 0 };
	struct repo *rp;
	struct keyset *ks;
	struct blob v[8], big[5];
	uint8_t dk[KEY_LEN], keyid[KEYID_LEN];
	char keyhex[KEYID_HEX_LEN + 1];
	uint64_t total = 0, added;
	size_t n, nbig = 0;
	struct wbuf out;

	if (!fixture(dir, repo, NAME_BY_TIME, &rp))
		return;
	random_bytes(dk, sizeof(dk));
	keyset_keyid(dk, keyid);
	hex_encode(keyhex, keyid, KEYID_LEN);
	n = make_blobs(v, NELEM(v));

	if ((ks = open_set(rp, dk, true)) == NULL)
		goto out;
	T_EQ_STR(keyset_idhex(ks), keyhex);
	T_EQ_INT(keyset_scope(ks), SCOPE_DEVICE);
	T_TRUE(access(unit_pathf(p, "%s/sets/%s/keyinfo", repo, keyhex), F_OK) == 0);
	for (size_t i = 0; i < n; i++) {
		keyset_blob_id(ks, v[i].data, v[i].len, v[i].id);
		T_TRUE(!keyset_has_blob(ks, v[i].type, v[i].id));
		T_EQ_INT(put(ks, v[i].type, v[i].id, v[i].data, v[i].len), 0);
		T_TRUE(keyset_has_blob(ks, v[i].type, v[i].id));
	}
	/* Types are separate namespaces. */
	T_TRUE(!keyset_has_blob(ks, OBJ_TREE, v[0].id));
	/* Dedup, while still pending: the same ids again are skipped. */
	for (size_t i = 0; i < n; i++)
		T_EQ_INT(put(ks, v[i].type, v[i].id, v[i].data, v[i].len), 0);
	/* A blob over BLOB_MAX is refused. */
	T_EQ_INT(put(ks, OBJ_DATA, v[0].id, v[0].data, (size_t)BLOB_MAX + 1),
	    COFFER_EINVAL);
	T_EQ_INT(keyset_flush(ks, &err), 0);

	/*
	 * The small data blobs sent together (compressible, random,
	 * empty) share one bundle; the tree beside them, the 4 MiB blob
	 * and a lone small data blob are sealed alone.
	 */
	T_TRUE(bundled(ks, &v[0]) && bundled(ks, &v[1]) && bundled(ks, &v[2]));
	T_EQ_INT(clen_of(ks, &v[0]), clen_of(ks, &v[1]));
	T_TRUE(!bundled(ks, &v[3]) && !bundled(ks, &v[4]));
	T_TRUE(!bundled(ks, &v[5]) && !bundled(ks, &v[6]));
	/* The bundle compressed: far less than its 110,000 bytes. */
	T_TRUE(clen_of(ks, &v[0]) < 30000);
	/* Each blob stored once: what was added is the sum of the places. */
	for (size_t i = 0; i < n; i++) {
		uint64_t c = clen_of(ks, &v[i]);

		T_TRUE(c > AEAD_OVERHEAD);
		if (bundled(ks, &v[i]))
			continue;
		/*
		 * Compression is kept where it pays (repetitive data, 64
		 * bytes or more), and only there: codec byte + AEAD.
		 */
		if (v[i].squeeze)
			T_TRUE(c < v[i].len / 5);
		else
			T_EQ_INT(c, 1 + v[i].len + AEAD_OVERHEAD);
	}
	total = placed_sum(ks, v, n);
	T_EQ_INT(keyset_added(ks), total);
	/* Dedup after the flush: nothing more is written. */
	for (size_t i = 0; i < n; i++)
		T_EQ_INT(put(ks, v[i].type, v[i].id, v[i].data, v[i].len), 0);
	T_EQ_INT(keyset_flush(ks, &err), 0);
	T_EQ_INT(keyset_added(ks), total);
	keyset_free(ks);

	unit_pathf(p, "%s/sets/%s", repo, keyhex);
	T_EQ_INT(count_files(p, ".tmp"), 0);
	T_EQ_INT(count_files(unit_pathf(p, "%s/sets/%s/packs", repo, keyhex), ""),
	    1);
	T_EQ_INT(count_files(unit_pathf(p, "%s/sets/%s/index", repo, keyhex), ""),
	    1);

	/* Reopened from the card: the same bytes, and still deduplicated. */
	if ((ks = open_set(rp, dk, false)) == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		T_TRUE(keyset_has_blob(ks, v[i].type, v[i].id));
		check_blob(ks, &v[i]);
		T_EQ_INT(put(ks, v[i].type, v[i].id, v[i].data, v[i].len), 0);
	}
	T_EQ_INT(keyset_flush(ks, &err), 0);
	T_EQ_INT(keyset_added(ks), 0);
	T_EQ_INT(count_files(unit_pathf(p, "%s/sets/%s/packs", repo, keyhex), ""),
	    1);
	T_EQ_INT(count_files(unit_pathf(p, "%s/sets/%s/index", repo, keyhex), ""),
	    1);
	/* Unknown ids, and known ids under the other type. */
	wbuf_init(&out, BLOB_MAX);
	T_EQ_INT(keyset_get_blob(ks, OBJ_TREE, v[0].id, &out, &err),
	    COFFER_ENOTFOUND);
	memset(v[0].id, 0, BLOB_ID_LEN);
	T_EQ_INT(keyset_get_blob(ks, OBJ_DATA, v[0].id, &out, &err),
	    COFFER_ENOTFOUND);
	keyset_blob_id(ks, v[0].data, v[0].len, v[0].id);
	wbuf_release(&out);
	keyset_free(ks);

	/*
	 * More than PACK_TARGET_SIZE at once (5 x 4 MiB): the pack closes by
	 * itself once past 16 MiB and a second opens; one more index file
	 * names both.
	 */
	if ((ks = open_set(rp, dk, true)) == NULL)
		goto out;
	for (nbig = 0; nbig < NELEM(big); nbig++) {
		big[nbig] = (struct blob){ .what = "big", .type = OBJ_DATA,
		    .len = 4 * MIB + nbig };
		if ((big[nbig].data = coffer_malloc(big[nbig].len)) == NULL)
			break;
		random_bytes(big[nbig].data, big[nbig].len);
		keyset_blob_id(ks, big[nbig].data, big[nbig].len, big[nbig].id);
		T_EQ_INT(put(ks, OBJ_DATA, big[nbig].id, big[nbig].data,
		    big[nbig].len), 0);
	}
	T_EQ_INT(keyset_flush(ks, &err), 0);
	added = 0;
	for (size_t i = 0; i < nbig; i++)
		added += clen_of(ks, &big[i]);
	T_EQ_INT(keyset_added(ks), added);
	keyset_free(ks);
	T_EQ_INT(count_files(unit_pathf(p, "%s/sets/%s/packs", repo, keyhex), ""),
	    3);
	T_EQ_INT(count_files(unit_pathf(p, "%s/sets/%s/index", repo, keyhex), ""),
	    2);
	if ((ks = open_set(rp, dk, false)) != NULL) {
		for (size_t i = 0; i < nbig; i++)
			check_blob(ks, &big[i]);
		for (size_t i = 0; i < n; i++)
			check_blob(ks, &v[i]);
		T_EQ_INT(ks->nbad_index, 0);
		keyset_free(ks);
	}
	free_blobs(big, nbig);
out:
	free_blobs(v, n);
	fixture_done(dir, rp);
}

/* check_report(cookie, fmt, ...): count what keyset_check reports. */
static void
check_report(void *cookie, const char *fmt, ...)
{
	(void)fmt;
	(*(int *)cookie)++;
}

/*
 * The sealer batches small blobs (under 256 KiB, at most 1 MiB or 64 to
 * a job) and sends larger ones alone; hashed data jobs go alone too.
 * Interleave all three, with sizes on each side of the limits and
 * duplicates inside one batch: every blob comes back exactly, once.
 */
static void
keyset_batches_mixed(void)
{
	char dir[PATH_MAX], repo[PATH_MAX];
	struct coffer_err err = { 0 };
	struct repo *rp;
	struct keyset *ks;
	enum { N = 400 };
	struct blob *v;
	uint8_t dk[KEY_LEN];
	uint64_t total = 0;
	size_t n = 0;

	if ((v = coffer_calloc(N, sizeof(*v))) == NULL ||
	    !fixture(dir, repo, NAME_BY_TIME, &rp)) {
		coffer_free(v);
		return;
	}
	random_bytes(dk, sizeof(dk));
	if ((ks = open_set(rp, dk, true)) == NULL)
		goto out;
	for (size_t i = 0; i < N; i++) {
		static const size_t sizes[] = { 0, 1, 63, 64, 4000, 20000,
		    256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1, 600000 };
		struct blob *b = &v[n];
		bool hashed = i % 37 == 5;

		b->what = hashed ? "hashed" : "batched or alone";
		b->type = i % 11 == 3 ? OBJ_TREE : OBJ_DATA;
		if (hashed)
			b->type = OBJ_DATA;
		b->len = hashed ? MIB + i : i % 5 == 0 ? sizes[i / 5 % 10] :
		    (size_t)(i * 977) % 70000;
		b->squeeze = i % 2 == 0;
		if ((b->data = coffer_malloc(b->len + 1)) == NULL) {
			unit_fail(__FILE__, __LINE__, "out of memory");
			break;
		}
		if (b->squeeze)
			for (size_t k = 0; k < b->len; k++)
				b->data[k] = (uint8_t)("coffer batch "[k % 13] +
				    i % 3);
		else
			random_bytes(b->data, b->len);
		if (hashed) {
			T_EQ_INT(keyset_put_data(ks, b->data, b->len, b->id,
			    &err), 0);
		} else {
			keyset_blob_id(ks, b->data, b->len, b->id);
			T_EQ_INT(put(ks, b->type, b->id, b->data, b->len), 0);
		}
		n++;
		/* Now and then the same blob again, while still pending. */
		if (i % 13 == 7 && !hashed)
			T_EQ_INT(put(ks, b->type, b->id, b->data, b->len), 0);
	}
	T_EQ_INT(keyset_flush(ks, &err), 0);
	for (size_t i = 0; i < n; i++) {
		T_TRUE(keyset_has_blob(ks, v[i].type, v[i].id));
		/* Only small data blobs are bundled; trees never. */
		if (bundled(ks, &v[i]))
			T_TRUE(v[i].type == OBJ_DATA &&
			    v[i].len < 256 * 1024);
		check_blob(ks, &v[i]);
	}
	/* Each distinct place (blob or bundle) counted once. */
	total = placed_sum(ks, v, n);
	T_EQ_INT(keyset_added(ks), total);
	keyset_free(ks);
	/* And again from the card. */
	if ((ks = open_set(rp, dk, false)) != NULL) {
		for (size_t i = 0; i < n; i++)
			check_blob(ks, &v[i]);
		keyset_free(ks);
	}
out:
	free_blobs(v, n);
	coffer_free(v);
	fixture_done(dir, rp);
}

/* pack_bytes(repo, keyhex): bytes of every pack file of the set. */
static uint64_t
pack_bytes(const char *repo, const char *keyhex)
{
	char cmd[PATH_MAX + 128];
	unsigned long long n = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "find '%s/sets/%s/packs' -type f "
	    "-printf '%%s\\n' | awk '{ s += $1 } END { print s + 0 }'", repo,
	    keyhex);
	if ((f = popen(cmd, "r")) != NULL) {
		if (fscanf(f, "%llu", &n) != 1)
			n = 0;
		pclose(f);
	}
	return n;
}

/*
 * Prune and bundles (FORMAT.md §7.1): three bundles of ten small blobs,
 * with a large blob after each so that each group is a bundle of its
 * own.  All of A used, half of B, none of C: prune (max unused 0)
 * copies A's bundle as it is, seals B's used half again without the
 * dead half, drops C; it frees C's bytes and about half of B's;
 * everything used still reads, from a fresh open, and check
 * --read-data finds nothing wrong.
 */
static void
keyset_prune_bundles(void)
{
	char dir[PATH_MAX], repo[PATH_MAX];
	struct coffer_err err = { 0 };
	const struct prune_opts po = { .max_unused = 0 };
	struct prune_stats st = { 0 };
	struct repo *rp;
	struct keyset *ks;
	enum { G = 3, PER = 10, N = G * (PER + 1) };
	struct blob v[N];
	uint32_t bclen[G] = { 0 };
	uint8_t dk[KEY_LEN];
	uint64_t before, after, nbad = 0, bytes = 0;
	size_t n = 0;
	int nrep = 0;

	if (!fixture(dir, repo, NAME_BY_TIME, &rp))
		return;
	random_bytes(dk, sizeof(dk));
	if ((ks = open_set(rp, dk, true)) == NULL)
		goto out;
	for (int g = 0; g < G; g++) {
		for (int i = 0; i <= PER; i++) {
			struct blob *b = &v[n];

			b->what = i < PER ? "small" : "large";
			b->type = OBJ_DATA;
			b->len = i < PER ? 20000 + (size_t)g * 100 + (size_t)i :
			    300000 + (size_t)g;
			if ((b->data = coffer_malloc(b->len)) == NULL)
				break;
			random_bytes(b->data, b->len);
			keyset_blob_id(ks, b->data, b->len, b->id);
			T_EQ_INT(put(ks, b->type, b->id, b->data, b->len), 0);
			n++;
		}
	}
	T_EQ_INT(n, N);
	T_EQ_INT(keyset_flush(ks, &err), 0);
	for (int g = 0; g < G && n == N; g++) {
		const struct idx_entry *e = idx_find(ks, OBJ_DATA,
		    v[g * (PER + 1)].id);

		T_TRUE(e != NULL && e->bundled);
		if (e != NULL)
			bclen[g] = e->loc.clen;
		for (int i = 1; i < PER; i++)
			T_EQ_INT(clen_of(ks, &v[g * (PER + 1) + i]), bclen[g]);
		T_TRUE(!bundled(ks, &v[g * (PER + 1) + PER]));
	}
	keyset_free(ks);
	if (n != N || (ks = open_set(rp, dk, false)) == NULL)
		goto out;
	before = pack_bytes(repo, keyset_idhex(ks));
	/* A (group 0) all used, B (1) every other one, C (2) none; the
	 * large blobs all used. */
	for (size_t i = 0; i < N; i++) {
		int g = (int)(i / (PER + 1)), k = (int)(i % (PER + 1));

		if (k == PER || g == 0 || (g == 1 && k % 2 == 0))
			T_TRUE(keyset_mark_used(ks, OBJ_DATA, v[i].id));
	}
	T_EQ_INT(keyset_prune(ks, &po, &st, &err), 0);
	T_EQ_INT(st.bundles_cut, 1);
	T_EQ_INT(st.damaged, 0);
	T_EQ_INT(st.blobs_removed, PER / 2 + PER);
	T_EQ_INT(st.blobs_kept, N - PER / 2 - PER);
	keyset_free(ks);

	if ((ks = open_set(rp, dk, false)) == NULL)
		goto out;
	after = pack_bytes(repo, keyset_idhex(ks));
	/* C's bundle is gone, and B's dead half (random: no compression). */
	T_TRUE(after + bclen[2] + bclen[1] / 3 <= before);
	for (size_t i = 0; i < N; i++) {
		int g = (int)(i / (PER + 1)), k = (int)(i % (PER + 1));
		bool used = k == PER || g == 0 || (g == 1 && k % 2 == 0);

		T_EQ_INT(keyset_has_blob(ks, OBJ_DATA, v[i].id), used);
		if (!used)
			continue;
		check_blob(ks, &v[i]);
		/* A whole, B cut down to its used half. */
		if (k < PER && g == 0)
			T_EQ_INT(clen_of(ks, &v[i]), bclen[g]);
		if (k < PER && g == 1)
			T_TRUE(clen_of(ks, &v[i]) < bclen[g] * 2 / 3);
	}
	T_EQ_INT(keyset_check(ks, true, check_report, &nrep, &nbad, &bytes,
	    NULL, NULL, &err), 0);
	T_EQ_INT(nbad, 0);
	T_EQ_INT(nrep, 0);
	keyset_free(ks);
out:
	free_blobs(v, n);
	fixture_done(dir, rp);
}

/* A damaged pack byte fails authentication; neighbours still read. */
static void
keyset_pack_tamper_detected(void)
{
	char dir[PATH_MAX], repo[PATH_MAX], pack[PATH_MAX], rel[64];
	struct coffer_err err = { 0 };
	struct repo *rp;
	struct keyset *ks;
	struct blob v[8];
	uint8_t dk[KEY_LEN];
	uint64_t nbad = 0, bytes = 0;
	struct wbuf out;
	size_t n, victim = 4;		/* "4 MiB random", sealed alone */
	struct blob_loc loc;
	int nrep = 0;

	if (!fixture(dir, repo, NAME_BY_TIME, &rp))
		return;
	random_bytes(dk, sizeof(dk));
	n = make_blobs(v, NELEM(v));
	if ((ks = open_set(rp, dk, true)) == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		keyset_blob_id(ks, v[i].data, v[i].len, v[i].id);
		T_EQ_INT(put(ks, v[i].type, v[i].id, v[i].data, v[i].len), 0);
	}
	T_EQ_INT(keyset_flush(ks, &err), 0);
	keyset_free(ks);
	if ((ks = open_set(rp, dk, false)) == NULL)
		goto out;

	/* Healthy: check finds nothing. */
	T_EQ_INT(keyset_check(ks, true, check_report, &nrep, &nbad, &bytes,
	    NULL, NULL, &err), 0);
	T_EQ_INT(nbad, 0);
	T_EQ_INT(nrep, 0);

	{
		const struct idx_entry *e = idx_find(ks, OBJ_DATA, v[victim].id);

		T_TRUE(e != NULL);
		if (e == NULL)
			goto out_ks;
		loc = e->loc;
	}
	pack_path(ks->packs[loc.pack].id, rel);
	unit_pathf(pack, "%s/sets/%s/%s", repo, keyset_idhex(ks), rel);
	T_TRUE(access(pack, F_OK) == 0);
	T_EQ_INT(loc.clen, 1 + v[victim].len + AEAD_OVERHEAD);

	/*
	 * Flip bytes across the sealed blob: nonce, ciphertext, tag.  Each
	 * time the read fails with COFFER_EAUTH and hands back nothing.
	 */
	{
		const off_t offs[] = { 0, 1, AEAD_NONCE_LEN - 1, AEAD_NONCE_LEN,
		    AEAD_NONCE_LEN + 1, (off_t)loc.clen / 2,
		    (off_t)loc.clen - AEAD_TAG_LEN, (off_t)loc.clen - 1 };

		wbuf_init(&out, BLOB_MAX);
		for (size_t i = 0; i < NELEM(offs); i++) {
			off_t at = (off_t)loc.offset + offs[i];

			T_TRUE(flip_byte(pack, at, 0x04));
			wbuf_reset(&out);
			memset(&err, 0, sizeof(err));
			T_EQ_INT(keyset_get_blob(ks, OBJ_DATA, v[victim].id, &out,
			    &err), COFFER_EAUTH);
			T_EQ_INT(out.len, 0);
			T_TRUE(strstr(err.msg, rel) != NULL);
			/* The blobs on either side are intact. */
			check_blob(ks, &v[victim - 1]);
			check_blob(ks, &v[victim + 1]);
			T_TRUE(flip_byte(pack, at, 0x04));
			check_blob(ks, &v[victim]);
		}
		wbuf_release(&out);
	}

	/* Damage left in place: every other blob reads; check reports it. */
	T_TRUE(flip_byte(pack, (off_t)loc.offset + 100, 0xff));
	for (size_t i = 0; i < n; i++)
		if (i != victim)
			check_blob(ks, &v[i]);
	wbuf_init(&out, BLOB_MAX);
	T_EQ_INT(keyset_get_blob(ks, OBJ_DATA, v[victim].id, &out, &err),
	    COFFER_EAUTH);
	T_EQ_INT(out.len, 0);
	wbuf_release(&out);
	T_EQ_INT(keyset_check(ks, true, check_report, &nrep, &nbad, &bytes,
	    NULL, NULL, &err), 0);
	T_TRUE(nbad >= 1);
	T_TRUE(nrep >= 1);

	/*
	 * A bundle (v[0], v[1], v[2]): an index entry that does not match
	 * the bundle's own table (here a wrong length) is refused; then one
	 * damaged byte fails every member, read afresh (the last bundle
	 * opened is kept, so drop it), and nothing else.
	 */
	{
		struct idx_entry *e = idx_find(ks, OBJ_DATA, v[1].id);
		uint64_t nbad0 = nbad;

		T_TRUE(e != NULL && e->bundled);
		if (e == NULL)
			goto out_ks;
		wbuf_init(&out, BLOB_MAX);
		e->loc.rawlen++;
		T_EQ_INT(keyset_get_blob(ks, OBJ_DATA, v[1].id, &out, &err),
		    COFFER_EFORMAT);
		T_TRUE(strstr(err.msg, "does not hold") != NULL);
		T_EQ_INT(out.len, 0);
		e->loc.rawlen--;
		check_blob(ks, &v[1]);
		T_TRUE(flip_byte(pack, (off_t)(e->loc.offset + e->loc.clen / 2),
		    0x10));
		for (size_t i = 0; i < BUNDLE_CACHE; i++)
			bundle_release(&ks->bcache[i]);
		for (size_t i = 0; i < 3; i++) {
			wbuf_reset(&out);
			T_EQ_INT(keyset_get_blob(ks, OBJ_DATA, v[i].id, &out,
			    &err), COFFER_EAUTH);
			T_EQ_INT(out.len, 0);
			T_TRUE(strstr(err.msg, "bundle") != NULL);
		}
		wbuf_release(&out);
		check_blob(ks, &v[3]);
		check_blob(ks, &v[5]);
		check_blob(ks, &v[6]);
		/* check reports the damaged bundle once, not per member. */
		T_EQ_INT(keyset_check(ks, true, check_report, &nrep, &nbad,
		    &bytes, NULL, NULL, &err), 0);
		T_EQ_INT(nbad - nbad0, 2);	/* the 4 MiB blob and the bundle */
	}
out_ks:
	keyset_free(ks);
out:
	free_blobs(v, n);
	fixture_done(dir, rp);
}

/*
 * Many packs (the walks over packs/ look each file up in a sorted set of
 * pack ids, packids.c): NP packs of one blob each, and NL leftover files
 * with pack names that no index names.  check counts exactly the
 * leftovers; prune (half of the blobs used) deletes exactly the packs of
 * the unused half and the leftovers, keeps the others, and every used
 * blob still reads.
 */
static void
keyset_prune_many_packs(void)
{
	char dir[PATH_MAX], repo[PATH_MAX], path[PATH_MAX + 128];
	const struct prune_opts po = { .max_unused = 0 };
	struct coffer_err err = { 0 };
	struct prune_stats st = { 0 };
	struct repo *rp;
	struct keyset *ks;
	enum { NP = 400, NL = 40 };
	uint8_t (*ids)[BLOB_ID_LEN] = NULL;
	uint8_t dk[KEY_LEN], data[64];
	struct wbuf out;

	wbuf_init(&out, BLOB_MAX);
	if (!fixture(dir, repo, NAME_BY_TIME, &rp))
		return;
	random_bytes(dk, sizeof(dk));
	if ((ids = calloc(NP, BLOB_ID_LEN)) == NULL ||
	    (ks = open_set(rp, dk, true)) == NULL)
		goto out;
	for (int i = 0; i < NP; i++) {
		memset(data, 0, sizeof(data));
		memcpy(data, &i, sizeof(i));
		keyset_blob_id(ks, data, sizeof(data), ids[i]);
		T_EQ_INT(put(ks, OBJ_DATA, ids[i], data, sizeof(data)), 0);
		T_EQ_INT(keyset_flush(ks, &err), 0);
	}
	T_EQ_INT(ks->npacks, NP);
	for (int i = 0; i < NL; i++) {
		uint8_t pid[PACK_ID_LEN];
		char hex[33];
		FILE *f;

		random_bytes(pid, sizeof(pid));
		hex_encode(hex, pid, sizeof(pid));
		snprintf(path, sizeof(path), "%s/sets/%s/packs/%.2s", repo,
		    keyset_idhex(ks), hex);
		(void)mkdir(path, 0700);
		snprintf(path, sizeof(path), "%s/sets/%s/packs/%.2s/%s", repo,
		    keyset_idhex(ks), hex, hex);
		if ((f = fopen(path, "w")) != NULL)
			fclose(f);
	}
	T_EQ_INT(keyset_count_unindexed(ks), NL);
	for (int i = 0; i < NP; i += 2)
		T_TRUE(keyset_mark_used(ks, OBJ_DATA, ids[i]));
	T_EQ_INT(keyset_prune(ks, &po, &st, &err), 0);
	T_EQ_INT(st.packs_deleted, NP / 2);
	T_EQ_INT(st.packs_repacked, 0);
	keyset_free(ks);
	if ((ks = open_set(rp, dk, false)) == NULL)
		goto out;
	T_EQ_INT(keyset_load_index(ks, true, &err), 0);
	T_EQ_INT(ks->npacks, NP / 2);
	T_EQ_INT(keyset_count_unindexed(ks), 0);
	snprintf(path, sizeof(path), "find '%s/sets/%s/packs' -type f | "
	    "wc -l | grep -qx %d", repo, keyset_idhex(ks), NP / 2);
	T_EQ_INT(system(path), 0);
	for (int i = 0; i < NP; i++) {
		T_EQ_INT(keyset_has_blob(ks, OBJ_DATA, ids[i]), i % 2 == 0);
		if (i % 2 == 0)
			T_EQ_INT(keyset_get_blob(ks, OBJ_DATA, ids[i], &out,
			    &err), 0);
	}
	keyset_free(ks);
out:
	free(ids);
	wbuf_release(&out);
	fixture_done(dir, rp);
}

/*
 * Prune through the index cache on the device (#17): the index is not
 * loaded into memory.  Marking leaves the table empty (a mark is 2 bits
 * per cache entry), and after prune the table holds only the entries of
 * the blobs copied to new packs.  10 packs of 6 blobs, walked in batches
 * of about one pack (COFFER_PRUNE_BATCH): packs 0-4 have one unused blob
 * each (repacked with max_unused 0), 5-7 are wholly used (kept), 8-9
 * wholly unused (deleted).  Afterwards every used blob reads and no
 * unused one is known.  With ${looked}, the cache is read, not mapped
 * (COFFER_IDXCACHE_MAP=0), and each blob is looked up just before it is
 * marked, as prune's walk looks a tree up to load it and then marks it:
 * the mark then comes from the lookup's memo, which must give the
 * entry's number too.
 */
static void
prune_cached_round(bool looked)
{
	char dir[PATH_MAX], repo[PATH_MAX], cdir[PATH_MAX + 16];
	char path[PATH_MAX + 128];
	const struct prune_opts po = { .max_unused = 0 };
	struct coffer_err err = { 0 };
	struct prune_stats st = { 0 };
	struct repo *rp;
	struct keyset *ks;
	enum { NPK = 10, PER = 6, N = NPK * PER };
	uint8_t ids[N][BLOB_ID_LEN];
	uint8_t dk[KEY_LEN], data[64];
	bool used[N];
	struct wbuf out;

	wbuf_init(&out, BLOB_MAX);
	if (!fixture(dir, repo, NAME_BY_TIME, &rp))
		return;
	unit_pathf(cdir, "%s/cache", dir);
	T_EQ_INT(repo_set_cache_dir(rp, cdir), 0);
	random_bytes(dk, sizeof(dk));
	if ((ks = open_set(rp, dk, true)) == NULL)
		goto out;
	for (int i = 0; i < N; i++) {
		int p = i / PER;

		memset(data, 0, sizeof(data));
		memcpy(data, &i, sizeof(i));
		keyset_blob_id(ks, data, sizeof(data), ids[i]);
		T_EQ_INT(put(ks, OBJ_DATA, ids[i], data, sizeof(data)), 0);
		if (i % PER == PER - 1)
			T_EQ_INT(keyset_flush(ks, &err), 0);
		used[i] = p < 5 ? i % PER != 0 : p < 8;
	}
	keyset_free(ks);
	T_TRUE(setenv("COFFER_PRUNE_BATCH", "7", 1) == 0);
	if (looked)
		T_TRUE(setenv("COFFER_IDXCACHE_MAP", "0", 1) == 0);
	if ((ks = open_set(rp, dk, false)) == NULL)
		goto out_env;
	T_EQ_INT(keyset_load_index(ks, true, &err), 0);
	T_TRUE(ks->ic != NULL);
	T_EQ_INT(ks->npacks, NPK);
	for (int i = 0; i < N; i++) {
		if (!used[i])
			continue;
		if (looked)
			T_TRUE(keyset_has_blob(ks, OBJ_DATA, ids[i]));
		T_TRUE(keyset_mark_used(ks, OBJ_DATA, ids[i]));
	}
	/* Marked twice: already marked, so false. */
	T_TRUE(!keyset_mark_used(ks, OBJ_DATA, ids[1]));
	T_EQ_INT(ks->tabn, 0);
	T_EQ_INT(keyset_prune(ks, &po, &st, &err), 0);
	T_EQ_INT(st.packs_deleted, 2);
	T_EQ_INT(st.packs_repacked, 5);
	T_EQ_INT(st.blobs_kept, 5 * (PER - 1) + 3 * PER);
	T_EQ_INT(st.blobs_removed, 5 + 2 * PER);
	/* Only the copies: 5 packs of 5 used blobs. */
	T_EQ_INT(ks->tabn, 5 * (PER - 1));
	keyset_free(ks);
	if ((ks = open_set(rp, dk, false)) == NULL)
		goto out_env;
	T_EQ_INT(keyset_load_index(ks, true, &err), 0);
	T_EQ_INT(ks->tabn, 0);
	T_EQ_INT(keyset_count_unindexed(ks), 0);
	snprintf(path, sizeof(path), "find '%s/sets/%s/packs' -type f | "
	    "wc -l | grep -qx 4", repo, keyset_idhex(ks));
	T_EQ_INT(system(path), 0);
	for (int i = 0; i < N; i++) {
		T_EQ_INT(keyset_has_blob(ks, OBJ_DATA, ids[i]), used[i]);
		if (used[i])
			T_EQ_INT(keyset_get_blob(ks, OBJ_DATA, ids[i], &out,
			    &err), 0);
	}
	keyset_free(ks);
out_env:
	T_TRUE(unsetenv("COFFER_PRUNE_BATCH") == 0);
	T_TRUE(unsetenv("COFFER_IDXCACHE_MAP") == 0);
out:
	wbuf_release(&out);
	fixture_done(dir, rp);
}

/* Counts what index_load_file hands on. */
static int
count_sink(struct keyset *ks, void *cookie, int type,
    const uint8_t id[BLOB_ID_LEN], const struct blob_loc *loc, bool bundled)
{
	(void)ks;
	(void)type;
	(void)id;
	(void)loc;
	(void)bundled;
	(*(int *)cookie)++;
	return 0;
}

/*
 * An authentic index file (sealed under the set's key) whose plaintext
 * is malformed after a good head: a pack with two good entries, then
 * (a) an entry of an unknown type, (b) one more pack count than there
 * are packs (truncated), (c) trailing bytes.  index_load_file refuses
 * each as damaged and hands nothing on: no entry to the sink, no pack
 * to the pack table (it used to pass the good head on before finding
 * the tail bad).  The same file without the bad tail loads whole.
 */
static void
index_malformed_tail(void)
{
	char dir[PATH_MAX], repo[PATH_MAX], path[PATH_MAX + 128];
	char hex[33];
	struct coffer_err err = { 0 };
	struct repo *rp;
	struct keyset *ks = NULL;
	uint8_t dk[KEY_LEN], iid[16], plain[256], *sealed = NULL, *p;
	size_t slen;
	int fd;

	if (!fixture(dir, repo, NAME_BY_TIME, &rp))
		return;
	random_bytes(dk, sizeof(dk));
	if ((ks = open_set(rp, dk, true)) == NULL)
		goto out;
	for (int c = 0; c < 4; c++) {
		size_t len;
		int seen = 0, r;

		/* One pack (count patched for b), two good entries. */
		p = plain;
		le32enc(p, c == 1 ? 2 : 1);
		p += 4;
		random_bytes(p, PACK_ID_LEN);
		p += PACK_ID_LEN;
		le32enc(p, c == 0 ? 3 : 2);
		p += 4;
		for (int e = 0; e < (c == 0 ? 3 : 2); e++) {
			*p++ = (uint8_t)(c == 0 && e == 2 ? 9 : OBJ_DATA);
			random_bytes(p, BLOB_ID_LEN);
			p += BLOB_ID_LEN;
			le64enc(p, 8 + 100 * (uint64_t)e);
			le32enc(p + 8, 100);
			le32enc(p + 12, 50);
			p += 16;
		}
		if (c == 2)
			*p++ = 0;	/* trailing byte */
		len = (size_t)(p - plain);
		random_bytes(iid, sizeof(iid));
		hex_encode(hex, iid, sizeof(iid));
		T_EQ_INT(obj_seal(ks, "CFINDX02", OBJ_INDEX, iid, sizeof(iid),
		    plain, len, &sealed, &slen, &err), 0);
		snprintf(path, sizeof(path), "%s/sets/%s/index/%s", repo,
		    keyset_idhex(ks), hex);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		T_TRUE(fd != -1);
		if (fd != -1) {
			T_TRUE(write_full(fd, sealed, slen) == 0);
			close(fd);
		}
		coffer_free(sealed);
		sealed = NULL;
		ks->npacks = 0;
		r = index_load_file(ks, hex, count_sink, &seen, &err);
		if (c < 3) {
			T_EQ_INT(r, COFFER_EFORMAT);
			T_TRUE(strstr(err.msg, "bad layout") != NULL);
			T_EQ_INT(seen, 0);
			T_EQ_INT(ks->npacks, 0);
		} else {
			T_EQ_INT(r, 0);
			T_EQ_INT(seen, 2);
			T_EQ_INT(ks->npacks, 1);
		}
		T_TRUE(unlink(path) == 0);
	}
	ks->npacks = 0;
	keyset_free(ks);
out:
	fixture_done(dir, rp);
}

static void
keyset_prune_cached(void)
{
	prune_cached_round(false);
	prune_cached_round(true);
}

static void
keyset_other_key(void)
{
	char dir[PATH_MAX], repo[PATH_MAX];
	struct coffer_err err = { 0 };
	struct repo *rp;
	struct keyset *a, *b = NULL;
	uint8_t dk[KEY_LEN], dk2[KEY_LEN];
	uint8_t id1[KEYID_LEN], id2[KEYID_LEN];
	char **sets = NULL;
	size_t nsets = 0;
	struct blob v[8];
	size_t n;

	if (!fixture(dir, repo, NAME_BY_TIME, &rp))
		return;
	random_bytes(dk, sizeof(dk));
	memcpy(dk2, dk, sizeof(dk));
	dk2[0] ^= 1;
	keyset_keyid(dk, id1);
	keyset_keyid(dk2, id2);
	T_TRUE(memcmp(id1, id2, KEYID_LEN) != 0);
	n = make_blobs(v, NELEM(v));

	if ((a = open_set(rp, dk, true)) == NULL)
		goto out;
	keyset_blob_id(a, v[0].data, v[0].len, v[0].id);
	T_EQ_INT(put(a, OBJ_DATA, v[0].id, v[0].data, v[0].len), 0);
	T_EQ_INT(keyset_flush(a, &err), 0);

	/* Another key: no such set, unless asked to create it. */
	T_EQ_INT(ksopen(rp, dk2, false, &b, &err), COFFER_ENOTFOUND);
	T_TRUE(b == NULL);
	if ((b = open_set(rp, dk2, true)) != NULL) {
		uint8_t bid[BLOB_ID_LEN];

		T_TRUE(strcmp(keyset_idhex(a), keyset_idhex(b)) != 0);
		/* Blob ids are keyed: the same bytes, another id. */
		keyset_blob_id(b, v[0].data, v[0].len, bid);
		T_TRUE(memcmp(bid, v[0].id, BLOB_ID_LEN) != 0);
		T_TRUE(!keyset_has_blob(b, OBJ_DATA, v[0].id));
		/* Chunker keys differ too. */
		T_TRUE(memcmp(keyset_chunker_key(a), keyset_chunker_key(b),
		    KEY_LEN) != 0);
		keyset_free(b);
	}
	T_EQ_INT(repo_list_sets(rp, &sets, &nsets, &err), 0);
	T_EQ_INT(nsets, 2);
	if (nsets == 2)
		T_TRUE(strcmp(sets[0], sets[1]) < 0);
	strlist_free(sets, nsets);
	keyset_free(a);
out:
	free_blobs(v, n);
	fixture_done(dir, rp);
}

/*
 * The index cache as a command builds it (its tables made while it is
 * written) answers as the same file checked and read back by the next
 * command; the last hit, remembered per thread, answers only for its
 * own cache: the same id in two sets, looked up in turn, gives each
 * set's own entry.  With ${map} lookups search the mapped file (a small
 * cache), else they read it (COFFER_IDXCACHE_MAP=0, as past
 * IC_MAP_MAX).
 */
static void
idxcache_round(bool map)
{
	char dir[PATH_MAX], repo[PATH_MAX], p[PATH_MAX];
	struct coffer_err err = { 0 };
	struct repo *rp;
	struct keyset *a = NULL, *b = NULL;
	uint8_t dk[KEY_LEN], dk2[KEY_LEN], absent[BLOB_ID_LEN];
	struct idx_entry seen[8];
	struct blob v[8];
	size_t n;

	if (!fixture(dir, repo, NAME_BY_TIME, &rp))
		return;
	if (map)
		unsetenv("COFFER_IDXCACHE_MAP");
	else
		setenv("COFFER_IDXCACHE_MAP", "0", 1);
	T_EQ_INT(repo_set_cache_dir(rp, unit_pathf(p, "%s/cache", dir)), 0);
	random_bytes(dk, sizeof(dk));
	memcpy(dk2, dk, sizeof(dk));
	dk2[0] ^= 1;
	random_bytes(absent, sizeof(absent));
	n = make_blobs(v, NELEM(v));

	if ((a = open_set(rp, dk, true)) == NULL ||
	    (b = open_set(rp, dk2, true)) == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		keyset_blob_id(a, v[i].data, v[i].len, v[i].id);
		T_EQ_INT(put(a, v[i].type, v[i].id, v[i].data, v[i].len), 0);
	}
	/* v[0]'s id in the other set too, on other bytes. */
	T_EQ_INT(put(b, v[0].type, v[0].id, v[1].data, v[1].len), 0);
	T_EQ_INT(keyset_flush(a, &err), 0);
	T_EQ_INT(keyset_flush(b, &err), 0);
	keyset_free(a);
	keyset_free(b);
	b = NULL;

	/* Built now, in this process: what it answers is remembered. */
	if ((a = open_set(rp, dk, false)) == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct idx_entry *e;
		int other;

		T_TRUE(keyset_has_blob(a, v[i].type, v[i].id));
		T_TRUE(a->ic != NULL);
		if ((e = idx_find(a, v[i].type, v[i].id)) == NULL) {
			memset(&seen[i], 0, sizeof(seen[i]));
			continue;
		}
		seen[i] = *e;
		T_EQ_INT(e->loc.rawlen, v[i].len);
		/*
		 * Right after a hit, the other type is still another blob:
		 * none, or (the 63 bytes stored as both) that one.
		 */
		other = v[i].type == OBJ_DATA ? OBJ_TREE : OBJ_DATA;
		e = idx_find(a, other, v[i].id);
		T_TRUE(e == NULL || e->type == other);
	}
	T_TRUE(!keyset_has_blob(a, OBJ_DATA, absent));
	keyset_free(a);

	/* Read back from the file by the next open: the same entries. */
	if ((a = open_set(rp, dk, false)) == NULL ||
	    (b = open_set(rp, dk2, false)) == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct idx_entry *e;

		T_TRUE(keyset_has_blob(a, v[i].type, v[i].id));
		if ((e = idx_find(a, v[i].type, v[i].id)) == NULL)
			continue;
		T_TRUE(memcmp(e, &seen[i], sizeof(*e)) == 0);
	}
	T_TRUE(!keyset_has_blob(a, OBJ_DATA, absent));
	/* The same id through each set's cache, in turn. */
	for (int round = 0; round < 2; round++) {
		const struct idx_entry *e;

		T_TRUE(keyset_has_blob(a, v[0].type, v[0].id));
		T_TRUE(a->ic != NULL && b != NULL);
		e = idx_find(a, v[0].type, v[0].id);
		T_TRUE(e != NULL && e->loc.rawlen == v[0].len);
		T_TRUE(keyset_has_blob(b, v[0].type, v[0].id));
		T_TRUE(b->ic != NULL);
		e = idx_find(b, v[0].type, v[0].id);
		T_TRUE(e != NULL && e->loc.rawlen == v[1].len);
	}
	check_blob(a, &v[0]);
out:
	if (a != NULL)
		keyset_free(a);
	if (b != NULL)
		keyset_free(b);
	free_blobs(v, n);
	fixture_done(dir, rp);
	unsetenv("COFFER_IDXCACHE_MAP");
}

static void
idxcache_built_and_memo(void)
{
	idxcache_round(false);
	idxcache_round(true);
}

/* One set's keyinfo over another's, or any damaged byte: refused. */
static void
keyset_keyinfo_bound(void)
{
	char dir[PATH_MAX], repo[PATH_MAX], ka[PATH_MAX], kb[PATH_MAX];
	struct coffer_err err = { 0 };
	struct repo *rp;
	struct keyset *a, *b;
	uint8_t dka[KEY_LEN], dkb[KEY_LEN];
	uint8_t *infa = NULL, *infb = NULL, *bad = NULL;
	size_t lena, lenb, nbad = 0;
	size_t cmin, cavg, cmax;
	int r;

	if (!fixture(dir, repo, NAME_BY_TIME, &rp))
		return;
	random_bytes(dka, sizeof(dka));
	random_bytes(dkb, sizeof(dkb));
	a = open_set(rp, dka, true);
	b = open_set(rp, dkb, true);
	if (a == NULL || b == NULL) {
		keyset_free(a);
		keyset_free(b);
		goto out;
	}
	keyset_chunker_params(a, &cmin, &cavg, &cmax);
	T_TRUE(cmin >= 64 && cmin <= cavg && cavg <= cmax && cmax <= BLOB_MAX);
	unit_pathf(ka, "%s/sets/%s/keyinfo", repo, keyset_idhex(a));
	unit_pathf(kb, "%s/sets/%s/keyinfo", repo, keyset_idhex(b));
	keyset_free(a);
	keyset_free(b);
	infa = unit_slurp(ka, &lena);
	infb = unit_slurp(kb, &lenb);
	T_TRUE(infa != NULL && infb != NULL);
	if (infa == NULL || infb == NULL || (bad = coffer_malloc(lenb)) == NULL)
		goto out;

	/* A's keyinfo in B's place. */
	T_TRUE(unit_spit(kb, infa, lena));
	b = NULL;
	r = ksopen(rp, dkb, false, &b, &err);
	T_TRUE(r == COFFER_EAUTH || r == COFFER_EFORMAT);
	T_TRUE(b == NULL);
	/* Asking to create must not paper over it by rewriting keyinfo. */
	r = ksopen(rp, dkb, true, &b, &err);
	T_TRUE(r == COFFER_EAUTH || r == COFFER_EFORMAT);
	T_TRUE(b == NULL);
	/* A's keyinfo, patched to name B's key id: authentication fails. */
	memcpy(bad, infa, lena < lenb ? lena : lenb);
	memcpy(bad + 16, infb + 16, KEYID_LEN);
	T_TRUE(unit_spit(kb, bad, lena));
	T_EQ_INT(ksopen(rp, dkb, false, &b, &err), COFFER_EAUTH);

	/* Every damaged byte of B's own keyinfo (scope, custody, ...). */
	for (size_t i = 0; i < lenb; i++) {
		memcpy(bad, infb, lenb);
		bad[i] ^= 0x01;
		T_TRUE(unit_spit(kb, bad, lenb));
		r = ksopen(rp, dkb, false, &b, &err);
		if (r != COFFER_EAUTH && r != COFFER_EFORMAT && nbad++ < 5)
			unit_fail(__FILE__, __LINE__, "keyinfo byte %zu: %d",
			    i, r);
		keyset_free(b);
		b = NULL;
	}
	/* Truncated. */
	T_TRUE(unit_spit(kb, infb, lenb - 1));
	r = ksopen(rp, dkb, false, &b, &err);
	T_TRUE(r == COFFER_EAUTH || r == COFFER_EFORMAT);
	T_EQ_INT(nbad, 0);

	/* Restored: both open again. */
	T_TRUE(unit_spit(kb, infb, lenb));
	if ((b = open_set(rp, dkb, false)) != NULL)
		keyset_free(b);
	if ((a = open_set(rp, dka, false)) != NULL)
		keyset_free(a);
out:
	coffer_free(infa);
	coffer_free(infb);
	coffer_free(bad);
	fixture_done(dir, rp);
}

/* ---- snapshots ---- */

static void
snapshot_fill(struct snapshot *s, const char *name)
{
	static const char *const paths[] = {
		"/home/user", "/etc", "/srv/caf\xc3\xa9", "/tmp/\xff\xfe",
		"/with\nnewline", "",
	};

	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->time_sec = 1795627860;
	s->time_nsec = 123456789;
	s->hostname = coffer_strdup("laptop\xff");
	s->username = coffer_strdup("user");
	s->npaths = NELEM(paths);
	if ((s->paths = coffer_calloc(s->npaths, sizeof(char *))) == NULL)
		s->npaths = 0;
	for (size_t i = 0; i < s->npaths; i++)
		s->paths[i] = coffer_strdup(paths[i]);
	for (size_t i = 0; i < BLOB_ID_LEN; i++)
		s->tree[i] = (uint8_t)(0xa0 + i);
	s->size = 123456789012ULL;
	s->nfiles = 42;
	s->ndirs = 7;
	s->added = UINT64_MAX;
}

static void
snapshot_eq(const struct snapshot *a, const struct snapshot *b)
{
	T_EQ_STR(b->name, a->name);
	T_TRUE(b->time_sec == a->time_sec);
	T_EQ_INT(b->time_nsec, a->time_nsec);
	T_TRUE(b->hostname != NULL && b->username != NULL);
	if (b->hostname != NULL && b->username != NULL) {
		T_EQ_STR(b->hostname, a->hostname);
		T_EQ_STR(b->username, a->username);
	}
	T_EQ_INT(b->npaths, a->npaths);
	for (size_t i = 0; i < a->npaths && i < b->npaths; i++)
		T_EQ_STR(b->paths[i], a->paths[i]);
	T_EQ_MEM(b->tree, a->tree, BLOB_ID_LEN);
	T_TRUE(b->size == a->size && b->nfiles == a->nfiles &&
	    b->ndirs == a->ndirs && b->added == a->added);
	T_EQ_STR(b->idhex, a->idhex);
	T_EQ_STR(b->keyid, a->keyid);
	T_TRUE(b->readable);
}

static void
snapshot_roundtrip(void)
{
	char dir[PATH_MAX], repo[PATH_MAX], p[PATH_MAX];
	struct coffer_err err = { 0 };
	struct repo *rp;
	struct keyset *ks;
	struct snapshot s, l, dup;
	uint8_t dk[KEY_LEN], h[HASH_LEN];
	char hhex[65];
	uint8_t *file;
	size_t flen;

	if (!fixture(dir, repo, NAME_BY_TIME, &rp))
		return;
	random_bytes(dk, sizeof(dk));
	if ((ks = open_set(rp, dk, true)) == NULL)
		goto out;
	snapshot_fill(&s, "2026-11-25T17:31:00Z");
	T_EQ_INT(snapshot_write(ks, &s, &err), 0);
	T_TRUE(s.readable);
	T_EQ_STR(s.keyid, keyset_idhex(ks));

	/* On the card as the FAT-safe name; the id is the file's hash. */
	unit_pathf(p, "%s/sets/%s/snapshots/2026-11-25T173100Z", repo,
	    keyset_idhex(ks));
	if ((file = unit_slurp(p, &flen)) != NULL) {
		hash_plain(h, sizeof(h), file, flen);
		hex_encode(hhex, h, sizeof(h));
		T_EQ_STR(s.idhex, hhex);
		T_TRUE(memcmp(file, "CFSNAP01", 8) == 0);
		coffer_free(file);
	} else
		T_TRUE(file != NULL);

	memset(&l, 0, sizeof(l));
	snprintf(l.name, sizeof(l.name), "%s", s.name);
	T_EQ_INT(snapshot_load(ks, &l, &err), 0);
	snapshot_eq(&s, &l);
	/* Loading again into the same struct frees what was there. */
	T_EQ_INT(snapshot_load(ks, &l, &err), 0);
	snapshot_eq(&s, &l);
	snapshot_release(&l);

	/* Names are unique on the card. */
	snapshot_fill(&dup, "2026-11-25T17:31:00Z");
	T_EQ_INT(snapshot_write(ks, &dup, &err), COFFER_EEXIST);
	snapshot_release(&dup);

	/* No paths at all; a count name. */
	snapshot_fill(&dup, "1");
	strlist_free(dup.paths, dup.npaths);
	dup.paths = NULL;
	dup.npaths = 0;
	T_EQ_INT(snapshot_write(ks, &dup, &err), 0);
	memset(&l, 0, sizeof(l));
	snprintf(l.name, sizeof(l.name), "1");
	T_EQ_INT(snapshot_load(ks, &l, &err), 0);
	snapshot_eq(&dup, &l);
	snapshot_release(&l);
	snapshot_release(&dup);

	/* A name that is not there. */
	memset(&l, 0, sizeof(l));
	snprintf(l.name, sizeof(l.name), "2");
	T_EQ_INT(snapshot_load(ks, &l, &err), COFFER_ENOTFOUND);
	snapshot_release(&l);
	snapshot_release(&s);
	keyset_free(ks);
out:
	fixture_done(dir, rp);
}

/* The name is bound into the AEAD: a renamed or moved file is refused. */
static void
snapshot_rename_detected(void)
{
	char dir[PATH_MAX], repo[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
	struct coffer_err err = { 0 };
	struct repo *rp;
	struct keyset *ks, *ks2;
	struct snapshot s, l;
	uint8_t dk[KEY_LEN], dk2[KEY_LEN];
	int r;

	if (!fixture(dir, repo, NAME_BY_TIME, &rp))
		return;
	random_bytes(dk, sizeof(dk));
	random_bytes(dk2, sizeof(dk2));
	ks = open_set(rp, dk, true);
	ks2 = open_set(rp, dk2, true);
	if (ks == NULL || ks2 == NULL)
		goto out;

	snapshot_fill(&s, "2026-11-25T17:31:00Z");
	T_EQ_INT(snapshot_write(ks, &s, &err), 0);
	snapshot_release(&s);
	unit_pathf(from, "%s/sets/%s/snapshots/2026-11-25T173100Z", repo,
	    keyset_idhex(ks));
	unit_pathf(to, "%s/sets/%s/snapshots/2026-11-25T173200Z", repo,
	    keyset_idhex(ks));
	T_TRUE(rename(from, to) == 0);
	memset(&l, 0, sizeof(l));
	snprintf(l.name, sizeof(l.name), "2026-11-25T17:32:00Z");
	memset(&err, 0, sizeof(err));
	T_EQ_INT(snapshot_load(ks, &l, &err), COFFER_EAUTH);
	T_TRUE(strstr(err.msg, "2026-11-25T173200Z") != NULL);
	T_TRUE(!l.readable && l.hostname == NULL);
	snprintf(l.name, sizeof(l.name), "2026-11-25T17:31:00Z");
	T_EQ_INT(snapshot_load(ks, &l, &err), COFFER_ENOTFOUND);

	/* Count names: "1" renamed to "2". */
	snapshot_fill(&s, "1");
	T_EQ_INT(snapshot_write(ks, &s, &err), 0);
	snapshot_release(&s);
	unit_pathf(from, "%s/sets/%s/snapshots/1", repo, keyset_idhex(ks));
	unit_pathf(to, "%s/sets/%s/snapshots/2", repo, keyset_idhex(ks));
	T_TRUE(rename(from, to) == 0);
	snprintf(l.name, sizeof(l.name), "2");
	T_EQ_INT(snapshot_load(ks, &l, &err), COFFER_EAUTH);

	/* Moved into another key set under its own name. */
	unit_pathf(from, "%s/sets/%s/snapshots/2", repo, keyset_idhex(ks));
	unit_pathf(to, "%s/sets/%s/snapshots/2", repo, keyset_idhex(ks2));
	T_TRUE(rename(from, to) == 0);
	r = snapshot_load(ks2, &l, &err);
	T_EQ_INT(r, COFFER_EAUTH);
	snapshot_release(&l);
out:
	keyset_free(ks);
	keyset_free(ks2);
	fixture_done(dir, rp);
}

static void
snapshot_fname_mapping(void)
{
	static const struct {
		const char	*name;
		const char	*fname;
	} good[] = {
		{ "2026-11-25T17:31:00Z", "2026-11-25T173100Z" },
		{ "2026-11-25T17:31:00Z-2", "2026-11-25T173100Z-2" },
		{ "2026-11-25T17:31:00Z-10", "2026-11-25T173100Z-10" },
		{ "2026-11-25T17:31:00Z-99999", "2026-11-25T173100Z-99999" },
		{ "1999-01-01T00:00:00Z", "1999-01-01T000000Z" },
		{ "1", "1" },
		{ "12", "12" },
		{ "9999999999999999999", "9999999999999999999" },
	};
	static const char *const bad[] = {
		"0", "01", "00", "abc", "", "-1", "1a", " 1",
		"12345678901234567890",			/* 20 digits */
		"2026-11-25T173100Z.tmp", "2026-11-25T173100Z-",
		"2026-11-25T173100Z-0", "2026-11-25T173100Z-02",
		"2026-11-25T173100Z-x", "2026-11-25T173100Z-100000",
		"2026-11-25T173100Z2", "2026-11-25T173100", "2026-11-25T17310Z",
		"2026-11-25T17:31:00Z", "2026-11-25 173100Z", "2026_11-25T173100Z",
		"2026-1a-25T173100Z", "x026-11-25T173100Z", "2026-11-25t173100Z",
		"2026-11-25T173100z", ".1", "1.tmp",
	};
	char out[SNAPSHOT_NAME_MAX];

	for (size_t i = 0; i < NELEM(good); i++) {
		snapshot_fname(good[i].name, out);
		T_EQ_STR(out, good[i].fname);
		memset(out, 'x', sizeof(out));
		if (snapshot_name_from_fname(good[i].fname, out) != 0)
			unit_fail(__FILE__, __LINE__, "\"%s\" refused",
			    good[i].fname);
		else
			T_EQ_STR(out, good[i].name);
	}
	for (size_t i = 0; i < NELEM(bad); i++)
		if (snapshot_name_from_fname(bad[i], out) != -1)
			unit_fail(__FILE__, __LINE__, "\"%s\" accepted", bad[i]);
}

/* Revision file names (FORMAT.md §10.3): NAME.R, R 1 … 99999999. */
static void
snapshot_fname_revisions(void)
{
	static const struct {
		const char	*fname, *name;
		uint32_t	 rev;
	} good[] = {
		{ "17", "17", 0 },
		{ "17.1", "17", 1 },
		{ "17.12", "17", 12 },
		{ "2026-11-25T173100Z.3", "2026-11-25T17:31:00Z", 3 },
		{ "2026-11-25T173100Z-2.99999999", "2026-11-25T17:31:00Z-2",
		    99999999 },
	};
	static const char *const bad[] = {
		"17.", "17.0", "17.01", "17.tmp", "17.1.tmp", ".1", "17.1.2",
		"17.-1", "17.123456789", "0.1", "x.1", "17.1a",
		"2026-11-25T173100Z.tmp", "2026-11-25T173100Z-.1",
	};
	char out[SNAPSHOT_NAME_MAX];
	uint32_t rev;

	for (size_t i = 0; i < NELEM(good); i++) {
		rev = 77;
		if (snapshot_parse_fname(good[i].fname, out, &rev) != 0) {
			unit_fail(__FILE__, __LINE__, "\"%s\" refused",
			    good[i].fname);
			continue;
		}
		T_EQ_STR(out, good[i].name);
		T_EQ_INT((long long)rev, (long long)good[i].rev);
	}
	for (size_t i = 0; i < NELEM(bad); i++)
		if (snapshot_parse_fname(bad[i], out, &rev) != -1)
			unit_fail(__FILE__, __LINE__, "\"%s\" accepted", bad[i]);
	/* The old parser still takes no revision. */
	T_EQ_INT(snapshot_name_from_fname("17.1", out), -1);
}

static void
list_snapshots_sorted(void)
{
	static const char *const order[] = {
		"10", "2", "1", "9", "11", "100", "3",
	};
	static const char *const want[] = {
		"1", "2", "3", "9", "10", "11", "100",
	};
	char dir[PATH_MAX], repo[PATH_MAX], p[PATH_MAX];
	struct coffer_err err = { 0 };
	struct repo *rp;
	struct keyset *ks, *ks2;
	struct snapshot s, *v = NULL;
	uint8_t dk[KEY_LEN], dk2[KEY_LEN];
	char ids[NELEM(order)][65];
	size_t n = 0;

	if (!fixture(dir, repo, NAME_BY_COUNT, &rp))
		return;
	random_bytes(dk, sizeof(dk));
	random_bytes(dk2, sizeof(dk2));
	ks = open_set(rp, dk, true);
	ks2 = open_set(rp, dk2, true);
	if (ks == NULL || ks2 == NULL)
		goto out;
	/* Written out of order, in two key sets. */
	for (size_t i = 0; i < NELEM(order); i++) {
		snapshot_fill(&s, order[i]);
		T_EQ_INT(snapshot_write(i % 2 ? ks2 : ks, &s, &err), 0);
		memcpy(ids[i], s.idhex, sizeof(ids[i]));
		snapshot_release(&s);
	}
	/* Files that are not snapshots are left out. */
	unit_pathf(p, "%s/sets/%s/snapshots", repo, keyset_idhex(ks));
	T_TRUE(unit_spit(unit_pathf(p, "%s/sets/%s/snapshots/4.tmp", repo,
	    keyset_idhex(ks)), "x", 1));
	T_TRUE(unit_spit(unit_pathf(p, "%s/sets/%s/snapshots/abc", repo,
	    keyset_idhex(ks)), "x", 1));
	T_TRUE(unit_spit(unit_pathf(p, "%s/sets/%s/snapshots/05", repo,
	    keyset_idhex(ks)), "x", 1));

	T_EQ_INT(repo_list_snapshots(rp, &v, &n, &err), 0);
	T_EQ_INT(n, NELEM(want));
	for (size_t i = 0; i < n && i < NELEM(want); i++) {
		T_EQ_STR(v[i].name, want[i]);
		/* Name, key id and id filled in, matching what was written. */
		for (size_t j = 0; j < NELEM(order); j++)
			if (strcmp(order[j], v[i].name) == 0) {
				T_EQ_STR(v[i].idhex, ids[j]);
				T_EQ_STR(v[i].keyid, keyset_idhex(j % 2 ? ks2 :
				    ks));
			}
		T_TRUE(v[i].hostname == NULL && !v[i].readable);
	}
	snapshot_list_free(v, n);
out:
	keyset_free(ks);
	keyset_free(ks2);
	fixture_done(dir, rp);
}

static void
list_snapshots_time_names(void)
{
	static const char *const order[] = {
		"2026-11-25T17:31:00Z-2", "2027-01-01T00:00:00Z",
		"2026-11-25T17:31:00Z-10", "2026-11-25T17:31:00Z",
		"2025-12-31T23:59:59Z", "2026-11-25T17:31:01Z",
		"2026-11-25T17:31:00Z-9",
	};
	/* Same-second suffixes count up: -9 before -10. */
	static const char *const want[] = {
		"2025-12-31T23:59:59Z", "2026-11-25T17:31:00Z",
		"2026-11-25T17:31:00Z-2", "2026-11-25T17:31:00Z-9",
		"2026-11-25T17:31:00Z-10", "2026-11-25T17:31:01Z",
		"2027-01-01T00:00:00Z",
	};
	char dir[PATH_MAX], repo[PATH_MAX];
	struct coffer_err err = { 0 };
	struct repo *rp;
	struct keyset *ks;
	struct snapshot s, *v = NULL;
	uint8_t dk[KEY_LEN];
	size_t n = 0;

	if (!fixture(dir, repo, NAME_BY_TIME, &rp))
		return;
	random_bytes(dk, sizeof(dk));
	if ((ks = open_set(rp, dk, true)) == NULL)
		goto out;
	for (size_t i = 0; i < NELEM(order); i++) {
		snapshot_fill(&s, order[i]);
		T_EQ_INT(snapshot_write(ks, &s, &err), 0);
		snapshot_release(&s);
	}
	T_EQ_INT(repo_list_snapshots(rp, &v, &n, &err), 0);
	T_EQ_INT(n, NELEM(want));
	for (size_t i = 0; i < n && i < NELEM(want); i++)
		T_EQ_STR(v[i].name, want[i]);
	snapshot_list_free(v, n);
	keyset_free(ks);
out:
	fixture_done(dir, rp);
}

/* ---- locks ---- */

static void
locks_conflict(void)
{
	char dir[PATH_MAX], repo[PATH_MAX], locks[PATH_MAX];
	struct coffer_err err = { 0 };
	struct repo *rp;
	struct repo_lock *a = NULL, *b = NULL, *c = NULL;

	if (!fixture(dir, repo, NAME_BY_TIME, &rp))
		return;
	unit_pathf(locks, "%s/locks", repo);

	/* Two appends: the second is refused and leaves no lock file. */
	T_EQ_INT(repo_lock(rp, REPO_LOCK_APPEND, &a, &err), 0);
	T_EQ_INT(count_files(locks, ".lock"), 1);
	T_EQ_INT(repo_lock(rp, REPO_LOCK_APPEND, &b, &err), COFFER_ELOCKED);
	T_TRUE(b == NULL);
	T_TRUE(strstr(err.msg, "a backup") != NULL);
	T_TRUE(strstr(err.msg, "on this host") != NULL);
	T_EQ_INT(count_files(locks, ".lock"), 1);
	/* A reader may share with a backup; exclusive may not. */
	T_EQ_INT(repo_lock(rp, REPO_LOCK_READ, &b, &err), 0);
	T_EQ_INT(repo_lock(rp, REPO_LOCK_EXCLUSIVE, &c, &err), COFFER_ELOCKED);
	repo_unlock(a);
	repo_unlock(b);
	a = b = NULL;
	T_EQ_INT(count_files(locks, ".lock"), 0);

	/* Released, it can be taken again. */
	T_EQ_INT(repo_lock(rp, REPO_LOCK_APPEND, &a, &err), 0);
	repo_unlock(a);

	/* Readers share. */
	T_EQ_INT(repo_lock(rp, REPO_LOCK_READ, &a, &err), 0);
	T_EQ_INT(repo_lock(rp, REPO_LOCK_READ, &b, &err), 0);
	T_EQ_INT(count_files(locks, ".lock"), 2);
	T_EQ_INT(repo_lock(rp, REPO_LOCK_EXCLUSIVE, &c, &err), COFFER_ELOCKED);
	T_EQ_INT(count_files(locks, ".lock"), 2);
	repo_unlock(a);
	repo_unlock(b);

	/* Exclusive excludes everything. */
	T_EQ_INT(repo_lock(rp, REPO_LOCK_EXCLUSIVE, &a, &err), 0);
	T_EQ_INT(repo_lock(rp, REPO_LOCK_READ, &b, &err), COFFER_ELOCKED);
	T_EQ_INT(repo_lock(rp, REPO_LOCK_APPEND, &b, &err), COFFER_ELOCKED);
	T_EQ_INT(repo_lock(rp, REPO_LOCK_EXCLUSIVE, &b, &err), COFFER_ELOCKED);
	repo_unlock(a);
	repo_unlock(NULL);
	T_EQ_INT(count_files(locks, ".lock"), 0);
	fixture_done(dir, rp);
}

/* forge(repo, host, pid, time, kind): write a lock file by hand. */
static void
forge(const char *repo, const char *host, long pid, long long t, int kind)
{
	char p[PATH_MAX], text[256];

	snprintf(text, sizeof(text), "coffer lock\nkind %d\npid %ld\nhost %s\n"
	    "time %lld\n", kind, pid, host, t);
	T_TRUE(unit_spit(unit_pathf(p, "%s/locks/00000000000000ff.lock", repo), text,
	    strlen(text)));
}

static bool
forged_exists(const char *repo)
{
	char p[PATH_MAX];

	return access(unit_pathf(p, "%s/locks/00000000000000ff.lock", repo),
	    F_OK) == 0;
}

static void
lock_stale_removed(void)
{
	char dir[PATH_MAX], repo[PATH_MAX], locks[PATH_MAX], p[PATH_MAX];
	char host[33] = "";
	struct coffer_err err = { 0 };
	struct repo *rp;
	struct repo_lock *a = NULL;
	struct dirent *de;
	const long dead = 999999;
	long long now = (long long)time(NULL);
	DIR *d;

	if (!fixture(dir, repo, NAME_BY_TIME, &rp))
		return;
	unit_pathf(locks, "%s/locks", repo);

	/* Learn this host's hash from a real lock file. */
	T_EQ_INT(repo_lock(rp, REPO_LOCK_APPEND, &a, &err), 0);
	if ((d = opendir(locks)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			uint8_t *text;
			size_t len;
			int kind;
			long pid;
			long long t;

			if (de->d_name[0] == '.')
				continue;
			if ((text = unit_slurp(unit_pathf(p, "%s/%s", locks, de->d_name),
			    &len)) == NULL)
				continue;
			text[len] = '\0';
			T_EQ_INT(sscanf((char *)text, "coffer lock\nkind %d\n"
			    "pid %ld\nhost %32s\ntime %lld", &kind, &pid, host,
			    &t), 4);
			T_EQ_INT(kind, REPO_LOCK_APPEND);
			T_EQ_INT(pid, getpid());
			T_TRUE(t >= now - 5 && t <= now + 5);
			coffer_free(text);
		}
		closedir(d);
	}
	repo_unlock(a);
	a = NULL;
	T_EQ_INT(strlen(host), 32);
	/* The pid we call dead must be. */
	T_TRUE(kill((pid_t)dead, 0) == -1 && errno == ESRCH);

	/* This host, a pid that no longer runs: stale, removed. */
	forge(repo, host, dead, now, REPO_LOCK_APPEND);
	T_EQ_INT(repo_lock(rp, REPO_LOCK_APPEND, &a, &err), 0);
	T_TRUE(!forged_exists(repo));
	repo_unlock(a);
	a = NULL;
	forge(repo, host, dead, now, REPO_LOCK_EXCLUSIVE);
	T_EQ_INT(repo_lock(rp, REPO_LOCK_READ, &a, &err), 0);
	T_TRUE(!forged_exists(repo));
	repo_unlock(a);
	a = NULL;

	/* This host, a live pid: kept, and it blocks. */
	forge(repo, host, (long)getpid(), now, REPO_LOCK_APPEND);
	T_EQ_INT(repo_lock(rp, REPO_LOCK_APPEND, &a, &err), COFFER_ELOCKED);
	T_TRUE(forged_exists(repo));
	T_EQ_INT(count_files(locks, ".lock"), 1);

	/* Another host: its pids mean nothing here; only age counts. */
	forge(repo, "00000000000000000000000000000000", dead, now,
	    REPO_LOCK_APPEND);
	T_EQ_INT(repo_lock(rp, REPO_LOCK_APPEND, &a, &err), COFFER_ELOCKED);
	T_TRUE(strstr(err.msg, "on another host") != NULL);
	T_TRUE(forged_exists(repo));
	forge(repo, "00000000000000000000000000000000", 1,
	    now - LOCK_STALE_SECS - 60, REPO_LOCK_EXCLUSIVE);
	T_EQ_INT(repo_lock(rp, REPO_LOCK_APPEND, &a, &err), 0);
	T_TRUE(!forged_exists(repo));
	repo_unlock(a);
	a = NULL;

	/* A time far in the future is live, not wrapped around to stale. */
	forge(repo, "00000000000000000000000000000000", 1,
	    9223372036854775807LL, REPO_LOCK_APPEND);
	T_EQ_INT(repo_lock(rp, REPO_LOCK_APPEND, &a, &err), COFFER_ELOCKED);
	T_TRUE(forged_exists(repo));

	/* An unreadable lock counts as exclusive and live. */
	T_TRUE(unit_spit(unit_pathf(p, "%s/locks/00000000000000ff.lock", repo),
	    "garbage\n", 8));
	T_EQ_INT(repo_lock(rp, REPO_LOCK_READ, &a, &err), COFFER_ELOCKED);
	T_TRUE(forged_exists(repo));
	T_EQ_INT(count_files(locks, ".lock"), 1);
	fixture_done(dir, rp);
}


/*
 * our_ident(start, boot): this process's start time (field 22 of
 * /proc/self/stat) and boot id without dashes, read here and not by
 * lock.c; false if /proc cannot tell.
 */
static bool
our_ident(char start[32], char boot[33])
{
	char buf[2048], *p;
	size_t n, o = 0;
	FILE *f;
	bool ok = false;

	start[0] = boot[0] = '\0';
	/* /proc files have no size: read them as streams. */
	if ((f = fopen("/proc/self/stat", "r")) == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	if ((p = strrchr(buf, ')')) != NULL) {
		for (int field = 2; field < 22 && p != NULL; field++)
			p = strchr(p + 1, ' ');
		ok = p != NULL && sscanf(p + 1, "%31[0-9]", start) == 1;
	}
	if ((f = fopen("/proc/sys/kernel/random/boot_id", "r")) == NULL)
		return false;
	if (fgets(buf, sizeof(buf), f) != NULL)
		for (p = buf; *p != '\0' && *p != '\n' && o < 32; p++)
			if (*p != '-')
				boot[o++] = *p;
	boot[o] = '\0';
	fclose(f);
	return ok && o == 32;
}

/* forge_text(repo, fmt, ...): write the forged lock file's text. */
static void forge_text(const char *repo, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
forge_text(const char *repo, const char *fmt, ...)
{
	char p[PATH_MAX], text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	T_TRUE(unit_spit(unit_pathf(p, "%s/locks/00000000000000ff.lock", repo),
	    text, strlen(text)));
}

/*
 * A lock records its holder's start time and boot id, as keyed values
 * (and a keyed host hash), never the values themselves; a lock of this
 * host whose pid now runs another process (another start time) or that
 * was written in an earlier boot is stale, for today's locks and for
 * those of older coffers (raw values, the old host hash) alike.  Locks without them keep the
 * old rule, and a start or boot that does not parse makes the file
 * unreadable (exclusive, kept while fresh), never stale.
 */
/*
 * lock_rules(rp, repo, host, start, start_other, boot): the staleness
 * rules of §13 on forged locks of this host that carry ${host}, our
 * start value ${start} (${start_other}: that of another process under
 * our pid) and our boot value ${boot}: raw for the locks of older
 * coffers, keyed for today's.
 */
static void
lock_rules(struct repo *rp, const char *repo, const char *host,
    const char *start, const char *start_other, const char *boot)
{
	char p[PATH_MAX];
	struct coffer_err err = { 0 };
	struct repo_lock_holder w;
	struct repo_lock *a = NULL;
	long long now = (long long)time(NULL), booted;
	long me = (long)getpid();
	struct timespec up;
	size_t nw;

	if (clock_gettime(CLOCK_BOOTTIME, &up) != 0) {
		unit_fail(__FILE__, __LINE__, "clock_gettime(CLOCK_BOOTTIME)");
		return;
	}
	booted = now - (long long)up.tv_sec;
	/* Our pid, another start time: the pid was reused, stale. */
	forge_text(repo, "coffer lock\nkind 3\npid %ld\nhost %s\ntime %lld\n"
	    "start %s\nboot %s\n", me, host, now, start_other, boot);
	T_EQ_INT(repo_lock_writers(rp, &w, &nw, &err), 0);
	T_EQ_INT(nw, 0);
	T_TRUE(forged_exists(repo));	/* a look removes nothing */
	T_EQ_INT(repo_lock(rp, REPO_LOCK_EXCLUSIVE, &a, &err), 0);
	T_TRUE(!forged_exists(repo));
	repo_unlock(a);
	a = NULL;

	/* Our pid and start, an earlier boot (written before this one): stale. */
	forge_text(repo, "coffer lock\nkind 3\npid %ld\nhost %s\ntime %lld\n"
	    "start %s\nboot 0123456789abcdef0123456789abcdef\n", me, host,
	    booted - 600, start);
	T_EQ_INT(repo_lock(rp, REPO_LOCK_READ, &a, &err), 0);
	T_TRUE(!forged_exists(repo));
	repo_unlock(a);
	a = NULL;
	/* ... with the boot id alone too. */
	forge_text(repo, "coffer lock\nkind 3\npid %ld\nhost %s\ntime %lld\n"
	    "boot 0123456789abcdef0123456789abcdef\n", me, host, booted - 600);
	T_EQ_INT(repo_lock(rp, REPO_LOCK_READ, &a, &err), 0);
	T_TRUE(!forged_exists(repo));
	repo_unlock(a);
	a = NULL;
	/*
	 * Another boot id but written since this boot began: a machine of
	 * the same host name, live while its time is fresh.
	 */
	forge_text(repo, "coffer lock\nkind 3\npid %ld\nhost %s\ntime %lld\n"
	    "start %s\nboot 0123456789abcdef0123456789abcdef\n", me, host,
	    now, start);
	T_EQ_INT(repo_lock(rp, REPO_LOCK_READ, &a, &err), COFFER_ELOCKED);
	T_TRUE(forged_exists(repo));
	forge_text(repo, "coffer lock\nkind 3\npid %ld\nhost %s\ntime %lld\n"
	    "start %s\nboot 0123456789abcdef0123456789abcdef\n", me, host,
	    now - 3600, start);
	/* An hour old: stale, as another machine's or an earlier boot's. */
	T_EQ_INT(repo_lock(rp, REPO_LOCK_READ, &a, &err), 0);
	T_TRUE(!forged_exists(repo));
	repo_unlock(a);
	a = NULL;

	/* Our pid, start and boot: live; it blocks, and it is a writer. */
	forge_text(repo, "coffer lock\nkind 2\npid %ld\nhost %s\ntime %lld\n"
	    "start %s\nboot %s\n", me, host, now, start, boot);
	T_EQ_INT(repo_lock(rp, REPO_LOCK_APPEND, &a, &err), COFFER_ELOCKED);
	T_TRUE(strstr(err.msg, "in use by a backup") != NULL);
	T_TRUE(strstr(err.msg, "on this host") != NULL);
	T_TRUE(forged_exists(repo));
	T_EQ_INT(repo_lock_writers(rp, &w, &nw, &err), 0);
	T_EQ_INT(nw, 1);
	T_EQ_INT(w.kind, REPO_LOCK_APPEND);
	T_EQ_INT(w.pid, me);
	T_TRUE(w.this_host);
	/* A reader beside it is no writer. */
	T_EQ_INT(repo_lock(rp, REPO_LOCK_READ, &a, &err), 0);
	T_EQ_INT(repo_lock_writers(rp, &w, &nw, &err), 0);
	T_EQ_INT(nw, 1);
	repo_unlock(a);
	a = NULL;
	/* Only the start time, or only the boot id: the same. */
	forge_text(repo, "coffer lock\nkind 2\npid %ld\nhost %s\ntime %lld\n"
	    "start %s\n", me, host, now, start);
	T_EQ_INT(repo_lock(rp, REPO_LOCK_APPEND, &a, &err), COFFER_ELOCKED);
	T_TRUE(forged_exists(repo));
	forge_text(repo, "coffer lock\nkind 2\npid %ld\nhost %s\ntime %lld\n"
	    "boot %s\n", me, host, now, boot);
	T_EQ_INT(repo_lock(rp, REPO_LOCK_APPEND, &a, &err), COFFER_ELOCKED);
	T_TRUE(forged_exists(repo));

	/*
	 * Garbled: a start that does not parse whole, one past 64 bits, an
	 * upper-case boot id, the two in the other order, a line §13 does
	 * not know, text after time on its line, a NUL.  Each is unreadable:
	 * exclusive and fresh, so kept, even though a value read in part
	 * (12) would differ from our start time.
	 */
	{
		const char *tails[] = { "start 12x\n", "start 12\n\n",
		    "start 18446744073709551616\n",
		    "boot 0123456789ABCDEF0123456789ABCDEF\n",
		    "boot 0123456789abcdef\n", "start\n", "start 1",
		    "user 1000\n", " \n" };

		for (size_t i = 0; i < NELEM(tails); i++) {
			forge_text(repo, "coffer lock\nkind 1\npid %ld\n"
			    "host %s\ntime %lld\n%s", me, host, now, tails[i]);
			T_EQ_INT(repo_lock(rp, REPO_LOCK_READ, &a, &err),
			    COFFER_ELOCKED);
			T_TRUE(strstr(err.msg, "an exclusive operation") !=
			    NULL);
			T_TRUE(forged_exists(repo));
		}
		forge_text(repo, "coffer lock\nkind 1\npid %ld\nhost %s\n"
		    "time %lld\nboot %s\nstart %s\n", me, host, now, boot,
		    start);
		T_EQ_INT(repo_lock(rp, REPO_LOCK_READ, &a, &err),
		    COFFER_ELOCKED);
		T_TRUE(forged_exists(repo));
		forge_text(repo, "coffer lock\nkind 1\npid %ld\nhost %s\n"
		    "time %lld%cstart %s\n", me, host, now, 'x', start);
		T_EQ_INT(repo_lock(rp, REPO_LOCK_READ, &a, &err),
		    COFFER_ELOCKED);
		T_TRUE(forged_exists(repo));
		{
			/* Another host's, stale by its time if read. */
			static const char nul[] = "coffer lock\nkind 1\npid 1\n"
			    "host x\ntime 1\n\0\n";

			T_TRUE(unit_spit(unit_pathf(p,
			    "%s/locks/00000000000000ff.lock", repo), nul,
			    sizeof(nul) - 1));
		}
		T_EQ_INT(repo_lock(rp, REPO_LOCK_READ, &a, &err),
		    COFFER_ELOCKED);
		T_TRUE(forged_exists(repo));
	}
	/* A well-formed lock of ours is read as what it says, though. */
	forge_text(repo, "coffer lock\nkind 1\npid %ld\nhost %s\ntime %lld\n"
	    "start %s\nboot %s\n", me, host, now, start, boot);
	T_EQ_INT(repo_lock(rp, REPO_LOCK_READ, &a, &err), 0);
	T_TRUE(forged_exists(repo));
	repo_unlock(a);
	a = NULL;

	/* A pid that is gone: stale, whatever start and boot say. */
	forge_text(repo, "coffer lock\nkind 3\npid 999999\nhost %s\n"
	    "time %lld\nstart %s\nboot %s\n", host, now, start, boot);
	T_EQ_INT(repo_lock(rp, REPO_LOCK_READ, &a, &err), 0);
	T_TRUE(!forged_exists(repo));
	repo_unlock(a);
	a = NULL;

	/* Another host: its boot id and pid mean nothing here. */
	forge_text(repo, "coffer lock\nkind 2\npid 1\nhost "
	    "00000000000000000000000000000000\ntime %lld\nstart 1\n"
	    "boot 0123456789abcdef0123456789abcdef\n", now);
	T_EQ_INT(repo_lock(rp, REPO_LOCK_APPEND, &a, &err), COFFER_ELOCKED);
	T_TRUE(strstr(err.msg, "on another host") != NULL);
	T_TRUE(forged_exists(repo));
	T_EQ_INT(repo_lock_writers(rp, &w, &nw, &err), 0);
	T_EQ_INT(nw, 1);
	T_EQ_INT(w.pid, 1);
	T_TRUE(!w.this_host);
}

static void
lock_start_boot(void)
{
	char dir[PATH_MAX], repo[PATH_MAX], locks[PATH_MAX], p[PATH_MAX];
	char host[33] = "", start[32], boot[33], rstart[32] = "";
	char rboot[33] = "";
	char khost[33], ohost[33], kboot[33];
	char kstart_s[32], kother_s[32], other_s[32];
	unsigned long long kstart;
	struct coffer_err err = { 0 };
	struct repo *rp;
	struct repo_lock *a = NULL;
	struct dirent *de;
	long me = (long)getpid();
	DIR *d;

	if (!our_ident(start, boot)) {
		unit_fail(__FILE__, __LINE__, "/proc does not tell this "
		    "process's start time and boot id");
		return;
	}
	if (!fixture(dir, repo, NAME_BY_TIME, &rp))
		return;
	unit_pathf(locks, "%s/locks", repo);

	/* Our own lock file carries all three, as §13 says. */
	T_EQ_INT(repo_lock(rp, REPO_LOCK_READ, &a, &err), 0);
	if ((d = opendir(locks)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			uint8_t *text;
			size_t len;
			int kind, n = -1;
			long pid;
			long long t;

			if (de->d_name[0] == '.' || (text = unit_slurp(
			    unit_pathf(p, "%s/%s", locks, de->d_name), &len)) ==
			    NULL)
				continue;
			text[len] = '\0';
			T_EQ_INT(sscanf((char *)text, "coffer lock\nkind %d\n"
			    "pid %ld\nhost %32s\ntime %lld\nstart %31[0-9]\n"
			    "boot %32[0-9a-f]\n%n", &kind, &pid, host, &t,
			    rstart, rboot, &n), 6);
			T_EQ_INT(n, (long long)len);
			coffer_free(text);
		}
		closedir(d);
	}
	repo_unlock(a);
	a = NULL;
	T_EQ_INT(strlen(host), 32);

	/*
	 * What it carries are keyed values, not the start time and boot id
	 * themselves, nor the host hash of older coffers.
	 */
	T_EQ_INT(repo_lock_values(rp, me, strtoull(start, NULL, 10), NULL,
	    khost, ohost, kboot, &kstart), 0);
	snprintf(kstart_s, sizeof(kstart_s), "%llu", kstart);
	T_EQ_STR(host, khost);
	T_EQ_STR(rstart, kstart_s);
	T_EQ_STR(rboot, kboot);
	T_TRUE(strcmp(rstart, start) != 0 && strcmp(rboot, boot) != 0 &&
	    strcmp(host, ohost) != 0);
	T_EQ_INT(repo_lock_values(rp, me, strtoull(start, NULL, 10) + 1, NULL,
	    khost, ohost, kboot, &kstart), 0);
	snprintf(kother_s, sizeof(kother_s), "%llu", kstart);
	snprintf(other_s, sizeof(other_s), "%llu",
	    strtoull(start, NULL, 10) + 1);

	/* Today's locks, and those of older coffers (raw values). */
	lock_rules(rp, repo, khost, kstart_s, kother_s, rboot);
	lock_rules(rp, repo, ohost, start, other_s, boot);
	fixture_done(dir, rp);
}

/* Escrow custodies: the CFKEYI02 block round-trips, is bound, is checked. */
static void
keyset_keyinfo_escrow(void)
{
	char dir[PATH_MAX], repo[PATH_MAX], kp[PATH_MAX];
	struct coffer_err err = { 0 };
	struct keyinfo ki;
	struct repo *rp;
	struct keyset *ks = NULL;
	uint8_t dk[KEY_LEN], dk2[KEY_LEN], sealed[114];
	uint8_t *inf = NULL, *bad = NULL;
	size_t len, nbad = 0;
	char hex[KEYID_HEX_LEN + 1];
	int r;
	struct keyset_params wrap = { .scope = SCOPE_DEVICE,
	    .custody = CUSTODY_ESCROW_WRAP, .escrow_url = "https://127.0.0.1:8443",
	    .escrow_keyid = "0123456789abcdef0123456789abcdef",
	    .sealed = sealed, .sealed_len = sizeof(sealed) };
	struct keyset_params esc = { .scope = SCOPE_PERIOD,
	    .custody = CUSTODY_ESCROW, .label = "day:2026-11-25",
	    .escrow_url = "https://e.example", .escrow_keyid = "ffee" };

	if (!fixture(dir, repo, NAME_BY_TIME, &rp))
		return;
	random_bytes(dk, sizeof(dk));
	random_bytes(dk2, sizeof(dk2));
	random_bytes(sealed, sizeof(sealed));
	T_EQ_INT(keyset_open(rp, dk, true, &wrap, &ks, &err), 0);
	if (ks == NULL)
		goto out;
	snprintf(hex, sizeof(hex), "%s", keyset_idhex(ks));
	keyset_free(ks);
	ks = NULL;
	/* Peek (no key) and open (with it) both see the whole block. */
	T_EQ_INT(keyinfo_peek(rp, hex, &ki, &err), 0);
	T_EQ_INT(ki.custody, CUSTODY_ESCROW_WRAP);
	T_EQ_STR(ki.escrow_url, "https://127.0.0.1:8443");
	T_EQ_STR(ki.escrow_keyid, "0123456789abcdef0123456789abcdef");
	T_EQ_INT((int)ki.sealed_len, (int)sizeof(sealed));
	T_TRUE(memcmp(ki.sealed, sealed, sizeof(sealed)) == 0);
	T_EQ_INT(keyset_open(rp, dk, false, NULL, &ks, &err), 0);
	if (ks != NULL) {
		T_EQ_INT(keyset_info(ks)->custody, CUSTODY_ESCROW_WRAP);
		T_EQ_STR(keyset_info(ks)->escrow_keyid,
		    "0123456789abcdef0123456789abcdef");
		keyset_free(ks);
		ks = NULL;
	}
	unit_pathf(kp, "%s/sets/%s/keyinfo", repo, hex);
	inf = unit_slurp(kp, &len);
	T_TRUE(inf != NULL && len == 24 + 1 + 22 + 1 + 32 + 2 + 114 + 60);
	if (inf == NULL || (bad = coffer_malloc(len)) == NULL)
		goto out;
	T_TRUE(memcmp(inf, "CFKEYI03", 8) == 0);
	/* Every flipped byte (URL, key id, sealed key ...) is refused. */
	for (size_t i = 0; i < len; i++) {
		memcpy(bad, inf, len);
		bad[i] ^= 0x01;
		T_TRUE(unit_spit(kp, bad, len));
		r = ksopen(rp, dk, false, &ks, &err);
		if (r != COFFER_EAUTH && r != COFFER_EFORMAT && nbad++ < 5)
			unit_fail(__FILE__, __LINE__, "keyinfo byte %zu: %d",
			    i, r);
		keyset_free(ks);
		ks = NULL;
	}
	T_EQ_INT(nbad, 0);
	T_TRUE(unit_spit(kp, inf, len));
	/* The same set under another repository id: refused (§2.3). */
	rp->id[0] ^= 0x01;
	T_EQ_INT(ksopen(rp, dk, false, &ks, &err), COFFER_EAUTH);
	keyset_free(ks);
	ks = NULL;
	rp->id[0] ^= 0x01;
	/* Downgraded to CFKEYI02, which binds no repository id: refused. */
	memcpy(bad, inf, len);
	memcpy(bad, "CFKEYI02", 8);
	T_TRUE(unit_spit(kp, bad, len));
	T_EQ_INT(ksopen(rp, dk, false, &ks, &err), COFFER_EAUTH);
	keyset_free(ks);
	ks = NULL;
	/* Old magic with an escrow custody: refused before any key. */
	memcpy(bad, inf, len);
	memcpy(bad, "CFKEYI01", 8);
	T_TRUE(unit_spit(kp, bad, len));
	T_EQ_INT(keyinfo_peek(rp, hex, &ki, &err), COFFER_EFORMAT);
	/* Custody escrow-wrap relabelled escrow (sealed key left): refused. */
	memcpy(bad, inf, len);
	bad[9] = CUSTODY_ESCROW;
	T_TRUE(unit_spit(kp, bad, len));
	T_EQ_INT(keyinfo_peek(rp, hex, &ki, &err), COFFER_EFORMAT);
	T_TRUE(unit_spit(kp, inf, len));

	/* An escrow period set: no sealed key, label kept. */
	T_EQ_INT(keyset_open(rp, dk2, true, &esc, &ks, &err), 0);
	if (ks != NULL) {
		T_EQ_INT(keyinfo_peek(rp, keyset_idhex(ks), &ki, &err), 0);
		T_EQ_INT(ki.custody, CUSTODY_ESCROW);
		T_EQ_STR(ki.label, "day:2026-11-25");
		T_EQ_STR(ki.escrow_keyid, "ffee");
		T_EQ_INT((int)ki.sealed_len, 0);
		keyset_free(ks);
		ks = NULL;
	}
	/* Escrow custody without a server: refused when writing. */
	random_bytes(dk2, sizeof(dk2));
	esc.escrow_url = NULL;
	T_EQ_INT(keyset_open(rp, dk2, true, &esc, &ks, &err), COFFER_EINVAL);
	T_TRUE(ks == NULL);
out:
	coffer_free(inf);
	coffer_free(bad);
	fixture_done(dir, rp);
}

static int
setup(void)
{
	return coffer_crypto_init();
}

UNIT_MAIN(setup,
	UNIT_TEST(repo_create_open_roundtrip),
	UNIT_TEST(repo_create_refuses_nonempty),
	UNIT_TEST(repo_config_damage_refused),
	UNIT_TEST(keyset_keyid_vector),
	UNIT_TEST(ad_layout),
	UNIT_TEST(keyset_blobs_roundtrip),
	UNIT_TEST(keyset_batches_mixed),
	UNIT_TEST(keyset_pack_tamper_detected),
	UNIT_TEST(keyset_prune_bundles),
	UNIT_TEST(keyset_prune_many_packs),
	UNIT_TEST(keyset_prune_cached),
	UNIT_TEST(index_malformed_tail),
	UNIT_TEST(keyset_other_key),
	UNIT_TEST(idxcache_built_and_memo),
	UNIT_TEST(keyset_keyinfo_bound),
	UNIT_TEST(keyset_keyinfo_escrow),
	UNIT_TEST(snapshot_roundtrip),
	UNIT_TEST(snapshot_rename_detected),
	UNIT_TEST(snapshot_fname_mapping),
	UNIT_TEST(snapshot_fname_revisions),
	UNIT_TEST(list_snapshots_sorted),
	UNIT_TEST(list_snapshots_time_names),
	UNIT_TEST(locks_conflict),
	UNIT_TEST(lock_stale_removed),
	UNIT_TEST(lock_start_boot),
)
