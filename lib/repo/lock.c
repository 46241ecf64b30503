/* SPDX-License-Identifier: ISC */
/*
 * lock: advisory locks as files under <repo>/locks/, because a card may
 * be shared by devices that cannot see each other's processes.
 *
 * A lock file is text: "coffer lock\nkind K\npid P\nhost H\ntime T\n",
 * where H is a keyed hash of the host name under the repository id (the
 * name itself is not put on the card).  Protocol: write our lock, then
 * list the others; if one conflicts and is live, remove ours and fail.
 * Both sides of a race see each other and both back off; neither
 * proceeds wrongly.  A lock of this host is stale exactly when its
 * process no longer runs; a lock of another host when its time is more
 * than LOCK_STALE_SECS old (writers refresh it every LOCK_REFRESH_SECS).
 * A time in the future counts as live: never break a lock by guessing.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "repo.h"
#include "repo_internal.h"

#define LOCK_FILE_MAX	1024
#define LOCK_REFRESH_SECS	300

struct repo_lock {
	struct repo	*repo;
	char		 name[48];
	int		 kind;
	time_t		 written;
};

static void
host_hash(const struct repo *rp, char out[33])
{
	char host[256] = "";
	uint8_t key[KEY_LEN] = { 0 };
	uint8_t h[HASH_LEN];

	gethostname(host, sizeof(host) - 1);
	memcpy(key, rp->id, REPO_ID_LEN);
	hash_keyed(h, key, host, strlen(host));
	hex_encode(out, h, 16);
}

static int
lock_write(struct repo_lock *l, struct coffer_err *err)
{
	char text[256], hh[33], label[96];
	int lfd;
	int r;

	host_hash(l->repo, hh);
	l->written = time(NULL);
	snprintf(text, sizeof(text), "coffer lock\nkind %d\npid %ld\nhost %s\n"
	    "time %lld\n", l->kind, (long)getpid(), hh, (long long)l->written);
	snprintf(label, sizeof(label), "locks/%s", l->name);
	if ((lfd = openat(l->repo->dirfd, "locks", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		if (errno == ENOENT && mkdirat(l->repo->dirfd, "locks",
		    0700) == 0)
			lfd = openat(l->repo->dirfd, "locks", O_RDONLY |
			    O_DIRECTORY | O_CLOEXEC);
		if (lfd == -1)
			return coffer_err_sys(err, "cannot open '%s/locks'",
			    l->repo->path);
	}
	r = atomicfile_write(lfd, l->name, text, strlen(text), 0600, false,
	    label, err);
	close(lfd);
	return r;
}

struct lock_info {
	int		kind;
	long		pid;
	char		host[33];
	long long	time;
};

static int
lock_parse(const char *text, struct lock_info *li)
{
	memset(li, 0, sizeof(*li));
	if (sscanf(text, "coffer lock\nkind %d\npid %ld\nhost %32s\ntime %lld",
	    &li->kind, &li->pid, li->host, &li->time) != 4)
		return -1;
	/*
	 * A kind we do not know would conflict with nothing but exclusive
	 * locks, and a pid outside pid_t would reach kill() truncated (as
	 * 0 or -1, "alive" forever): such a file is unreadable, so it is
	 * treated as exclusive (docs/FORMAT.md §13).
	 */
	if (li->kind < REPO_LOCK_READ || li->kind > REPO_LOCK_EXCLUSIVE ||
	    li->pid < 1 || li->pid > INT_MAX)
		return -1;
	return 0;
}

static bool
is_lockfile(const char *s)
{
	size_t n = strlen(s);

	return n > 5 && strcmp(s + n - 5, ".lock") == 0;
}

static bool
conflicts(int a, int b)
{
	if (a == REPO_LOCK_EXCLUSIVE || b == REPO_LOCK_EXCLUSIVE)
		return true;
	return a == REPO_LOCK_APPEND && b == REPO_LOCK_APPEND;
}

int
repo_lock(struct repo *rp, int kind, struct repo_lock **out,
    struct coffer_err *err)
{
	struct repo_lock *l = NULL;
	char **names = NULL;
	size_t n = 0;
	char hh[33];
	uint8_t rnd[8];
	long long now = (long long)time(NULL);
	int r;

	*out = NULL;
	if ((l = coffer_calloc(1, sizeof(*l))) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "lock");
	l->repo = rp;
	l->kind = kind;
	random_bytes(rnd, sizeof(rnd));
	hex_encode(l->name, rnd, sizeof(rnd));
	strcat(l->name, ".lock");
	if ((r = lock_write(l, err)) != 0) {
		coffer_free(l);
		return r;
	}
	host_hash(rp, hh);
	if ((r = dir_list(rp->dirfd, "locks", "locks", is_lockfile, &names, &n,
	    err)) != 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		char path[96];
		uint8_t *text = NULL;
		size_t len;
		struct lock_info li;
		bool stale;
		int rr;

		if (strcmp(names[i], l->name) == 0)
			continue;
		snprintf(path, sizeof(path), "locks/%s", names[i]);
		rr = file_read(rp->dirfd, path, path, LOCK_FILE_MAX, &text,
		    &len, NULL);
		if (rr == COFFER_ENOTFOUND)
			continue;	/* vanished meanwhile */
		if (rr == 0)
			text[len] = '\0';
		/*
		 * Too large, not a regular file, unreadable or unparsable:
		 * exclusive, aged by the file's mtime.  Never skip it: a
		 * lock we cannot read is still someone's lock.
		 */
		if (rr != 0 || lock_parse((char *)text, &li) != 0) {
			struct stat sb;

			li.kind = REPO_LOCK_EXCLUSIVE;
			li.pid = 0;
			li.host[0] = '\0';
			li.time = fstatat(rp->dirfd, path, &sb, 0) == 0 ?
			    (long long)sb.st_mtime : now;
		}
		coffer_free(text);
		if (strcmp(li.host, hh) == 0 && li.pid > 0)
			/* This host: live exactly while its process runs. */
			stale = kill((pid_t)li.pid, 0) == -1 && errno == ESRCH;
		else
			/* Another host: live while it keeps refreshing. */
			stale = li.time < now - LOCK_STALE_SECS;
		if (stale) {
			(void)unlinkat(rp->dirfd, path, 0);
			continue;
		}
		if (conflicts(kind, li.kind)) {
			r = coffer_err_set(err, COFFER_ELOCKED, "repository "
			    "'%s' is in use by %s (pid %ld%s, lock '%s/%s'); "
			    "wait for it to finish, or remove that file if "
			    "no coffer is running there", rp->path,
			    li.kind == REPO_LOCK_APPEND ? "a backup" :
			    li.kind == REPO_LOCK_READ ? "a reader" :
			    "an exclusive operation", li.pid,
			    strcmp(li.host, hh) == 0 ? " on this host" :
			    " on another host", rp->path, path);
			goto fail;
		}
	}
	strlist_free(names, n);
	*out = l;
	return 0;
fail:
	strlist_free(names, n);
	repo_unlock(l);
	return r;
}

void
repo_lock_refresh(struct repo_lock *l)
{
	if (l == NULL || time(NULL) - l->written < LOCK_REFRESH_SECS)
		return;
	(void)lock_write(l, NULL);
}

void
repo_unlock(struct repo_lock *l)
{
	char path[96];
	int lfd;

	if (l == NULL)
		return;
	snprintf(path, sizeof(path), "locks/%s", l->name);
	(void)unlinkat(l->repo->dirfd, path, 0);
	if ((lfd = openat(l->repo->dirfd, "locks", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) != -1) {
		/* Best effort: the lock is gone either way. */
		if (fsync_dir(lfd) != 0) {
		}
		close(lfd);
	}
	coffer_free(l);
}
