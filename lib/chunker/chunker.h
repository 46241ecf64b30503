/* SPDX-License-Identifier: ISC */
/*
 * chunker: split a byte stream into content-defined chunks.
 *
 * Boundaries depend only on content (a keyed rolling "gear" hash, FastCDC
 * style with normalised chunking), so an insert early in a file moves
 * only nearby boundaries and later chunks still deduplicate.  The gear
 * table is derived from a 32-byte key, so chunk sizes do not leak content
 * to someone without the key.  The chunker knows nothing about
 * encryption, compression or storage: it hands each chunk to a callback.
 */
#ifndef CHUNKER_H_
#define CHUNKER_H_

#include <stddef.h>
#include <stdint.h>

struct chunker;

/*
 * Called once per chunk with the cookie given to chunker_new().  The
 * buffer is borrowed: valid only during the call.  Return 0 to continue;
 * a non-zero value stops the chunker and is returned by chunker_write()
 * or chunker_finish().
 */
typedef int chunker_cb(void *cookie, const uint8_t *buf, size_t len);

/*
 * chunker_new(min, avg, max, key, cb, cookie):
 * Create a chunker producing chunks of ${min} <= len <= ${max} bytes with
 * mean about ${avg} (a power of two), boundaries keyed by the 32-byte
 * ${key}.  Return NULL if out of memory or if the sizes are not
 * 64 <= min <= avg <= max.  Only the last chunk of a stream may be
 * shorter than ${min}.
 */
struct chunker *chunker_new(size_t min, size_t avg, size_t max,
    const uint8_t key[32], chunker_cb *cb, void *cookie);

/*
 * chunker_write(c, buf, len):
 * Feed ${len} bytes; call the callback for every chunk completed.
 * Return 0, or the callback's non-zero value, or -1 if out of memory.
 */
int chunker_write(struct chunker *c, const uint8_t *buf, size_t len);

/*
 * chunker_write_zeros(c, n):
 * Feed ${n} zero bytes (a hole of a sparse file) without touching them one
 * by one: the boundaries, and so the chunks, are exactly those that
 * chunker_write() would give for ${n} real zeros.  A chunk made only of
 * these zeros goes to the zero callback (chunker_set_zero_cb) if one is
 * set, else to the callback, with a buffer of zeros.  Return as
 * chunker_write().
 */
int chunker_write_zeros(struct chunker *c, uint64_t n);

/*
 * chunker_set_zero_cb(c, zcb): hand chunks that chunker_write_zeros()
 * made only of zeros to ${zcb} (same cookie; the buffer holds zeros), so
 * that the caller can reuse the id of a zero chunk of that length.  NULL
 * sends them to the ordinary callback again.
 */
void chunker_set_zero_cb(struct chunker *c, chunker_cb *zcb);

/*
 * chunker_finish(c): emit the final partial chunk (if any bytes are
 * pending; an empty stream emits nothing) and reset ${c} for a new
 * stream.  Return as chunker_write().
 */
int chunker_finish(struct chunker *c);

/* chunker_free(c): free ${c} without emitting; NULL is a no-op. */
void chunker_free(struct chunker *c);

#endif /* !CHUNKER_H_ */
