/* SPDX-License-Identifier: ISC */
/*
 * keyinfo: the header file of a key set, sets/<keyid>/keyinfo.
 *
 * Its cleartext part (scope, custody, period label, recovery slots) can
 * be read without the key, so that `coffer key list` and a restore by
 * passphrase know what they face; the whole cleartext is bound into the
 * AEAD of the encrypted part, so none of it can be edited unseen by
 * someone who holds the key.
 */
#ifndef KEYINFO_H_
#define KEYINFO_H_

#include "repo.h"

#define KEYINFO_LABEL_MAX	63
#define KEYINFO_SLOTS_MAX	4
#define SLOT_PASSPHRASE		1
#define SLOT_SEALED_LEN		(KEY_LEN + AEAD_OVERHEAD)
/* The escrow block of a CFKEYI02 keyinfo (FORMAT.md §6.3). */
#define KEYINFO_URL_MAX		255
#define KEYINFO_EKID_MAX	64
#define KEYINFO_SEALED_MAX	1024

/* A recovery slot: the data key sealed under Argon2id(passphrase). */
struct kslot {
	int		kind;		/* SLOT_PASSPHRASE */
	uint64_t	opslimit;
	uint64_t	memlimit;
	uint8_t		salt[PWHASH_SALT_LEN];
	uint8_t		sealed[SLOT_SEALED_LEN];
};

struct keyinfo {
	uint8_t		keyid[KEYID_LEN];
	int		scope;		/* enum key_scope */
	int		custody;	/* enum key_custody */
	char		label[KEYINFO_LABEL_MAX + 1];	/* period, or "" */
	struct kslot	slots[KEYINFO_SLOTS_MAX];
	int		nslots;
	/* Escrow custodies: the server, its key id, the sealed data key. */
	char		escrow_url[KEYINFO_URL_MAX + 1];
	char		escrow_keyid[KEYINFO_EKID_MAX + 1];
	uint8_t		sealed[KEYINFO_SEALED_MAX];	/* escrow-wrap */
	size_t		sealed_len;
	bool		bound;		/* CFKEYI03: binds the repository id */
	/* Encrypted part (after keyinfo_load, or keyinfo_read with a key). */
	uint32_t	chunk_min, chunk_avg, chunk_max;
	int64_t		created;
};

/*
 * keyinfo_peek(r, keyid_hex, ki, err): read the cleartext part of a key
 * set's keyinfo, without the key.  Nothing read is trusted yet.
 */
int keyinfo_peek(struct repo *r, const char *keyid_hex, struct keyinfo *ki,
    struct coffer_err *err) WUR;

/*
 * keyinfo_read(r, keyid_hex, enc, ki, err): keyinfo_peek, and with the
 * set's encryption subkey ${enc} (not NULL) authenticate all of it
 * against repository ${r} as keyinfo_load does.  COFFER_ENOTFOUND if the
 * file (or the set's folder) is not there.
 */
int keyinfo_read(struct repo *r, const char *keyid_hex, const uint8_t *enc,
    struct keyinfo *ki, struct coffer_err *err) WUR;

/*
 * keyinfo_verify(r, dk, ki, err): the keyinfo of the set of data key
 * ${dk}, authenticated (keyinfo_read with the subkey of ${dk}); on
 * success every field of ${ki} is authentic.
 */
int keyinfo_verify(struct repo *r, const uint8_t dk[KEY_LEN],
    struct keyinfo *ki, struct coffer_err *err) WUR;

/*
 * keyinfo_load(dirfd, label, r, enc, ki, err): read and authenticate the
 * keyinfo in ${dirfd} (a set's folder of repository ${r}) under
 * encryption subkey ${enc}.  A CFKEYI03 keyinfo authenticates only in
 * the repository whose id it was written with; an older one is refused
 * in a repository of config version 3 (COFFER_EAUTH, FORMAT.md §6.1).
 */
int keyinfo_load(int dirfd, const char *label, const struct repo *r,
    const uint8_t enc[KEY_LEN], struct keyinfo *ki,
    struct coffer_err *err) WUR;

/*
 * keyinfo_store(dirfd, label, r, enc, ki, replace, err): write ${ki}
 * (atomically; with ${replace} over an existing one); with ${ki}->bound
 * as CFKEYI03 bound to the id of repository ${r}.
 */
int keyinfo_store(int dirfd, const char *label, const struct repo *r,
    const uint8_t enc[KEY_LEN], const struct keyinfo *ki, bool replace,
    struct coffer_err *err) WUR;

/*
 * slot_make(slot, dk, keyid, pass, passlen, fast, err): seal ${dk} under
 * Argon2id(${pass}) with a fresh salt.  ${fast} (tests only) uses the
 * minimum cost.
 */
int slot_make(struct kslot *slot, const uint8_t dk[KEY_LEN],
    const uint8_t keyid[KEYID_LEN], const char *pass, size_t passlen,
    bool fast, struct coffer_err *err) WUR;

/*
 * slot_open(slot, keyid, pass, passlen, dk): 0 and the data key in ${dk},
 * or COFFER_EAUTH (wrong passphrase) / COFFER_ENOMEM / COFFER_EFORMAT.
 */
int slot_open(const struct kslot *slot, const uint8_t keyid[KEYID_LEN],
    const char *pass, size_t passlen, uint8_t dk[KEY_LEN]) WUR;

/* Argon2id costs of a passphrase slot: ops and bytes. */
#define SLOT_OPSLIMIT		3
#define SLOT_MEMLIMIT		(256ull << 20)
#define SLOT_FAST_OPSLIMIT	1
#define SLOT_FAST_MEMLIMIT	(64ull << 10)
#define SLOT_OPSLIMIT_MAX	16
#define SLOT_MEMLIMIT_MAX	(4ull << 30)

#endif /* !KEYINFO_H_ */
