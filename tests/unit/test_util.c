/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/util: the capped write buffer, the bounds-checked
 * reader, fixed-endian encoding, hex, parse_u64, whole-file reads and
 * atomic replacement.  File tests run in a fresh mkdtemp directory that
 * is removed afterwards.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/util.h"
#include "unit.h"

/* ---- wbuf ---- */

static void
wbuf_cap_enforced(void)
{
	static const uint8_t ten[10] = "0123456789";
	struct wbuf b;

	wbuf_init(&b, 10);
	T_TRUE(b.p == NULL && b.len == 0 && !b.oom);
	wbuf_put(&b, ten, 10);
	T_EQ_INT(b.len, 10);
	T_TRUE(!b.oom);
	T_EQ_MEM(b.p, ten, 10);

	/* One byte past the cap fails, sets oom and keeps what was there. */
	wbuf_u8(&b, 'x');
	T_TRUE(b.oom);
	T_EQ_INT(b.len, 10);
	T_EQ_MEM(b.p, ten, 10);

	/* Once oom, every append fails, even one that would fit. */
	wbuf_reset(&b);
	T_TRUE(!b.oom);
	T_EQ_INT(b.len, 0);
	wbuf_put(&b, ten, 11);
	T_TRUE(b.oom);
	T_EQ_INT(b.len, 0);
	wbuf_put(&b, ten, 1);
	T_EQ_INT(b.len, 0);
	T_EQ_INT(wbuf_reserve(&b, 1), -1);

	/* Reserving absurd sizes fails without wrapping around. */
	wbuf_reset(&b);
	wbuf_put(&b, ten, 5);
	T_EQ_INT(wbuf_reserve(&b, SIZE_MAX), -1);
	T_TRUE(b.oom);
	wbuf_reset(&b);
	T_EQ_INT(wbuf_reserve(&b, SIZE_MAX - 2), -1);
	wbuf_reset(&b);
	T_EQ_INT(wbuf_reserve(&b, 10), 0);
	T_EQ_INT(wbuf_reserve(&b, 11), -1);

	/* An empty put is a no-op, never an error. */
	wbuf_reset(&b);
	wbuf_put(&b, NULL, 0);
	T_TRUE(!b.oom);
	T_EQ_INT(b.len, 0);

	wbuf_release(&b);
	T_TRUE(b.p == NULL && b.len == 0 && b.cap == 0 && !b.oom);
	wbuf_release(&b);
}

static void
wbuf_grows_and_keeps_bytes(void)
{
	struct wbuf b;
	uint8_t chunk[1000];
	bool same = true;

	wbuf_init(&b, 1 << 20);
	for (int i = 0; i < 100; i++) {
		memset(chunk, i, sizeof(chunk));
		wbuf_put(&b, chunk, sizeof(chunk));
	}
	T_TRUE(!b.oom);
	T_EQ_INT(b.len, 100000);
	T_TRUE(b.cap >= b.len && b.cap <= b.max);
	for (size_t i = 0; i < b.len && same; i++)
		same = b.p[i] == (uint8_t)(i / 1000);
	T_TRUE(same);

	/* Up to the cap exactly, not one byte more. */
	wbuf_reset(&b);
	T_EQ_INT(wbuf_reserve(&b, 1 << 20), 0);
	T_EQ_INT(b.cap, 1 << 20);
	wbuf_release(&b);
}

static void
wbuf_encodings(void)
{
	static const uint8_t want[] = {
		0xab,					/* u8 */
		0x34, 0x12,				/* u16 0x1234 */
		0x78, 0x56, 0x34, 0x12,			/* u32 0x12345678 */
		0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01,	/* u64 */
		0x03, 0x00, 0x00, 0x00, 'a', 'b', 'c',	/* bytes32 "abc" */
		0x00, 0x00, 0x00, 0x00,			/* bytes32 "" */
	};
	struct wbuf b;

	wbuf_init(&b, 64);
	wbuf_u8(&b, 0xab);
	wbuf_u16(&b, 0x1234);
	wbuf_u32(&b, 0x12345678);
	wbuf_u64(&b, 0x0123456789abcdefULL);
	wbuf_bytes32(&b, "abc", 3);
	wbuf_bytes32(&b, "", 0);
	T_TRUE(!b.oom);
	T_EQ_INT(b.len, sizeof(want));
	if (b.len == sizeof(want))
		T_EQ_MEM(b.p, want, sizeof(want));
	wbuf_release(&b);
}

/* ---- rbuf ---- */

static void
rbuf_reads(void)
{
	static const uint8_t in[] = {
		0xab,
		0x34, 0x12,
		0x78, 0x56, 0x34, 0x12,
		0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01,
		'x', 'y',
	};
	struct rbuf r;
	uint8_t two[2];

	rbuf_init(&r, in, sizeof(in));
	T_EQ_INT(rbuf_left(&r), sizeof(in));
	T_EQ_INT(rbuf_u8(&r), 0xab);
	T_EQ_INT(rbuf_u16(&r), 0x1234);
	T_EQ_INT(rbuf_u32(&r), 0x12345678);
	T_TRUE(rbuf_u64(&r) == 0x0123456789abcdefULL);
	rbuf_copy(&r, two, 2);
	T_EQ_MEM(two, "xy", 2);
	T_TRUE(rbuf_ok(&r));
	T_EQ_INT(rbuf_left(&r), 0);
	/* A zero-length read at the very end is fine. */
	T_TRUE(rbuf_get(&r, 0) != NULL);
	T_TRUE(rbuf_ok(&r));
}

static void
rbuf_past_end_sets_bad(void)
{
	static const uint8_t in[] = { 1, 2, 3, 4, 5, 6, 7 };
	struct rbuf r;
	uint8_t dst[4];

	/* A u64 from 7 bytes: zero, and bad. */
	rbuf_init(&r, in, sizeof(in));
	T_TRUE(rbuf_u64(&r) == 0);
	T_TRUE(!rbuf_ok(&r));
	T_EQ_INT(rbuf_left(&r), 0);
	/* Once bad, reads fail although bytes remain. */
	T_EQ_INT(rbuf_u8(&r), 0);
	T_TRUE(rbuf_get(&r, 0) == NULL);
	T_TRUE(!rbuf_ok(&r));

	/* Each width, one byte short. */
	rbuf_init(&r, in, 1);
	T_EQ_INT(rbuf_u16(&r), 0);
	T_TRUE(!rbuf_ok(&r));
	rbuf_init(&r, in, 3);
	T_EQ_INT(rbuf_u32(&r), 0);
	T_TRUE(!rbuf_ok(&r));
	rbuf_init(&r, in, 0);
	T_EQ_INT(rbuf_u8(&r), 0);
	T_TRUE(!rbuf_ok(&r));

	/* rbuf_copy zeroes its destination when it fails. */
	rbuf_init(&r, in, 3);
	memset(dst, 0xee, sizeof(dst));
	rbuf_copy(&r, dst, 4);
	T_TRUE(!rbuf_ok(&r));
	T_EQ_MEM(dst, "\0\0\0\0", 4);

	/* A huge length cannot wrap the bounds check. */
	rbuf_init(&r, in, sizeof(in));
	(void)rbuf_u8(&r);
	T_TRUE(rbuf_get(&r, SIZE_MAX) == NULL);
	T_TRUE(!rbuf_ok(&r));
}

static void
rbuf_bytes32_max(void)
{
	static const uint8_t in[] = {
		0x04, 0x00, 0x00, 0x00, 'a', 'b', 'c', 'd',
	};
	static const uint8_t liar[] = {
		0x05, 0x00, 0x00, 0x00, 'a', 'b', 'c', 'd',
	};
	static const uint8_t huge[] = {
		0xff, 0xff, 0xff, 0xff, 'a',
	};
	const uint8_t *p;
	struct rbuf r;
	size_t len;

	/* Length equal to max: accepted. */
	rbuf_init(&r, in, sizeof(in));
	p = rbuf_bytes32(&r, &len, 4);
	T_TRUE(p != NULL && rbuf_ok(&r));
	T_EQ_INT(len, 4);
	if (p != NULL)
		T_EQ_MEM(p, "abcd", 4);
	T_EQ_INT(rbuf_left(&r), 0);

	/* One above max: rejected although the bytes are there. */
	rbuf_init(&r, in, sizeof(in));
	len = 99;
	T_TRUE(rbuf_bytes32(&r, &len, 3) == NULL);
	T_TRUE(!rbuf_ok(&r));
	T_EQ_INT(len, 0);

	/* A length beyond the input. */
	rbuf_init(&r, liar, sizeof(liar));
	T_TRUE(rbuf_bytes32(&r, &len, 100) == NULL);
	T_TRUE(!rbuf_ok(&r));
	rbuf_init(&r, huge, sizeof(huge));
	T_TRUE(rbuf_bytes32(&r, &len, SIZE_MAX) == NULL);
	T_TRUE(!rbuf_ok(&r));

	/* A truncated length field. */
	rbuf_init(&r, in, 3);
	T_TRUE(rbuf_bytes32(&r, &len, 100) == NULL);
	T_TRUE(!rbuf_ok(&r));
	T_EQ_INT(len, 0);

	/* Zero length, zero max. */
	rbuf_init(&r, (const uint8_t *)"\0\0\0\0", 4);
	T_TRUE(rbuf_bytes32(&r, &len, 0) != NULL);
	T_TRUE(rbuf_ok(&r));
	T_EQ_INT(len, 0);
}

/* ---- fixed-endian encoding ---- */

static void
le_vectors(void)
{
	static const struct {
		uint64_t	v;
		uint8_t		b[8];
	} v64[] = {
		{ 0, { 0, 0, 0, 0, 0, 0, 0, 0 } },
		{ 1, { 1, 0, 0, 0, 0, 0, 0, 0 } },
		{ 0x0102030405060708ULL, { 8, 7, 6, 5, 4, 3, 2, 1 } },
		{ 0x8000000000000000ULL, { 0, 0, 0, 0, 0, 0, 0, 0x80 } },
		{ UINT64_MAX, { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		    0xff } },
	};
	static const struct {
		uint32_t	v;
		uint8_t		b[4];
	} v32[] = {
		{ 0, { 0, 0, 0, 0 } },
		{ 0x01020304, { 4, 3, 2, 1 } },
		{ 0x80000000, { 0, 0, 0, 0x80 } },
		{ 0xdeadbeef, { 0xef, 0xbe, 0xad, 0xde } },
		{ UINT32_MAX, { 0xff, 0xff, 0xff, 0xff } },
	};
	static const struct {
		uint16_t	v;
		uint8_t		b[2];
	} v16[] = {
		{ 0, { 0, 0 } },
		{ 0x0102, { 2, 1 } },
		{ 0x8000, { 0, 0x80 } },
		{ 0xff00, { 0, 0xff } },
		{ UINT16_MAX, { 0xff, 0xff } },
	};
	uint8_t buf[8];

	for (size_t i = 0; i < sizeof(v64) / sizeof(v64[0]); i++) {
		le64enc(buf, v64[i].v);
		T_EQ_MEM(buf, v64[i].b, 8);
		T_TRUE(le64dec(v64[i].b) == v64[i].v);
	}
	for (size_t i = 0; i < sizeof(v32) / sizeof(v32[0]); i++) {
		le32enc(buf, v32[i].v);
		T_EQ_MEM(buf, v32[i].b, 4);
		T_TRUE(le32dec(v32[i].b) == v32[i].v);
	}
	for (size_t i = 0; i < sizeof(v16) / sizeof(v16[0]); i++) {
		le16enc(buf, v16[i].v);
		T_EQ_MEM(buf, v16[i].b, 2);
		T_TRUE(le16dec(v16[i].b) == v16[i].v);
	}
	/* Encoders touch exactly their width. */
	memset(buf, 0xaa, sizeof(buf));
	le16enc(buf, 0);
	T_EQ_MEM(buf + 2, "\xaa\xaa\xaa\xaa\xaa\xaa", 6);
	memset(buf, 0xaa, sizeof(buf));
	le32enc(buf, 0);
	T_EQ_MEM(buf + 4, "\xaa\xaa\xaa\xaa", 4);
}

/* ---- hex ---- */

static void
hex_roundtrip(void)
{
	static const uint8_t bin[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
	char hex[2 * sizeof(bin) + 1];
	uint8_t back[sizeof(bin)];
	uint8_t all[256], all2[256];
	char allhex[513];

	hex_encode(hex, bin, sizeof(bin));
	T_EQ_STR(hex, "00017f80abff");
	T_EQ_INT(hex_decode(back, hex, sizeof(back)), 0);
	T_EQ_MEM(back, bin, sizeof(bin));

	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	hex_encode(allhex, all, sizeof(all));
	T_EQ_INT(strlen(allhex), 512);
	T_EQ_INT(hex_decode(all2, allhex, sizeof(all2)), 0);
	T_EQ_MEM(all2, all, sizeof(all));

	/* Zero bytes: the empty string. */
	hex_encode(hex, bin, 0);
	T_EQ_STR(hex, "");
	T_EQ_INT(hex_decode(back, "", 0), 0);
}

static void
hex_decode_rejects(void)
{
	/*
	 * Lowercase only, exactly as hex_encode writes: hex names files on
	 * a card that may be case-insensitive (FAT), so there must be one
	 * spelling of every id.
	 */
	static const char *const bad2[] = {
		"abcdeg", "abcdeG", "ABCDEF", "abcdeF", "0x0102", " 01020",
		"010203 ", "01 203", "01-203", "0102\n3", "zz0102", "010g03",
		"01\377203",
	};
	static const char *const badlen[] = {
		"", "0", "01", "0102", "01020", "0102030", "01020304",
	};
	uint8_t out[3];

	for (size_t i = 0; i < sizeof(bad2) / sizeof(bad2[0]); i++)
		if (hex_decode(out, bad2[i], 3) != -1)
			unit_fail(__FILE__, __LINE__, "hex_decode(\"%s\", 3) "
			    "accepted", bad2[i]);
	for (size_t i = 0; i < sizeof(badlen) / sizeof(badlen[0]); i++)
		if (hex_decode(out, badlen[i], 3) != -1)
			unit_fail(__FILE__, __LINE__, "hex_decode(\"%s\", 3) "
			    "accepted", badlen[i]);
	T_EQ_INT(hex_decode(out, "a", 0), -1);
	T_EQ_INT(hex_decode(out, "010203", 3), 0);
	T_EQ_MEM(out, "\x01\x02\x03", 3);
}

/* ---- parse_u64 ---- */

static void
parse_u64_strict(void)
{
	static const char *const bad[] = {
		"", "-1", "-0", "+1", " 1", "1 ", "1a", "a1", "0x10", "1.0",
		"1e3", "18446744073709551616", "18446744073709551620",
		"99999999999999999999", "184467440737095516150",
		"100000000000000000000000000000",
	};
	static const struct {
		const char	*s;
		uint64_t	 v;
	} good[] = {
		{ "0", 0 },
		{ "1", 1 },
		{ "42", 42 },
		{ "4294967296", 4294967296ULL },
		{ "18446744073709551614", UINT64_MAX - 1 },
		{ "18446744073709551615", UINT64_MAX },
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 12345;
		if (parse_u64(bad[i], &v) != -1)
			unit_fail(__FILE__, __LINE__, "parse_u64(\"%s\") "
			    "accepted", bad[i]);
		/* The output is untouched on failure. */
		T_TRUE(v == 12345);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 12345;
		if (parse_u64(good[i].s, &v) != 0 || v != good[i].v)
			unit_fail(__FILE__, __LINE__, "parse_u64(\"%s\") "
			    "failed or gave %llu", good[i].s,
			    (unsigned long long)v);
	}
}

/* ---- files ---- */

/* read_all(dfd, name, buf, cap): bytes of ${name}, or -1. */
static long
read_all(int dfd, const char *name, char *buf, size_t cap)
{
	size_t got;
	int fd;

	if ((fd = openat(dfd, name, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (read_full(fd, buf, cap, &got) != 0)
		got = (size_t)-1;
	close(fd);
	return (long)got;
}

/* count_entries(dfd): the names in ${dfd} other than "." and "..". */
static int
count_entries(int dfd)
{
	struct dirent *de;
	DIR *d;
	int fd, n = 0;

	if ((fd = dup(dfd)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
atomicfile_write_works(void)
{
	char dir[PATH_MAX], buf[64];
	struct coffer_err err = { 0 };
	struct stat sb;
	int dfd, fd;

	T_TRUE(unit_tmpdir_new(dir));
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		T_TRUE(dfd != -1);
		unit_tmpdir_remove(dir);
		return;
	}

	/* A new file: its content, its mode, no .tmp left. */
	T_EQ_INT(atomicfile_write(dfd, "f", "hello", 5, 0600, true, "f",
	    &err), 0);
	T_EQ_INT(read_all(dfd, "f", buf, sizeof(buf)), 5);
	T_EQ_MEM(buf, "hello", 5);
	T_TRUE(fstatat(dfd, "f", &sb, 0) == 0 && (sb.st_mode & 07777) == 0600);
	T_TRUE(faccessat(dfd, "f.tmp", F_OK, 0) != 0);
	T_EQ_INT(count_entries(dfd), 1);

	/* Replace. */
	T_EQ_INT(atomicfile_write(dfd, "f", "world!", 6, 0600, false, "f",
	    &err), 0);
	T_EQ_INT(read_all(dfd, "f", buf, sizeof(buf)), 6);
	T_EQ_MEM(buf, "world!", 6);
	T_EQ_INT(count_entries(dfd), 1);

	/* noreplace: COFFER_EEXIST, old content kept, no .tmp left. */
	memset(&err, 0, sizeof(err));
	T_EQ_INT(atomicfile_write(dfd, "f", "xx", 2, 0600, true, "f", &err),
	    COFFER_EEXIST);
	T_EQ_INT(err.code, COFFER_EEXIST);
	T_TRUE(strstr(err.msg, "'f'") != NULL);
	T_EQ_INT(read_all(dfd, "f", buf, sizeof(buf)), 6);
	T_EQ_MEM(buf, "world!", 6);
	T_TRUE(faccessat(dfd, "f.tmp", F_OK, 0) != 0);
	T_EQ_INT(count_entries(dfd), 1);

	/* A leftover .tmp from a crash is replaced, not an error. */
	if ((fd = openat(dfd, "g.tmp", O_WRONLY | O_CREAT | O_EXCL, 0600)) != -1) {
		T_TRUE(write_full(fd, "stale", 5) == 0);
		close(fd);
	}
	T_EQ_INT(atomicfile_write(dfd, "g", "", 0, 0600, true, "g", &err), 0);
	T_EQ_INT(read_all(dfd, "g", buf, sizeof(buf)), 0);
	T_TRUE(faccessat(dfd, "g.tmp", F_OK, 0) != 0);
	T_EQ_INT(count_entries(dfd), 2);

	/* noreplace does not follow a symlink into place either. */
	T_TRUE(symlinkat("nowhere", dfd, "h") == 0);
	T_EQ_INT(atomicfile_write(dfd, "h", "x", 1, 0600, true, "h", &err),
	    COFFER_EEXIST);
	T_TRUE(faccessat(dfd, "h.tmp", F_OK, 0) != 0);

	close(dfd);
	unit_tmpdir_remove(dir);
}

static void
file_read_cap(void)
{
	char dir[PATH_MAX];
	uint8_t data[100];
	struct coffer_err err = { 0 };
	uint8_t *buf;
	size_t len;
	int dfd;

	T_TRUE(unit_tmpdir_new(dir));
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		T_TRUE(dfd != -1);
		unit_tmpdir_remove(dir);
		return;
	}
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	T_EQ_INT(atomicfile_write(dfd, "f", data, sizeof(data), 0600, true,
	    "f", &err), 0);

	/* At the cap: read whole. */
	T_EQ_INT(file_read(dfd, "f", "f", 100, &buf, &len, &err), 0);
	T_EQ_INT(len, 100);
	if (buf != NULL)
		T_EQ_MEM(buf, data, 100);
	coffer_free(buf);

	/* One byte over: refused, nothing returned. */
	buf = (uint8_t *)"not touched";
	len = 7;
	T_EQ_INT(file_read(dfd, "f", "f", 99, &buf, &len, &err),
	    COFFER_EFORMAT);
	T_TRUE(buf == NULL);
	T_EQ_INT(len, 0);
	T_TRUE(strstr(err.msg, "too large") != NULL);
	T_EQ_INT(file_read(dfd, "f", "f", 0, &buf, &len, &err),
	    COFFER_EFORMAT);

	/* Empty file: zero bytes and a buffer to free. */
	T_EQ_INT(atomicfile_write(dfd, "e", "", 0, 0600, true, "e", &err), 0);
	T_EQ_INT(file_read(dfd, "e", "e", 0, &buf, &len, &err), 0);
	T_EQ_INT(len, 0);
	T_TRUE(buf != NULL);
	coffer_free(buf);

	/* Missing file, directory, symlink. */
	T_EQ_INT(file_read(dfd, "nope", "nope", 100, &buf, &len, &err),
	    COFFER_ENOTFOUND);
	T_TRUE(buf == NULL);
	T_TRUE(mkdirat(dfd, "d", 0700) == 0);
	T_EQ_INT(file_read(dfd, "d", "d", 100, &buf, &len, &err),
	    COFFER_EFORMAT);
	T_TRUE(symlinkat("f", dfd, "l") == 0);
	T_TRUE(file_read(dfd, "l", "l", 100, &buf, &len, &err) != 0);
	T_TRUE(buf == NULL);

	close(dfd);
	unit_tmpdir_remove(dir);
}

static int
setup(void)
{
	return coffer_crypto_init();
}

UNIT_MAIN(setup,
	UNIT_TEST(wbuf_cap_enforced),
	UNIT_TEST(wbuf_grows_and_keeps_bytes),
	UNIT_TEST(wbuf_encodings),
	UNIT_TEST(rbuf_reads),
	UNIT_TEST(rbuf_past_end_sets_bad),
	UNIT_TEST(rbuf_bytes32_max),
	UNIT_TEST(le_vectors),
	UNIT_TEST(hex_roundtrip),
	UNIT_TEST(hex_decode_rejects),
	UNIT_TEST(parse_u64_strict),
	UNIT_TEST(atomicfile_write_works),
	UNIT_TEST(file_read_cap),
)
