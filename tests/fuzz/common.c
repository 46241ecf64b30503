/* SPDX-License-Identifier: ISC */
/*
 * common: the scratch directory, fixed keys, repository and key set that
 * the fuzz targets share (see fuzz.h).  Any setup failure aborts: a
 * harness that cannot set up must not report "no crash".
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

const uint8_t fuzz_dk[KEY_LEN] = {
	0x66, 0x75, 0x7a, 0x7a, 0x20, 0x64, 0x61, 0x74,	/* "fuzz dat" */
	0x61, 0x20, 0x6b, 0x65, 0x79, 0x20, 0x30, 0x31,	/* "a key 01" */
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
	0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
};
const uint8_t fuzz_ks_keyid[8] = {
	0xf0, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
};
const uint8_t fuzz_ks_repoid[16] = {
	0xf0, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
};
const uint8_t fuzz_kmk[KEY_LEN] = {
	0x6b, 0x6d, 0x6b, 0x20, 0x6f, 0x66, 0x20, 0x74,	/* "kmk of t" */
	0x68, 0x65, 0x20, 0x66, 0x75, 0x7a, 0x7a, 0x20,	/* "he fuzz " */
	0x6b, 0x65, 0x79, 0x73, 0x74, 0x6f, 0x72, 0x65,	/* "keystore" */
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
};

static char scratch[PATH_MAX];
static pid_t scratch_owner;
static struct repo *repo;
static struct keyset *keyset;

void
fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: property failed: %s: ", file, line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static void
rm_rf_at(int dfd, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if (unlinkat(dfd, name, 0) == 0)
		return;
	if ((fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rm_rf_at(dirfd(d), de->d_name);
	}
	closedir(d);
	(void)unlinkat(dfd, name, AT_REMOVEDIR);
}

void
fuzz_rm_rf(const char *path)
{
	rm_rf_at(AT_FDCWD, path);
}

static void
cleanup(void)
{
	/* Only the process that made it (libFuzzer -fork children exit too). */
	keyset_free(keyset);
	keyset = NULL;
	repo_free(repo);
	repo = NULL;
	if (scratch[0] != '\0' && getpid() == scratch_owner)
		fuzz_rm_rf(scratch);
}

static bool
writable_dir(const char *p)
{
	struct stat sb;

	return p != NULL && *p == '/' && stat(p, &sb) == 0 &&
	    S_ISDIR(sb.st_mode) && access(p, W_OK | X_OK) == 0;
}

void
fuzz_setup(void)
{
	const char *base;

	if (scratch[0] != '\0')
		return;
	if (coffer_crypto_init() != 0) {
		fprintf(stderr, "fuzz: libsodium does not start\n");
		abort();
	}
	base = getenv("FUZZ_TMPDIR");
	if (!writable_dir(base))
		base = writable_dir("/dev/shm") ? "/dev/shm" : getenv("TMPDIR");
	if (!writable_dir(base))
		base = "/tmp";
	snprintf(scratch, sizeof(scratch), "%s/coffer-fuzz.XXXXXX", base);
	if (mkdtemp(scratch) == NULL) {
		fprintf(stderr, "fuzz: mkdtemp %s: %s\n", scratch,
		    strerror(errno));
		abort();
	}
	scratch_owner = getpid();
	atexit(cleanup);
}

const char *
fuzz_dir(void)
{
	fuzz_setup();
	return scratch;
}

const char *
fuzz_path(char *out, size_t cap, const char *fmt, ...)
{
	char rest[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rest, sizeof(rest), fmt, ap);
	va_end(ap);
	snprintf(out, cap, "%s/%s", fuzz_dir(), rest);
	return out;
}

struct repo *
fuzz_repo(void)
{
	struct coffer_err err = { 0 };
	char p[PATH_MAX];

	if (repo != NULL)
		return repo;
	fuzz_path(p, sizeof(p), "repo");
	if (repo_create(p, NAME_BY_COUNT, SCOPE_DEVICE, PERIOD_DAY,
	    CUSTODY_LOCAL, &err) != 0 || repo_open(p, &repo, &err) != 0) {
		fprintf(stderr, "fuzz: repository %s: %s\n", p, err.msg);
		abort();
	}
	return repo;
}

struct keyset *
fuzz_keyset(void)
{
	struct coffer_err err = { 0 };

	if (keyset != NULL)
		return keyset;
	if (keyset_open(fuzz_repo(), fuzz_dk, true, NULL, &keyset,
	    &err) != 0) {
		fprintf(stderr, "fuzz: key set: %s\n", err.msg);
		abort();
	}
	return keyset;
}

void
fuzz_write(int dirfd, const char *name, const void *p, size_t len, int mode)
{
	int fd;

	if ((fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, mode)) == -1 || write_full(fd, p, len) != 0 ||
	    fchmod(fd, (mode_t)mode) != 0) {
		fprintf(stderr, "fuzz: write %s: %s\n", name, strerror(errno));
		abort();
	}
	close(fd);
}

bool
fuzz_exists(int dirfd, const char *name)
{
	struct stat sb;

	return fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

void
fuzz_passwd_file(uint8_t out[FUZZ_PASSWD_LEN])
{
	static const uint8_t salt[PWHASH_SALT_LEN] = "fuzz salt 16 b.";
	uint8_t kek[KEY_LEN];

	memcpy(out, "CFKSPW01", 8);
	le64enc(out + 8, KEYSTORE_FAST_OPSLIMIT);
	le64enc(out + 16, KEYSTORE_FAST_MEMLIMIT);
	memcpy(out + 24, salt, PWHASH_SALT_LEN);
	if (pwhash_derive(kek, sizeof(kek), FUZZ_PASSWORD,
	    strlen(FUZZ_PASSWORD), salt, KEYSTORE_FAST_OPSLIMIT,
	    KEYSTORE_FAST_MEMLIMIT) != 0) {
		fprintf(stderr, "fuzz: Argon2id failed\n");
		abort();
	}
	aead_seal(out + 40, fuzz_kmk, KEY_LEN, out, 40, kek);
	hash_plain(out + 112, 16, out, 112);
	secret_wipe(kek, sizeof(kek));
}
