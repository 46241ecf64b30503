/* SPDX-License-Identifier: ISC */
/*
 * fuzz_lock: another process's lock file (docs/FORMAT.md §13), as
 * repo_lock reads it (lock_parse and the staleness rules).  Input: one
 * byte choosing the kind of lock we ask for (read, append, exclusive),
 * then the text of a foreign lock file.  So that the fuzzer can reach
 * the same-host rules, "host =" in the text becomes "host <our host
 * hash>", "pid =" becomes "pid <our pid>" (a live process), "start ="
 * becomes "start <our start time>" and "boot =" "boot <this boot's id>":
 * a lock of this host as coffers before the keyed lock values wrote it
 * (raw start time and boot id, host hash keyed by the repository id),
 * which repo_lock still reads by those rules.  The keyed values of
 * today's locks are compared the same way, hash for hash (lock_stale);
 * 50-lock drives that path with the values tests/integration/helpers/
 * lockval prints.  Today's kind is fuzzed too: "hostk =", "startk =" and
 * "bootk =" become our keyed host hash, start value and boot value
 * (repo_lock_values), and the same property holds for them.
 *
 * Properties (the protocol of §13): repo_lock only succeeds or fails
 * with COFFER_ELOCKED; on failure our own lock file is gone and the
 * foreign one is left alone; a foreign lock is only ever deleted when it
 * can be read as one (an unreadable lock, or one of an unknown kind, is
 * exclusive and as new as its mtime); a readable lock of this host and
 * of our (live) pid is deleted exactly when its start time is there and
 * differs from ours (a reused pid) or its boot id is there and differs
 * and its time is before this boot began or 1800 s old, so a live
 * lock is never taken for stale; a request is granted beside a kept
 * foreign lock only if that lock's kind allows it; and after repo_unlock
 * no file of ours remains.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FOREIGN		"ffffffffffffffff.lock"

#include "fuzz.h"

static int locksfd = -1;
static char hosthash[33];
/* The keyed values of a lock of ours (§13); "" without a lock key. */
static char khost[33], kstart[32], kboot[33];
/* Ours, read from /proc here (not by lock.c); "" if /proc cannot tell. */
static char mystart[32], myboot[33];

/*
 * proc_ident(): mystart from field 22 of /proc/self/stat (fields counted
 * after the ")" that ends the command name), myboot from the boot id
 * with its dashes taken out.
 */
static void
proc_ident(void)
{
	char buf[2048], *p;
	size_t n, o = 0;
	FILE *f;

	if ((f = fopen("/proc/self/stat", "r")) != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
		if ((p = strrchr(buf, ')')) != NULL) {
			for (int field = 2; field < 22 && p != NULL; field++)
				p = strchr(p + 1, ' ');
			if (p != NULL)
				sscanf(p + 1, "%31[0-9]", mystart);
		}
	}
	if ((f = fopen("/proc/sys/kernel/random/boot_id", "r")) != NULL) {
		if (fgets(buf, sizeof(buf), f) != NULL)
			for (p = buf; *p != '\0' && *p != '\n' && o < 32; p++)
				if (*p != '-')
					myboot[o++] = *p;
		myboot[o == 32 ? 32 : 0] = '\0';
		fclose(f);
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct repo *rp;
	char host[256] = "";
	uint8_t key[KEY_LEN] = { 0 };
	uint8_t h[HASH_LEN];

	(void)argc;
	(void)argv;
	fuzz_setup();
	rp = fuzz_repo();
	if ((locksfd = openat(rp->dirfd, "locks", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		fuzz_fail(__FILE__, __LINE__, "setup", "no locks/");
	/* §13: keyed by the repository id followed by 16 zero bytes. */
	gethostname(host, sizeof(host) - 1);
	memcpy(key, rp->id, REPO_ID_LEN);
	hash_keyed(h, key, host, strlen(host));
	hex_encode(hosthash, h, 16);
	proc_ident();
	if (mystart[0] != '\0') {
		char oh[33];
		unsigned long long v;

		if (repo_lock_values(rp, (long)getpid(), strtoull(mystart,
		    NULL, 10), NULL, khost, oh, kboot, &v) == 0)
			snprintf(kstart, sizeof(kstart), "%llu", v);
		else
			khost[0] = kboot[0] = '\0';
	}
	return 0;
}

/* Files in locks/ other than the foreign one. */
static int
count_ours(void)
{
	struct dirent *de;
	DIR *d;
	int fd, n = 0;

	if ((fd = dup(locksfd)) == -1 || (d = fdopendir(fd)) == NULL)
		abort();
	rewinddir(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && strcmp(de->d_name, FOREIGN) != 0)
			n++;
	closedir(d);
	return n;
}

/* What readable() found in a lock it can read. */
struct foreign {
	int	kind;
	long	pid;
	char	host[33];
	char	start[32];	/* "" if absent */
	char	boot[33];	/* "" if absent */
	long long time;
};

/* all_of(s, n, set): the first ${n} bytes of ${s} are all in ${set}. */
static bool
all_of(const char *s, size_t n, const char *set)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\0' || strchr(set, s[i]) == NULL)
			return false;
	return true;
}

/*
 * readable(text, len, &f): the lock can be read as one (§13: text with
 * no NUL; the four fields, with the separators scanf allows, a kind of
 * 1 to 3 and a pid of a process; after time either nothing, or a
 * newline and then each line whole: "start" and 1 to 20 digits that fit
 * in 64 bits, then "boot" and 32 lowercase hex digits, both optional, in
 * this order), and what it says.  Otherwise it counts as exclusive.
 */
static bool
readable(const char *text, size_t len, struct foreign *f)
{
	const char *p, *nl;
	int n = -1;

	memset(f, 0, sizeof(*f));
	f->kind = REPO_LOCK_EXCLUSIVE;
	if (strlen(text) != len ||
	    sscanf(text, "coffer lock\nkind %d\npid %ld\nhost %32s\n"
	    "time %lld%n", &f->kind, &f->pid, f->host, &f->time, &n) != 4 ||
	    n < 0 ||
	    f->kind < REPO_LOCK_READ || f->kind > REPO_LOCK_EXCLUSIVE ||
	    f->pid < 1 || f->pid > INT_MAX)
		goto bad;
	p = text + n;
	if (*p == '\0')
		return true;
	if (*p++ != '\n')
		goto bad;
	/* Line by line: each must end in a newline. */
	if ((nl = strchr(p, '\n')) != NULL && strncmp(p, "start ", 6) == 0) {
		size_t d = (size_t)(nl - p) - 6;

		/* UINT64_MAX has 20 digits: 18446744073709551615. */
		if (d < 1 || d > 20 || !all_of(p + 6, d, "0123456789") ||
		    (d == 20 && strncmp(p + 6, "18446744073709551615", 20) > 0))
			goto bad;
		memcpy(f->start, p + 6, d);
		p = nl + 1;
	}
	if ((nl = strchr(p, '\n')) != NULL && strncmp(p, "boot ", 5) == 0) {
		if (nl - p != 5 + 32 || !all_of(p + 5, 32, "0123456789abcdef"))
			goto bad;
		memcpy(f->boot, p + 5, 32);
		p = nl + 1;
	}
	if (*p == '\0')
		return true;
bad:
	memset(f, 0, sizeof(*f));
	f->kind = REPO_LOCK_EXCLUSIVE;
	return false;
}

/* same_number(a, b): two decimal strings name the same number. */
static bool
same_number(const char *a, const char *b)
{
	while (*a == '0' && a[1] != '\0')
		a++;
	while (*b == '0' && b[1] != '\0')
		b++;
	return strcmp(a, b) == 0;
}

/* Copy ${in} to ${out}, replacing each token by its value. */
static size_t
expand(const uint8_t *in, size_t len, char *out)
{
	char pid[32];
	size_t o = 0;

	snprintf(pid, sizeof(pid), "pid %ld", (long)getpid());
	for (size_t i = 0; i < len;) {
		if (len - i >= 7 && memcmp(in + i, "hostk =", 7) == 0) {
			o += (size_t)sprintf(out + o, "host %s", khost);
			i += 7;
		} else if (len - i >= 8 && memcmp(in + i, "startk =", 8) == 0) {
			o += (size_t)sprintf(out + o, "start %s", kstart);
			i += 8;
		} else if (len - i >= 7 && memcmp(in + i, "bootk =", 7) == 0) {
			o += (size_t)sprintf(out + o, "boot %s", kboot);
			i += 7;
		} else if (len - i >= 6 && memcmp(in + i, "host =", 6) == 0) {
			o += (size_t)sprintf(out + o, "host %s", hosthash);
			i += 6;
		} else if (len - i >= 5 && memcmp(in + i, "pid =", 5) == 0) {
			o += (size_t)sprintf(out + o, "%s", pid);
			i += 5;
		} else if (len - i >= 7 && memcmp(in + i, "start =", 7) == 0) {
			o += (size_t)sprintf(out + o, "start %s", mystart);
			i += 7;
		} else if (len - i >= 6 && memcmp(in + i, "boot =", 6) == 0) {
			o += (size_t)sprintf(out + o, "boot %s", myboot);
			i += 6;
		} else {
			out[o++] = (char)in[i++];
		}
	}
	return o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct coffer_err err = { 0 };
	struct repo_lock *l = NULL;
	struct foreign f;
	char *text;
	size_t tlen;
	bool kept, parses;
	int kind, fk, r;

	if (size == 0)
		return 0;
	if (locksfd == -1)
		LLVMFuzzerInitialize(NULL, NULL);
	kind = REPO_LOCK_READ + data[0] % 3;
	/* Each token grows at most 7 times ("boot =": 6 bytes to 37). */
	if ((text = malloc(8 * size + 64)) == NULL)
		abort();
	tlen = expand(data + 1, size - 1, text);
	fuzz_write(locksfd, FOREIGN, text, tlen, 0600);
	text[tlen] = '\0';
	parses = readable(text, tlen, &f);
	fk = f.kind;

	r = repo_lock(fuzz_repo(), kind, &l, &err);
	kept = fuzz_exists(locksfd, FOREIGN);
	FUZZ_CHECK(r == 0 || r == COFFER_ELOCKED,
	    "repo_lock returned %d (%s)", r, err.msg);
	FUZZ_CHECK((r == 0) == (l != NULL), "result %d, lock %p", r,
	    (void *)l);
	FUZZ_CHECK(kept || parses, "deleted a lock file that does not parse");
	if (parses && (strcmp(f.host, hosthash) == 0 || (khost[0] != '\0' &&
	    strcmp(f.host, khost) == 0)) && f.pid == getpid() &&
	    mystart[0] != '\0' && myboot[0] != '\0') {
		/*
		 * Our pid runs: only a start or boot not ours makes it
		 * another process's lock (§13).  Another boot written
		 * since this one began is another machine's of the same
		 * host name: stale only by age.
		 */
		long long now = (long long)time(NULL), booted;
		struct timespec up;
		bool keyed = strcmp(f.host, khost) == 0;
		const char *start = keyed ? kstart : mystart;
		const char *boot = keyed ? kboot : myboot;
		bool other;

		if (f.boot[0] != '\0' && strcmp(f.boot, boot) != 0 &&
		    clock_gettime(CLOCK_BOOTTIME, &up) == 0) {
			booted = now - (long long)up.tv_sec;
			other = f.time < booted - 120 || f.time < now - 1800;
		} else
			other = f.start[0] != '\0' &&
			    !same_number(f.start, start);

		FUZZ_CHECK(kept == !other, "a lock of our pid with start "
		    "'%s' (ours %s) and boot '%s' (ours %s) was %s", f.start,
		    start, f.boot, boot, kept ? "kept" : "deleted");
	}
	if (r != 0) {
		FUZZ_CHECK(kept, "refused for a lock it deleted");
		FUZZ_CHECK(count_ours() == 0, "our lock left behind on failure");
		FUZZ_CHECK(strstr(err.msg, FOREIGN) != NULL,
		    "message does not name the lock: %s", err.msg);
	} else {
		FUZZ_CHECK(!(kind == REPO_LOCK_EXCLUSIVE && kept),
		    "exclusive lock granted beside a live lock");
		if (kept) {
			/* Kept and granted: a known kind that does not
			 * conflict with ours. */
			FUZZ_CHECK(parses && (fk == REPO_LOCK_READ ||
			    (fk == REPO_LOCK_APPEND && kind == REPO_LOCK_READ)),
			    "granted beside a lock of kind %d", fk);
		}
		FUZZ_CHECK(count_ours() == 1, "%d lock files of ours",
		    count_ours());
		repo_unlock(l);
		FUZZ_CHECK(count_ours() == 0, "our lock left after unlock");
	}
	(void)unlinkat(locksfd, FOREIGN, 0);
	free(text);
	return 0;
}
