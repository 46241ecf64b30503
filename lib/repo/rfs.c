/* SPDX-License-Identifier: ISC */
/*
 * rfs: the repository's files, reached only through real folders (rfs.h).
 *
 * Paths here are coffer's own ("packs/ab/<hex>", "index/<hex>"): relative,
 * no "." or "..", no empty components.  Anything else is refused.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rfs.h"
#include "util/util.h"

#define LABEL_MAX	512

const char *
rfs_kind(mode_t mode)
{
	if (S_ISLNK(mode))
		return "a symbolic link";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device node";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISDIR(mode))
		return "a folder";
	if (S_ISREG(mode))
		return "a file";
	return "an unknown kind of file";
}

/* ${n} lowercase hex digits at ${s}. */
static bool
hex_run(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
		    s[i] <= 'f')))
			return false;
	return true;
}

bool
rfs_is_hex(const char *s, size_t n)
{
	return strlen(s) == n && hex_run(s, n);
}

bool
rfs_is_packtmp(const char *s)
{
	return strlen(s) == 36 && hex_run(s, 32) && strcmp(s + 32, ".tmp") == 0;
}

/* The user's name for the first ${end} bytes of ${path}. */
static void
comp_label(char *out, size_t cap, const char *label, const char *path,
    size_t end)
{
	size_t ll = strlen(label), pl = strlen(path);

	if (ll >= pl && strcmp(label + ll - pl, path) == 0)
		snprintf(out, cap, "%.*s%.*s", (int)(ll - pl), label, (int)end,
		    path);
	else
		snprintf(out, cap, "%s", label);
}

static int
refuse(const char *label, const char *path, size_t end, mode_t mode,
    bool want_dir, struct coffer_err *err)
{
	char name[LABEL_MAX];

	comp_label(name, sizeof(name), label, path, end);
	return coffer_err_set(err, COFFER_EFORMAT, "'%s' is %s where a %s "
	    "belongs (refused: coffer follows no links and opens only files "
	    "and folders on the card)", name, rfs_kind(mode),
	    want_dir ? "folder" : "regular file");
}

/*
 * After openat(pfd, comp) failed: name what is there instead, or report
 * the system's error.
 */
static int
open_fail(int pfd, const char *comp, const char *label, const char *path,
    size_t end, bool want_dir, struct coffer_err *err)
{
	char name[LABEL_MAX];
	struct stat sb;
	int e = errno;

	if (e != ENOENT && fstatat(pfd, comp, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (want_dir ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode)))
		return refuse(label, path, end, sb.st_mode, want_dir, err);
	comp_label(name, sizeof(name), label, path, end);
	errno = e;
	return coffer_err_sys(err, "cannot open '%s'", name);
}

/* Copy the component path[i..] up to '/' or the end into ${comp}. */
static int
next_comp(const char *path, size_t i, char comp[NAME_MAX + 1], size_t *n,
    const char *label, struct coffer_err *err)
{
	const char *slash = strchr(path + i, '/');

	*n = slash != NULL ? (size_t)(slash - (path + i)) : strlen(path + i);
	if (*n == 0 || *n > NAME_MAX || (*n == 1 && path[i] == '.') ||
	    (*n == 2 && path[i] == '.' && path[i + 1] == '.'))
		return coffer_err_set(err, COFFER_EINVAL, "bad path '%s' for "
		    "'%s'", path, label);
	memcpy(comp, path + i, *n);
	comp[*n] = '\0';
	return 0;
}

/*
 * walk(dirfd, path, label, &pfd, comp, err): open every folder of ${path}
 * before its last component, each with O_NOFOLLOW; ${pfd} is the last of
 * them (${dirfd} itself when ${path} has one component; the caller closes
 * it otherwise) and ${comp} the last component.
 */
static int
walk(int dirfd, const char *path, const char *label, int *pfd,
    char comp[NAME_MAX + 1], struct coffer_err *err)
{
	int cur = dirfd, fd;
	size_t i = 0, n;
	int r;

	*pfd = -1;
	for (;;) {
		if ((r = next_comp(path, i, comp, &n, label, err)) != 0)
			goto fail;
		if (path[i + n] == '\0')
			break;
		if ((fd = openat(cur, comp, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC)) == -1) {
			r = open_fail(cur, comp, label, path, i + n, true, err);
			goto fail;
		}
		if (cur != dirfd)
			close(cur);
		cur = fd;
		i += n + 1;
	}
	*pfd = cur;
	return 0;
fail:
	if (cur != dirfd)
		close(cur);
	return r;
}

static void
unwalk(int dirfd, int pfd)
{
	if (pfd != -1 && pfd != dirfd)
		close(pfd);
}

int
rfs_open_dir(int dirfd, const char *path, const char *label, int *fdp,
    struct coffer_err *err)
{
	char comp[NAME_MAX + 1];
	int pfd, r;

	*fdp = -1;
	if ((r = walk(dirfd, path, label, &pfd, comp, err)) != 0)
		return r;
	if ((*fdp = openat(pfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		r = open_fail(pfd, comp, label, path, strlen(path), true, err);
	unwalk(dirfd, pfd);
	return r;
}

int
rfs_open_file(int dirfd, const char *path, const char *label, int flags,
    int *fdp, struct stat *sbp, struct coffer_err *err)
{
	char comp[NAME_MAX + 1];
	struct stat before, sb;
	int pfd, fd = -1, fl, r;

	*fdp = -1;
	if ((r = walk(dirfd, path, label, &pfd, comp, err)) != 0)
		return r;
	/* Look first: a device node is never opened, a FIFO never waited on. */
	if (fstatat(pfd, comp, &before, AT_SYMLINK_NOFOLLOW) != 0) {
		r = open_fail(pfd, comp, label, path, strlen(path), false, err);
		goto out;
	}
	if (!S_ISREG(before.st_mode)) {
		r = refuse(label, path, strlen(path), before.st_mode, false, err);
		goto out;
	}
	/* O_NONBLOCK: had it become a FIFO since, the open does not wait. */
	if ((fd = openat(pfd, comp, flags | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC)) == -1) {
		r = open_fail(pfd, comp, label, path, strlen(path), false, err);
		goto out;
	}
	if (fstat(fd, &sb) != 0) {
		r = open_fail(pfd, comp, label, path, strlen(path), false, err);
		goto out;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_dev != before.st_dev ||
	    sb.st_ino != before.st_ino) {
		r = refuse(label, path, strlen(path), sb.st_mode, false, err);
		goto out;
	}
	/* On a regular file O_NONBLOCK changes nothing; cleared all the same. */
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1) {
		r = open_fail(pfd, comp, label, path, strlen(path), false, err);
		goto out;
	}
	if (sbp != NULL)
		*sbp = sb;
	*fdp = fd;
	fd = -1;
	r = 0;
out:
	if (fd != -1)
		close(fd);
	unwalk(dirfd, pfd);
	return r;
}

int
rfs_create(int dirfd, const char *path, const char *label, int flags,
    int mode, int *fdp, struct coffer_err *err)
{
	char comp[NAME_MAX + 1];
	char name[LABEL_MAX];
	int pfd, r;

	*fdp = -1;
	if ((r = walk(dirfd, path, label, &pfd, comp, err)) != 0)
		return r;
	if ((*fdp = openat(pfd, comp, flags | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_NOCTTY | O_CLOEXEC, mode)) == -1) {
		comp_label(name, sizeof(name), label, path, strlen(path));
		r = coffer_err_sys(err, "cannot create '%s'", name);
	}
	unwalk(dirfd, pfd);
	return r;
}

int
rfs_read(int dirfd, const char *path, const char *label, size_t max,
    uint8_t **out, size_t *outlen, struct coffer_err *err)
{
	struct stat sb;
	int fd, r;

	*out = NULL;
	*outlen = 0;
	if ((r = rfs_open_file(dirfd, path, label, O_RDONLY, &fd, &sb,
	    err)) != 0)
		return r;
	r = file_read_fd(fd, &sb, label, max, out, outlen, err);
	close(fd);
	return r;
}

int
rfs_unlink(int dirfd, const char *path, const char *label,
    struct coffer_err *err)
{
	char comp[NAME_MAX + 1];
	char name[LABEL_MAX];
	struct stat sb;
	int pfd, r;

	if ((r = walk(dirfd, path, label, &pfd, comp, err)) != 0)
		return r == COFFER_ENOTFOUND ? 0 : r;
	if (fstatat(pfd, comp, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			r = 0;
		else
			r = open_fail(pfd, comp, label, path, strlen(path),
			    false, err);
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		r = refuse(label, path, strlen(path), sb.st_mode, false, err);
		goto out;
	}
	if (unlinkat(pfd, comp, 0) != 0 && errno != ENOENT) {
		comp_label(name, sizeof(name), label, path, strlen(path));
		r = coffer_err_sys(err, "cannot delete '%s'", name);
		goto out;
	}
	r = 0;
out:
	unwalk(dirfd, pfd);
	return r;
}

int
rfs_mkdir(int dirfd, const char *path, const char *label, int mode,
    struct coffer_err *err)
{
	char comp[NAME_MAX + 1];
	char name[LABEL_MAX];
	int cur = dirfd, fd;
	size_t i = 0, n;
	int r;

	for (;;) {
		if ((r = next_comp(path, i, comp, &n, label, err)) != 0)
			goto out;
		if (mkdirat(cur, comp, mode) != 0 && errno != EEXIST) {
			comp_label(name, sizeof(name), label, path, i + n);
			r = coffer_err_sys(err, "cannot create '%s'", name);
			goto out;
		}
		if ((fd = openat(cur, comp, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC)) == -1) {
			r = open_fail(cur, comp, label, path, i + n, true, err);
			goto out;
		}
		if (cur != dirfd)
			close(cur);
		cur = fd;
		if (path[i + n] == '\0')
			break;
		i += n + 1;
	}
	r = 0;
out:
	if (cur != dirfd)
		close(cur);
	return r;
}
