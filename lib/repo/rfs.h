/* SPDX-License-Identifier: ISC */
/*
 * rfs: the repository's files, reached only through real folders.
 *
 * Whoever can write the card can plant a symbolic link, a FIFO, a device
 * node or a folder where the format has a file (SECURITY.md §7).  Every
 * access below the repository's root goes through these functions: each
 * component of a path is opened relative to the folder before it with
 * O_NOFOLLOW; a file is looked at (fstatat, no following) before it is
 * opened, opened with O_NONBLOCK, and checked again by its descriptor.
 * Anything that is not a regular file or a real folder is refused with
 * COFFER_EFORMAT and a message that names it, e.g.
 *   'sets/ab../packs/zz' is a symbolic link where a folder belongs (refused)
 *
 * ${label} is the caller's name for ${path} as the user sees it (usually
 * "sets/<id>/" + path); when it ends with ${path}, the message names the
 * very component that is wrong.  A missing component is COFFER_ENOTFOUND.
 */
#ifndef RFS_H_
#define RFS_H_

#include <sys/stat.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/err.h"

/* rfs_open_dir(dirfd, path, label, &fd, err): a real folder. */
int rfs_open_dir(int dirfd, const char *path, const char *label, int *fdp,
    struct coffer_err *err);

/*
 * rfs_open_file(dirfd, path, label, flags, &fd, sb, err): an existing
 * regular file, opened with ${flags} (O_RDONLY, O_RDWR...); its stat in
 * ${sb} when not NULL.
 */
int rfs_open_file(int dirfd, const char *path, const char *label, int flags,
    int *fdp, struct stat *sb, struct coffer_err *err);

/*
 * rfs_create(dirfd, path, label, flags, mode, &fd, err): a new file
 * (O_CREAT | O_EXCL added) in a real folder.
 */
int rfs_create(int dirfd, const char *path, const char *label, int flags,
    int mode, int *fdp, struct coffer_err *err);

/* rfs_read(dirfd, path, label, max, &buf, &len, err): a whole file. */
int rfs_read(int dirfd, const char *path, const char *label, size_t max,
    uint8_t **out, size_t *outlen, struct coffer_err *err);

/*
 * rfs_unlink(dirfd, path, label, err): delete a regular file; anything
 * else at ${path} is left alone and refused.  A missing file is success.
 */
int rfs_unlink(int dirfd, const char *path, const char *label,
    struct coffer_err *err);

/*
 * rfs_mkdir(dirfd, path, label, mode, err): make the folder ${path} (and
 * the folders before it); success if it is there already as a real
 * folder.
 */
int rfs_mkdir(int dirfd, const char *path, const char *label, int mode,
    struct coffer_err *err);

/*
 * The format's own names (FORMAT.md §2): rfs_is_hex(s, n) is true for
 * exactly ${n} lowercase hex digits; rfs_is_packtmp(s) for a pack being
 * written, "<32 hex>.tmp".  Nothing else on the card is ever deleted.
 */
bool rfs_is_hex(const char *s, size_t n);
bool rfs_is_packtmp(const char *s);

/* SET_LABEL(buf, idhex, path): "sets/<idhex>/<path>", the user's name. */
#define SET_LABEL(buf, idhex, path) \
	snprintf((buf), sizeof(buf), "sets/%s/%s", (idhex), (path))

/* rfs_kind(mode): "a symbolic link", "a FIFO", "a device"... */
const char *rfs_kind(mode_t mode);

#endif /* !RFS_H_ */
