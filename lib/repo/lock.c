/* SPDX-License-Identifier: ISC */
/*
 * lock: advisory locks as files under <repo>/locks/, because a card may
 * be shared by devices that cannot see each other's processes.
 *
 * A lock file is text: "coffer lock\nkind K\npid P\nhost H\ntime T\n"
 * and, where /proc can tell them, "start S\nboot B\n".  So that the
 * card does not tie itself to one device and one boot, H, B and S are
 * keyed hashes under a lock key that this device has and a card reader
 * lacks: BLAKE2b of /etc/machine-id and the repository id (lock_self;
 * systemd's advice for an app-specific machine id).  H hashes the host
 * name, B the boot id, S the boot id, pid and start time of the
 * holder; we compare hashes of what /proc says now.  Locks written by
 * coffer before that (H keyed by the repository id only, B and S in the
 * clear) are still read, by their old meaning.  Without a machine id
 * the old H is written, and neither S nor B.  Protocol: write our lock,
 * then list the others; if one conflicts and is live, remove ours and
 * fail.  Both sides of a race see each other and both back off;
 * neither proceeds wrongly.
 *
 * A lock of this host is stale when it was written in an earlier boot
 * (another boot id, and a time before this boot began; a later time means
 * another machine of the same host name, judged by its time),
 * when its process no longer runs, or when the process now running under
 * its pid started at another time (the pid was reused after a crash); a
 * lock without start and boot (an older coffer) is stale only when its
 * pid is gone.  A lock of another host is stale when its time is more
 * than LOCK_STALE_SECS old (writers refresh it every LOCK_REFRESH_SECS).
 * Every doubt keeps the lock: a time in the future counts as live, and
 * so does a process whose start time cannot be read.  Never break a lock
 * by guessing (docs/FORMAT.md §13).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "repo.h"
#include "repo_internal.h"
#include "rfs.h"

#define LOCK_FILE_MAX	1024
#define LOCK_REFRESH_SECS	300
#define LOCK_BOOT_LEN	32		/* hex digits of a boot id */
#define LOCK_START_DIGITS	20	/* decimal digits of a uint64 */
#define LOCK_BOOT_SLACK	120	/* seconds of doubt about when we booted */
#define LOCK_MACHINE_MAX	256

/*
 * What this process compares lock files with: its host hashes (the
 * keyed one and the old one), this boot's id in the clear and hashed,
 * and the lock key; "" / have_key false where it cannot be had.
 */
struct lock_self {
	bool	 have_key;
	uint8_t	 key[KEY_LEN];
	char	 host[33];		/* keyed by the lock key */
	char	 host_old[33];		/* keyed by the repository id */
	char	 boot[LOCK_BOOT_LEN + 1];	/* this boot's id */
	char	 boot_mac[LOCK_BOOT_LEN + 1];	/* its keyed hash */
};

struct repo_lock {
	struct repo	*repo;
	char		 name[48];
	int		 kind;
	time_t		 written;
	/* "start S\nboot B\n", or the part of it /proc could tell, or "". */
	char		 ident[80];
	char		 host[33];
};

/*
 * machine_id(out): $COFFER_MACHINE_ID, else the first line of
 * /etc/machine-id (as the keystore reads it); "" if neither.
 */
static void
machine_id(char out[LOCK_MACHINE_MAX])
{
	const char *v;
	uint8_t *buf = NULL;
	size_t len = 0, n = 0;

	out[0] = '\0';
	if ((v = getenv("COFFER_MACHINE_ID")) != NULL && *v != '\0') {
		snprintf(out, LOCK_MACHINE_MAX, "%s", v);
		return;
	}
	if (file_read(AT_FDCWD, "/etc/machine-id", "/etc/machine-id", 4096,
	    &buf, &len, NULL) != 0)
		return;
	while (n < len && n + 1 < LOCK_MACHINE_MAX && buf[n] != '\n' &&
	    buf[n] != '\0')
		n++;
	memcpy(out, buf, n);
	out[n] = '\0';
	coffer_free(buf);
}

/* mac_hex(key, tag, a, b, out): hex of 16 bytes of keyed BLAKE2b. */
static void
mac_hex(const uint8_t key[KEY_LEN], const char *tag, const char *a,
    const char *b, char out[33])
{
	struct hash_state st;
	uint8_t h[HASH_LEN];

	hash_init(&st, key, KEY_LEN);
	hash_update(&st, tag, strlen(tag) + 1);		/* with its NUL */
	hash_update(&st, a, strlen(a) + 1);
	hash_update(&st, b, strlen(b));
	hash_final(&st, h);
	hex_encode(out, h, 16);
}

/*
 * proc_mac(self, pid, start): the "start" value of a lock of process
 * ${pid} that started at ${start} in this boot: the first 8 bytes of
 * BLAKE2b(lock key; "coffer lock proc" || boot id || "pid start"),
 * little-endian, as a decimal number.
 */
static unsigned long long
proc_mac(const struct lock_self *self, long pid, unsigned long long start)
{
	struct hash_state st;
	uint8_t h[HASH_LEN];
	char ps[64];
	unsigned long long v = 0;

	snprintf(ps, sizeof(ps), "%ld %llu", pid, start);
	hash_init(&st, self->key, KEY_LEN);
	hash_update(&st, "coffer lock proc", 17);
	hash_update(&st, self->boot, strlen(self->boot) + 1);
	hash_update(&st, ps, strlen(ps));
	hash_final(&st, h);
	for (int i = 7; i >= 0; i--)
		v = v << 8 | h[i];
	return v;
}

static void boot_id(char out[LOCK_BOOT_LEN + 1]);

/*
 * lock_self(rp, self): the lock key, BLAKE2b-256 of "coffer lock key
 * v1\0" || machine id || "\0" || repository id, and what it hashes.
 */
static void
lock_self(const struct repo *rp, struct lock_self *self)
{
	char host[256] = "", mid[LOCK_MACHINE_MAX];
	uint8_t key[KEY_LEN] = { 0 };
	uint8_t h[HASH_LEN];
	struct hash_state st;

	memset(self, 0, sizeof(*self));
	gethostname(host, sizeof(host) - 1);
	/* Before the lock key: the host hash of older coffers. */
	memcpy(key, rp->id, REPO_ID_LEN);
	hash_keyed(h, key, host, strlen(host));
	hex_encode(self->host_old, h, 16);
	boot_id(self->boot);
	machine_id(mid);
	if (mid[0] == '\0') {
		memcpy(self->host, self->host_old, sizeof(self->host));
		return;
	}
	hash_init(&st, NULL, 0);
	hash_update(&st, "coffer lock key v1", 19);
	hash_update(&st, mid, strlen(mid) + 1);
	hash_update(&st, rp->id, REPO_ID_LEN);
	hash_final(&st, self->key);
	self->have_key = true;
	mac_hex(self->key, "coffer lock host", "", host, self->host);
	if (self->boot[0] != '\0')
		mac_hex(self->key, "coffer lock boot", "", self->boot,
		    self->boot_mac);
	secret_wipe(mid, sizeof(mid));
}

/*
 * parse_ticks(&p, &v): a start time, 1 to LOCK_START_DIGITS decimal
 * digits that fit in 64 bits, at *p; *p moves past them.  -1 otherwise:
 * a value read only in part could make a live lock look stale.
 */
static int
parse_ticks(const char **pp, unsigned long long *v)
{
	const char *p = *pp;
	unsigned long long x = 0;
	size_t n = 0;

	for (; *p >= '0' && *p <= '9'; p++, n++) {
		unsigned int d = (unsigned int)(*p - '0');

		if (n == LOCK_START_DIGITS || x > (ULLONG_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	if (n == 0)
		return -1;
	*v = x;
	*pp = p;
	return 0;
}

/*
 * proc_start(pid, &ticks): when process ${pid} (0: this one) started, in
 * clock ticks since boot: field 22 of /proc/<pid>/stat.  -1 if it cannot
 * be read (no /proc, no such process, hidden by hidepid).  Field 2, the
 * command name, is in parentheses and may hold spaces and ')', so the
 * fields are counted from the last ')'.
 */
static int
proc_start(long pid, unsigned long long *ticks)
{
	char path[64], buf[2048];
	const char *p;
	size_t got = 0;
	int fd, r;

	if (pid == 0)
		snprintf(path, sizeof(path), "/proc/self/stat");
	else
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	r = read_full(fd, buf, sizeof(buf) - 1, &got);
	close(fd);
	if (r != 0)
		return -1;
	buf[got] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	p++;
	/* Fields 3 to 21, each a space and a value; then field 22. */
	for (int f = 3; f < 22; f++) {
		if (*p++ != ' ')
			return -1;
		while (*p != ' ' && *p != '\0')
			p++;
	}
	if (*p++ != ' ')
		return -1;
	return parse_ticks(&p, ticks) == 0 && (*p == ' ' || *p == '\n' ||
	    *p == '\0') ? 0 : -1;
}

/*
 * boot_id(out): this boot's id, /proc/sys/kernel/random/boot_id without
 * its dashes: 32 lowercase hex digits.  "" if it cannot be read.
 */
static void
boot_id(char out[LOCK_BOOT_LEN + 1])
{
	char buf[64];
	size_t got = 0, n = 0;
	int fd, r;

	out[0] = '\0';
	if ((fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY |
	    O_CLOEXEC)) == -1)
		return;
	r = read_full(fd, buf, sizeof(buf) - 1, &got);
	close(fd);
	/* "8-4-4-4-12" hex digits and a newline. */
	if (r != 0 || got != 37 || buf[36] != '\n')
		return;
	for (size_t i = 0; i < 36; i++) {
		char c = buf[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return;
			continue;
		}
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return;
		out[n++] = c;
	}
	out[n] = '\0';
}

/*
 * lock_ident(self, out): the "start" and "boot" lines of our lock files,
 * keyed hashes (none without a lock key).
 */
static void
lock_ident(const struct lock_self *self, char out[80])
{
	unsigned long long start;
	size_t n = 0;

	out[0] = '\0';
	if (!self->have_key)
		return;
	if (proc_start(0, &start) == 0)
		n = (size_t)snprintf(out, 80, "start %llu\n", proc_mac(self,
		    (long)getpid(), start));
	if (self->boot_mac[0] != '\0')
		snprintf(out + n, 80 - n, "boot %s\n", self->boot_mac);
}

static int
lock_write(struct repo_lock *l, struct coffer_err *err)
{
	char text[256], label[96];
	int lfd;
	int r;

	l->written = time(NULL);
	snprintf(text, sizeof(text), "coffer lock\nkind %d\npid %ld\nhost %s\n"
	    "time %lld\n%s", l->kind, (long)getpid(), l->host,
	    (long long)l->written, l->ident);
	snprintf(label, sizeof(label), "locks/%s", l->name);
	if ((r = rfs_mkdir(l->repo->dirfd, "locks", "locks", 0700, err)) != 0 ||
	    (r = rfs_open_dir(l->repo->dirfd, "locks", "locks", &lfd,
	    err)) != 0)
		return coffer_err_prefix(err, "repository '%s'",
		    l->repo->path);
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
	bool		has_start;
	unsigned long long start;
	char		boot[LOCK_BOOT_LEN + 1];	/* "" if absent */
};

static int
lock_parse(const char *text, size_t len, struct lock_info *li)
{
	const char *p;
	int n = -1;

	memset(li, 0, sizeof(*li));
	if (strlen(text) != len)
		return -1;		/* a NUL byte: not text */
	if (sscanf(text, "coffer lock\nkind %d\npid %ld\nhost %32s\n"
	    "time %lld%n", &li->kind, &li->pid, li->host, &li->time,
	    &n) != 4 || n < 0)
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
	/*
	 * After time: nothing more (older coffers), or "start S\n" and
	 * "boot B\n", each optional, in this order.  Anything else, or a
	 * value that does not parse whole, makes the file unreadable too:
	 * a start time or boot id read wrongly could call a live lock
	 * stale.
	 */
	p = text + n;
	if (*p == '\0')
		return 0;
	if (*p++ != '\n')
		return -1;
	if (strncmp(p, "start ", 6) == 0) {
		p += 6;
		if (parse_ticks(&p, &li->start) != 0 || *p++ != '\n')
			return -1;
		li->has_start = true;
	}
	if (strncmp(p, "boot ", 5) == 0) {
		p += 5;
		for (size_t i = 0; i < LOCK_BOOT_LEN; i++)
			if (!((p[i] >= '0' && p[i] <= '9') ||
			    (p[i] >= 'a' && p[i] <= 'f')))
				return -1;
		if (p[LOCK_BOOT_LEN] != '\n')
			return -1;
		memcpy(li->boot, p, LOCK_BOOT_LEN);
		li->boot[LOCK_BOOT_LEN] = '\0';
		p += LOCK_BOOT_LEN + 1;
	}
	return *p == '\0' ? 0 : -1;
}

/*
 * lock_load(rp, path, now, li): read the lock file ${path} (relative to
 * the repository) into ${li}.  COFFER_ENOTFOUND if it vanished, else 0.
 * Too large, unreadable or unparsable: exclusive, of no host, aged by
 * the file's mtime.  Never skip it: a lock we cannot read is still
 * someone's lock.  Not a regular file (a link, a FIFO, a folder planted
 * on the card): COFFER_EFORMAT, naming it; coffer never wrote it.
 */
static int
lock_load(struct repo *rp, const char *path, long long now,
    struct lock_info *li, struct coffer_err *err)
{
	uint8_t *text = NULL;
	struct stat sb;
	size_t len = 0;
	int rr;

	if (fstatat(rp->dirfd, path, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISREG(sb.st_mode))
		return coffer_err_set(err, COFFER_EFORMAT, "'%s' is %s where "
		    "a lock file belongs (refused: coffer follows no links and "
		    "opens only files and folders on the card)", path,
		    rfs_kind(sb.st_mode));

	rr = rfs_read(rp->dirfd, path, path, LOCK_FILE_MAX, &text, &len,
	    NULL);
	if (rr == COFFER_ENOTFOUND)
		return rr;	/* vanished meanwhile */
	if (rr == 0)
		text[len] = '\0';
	if (rr != 0 || lock_parse((char *)text, len, li) != 0) {
		memset(li, 0, sizeof(*li));
		li->kind = REPO_LOCK_EXCLUSIVE;
		li->time = fstatat(rp->dirfd, path, &sb,
		    AT_SYMLINK_NOFOLLOW) == 0 ?
		    (long long)sb.st_mtime : now;
	}
	coffer_free(text);
	return 0;
}

/* lock_this_host(li, self): whether ${li} was written on this host. */
static bool
lock_this_host(const struct lock_info *li, const struct lock_self *self)
{
	return li->pid > 0 && (strcmp(li->host, self->host) == 0 ||
	    strcmp(li->host, self->host_old) == 0);
}

/*
 * lock_stale(li, self, now): whether the lock ${li} may be removed, for
 * a process that is ${self}, at ${now}.  A lock with our keyed host hash
 * carries keyed "boot" and "start" values, one with the old host hash
 * (an older coffer of this host) the values themselves.
 */
static bool
lock_stale(const struct lock_info *li, const struct lock_self *self,
    long long now)
{
	unsigned long long start;
	const char *boot;
	bool keyed;

	if (!lock_this_host(li, self))
		/* Another host: live while it keeps refreshing. */
		return li->time < now - LOCK_STALE_SECS;
	keyed = self->have_key && strcmp(li->host, self->host) == 0;
	boot = keyed ? self->boot_mac : self->boot;
	/*
	 * Another boot.  Written before this boot started: an earlier boot
	 * of this machine, whose processes are all gone.  Written since:
	 * another machine that carries the same host name (two cloned
	 * systems), live while it keeps refreshing.
	 */
	if (li->boot[0] != '\0' && boot[0] != '\0' && strcmp(li->boot,
	    boot) != 0) {
		struct timespec up;

		if (clock_gettime(CLOCK_BOOTTIME, &up) == 0 &&
		    li->time < now - (long long)up.tv_sec - LOCK_BOOT_SLACK)
			return true;
		return li->time < now - LOCK_STALE_SECS;
	}
	if (kill((pid_t)li->pid, 0) == -1 && errno == ESRCH)
		return true;
	/*
	 * A process runs under that pid; if it started at another time it
	 * is another process (the pid was reused).  If its start time
	 * cannot be read, or the lock does not record one, it is live.
	 */
	if (!li->has_start || proc_start(li->pid, &start) != 0)
		return false;
	return keyed ? proc_mac(self, li->pid, start) != li->start :
	    start != li->start;
}

int
repo_lock_values(const struct repo *rp, long pid, unsigned long long start,
    const char *boot, char host[33], char host_old[33], char bootv[33],
    unsigned long long *startv)
{
	struct lock_self self;
	int r = -1;

	lock_self(rp, &self);
	memcpy(host, self.host, 33);
	memcpy(host_old, self.host_old, 33);
	if (self.have_key) {
		if (boot != NULL)
			snprintf(self.boot, sizeof(self.boot), "%s", boot);
		mac_hex(self.key, "coffer lock boot", "", self.boot, bootv);
		*startv = proc_mac(&self, pid, start);
		r = 0;
	}
	secret_wipe(&self, sizeof(self));
	return r;
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
	struct lock_self self;
	uint8_t rnd[8];
	long long now = (long long)time(NULL);
	int r;

	*out = NULL;
	if ((l = coffer_calloc(1, sizeof(*l))) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "lock");
	l->repo = rp;
	l->kind = kind;
	lock_self(rp, &self);
	lock_ident(&self, l->ident);
	memcpy(l->host, self.host, sizeof(l->host));
	random_bytes(rnd, sizeof(rnd));
	hex_encode(l->name, rnd, sizeof(rnd));
	strcat(l->name, ".lock");
	if ((r = lock_write(l, err)) != 0) {
		coffer_free(l);
		return r;
	}
	if ((r = dir_list(rp->dirfd, "locks", "locks", is_lockfile, &names, &n,
	    err)) != 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		char path[96];
		struct lock_info li;

		if (strcmp(names[i], l->name) == 0)
			continue;
		snprintf(path, sizeof(path), "locks/%s", names[i]);
		if ((r = lock_load(rp, path, now, &li, err)) ==
		    COFFER_ENOTFOUND)
			continue;
		if (r != 0)
			goto fail;
		if (lock_stale(&li, &self, now)) {
			(void)rfs_unlink(rp->dirfd, path, path, NULL);
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
			    lock_this_host(&li, &self) ? " on this host" :
			    " on another host", rp->path, path);
			goto fail;
		}
	}
	strlist_free(names, n);
	secret_wipe(&self, sizeof(self));
	*out = l;
	return 0;
fail:
	strlist_free(names, n);
	secret_wipe(&self, sizeof(self));
	repo_unlock(l);
	return r;
}

int
repo_lock_writers(struct repo *rp, struct repo_lock_holder *first,
    size_t *nout, struct coffer_err *err)
{
	char **names = NULL;
	size_t n = 0;
	struct lock_self self;
	long long now = (long long)time(NULL);
	int r;

	memset(first, 0, sizeof(*first));
	*nout = 0;
	lock_self(rp, &self);
	if ((r = dir_list(rp->dirfd, "locks", "locks", is_lockfile, &names, &n,
	    err)) != 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		char path[96];
		struct lock_info li;

		snprintf(path, sizeof(path), "locks/%s", names[i]);
		/* A look only: stale locks are left for repo_lock to remove. */
		if ((r = lock_load(rp, path, now, &li, err)) ==
		    COFFER_ENOTFOUND)
			continue;
		if (r != 0) {
			strlist_free(names, n);
			return r;
		}
		if (li.kind == REPO_LOCK_READ || lock_stale(&li, &self, now))
			continue;
		if ((*nout)++ == 0) {
			first->kind = li.kind;
			first->pid = li.pid;
			first->this_host = lock_this_host(&li, &self);
		}
	}
	strlist_free(names, n);
	secret_wipe(&self, sizeof(self));
	return 0;
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
	(void)rfs_unlink(l->repo->dirfd, path, path, NULL);
	if (rfs_open_dir(l->repo->dirfd, "locks", "locks", &lfd, NULL) == 0) {
		/* Best effort: the lock is gone either way. */
		if (fsync_dir(lfd) != 0) {
		}
		close(lfd);
	}
	coffer_free(l);
}
