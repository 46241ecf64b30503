/* SPDX-License-Identifier: ISC */
/*
 * keyholder: the process that holds the master key (keyholder.h).
 *
 * Runs single-threaded in the child of kh_start().  It reads the master
 * key file once, derives the subkey it works with, wipes the master key,
 * and then answers the request table below until the front end closes
 * the channel.  The subkey sits in sodium_malloc'd, mlock'd memory that
 * is made inaccessible between requests.  Every request is checked
 * against the table's limits; a request that fails a check is a sign of
 * a compromised or broken front end, so the key holder exits rather than
 * trying to carry on.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <liboath/oath.h>

#include "keyholder.h"

#define KH_KEYFILE_MAX	256

struct kh_request {
	enum kh_type	 type;
	size_t		 minlen;	/* the packet, with the type */
	size_t		 maxlen;
	void		(*fn)(struct rbuf *r, struct kh_msg *ans);
};

/* The subkey: crypto_aead_xchacha20poly1305_ietf_KEYBYTES, guarded. */
static uint8_t *kh_subkey;

static void kh_die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
kh_die(const char *fmt, ...)
{
	va_list ap;

	fputs("cofferd: key holder: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	_exit(1);
}

/* A request broke the table's rules: leave without answering. */
static void kh_refuse(const char *why) __attribute__((noreturn));

static void
kh_refuse(const char *why)
{
	kh_die("refusing a malformed request (%s); exiting", why);
}

/* The account field: 1..128 bytes, no NUL.  Written to ${out}. */
static void
kh_get_account(struct rbuf *r, char out[KH_ACCOUNT_MAX + 1])
{
	const uint8_t *p;
	size_t n;

	if ((p = kh_get_field(r, &n)) == NULL || n < 1 || n > KH_ACCOUNT_MAX ||
	    memchr(p, '\0', n) != NULL)
		kh_refuse("account");
	memcpy(out, p, n);
	out[n] = '\0';
}

/* The key id field: exactly 32 lowercase hex digits. */
static void
kh_get_keyid(struct rbuf *r, char out[KH_KEYID_LEN + 1])
{
	const uint8_t *p;
	size_t n;

	if ((p = kh_get_field(r, &n)) == NULL || n != KH_KEYID_LEN)
		kh_refuse("key id");
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') ||
		    (p[i] >= 'a' && p[i] <= 'f')))
			kh_refuse("key id");
	memcpy(out, p, n);
	out[n] = '\0';
}

static uint8_t
kh_get_kind(struct rbuf *r)
{
	uint8_t k = rbuf_u8(r);

	if (!rbuf_ok(r) || (k != 1 && k != 2))
		kh_refuse("kind");
	return k;
}

static const uint8_t *
kh_get_bytes(struct rbuf *r, size_t min, size_t max, size_t *len,
    const char *what)
{
	const uint8_t *p;

	if ((p = kh_get_field(r, len)) == NULL || *len < min || *len > max)
		kh_refuse(what);
	return p;
}

static void
kh_end(struct rbuf *r)
{
	if (!rbuf_ok(r) || rbuf_left(r) != 0)
		kh_refuse("trailing bytes");
}

/* The associated data of a blob; returns its length. */
static size_t
kh_ad(uint8_t *ad, size_t cap, const char *account, const char *key_id,
    uint8_t kind)
{
	size_t a = strlen(account), k = strlen(key_id);
	size_t p = sizeof(KH_AD_PREFIX) - 1;
	size_t n = p + 1 + a + 1 + k + 1 + 1;

	if (n > cap)
		kh_refuse("associated data");
	memcpy(ad, KH_AD_PREFIX, p);
	ad[p] = 0;
	memcpy(ad + p + 1, account, a);
	ad[p + 1 + a] = 0;
	memcpy(ad + p + 2 + a, key_id, k);
	ad[p + 2 + a + k] = 0;
	ad[p + 3 + a + k] = kind;
	return n;
}

/* Encrypt ${pt} into ${blob} (nonce || ciphertext || tag). */
static size_t
kh_blob_seal(uint8_t *blob, const uint8_t *pt, size_t ptlen,
    const char *account, const char *key_id, uint8_t kind)
{
	uint8_t ad[64 + KH_ACCOUNT_MAX + KH_KEYID_LEN];
	unsigned long long clen = 0;
	size_t adlen;

	adlen = kh_ad(ad, sizeof(ad), account, key_id, kind);
	randombytes_buf(blob, KH_NONCE_LEN);
	sodium_mprotect_readonly(kh_subkey);
	crypto_aead_xchacha20poly1305_ietf_encrypt(blob + KH_NONCE_LEN, &clen,
	    pt, ptlen, ad, adlen, NULL, blob, kh_subkey);
	sodium_mprotect_noaccess(kh_subkey);
	return KH_NONCE_LEN + (size_t)clen;
}

/* Decrypt ${blob} into ${pt}; 0, or -1 if it does not verify. */
static int
kh_blob_open(uint8_t *pt, size_t *ptlen, const uint8_t *blob,
    size_t bloblen, const char *account, const char *key_id, uint8_t kind)
{
	uint8_t ad[64 + KH_ACCOUNT_MAX + KH_KEYID_LEN];
	unsigned long long mlen = 0;
	size_t adlen;
	int rc;

	*ptlen = 0;
	if (bloblen < KH_NONCE_LEN + KH_TAG_LEN)
		return -1;
	adlen = kh_ad(ad, sizeof(ad), account, key_id, kind);
	sodium_mprotect_readonly(kh_subkey);
	rc = crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &mlen, NULL,
	    blob + KH_NONCE_LEN, bloblen - KH_NONCE_LEN, ad, adlen, blob,
	    kh_subkey);
	sodium_mprotect_noaccess(kh_subkey);
	if (rc != 0)
		return -1;
	*ptlen = (size_t)mlen;
	return 0;
}

static void
kh_do_seal(struct rbuf *r, struct kh_msg *ans)
{
	char account[KH_ACCOUNT_MAX + 1], key_id[KH_KEYID_LEN + 1];
	uint8_t blob[KH_BLOB_MAX];
	const uint8_t *pt;
	size_t ptlen, n;
	uint8_t kind;

	kh_get_account(r, account);
	kh_get_keyid(r, key_id);
	kind = kh_get_kind(r);
	pt = kh_get_bytes(r, 1, KH_PLAIN_MAX, &ptlen, "plaintext");
	kh_end(r);
	n = kh_blob_seal(blob, pt, ptlen, account, key_id, kind);
	kh_put_u8(ans, KH_ST_OK);
	kh_put_field(ans, blob, n);
}

static void
kh_do_open(struct rbuf *r, struct kh_msg *ans)
{
	char account[KH_ACCOUNT_MAX + 1], key_id[KH_KEYID_LEN + 1];
	uint8_t pt[KH_PLAIN_MAX];
	const uint8_t *blob;
	size_t bloblen, ptlen;
	uint8_t kind;

	kh_get_account(r, account);
	kh_get_keyid(r, key_id);
	kind = kh_get_kind(r);
	blob = kh_get_bytes(r, KH_NONCE_LEN + KH_TAG_LEN + 1, KH_BLOB_MAX,
	    &bloblen, "blob");
	kh_end(r);
	if (kh_blob_open(pt, &ptlen, blob, bloblen, account, key_id,
	    kind) != 0) {
		kh_put_u8(ans, KH_ST_AUTH);
		return;
	}
	kh_put_u8(ans, KH_ST_OK);
	kh_put_field(ans, pt, ptlen);
	sodium_memzero(pt, sizeof(pt));
}

static void
kh_do_wrapgen(struct rbuf *r, struct kh_msg *ans)
{
	char account[KH_ACCOUNT_MAX + 1], key_id[KH_KEYID_LEN + 1];
	uint8_t pk[crypto_box_PUBLICKEYBYTES], sk[crypto_box_SECRETKEYBYTES];
	uint8_t blob[KH_BLOB_MAX];
	size_t n;

	kh_get_account(r, account);
	kh_get_keyid(r, key_id);
	kh_end(r);
	crypto_box_keypair(pk, sk);
	n = kh_blob_seal(blob, sk, sizeof(sk), account, key_id, 2);
	sodium_memzero(sk, sizeof(sk));
	kh_put_u8(ans, KH_ST_OK);
	kh_put(ans, pk, sizeof(pk));
	kh_put_field(ans, blob, n);
}

static void
kh_do_unwrap(struct rbuf *r, struct kh_msg *ans)
{
	char account[KH_ACCOUNT_MAX + 1], key_id[KH_KEYID_LEN + 1];
	uint8_t pk[crypto_box_PUBLICKEYBYTES];
	uint8_t sk[KH_PLAIN_MAX];
	uint8_t pt[KH_UNWRAP_MAX];
	const uint8_t *blob, *sealed;
	size_t bloblen, sealedlen, sklen = 0;
	bool ok = false;

	kh_get_account(r, account);
	kh_get_keyid(r, key_id);
	blob = kh_get_bytes(r, KH_WRAPBLOB_LEN, KH_WRAPBLOB_LEN, &bloblen,
	    "wrap blob");
	sealed = kh_get_bytes(r, 1, KH_SEALED_MAX, &sealedlen, "sealed");
	kh_end(r);
	if (kh_blob_open(sk, &sklen, blob, bloblen, account, key_id, 2) == 0 &&
	    sklen == crypto_box_SECRETKEYBYTES &&
	    sealedlen >= crypto_box_SEALBYTES &&
	    crypto_scalarmult_base(pk, sk) == 0 &&
	    crypto_box_seal_open(pt, sealed, sealedlen, pk, sk) == 0)
		ok = true;
	sodium_memzero(sk, sizeof(sk));
	if (!ok) {
		kh_put_u8(ans, KH_ST_AUTH);
	} else {
		kh_put_u8(ans, KH_ST_OK);
		kh_put_field(ans, pt, sealedlen - crypto_box_SEALBYTES);
	}
	sodium_memzero(pt, sizeof(pt));
}

/* The account alone: a TOTP secret's blob is bound to it, kind 3. */
static void
kh_do_totpgen(struct rbuf *r, struct kh_msg *ans)
{
	char account[KH_ACCOUNT_MAX + 1];
	uint8_t secret[KH_TOTP_LEN], blob[KH_BLOB_MAX];
	size_t n;

	kh_get_account(r, account);
	kh_end(r);
	randombytes_buf(secret, sizeof(secret));
	n = kh_blob_seal(blob, secret, sizeof(secret), account, KH_TOTP_KEYID,
	    KH_TOTP_KIND);
	kh_put_u8(ans, KH_ST_OK);
	kh_put(ans, secret, sizeof(secret));
	kh_put_field(ans, blob, n);
	sodium_memzero(secret, sizeof(secret));
}

/*
 * Is ${code} the TOTP code (RFC 6238, HMAC-SHA1, 6 digits, 30 s) of a
 * step after ${last} and within one step of now?  Steps are tried from
 * the oldest, so drift never skips a code that is still to be used.
 */
static void
kh_do_totpcheck(struct rbuf *r, struct kh_msg *ans)
{
	char account[KH_ACCOUNT_MAX + 1];
	char want[KH_TOTP_DIGITS + 1], code[KH_TOTP_DIGITS + 1];
	uint8_t secret[KH_PLAIN_MAX], step8[8];
	const uint8_t *blob, *c;
	size_t bloblen, clen, slen = 0;
	uint64_t last, now, t;
	int found = 0;

	kh_get_account(r, account);
	blob = kh_get_bytes(r, KH_TOTPBLOB_LEN, KH_TOTPBLOB_LEN, &bloblen,
	    "totp blob");
	c = kh_get_bytes(r, KH_TOTP_DIGITS, KH_TOTP_DIGITS, &clen, "code");
	last = rbuf_u64(r);
	kh_end(r);
	for (size_t i = 0; i < clen; i++)
		if (c[i] < '0' || c[i] > '9')
			kh_refuse("code");
	memcpy(code, c, clen);
	code[clen] = '\0';
	now = (uint64_t)time(NULL) / KH_TOTP_STEP;
	if (kh_blob_open(secret, &slen, blob, bloblen, account, KH_TOTP_KEYID,
	    KH_TOTP_KIND) == 0 && slen == KH_TOTP_LEN) {
		for (t = now - 1; t <= now + 1; t++) {
			if (t <= last || found)
				continue;
			if (oath_totp_generate((const char *)secret, slen,
			    (time_t)(t * KH_TOTP_STEP), KH_TOTP_STEP, 0,
			    KH_TOTP_DIGITS, want) != OATH_OK)
				continue;
			if (sodium_memcmp(want, code, KH_TOTP_DIGITS) == 0) {
				found = 1;
				le64enc(step8, t);
			}
		}
	}
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(want, sizeof(want));
	if (!found) {
		kh_put_u8(ans, KH_ST_AUTH);
		return;
	}
	kh_put_u8(ans, KH_ST_OK);
	kh_put(ans, step8, sizeof(step8));
}

static void
kh_do_ping(struct rbuf *r, struct kh_msg *ans)
{
	kh_end(r);
	kh_put_u8(ans, KH_ST_OK);
}

/* Field sizes, for the table's packet bounds. */
#define F(n)		(2 + (n))
#define ACCT_MIN	F(1)
#define ACCT_MAX	F(KH_ACCOUNT_MAX)
#define KID		F(KH_KEYID_LEN)

static const struct kh_request kh_requests[] = {
	{ KH_SEAL, 1 + ACCT_MIN + KID + 1 + F(1),
	    1 + ACCT_MAX + KID + 1 + F(KH_PLAIN_MAX), kh_do_seal },
	{ KH_OPEN, 1 + ACCT_MIN + KID + 1 + F(KH_NONCE_LEN + KH_TAG_LEN + 1),
	    1 + ACCT_MAX + KID + 1 + F(KH_BLOB_MAX), kh_do_open },
	{ KH_WRAPGEN, 1 + ACCT_MIN + KID, 1 + ACCT_MAX + KID, kh_do_wrapgen },
	{ KH_UNWRAP, 1 + ACCT_MIN + KID + F(KH_WRAPBLOB_LEN) + F(1),
	    1 + ACCT_MAX + KID + F(KH_WRAPBLOB_LEN) + F(KH_SEALED_MAX),
	    kh_do_unwrap },
	{ KH_PING, 1, 1, kh_do_ping },
	{ KH_TOTPGEN, 1 + ACCT_MIN, 1 + ACCT_MAX, kh_do_totpgen },
	{ KH_TOTPCHECK,
	    1 + ACCT_MIN + F(KH_TOTPBLOB_LEN) + F(KH_TOTP_DIGITS) + 8,
	    1 + ACCT_MAX + F(KH_TOTPBLOB_LEN) + F(KH_TOTP_DIGITS) + 8,
	    kh_do_totpcheck },
};

static int
kh_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Read the master key file (64 hex digits and an optional newline, mode
 * 0600 or stricter) and derive the subkey into kh_subkey.
 */
static void
kh_load(const char *path)
{
	uint8_t raw[KH_KEYFILE_MAX + 1];
	uint8_t *master = NULL;
	struct stat sb;
	size_t got = 0;
	ssize_t n;
	int fd, hi, lo;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK)) == -1)
		kh_die("cannot open master key file '%s': %s", path,
		    strerror(errno));
	if (fstat(fd, &sb) == -1)
		kh_die("cannot stat master key file '%s': %s", path,
		    strerror(errno));
	if (!S_ISREG(sb.st_mode))
		kh_die("master key file '%s' is not a regular file", path);
	if ((sb.st_mode & 077) != 0)
		kh_die("master key file '%s' has mode %04o: group or others "
		    "can access it; it must be 0600 or stricter "
		    "(chmod 600 '%s')", path,
		    (unsigned int)(sb.st_mode & 07777), path);
	while (got < sizeof(raw)) {
		n = read(fd, raw + got, sizeof(raw) - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			kh_die("cannot read master key file '%s': %s", path,
			    strerror(errno));
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got == 65 && raw[64] == '\n')
		got = 64;
	if (got != 64)
		goto bad;
	if ((master = sodium_malloc(crypto_kdf_KEYBYTES)) == NULL ||
	    (kh_subkey = sodium_malloc(
	    crypto_aead_xchacha20poly1305_ietf_KEYBYTES)) == NULL)
		kh_die("out of memory for the master key");
	(void)sodium_mlock(master, crypto_kdf_KEYBYTES);
	if (sodium_mlock(kh_subkey,
	    crypto_aead_xchacha20poly1305_ietf_KEYBYTES) != 0)
		fprintf(stderr, "cofferd: key holder: warning: cannot lock the "
		    "key in memory: %s\n", strerror(errno));
	for (size_t i = 0; i < crypto_kdf_KEYBYTES; i++) {
		if ((hi = kh_hexval(raw[2 * i])) < 0 ||
		    (lo = kh_hexval(raw[2 * i + 1])) < 0)
			goto bad;
		master[i] = (uint8_t)(hi << 4 | lo);
	}
	sodium_memzero(raw, sizeof(raw));
	crypto_kdf_derive_from_key(kh_subkey,
	    crypto_aead_xchacha20poly1305_ietf_KEYBYTES, KH_KDF_ID, KH_KDF_CTX,
	    master);
	sodium_free(master);
	sodium_mprotect_noaccess(kh_subkey);
	return;
bad:
	sodium_memzero(raw, sizeof(raw));
	kh_die("master key file '%s' is not 64 hex digits and a newline "
	    "(make one with cofferd --init-master-key)", path);
}

static void
kh_close_fds(int keep)
{
	long max = sysconf(_SC_OPEN_MAX);

	if (max < 0 || max > 65536)
		max = 65536;
	for (int fd = 3; fd < max; fd++)
		if (fd != keep)
			(void)close(fd);
}

static void
kh_drop(uid_t uid, gid_t gid)
{
	if (uid == (uid_t)-1)
		return;
	if (setgroups(0, NULL) == -1 || setgid(gid) == -1 ||
	    setuid(uid) == -1)
		kh_die("cannot drop privileges: %s", strerror(errno));
	if (uid != 0 && setuid(0) != -1)
		kh_die("could regain root after dropping privileges");
}

void
keyholder_main(int fd, const char *keyfile, uid_t uid, gid_t gid)
{
	uint8_t req[KH_MSG_MAX + 1];
	struct rlimit rl = { 0, 0 };
	struct kh_msg ans;
	struct rbuf r;
	const struct kh_request *q;
	ssize_t n;
	size_t i, alen;

	/* First of all: no core dumps, no ptrace by our own uid. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	(void)setrlimit(RLIMIT_CORE, &rl);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	kh_close_fds(fd);

	kh_load(keyfile);
	if (oath_init() != OATH_OK)
		kh_die("cannot initialise liboath");
	kh_drop(uid, gid);
	/* A change of uid resets the flag; set it again. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	req[0] = 'R';
	if (send(fd, req, 1, MSG_NOSIGNAL) != 1)
		_exit(1);

	for (;;) {
		n = recv(fd, req, sizeof(req), 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;		/* the front end is gone */
		if ((size_t)n > KH_MSG_MAX)
			kh_refuse("too long");
		q = NULL;
		for (i = 0; i < sizeof(kh_requests) / sizeof(kh_requests[0]);
		    i++)
			if (kh_requests[i].type == req[0])
				q = &kh_requests[i];
		if (q == NULL)
			kh_refuse("unknown request type");
		if ((size_t)n < q->minlen || (size_t)n > q->maxlen)
			kh_refuse("length out of bounds");
		memset(&ans, 0, sizeof(ans));
		rbuf_init(&r, req + 1, (size_t)n - 1);
		q->fn(&r, &ans);
		sodium_memzero(req, sizeof(req));
		if (ans.bad)
			kh_die("answer too long");
		alen = ans.len;
		n = send(fd, ans.b, alen, MSG_NOSIGNAL);
		sodium_memzero(&ans, sizeof(ans));
		if (n != (ssize_t)alen)
			break;
	}
	sodium_free(kh_subkey);
	_exit(0);
}
