/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/chunker.  Data come from a seeded PRNG and keys are
 * fixed, so every run sees the same chunks.
 */
#include <stdbool.h>
#include <string.h>

#include "chunker/chunker.h"
#include "crypto/crypto.h"
#include "util/util.h"
#include "unit.h"

#define KIB		((size_t)1 << 10)
#define MIB		((size_t)1 << 20)

/* coffer's defaults, and small sizes for tests that want many chunks. */
#define DEF_MIN		(256 * KIB)
#define DEF_AVG		(1 * MIB)
#define DEF_MAX		(4 * MIB)
#define SMALL_MIN	(1 * KIB)
#define SMALL_AVG	(4 * KIB)
#define SMALL_MAX	(16 * KIB)

struct chunk {
	size_t	off;
	size_t	len;
	uint8_t	hash[16];
};

/* What the callback saw, checked against the stream it came from. */
struct chunks {
	const uint8_t	*src;
	size_t		 srclen;
	size_t		 off;		/* bytes emitted so far */
	struct chunk	*v;
	size_t		 n, cap;
	bool		 bad;		/* a chunk differs from src */
	size_t		 stop_at;	/* chunk to stop at, or 0 */
	int		 stop_ret;
};

static const uint8_t key1[32] = {
	0x63, 0x6f, 0x66, 0x66, 0x65, 0x72, 0x20, 0x74,
	0x65, 0x73, 0x74, 0x20, 0x6b, 0x65, 0x79, 0x31,
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
};
static const uint8_t key2[32] = {
	0x63, 0x6f, 0x66, 0x66, 0x65, 0x72, 0x20, 0x74,
	0x65, 0x73, 0x74, 0x20, 0x6b, 0x65, 0x79, 0x32,
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
};

static uint64_t
splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* random_buf(len, seed): ${len} pseudo-random bytes; coffer_free() them. */
static uint8_t *
random_buf(size_t len, uint64_t seed)
{
	uint8_t *p;

	if ((p = coffer_malloc(len)) == NULL)
		return NULL;
	for (size_t i = 0; i < len; i += 8) {
		uint8_t w[8];

		le64enc(w, splitmix64(&seed));
		memcpy(p + i, w, len - i < 8 ? len - i : 8);
	}
	return p;
}

static int
collect(void *cookie, const uint8_t *buf, size_t len)
{
	struct chunks *cs = cookie;
	struct chunk *ch;

	if (len == 0 || len > cs->srclen - cs->off ||
	    memcmp(buf, cs->src + cs->off, len) != 0)
		cs->bad = true;
	if (cs->n == cs->cap) {
		size_t ncap = cs->cap ? 2 * cs->cap : 64;
		struct chunk *nv;

		if ((nv = coffer_realloc(cs->v, ncap * sizeof(*nv))) == NULL)
			return -100;
		cs->v = nv;
		cs->cap = ncap;
	}
	ch = &cs->v[cs->n++];
	ch->off = cs->off;
	ch->len = len;
	hash_plain(ch->hash, sizeof(ch->hash), buf, len);
	cs->off += len;
	if (cs->stop_at != 0 && cs->n == cs->stop_at)
		return cs->stop_ret;
	return 0;
}

static void
chunks_init(struct chunks *cs, const uint8_t *src, size_t srclen)
{
	memset(cs, 0, sizeof(*cs));
	cs->src = src;
	cs->srclen = srclen;
}

static void
chunks_release(struct chunks *cs)
{
	coffer_free(cs->v);
	cs->v = NULL;
}

/*
 * chunk_stream(cs, data, len, min, avg, max, key, seed):
 * Chunk ${data} into ${cs}: in one write if ${seed} is 0, else in writes
 * of pseudo-random sizes from 1 byte to several times ${max}.  Return
 * the result of the last chunker call.
 */
static int
chunk_stream(struct chunks *cs, const uint8_t *data, size_t len, size_t min,
    size_t avg, size_t max, const uint8_t key[32], uint64_t seed)
{
	struct chunker *c;
	size_t off = 0, w;
	int r = 0;

	chunks_init(cs, data, len);
	if ((c = chunker_new(min, avg, max, key, collect, cs)) == NULL)
		return -200;
	while (off < len) {
		if (seed == 0)
			w = len;
		else {
			uint64_t x = splitmix64(&seed);

			switch (x % 3) {
			case 0:
				w = 1 + (x >> 8) % 64;
				break;
			case 1:
				w = 1 + (x >> 8) % max;
				break;
			default:
				w = 1 + (x >> 8) % (3 * max);
				break;
			}
		}
		if (w > len - off)
			w = len - off;
		if ((r = chunker_write(c, data + off, w)) != 0)
			goto out;
		off += w;
	}
	r = chunker_finish(c);
out:
	chunker_free(c);
	return r;
}

static bool
same_chunks(const struct chunks *a, const struct chunks *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].off != b->v[i].off || a->v[i].len != b->v[i].len)
			return false;
	return true;
}

static void
check_split(size_t len, size_t min, size_t avg, size_t max)
{
	struct chunks one, many;
	uint8_t *data;

	T_TRUE((data = random_buf(len, 1)) != NULL);
	if (data == NULL)
		return;
	T_EQ_INT(chunk_stream(&one, data, len, min, avg, max, key1, 0), 0);
	T_TRUE(!one.bad && one.off == len);
	T_TRUE(one.n > 2);
	for (uint64_t seed = 1; seed <= 3; seed++) {
		T_EQ_INT(chunk_stream(&many, data, len, min, avg, max, key1,
		    seed), 0);
		T_TRUE(!many.bad && many.off == len);
		T_TRUE(same_chunks(&one, &many));
		chunks_release(&many);
	}
	chunks_release(&one);
	coffer_free(data);
}

/* (a) One write and many random-sized writes give the same chunks. */
static void
split_invariant(void)
{
	check_split(24 * MIB, DEF_MIN, DEF_AVG, DEF_MAX);
}

static void
split_invariant_small(void)
{
	check_split(4 * MIB, SMALL_MIN, SMALL_AVG, SMALL_MAX);
}

/* (b) and (c): sizes within [min, max] but the last; mean near avg. */
static void
check_sizes(size_t len, size_t min, size_t avg, size_t max)
{
	struct chunks cs;
	uint8_t *data;
	size_t mean;

	T_TRUE((data = random_buf(len, 2)) != NULL);
	if (data == NULL)
		return;
	T_EQ_INT(chunk_stream(&cs, data, len, min, avg, max, key1, 7), 0);
	T_TRUE(!cs.bad && cs.off == len);
	T_TRUE(cs.n > 0);
	for (size_t i = 0; i < cs.n; i++) {
		if (i + 1 < cs.n)
			T_TRUE(cs.v[i].len >= min);
		T_TRUE(cs.v[i].len <= max);
	}
	mean = len / (cs.n ? cs.n : 1);
	T_TRUE(mean >= avg / 2);
	T_TRUE(mean <= avg * 2);
	chunks_release(&cs);
	coffer_free(data);
}

static void
sizes_default(void)
{
	check_sizes(32 * MIB, DEF_MIN, DEF_AVG, DEF_MAX);
}

static void
sizes_small(void)
{
	check_sizes(8 * MIB, SMALL_MIN, SMALL_AVG, SMALL_MAX);
}

/* min == avg == max: fixed-size chunks, no hashing at all. */
static void
sizes_fixed(void)
{
	struct chunks cs;
	uint8_t *data;

	T_TRUE((data = random_buf(1000, 3)) != NULL);
	if (data == NULL)
		return;
	T_EQ_INT(chunk_stream(&cs, data, 1000, 64, 64, 64, key1, 5), 0);
	T_TRUE(!cs.bad && cs.off == 1000);
	T_EQ_INT(cs.n, 16);
	for (size_t i = 0; i < cs.n; i++)
		T_EQ_INT(cs.v[i].len, i < 15 ? 64 : 1000 - 15 * 64);
	chunks_release(&cs);
	coffer_free(data);
}

static bool
has_chunk(const struct chunks *cs, const uint8_t hash[16])
{
	for (size_t i = 0; i < cs->n; i++)
		if (memcmp(cs->v[i].hash, hash, 16) == 0)
			return true;
	return false;
}

/*
 * (d) An insert near the start changes only the first chunk or two: the
 * rest are found, by hash, among the original chunks.
 */
static void
check_insert(size_t at, size_t inslen)
{
	const size_t len = 16 * MIB;
	struct chunks orig, mod;
	uint8_t *data, *ins, *edited;
	size_t changed = 0;

	data = random_buf(len, 4);
	ins = random_buf(inslen, 5);
	edited = coffer_malloc(len + inslen);
	T_TRUE(data != NULL && ins != NULL && edited != NULL);
	if (data == NULL || ins == NULL || edited == NULL)
		goto out;
	memcpy(edited, data, at);
	memcpy(edited + at, ins, inslen);
	memcpy(edited + at + inslen, data + at, len - at);

	T_EQ_INT(chunk_stream(&orig, data, len, DEF_MIN, DEF_AVG, DEF_MAX,
	    key1, 0), 0);
	T_EQ_INT(chunk_stream(&mod, edited, len + inslen, DEF_MIN, DEF_AVG,
	    DEF_MAX, key1, 9), 0);
	T_TRUE(!orig.bad && !mod.bad);
	T_TRUE(orig.n >= 8);
	for (size_t i = 0; i < mod.n; i++) {
		if (has_chunk(&orig, mod.v[i].hash))
			continue;
		changed++;
		/* Only chunks at the start may differ. */
		T_TRUE(i < 2);
	}
	T_TRUE(changed >= 1 && changed <= 2);
	T_TRUE(mod.n + 2 >= orig.n && mod.n <= orig.n + 2);
	chunks_release(&orig);
	chunks_release(&mod);
out:
	coffer_free(data);
	coffer_free(ins);
	coffer_free(edited);
}

static void
insert_resyncs(void)
{
	check_insert(10, 1);
	check_insert(1000, 100);
	check_insert(300 * KIB, 4099);
}

/* (e) Another key, other boundaries. */
static void
key_changes_boundaries(void)
{
	const size_t len = 4 * MIB;
	struct chunks a, b;
	uint8_t *data;
	size_t i, j, shared = 0;

	T_TRUE((data = random_buf(len, 6)) != NULL);
	if (data == NULL)
		return;
	T_EQ_INT(chunk_stream(&a, data, len, SMALL_MIN, SMALL_AVG, SMALL_MAX,
	    key1, 0), 0);
	T_EQ_INT(chunk_stream(&b, data, len, SMALL_MIN, SMALL_AVG, SMALL_MAX,
	    key2, 0), 0);
	T_TRUE(!a.bad && !b.bad);
	T_TRUE(a.n > 100 && b.n > 100);
	T_TRUE(a.v[0].len != b.v[0].len);
	/* Count chunk ends both lists share (both are sorted). */
	for (i = 0, j = 0; i < a.n && j < b.n;) {
		size_t ea = a.v[i].off + a.v[i].len;
		size_t eb = b.v[j].off + b.v[j].len;

		if (ea == eb)
			shared++;
		if (ea <= eb)
			i++;
		if (eb <= ea)
			j++;
	}
	T_TRUE(shared < a.n / 10);
	chunks_release(&a);
	chunks_release(&b);
	coffer_free(data);
}

/* (f) An empty stream emits nothing; a finished chunker starts afresh. */
static void
empty_stream(void)
{
	struct chunks cs;
	struct chunker *c;
	uint8_t byte = 0x5a;

	chunks_init(&cs, &byte, 1);
	T_TRUE((c = chunker_new(SMALL_MIN, SMALL_AVG, SMALL_MAX, key1,
	    collect, &cs)) != NULL);
	if (c == NULL)
		return;
	T_EQ_INT(chunker_finish(c), 0);
	T_EQ_INT(chunker_write(c, &byte, 0), 0);
	T_EQ_INT(chunker_finish(c), 0);
	T_EQ_INT(cs.n, 0);

	/* One byte is one chunk; then the stream is empty again. */
	T_EQ_INT(chunker_write(c, &byte, 1), 0);
	T_EQ_INT(cs.n, 0);
	T_EQ_INT(chunker_finish(c), 0);
	T_EQ_INT(cs.n, 1);
	T_TRUE(!cs.bad && cs.off == 1);
	T_EQ_INT(chunker_finish(c), 0);
	T_EQ_INT(cs.n, 1);
	chunker_free(c);
	chunks_release(&cs);
	chunker_free(NULL);
}

/* (g) A non-zero callback value stops the chunker and is returned. */
static void
callback_stops(void)
{
	const size_t len = 1 * MIB;
	struct chunks cs;
	struct chunker *c;
	uint8_t *data;
	int r;

	T_TRUE((data = random_buf(len, 8)) != NULL);
	if (data == NULL)
		return;

	/* In one write, and in small writes (chunks from the buffer). */
	for (uint64_t seed = 0; seed <= 1; seed++) {
		struct chunker *c2;
		size_t off;

		chunks_init(&cs, data, len);
		cs.stop_at = 3;
		cs.stop_ret = 42;
		c2 = chunker_new(SMALL_MIN, SMALL_AVG, SMALL_MAX, key1, collect,
		    &cs);
		T_TRUE(c2 != NULL);
		if (c2 == NULL)
			break;
		r = 0;
		for (off = 0; off < len && r == 0; off += seed ? 100 : len)
			r = chunker_write(c2, data + off,
			    seed ? (len - off < 100 ? len - off : 100) : len);
		T_EQ_INT(r, 42);
		T_EQ_INT(cs.n, 3);
		T_TRUE(!cs.bad);
		chunker_free(c2);
		chunks_release(&cs);
	}

	/* The last, short chunk's value comes back from chunker_finish(). */
	chunks_init(&cs, data, len);
	cs.stop_at = 1;
	cs.stop_ret = -7;
	T_TRUE((c = chunker_new(SMALL_MIN, SMALL_AVG, SMALL_MAX, key1,
	    collect, &cs)) != NULL);
	if (c != NULL) {
		T_EQ_INT(chunker_write(c, data, 100), 0);
		T_EQ_INT(chunker_finish(c), -7);
		T_EQ_INT(cs.n, 1);
		T_EQ_INT(cs.v[0].len, 100);
	}
	chunker_free(c);
	chunks_release(&cs);
	coffer_free(data);
}

/* (h) Sizes outside 64 <= min <= avg <= max, avg a power of two. */
static void
new_rejects_bad_sizes(void)
{
	static const struct {
		size_t	min, avg, max;
		bool	ok;
	} cases[] = {
		{ 64, 64, 64, true },
		{ 1024, 4096, 16384, true },
		{ 4096, 4096, 10000, true },
		{ 256 * KIB, 1 * MIB, 4 * MIB, true },
		{ 0, 4096, 16384, false },
		{ 63, 4096, 16384, false },
		{ 8192, 4096, 16384, false },
		{ 1024, 32768, 16384, false },
		{ 1024, 5000, 16384, false },
		{ 1024, 0, 16384, false },
		{ 1024, 4096, 0, false },
	};
	struct chunks cs;
	struct chunker *c;

	chunks_init(&cs, NULL, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = chunker_new(cases[i].min, cases[i].avg, cases[i].max, key1,
		    collect, &cs);
		if ((c != NULL) != cases[i].ok)
			unit_fail(__FILE__, __LINE__, "chunker_new(%zu, %zu, "
			    "%zu) %s", cases[i].min, cases[i].avg, cases[i].max,
			    c != NULL ? "accepted" : "rejected");
		chunker_free(c);
	}
}

/* A stream of data runs and holes, as fed to the chunker. */
struct seg {
	bool	hole;
	size_t	len;
};

static size_t
hole_len(uint64_t *rs, size_t min, size_t max)
{
	switch (splitmix64(rs) % 6) {
	case 0:
		return 1 + splitmix64(rs) % 63;		/* shorter than 64 */
	case 1:
		return 64 + splitmix64(rs) % 64;
	case 2:	/* about the minimum */
		return min - 2 + splitmix64(rs) % 5;
	case 3:	/* about the maximum, or a multiple of it */
		return max * (1 + splitmix64(rs) % 3) - 2 + splitmix64(rs) % 5;
	default:
		return 1 + splitmix64(rs) % (3 * max);
	}
}

/*
 * zeros_case(min, avg, max, seed, &zero_cuts): a random layout of data
 * and holes gives the same chunks through chunker_write_zeros() as
 * through chunker_write() of real zeros.  ${zero_cuts} counts all-zero
 * chunks shorter than ${max} that are not the last one (cuts found
 * inside a zero run).
 */
static void
zeros_case(size_t min, size_t avg, size_t max, uint64_t seed,
    size_t *zero_cuts)
{
	struct seg segs[12];
	struct chunks a = { 0 }, b = { 0 };
	struct chunker *ca = NULL, *cb = NULL;
	uint8_t key[32], *src = NULL, *data = NULL;
	uint64_t rs = seed;
	size_t nseg, total = 0, off;
	bool hole;

	for (size_t i = 0; i < sizeof(key); i += 8)
		le64enc(key + i, splitmix64(&rs));
	nseg = 1 + splitmix64(&rs) % 10;
	hole = splitmix64(&rs) % 2 == 0;	/* a hole at the start, or not */
	for (size_t i = 0; i < nseg; i++, hole = !hole) {
		segs[i].hole = hole;
		segs[i].len = hole ? hole_len(&rs, min, max) :
		    1 + splitmix64(&rs) % (2 * max);
		total += segs[i].len;
	}
	T_TRUE((src = coffer_calloc(1, total)) != NULL);
	T_TRUE((data = random_buf(total, splitmix64(&rs))) != NULL);
	if (src == NULL || data == NULL)
		goto out;
	for (size_t i = 0, o = 0; i < nseg; o += segs[i++].len)
		if (!segs[i].hole)
			memcpy(src + o, data + o, segs[i].len);
	a.src = b.src = src;
	a.srclen = b.srclen = total;
	ca = chunker_new(min, avg, max, key, collect, &a);
	cb = chunker_new(min, avg, max, key, collect, &b);
	T_TRUE(ca != NULL && cb != NULL);
	if (ca == NULL || cb == NULL)
		goto out;
	T_EQ_INT(chunker_write(ca, src, total), 0);
	T_EQ_INT(chunker_finish(ca), 0);
	for (size_t i = 0, o = 0; i < nseg; o += segs[i++].len) {
		if (segs[i].hole) {
			T_EQ_INT(chunker_write_zeros(cb, segs[i].len), 0);
			continue;
		}
		/* Data in two writes, to mix pending and in-place chunks. */
		off = splitmix64(&rs) % (segs[i].len + 1);
		T_EQ_INT(chunker_write(cb, src + o, off), 0);
		T_EQ_INT(chunker_write(cb, src + o + off, segs[i].len - off),
		    0);
	}
	T_EQ_INT(chunker_finish(cb), 0);
	T_TRUE(!a.bad && !b.bad);
	T_EQ_INT(b.off, total);
	T_EQ_INT(b.n, a.n);
	for (size_t i = 0; i < a.n && i < b.n; i++) {
		if (a.v[i].len != b.v[i].len || a.v[i].off != b.v[i].off ||
		    memcmp(a.v[i].hash, b.v[i].hash, sizeof(a.v[i].hash))) {
			unit_fail(__FILE__, __LINE__, "seed %llu: chunk %zu "
			    "at %zu is %zu bytes, want %zu at %zu",
			    (unsigned long long)seed, i, b.v[i].off, b.v[i].len,
			    a.v[i].len, a.v[i].off);
			break;
		}
		if (i + 1 < a.n && a.v[i].len < max) {
			bool allzero = true;

			for (size_t k = 0; k < a.v[i].len && allzero; k++)
				allzero = src[a.v[i].off + k] == 0;
			if (allzero)
				(*zero_cuts)++;
		}
	}
out:
	chunker_free(ca);
	chunker_free(cb);
	coffer_free(a.v);
	coffer_free(b.v);
	coffer_free(src);
	coffer_free(data);
}

/* Holes fed as counts cut exactly where real zeros would. */
static void
zeros_match_small(void)
{
	size_t zero_cuts = 0;

	for (uint64_t seed = 1; seed <= 600; seed++)
		zeros_case(64, 256, 1024, seed, &zero_cuts);
	for (uint64_t seed = 1000; seed < 1200; seed++)
		zeros_case(SMALL_MIN, SMALL_AVG, SMALL_MAX, seed, &zero_cuts);
	/* Some keys cut inside a zero run before the maximum. */
	T_TRUE(zero_cuts > 0);
}

static void
zeros_match_default(void)
{
	size_t zero_cuts = 0;

	for (uint64_t seed = 7; seed < 13; seed++)
		zeros_case(DEF_MIN, DEF_AVG, DEF_MAX, seed, &zero_cuts);
}

static int
count_zero(void *cookie, const uint8_t *buf, size_t len)
{
	size_t *n = cookie;

	for (size_t i = 0; i < len; i++)
		if (buf[i] != 0)
			return -7;
	(*n)++;
	return 0;
}

/* A long hole goes to the zero callback in maximum-size chunks. */
static void
zeros_callback(void)
{
	struct chunker *c;
	size_t n = 0;

	T_TRUE((c = chunker_new(SMALL_MIN, SMALL_AVG, SMALL_MAX, key1,
	    count_zero, &n)) != NULL);
	if (c == NULL)
		return;
	chunker_set_zero_cb(c, count_zero);
	T_EQ_INT(chunker_write_zeros(c, (uint64_t)100 * SMALL_MAX), 0);
	T_EQ_INT(chunker_finish(c), 0);
	T_TRUE(n >= 100);
	chunker_free(c);
}

static int
setup(void)
{
	return coffer_crypto_init();
}

UNIT_MAIN(setup,
	UNIT_TEST(split_invariant),
	UNIT_TEST(split_invariant_small),
	UNIT_TEST(sizes_default),
	UNIT_TEST(sizes_small),
	UNIT_TEST(sizes_fixed),
	UNIT_TEST(insert_resyncs),
	UNIT_TEST(key_changes_boundaries),
	UNIT_TEST(empty_stream),
	UNIT_TEST(callback_stops),
	UNIT_TEST(new_rejects_bad_sizes),
	UNIT_TEST(zeros_match_small),
	UNIT_TEST(zeros_match_default),
	UNIT_TEST(zeros_callback),
)
