/* SPDX-License-Identifier: ISC */
/*
 * compress: zstd behind a tiny interface.  A struct compressor holds one
 * compression and one decompression context; one per thread.
 *
 * Not responsible for deciding what is stored: callers compare sizes and
 * keep the raw bytes when compression does not pay.
 */
#ifndef COMPRESS_H_
#define COMPRESS_H_

#include <stddef.h>
#include <stdint.h>

struct compressor;

/* compressor_new(level): NULL if out of memory. */
struct compressor *compressor_new(int level);
/* compressor_free(c): NULL is a no-op. */
void compressor_free(struct compressor *c);

/* compress_bound(n): the most bytes compressing ${n} bytes can take. */
size_t compress_bound(size_t n);

/*
 * compress_buf(c, dst, dstcap, src, n, &outlen): 0, or -1 if zstd fails
 * (dst too small).
 */
int compress_buf(struct compressor *c, uint8_t *dst, size_t dstcap,
    const uint8_t *src, size_t n, size_t *outlen)
    __attribute__((warn_unused_result));
/* compress_buf_at(c, level, ...): the same at zstd ${level}. */
int compress_buf_at(struct compressor *c, int level, uint8_t *dst,
    size_t dstcap, const uint8_t *src, size_t n, size_t *outlen)
    __attribute__((warn_unused_result));

/*
 * decompress_buf(c, dst, dstcap, src, n, &outlen): 0, or -1 if ${src} is
 * not exactly one valid (not skippable) frame or would exceed ${dstcap}
 * bytes.
 */
int decompress_buf(struct compressor *c, uint8_t *dst, size_t dstcap,
    const uint8_t *src, size_t n, size_t *outlen)
    __attribute__((warn_unused_result));

#endif /* !COMPRESS_H_ */
