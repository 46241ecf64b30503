/* SPDX-License-Identifier: ISC */
/*
 * unborn: a key set folder whose creation was cut off.
 *
 * A new key set's folders are made first and its keyinfo last (FORMAT.md
 * §14): a power loss in between leaves sets/<key id>/ with empty packs/,
 * index/ and snapshots/ folders (some of them, or none) and perhaps a
 * keyinfo.tmp, but no keyinfo.  An interrupted key destroy ends the same
 * way.  Such a folder holds nothing: the next backup into that set
 * completes it, and check calls it a leftover, not damage.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "repo.h"
#include "repo_internal.h"
#include "rfs.h"

bool
empty_dir_at(int dfd, const char *name)
{
	struct dirent *de;
	bool empty = true;
	DIR *d;
	int fd;

	if ((fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return false;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return false;
	}
	while (empty && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			empty = false;
	closedir(d);
	return empty;
}

bool
repo_set_unborn(struct repo *rp, const char *keyid_hex)
{
	char sub[64];
	struct dirent *de;
	struct stat sb;
	bool unborn = true;
	DIR *d;
	int sfd = -1;

	snprintf(sub, sizeof(sub), "sets/%s", keyid_hex);
	if (rfs_open_dir(rp->dirfd, sub, sub, &sfd, NULL) != 0)
		return false;
	if ((d = fdopendir(sfd)) == NULL) {
		close(sfd);
		return false;
	}
	while (unborn && (de = readdir(d)) != NULL) {
		const char *n = de->d_name;

		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
			continue;
		if (strcmp(n, "packs") == 0 || strcmp(n, "index") == 0 ||
		    strcmp(n, "snapshots") == 0)
			unborn = empty_dir_at(sfd, n);
		else if (strcmp(n, "keyinfo.tmp") == 0)
			unborn = fstatat(sfd, n, &sb, AT_SYMLINK_NOFOLLOW) ==
			    0 && S_ISREG(sb.st_mode);
		else
			unborn = false;	/* a keyinfo, or anything else */
	}
	closedir(d);
	return unborn;
}
