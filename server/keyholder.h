/* SPDX-License-Identifier: ISC */
/*
 * keyholder: cofferd's privileged half (docs/PROTOCOL.md §8-§9) and the
 * front end's stub for talking to it.
 *
 * kh_start() forks the key holder, joined to the front end by a
 * SOCK_SEQPACKET socketpair.  Only the child opens the master key file;
 * it makes itself non-dumpable, keeps a subkey of the master key in
 * guarded, locked memory (the master key itself is wiped once the subkey
 * is derived), and answers one fixed table of requests, one packet each:
 *
 *   SEAL    account, key_id, kind, plaintext (1..64)   -> blob
 *   OPEN    account, key_id, kind, blob (41..104)      -> plaintext
 *   WRAPGEN account, key_id                            -> public key, blob
 *   UNWRAP  account, key_id, blob (72), sealed (1..1024) -> plaintext
 *   TOTPGEN account                                    -> secret (20), blob
 *   TOTPCHECK account, blob (60), code (6 digits), last step (u64 LE)
 *                                   -> step (u64 LE) or "no" (KH_ST_AUTH)
 *   PING                                               -> nothing
 *
 * A TOTP secret is sealed as a key of kind 3 under the key id of 32 '0'
 * characters; SEAL and OPEN refuse kind 3, so once made a secret never
 * leaves the key holder again: TOTPCHECK answers only whether a code is
 * right for a time step after ${last}, within one step of the key
 * holder's clock, and which step.
 *
 * A blob is nonce (24) || XChaCha20-Poly1305 ciphertext and tag, with
 * associated data "cofferd-key-v1" 0 account 0 key_id 0 kind.  Any other
 * request, a wrong length or a malformed field makes the key holder exit:
 * the front end then answers 503 for everything that needs a key.
 *
 * Not responsible for who may ask for what: the front end checks accounts
 * and sessions; the key holder's limits only bound the damage of a
 * compromised front end to what the table allows.
 */
#ifndef COFFERD_KEYHOLDER_H_
#define COFFERD_KEYHOLDER_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "util/util.h"

#define KH_WUR		__attribute__((warn_unused_result))

#define KH_NONCE_LEN	24
#define KH_TAG_LEN	16
#define KH_PLAIN_MAX	64
/* 104 */
#define KH_BLOB_MAX	(KH_NONCE_LEN + KH_PLAIN_MAX + KH_TAG_LEN)
#define KH_PUB_LEN	32
#define KH_WRAPSK_LEN	32
/* 72 */
#define KH_WRAPBLOB_LEN	(KH_NONCE_LEN + KH_WRAPSK_LEN + KH_TAG_LEN)
#define KH_SEALED_MAX	1024
#define KH_SEALBYTES	48	/* crypto_box_SEALBYTES */
#define KH_UNWRAP_MAX	(KH_SEALED_MAX - KH_SEALBYTES)
#define KH_ACCOUNT_MAX	128
#define KH_KEYID_LEN	32
#define KH_MSG_MAX	1400	/* one packet, either direction */
#define KH_TOTP_LEN	20	/* secret bytes (RFC 4226's 160 bits) */
#define KH_TOTP_DIGITS	6
#define KH_TOTP_STEP	30	/* seconds */
#define KH_TOTP_KIND	3
#define KH_TOTP_KEYID	"00000000000000000000000000000000"
/* 60 */
#define KH_TOTPBLOB_LEN	(KH_NONCE_LEN + KH_TOTP_LEN + KH_TAG_LEN)

/* Subkey derivation: crypto_kdf_derive_from_key(32, 1, "cofferdk", mk). */
#define KH_KDF_CTX	"cofferdk"
#define KH_KDF_ID	1
#define KH_AD_PREFIX	"cofferd-key-v1"

enum kh_type {
	KH_SEAL = 1, KH_OPEN = 2, KH_WRAPGEN = 3, KH_UNWRAP = 4, KH_PING = 5,
	KH_TOTPGEN = 6, KH_TOTPCHECK = 7,
};

/* Answers: a status byte, then the fields. */
enum kh_status { KH_ST_OK = 0, KH_ST_AUTH = 1 };

/* Return codes of the kh_* calls. */
enum kh_err {
	KH_OK		= 0,
	KH_EAUTH	= -1,	/* the blob or sealed box does not open */
	KH_EUNAVAIL	= -2,	/* the key holder is gone or silent */
	KH_EINVAL	= -3,	/* an argument out of the limits */
};

struct kh;

/*
 * kh_start(keyfile, uid, gid, &kh, err, errlen):
 * Fork the key holder and wait until it has loaded ${keyfile}.  If
 * ${uid} is not (uid_t)-1 the child switches to ${uid}/${gid} once the
 * key is loaded.  Call before starting any thread.  On failure the
 * child's reason is in ${err} (it has also printed it) and -1 returned.
 */
int kh_start(const char *keyfile, uid_t uid, gid_t gid, struct kh **out,
    char *err, size_t errlen) KH_WUR;
/* kh_stop(kh): close the channel, reap the child; NULL is a no-op. */
void kh_stop(struct kh *kh);
/* kh_pid(kh): the key holder's process id (for logs and tests). */
pid_t kh_pid(const struct kh *kh);
/* kh_alive(kh): false once the key holder failed to answer. */
bool kh_alive(struct kh *kh);
/* kh_reaped(kh): note that the child exited (SIGCHLD), so it is dead. */
void kh_reaped(struct kh *kh);

/* Calls; each returns one of enum kh_err.  Serialised internally. */
int kh_ping(struct kh *kh) KH_WUR;
int kh_seal(struct kh *kh, const char *account, const char *key_id, int kind,
    const uint8_t *pt, size_t ptlen, uint8_t blob[KH_BLOB_MAX],
    size_t *bloblen) KH_WUR;
/* ${pt} holds KH_PLAIN_MAX bytes; wipe it after use. */
int kh_open(struct kh *kh, const char *account, const char *key_id, int kind,
    const uint8_t *blob, size_t bloblen, uint8_t pt[KH_PLAIN_MAX],
    size_t *ptlen) KH_WUR;
int kh_wrapgen(struct kh *kh, const char *account, const char *key_id,
    uint8_t pub[KH_PUB_LEN], uint8_t blob[KH_BLOB_MAX],
    size_t *bloblen) KH_WUR;
/* ${pt} holds KH_UNWRAP_MAX bytes; wipe it after use. */
int kh_unwrap(struct kh *kh, const char *account, const char *key_id,
    const uint8_t *blob, size_t bloblen, const uint8_t *sealed,
    size_t sealedlen, uint8_t pt[KH_UNWRAP_MAX], size_t *ptlen) KH_WUR;

/*
 * kh_totpgen(kh, account, secret, blob, bloblen): a new TOTP secret,
 * in the clear (to show once; wipe it) and sealed.
 * kh_totpcheck(kh, account, blob, bloblen, code, last, step): KH_OK and
 * *step if ${code} (6 digits) is the code of a step after ${last} within
 * one step of now; KH_EAUTH if not (or the blob does not open).
 */
int kh_totpgen(struct kh *kh, const char *account,
    uint8_t secret[KH_TOTP_LEN], uint8_t blob[KH_BLOB_MAX], size_t *bloblen)
    KH_WUR;
int kh_totpcheck(struct kh *kh, const char *account, const uint8_t *blob,
    size_t bloblen, const char *code, int64_t last, int64_t *step) KH_WUR;

/*
 * The wire: a request is its type byte and then its fields; an answer is
 * a status byte and then its fields.  A field is a u16 little-endian
 * length and that many bytes, except the kind and fixed-size public keys,
 * which are bare.  struct kh_msg builds one packet.
 */
struct kh_msg {
	uint8_t	b[KH_MSG_MAX];
	size_t	len;
	bool	bad;		/* a put did not fit */
};

static inline void
kh_put(struct kh_msg *m, const void *p, size_t len)
{
	if (m->bad || len > sizeof(m->b) - m->len) {
		m->bad = true;
		return;
	}
	if (len > 0)
		memcpy(m->b + m->len, p, len);
	m->len += len;
}

static inline void
kh_put_u8(struct kh_msg *m, uint8_t v)
{
	kh_put(m, &v, 1);
}

static inline void
kh_put_field(struct kh_msg *m, const void *p, size_t len)
{
	uint8_t l[2];

	if (len > UINT16_MAX) {
		m->bad = true;
		return;
	}
	l[0] = (uint8_t)len;
	l[1] = (uint8_t)(len >> 8);
	kh_put(m, l, 2);
	kh_put(m, p, len);
}

/* kh_get_field(r, &len): the next length-prefixed field, or NULL. */
static inline const uint8_t *
kh_get_field(struct rbuf *r, size_t *len)
{
	*len = rbuf_u16(r);
	return rbuf_get(r, *len);
}

/*
 * keyholder_main(fd, keyfile, uid, gid): the child's side; never returns.
 * Internal to kh_client.c (exported for it only).
 */
void keyholder_main(int fd, const char *keyfile, uid_t uid, gid_t gid)
    __attribute__((noreturn));

#endif /* !COFFERD_KEYHOLDER_H_ */
