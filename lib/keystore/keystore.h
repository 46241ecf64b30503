/* SPDX-License-Identifier: ISC */
/*
 * keystore: the protected place on the device where keys live [M4].
 *
 * A directory (default $XDG_DATA_HOME/coffer) that must be owned by the
 * user and closed to everyone else (0700, files 0600), checked on the
 * open file descriptors as OpenSSH checks a private key.  It holds one
 * secret per repository ("repo-<id>.key"); data keys are derived from it
 * (see keystore_device_dk).  Secrets returned are in guarded memory.
 *
 * Not responsible for the card: keys never leave this directory.
 */
#ifndef KEYSTORE_H_
#define KEYSTORE_H_

#include <stdbool.h>
#include <stdint.h>

#include "coffer/err.h"
#include "../util/util.h"
#include "../crypto/crypto.h"

#define KEYSTORE_SECRET_LEN	32
#define KEYSTORE_KEYID_LEN	8	/* = KEYID_LEN of lib/repo */

struct keystore;

/*
 * keystore_default_dir(out, cap): $COFFER_KEYSTORE, else
 * $XDG_DATA_HOME/coffer, else $HOME/.local/share/coffer.  0 or -1.
 */
int keystore_default_dir(char *out, size_t cap) WUR;

/*
 * keystore_open(dir, create, &ks, err): open (with ${create}, make it
 * 0700 if absent) and check ownership and mode.  COFFER_EPERM with a
 * message saying how to fix it when the directory is open to others or
 * owned by someone else; COFFER_ENOKEY when absent and not ${create}.
 */
int keystore_open(const char *dir, bool create, struct keystore **out,
    struct coffer_err *err) WUR;
void keystore_free(struct keystore *ks);
const char *keystore_dir(const struct keystore *ks);

/*
 * keystore_new_secret(ks, repoid, err): generate and store (0600,
 * O_EXCL) a fresh random secret for repository ${repoid}.
 */
int keystore_new_secret(struct keystore *ks, const uint8_t repoid[16],
    struct coffer_err *err) WUR;

/*
 * keystore_load_secret(ks, repoid, &secret, err): the secret of
 * repository ${repoid} in guarded memory (free with secret_free).
 * COFFER_ENOKEY if this keystore has none.
 */
int keystore_load_secret(struct keystore *ks, const uint8_t repoid[16],
    uint8_t **secret, struct coffer_err *err) WUR;

/* keystore_has_password(ks): a password is set (file "passwd"). */
bool keystore_has_password(const struct keystore *ks);
/* keystore_unlocked(ks): the password was given (keystore_unlock). */
bool keystore_unlocked(const struct keystore *ks);

/*
 * keystore_unlock(ks, pw, len, err): derive the key of password ${pw}
 * and open the keystore master key.  COFFER_EAUTH if the password is
 * wrong; nothing is written.
 */
int keystore_unlock(struct keystore *ks, const char *pw, size_t len,
    struct coffer_err *err) WUR;

/*
 * keystore_set_password(ks, pw, len, fast, err): set or change the
 * password (a set password must be unlocked first).  Wraps every key
 * file still in the clear.  ${fast} (tests only) uses minimum costs.
 */
int keystore_set_password(struct keystore *ks, const char *pw, size_t len,
    bool fast, struct coffer_err *err) WUR;

/* Argon2id costs of the keystore password (ops, bytes). */
#define KEYSTORE_OPSLIMIT	3
#define KEYSTORE_MEMLIMIT	(64ull << 20)
#define KEYSTORE_FAST_OPSLIMIT	1
#define KEYSTORE_FAST_MEMLIMIT	(64ull << 10)

/*
 * keystore_put_key(ks, keyid, dk, err): store (or replace) the data key
 * of key set ${keyid}.
 * keystore_get_key(ks, keyid, &dk, err): load it into guarded memory
 * (secret_free); COFFER_ENOKEY if absent, COFFER_EAUTH if locked.
 * keystore_del_key(ks, keyid, err): overwrite and remove it.
 */
int keystore_put_key(struct keystore *ks, const uint8_t keyid[8],
    const uint8_t dk[KEY_LEN], struct coffer_err *err) WUR;
int keystore_get_key(struct keystore *ks, const uint8_t keyid[8],
    uint8_t **dk, struct coffer_err *err) WUR;
int keystore_del_key(struct keystore *ks, const uint8_t keyid[8],
    struct coffer_err *err) WUR;

/*
 * keystore_rotate_secret(ks, repoid, err): replace the repository secret
 * by a fresh one, so keys derived from the old one cannot be derived
 * again (used when such a key set is destroyed).
 */
int keystore_rotate_secret(struct keystore *ks, const uint8_t repoid[16],
    struct coffer_err *err) WUR;

/*
 * Blob files: small named files other modules keep in the keystore (the
 * escrow login "escrow", the wrap key pool "wrappool"; FORMAT.md §18.6).
 * ${name} is 1 ... 32 characters of [a-z0-9_-] and must not end in
 * ".key" or be "passwd".
 *
 * keystore_put_blob(ks, name, p, len, secret, err): write ${len} bytes
 * (at most KEYSTORE_BLOB_MAX) atomically, mode 0600, replacing the file.
 * With ${secret}, the bytes are wrapped under the keystore master key
 * when a password is set (COFFER_EAUTH if locked), and setting a
 * password later wraps them.
 * keystore_get_blob(ks, name, &p, &len, err): read and check it; *p is
 * guarded memory of *len + 1 bytes, NUL-terminated (secret_free).
 * COFFER_ENOTFOUND if absent, COFFER_EAUTH if wrapped and locked,
 * COFFER_EFORMAT if damaged, COFFER_EPERM if open to others.
 * keystore_del_blob(ks, name, err): overwrite and remove; absent is fine.
 */
#define KEYSTORE_BLOB_MAX	(64u << 10)
int keystore_put_blob(struct keystore *ks, const char *name, const void *p,
    size_t len, bool secret, struct coffer_err *err) WUR;
int keystore_get_blob(struct keystore *ks, const char *name, uint8_t **p,
    size_t *len, struct coffer_err *err) WUR;
int keystore_del_blob(struct keystore *ks, const char *name,
    struct coffer_err *err) WUR;

/*
 * keystore_flock(ks, &fd, err): wait for the keystore's exclusive lock
 * (flock(2) on the directory), for read-modify-write of a blob by
 * several processes.  keystore_funlock(fd) releases it.  Not recursive:
 * never take it twice in one thread.
 */
int keystore_flock(struct keystore *ks, int *fd, struct coffer_err *err) WUR;
void keystore_funlock(int fd);

/*
 * keystore_machine_id(out, cap, err): $COFFER_MACHINE_ID, else the first
 * line of /etc/machine-id.
 */
int keystore_machine_id(char *out, size_t cap, struct coffer_err *err) WUR;

/*
 * keystore_device_dk(secret, machine_id, dk): the data key of the
 * "device" scope: BLAKE2b-256 keyed by ${secret} over
 * "coffer device scope v1\0" || machine_id.
 */
void keystore_device_dk(const uint8_t secret[KEYSTORE_SECRET_LEN],
    const char *machine_id, uint8_t dk[KEY_LEN]);

/*
 * keystore_period_dk(secret, label, dk): the data key of a "period"
 * scope set: BLAKE2b-256 keyed by ${secret} over
 * "coffer period scope v1\0" || label (e.g. "day:2026-11-25").
 */
void keystore_period_dk(const uint8_t secret[KEYSTORE_SECRET_LEN],
    const char *label, uint8_t dk[KEY_LEN]);

#endif /* !KEYSTORE_H_ */
