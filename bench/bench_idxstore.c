/* SPDX-License-Identifier: ISC */
/*
 * bench_idxstore STORE [N [DIR]]: the device's chunk index kept in
 * STORE, "table" (the index cache's layout, FORMAT.md §18.8), "lmdb"
 * (LMDB, one B-tree keyed by blob id) or "lmdb-wm" (the same with
 * MDB_WRITEMAP: dirty pages go to the map, not to malloc'd memory): N
 * (default 1,600,000) random 32-byte ids with 21-byte values (type,
 * pack, offset, lengths) are put in, then 1,000,000 lookups of ids that
 * are there and 1,000,000 of ids that are not are made, in random
 * order.  Prints one Markdown row: build seconds (wall and CPU), the
 * file's size on disk (blocks: LMDB's file is as long as its map),
 * microseconds a lookup (hits, misses; warm page cache: the file was
 * just written) and the peak RSS of the process.  One store a process,
 * so the peak RSS is that store's.  The ids come from a fixed seed:
 * every store gets the same.
 *
 * The table is built as idxcache.c builds the cache: entries go to a
 * scratch file unsorted, are sorted in slices of 16 MiB by id prefix
 * and written out; then read once to make the in-memory Bloom filter (8
 * bits an entry, 4 probes) and bucket table (~16 entries a bucket), and
 * a lookup that passes the filter reads its bucket with one pread, as
 * idxcache_get does (the keyed MAC over the file is left out: both
 * stores would need one).  LMDB: one write transaction, MDB_NOSYNC
 * (the cache is rebuilt when damaged, so it need not be durable),
 * MDB_NORDAHEAD, keys inserted in random order; lookups in read-only
 * transactions of 1,000 lookups each.  Not part of the tests.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ID_LEN		32
#define VAL_LEN		21
#define ENT_LEN		(ID_LEN + VAL_LEN)
#define NLOOK		1000000
#define SORT_MEM	(16u << 20)
#define BUCKET		16
#define SCAN_MAX	128
#define BLOCK		19784

static uint64_t rng_state;

static uint64_t
rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* make_id(seed, i, id): the i-th id of the stream ${seed}. */
static void
make_id(uint64_t seed, uint64_t i, uint8_t id[ID_LEN])
{
	rng_state = seed * 0x100000001b3ULL + i * 0x9e3779b97f4a7c15ULL;
	for (int k = 0; k < ID_LEN; k += 8) {
		uint64_t v = rng_next();

		memcpy(id + k, &v, 8);
	}
}

static void
make_val(uint64_t i, uint8_t v[VAL_LEN])
{
	memset(v, 0, VAL_LEN);
	v[0] = 1;
	memcpy(v + 1, &i, sizeof(i));
}

static double
wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

static int
write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
pread_all(int fd, void *p, size_t n, off_t off)
{
	uint8_t *b = p;

	while (n > 0) {
		ssize_t r = pread(fd, b, n, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

/* ---- the table ---- */

struct table {
	int		 fd;
	uint64_t	 n;
	uint32_t	 bbits;
	uint32_t	*bdir;
	uint8_t		*bloom;
	uint64_t	 mask;
};

static uint32_t
prefix(const uint8_t *id)
{
	return (uint32_t)id[0] << 24 | (uint32_t)id[1] << 16 |
	    (uint32_t)id[2] << 8 | id[3];
}

static void
bloom_bits(const struct table *t, const uint8_t *id, uint64_t bit[4])
{
	uint64_t h1, h2;

	memcpy(&h1, id + 8, 8);
	memcpy(&h2, id + 16, 8);
	h2 |= 1;
	for (int j = 0; j < 4; j++)
		bit[j] = (h1 + (uint64_t)j * h2) & t->mask;
}

static int
ent_cmp(const void *a, const void *b)
{
	return memcmp(a, b, ID_LEN);
}

static void
table_build(const char *dir, uint64_t n, struct table *t)
{
	char raw[4200], path[4200];
	uint8_t *buf, *slice;
	uint64_t slices, nb;
	int rfd, fd;
	size_t blen = 0;

	snprintf(raw, sizeof(raw), "%s/table.raw", dir);
	snprintf(path, sizeof(path), "%s/table.index", dir);
	if ((rfd = open(raw, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    (fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1)
		die("open");
	(void)unlink(raw);
	if ((buf = malloc((size_t)BLOCK * ENT_LEN)) == NULL)
		die("malloc");
	for (uint64_t i = 0; i < n; i++) {
		make_id(1, i, buf + blen);
		make_val(i, buf + blen + ID_LEN);
		blen += ENT_LEN;
		if (blen == (size_t)BLOCK * ENT_LEN || i + 1 == n) {
			if (write_all(rfd, buf, blen) != 0)
				die("write");
			blen = 0;
		}
	}
	slices = n * ENT_LEN * 5 / 4 / SORT_MEM + 1;
	if ((slice = malloc(SORT_MEM)) == NULL)
		die("malloc");
	for (uint64_t s = 0; s < slices; s++) {
		uint64_t lo = (s << 32) / slices, hi = ((s + 1) << 32) / slices;
		size_t k = 0;

		for (uint64_t done = 0; done < n;) {
			size_t m = n - done < BLOCK ? (size_t)(n - done) :
			    BLOCK;

			if (pread_all(rfd, buf, m * ENT_LEN,
			    (off_t)(done * ENT_LEN)) != 0)
				die("pread");
			for (size_t i = 0; i < m; i++) {
				uint64_t pf = prefix(buf + i * ENT_LEN);

				if (pf < lo || pf >= hi)
					continue;
				if ((k + 1) * ENT_LEN > SORT_MEM) {
					fprintf(stderr, "slice overflow\n");
					exit(1);
				}
				memcpy(slice + k * ENT_LEN, buf + i * ENT_LEN,
				    ENT_LEN);
				k++;
			}
			done += m;
		}
		qsort(slice, k, ENT_LEN, ent_cmp);
		if (write_all(fd, slice, k * ENT_LEN) != 0)
			die("write");
	}
	free(slice);
	close(rfd);
	/* Open: the filter and the bucket table, from one read. */
	memset(t, 0, sizeof(*t));
	t->fd = fd;
	t->n = n;
	while (t->bbits < 28 && ((uint64_t)BUCKET << t->bbits) < n)
		t->bbits++;
	nb = 1ULL << t->bbits;
	t->mask = 1023;
	while (t->mask + 1 < n * 8)
		t->mask = t->mask * 2 + 1;
	if ((t->bdir = calloc(nb + 1, sizeof(uint32_t))) == NULL ||
	    (t->bloom = calloc((t->mask + 1) / 8, 1)) == NULL)
		die("calloc");
	{
		uint64_t last = 0;

		for (uint64_t done = 0; done < n;) {
			size_t m = n - done < BLOCK ? (size_t)(n - done) :
			    BLOCK;

			if (pread_all(fd, buf, m * ENT_LEN,
			    (off_t)(done * ENT_LEN)) != 0)
				die("pread");
			for (size_t i = 0; i < m; i++) {
				const uint8_t *p = buf + i * ENT_LEN;
				uint64_t bit[4], b;

				b = t->bbits == 0 ? 0 : prefix(p) >>
				    (32 - t->bbits);
				for (; last <= b; last++)
					t->bdir[last] = (uint32_t)(done + i);
				bloom_bits(t, p, bit);
				for (int j = 0; j < 4; j++)
					t->bloom[bit[j] >> 3] |= (uint8_t)(1u <<
					    (bit[j] & 7));
			}
			done += m;
		}
		for (; last <= nb; last++)
			t->bdir[last] = (uint32_t)n;
	}
	free(buf);
}

static bool
table_get(const struct table *t, const uint8_t *id, uint8_t val[VAL_LEN])
{
	uint8_t buf[SCAN_MAX * ENT_LEN];
	uint64_t bit[4];
	uint32_t lo, hi, b;

	bloom_bits(t, id, bit);
	for (int j = 0; j < 4; j++)
		if ((t->bloom[bit[j] >> 3] & (1u << (bit[j] & 7))) == 0)
			return false;
	b = t->bbits == 0 ? 0 : prefix(id) >> (32 - t->bbits);
	lo = t->bdir[b];
	hi = t->bdir[b + 1];
	if (hi - lo > SCAN_MAX)
		hi = lo + SCAN_MAX;	/* not met at these sizes */
	if (hi == lo || pread_all(t->fd, buf, (size_t)(hi - lo) * ENT_LEN,
	    (off_t)((uint64_t)lo * ENT_LEN)) != 0)
		return false;
	for (uint32_t i = 0; i < hi - lo; i++)
		if (memcmp(buf + i * ENT_LEN, id, ID_LEN) == 0) {
			memcpy(val, buf + i * ENT_LEN + ID_LEN, VAL_LEN);
			return true;
		}
	return false;
}

/* ---- LMDB ---- */

static void
lmdb_check(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "%s: %s\n", what, mdb_strerror(rc));
		exit(1);
	}
}

static void
lmdb_build(const char *dir, uint64_t n, bool wm, MDB_env **envp,
    MDB_dbi *dbi)
{
	MDB_env *env;
	MDB_txn *txn;
	uint8_t id[ID_LEN], v[VAL_LEN];

	lmdb_check(mdb_env_create(&env), "mdb_env_create");
	lmdb_check(mdb_env_set_mapsize(env, (size_t)n * 256 + (64u << 20)),
	    "mdb_env_set_mapsize");
	lmdb_check(mdb_env_open(env, dir, MDB_NOSYNC | MDB_NORDAHEAD |
	    (wm ? MDB_WRITEMAP : 0), 0600), "mdb_env_open");
	lmdb_check(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
	lmdb_check(mdb_dbi_open(txn, NULL, 0, dbi), "mdb_dbi_open");
	for (uint64_t i = 0; i < n; i++) {
		MDB_val k = { ID_LEN, id }, d = { VAL_LEN, v };

		make_id(1, i, id);
		make_val(i, v);
		lmdb_check(mdb_put(txn, *dbi, &k, &d, 0), "mdb_put");
	}
	lmdb_check(mdb_txn_commit(txn), "mdb_txn_commit");
	lmdb_check(mdb_env_sync(env, 1), "mdb_env_sync");
	*envp = env;
}

int
main(int argc, char **argv)
{
	const char *store = argc > 1 ? argv[1] : "";
	uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 1600000;
	bool wm = strcmp(store, "lmdb-wm") == 0;
	bool lmdb = wm || strcmp(store, "lmdb") == 0;
	char dir[4096], path[4200];
	double w0, c0, wb, cb, hit_us, miss_us;
	struct table t;
	MDB_env *env = NULL;
	MDB_dbi dbi = 0;
	struct rusage ru;
	struct stat sb;
	uint8_t id[ID_LEN], v[VAL_LEN];
	uint64_t found = 0;

	if ((!lmdb && strcmp(store, "table") != 0) || n == 0) {
		fprintf(stderr, "usage: bench_idxstore table|lmdb|lmdb-wm "
		    "[N [DIR]]\n");
		return 2;
	}
	if (argc > 3) {
		snprintf(dir, sizeof(dir), "%s", argv[3]);
		(void)mkdir(dir, 0700);
	} else {
		const char *tmp = getenv("TMPDIR");

		snprintf(dir, sizeof(dir), "%s/bench_idxstore.XXXXXX",
		    tmp != NULL ? tmp : "/tmp");
		if (mkdtemp(dir) == NULL)
			die("mkdtemp");
	}
	w0 = wall_now();
	c0 = cpu_now();
	if (lmdb)
		lmdb_build(dir, n, wm, &env, &dbi);
	else
		table_build(dir, n, &t);
	wb = wall_now() - w0;
	cb = cpu_now() - c0;
	snprintf(path, sizeof(path), lmdb ? "%s/data.mdb" : "%s/table.index",
	    dir);
	if (stat(path, &sb) != 0)
		die(path);
	for (int miss = 0; miss < 2; miss++) {
		MDB_txn *txn = NULL;

		w0 = wall_now();
		for (uint64_t i = 0; i < NLOOK; i++) {
			/* Hits: ids of stream 1 in a scattered order. */
			uint64_t j = (i * 2654435761u) % n;
			bool ok;

			make_id(miss ? 2 : 1, miss ? i : j, id);
			if (lmdb) {
				MDB_val k = { ID_LEN, id }, d;
				int rc;

				if (txn == NULL)
					lmdb_check(mdb_txn_begin(env, NULL,
					    MDB_RDONLY, &txn), "mdb_txn_begin");
				rc = mdb_get(txn, dbi, &k, &d);
				if (rc != 0 && rc != MDB_NOTFOUND)
					lmdb_check(rc, "mdb_get");
				ok = rc == 0 && d.mv_size == VAL_LEN;
				if (ok)
					memcpy(v, d.mv_data, VAL_LEN);
				if (i % 1000 == 999) {
					mdb_txn_abort(txn);
					txn = NULL;
				}
			} else
				ok = table_get(&t, id, v);
			found += ok;
		}
		if (txn != NULL)
			mdb_txn_abort(txn);
		if (miss)
			miss_us = (wall_now() - w0) * 1e6 / NLOOK;
		else
			hit_us = (wall_now() - w0) * 1e6 / NLOOK;
	}
	if (found != NLOOK) {
		fprintf(stderr, "%llu of %d hits found (want all, no misses)\n",
		    (unsigned long long)found, NLOOK);
		return 1;
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("| %s | %llu | %.2f s (%.2f s CPU) | %.1f MiB | %.2f µs | "
	    "%.2f µs | %.1f MiB |\n", wm ? "LMDB, MDB_WRITEMAP" : lmdb ?
	    "LMDB" : "coffer table",
	    (unsigned long long)n, wb, cb, (double)sb.st_blocks * 512 / 1048576,
	    hit_us, miss_us, (double)ru.ru_maxrss / 1024);
	if (lmdb)
		mdb_env_close(env);
	else {
		close(t.fd);
		free(t.bdir);
		free(t.bloom);
	}
	if (argc <= 3) {
		char cmd[4300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			return 1;
	}
	return 0;
}
