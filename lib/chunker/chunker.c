/* SPDX-License-Identifier: ISC */
/*
 * chunker: FastCDC-style content-defined chunking.
 *
 * For each chunk the gear hash h = (h << 1) + gear[byte] starts at zero
 * at chunk offset ${min} (the first ${min} bytes are never hashed: no cut
 * can fall there).  A chunk ends after the byte at which (h & mask) == 0,
 * or at ${max} bytes.  Normalised chunking: below offset ${avg} the mask
 * has two bits more than log2(avg), from ${avg} on two bits fewer, which
 * pulls chunk sizes towards ${avg}.  The masks test the top bits of h,
 * since bit k of h depends only on the last k + 1 bytes.
 *
 * Because the hash restarts at every boundary and a cut depends only on
 * the bytes since the previous cut, boundaries are the same however the
 * stream is split across chunker_write() calls.  Chunks that lie wholly
 * inside one caller buffer are handed to the callback in place; only the
 * head of a chunk that straddles calls is copied into a ${max}-byte
 * buffer.
 *
 * A run of zero bytes drives the hash to a fixed point: each step is
 * h = 2h + gear[0], and after 64 steps every bit of the old h has been
 * shifted out, leaving h = gear[0] * (2^64 - 1) = -gear[0], which the
 * next step maps to itself.  So inside a long run of zeros the mask test
 * gives the same answer at every offset of one normalisation region, and
 * chunker_write_zeros() finds its cuts after at most 64 hashed bytes per
 * chunk.
 */
#include <string.h>

#include "chunker.h"
#include "../crypto/crypto.h"
#include "../util/util.h"

#define GEAR_CTX	"cfgear01"
#define NORM_BITS	2		/* normalisation level */

struct chunker {
	uint64_t	 gear[256];
	uint64_t	 mask_s;	/* offsets below avg */
	uint64_t	 mask_l;	/* offsets from avg on */
	uint64_t	 h;		/* hash of [min, blen) */
	size_t		 min, avg, max;
	uint8_t		*buf;		/* pending chunk head */
	size_t		 blen;		/* bytes in buf, < max */
	chunker_cb	*cb;
	chunker_cb	*zcb;		/* chunks of chunker_write_zeros() */
	void		*cookie;
	uint8_t		*zeros;		/* ${max} zero bytes, made when needed */
};

/* top_bits(n): a mask of the top ${n} bits of a uint64_t, 1 <= n <= 64. */
static uint64_t
top_bits(unsigned int n)
{
	return ~(uint64_t)0 << (64 - n);
}

struct chunker *
chunker_new(size_t min, size_t avg, size_t max, const uint8_t key[32],
    chunker_cb *cb, void *cookie)
{
	struct chunker *c;
	uint8_t block[64];
	unsigned int bits;

	if (min < 64 || min > avg || avg > max || (avg & (avg - 1)) != 0)
		return NULL;
	for (bits = 0; ((size_t)1 << bits) < avg; bits++)
		;
	if (bits + NORM_BITS > 64)
		return NULL;

	if ((c = coffer_calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->buf = coffer_malloc(max)) == NULL) {
		coffer_free(c);
		return NULL;
	}
	c->min = min;
	c->avg = avg;
	c->max = max;
	c->mask_s = top_bits(bits + NORM_BITS);
	c->mask_l = top_bits(bits > NORM_BITS ? bits - NORM_BITS : 1);
	c->cb = cb;
	c->cookie = cookie;

	/* 32 KDF blocks of 64 bytes: 256 little-endian gear words. */
	for (size_t i = 0; i < 256 / 8; i++) {
		kdf_derive(block, sizeof(block), i, GEAR_CTX, key);
		for (size_t j = 0; j < 8; j++)
			c->gear[i * 8 + j] = le64dec(block + j * 8);
	}
	secret_wipe(block, sizeof(block));
	return c;
}

/*
 * cut_search(c, p, off, n): ${p} holds the ${n} bytes at offsets ${off}..
 * of the pending chunk, whose hash so far is c->h.  Return the length of
 * the chunk from ${p} up to and including the cut, or 0 if there is no
 * cut in these bytes (c->h then covers them).
 */
static size_t
cut_search(struct chunker *c, const uint8_t *p, size_t off, size_t n)
{
	const uint64_t *gear = c->gear;
	const uint8_t *q, *lim, *end;
	uint64_t h = c->h, mask;

	if (n > c->max - off)
		n = c->max - off;
	end = p + n;
	q = off < c->min ? p + (c->min - off < n ? c->min - off : n) : p;
	lim = off < c->avg ? p + (c->avg - off < n ? c->avg - off : n) : p;

	/*
	 * The hot loop of a backup.  Two loops rather than one with a
	 * mask switch keep it to a load, a shift-add, a test and a branch.
	 */
	mask = c->mask_s;
	for (; q < lim; q++) {
		h = (h << 1) + gear[*q];
		if ((h & mask) == 0)
			goto cut;
	}
	mask = c->mask_l;
	for (; q < end; q++) {
		h = (h << 1) + gear[*q];
		if ((h & mask) == 0)
			goto cut;
	}
	if (off + n == c->max)
		return n;
	c->h = h;
	return 0;
cut:
	return (size_t)(q - p) + 1;
}

/* Emit ${len} bytes at ${p} and start a new chunk; the callback's value. */
static int
emit(struct chunker *c, const uint8_t *p, size_t len)
{
	c->h = 0;
	c->blen = 0;
	return c->cb(c->cookie, p, len);
}

int
chunker_write(struct chunker *c, const uint8_t *buf, size_t len)
{
	size_t k;
	int r;

	while (len > 0) {
		if (c->blen == 0) {
			/* The chunk starts in the caller's buffer. */
			if ((k = cut_search(c, buf, 0, len)) == 0) {
				memcpy(c->buf, buf, len);
				c->blen = len;
				return 0;
			}
			if ((r = emit(c, buf, k)) != 0)
				return r;
		} else {
			/* It started in an earlier call: append, then emit. */
			if ((k = cut_search(c, buf, c->blen, len)) == 0) {
				memcpy(c->buf + c->blen, buf, len);
				c->blen += len;
				return 0;
			}
			memcpy(c->buf + c->blen, buf, k);
			if ((r = emit(c, c->buf, c->blen + k)) != 0)
				return r;
		}
		buf += k;
		len -= k;
	}
	return 0;
}

void
chunker_set_zero_cb(struct chunker *c, chunker_cb *zcb)
{
	c->zcb = zcb;
}

/*
 * zero_cut(c, off, n): as cut_search() for ${n} zero bytes at offset
 * ${off} of the pending chunk.
 */
static size_t
zero_cut(struct chunker *c, size_t off, uint64_t n)
{
	const uint64_t g = c->gear[0], fixed = (uint64_t)0 - g;
	uint64_t h = c->h;
	size_t pos, end;

	end = n > c->max - off ? c->max : off + (size_t)n;
	pos = off < c->min ? (c->min < end ? c->min : end) : off;
	/* At most 64 hashed bytes reach the fixed point. */
	for (; pos < end && h != fixed; pos++) {
		h = (h << 1) + g;
		if ((h & (pos < c->avg ? c->mask_s : c->mask_l)) == 0)
			return pos - off + 1;
	}
	if (pos < end && pos < c->avg) {
		if ((fixed & c->mask_s) == 0)
			return pos - off + 1;
		pos = c->avg < end ? c->avg : end;
	}
	if (pos < end) {
		if ((fixed & c->mask_l) == 0)
			return pos - off + 1;
		pos = end;
	}
	if (end == c->max)
		return end - off;
	c->h = h;
	return 0;
}

int
chunker_write_zeros(struct chunker *c, uint64_t n)
{
	size_t k;
	int r;

	while (n > 0) {
		if ((k = zero_cut(c, c->blen, n)) == 0) {
			memset(c->buf + c->blen, 0, (size_t)n);
			c->blen += (size_t)n;
			return 0;
		}
		if (c->blen == 0) {
			/* A chunk of nothing but these zeros. */
			if (c->zeros == NULL &&
			    (c->zeros = coffer_calloc(1, c->max)) == NULL)
				return -1;
			c->h = 0;
			r = (c->zcb != NULL ? c->zcb : c->cb)(c->cookie,
			    c->zeros, k);
		} else {
			memset(c->buf + c->blen, 0, k);
			r = emit(c, c->buf, c->blen + k);
		}
		if (r != 0)
			return r;
		n -= k;
	}
	return 0;
}

int
chunker_finish(struct chunker *c)
{
	if (c->blen == 0) {
		c->h = 0;
		return 0;
	}
	return emit(c, c->buf, c->blen);
}

void
chunker_free(struct chunker *c)
{
	if (c == NULL)
		return;
	secret_wipe(c->buf, c->max);
	coffer_free(c->buf);
	coffer_free(c->zeros);
	secret_wipe(c, sizeof(*c));
	coffer_free(c);
}
