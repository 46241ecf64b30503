/* SPDX-License-Identifier: ISC */
/* buf: capped growable write buffer and bounds-checked reader. */
#include <string.h>

#include "util.h"

/* Wipe without the compiler eliding it (no sodium here: util is leaf). */
static void
wipe(void *p, size_t n)
{
	volatile uint8_t *v = p;

	while (n-- > 0)
		*v++ = 0;
}

void
wbuf_init(struct wbuf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
wbuf_release(struct wbuf *b)
{
	if (b->p != NULL) {
		wipe(b->p, b->cap);
		coffer_free(b->p);
	}
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}

void
wbuf_reset(struct wbuf *b)
{
	b->len = 0;
	b->oom = false;
}

int
wbuf_reserve(struct wbuf *b, size_t more)
{
	size_t ncap;
	uint8_t *np;

	if (b->oom)
		return -1;
	if (more > b->max || b->len > b->max - more) {
		b->oom = true;
		return -1;
	}
	if (b->len + more <= b->cap)
		return 0;
	ncap = b->cap < 256 ? 256 : b->cap;
	while (ncap < b->len + more)
		ncap = ncap > b->max / 2 ? b->max : ncap * 2;
	/* Grow by copy so the old buffer can be wiped. */
	if ((np = coffer_malloc(ncap)) == NULL) {
		b->oom = true;
		return -1;
	}
	if (b->p != NULL) {
		memcpy(np, b->p, b->len);
		wipe(b->p, b->cap);
		coffer_free(b->p);
	}
	b->p = np;
	b->cap = ncap;
	return 0;
}

void
wbuf_put(struct wbuf *b, const void *p, size_t len)
{
	if (len == 0 || wbuf_reserve(b, len) != 0)
		return;
	memcpy(b->p + b->len, p, len);
	b->len += len;
}

void
wbuf_u8(struct wbuf *b, uint8_t v)
{
	wbuf_put(b, &v, 1);
}

void
wbuf_u16(struct wbuf *b, uint16_t v)
{
	uint8_t t[2];

	le16enc(t, v);
	wbuf_put(b, t, 2);
}

void
wbuf_u32(struct wbuf *b, uint32_t v)
{
	uint8_t t[4];

	le32enc(t, v);
	wbuf_put(b, t, 4);
}

void
wbuf_u64(struct wbuf *b, uint64_t v)
{
	uint8_t t[8];

	le64enc(t, v);
	wbuf_put(b, t, 8);
}

void
wbuf_bytes32(struct wbuf *b, const void *p, size_t len)
{
	if (len > UINT32_MAX) {
		b->oom = true;
		return;
	}
	wbuf_u32(b, (uint32_t)len);
	wbuf_put(b, p, len);
}

void
rbuf_init(struct rbuf *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->bad = false;
}

const uint8_t *
rbuf_get(struct rbuf *r, size_t n)
{
	const uint8_t *p;

	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

void
rbuf_copy(struct rbuf *r, void *dst, size_t n)
{
	const uint8_t *p;

	if ((p = rbuf_get(r, n)) == NULL)
		memset(dst, 0, n);
	else
		memcpy(dst, p, n);
}

uint8_t
rbuf_u8(struct rbuf *r)
{
	const uint8_t *p = rbuf_get(r, 1);

	return p ? p[0] : 0;
}

uint16_t
rbuf_u16(struct rbuf *r)
{
	const uint8_t *p = rbuf_get(r, 2);

	return p ? le16dec(p) : 0;
}

uint32_t
rbuf_u32(struct rbuf *r)
{
	const uint8_t *p = rbuf_get(r, 4);

	return p ? le32dec(p) : 0;
}

uint64_t
rbuf_u64(struct rbuf *r)
{
	const uint8_t *p = rbuf_get(r, 8);

	return p ? le64dec(p) : 0;
}

const uint8_t *
rbuf_bytes32(struct rbuf *r, size_t *len, size_t max)
{
	uint32_t n = rbuf_u32(r);

	*len = 0;
	if (r->bad)
		return NULL;
	if (n > max) {
		r->bad = true;
		return NULL;
	}
	*len = n;
	return rbuf_get(r, n);
}

bool
rbuf_ok(const struct rbuf *r)
{
	return !r->bad;
}

size_t
rbuf_left(const struct rbuf *r)
{
	return r->bad ? 0 : r->len - r->off;
}
