/* SPDX-License-Identifier: ISC */
/*
 * fuzz_lock: another process's lock file (docs/FORMAT.md §13), as
 * repo_lock reads it (lock_parse and the staleness rules).  Input: one
 * byte choosing the kind of lock we ask for (read, append, exclusive),
 * then the text of a foreign lock file.  So that the fuzzer can reach
 * the same-host rules, "host =" in the text becomes "host <our host
 * hash>" and "pid =" becomes "pid <our pid>" (a live process).
 *
 * Properties (the protocol of §13): repo_lock only succeeds or fails
 * with COFFER_ELOCKED; on failure our own lock file is gone and the
 * foreign one is left alone; a foreign lock is only ever deleted when it
 * can be read as one (an unreadable lock, or one of an unknown kind, is
 * exclusive and as new as its mtime); a request is granted beside a kept
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
#include <unistd.h>

#define FOREIGN		"ffffffffffffffff.lock"

#include "fuzz.h"

static int locksfd = -1;
static char hosthash[33];

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

/*
 * readable(text, &kind): the lock can be read as one (§13: the four
 * fields, with the separators scanf allows, a kind of 1 to 3 and a pid
 * of a process), and its kind.  Otherwise it counts as exclusive.
 */
static bool
readable(const char *text, int *kind)
{
	char host[33];
	long pid;
	long long t;

	*kind = REPO_LOCK_EXCLUSIVE;
	if (sscanf(text, "coffer lock\nkind %d\npid %ld\nhost %32s\ntime %lld",
	    kind, &pid, host, &t) != 4 || *kind < REPO_LOCK_READ ||
	    *kind > REPO_LOCK_EXCLUSIVE || pid < 1 || pid > INT_MAX) {
		*kind = REPO_LOCK_EXCLUSIVE;
		return false;
	}
	return true;
}

/* Copy ${in} to ${out}, replacing each token by its value. */
static size_t
expand(const uint8_t *in, size_t len, char *out)
{
	char pid[32];
	size_t o = 0;

	snprintf(pid, sizeof(pid), "pid %ld", (long)getpid());
	for (size_t i = 0; i < len;) {
		if (len - i >= 6 && memcmp(in + i, "host =", 6) == 0) {
			o += (size_t)sprintf(out + o, "host %s", hosthash);
			i += 6;
		} else if (len - i >= 5 && memcmp(in + i, "pid =", 5) == 0) {
			o += (size_t)sprintf(out + o, "%s", pid);
			i += 5;
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
	char *text;
	size_t tlen;
	bool kept, parses;
	int kind, fk, r;

	if (size == 0)
		return 0;
	if (locksfd == -1)
		LLVMFuzzerInitialize(NULL, NULL);
	kind = REPO_LOCK_READ + data[0] % 3;
	/* Each token grows by at most 33 bytes per 5 of input. */
	if ((text = malloc(8 * size + 64)) == NULL)
		abort();
	tlen = expand(data + 1, size - 1, text);
	fuzz_write(locksfd, FOREIGN, text, tlen, 0600);
	text[tlen] = '\0';
	parses = readable(text, &fk);

	r = repo_lock(fuzz_repo(), kind, &l, &err);
	kept = fuzz_exists(locksfd, FOREIGN);
	FUZZ_CHECK(r == 0 || r == COFFER_ELOCKED,
	    "repo_lock returned %d (%s)", r, err.msg);
	FUZZ_CHECK((r == 0) == (l != NULL), "result %d, lock %p", r,
	    (void *)l);
	FUZZ_CHECK(kept || parses, "deleted a lock file that does not parse");
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
