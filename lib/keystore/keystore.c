/* SPDX-License-Identifier: ISC */
/*
 * keystore: the protected directory of keys.  Every check is made on an
 * open descriptor (fstat), never on a path that could change under us.
 *
 * Key file layout: magic "CFKEYS01" | flags u32 | kind u32 | id[16] |
 * secret | checksum.  flags 0: the 32-byte secret in the clear (80 bytes
 * in all), protected by the directory; flags 1: sealed (72 bytes, AEAD
 * with the first 32 bytes as associated data) under the keystore master
 * key (116 bytes).  kind 0: a repository secret (id = repository id);
 * kind 2: a key set's data key (id = key id, zero-padded).  The checksum
 * is BLAKE2b-128 of everything before it.
 *
 * passwd (128 bytes): magic "CFKSPW01" | opslimit u64 | memlimit u64 |
 * salt[16] | master key sealed under Argon2id(password) (72, with the
 * first 40 bytes as associated data) | checksum (BLAKE2b-128).
 *
 * Blob files (any other name): magic "CFBLOB01" | flags u32 | length u32 |
 * data (length bytes in the clear, or sealed: length + 40, with the
 * first 16 bytes and the file name as associated data) | checksum
 * (BLAKE2b-128).  flags bit 0: sealed; bit 1: secret (seal it once a
 * password is set).
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keystore.h"

#define SUM_LEN			16	/* BLAKE2b-128 checksum */
#define KEYFILE_LEN		80	/* 32 + 32 + 16 */
#define KEYFILE_WRAPPED_LEN	120	/* 32 + 72 + 16 */
#define KEYFILE_F_WRAPPED	1
#define KEYFILE_KIND_REPO	0
#define KEYFILE_KIND_SET	2
#define PASSWD_LEN		128	/* 40 + 72 + 16 */
#define BLOB_HDR_LEN		16
#define BLOB_F_WRAPPED		1
#define BLOB_F_SECRET		2
#define BLOB_NAME_MAX		32

static const char keyfile_magic[8] = "CFKEYS01";
static const char passwd_magic[8] = "CFKSPW01";
static const char blob_magic[8] = "CFBLOB01";

struct keystore {
	char	*dir;
	int	 dirfd;
	uint8_t	*kmk;		/* guarded: keystore master key, if unlocked */
};

int
keystore_default_dir(char *out, size_t cap)
{
	const char *v;
	int n;

	if ((v = getenv("COFFER_KEYSTORE")) != NULL && *v != '\0')
		n = snprintf(out, cap, "%s", v);
	else if ((v = getenv("XDG_DATA_HOME")) != NULL && *v == '/')
		n = snprintf(out, cap, "%s/coffer", v);
	else if ((v = getenv("HOME")) != NULL && *v == '/')
		n = snprintf(out, cap, "%s/.local/share/coffer", v);
	else
		return -1;
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

static int
check_owner_mode(const struct stat *sb, const char *what, const char *path,
    const char *fix, struct coffer_err *err)
{
	if (sb->st_uid != geteuid())
		return coffer_err_set(err, COFFER_EPERM, "%s '%s' is owned by "
		    "uid %u, not you (uid %u); refusing to use it (fix: "
		    "chown %u '%s', or use your own keystore)", what, path,
		    (unsigned)sb->st_uid, (unsigned)geteuid(),
		    (unsigned)geteuid(), path);
	if ((sb->st_mode & 077) != 0)
		return coffer_err_set(err, COFFER_EPERM, "%s '%s' has mode "
		    "%03o and can be read by others; refusing to use it "
		    "(fix: chmod %s '%s')", what, path,
		    (unsigned)(sb->st_mode & 0777), fix, path);
	return 0;
}

int
keystore_open(const char *dir, bool create, struct keystore **out,
    struct coffer_err *err)
{
	struct keystore *ks = NULL;
	struct stat sb;
	int r;

	*out = NULL;
	if ((ks = coffer_calloc(1, sizeof(*ks))) == NULL ||
	    (ks->dir = coffer_strdup(dir)) == NULL) {
		coffer_free(ks);
		return coffer_err_set(err, COFFER_ENOMEM, "keystore");
	}
	ks->dirfd = -1;
	if (create) {
		char parent[4096];
		char *slash;

		snprintf(parent, sizeof(parent), "%s", dir);
		if ((slash = strrchr(parent, '/')) != NULL && slash != parent) {
			*slash = '\0';
			if (mkdirat_p(AT_FDCWD, parent, 0755) != 0) {
				r = coffer_err_sys(err, "cannot create '%s'",
				    parent);
				goto out;
			}
		}
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			r = coffer_err_sys(err, "cannot create keystore '%s'",
			    dir);
			goto out;
		}
	}
	if ((ks->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		r = coffer_err_sys(err, "cannot open keystore '%s'", dir);
		if (r == COFFER_ENOTFOUND)
			r = coffer_err_set(err, COFFER_ENOKEY, "no keystore at "
			    "'%s': this device holds no keys (run 'coffer "
			    "init', or set COFFER_KEYSTORE)", dir);
		goto out;
	}
	if (fstat(ks->dirfd, &sb) != 0) {
		r = coffer_err_sys(err, "cannot stat keystore '%s'", dir);
		goto out;
	}
	if ((r = check_owner_mode(&sb, "keystore", dir, "700", err)) != 0)
		goto out;
	*out = ks;
	ks = NULL;
	r = 0;
out:
	keystore_free(ks);
	return r;
}

void
keystore_free(struct keystore *ks)
{
	if (ks == NULL)
		return;
	if (ks->dirfd != -1)
		close(ks->dirfd);
	secret_free(ks->kmk);
	coffer_free(ks->dir);
	coffer_free(ks);
}

const char *
keystore_dir(const struct keystore *ks)
{
	return ks->dir;
}

static void
keyfile_name(const uint8_t repoid[16], char out[64])
{
	char hex[33];

	hex_encode(hex, repoid, 16);
	snprintf(out, 64, "repo-%s.key", hex);
}

static void
setkey_name(const uint8_t keyid[KEYSTORE_KEYID_LEN], char out[64])
{
	char hex[2 * KEYSTORE_KEYID_LEN + 1];

	hex_encode(hex, keyid, KEYSTORE_KEYID_LEN);
	snprintf(out, 64, "set-%s.key", hex);
}

bool
keystore_has_password(const struct keystore *ks)
{
	return faccessat(ks->dirfd, "passwd", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

bool
keystore_unlocked(const struct keystore *ks)
{
	return ks->kmk != NULL;
}

/*
 * key_write(ks, name, kind, id, secret, replace, err): write a key file,
 * wrapped under the keystore master key when a password is set.
 */
static int
key_write(struct keystore *ks, const char *name, uint32_t kind,
    const uint8_t id[16], const uint8_t secret[KEYSTORE_SECRET_LEN],
    bool replace, struct coffer_err *err)
{
	uint8_t buf[KEYFILE_WRAPPED_LEN];
	char label[4200];
	size_t len;
	bool wrap = keystore_has_password(ks);
	int r;

	if (wrap && ks->kmk == NULL)
		return coffer_err_set(err, COFFER_EAUTH, "keystore '%s' is "
		    "locked: its password is needed", ks->dir);
	memcpy(buf, keyfile_magic, 8);
	le32enc(buf + 8, wrap ? KEYFILE_F_WRAPPED : 0);
	le32enc(buf + 12, kind);
	memcpy(buf + 16, id, 16);
	if (wrap) {
		aead_seal(buf + 32, secret, KEYSTORE_SECRET_LEN, buf, 32,
		    ks->kmk);
		len = 32 + KEYSTORE_SECRET_LEN + AEAD_OVERHEAD;
	} else {
		memcpy(buf + 32, secret, KEYSTORE_SECRET_LEN);
		len = 32 + KEYSTORE_SECRET_LEN;
	}
	hash_plain(buf + len, SUM_LEN, buf, len);
	len += SUM_LEN;
	snprintf(label, sizeof(label), "%s/%s", ks->dir, name);
	r = atomicfile_write(ks->dirfd, name, buf, len, 0600, !replace, label,
	    err);
	secret_wipe(buf, sizeof(buf));
	return r;
}

/*
 * key_read(ks, name, kind, id, out, err): read, check and unwrap a key
 * file into ${out}.  COFFER_ENOKEY if it does not exist.
 */
static int
key_read(struct keystore *ks, const char *name, uint32_t kind,
    const uint8_t id[16], uint8_t out[KEYSTORE_SECRET_LEN],
    struct coffer_err *err)
{
	uint8_t buf[KEYFILE_WRAPPED_LEN + 1];
	uint8_t sum[SUM_LEN];
	char path[4200];
	struct stat sb;
	uint32_t flags;
	size_t got = 0, want;
	int fd = -1;
	int r;

	snprintf(path, sizeof(path), "%s/%s", ks->dir, name);
	if ((fd = openat(ks->dirfd, name, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		r = coffer_err_sys(err, "cannot open key file '%s'", path);
		if (r == COFFER_ENOTFOUND)
			r = coffer_err_set(err, COFFER_ENOKEY, "no key file "
			    "'%s'", path);
		else if (errno == ELOOP)
			r = coffer_err_set(err, COFFER_EPERM, "key file '%s' "
			    "is a symbolic link; refusing it", path);
		goto out;
	}
	if (fstat(fd, &sb) != 0) {
		r = coffer_err_sys(err, "cannot stat key file '%s'", path);
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		r = coffer_err_set(err, COFFER_EPERM, "key file '%s' is not a "
		    "regular file", path);
		goto out;
	}
	if ((r = check_owner_mode(&sb, "key file", path, "600", err)) != 0)
		goto out;
	if (read_full(fd, buf, sizeof(buf), &got) != 0) {
		r = coffer_err_sys(err, "cannot read key file '%s'", path);
		goto out;
	}
	if (got > 0 && bytes_zero(buf, got)) {
		/* keystore_del_key's overwrite, its unlink cut off: the key
		 * is gone (a second 'key destroy' removes the file). */
		r = coffer_err_set(err, COFFER_ENOKEY, "key file '%s' was "
		    "wiped by a key destroy that did not finish", path);
		goto out;
	}
	flags = got >= 16 ? le32dec(buf + 8) : 0;
	want = flags == KEYFILE_F_WRAPPED ? KEYFILE_WRAPPED_LEN : KEYFILE_LEN;
	if (got != want || memcmp(buf, keyfile_magic, 8) != 0 ||
	    (flags & ~KEYFILE_F_WRAPPED) != 0) {
		r = coffer_err_set(err, COFFER_EFORMAT, "key file '%s' is "
		    "damaged", path);
		goto out;
	}
	hash_plain(sum, sizeof(sum), buf, want - SUM_LEN);
	if (!ct_equal(sum, buf + want - SUM_LEN, sizeof(sum)) ||
	    le32dec(buf + 12) != kind || memcmp(buf + 16, id, 16) != 0) {
		r = coffer_err_set(err, COFFER_EFORMAT, "key file '%s' is "
		    "damaged", path);
		goto out;
	}
	if (flags == KEYFILE_F_WRAPPED) {
		if (ks->kmk == NULL) {
			r = coffer_err_set(err, COFFER_EAUTH, "keystore '%s' is "
			    "locked: its password is needed", ks->dir);
			goto out;
		}
		if (aead_open(out, buf + 32, KEYSTORE_SECRET_LEN +
		    AEAD_OVERHEAD, buf, 32, ks->kmk) != 0) {
			r = coffer_err_set(err, COFFER_EAUTH, "key file '%s' "
			    "does not open with this keystore's password", path);
			goto out;
		}
	} else {
		memcpy(out, buf + 32, KEYSTORE_SECRET_LEN);
	}
	r = 0;
out:
	secret_wipe(buf, sizeof(buf));
	if (fd != -1)
		close(fd);
	return r;
}

/* Write a fresh random secret for ${repoid} (replacing one if asked). */
static int
secret_write(struct keystore *ks, const uint8_t repoid[16], bool replace,
    struct coffer_err *err)
{
	uint8_t *sec;
	char name[64];
	int r;

	if ((sec = secret_alloc(KEYSTORE_SECRET_LEN)) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "key memory");
	random_bytes(sec, KEYSTORE_SECRET_LEN);
	keyfile_name(repoid, name);
	r = key_write(ks, name, KEYFILE_KIND_REPO, repoid, sec, replace, err);
	secret_free(sec);
	return r;
}

int
keystore_new_secret(struct keystore *ks, const uint8_t repoid[16],
    struct coffer_err *err)
{
	return secret_write(ks, repoid, false, err);
}

int
keystore_rotate_secret(struct keystore *ks, const uint8_t repoid[16],
    struct coffer_err *err)
{
	return secret_write(ks, repoid, true, err);
}

int
keystore_load_secret(struct keystore *ks, const uint8_t repoid[16],
    uint8_t **secret, struct coffer_err *err)
{
	uint8_t *s;
	char name[64];
	int r;

	*secret = NULL;
	if ((s = secret_alloc(KEYSTORE_SECRET_LEN)) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "key memory");
	keyfile_name(repoid, name);
	if ((r = key_read(ks, name, KEYFILE_KIND_REPO, repoid, s, err)) != 0) {
		secret_free(s);
		if (r == COFFER_ENOKEY)
			coffer_err_set(err, COFFER_ENOKEY, "keystore '%s' has "
			    "no key for this repository (it was made on "
			    "another device or with another keystore)",
			    ks->dir);
		return r;
	}
	*secret = s;
	return 0;
}

static void
setkey_id(const uint8_t keyid[KEYSTORE_KEYID_LEN], uint8_t id[16])
{
	memset(id, 0, 16);
	memcpy(id, keyid, KEYSTORE_KEYID_LEN);
}

int
keystore_put_key(struct keystore *ks, const uint8_t keyid[KEYSTORE_KEYID_LEN],
    const uint8_t dk[KEY_LEN], struct coffer_err *err)
{
	uint8_t id[16];
	char name[64];

	setkey_id(keyid, id);
	setkey_name(keyid, name);
	return key_write(ks, name, KEYFILE_KIND_SET, id, dk, true, err);
}

int
keystore_get_key(struct keystore *ks, const uint8_t keyid[KEYSTORE_KEYID_LEN],
    uint8_t **dk, struct coffer_err *err)
{
	uint8_t id[16];
	uint8_t *k;
	char name[64];
	int r;

	*dk = NULL;
	if ((k = secret_alloc(KEY_LEN)) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "key memory");
	setkey_id(keyid, id);
	setkey_name(keyid, name);
	if ((r = key_read(ks, name, KEYFILE_KIND_SET, id, k, err)) != 0) {
		secret_free(k);
		return r;
	}
	*dk = k;
	return 0;
}

int
keystore_del_key(struct keystore *ks, const uint8_t keyid[KEYSTORE_KEYID_LEN],
    struct coffer_err *err)
{
	static const uint8_t zero[KEYFILE_WRAPPED_LEN];
	char name[64];
	int fd;

	setkey_name(keyid, name);
	/* Overwrite before unlinking: best effort against undelete. */
	if ((fd = openat(ks->dirfd, name, O_WRONLY | O_NOFOLLOW |
	    O_CLOEXEC)) != -1) {
		if (write_full(fd, zero, sizeof(zero)) != 0 || fsync(fd) != 0) {
			/* The unlink below still removes it. */
		}
		close(fd);
	}
	if (unlinkat(ks->dirfd, name, 0) != 0 && errno != ENOENT)
		return coffer_err_sys(err, "cannot remove key file '%s/%s'",
		    ks->dir, name);
	if (fsync_dir(ks->dirfd) != 0)
		return coffer_err_sys(err, "cannot sync keystore '%s'", ks->dir);
	return 0;
}

/* ---- the keystore password ---- */

static void
kdf_costs(bool fast, uint64_t *ops, uint64_t *mem)
{
	*ops = fast ? KEYSTORE_FAST_OPSLIMIT : KEYSTORE_OPSLIMIT;
	*mem = fast ? KEYSTORE_FAST_MEMLIMIT : KEYSTORE_MEMLIMIT;
}

int
keystore_unlock(struct keystore *ks, const char *pw, size_t pwlen,
    struct coffer_err *err)
{
	uint8_t buf[PASSWD_LEN + 1];
	uint8_t sum[SUM_LEN];
	uint8_t *kek = NULL, *kmk = NULL;
	char path[4200];
	size_t got;
	uint64_t ops, mem;
	int fd = -1;
	int r;

	snprintf(path, sizeof(path), "%s/passwd", ks->dir);
	if ((fd = openat(ks->dirfd, "passwd", O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		r = coffer_err_sys(err, "cannot open '%s'", path);
		goto out;
	}
	{
		struct stat sb;

		if (fstat(fd, &sb) != 0) {
			r = coffer_err_sys(err, "cannot stat '%s'", path);
			goto out;
		}
		if ((r = check_owner_mode(&sb, "password file", path, "600",
		    err)) != 0)
			goto out;
	}
	if (read_full(fd, buf, sizeof(buf), &got) != 0) {
		r = coffer_err_sys(err, "cannot read '%s'", path);
		goto out;
	}
	if (got != PASSWD_LEN) {
		r = coffer_err_set(err, COFFER_EFORMAT, "'%s' is damaged", path);
		goto out;
	}
	hash_plain(sum, sizeof(sum), buf, PASSWD_LEN - SUM_LEN);
	ops = le64dec(buf + 8);
	mem = le64dec(buf + 16);
	if (memcmp(buf, passwd_magic, 8) != 0 ||
	    !ct_equal(sum, buf + PASSWD_LEN - SUM_LEN, SUM_LEN) || ops < 1 ||
	    ops > 16 || mem < KEYSTORE_FAST_MEMLIMIT || mem > (4ull << 30)) {
		r = coffer_err_set(err, COFFER_EFORMAT, "'%s' is damaged", path);
		goto out;
	}
	if ((kek = secret_alloc(KEY_LEN)) == NULL ||
	    (kmk = secret_alloc(KEY_LEN)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "key memory");
		goto out;
	}
	if (pwhash_derive(kek, KEY_LEN, pw, pwlen, buf + 24, ops, mem) != 0) {
		r = coffer_err_set(err, COFFER_ENOMEM, "Argon2id needs %llu "
		    "MiB of memory", (unsigned long long)(mem >> 20));
		goto out;
	}
	if (aead_open(kmk, buf + 40, KEY_LEN + AEAD_OVERHEAD, buf, 40,
	    kek) != 0) {
		r = coffer_err_set(err, COFFER_EAUTH, "wrong password for "
		    "keystore '%s'", ks->dir);
		goto out;
	}
	secret_free(ks->kmk);
	ks->kmk = kmk;
	kmk = NULL;
	r = 0;
out:
	secret_free(kek);
	secret_free(kmk);
	if (fd != -1)
		close(fd);
	return r;
}

static bool
is_keyfile(const char *n)
{
	size_t len = strlen(n);

	return len > 4 && strcmp(n + len - 4, ".key") == 0 &&
	    (strncmp(n, "repo-", 5) == 0 || strncmp(n, "set-", 4) == 0);
}

static int blob_rewrap(struct keystore *, const char *, struct coffer_err *);

int
keystore_set_password(struct keystore *ks, const char *pw, size_t pwlen,
    bool fast, struct coffer_err *err)
{
	uint8_t buf[PASSWD_LEN];
	uint8_t *kek = NULL, *kmk = NULL, *sec = NULL;
	char path[4200];
	struct dirent *de;
	DIR *d = NULL;
	uint64_t ops, mem;
	int fd = -1;
	int r;

	if (keystore_has_password(ks) && ks->kmk == NULL)
		return coffer_err_set(err, COFFER_EAUTH, "keystore '%s' is "
		    "locked: give its current password first", ks->dir);
	snprintf(path, sizeof(path), "%s/passwd", ks->dir);
	if ((kek = secret_alloc(KEY_LEN)) == NULL ||
	    (kmk = secret_alloc(KEY_LEN)) == NULL ||
	    (sec = secret_alloc(KEYSTORE_SECRET_LEN)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "key memory");
		goto out;
	}
	/*
	 * Keys are wrapped under a random master key (KMK); the password
	 * wraps only the KMK.  Changing the password rewrites one file
	 * atomically; setting it the first time then wraps each key file,
	 * one atomic replacement at a time (a file left clear by a crash
	 * stays readable and is wrapped by the next passwd).
	 */
	if (ks->kmk != NULL)
		memcpy(kmk, ks->kmk, KEY_LEN);
	else
		random_bytes(kmk, KEY_LEN);
	kdf_costs(fast, &ops, &mem);
	memcpy(buf, passwd_magic, 8);
	le64enc(buf + 8, ops);
	le64enc(buf + 16, mem);
	random_bytes(buf + 24, 16);
	if (pwhash_derive(kek, KEY_LEN, pw, pwlen, buf + 24, ops, mem) != 0) {
		r = coffer_err_set(err, COFFER_ENOMEM, "Argon2id needs %llu "
		    "MiB of memory", (unsigned long long)(mem >> 20));
		goto out;
	}
	aead_seal(buf + 40, kmk, KEY_LEN, buf, 40, kek);
	hash_plain(buf + PASSWD_LEN - SUM_LEN, SUM_LEN, buf,
	    PASSWD_LEN - SUM_LEN);
	if ((r = atomicfile_write(ks->dirfd, "passwd", buf, sizeof(buf), 0600,
	    false, path, err)) != 0)
		goto out;
	secret_free(ks->kmk);
	ks->kmk = kmk;
	kmk = NULL;
	/* Wrap whatever key files are still in the clear. */
	if ((fd = dup(ks->dirfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		r = coffer_err_sys(err, "cannot read keystore '%s'", ks->dir);
		goto out;
	}
	fd = -1;
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		uint8_t head[16 + 16];
		size_t got;
		int kfd;

		if (!is_keyfile(de->d_name)) {
			if ((r = blob_rewrap(ks, de->d_name, err)) != 0)
				goto out;
			continue;
		}
		if ((kfd = openat(ks->dirfd, de->d_name, O_RDONLY |
		    O_NOFOLLOW | O_CLOEXEC)) == -1)
			continue;
		r = read_full(kfd, head, sizeof(head), &got);
		close(kfd);
		if (r != 0 || got != sizeof(head) || le32dec(head + 8) != 0)
			continue;
		if ((r = key_read(ks, de->d_name, le32dec(head + 12), head + 16,
		    sec, err)) != 0 ||
		    (r = key_write(ks, de->d_name, le32dec(head + 12),
		    head + 16, sec, true, err)) != 0)
			goto out;
	}
	r = 0;
out:
	if (d != NULL)
		closedir(d);
	if (fd != -1)
		close(fd);
	secret_wipe(buf, sizeof(buf));
	secret_free(kek);
	secret_free(kmk);
	secret_free(sec);
	return r;
}

/* ---- blob files ---- */

static int
blob_check_name(const char *name, struct coffer_err *err)
{
	size_t n = strlen(name);

	if (n == 0 || n > BLOB_NAME_MAX || strcmp(name, "passwd") == 0 ||
	    is_keyfile(name))
		goto bad;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-'))
			goto bad;
	}
	return 0;
bad:
	return coffer_err_set(err, COFFER_EINVAL, "'%s' is not a name for a "
	    "keystore file", name);
}

int
keystore_put_blob(struct keystore *ks, const char *name, const void *p,
    size_t len, bool secret, struct coffer_err *err)
{
	uint8_t *buf = NULL;
	char path[4200];
	size_t n, cap;
	bool wrap;
	int r;

	if ((r = blob_check_name(name, err)) != 0)
		return r;
	if (len > KEYSTORE_BLOB_MAX)
		return coffer_err_set(err, COFFER_EINVAL, "keystore file '%s' "
		    "would be too large (%zu bytes)", name, len);
	wrap = secret && keystore_has_password(ks);
	if (wrap && ks->kmk == NULL)
		return coffer_err_set(err, COFFER_EAUTH, "keystore '%s' is "
		    "locked: its password is needed", ks->dir);
	cap = BLOB_HDR_LEN + len + AEAD_OVERHEAD + SUM_LEN;
	/* Guarded: a secret blob is in the clear here. */
	if ((buf = secret_alloc(cap)) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "key memory");
	memcpy(buf, blob_magic, 8);
	le32enc(buf + 8, (secret ? BLOB_F_SECRET : 0) |
	    (wrap ? BLOB_F_WRAPPED : 0));
	le32enc(buf + 12, (uint32_t)len);
	n = BLOB_HDR_LEN;
	if (wrap) {
		uint8_t ad[BLOB_HDR_LEN + BLOB_NAME_MAX];
		size_t nl = strlen(name);

		memcpy(ad, buf, BLOB_HDR_LEN);
		memcpy(ad + BLOB_HDR_LEN, name, nl);
		aead_seal(buf + n, p, len, ad, BLOB_HDR_LEN + nl, ks->kmk);
		n += len + AEAD_OVERHEAD;
	} else {
		if (len > 0)
			memcpy(buf + n, p, len);
		n += len;
	}
	hash_plain(buf + n, SUM_LEN, buf, n);
	n += SUM_LEN;
	snprintf(path, sizeof(path), "%s/%s", ks->dir, name);
	r = atomicfile_write(ks->dirfd, name, buf, n, 0600, false, path, err);
	secret_free(buf);
	return r;
}

/*
 * blob_read(ks, name, &buf, &n, err): the raw file, checked for type,
 * owner, mode and size; *buf guarded.
 */
static int
blob_read(struct keystore *ks, const char *name, uint8_t **out, size_t *outlen,
    struct coffer_err *err)
{
	const size_t max = BLOB_HDR_LEN + KEYSTORE_BLOB_MAX + AEAD_OVERHEAD +
	    SUM_LEN;
	uint8_t *buf = NULL;
	char path[4200];
	struct stat sb;
	size_t got = 0;
	int fd = -1;
	int r;

	*out = NULL;
	*outlen = 0;
	snprintf(path, sizeof(path), "%s/%s", ks->dir, name);
	if ((fd = openat(ks->dirfd, name, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		r = coffer_err_sys(err, "cannot open '%s'", path);
		if (errno == ELOOP)
			r = coffer_err_set(err, COFFER_EPERM, "'%s' is a "
			    "symbolic link; refusing it", path);
		goto out;
	}
	if (fstat(fd, &sb) != 0) {
		r = coffer_err_sys(err, "cannot stat '%s'", path);
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		r = coffer_err_set(err, COFFER_EPERM, "'%s' is not a regular "
		    "file", path);
		goto out;
	}
	if ((r = check_owner_mode(&sb, "keystore file", path, "600",
	    err)) != 0)
		goto out;
	if (sb.st_size < BLOB_HDR_LEN + SUM_LEN || (uint64_t)sb.st_size > max) {
		r = coffer_err_set(err, COFFER_EFORMAT, "'%s' is damaged "
		    "(%lld bytes)", path, (long long)sb.st_size);
		goto out;
	}
	if ((buf = secret_alloc((size_t)sb.st_size + 1)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "key memory");
		goto out;
	}
	if (read_full(fd, buf, (size_t)sb.st_size + 1, &got) != 0) {
		r = coffer_err_sys(err, "cannot read '%s'", path);
		goto out;
	}
	if (got != (size_t)sb.st_size) {
		r = coffer_err_set(err, COFFER_EFORMAT, "'%s' changed while "
		    "being read", path);
		goto out;
	}
	*out = buf;
	*outlen = got;
	buf = NULL;
	r = 0;
out:
	secret_free(buf);
	if (fd != -1)
		close(fd);
	return r;
}

int
keystore_get_blob(struct keystore *ks, const char *name, uint8_t **p,
    size_t *len, struct coffer_err *err)
{
	uint8_t sum[SUM_LEN];
	uint8_t *buf = NULL, *data = NULL;
	char path[4200];
	size_t n, dlen, want;
	uint32_t flags;
	int r;

	*p = NULL;
	*len = 0;
	if ((r = blob_check_name(name, err)) != 0)
		return r;
	snprintf(path, sizeof(path), "%s/%s", ks->dir, name);
	if ((r = blob_read(ks, name, &buf, &n, err)) != 0)
		return r;
	flags = le32dec(buf + 8);
	dlen = le32dec(buf + 12);
	want = BLOB_HDR_LEN + dlen + SUM_LEN +
	    ((flags & BLOB_F_WRAPPED) ? AEAD_OVERHEAD : 0);
	hash_plain(sum, sizeof(sum), buf, n - SUM_LEN);
	if (memcmp(buf, blob_magic, 8) != 0 ||
	    (flags & ~(uint32_t)(BLOB_F_WRAPPED | BLOB_F_SECRET)) != 0 ||
	    dlen > KEYSTORE_BLOB_MAX || n != want ||
	    !ct_equal(sum, buf + n - SUM_LEN, SUM_LEN) ||
	    (flags & (BLOB_F_WRAPPED | BLOB_F_SECRET)) == BLOB_F_WRAPPED) {
		r = coffer_err_set(err, COFFER_EFORMAT, "'%s' is damaged",
		    path);
		goto out;
	}
	if ((data = secret_alloc(dlen + 1)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "key memory");
		goto out;
	}
	if (flags & BLOB_F_WRAPPED) {
		uint8_t ad[BLOB_HDR_LEN + BLOB_NAME_MAX];
		size_t nl = strlen(name);

		if (ks->kmk == NULL) {
			r = coffer_err_set(err, COFFER_EAUTH, "keystore '%s' "
			    "is locked: its password is needed", ks->dir);
			goto out;
		}
		memcpy(ad, buf, BLOB_HDR_LEN);
		memcpy(ad + BLOB_HDR_LEN, name, nl);
		if (aead_open(data, buf + BLOB_HDR_LEN, dlen + AEAD_OVERHEAD,
		    ad, BLOB_HDR_LEN + nl, ks->kmk) != 0) {
			r = coffer_err_set(err, COFFER_EAUTH, "'%s' does not "
			    "open with this keystore's password", path);
			goto out;
		}
	} else if (dlen > 0) {
		memcpy(data, buf + BLOB_HDR_LEN, dlen);
	}
	data[dlen] = '\0';
	*p = data;
	*len = dlen;
	data = NULL;
	r = 0;
out:
	secret_free(data);
	secret_free(buf);
	return r;
}

int
keystore_del_blob(struct keystore *ks, const char *name,
    struct coffer_err *err)
{
	static const uint8_t zero[512];
	struct stat sb;
	int r, fd;

	if ((r = blob_check_name(name, err)) != 0)
		return r;
	/* Overwrite before unlinking: best effort against undelete. */
	if ((fd = openat(ks->dirfd, name, O_WRONLY | O_NOFOLLOW |
	    O_CLOEXEC)) != -1) {
		if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
			off_t left = sb.st_size;

			while (left > 0) {
				size_t k = left > (off_t)sizeof(zero) ?
				    sizeof(zero) : (size_t)left;

				if (write_full(fd, zero, k) != 0)
					break;
				left -= (off_t)k;
			}
			(void)fsync(fd);
		}
		close(fd);
	}
	if (unlinkat(ks->dirfd, name, 0) != 0 && errno != ENOENT)
		return coffer_err_sys(err, "cannot remove '%s/%s'", ks->dir,
		    name);
	if (fsync_dir(ks->dirfd) != 0)
		return coffer_err_sys(err, "cannot sync keystore '%s'",
		    ks->dir);
	return 0;
}

/*
 * blob_rewrap(ks, name, err): if ${name} is a secret blob still in the
 * clear, write it again (sealed now that a password is set).  Anything
 * else is left alone.
 */
static int
blob_rewrap(struct keystore *ks, const char *name, struct coffer_err *err)
{
	uint8_t head[BLOB_HDR_LEN];
	uint8_t *p = NULL;
	size_t got = 0, len;
	int fd, r;

	if (blob_check_name(name, NULL) != 0)
		return 0;
	if ((fd = openat(ks->dirfd, name, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return 0;
	r = read_full(fd, head, sizeof(head), &got);
	close(fd);
	if (r != 0 || got != sizeof(head) ||
	    memcmp(head, blob_magic, 8) != 0 ||
	    le32dec(head + 8) != BLOB_F_SECRET)
		return 0;
	if ((r = keystore_get_blob(ks, name, &p, &len, err)) != 0)
		return r;
	r = keystore_put_blob(ks, name, p, len, true, err);
	secret_free(p);
	return r;
}

int
keystore_flock(struct keystore *ks, int *fd, struct coffer_err *err)
{
	int r;

	*fd = -1;
	if ((r = openat(ks->dirfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return coffer_err_sys(err, "cannot open keystore '%s'",
		    ks->dir);
	while (flock(r, LOCK_EX) != 0) {
		if (errno == EINTR)
			continue;
		close(r);
		return coffer_err_sys(err, "cannot lock keystore '%s'",
		    ks->dir);
	}
	*fd = r;
	return 0;
}

void
keystore_funlock(int fd)
{
	if (fd != -1)
		close(fd);	/* releases the flock */
}

int
keystore_machine_id(char *out, size_t cap, struct coffer_err *err)
{
	const char *v;
	uint8_t *buf = NULL;
	size_t len, n = 0;

	if ((v = getenv("COFFER_MACHINE_ID")) != NULL && *v != '\0') {
		if (strlen(v) >= cap)
			return coffer_err_set(err, COFFER_EINVAL,
			    "COFFER_MACHINE_ID is too long");
		memcpy(out, v, strlen(v) + 1);
		return 0;
	}
	if (file_read(AT_FDCWD, "/etc/machine-id", "/etc/machine-id", 4096,
	    &buf, &len, err) != 0)
		return coffer_err_set(err, COFFER_ENOTFOUND, "this device has "
		    "no /etc/machine-id (set COFFER_MACHINE_ID to a stable "
		    "unique value)");
	while (n < len && n + 1 < cap && buf[n] != '\n' && buf[n] != '\0')
		n++;
	memcpy(out, buf, n);
	out[n] = '\0';
	coffer_free(buf);
	if (n == 0)
		return coffer_err_set(err, COFFER_EFORMAT, "/etc/machine-id is "
		    "empty (set COFFER_MACHINE_ID)");
	return 0;
}

void
keystore_device_dk(const uint8_t secret[KEYSTORE_SECRET_LEN],
    const char *machine_id, uint8_t dk[KEY_LEN])
{
	static const char label[] = "coffer device scope v1";
	struct hash_state st;

	hash_init(&st, secret, KEYSTORE_SECRET_LEN);
	hash_update(&st, label, sizeof(label));	/* with its NUL */
	hash_update(&st, machine_id, strlen(machine_id));
	hash_final(&st, dk);
}

void
keystore_period_dk(const uint8_t secret[KEYSTORE_SECRET_LEN],
    const char *label, uint8_t dk[KEY_LEN])
{
	static const char tag[] = "coffer period scope v1";
	struct hash_state st;

	hash_init(&st, secret, KEYSTORE_SECRET_LEN);
	hash_update(&st, tag, sizeof(tag));	/* with its NUL */
	hash_update(&st, label, strlen(label));
	hash_final(&st, dk);
}
