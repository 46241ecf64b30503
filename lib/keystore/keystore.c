/* SPDX-License-Identifier: ISC */
/*
 * keystore: the protected directory of keys.  Every check is made on an
 * open descriptor (fstat), never on a path that could change under us.
 *
 * Key file layout (76 bytes): magic "CFKEYS01" | flags u32 (0: secret in
 * the clear, protected by the directory) | reserved u32 | repo id[16] |
 * secret[32] | BLAKE2b-128 checksum of the preceding 60 bytes.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keystore.h"

#define KEYFILE_LEN	76

static const char keyfile_magic[8] = "CFKEYS01";

struct keystore {
	char	*dir;
	int	 dirfd;
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
			coffer_err_set(err, COFFER_ENOKEY, "no keystore at "
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

int
keystore_new_secret(struct keystore *ks, const uint8_t repoid[16],
    struct coffer_err *err)
{
	uint8_t buf[KEYFILE_LEN];
	char name[64];
	int fd = -1;
	int r;

	keyfile_name(repoid, name);
	memcpy(buf, keyfile_magic, 8);
	le32enc(buf + 8, 0);
	le32enc(buf + 12, 0);
	memcpy(buf + 16, repoid, 16);
	random_bytes(buf + 32, KEYSTORE_SECRET_LEN);
	hash_plain(buf + 64, 12, buf, 64);
	/* Never trust the umask: create 0600 exclusively. */
	if ((fd = openat(ks->dirfd, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
		r = coffer_err_sys(err, "cannot create key file '%s/%s'",
		    ks->dir, name);
		goto out;
	}
	if (write_full(fd, buf, sizeof(buf)) != 0 || fsync(fd) != 0) {
		r = coffer_err_sys(err, "cannot write key file '%s/%s'",
		    ks->dir, name);
		(void)unlinkat(ks->dirfd, name, 0);
		goto out;
	}
	if (fsync_dir(ks->dirfd) != 0) {
		r = coffer_err_sys(err, "cannot sync keystore '%s'", ks->dir);
		goto out;
	}
	r = 0;
out:
	secret_wipe(buf, sizeof(buf));
	if (fd != -1)
		close(fd);
	return r;
}

int
keystore_load_secret(struct keystore *ks, const uint8_t repoid[16],
    uint8_t **secret, struct coffer_err *err)
{
	uint8_t buf[KEYFILE_LEN + 1];
	uint8_t sum[12];
	char name[64], path[4200];
	struct stat sb;
	uint8_t *s = NULL;
	size_t got = 0;
	int fd = -1;
	int r;

	*secret = NULL;
	keyfile_name(repoid, name);
	snprintf(path, sizeof(path), "%s/%s", ks->dir, name);
	if ((fd = openat(ks->dirfd, name, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		r = coffer_err_sys(err, "cannot open key file '%s'", path);
		if (r == COFFER_ENOTFOUND)
			coffer_err_set(err, COFFER_ENOKEY, "keystore '%s' has "
			    "no key for this repository (it was made on "
			    "another device or with another keystore)",
			    ks->dir);
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
	hash_plain(sum, sizeof(sum), buf, 64);
	if (got != KEYFILE_LEN || memcmp(buf, keyfile_magic, 8) != 0 ||
	    !ct_equal(sum, buf + 64, sizeof(sum)) ||
	    memcmp(buf + 16, repoid, 16) != 0) {
		r = coffer_err_set(err, COFFER_EFORMAT, "key file '%s' is "
		    "damaged", path);
		goto out;
	}
	if (le32dec(buf + 8) != 0) {
		r = coffer_err_set(err, COFFER_EFORMAT, "key file '%s' uses "
		    "a feature this coffer does not know (flags %#x)", path,
		    (unsigned)le32dec(buf + 8));
		goto out;
	}
	if ((s = secret_alloc(KEYSTORE_SECRET_LEN)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "key memory");
		goto out;
	}
	memcpy(s, buf + 32, KEYSTORE_SECRET_LEN);
	*secret = s;
	r = 0;
out:
	secret_wipe(buf, sizeof(buf));
	if (fd != -1)
		close(fd);
	return r;
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
