/* SPDX-License-Identifier: ISC */
/* compress: zstd, the only includer of <zstd.h>. */
#include <zstd.h>

#include "compress.h"
#include "../util/util.h"

struct compressor {
	ZSTD_CCtx	*cctx;
	ZSTD_DCtx	*dctx;
	int		 level;
};

struct compressor *
compressor_new(int level)
{
	struct compressor *c;

	if ((c = coffer_calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->level = level;
	if ((c->cctx = ZSTD_createCCtx()) == NULL ||
	    (c->dctx = ZSTD_createDCtx()) == NULL) {
		compressor_free(c);
		return NULL;
	}
	return c;
}

void
compressor_free(struct compressor *c)
{
	if (c == NULL)
		return;
	ZSTD_freeCCtx(c->cctx);
	ZSTD_freeDCtx(c->dctx);
	coffer_free(c);
}

size_t
compress_bound(size_t n)
{
	return ZSTD_compressBound(n);
}

int
compress_buf(struct compressor *c, uint8_t *dst, size_t dstcap,
    const uint8_t *src, size_t n, size_t *outlen)
{
	return compress_buf_at(c, c->level, dst, dstcap, src, n, outlen);
}

int
compress_buf_at(struct compressor *c, int level, uint8_t *dst, size_t dstcap,
    const uint8_t *src, size_t n, size_t *outlen)
{
	size_t r;

	r = ZSTD_compressCCtx(c->cctx, dst, dstcap, src, n, level);
	if (ZSTD_isError(r))
		return -1;
	*outlen = r;
	return 0;
}

int
decompress_buf(struct compressor *c, uint8_t *dst, size_t dstcap,
    const uint8_t *src, size_t n, size_t *outlen)
{
	unsigned long long want;
	size_t r;

	/*
	 * Exactly one (not skippable) frame, all of ${src}: what coffer
	 * writes (FORMAT.md §7, §7.1), and nothing else is read.
	 */
	if (n < 4 || (src[0] | (uint32_t)src[1] << 8 | (uint32_t)src[2] << 16 |
	    (uint32_t)src[3] << 24) != ZSTD_MAGICNUMBER ||
	    ZSTD_findFrameCompressedSize(src, n) != n)
		return -1;
	/* Refuse frames that claim more than the caller can hold. */
	want = ZSTD_getFrameContentSize(src, n);
	if (want == ZSTD_CONTENTSIZE_ERROR ||
	    (want != ZSTD_CONTENTSIZE_UNKNOWN && want > dstcap))
		return -1;
	r = ZSTD_decompressDCtx(c->dctx, dst, dstcap, src, n);
	if (ZSTD_isError(r))
		return -1;
	*outlen = r;
	return 0;
}
