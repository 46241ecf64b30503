/* SPDX-License-Identifier: ISC */
/*
 * gen_corpus: write the seed corpora of the fuzz targets, in the input
 * form each target takes (see the comment at the top of each
 * tests/fuzz/fuzz_<target>.c).  Run by tests/fuzz/gen-corpus.sh, which
 * first makes a real repository and keystore with build/coffer.
 *
 *   gen_corpus REPO KEYSTORE PASSWORD-FILE OUTDIR
 *
 * From the real repository it takes: config and keyinfo files as they
 * are; the PLAINTEXT of index files, snapshot bodies, pack tables, tree
 * blobs and a few blobs (opened with the keys in the keystore, unlocked
 * with the password); small pack files whole; snapshot file names; the
 * lock file coffer writes; the file cache; the keystore's key and passwd
 * files.  Then it adds hand-made edge cases, and key files made for the
 * ids and the master key the keystore harness uses.  Every file it
 * writes is named "gen-*" (gen-corpus.sh deletes only those first, so
 * kept crash reproducers survive).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "repo/keyinfo.h"
#include "repo/tree.h"

#define SMALL	(64u << 10)	/* largest seed kept */

static const char *outdir;
static unsigned nwritten;

static void
die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("gen_corpus: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* seed(target, name, prefix, p, len): OUTDIR/target/gen-name, with an
 * optional one-byte mode prefix (-1: none). */
static void
seed(const char *target, const char *name, int prefix, const void *p,
    size_t len)
{
	char dir[PATH_MAX], path[PATH_MAX + 64];
	FILE *f;

	if (len > SMALL)
		return;
	snprintf(dir, sizeof(dir), "%s/%s", outdir, target);
	if (mkdirat_p(AT_FDCWD, dir, 0755) != 0)
		die("mkdir %s: %s", dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/gen-%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL)
		die("%s: %s", path, strerror(errno));
	if (prefix >= 0)
		fputc(prefix, f);
	if (len > 0)
		fwrite(p, 1, len, f);
	if (fclose(f) != 0)
		die("%s: write error", path);
	nwritten++;
}

static void
seed_str(const char *target, const char *name, int prefix, const char *s)
{
	seed(target, name, prefix, s, strlen(s));
}

static uint8_t *
slurp(int dirfd, const char *name, size_t *len)
{
	struct coffer_err err = { 0 };
	uint8_t *buf = NULL;

	if (file_read(dirfd, name, name, 256u << 20, &buf, len, &err) != 0)
		die("%s", err.msg);
	return buf;
}

static bool
any_name(const char *s)
{
	(void)s;
	return true;
}

/* ---- from the real repository ---- */

static void
from_index(struct keyset *ks)
{
	char **names = NULL;
	size_t n = 0;
	struct coffer_err err = { 0 };

	if (dir_list(ks->dirfd, "index", "index", any_name, &names, &n,
	    &err) != 0)
		die("%s", err.msg);
	for (size_t i = 0; i < n; i++) {
		char path[96], nm[64];
		uint8_t iid[16], *file, *plain;
		size_t len, plen;

		if (hex_decode(iid, names[i], sizeof(iid)) != 0)
			continue;
		snprintf(path, sizeof(path), "index/%s", names[i]);
		file = slurp(ks->dirfd, path, &len);
		/* The file's own magic: CFINDX01 or CFINDX02 (§9). */
		if (len < 8 || obj_open(ks, (const char *)file, OBJ_INDEX, iid,
		    sizeof(iid), file, len, &plain, &plen, path, &err) != 0)
			die("%s", err.msg);
		snprintf(nm, sizeof(nm), "%s-%zu", ks->idhex, i);
		seed("index", nm, -1, plain, plen);
		coffer_free(plain);
		coffer_free(file);
	}
	strlist_free(names, n);
}

static void
from_snapshots(struct keyset *ks)
{
	char **names = NULL;
	size_t n = 0;
	struct coffer_err err = { 0 };

	if (dir_list(ks->dirfd, "snapshots", "snapshots", any_name, &names,
	    &n, &err) != 0)
		die("%s", err.msg);
	for (size_t i = 0; i < n; i++) {
		char path[96], name[SNAPSHOT_NAME_MAX], nm[64];
		uint8_t nameid[HASH_LEN], *file, *plain;
		size_t len, plen;

		if (snapshot_name_from_fname(names[i], name) != 0)
			continue;
		snprintf(nm, sizeof(nm), "%s-%zu", ks->idhex, i);
		seed_str("snapname", nm, -1, names[i]);
		snprintf(path, sizeof(path), "snapshots/%s", names[i]);
		file = slurp(ks->dirfd, path, &len);
		hash_plain(nameid, sizeof(nameid), name, strlen(name));
		if (obj_open(ks, "CFSNAP01", OBJ_SNAPSHOT, nameid,
		    sizeof(nameid), file, len, &plain, &plen, path, &err) != 0)
			die("%s", err.msg);
		seed("snapshot", nm, -1, plain, plen);
		coffer_free(plain);
		coffer_free(file);
	}
	strlist_free(names, n);
}

static void
from_packs(struct keyset *ks)
{
	char **dirs = NULL, **names = NULL;
	size_t ndirs = 0, n = 0;
	struct coffer_err err = { 0 };
	unsigned k = 0;

	if (dir_list(ks->dirfd, "packs", "packs", any_name, &dirs, &ndirs,
	    &err) != 0)
		die("%s", err.msg);
	for (size_t d = 0; d < ndirs; d++) {
		char sub[32];

		snprintf(sub, sizeof(sub), "packs/%s", dirs[d]);
		if (dir_list(ks->dirfd, sub, sub, any_name, &names, &n,
		    &err) != 0)
			die("%s", err.msg);
		for (size_t i = 0; i < n; i++) {
			char path[96], nm[64];
			uint8_t pid[PACK_ID_LEN], ad[AD_LEN], *file, *plain;
			size_t adlen;
			size_t len;
			uint32_t hlen;

			if (hex_decode(pid, names[i], sizeof(pid)) != 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", sub, names[i]);
			file = slurp(ks->dirfd, path, &len);
			hlen = le32dec(file + len - 12);
			if ((plain = malloc(hlen)) == NULL)
				die("out of memory");
			adlen = ad_build(ad, &ks->ab, OBJ_PACKHDR, pid,
			    PACK_ID_LEN);
			if (aead_open(plain, file + len - 12 - hlen, hlen, ad,
			    adlen, KS_ENC(ks)) != 0)
				die("%s: table does not open", path);
			snprintf(nm, sizeof(nm), "%s-%u", ks->idhex, k++);
			seed("packtable", nm, 0, plain, hlen - AEAD_OVERHEAD);
			/* Whole, for the footer parsing (unauthenticated). */
			snprintf(nm, sizeof(nm), "raw-%s-%u", ks->idhex, k);
			seed("packtable", nm, 1, file, len);
			free(plain);
			coffer_free(file);
		}
		strlist_free(names, n);
		names = NULL;
		n = 0;
	}
	strlist_free(dirs, ndirs);
}

static void
from_blobs(struct keyset *ks)
{
	unsigned ntree = 0, nraw = 0, nzstd = 0;
	struct coffer_err err = { 0 };

	for (size_t i = 0; i < ks->tabcap; i++) {
		const struct idx_entry *e = &ks->tab[i];
		uint8_t ad[AD_LEN], *sealed, *plain;
		size_t adlen;
		char nm[64];
		struct wbuf out;

		if (e->type == 0 || e->loc.clen > SMALL)
			continue;
		if (e->type == OBJ_TREE && ntree < 12) {
			wbuf_init(&out, BLOB_MAX);
			if (keyset_get_blob(ks, OBJ_TREE, e->id, &out,
			    &err) != 0)
				die("%s", err.msg);
			snprintf(nm, sizeof(nm), "%s-%u", ks->idhex, ntree++);
			seed("tree", nm, -1, out.p, out.len);
			wbuf_release(&out);
		}
		/*
		 * The blob plaintext, as fuzz_blob takes it; not of a bundle
		 * member, whose location is its bundle's.
		 */
		if (e->bundled)
			continue;
		if ((sealed = malloc(e->loc.clen + 4)) == NULL ||
		    (plain = malloc(e->loc.clen + 4)) == NULL)
			die("out of memory");
		if (keyset_read_raw(ks, e->loc.pack, e->loc.offset,
		    e->loc.clen, sealed, &err) != 0)
			die("%s", err.msg);
		adlen = ad_build(ad, &ks->ab, e->type, e->id, BLOB_ID_LEN);
		if (aead_open(plain + 4, sealed, e->loc.clen, ad, adlen,
		    KS_ENC(ks)) != 0)
			die("blob does not open");
		le32enc(plain, e->loc.rawlen);
		if ((plain[4] == 0 && nraw < 3) || (plain[4] == 1 &&
		    nzstd < 3)) {
			snprintf(nm, sizeof(nm), "%s-codec%u-%u", ks->idhex,
			    plain[4], plain[4] ? nzstd++ : nraw++);
			seed("blob", nm, -1, plain, e->loc.clen - AEAD_OVERHEAD +
			    4);
		}
		free(sealed);
		free(plain);
	}
}

static void
from_keyinfo(struct keyset *ks)
{
	uint8_t *file;
	size_t len;
	char nm[64];

	file = slurp(ks->dirfd, "keyinfo", &len);
	snprintf(nm, sizeof(nm), "%s", ks->idhex);
	seed("keyinfo", nm, -1, file, len);
	/* The load form: cleartext part, then the body plaintext. */
	if (len > 60) {
		uint8_t buf[1024];

		memcpy(buf, file, len - 60);
		le32enc(buf + len - 60, ks->ki.chunk_min);
		le32enc(buf + len - 56, ks->ki.chunk_avg);
		le32enc(buf + len - 52, ks->ki.chunk_max);
		le64enc(buf + len - 48, (uint64_t)ks->ki.created);
		snprintf(nm, sizeof(nm), "load-%s", ks->idhex);
		seed("keyinfo", nm, -1, buf, len - 40);
	}
	coffer_free(file);
}

static void
from_repo(struct repo *rp, struct keystore *kst, const char *ksdir)
{
	char **sets = NULL;
	size_t nsets = 0;
	struct coffer_err err = { 0 };
	uint8_t *file;
	size_t len;

	file = slurp(rp->dirfd, "config", &len);
	seed("config", "real", -1, file, len);
	coffer_free(file);
	if (repo_list_sets(rp, &sets, &nsets, &err) != 0)
		die("%s", err.msg);
	for (size_t s = 0; s < nsets; s++) {
		uint8_t keyid[KEYID_LEN], *dk = NULL;
		struct keyset *ks = NULL;
		char cache[PATH_MAX];

		if (hex_decode(keyid, sets[s], sizeof(keyid)) != 0)
			continue;
		if (keystore_get_key(kst, keyid, &dk, &err) != 0)
			die("%s", err.msg);
		if (keyset_open(rp, dk, false, NULL, &ks, &err) != 0 ||
		    keyset_load_index(ks, true, &err) != 0)
			die("%s", err.msg);
		secret_free(dk);
		from_keyinfo(ks);
		from_index(ks);
		from_snapshots(ks);
		from_packs(ks);
		from_blobs(ks);
		/* The file cache, without its MAC (fuzz_filecache adds it). */
		snprintf(cache, sizeof(cache), "%s/cache/%s.cache", ksdir,
		    sets[s]);
		if (access(cache, R_OK) == 0) {
			file = slurp(AT_FDCWD, cache, &len);
			seed("filecache", sets[s], 1, file, len - HASH_LEN);
			seed("filecache", "mac-of-another-key", 0, file, len);
			coffer_free(file);
		}
		keyset_free(ks);
	}
	strlist_free(sets, nsets);
}

/* The lock text repo_lock writes, and variants on its lines. */
static void
from_lock(struct repo *rp)
{
	struct coffer_err err = { 0 };
	struct repo_lock *l = NULL;
	char **names = NULL, text[512], alt[600];
	char *host, *time_, *start;
	size_t n = 0, len;
	uint8_t *file;

	if (repo_lock(rp, REPO_LOCK_APPEND, &l, &err) != 0 ||
	    dir_list(rp->dirfd, "locks", "locks", any_name, &names, &n,
	    &err) != 0 || n != 1)
		die("lock: %s", err.msg);
	snprintf(text, sizeof(text), "locks/%s", names[0]);
	file = slurp(rp->dirfd, text, &len);
	repo_unlock(l);
	strlist_free(names, n);
	snprintf(text, sizeof(text), "%.*s", (int)len, (char *)file);
	coffer_free(file);
	/* As written: another host's (another repository id) live lock. */
	seed_str("lock", "real-read", 0, text);
	seed_str("lock", "real-append", 1, text);
	seed_str("lock", "real-exclusive", 2, text);
	if ((host = strstr(text, "host ")) == NULL ||
	    (time_ = strstr(text, "time ")) == NULL)
		die("lock text '%s'", text);
	*host = '\0';
	/* The start time and boot id written are this (gen_corpus) run's. */
	if ((start = strstr(time_, "start ")) != NULL)
		*start = '\0';
	/* This host, this (live) process, as an older coffer wrote it. */
	snprintf(alt, sizeof(alt), "coffer lock\nkind 2\npid =\nhost =\n%s",
	    time_);
	seed_str("lock", "same-host-live", 1, alt);
	/* ... and as this one does: its start time and boot: live. */
	snprintf(alt, sizeof(alt), "coffer lock\nkind 2\npid =\nhost =\n%s"
	    "start =\nboot =\n", time_);
	seed_str("lock", "same-host-live-ident", 1, alt);
	/* Our pid, but another start time: the pid was reused; stale. */
	snprintf(alt, sizeof(alt), "coffer lock\nkind 3\npid =\nhost =\n%s"
	    "start 1\nboot =\n", time_);
	seed_str("lock", "same-host-pid-reused", 2, alt);
	/* Our pid and start, an earlier boot: stale. */
	snprintf(alt, sizeof(alt), "coffer lock\nkind 3\npid =\nhost =\n%s"
	    "start =\nboot 0123456789abcdef0123456789abcdef\n", time_);
	seed_str("lock", "same-host-other-boot", 0, alt);
	/* Today's keyed values: live; another start: stale; another boot. */
	snprintf(alt, sizeof(alt), "coffer lock\nkind 2\npid =\nhostk =\n%s"
	    "startk =\nbootk =\n", time_);
	seed_str("lock", "keyed-live", 1, alt);
	snprintf(alt, sizeof(alt), "coffer lock\nkind 3\npid =\nhostk =\n%s"
	    "start 1\nbootk =\n", time_);
	seed_str("lock", "keyed-pid-reused", 2, alt);
	snprintf(alt, sizeof(alt), "coffer lock\nkind 3\npid =\nhostk =\n%s"
	    "startk =\nboot 0123456789abcdef0123456789abcdef\n", time_);
	seed_str("lock", "keyed-other-boot", 0, alt);
	/* A start time that does not parse whole: unreadable, kept. */
	snprintf(alt, sizeof(alt), "coffer lock\nkind 2\npid =\nhost =\n%s"
	    "start 12x\nboot =\n", time_);
	seed_str("lock", "start-garbled", 1, alt);
	/* A line §13 does not know: unreadable, kept. */
	snprintf(alt, sizeof(alt), "coffer lock\nkind 1\npid =\nhost =\n%s"
	    "start =\nboot =\nuser 0\n", time_);
	seed_str("lock", "unknown-line", 2, alt);
	/* This host, a process that is gone: stale. */
	snprintf(alt, sizeof(alt), "coffer lock\nkind 3\npid 2147483646\n"
	    "host =\n%s", time_);
	seed_str("lock", "same-host-gone", 0, alt);
	/* Another host, not refreshed for long: stale. */
	seed_str("lock", "other-host-old", 2, "coffer lock\nkind 3\npid 1\n"
	    "host 00000000000000000000000000000000\ntime 1000\n");
	seed_str("lock", "other-host-future", 0, "coffer lock\nkind 3\n"
	    "pid 1\nhost 00000000000000000000000000000000\n"
	    "time 99999999999\n");
	seed_str("lock", "kind-unknown", 0, "coffer lock\nkind 7\npid =\n"
	    "host =\ntime 99999999999\n");
	seed_str("lock", "garbage", 0, "coffer lock\nkind x\n");
	seed_str("lock", "empty", 0, "");
}

/* ---- hand-made ---- */

static void
handmade_config(void)
{
	static const char *const nb[] = { "time", "count" };
	static const char *const sc[] = { "device", "period", "backup" };
	static const char *const pe[] = { "day", "week", "month" };
	char text[512], nm[64];
	uint8_t sum[16];
	char hex[33];
	int n;

	for (int i = 0; i < 3; i++) {
		n = snprintf(text, sizeof(text), "coffer repository\n"
		    "version %d\nid 00112233445566778899aabbccddeeff\n"
		    "name-by %s\nscope %s\nperiod %s\n", i == 2 ? 2 : 1,
		    nb[i % 2], sc[i], pe[(i + 1) % 3]);
		hash_plain(sum, sizeof(sum), text, (size_t)n);
		hex_encode(hex, sum, sizeof(sum));
		snprintf(text + n, sizeof(text) - (size_t)n, "checksum %s\n",
		    hex);
		snprintf(nm, sizeof(nm), "variant-%d", i);
		seed_str("config", nm, -1, text);
	}
	seed_str("config", "truncated", -1, "coffer repository\nversion 1\n");
	seed_str("config", "empty", -1, "");
}

static void
handmade_tree(void)
{
	struct tree t = { 0 };
	struct tree_entry *e;
	struct wbuf b;
	static uint8_t chunks[2][BLOB_ID_LEN] = { { 1 }, { 2 } };
	/* u::rw-, g::r--, o::--- (docs/FORMAT.md §11.1) */
	static uint8_t acl[] = { 2, 0, 0, 0,
	    0x01, 0, 6, 0, 0xff, 0xff, 0xff, 0xff,
	    0x04, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,
	    0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
	static struct xattr xa[4] = {
		{ "system.posix_acl_access", acl, sizeof(acl) },
		{ "trusted.t", (uint8_t *)"", 0 },
		{ "user.a", (uint8_t *)"1", 1 },
		{ "user.b", (uint8_t *)"", 0 },
	};
	static const char *const names[] = { "blk", "chr", "dir", "fifo",
	    "file", "link" };
	static const int types[] = { NODE_BLK, NODE_CHR, NODE_DIR, NODE_FIFO,
	    NODE_FILE, NODE_SYMLINK };

	wbuf_init(&b, SMALL);
	tree_encode(&t, &b);
	seed("tree", "empty", -1, b.p, b.len);
	for (size_t i = 0; i < 6; i++) {
		if ((e = tree_add(&t)) == NULL)
			die("out of memory");
		e->name = (uint8_t *)names[i];
		e->namelen = strlen(names[i]);
		e->type = types[i];
		e->mode = 0644;
		e->mtime_sec = -1;
		e->mtime_nsec = 999999999;
		if (types[i] == NODE_FILE) {
			e->size = 3;
			e->link_id = 1;
			e->flags = NODE_F_SPARSE;
			e->chunks = chunks;
			e->nchunks = 2;
			e->iflags = 0x50;	/* immutable, nodump */
			e->xattrs = xa;
			e->nxattrs = 4;
		} else if (types[i] == NODE_SYMLINK) {
			e->target = (uint8_t *)"../x";
			e->targetlen = 4;
		} else if (types[i] == NODE_DIR) {
			memset(e->subtree, 0xab, sizeof(e->subtree));
			e->iflags = 0x800000;	/* no-COW */
			e->xattrs = xa + 2;
			e->nxattrs = 1;
		} else if (types[i] == NODE_BLK || types[i] == NODE_CHR) {
			e->rdev = 0x0801;
		}
	}
	wbuf_reset(&b);
	tree_encode(&t, &b);
	seed("tree", "every-type", -1, b.p, b.len);
	/* The same in version 1 (no iflags), as older coffers wrote. */
	t.version = 1;
	wbuf_reset(&b);
	tree_encode(&t, &b);
	seed("tree", "every-type-v1", -1, b.p, b.len);
	t.version = 0;
	/* Not sorted: must be refused. */
	t.e[0].name = (uint8_t *)"zzz";
	t.e[0].namelen = 3;
	wbuf_reset(&b);
	tree_encode(&t, &b);
	seed("tree", "unsorted", -1, b.p, b.len);
	/* A split tree (a large folder, FORMAT.md §11.4) of three parts. */
	{
		uint8_t ids[3][BLOB_ID_LEN];

		for (size_t k = 0; k < 3; k++)
			memset(ids[k], 0x21 + (int)k, BLOB_ID_LEN);
		wbuf_reset(&b);
		tree_split_encode((const uint8_t (*)[BLOB_ID_LEN])ids, 3, &b);
		seed("tree", "split", -1, b.p, b.len);
	}
	wbuf_release(&b);
	free(t.e);	/* the entries point at static data */
}

static void
handmade_snapshot(void)
{
	static const char *const names[] = { "1", "2026-11-25T17:31:00Z",
	    "2026-11-25T17:31:00Z-12" };
	struct wbuf b;

	wbuf_init(&b, SMALL);
	for (size_t i = 0; i < 3; i++) {
		char nm[32];

		wbuf_reset(&b);
		wbuf_u32(&b, 1);
		wbuf_bytes32(&b, names[i], strlen(names[i]));
		wbuf_u64(&b, 1764091860);
		wbuf_u32(&b, 123);
		wbuf_bytes32(&b, "host", 4);
		wbuf_bytes32(&b, "", 0);
		wbuf_u32(&b, (uint32_t)i);
		for (size_t p = 0; p < i; p++)
			wbuf_bytes32(&b, "home/me", 7);
		wbuf_put(&b, (uint8_t[BLOB_ID_LEN]){ 7 }, BLOB_ID_LEN);
		for (int k = 0; k < 4; k++)
			wbuf_u64(&b, (uint64_t)k);
		snprintf(nm, sizeof(nm), "paths-%zu", i);
		seed("snapshot", nm, -1, b.p, b.len);
	}
	wbuf_release(&b);
}

static void
handmade_index(void)
{
	struct wbuf b;

	wbuf_init(&b, SMALL);
	wbuf_u32(&b, 0);
	seed("index", "no-packs", -1, b.p, b.len);
	wbuf_reset(&b);
	wbuf_u32(&b, 2);
	for (int p = 0; p < 2; p++) {
		wbuf_put(&b, (uint8_t[PACK_ID_LEN]){ (uint8_t)p }, PACK_ID_LEN);
		wbuf_u32(&b, 2);
		for (int k = 0; k < 2; k++) {
			/* The same blob listed twice: the first wins. */
			wbuf_u8(&b, (uint8_t)(OBJ_DATA + k));
			wbuf_put(&b, (uint8_t[BLOB_ID_LEN]){ 9 }, BLOB_ID_LEN);
			wbuf_u64(&b, 8 + 100 * (uint64_t)p);
			wbuf_u32(&b, 41 + (uint32_t)k);
			wbuf_u32(&b, 1 + (uint32_t)k);
		}
	}
	seed("index", "duplicates", -1, b.p, b.len);
	seed("packtable", "index-shaped", 0, b.p, b.len);
	wbuf_reset(&b);
	wbuf_u32(&b, 1);
	wbuf_u8(&b, OBJ_TREE);
	wbuf_put(&b, (uint8_t[BLOB_ID_LEN]){ 0 }, BLOB_ID_LEN);
	wbuf_u64(&b, 8);
	wbuf_u32(&b, 60);
	wbuf_u32(&b, 19);
	seed("packtable", "one-tree", 0, b.p, b.len);
	wbuf_release(&b);
}

static void
handmade_snapname(void)
{
	static const char *const v[] = {
		"1", "0", "01", "9999999999999999999", "99999999999999999999",
		"2026-11-25T173100Z", "2026-11-25T173100Z-2",
		"2026-11-25T173100Z-02", "2026-11-25T173100Z-99999",
		"2026-11-25T173100Z-100000", "2026-11-25T17:31:00Z",
		"2026-11-25T173100Z.tmp", ".2026-11-25T173100Z",
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char nm[16];

		snprintf(nm, sizeof(nm), "hand-%zu", i);
		seed_str("snapname", nm, -1, v[i]);
	}
}

static void
handmade_filecache(void)
{
	struct wbuf b;

	wbuf_init(&b, SMALL);
	wbuf_put(&b, "CFCACHE2", 8);
	wbuf_u64(&b, 1);
	wbuf_u64(&b, 0);
	seed("filecache", "empty", 1, b.p, b.len);
	wbuf_reset(&b);
	wbuf_put(&b, "CFCACHE2", 8);
	wbuf_u64(&b, 7);		/* generation */
	wbuf_u64(&b, 3);
	for (int i = 0; i < 3; i++) {
		/* Entries 0 and 2 share (dev, ino). */
		wbuf_u64(&b, 1);
		wbuf_u64(&b, i == 2 ? 10 : 10 + (uint64_t)i);
		wbuf_u64(&b, 100);
		wbuf_u64(&b, 5);
		wbuf_u64(&b, 6);
		wbuf_u64(&b, (uint64_t)(5 + i));	/* seen_gen */
		wbuf_u64(&b, 1700000000);		/* seen_time */
		wbuf_u32(&b, i == 1 ? 0x10 : 0);	/* iflags */
		wbuf_u32(&b, (uint32_t)i);
		for (int k = 0; k < i; k++)
			wbuf_put(&b, (uint8_t[BLOB_ID_LEN]){ (uint8_t)k },
			    BLOB_ID_LEN);
		/* Entry 1 has two attributes, one of them empty. */
		wbuf_u32(&b, i == 1 ? 2 : 0);
		if (i == 1) {
			wbuf_u16(&b, 10);
			wbuf_put(&b, "user.empty", 10);
			wbuf_bytes32(&b, "", 0);
			wbuf_u16(&b, 11);
			wbuf_put(&b, "user.colour", 11);
			wbuf_bytes32(&b, "blue", 4);
		}
	}
	seed("filecache", "three", 1, b.p, b.len);
	wbuf_release(&b);
}

static void
handmade_blob(void)
{
	/* rawlen u32 | codec | payload */
	seed("blob", "codec-unknown", -1, "\x03\x00\x00\x00\x02xyz", 8);
	seed("blob", "raw-empty", -1, "\x00\x00\x00\x00\x00", 5);
	seed("blob", "no-codec", -1, "\x00\x00\x00\x00", 4);
}

/* Key files for the ids and master key of fuzz_keyfile. */
static void
harness_keystore(void)
{
	struct coffer_err err = { 0 };
	struct keystore *ks = NULL;
	uint8_t pw[FUZZ_PASSWD_LEN], *file;
	char dir[PATH_MAX], hex[33], name[64];
	size_t len;
	int fd;

	fuzz_path(dir, sizeof(dir), "ks");
	if (keystore_open(dir, true, &ks, &err) != 0 ||
	    keystore_put_key(ks, fuzz_ks_keyid, fuzz_dk, &err) != 0 ||
	    keystore_new_secret(ks, fuzz_ks_repoid, &err) != 0)
		die("%s", err.msg);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY)) == -1)
		die("%s", dir);
	hex_encode(hex, fuzz_ks_keyid, sizeof(fuzz_ks_keyid));
	snprintf(name, sizeof(name), "set-%s.key", hex);
	file = slurp(fd, name, &len);
	seed("keyfile", "set-clear", 0, file, len);
	seed("keyfile", "set-clear-unlocked", 1, file, len);
	coffer_free(file);
	hex_encode(hex, fuzz_ks_repoid, sizeof(fuzz_ks_repoid));
	snprintf(name, sizeof(name), "repo-%s.key", hex);
	file = slurp(fd, name, &len);
	seed("keyfile", "repo-clear", 0, file, len);
	coffer_free(file);
	/* Under the harness passwd: wrapped with fuzz_kmk. */
	fuzz_passwd_file(pw);
	seed("passwd", "harness", 0, pw, sizeof(pw));
	seed("passwd", "harness-fix", 1, pw, sizeof(pw));
	fuzz_write(fd, "passwd", pw, sizeof(pw), 0600);
	if (keystore_unlock(ks, FUZZ_PASSWORD, strlen(FUZZ_PASSWORD),
	    &err) != 0 || keystore_put_key(ks, fuzz_ks_keyid, fuzz_dk,
	    &err) != 0)
		die("%s", err.msg);
	hex_encode(hex, fuzz_ks_keyid, sizeof(fuzz_ks_keyid));
	snprintf(name, sizeof(name), "set-%s.key", hex);
	file = slurp(fd, name, &len);
	seed("keyfile", "set-wrapped-unlocked", 1, file, len);
	seed("keyfile", "set-wrapped-locked", 0, file, len);
	/* Wrap mode: header then the key, sealed by the harness. */
	{
		uint8_t w[64];

		memcpy(w, file, 32);
		memcpy(w + 32, fuzz_dk, 32);
		seed("keyfile", "set-wrap-mode", 5, w, sizeof(w));
	}
	coffer_free(file);
	close(fd);
	keystore_free(ks);
}

static void
real_keystore(const char *ksdir)
{
	DIR *d;
	struct dirent *de;
	unsigned k = 0;
	int fd;

	if ((fd = open(ksdir, O_RDONLY | O_DIRECTORY)) == -1 ||
	    (d = fdopendir(fd)) == NULL)
		die("%s", ksdir);
	while ((de = readdir(d)) != NULL) {
		uint8_t *file;
		size_t len;
		char nm[32];

		if (strcmp(de->d_name, "passwd") == 0) {
			file = slurp(fd, "passwd", &len);
			seed("passwd", "real", 0, file, len);
			seed("passwd", "real-fix", 1, file, len);
			coffer_free(file);
		} else if (strstr(de->d_name, ".key") != NULL && k < 2) {
			file = slurp(fd, de->d_name, &len);
			snprintf(nm, sizeof(nm), "real-%u", k++);
			seed("keyfile", nm, 1, file, len);
			coffer_free(file);
		}
	}
	closedir(d);
}

int
main(int argc, char **argv)
{
	struct coffer_err err = { 0 };
	struct repo *rp = NULL;
	struct keystore *kst = NULL;
	uint8_t *pw;
	size_t pwlen;

	if (argc != 5) {
		fprintf(stderr, "usage: gen_corpus REPO KEYSTORE PASSWORD-FILE "
		    "OUTDIR\n");
		return 2;
	}
	outdir = argv[4];
	fuzz_setup();
	if (repo_open(argv[1], &rp, &err) != 0 ||
	    keystore_open(argv[2], false, &kst, &err) != 0)
		die("%s", err.msg);
	pw = slurp(AT_FDCWD, argv[3], &pwlen);
	while (pwlen > 0 && (pw[pwlen - 1] == '\n' || pw[pwlen - 1] == '\r'))
		pwlen--;
	if (keystore_has_password(kst) && keystore_unlock(kst, (char *)pw,
	    pwlen, &err) != 0)
		die("%s", err.msg);
	coffer_free(pw);
	from_repo(rp, kst, argv[2]);
	from_lock(rp);
	real_keystore(argv[2]);
	handmade_config();
	handmade_tree();
	handmade_snapshot();
	handmade_index();
	handmade_snapname();
	handmade_filecache();
	handmade_blob();
	harness_keystore();
	keystore_free(kst);
	repo_free(rp);
	printf("gen_corpus: %u seeds in %s\n", nwritten, outdir);
	return 0;
}
