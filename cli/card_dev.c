/* SPDX-License-Identifier: ISC */
/*
 * card_dev: the block-device side of coffer card: which file system a
 * device holds (libblkid), where a repository is mounted
 * (/proc/self/mountinfo), and mounting and unmounting a card — through
 * the kernel, or through exfat-fuse on a kernel without exFAT.
 */
#define _GNU_SOURCE	/* syncfs */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <blkid/blkid.h>

#include "card.h"
#include "cli.h"

/* Mount options that hold for every card: no setuid, devices, programs. */
#define CARD_MS_FLAGS	(MS_NOSUID | MS_NODEV | MS_NOEXEC)
#define CARD_FUSE_OPTS	"nosuid,nodev,noexec,umask=077"

bool
card_uuid_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CARD_UUID_MAX)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= 'A' && *s <= 'Z') || *s == '-'))
			return false;
	return true;
}

static int
probe_value(blkid_probe pr, const char *name, char *out, size_t cap)
{
	const char *data;
	size_t len;

	out[0] = '\0';
	if (blkid_probe_lookup_value(pr, name, &data, &len) != 0)
		return -1;
	snprintf(out, cap, "%.*s", (int)len, data);
	return 0;
}

int
card_probe(const char *dev, char uuid[CARD_UUID_MAX + 1], char fstype[16],
    char *label, size_t labcap)
{
	blkid_probe pr = NULL;
	struct stat st;
	char buf[256];
	int r = -1, rc;

	if (stat(dev, &st) != 0) {
		fprintf(stderr, "coffer %s: cannot read device '%s': %s\n",
		    g_cmd, dev, strerror(errno));
		return -1;
	}
	if (!S_ISBLK(st.st_mode)) {
		fprintf(stderr, "coffer %s: '%s' is not a block device\n",
		    g_cmd, dev);
		return -1;
	}
	if ((pr = blkid_new_probe_from_filename(dev)) == NULL) {
		fprintf(stderr, "coffer %s: cannot probe '%s': %s\n", g_cmd,
		    dev, strerror(errno));
		return -1;
	}
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_UUID |
	    BLKID_SUBLKS_TYPE | BLKID_SUBLKS_LABEL);
	/* 1: nothing found; -2: two file systems claim it (ambivalent). */
	if ((rc = blkid_do_safeprobe(pr)) != 0) {
		fprintf(stderr, "coffer %s: '%s': %s\n", g_cmd, dev,
		    rc == 1 ? "no file system found" : rc == -2 ?
		    "more than one file system signature (ambivalent)" :
		    "cannot probe the file system");
		goto out;
	}
	if (probe_value(pr, "TYPE", buf, sizeof(buf)) != 0 ||
	    (strcmp(buf, "exfat") != 0 && strcmp(buf, "vfat") != 0)) {
		fprintf(stderr, "coffer %s: '%s' holds %s%s, not exFAT or "
		    "FAT (vfat)\n", g_cmd, dev, buf[0] != '\0' ? "a file "
		    "system of type " : "no file system type", buf);
		goto out;
	}
	snprintf(fstype, 16, "%s", strcmp(buf, "exfat") == 0 ? "exfat" :
	    "vfat");
	if (probe_value(pr, "UUID", buf, sizeof(buf)) != 0 ||
	    !card_uuid_ok(buf)) {
		fprintf(stderr, "coffer %s: '%s': %s\n", g_cmd, dev,
		    buf[0] == '\0' ? "the file system has no UUID" :
		    "the file system's UUID has characters a UUID does not "
		    "have");
		goto out;
	}
	/* card_uuid_ok: 1 ... CARD_UUID_MAX bytes. */
	memcpy(uuid, buf, strlen(buf) + 1);
	if (label != NULL)
		(void)probe_value(pr, "LABEL", label, labcap);
	r = 0;
out:
	blkid_free_probe(pr);
	return r;
}

/* unescape(s): mountinfo's \ooo octal escapes, in place. */
static void
unescape(char *s)
{
	char *o = s;

	for (; *s != '\0'; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
			    (s[3] - '0'));
			s += 3;
		} else
			*o++ = *s;
	}
	*o = '\0';
}

/* under(path, mnt): ${path} is ${mnt} or inside it. */
static bool
under(const char *path, const char *mnt)
{
	size_t n = strlen(mnt);

	if (strcmp(mnt, "/") == 0)
		return true;
	return strncmp(path, mnt, n) == 0 && (path[n] == '\0' ||
	    path[n] == '/');
}

int
card_mount_of(const char *path, char *dev, size_t dcap, char *mnt,
    size_t mcap)
{
	char real[PATH_MAX], *line = NULL;
	size_t cap = 0, best = 0;
	FILE *f;

	if (realpath(path, real) == NULL) {
		fprintf(stderr, "coffer %s: cannot find '%s': %s\n", g_cmd,
		    path, strerror(errno));
		return -1;
	}
	if ((f = fopen("/proc/self/mountinfo", "re")) == NULL) {
		fprintf(stderr, "coffer %s: cannot read "
		    "/proc/self/mountinfo: %s\n", g_cmd, strerror(errno));
		return -1;
	}
	dev[0] = mnt[0] = '\0';
	/* id parent maj:min root MOUNTPOINT opts [tags] - fstype SOURCE ... */
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *tok, *mp = NULL, *src = NULL;
		int field = 0;
		bool dash = false;

		for (tok = strtok_r(line, " \n", &save); tok != NULL;
		    tok = strtok_r(NULL, " \n", &save), field++) {
			if (field == 4) {
				mp = tok;
			} else if (!dash && field > 5 &&
			    strcmp(tok, "-") == 0) {
				/* fstype is field 101, the source 102. */
				field = 100;
				dash = true;
			} else if (dash && field == 102) {
				src = tok;
			}
		}
		if (mp == NULL || src == NULL)
			continue;
		unescape(mp);
		unescape(src);
		/* The last of equal mount points is the one on top. */
		if (under(real, mp) && strlen(mp) >= best) {
			best = strlen(mp);
			snprintf(dev, dcap, "%s", src);
			snprintf(mnt, mcap, "%s", mp);
		}
	}
	free(line);
	fclose(f);
	if (dev[0] != '/') {
		fprintf(stderr, "coffer %s: '%s' is not on a mounted device "
		    "(mounted from '%s')\n", g_cmd, real, dev);
		return -1;
	}
	return 0;
}

bool
card_is_mounted(const char *dir)
{
	char parent[PATH_MAX];
	struct stat a, b;

	/* A FUSE mount whose daemon died answers ENOTCONN. */
	if (stat(dir, &a) != 0)
		return errno == ENOTCONN;
	snprintf(parent, sizeof(parent), "%s/..", dir);
	if (stat(parent, &b) != 0)
		return false;
	return a.st_dev != b.st_dev;
}

/* fuse_mount(dev, dir, rw): exfat-fuse, for kernels without exFAT. */
static int
fuse_mount(const char *dev, const char *dir, bool rw)
{
	char opts[64];
	pid_t pid;
	int status;

	snprintf(opts, sizeof(opts), "%s,%s", rw ? "rw" : "ro",
	    CARD_FUSE_OPTS);
	fflush(NULL);
	if ((pid = fork()) < 0) {
		fprintf(stderr, "coffer %s: fork: %s\n", g_cmd,
		    strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* Its banner goes where our messages go (the journal). */
		(void)dup2(STDERR_FILENO, STDOUT_FILENO);
		execlp("mount.exfat-fuse", "mount.exfat-fuse", "-o", opts, dev,
		    dir, (char *)NULL);
		fprintf(stderr, "coffer %s: cannot run mount.exfat-fuse "
		    "(package exfat-fuse): %s\n", g_cmd, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    !card_is_mounted(dir)) {
		fprintf(stderr, "coffer %s: mount.exfat-fuse could not mount "
		    "'%s' at '%s'\n", g_cmd, dev, dir);
		return -1;
	}
	/* exfat-fuse drops noexec: set the mount's flags again. */
	if (mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND | CARD_MS_FLAGS |
	    (rw ? 0 : MS_RDONLY), NULL) != 0) {
		fprintf(stderr, "coffer %s: cannot make the mount at '%s' "
		    "nosuid,nodev,noexec: %s\n", g_cmd, dir, strerror(errno));
		(void)umount2(dir, UMOUNT_NOFOLLOW);
		return -1;
	}
	return 0;
}

int
card_mount(const char *dev, const char *fstype, const char *dir, bool rw)
{
	unsigned long flags = CARD_MS_FLAGS | (rw ? 0 : MS_RDONLY);

	if (card_is_mounted(dir)) {
		fprintf(stderr, "coffer %s: '%s' is still mounted (a run "
		    "that was stopped, or a card pulled): detaching it\n",
		    g_cmd, dir);
		(void)umount2(dir, MNT_DETACH | UMOUNT_NOFOLLOW);
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "coffer %s: cannot make '%s': %s\n", g_cmd, dir,
		    strerror(errno));
		return -1;
	}
	if (mount(dev, dir, fstype, flags, "umask=077") == 0)
		return 0;
	/* ENODEV: the kernel has no such file system (no exfat module). */
	if (errno == ENODEV && strcmp(fstype, "exfat") == 0)
		return fuse_mount(dev, dir, rw);
	fprintf(stderr, "coffer %s: cannot mount '%s' (%s) at '%s'%s: %s\n",
	    g_cmd, dev, fstype, dir, rw ? "" : " read-only", strerror(errno));
	return -1;
}

int
card_unmount(const char *dir)
{
	const struct timespec pause = { 0, 200 * 1000 * 1000 };
	int fd, r = -1;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) >= 0) {
		if (syncfs(fd) != 0)
			fprintf(stderr, "coffer %s: warning: flushing '%s': "
			    "%s\n", g_cmd, dir, strerror(errno));
		close(fd);
	}
	/* Busy for a moment after a run (a file system daemon's flush). */
	for (int i = 0; i < 25; i++) {
		if ((r = umount2(dir, UMOUNT_NOFOLLOW)) == 0 || errno != EBUSY)
			break;
		nanosleep(&pause, NULL);
	}
	if (r != 0) {
		fprintf(stderr, "coffer %s: cannot unmount '%s': %s (the card "
		    "must not be pulled yet)\n", g_cmd, dir, strerror(errno));
		return -1;
	}
	(void)rmdir(dir);
	return 0;
}
