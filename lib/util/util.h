/* SPDX-License-Identifier: ISC */
/*
 * util: the pieces every other module of libcoffer uses and that depend
 * on nothing else in lib/: the allocator entry point, fixed-endian
 * encoding, full reads and writes, atomic file replacement, hex.
 *
 * Not responsible for anything secret (lib/crypto) or for the card's
 * layout (lib/repo).
 */
#ifndef UTIL_H_
#define UTIL_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "coffer/err.h"

#define WUR	__attribute__((warn_unused_result))

/* One allocator entry point (fault injection hooks in here). */
void *coffer_malloc(size_t len);
void *coffer_calloc(size_t n, size_t len);
void *coffer_realloc(void *p, size_t len);
/* coffer_malloc_aligned(align, len): at an ${align} boundary (a power of 2). */
void *coffer_malloc_aligned(size_t align, size_t len);
char *coffer_strdup(const char *s);
void coffer_free(void *p);

/* Fixed little-endian encoding of on-card integers. */
static inline void
le16enc(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void
le32enc(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void
le64enc(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t
le16dec(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t
le32dec(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}
static inline uint64_t
le64dec(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/*
 * struct wbuf: a growable byte buffer with a hard cap.  Appends past the
 * cap fail.  wbuf_release() frees (and wipes, so a buffer that held
 * plaintext leaves nothing behind).
 */
struct wbuf {
	uint8_t	*p;
	size_t	 len;
	size_t	 cap;		/* allocated */
	size_t	 max;		/* hard cap */
	bool	 oom;		/* an append failed */
};
void wbuf_init(struct wbuf *b, size_t max);
void wbuf_release(struct wbuf *b);
void wbuf_reset(struct wbuf *b);
int wbuf_reserve(struct wbuf *b, size_t more) WUR;
void wbuf_put(struct wbuf *b, const void *p, size_t len);
void wbuf_u8(struct wbuf *b, uint8_t v);
void wbuf_u16(struct wbuf *b, uint16_t v);
void wbuf_u32(struct wbuf *b, uint32_t v);
void wbuf_u64(struct wbuf *b, uint64_t v);
/* wbuf_bytes32(b, p, len): u32 length then bytes. */
void wbuf_bytes32(struct wbuf *b, const void *p, size_t len);

/*
 * struct rbuf: a bounds-checked reader over borrowed bytes.  Any read
 * past the end sets ${bad} and returns zeros; check rbuf_ok() once at the
 * end (the pattern of sshbuf_get_*).
 */
struct rbuf {
	const uint8_t	*p;
	size_t		 len;
	size_t		 off;
	bool		 bad;
};
void rbuf_init(struct rbuf *r, const uint8_t *p, size_t len);
uint8_t rbuf_u8(struct rbuf *r);
uint16_t rbuf_u16(struct rbuf *r);
uint32_t rbuf_u32(struct rbuf *r);
uint64_t rbuf_u64(struct rbuf *r);
/* rbuf_get(r, n): pointer to the next ${n} bytes, or NULL (and bad). */
const uint8_t *rbuf_get(struct rbuf *r, size_t n);
void rbuf_copy(struct rbuf *r, void *dst, size_t n);
/* rbuf_bytes32(r, &len, max): u32 length (at most ${max}) then bytes. */
const uint8_t *rbuf_bytes32(struct rbuf *r, size_t *len, size_t max);
bool rbuf_ok(const struct rbuf *r);
size_t rbuf_left(const struct rbuf *r);

/*
 * read_full(fd, buf, len, &got): read until ${len} bytes or EOF.
 * write_full(fd, buf, len): write all or fail with errno set.
 * pread_full(fd, buf, len, off): exactly ${len} bytes at ${off}, else -1
 * (errno EIO on a short file).
 * All return 0 or -1 with errno.
 */
int read_full(int fd, void *buf, size_t len, size_t *got) WUR;
int write_full(int fd, const void *buf, size_t len) WUR;
int pread_full(int fd, void *buf, size_t len, off_t off) WUR;

/*
 * file_read(dirfd, name, max, &buf, &len, err):
 * Read the whole file ${name} (relative to ${dirfd}, AT_FDCWD allowed) if
 * it is at most ${max} bytes.  On success *buf is the caller's, freed
 * with coffer_free(); (*buf)[*len] is a spare byte the caller may set
 * (to NUL, say).  Errors name ${label} (the path shown to users).
 */
int file_read(int dirfd, const char *name, const char *label, size_t max,
    uint8_t **buf, size_t *len, struct coffer_err *err) WUR;
/* file_read_fd(fd, sb, label, max, &buf, &len, err): the same, opened. */
struct stat;
int file_read_fd(int fd, const struct stat *sb, const char *label, size_t max,
    uint8_t **buf, size_t *len, struct coffer_err *err) WUR;

/*
 * atomicfile_write(dirfd, name, buf, len, mode, label, err):
 * Write ${buf} to "${name}.tmp" (O_EXCL), fsync it, rename it to
 * ${name}, fsync the directory.  A crash leaves either the old file or
 * the new one, never a mix.  With ${noreplace}, fail with COFFER_EEXIST
 * if ${name} exists (checked before rename, under the caller's lock).
 */
int atomicfile_write(int dirfd, const char *name, const void *buf,
    size_t len, int mode, bool noreplace, const char *label,
    struct coffer_err *err) WUR;

/*
 * fsync_dir(dirfd): fsync a directory; filesystems that cannot (EINVAL,
 * ENOTSUP on some FUSE mounts) are treated as success.
 */
int fsync_dir(int dirfd) WUR;

/* mkdirat_p(dirfd, path, mode): mkdir -p relative to ${dirfd}. */
int mkdirat_p(int dirfd, const char *path, int mode) WUR;

/* hex_encode(out, in, len): ${out} gets 2*len+1 chars, lowercase. */
void hex_encode(char *out, const uint8_t *in, size_t len);
/* hex_decode(out, hex, len): exactly 2*len hex chars; 0 or -1. */
int hex_decode(uint8_t *out, const char *hex, size_t len) WUR;

/* parse_u64(s, &v): strict decimal; 0 or -1. */
int parse_u64(const char *s, uint64_t *v) WUR;

#endif /* !UTIL_H_ */
