/* SPDX-License-Identifier: ISC */
/*
 * destroy: remove a whole key set from the card.  Snapshots go first, so
 * that an interruption never leaves a snapshot whose data is gone; the
 * keyinfo and the folder go last.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "repo.h"
#include "repo_internal.h"
#include "rfs.h"

/* Remove every file in ${sub} of ${pfd}, then ${sub} itself. */
static int
rm_dir(int pfd, const char *sub, const char *label, struct coffer_err *err)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if ((fd = openat(pfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : coffer_err_sys(err, "cannot open "
		    "'%s'", label);
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return coffer_err_sys(err, "cannot read '%s'", label);
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		struct stat sb;
		char sublabel[512];
		int r;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sublabel, sizeof(sublabel), "%s/%s", label, de->d_name);
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(sb.st_mode)) {
			if ((r = rm_dir(dirfd(d), de->d_name, sublabel, err)) != 0) {
				closedir(d);
				return r;
			}
		} else if (unlinkat(dirfd(d), de->d_name, 0) != 0) {
			r = coffer_err_sys(err, "cannot remove '%s'", sublabel);
			closedir(d);
			return r;
		}
	}
	if (fsync_dir(dirfd(d)) != 0) {
		closedir(d);
		return coffer_err_sys(err, "cannot sync '%s'", label);
	}
	closedir(d);
	if (unlinkat(pfd, sub, AT_REMOVEDIR) != 0 && errno != ENOENT)
		return coffer_err_sys(err, "cannot remove '%s'", label);
	return 0;
}

int
repo_destroy_set(struct repo *rp, const char *keyid_hex, struct coffer_err *err)
{
	static const char *const order[] = { "snapshots", "index", "packs" };
	char sub[64], label[128];
	int setsfd = -1, sfd = -1;
	int r;

	/* Real folders only: "sets" and the set itself are never followed. */
	snprintf(sub, sizeof(sub), "sets/%s", keyid_hex);
	if ((r = rfs_open_dir(rp->dirfd, "sets", "sets", &setsfd, err)) != 0 ||
	    (r = rfs_open_dir(setsfd, keyid_hex, sub, &sfd, err)) != 0) {
		coffer_err_prefix(err, "cannot open key set in '%s'", rp->path);
		goto out;
	}
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		snprintf(label, sizeof(label), "%s/%s", sub, order[i]);
		if ((r = rm_dir(sfd, order[i], label, err)) != 0)
			goto out;
	}
	if ((r = rm_dir(setsfd, keyid_hex, sub, err)) != 0)
		goto out;
	if (fsync_dir(setsfd) != 0) {
		r = coffer_err_sys(err, "cannot sync '%s/sets'", rp->path);
		goto out;
	}
	r = 0;
out:
	if (sfd != -1)
		close(sfd);
	if (setsfd != -1)
		close(setsfd);
	return r;
}
