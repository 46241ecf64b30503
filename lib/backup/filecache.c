/* SPDX-License-Identifier: ISC */
/*
 * filecache: layout of a cache file:
 *   magic "CFCACHE1" | count u64 | entries | MAC[32]
 *   entry: dev u64 | ino u64 | size u64 | mtime_ns i64 | ctime_ns i64 |
 *          nchunks u32 | chunk ids[32]...
 * MAC = BLAKE2b-256 keyed by the cache key over everything before it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filecache.h"

#define CACHE_MAX	(2ull << 30)
#define ENT_FIXED	44

static const char cache_magic[8] = "CFCACHE1";

struct fent {
	uint64_t	 dev, ino, size;
	int64_t		 mtime, ctime;
	uint32_t	 n;
	const uint8_t	*chunks;
};

struct fcache {
	char		*path;
	uint8_t		 key[KEY_LEN];
	uint8_t		*buf;		/* the old file */
	struct fent	*old;		/* sorted by (dev, ino) */
	size_t		 nold;
	struct wbuf	 out;		/* the new file, being built */
	uint64_t	 nnew;
};

static int
fent_cmp(const void *a, const void *b)
{
	const struct fent *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return 0;
}

static void
load(struct fcache *fc)
{
	uint8_t mac[HASH_LEN];
	struct rbuf rb;
	size_t len;
	uint64_t n;

	if (file_read(AT_FDCWD, fc->path, fc->path, CACHE_MAX, &fc->buf, &len,
	    NULL) != 0)
		return;
	if (len < 16 + HASH_LEN || memcmp(fc->buf, cache_magic, 8) != 0)
		goto bad;
	hash_keyed(mac, fc->key, fc->buf, len - HASH_LEN);
	if (!ct_equal(mac, fc->buf + len - HASH_LEN, HASH_LEN))
		goto bad;
	rbuf_init(&rb, fc->buf + 8, len - 8 - HASH_LEN);
	n = rbuf_u64(&rb);
	if (n > rbuf_left(&rb) / ENT_FIXED ||
	    (fc->old = coffer_calloc((size_t)n, sizeof(*fc->old))) == NULL)
		goto bad;
	for (uint64_t i = 0; i < n; i++) {
		struct fent *e = &fc->old[i];

		e->dev = rbuf_u64(&rb);
		e->ino = rbuf_u64(&rb);
		e->size = rbuf_u64(&rb);
		e->mtime = (int64_t)rbuf_u64(&rb);
		e->ctime = (int64_t)rbuf_u64(&rb);
		e->n = rbuf_u32(&rb);
		if (!rbuf_ok(&rb) || e->n > rbuf_left(&rb) / BLOB_ID_LEN)
			goto bad;
		e->chunks = rbuf_get(&rb, (size_t)e->n * BLOB_ID_LEN);
	}
	if (!rbuf_ok(&rb) || rbuf_left(&rb) != 0)
		goto bad;
	fc->nold = (size_t)n;
	qsort(fc->old, fc->nold, sizeof(*fc->old), fent_cmp);
	return;
bad:
	/* Damaged or forged: start afresh (files are simply read again). */
	coffer_free(fc->old);
	fc->old = NULL;
	fc->nold = 0;
}

int
fcache_open(const char *path, const uint8_t key[KEY_LEN], struct fcache **out)
{
	struct fcache *fc;

	*out = NULL;
	if ((fc = coffer_calloc(1, sizeof(*fc))) == NULL ||
	    (fc->path = coffer_strdup(path)) == NULL) {
		coffer_free(fc);
		return COFFER_ENOMEM;
	}
	memcpy(fc->key, key, KEY_LEN);
	wbuf_init(&fc->out, CACHE_MAX);
	wbuf_put(&fc->out, cache_magic, 8);
	wbuf_u64(&fc->out, 0);		/* count, filled in by save */
	load(fc);
	*out = fc;
	return 0;
}

void
fcache_free(struct fcache *fc)
{
	if (fc == NULL)
		return;
	secret_wipe(fc->key, sizeof(fc->key));
	coffer_free(fc->path);
	coffer_free(fc->buf);
	coffer_free(fc->old);
	wbuf_release(&fc->out);
	coffer_free(fc);
}

const uint8_t *
fcache_lookup(struct fcache *fc, uint64_t dev, uint64_t ino, uint64_t size,
    int64_t mtime, int64_t ctime, size_t *n)
{
	struct fent want = { .dev = dev, .ino = ino };
	const struct fent *e;

	*n = 0;
	if (fc == NULL || fc->nold == 0)
		return NULL;
	e = bsearch(&want, fc->old, fc->nold, sizeof(*fc->old), fent_cmp);
	if (e == NULL || e->size != size || e->mtime != mtime ||
	    e->ctime != ctime)
		return NULL;
	*n = e->n;
	return e->chunks;
}

bool
fcache_known(struct fcache *fc, uint64_t dev, uint64_t ino)
{
	struct fent want = { .dev = dev, .ino = ino };

	return fc != NULL && fc->nold > 0 && bsearch(&want, fc->old, fc->nold,
	    sizeof(*fc->old), fent_cmp) != NULL;
}

void
fcache_add(struct fcache *fc, uint64_t dev, uint64_t ino, uint64_t size,
    int64_t mtime, int64_t ctime, const uint8_t *chunks, size_t n)
{
	if (fc == NULL)
		return;
	wbuf_u64(&fc->out, dev);
	wbuf_u64(&fc->out, ino);
	wbuf_u64(&fc->out, size);
	wbuf_u64(&fc->out, (uint64_t)mtime);
	wbuf_u64(&fc->out, (uint64_t)ctime);
	wbuf_u32(&fc->out, (uint32_t)n);
	if (n > 0)
		wbuf_put(&fc->out, chunks, n * BLOB_ID_LEN);
	fc->nnew++;
}

int
fcache_save(struct fcache *fc, struct coffer_err *err)
{
	uint8_t mac[HASH_LEN];
	char dir[4096];
	char *slash;
	int dfd, r;

	if (fc->out.oom)
		return 0;	/* too big to keep: next backup reads all */
	le64enc(fc->out.p + 8, fc->nnew);
	hash_keyed(mac, fc->key, fc->out.p, fc->out.len);
	wbuf_put(&fc->out, mac, sizeof(mac));
	if (fc->out.oom)
		return 0;
	snprintf(dir, sizeof(dir), "%s", fc->path);
	if ((slash = strrchr(dir, '/')) == NULL)
		return coffer_err_set(err, COFFER_EINVAL, "cache path");
	*slash = '\0';
	if (mkdirat_p(AT_FDCWD, dir, 0700) != 0 ||
	    (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return coffer_err_sys(err, "cannot create cache folder '%s'",
		    dir);
	r = atomicfile_write(dfd, slash + 1, fc->out.p, fc->out.len, 0600,
	    false, fc->path, err);
	close(dfd);
	return r;
}
