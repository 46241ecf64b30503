/* SPDX-License-Identifier: ISC */
/*
 * fileio: full reads and writes, whole-file reads with a cap, atomic
 * replacement (tmp + fsync + rename + directory fsync), mkdir -p.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

int
read_full(int fd, void *buf, size_t len, size_t *got)
{
	uint8_t *p = buf;
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = read(fd, p + done, len - done);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			*got = done;
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	*got = done;
	return 0;
}

int
write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
pread_full(int fd, void *buf, size_t len, off_t off)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = pread(fd, p, len, off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int
file_read_fd(int fd, const struct stat *sb, const char *label, size_t max,
    uint8_t **out, size_t *outlen, struct coffer_err *err)
{
	uint8_t *buf = NULL;
	size_t got;
	int r;

	*out = NULL;
	*outlen = 0;
	if ((uint64_t)sb->st_size > max) {
		r = coffer_err_set(err, COFFER_EFORMAT,
		    "'%s' is too large (%lld bytes, at most %zu)", label,
		    (long long)sb->st_size, max);
		goto out;
	}
	if ((buf = coffer_malloc((size_t)sb->st_size + 1)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "reading '%s'", label);
		goto out;
	}
	if (read_full(fd, buf, (size_t)sb->st_size + 1, &got) != 0) {
		r = coffer_err_sys(err, "cannot read '%s'", label);
		goto out;
	}
	if (got > (size_t)sb->st_size) {
		r = coffer_err_set(err, COFFER_EIO, "'%s' changed while being "
		    "read", label);
		goto out;
	}
	*out = buf;
	*outlen = got;
	buf = NULL;
	r = 0;
out:
	coffer_free(buf);
	return r;
}

int
file_read(int dirfd, const char *name, const char *label, size_t max,
    uint8_t **out, size_t *outlen, struct coffer_err *err)
{
	struct stat sb;
	int fd = -1;
	int fl, r;

	*out = NULL;
	*outlen = 0;
	/* O_NONBLOCK: a FIFO in a file's place is refused, not waited on. */
	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK | O_NOCTTY)) == -1) {
		r = coffer_err_sys(err, "cannot open '%s'", label);
		goto out;
	}
	if (fstat(fd, &sb) == -1) {
		r = coffer_err_sys(err, "cannot stat '%s'", label);
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		r = coffer_err_set(err, COFFER_EFORMAT,
		    "'%s' is not a regular file", label);
		goto out;
	}
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1) {
		r = coffer_err_sys(err, "cannot read '%s'", label);
		goto out;
	}
	r = file_read_fd(fd, &sb, label, max, out, outlen, err);
out:
	if (fd != -1)
		close(fd);
	return r;
}

int
fsync_dir(int dirfd)
{
	if (fsync(dirfd) == -1 && errno != EINVAL && errno != ENOTSUP &&
	    errno != EROFS && errno != EBADF)
		return -1;
	return 0;
}

int
atomicfile_write(int dirfd, const char *name, const void *buf, size_t len,
    int mode, bool noreplace, const char *label, struct coffer_err *err)
{
	char tmp[NAME_MAX + 1];
	struct stat sb;
	int fd = -1;
	int r;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", name) >= (int)sizeof(tmp))
		return coffer_err_set(err, COFFER_EINVAL, "name too long '%s'",
		    label);
	/* A leftover from a crash is ours to replace (caller holds a lock). */
	(void)unlinkat(dirfd, tmp, 0);
	if ((fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, mode)) == -1) {
		r = coffer_err_sys(err, "cannot create '%s.tmp'", label);
		goto out;
	}
	if (write_full(fd, buf, len) != 0 || fsync(fd) != 0) {
		r = coffer_err_sys(err, "cannot write '%s.tmp'", label);
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		r = coffer_err_sys(err, "cannot write '%s.tmp'", label);
		goto fail;
	}
	fd = -1;
	if (noreplace && fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		r = coffer_err_set(err, COFFER_EEXIST, "'%s' already exists",
		    label);
		goto fail;
	}
	if (renameat(dirfd, tmp, dirfd, name) != 0) {
		r = coffer_err_sys(err, "cannot rename '%s.tmp' into place",
		    label);
		goto fail;
	}
	if (fsync_dir(dirfd) != 0) {
		r = coffer_err_sys(err, "cannot sync the directory of '%s'",
		    label);
		goto out;
	}
	r = 0;
	goto out;
fail:
	(void)unlinkat(dirfd, tmp, 0);
out:
	if (fd != -1)
		close(fd);
	return r;
}

int
mkdirat_p(int dirfd, const char *path, int mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdirat(dirfd, buf, mode) == -1 && errno != EEXIST)
				return -1;
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

void
hex_encode(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
hex_decode(uint8_t *out, const char *hex, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if ((hi = hexval(hex[2 * i])) < 0 ||
		    (lo = hexval(hex[2 * i + 1])) < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return hex[2 * len] == '\0' ? 0 : -1;
}

int
parse_u64(const char *s, uint64_t *v)
{
	uint64_t x = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (x > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*v = x;
	return 0;
}
