/* SPDX-License-Identifier: ISC */
/*
 * kh_client: the front end's side of the key holder channel
 * (keyholder.h).  One request at a time, under a mutex; a key holder
 * that does not answer within KH_TIMEOUT_MS, or answers something that
 * does not parse, is taken for dead for good.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "keyholder.h"
#include "srv_crypto.h"

#define KH_TIMEOUT_MS		10000
#define KH_START_TIMEOUT_MS	30000

struct kh {
	int		 fd;
	pid_t		 pid;
	bool		 dead;
	pthread_mutex_t	 mu;
};

/* Wait for ${fd} to be readable; 0, or -1 on timeout or error. */
static int
kh_wait(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n;

	for (;;) {
		n = poll(&p, 1, ms);
		if (n == -1 && errno == EINTR)
			continue;
		return n == 1 ? 0 : -1;
	}
}

int
kh_start(const char *keyfile, uid_t uid, gid_t gid, struct kh **out,
    char *err, size_t errlen)
{
	struct kh *kh = NULL;
	int sv[2] = { -1, -1 };
	uint8_t c = 0;
	ssize_t n;
	int status;

	*out = NULL;
	if ((kh = calloc(1, sizeof(*kh))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	kh->fd = -1;
	kh->pid = -1;
	if (pthread_mutex_init(&kh->mu, NULL) != 0) {
		free(kh);
		snprintf(err, errlen, "cannot create a mutex");
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		goto fail;
	}
	fflush(stdout);
	fflush(stderr);
	if ((kh->pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		goto fail;
	}
	if (kh->pid == 0) {
		close(sv[0]);
		keyholder_main(sv[1], keyfile, uid, gid);
	}
	close(sv[1]);
	sv[1] = -1;
	kh->fd = sv[0];
	sv[0] = -1;
	n = -1;
	if (kh_wait(kh->fd, KH_START_TIMEOUT_MS) == 0)
		n = recv(kh->fd, &c, 1, 0);
	if (n != 1 || c != 'R') {
		snprintf(err, errlen, "the key holder did not start (see its "
		    "message above)");
		close(kh->fd);
		kh->fd = -1;
		if (waitpid(kh->pid, &status, 0) == -1)
			(void)kill(kh->pid, SIGKILL);
		kh->pid = -1;
		goto fail;
	}
	*out = kh;
	return 0;
fail:
	if (sv[0] != -1)
		close(sv[0]);
	if (sv[1] != -1)
		close(sv[1]);
	pthread_mutex_destroy(&kh->mu);
	free(kh);
	return -1;
}

void
kh_stop(struct kh *kh)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int status, i;

	if (kh == NULL)
		return;
	pthread_mutex_lock(&kh->mu);
	if (kh->fd != -1)
		close(kh->fd);
	kh->fd = -1;
	kh->dead = true;
	pthread_mutex_unlock(&kh->mu);
	/* The child leaves on EOF; give it a moment, then insist. */
	for (i = 0; kh->pid > 0 && i < 200; i++) {
		if (waitpid(kh->pid, &status, WNOHANG) != 0)
			kh->pid = -1;
		else
			nanosleep(&ts, NULL);
	}
	if (kh->pid > 0) {
		(void)kill(kh->pid, SIGKILL);
		(void)waitpid(kh->pid, &status, 0);
	}
	pthread_mutex_destroy(&kh->mu);
	free(kh);
}

pid_t
kh_pid(const struct kh *kh)
{
	return kh->pid;
}

bool
kh_alive(struct kh *kh)
{
	bool alive;

	pthread_mutex_lock(&kh->mu);
	alive = !kh->dead;
	pthread_mutex_unlock(&kh->mu);
	return alive;
}

void
kh_reaped(struct kh *kh)
{
	pthread_mutex_lock(&kh->mu);
	kh->dead = true;
	kh->pid = -1;
	pthread_mutex_unlock(&kh->mu);
}

/*
 * Send ${req}, receive the answer into ${ans}.  The answer's status byte
 * is checked: KH_OK with the fields in ${r}, KH_EAUTH, or KH_EUNAVAIL.
 */
static int
kh_call(struct kh *kh, const struct kh_msg *req, struct kh_msg *ans,
    struct rbuf *r)
{
	ssize_t n;
	int rc;

	if (req->bad)
		return KH_EINVAL;
	pthread_mutex_lock(&kh->mu);
	if (kh->dead) {
		rc = KH_EUNAVAIL;
		goto out;
	}
	n = send(kh->fd, req->b, req->len, MSG_NOSIGNAL);
	if (n != (ssize_t)req->len)
		goto dead;
	if (kh_wait(kh->fd, KH_TIMEOUT_MS) != 0)
		goto dead;
	do
		n = recv(kh->fd, ans->b, sizeof(ans->b), MSG_TRUNC);
	while (n == -1 && errno == EINTR);
	if (n < 1 || (size_t)n > sizeof(ans->b))
		goto dead;
	ans->len = (size_t)n;
	rbuf_init(r, ans->b + 1, ans->len - 1);
	if (ans->b[0] == KH_ST_OK)
		rc = KH_OK;
	else if (ans->b[0] == KH_ST_AUTH && ans->len == 1)
		rc = KH_EAUTH;
	else
		goto dead;
	goto out;
dead:
	kh->dead = true;
	rc = KH_EUNAVAIL;
out:
	pthread_mutex_unlock(&kh->mu);
	return rc;
}

/* The account and key id fields, checked against the table's limits. */
static int
kh_put_ids(struct kh_msg *m, uint8_t type, const char *account,
    const char *key_id)
{
	size_t a = strlen(account);

	if (a < 1 || a > KH_ACCOUNT_MAX || strlen(key_id) != KH_KEYID_LEN)
		return KH_EINVAL;
	kh_put_u8(m, type);
	kh_put_field(m, account, a);
	kh_put_field(m, key_id, KH_KEYID_LEN);
	return 0;
}

/* The answer's last field must end it; copy it into ${dst}. */
static int
kh_take_field(struct rbuf *r, uint8_t *dst, size_t min, size_t max,
    size_t *len)
{
	const uint8_t *p;
	size_t n;

	*len = 0;
	if ((p = kh_get_field(r, &n)) == NULL || !rbuf_ok(r) ||
	    rbuf_left(r) != 0 || n < min || n > max)
		return -1;
	memcpy(dst, p, n);
	*len = n;
	return 0;
}

/* A malformed answer: the channel cannot be trusted any more. */
static int
kh_broken(struct kh *kh)
{
	pthread_mutex_lock(&kh->mu);
	kh->dead = true;
	pthread_mutex_unlock(&kh->mu);
	return KH_EUNAVAIL;
}

int
kh_ping(struct kh *kh)
{
	struct kh_msg req = { .len = 0 }, ans = { .len = 0 };
	struct rbuf r;
	int rc;

	kh_put_u8(&req, KH_PING);
	if ((rc = kh_call(kh, &req, &ans, &r)) != KH_OK)
		return rc == KH_EAUTH ? kh_broken(kh) : rc;
	if (rbuf_left(&r) != 0)
		return kh_broken(kh);
	return KH_OK;
}

int
kh_seal(struct kh *kh, const char *account, const char *key_id, int kind,
    const uint8_t *pt, size_t ptlen, uint8_t blob[KH_BLOB_MAX],
    size_t *bloblen)
{
	struct kh_msg req = { .len = 0 }, ans = { .len = 0 };
	struct rbuf r;
	int rc;

	*bloblen = 0;
	if ((kind != 1 && kind != 2) || ptlen < 1 || ptlen > KH_PLAIN_MAX ||
	    kh_put_ids(&req, KH_SEAL, account, key_id) != 0) {
		rc = KH_EINVAL;
		goto out;
	}
	kh_put_u8(&req, (uint8_t)kind);
	kh_put_field(&req, pt, ptlen);
	if ((rc = kh_call(kh, &req, &ans, &r)) != KH_OK) {
		if (rc == KH_EAUTH)
			rc = kh_broken(kh);
		goto out;
	}
	if (kh_take_field(&r, blob, ptlen + KH_NONCE_LEN + KH_TAG_LEN,
	    ptlen + KH_NONCE_LEN + KH_TAG_LEN, bloblen) != 0)
		rc = kh_broken(kh);
out:
	srv_wipe(&req, sizeof(req));
	return rc;
}

int
kh_open(struct kh *kh, const char *account, const char *key_id, int kind,
    const uint8_t *blob, size_t bloblen, uint8_t pt[KH_PLAIN_MAX],
    size_t *ptlen)
{
	struct kh_msg req = { .len = 0 }, ans = { .len = 0 };
	struct rbuf r;
	int rc;

	*ptlen = 0;
	if ((kind != 1 && kind != 2) ||
	    bloblen < KH_NONCE_LEN + KH_TAG_LEN + 1 || bloblen > KH_BLOB_MAX ||
	    kh_put_ids(&req, KH_OPEN, account, key_id) != 0)
		return KH_EINVAL;
	kh_put_u8(&req, (uint8_t)kind);
	kh_put_field(&req, blob, bloblen);
	if ((rc = kh_call(kh, &req, &ans, &r)) != KH_OK)
		goto out;
	if (kh_take_field(&r, pt, 1, KH_PLAIN_MAX, ptlen) != 0)
		rc = kh_broken(kh);
out:
	srv_wipe(&ans, sizeof(ans));
	return rc;
}

int
kh_wrapgen(struct kh *kh, const char *account, const char *key_id,
    uint8_t pub[KH_PUB_LEN], uint8_t blob[KH_BLOB_MAX], size_t *bloblen)
{
	struct kh_msg req = { .len = 0 }, ans = { .len = 0 };
	struct rbuf r;
	int rc;

	*bloblen = 0;
	if (kh_put_ids(&req, KH_WRAPGEN, account, key_id) != 0)
		return KH_EINVAL;
	if ((rc = kh_call(kh, &req, &ans, &r)) != KH_OK)
		return rc == KH_EAUTH ? kh_broken(kh) : rc;
	rbuf_copy(&r, pub, KH_PUB_LEN);
	if (kh_take_field(&r, blob, KH_WRAPBLOB_LEN, KH_WRAPBLOB_LEN,
	    bloblen) != 0)
		return kh_broken(kh);
	return KH_OK;
}

int
kh_unwrap(struct kh *kh, const char *account, const char *key_id,
    const uint8_t *blob, size_t bloblen, const uint8_t *sealed,
    size_t sealedlen, uint8_t pt[KH_UNWRAP_MAX], size_t *ptlen)
{
	struct kh_msg req = { .len = 0 }, ans = { .len = 0 };
	struct rbuf r;
	int rc;

	*ptlen = 0;
	if (bloblen != KH_WRAPBLOB_LEN || sealedlen < 1 ||
	    sealedlen > KH_SEALED_MAX ||
	    kh_put_ids(&req, KH_UNWRAP, account, key_id) != 0)
		return KH_EINVAL;
	kh_put_field(&req, blob, bloblen);
	kh_put_field(&req, sealed, sealedlen);
	if ((rc = kh_call(kh, &req, &ans, &r)) != KH_OK)
		goto out;
	if (kh_take_field(&r, pt, 0, KH_UNWRAP_MAX, ptlen) != 0)
		rc = kh_broken(kh);
out:
	srv_wipe(&ans, sizeof(ans));
	return rc;
}

int
kh_totpgen(struct kh *kh, const char *account, uint8_t secret[KH_TOTP_LEN],
    uint8_t blob[KH_BLOB_MAX], size_t *bloblen)
{
	struct kh_msg req = { .len = 0 }, ans = { .len = 0 };
	size_t a = strlen(account);
	struct rbuf r;
	int rc;

	*bloblen = 0;
	if (a < 1 || a > KH_ACCOUNT_MAX)
		return KH_EINVAL;
	kh_put_u8(&req, KH_TOTPGEN);
	kh_put_field(&req, account, a);
	if ((rc = kh_call(kh, &req, &ans, &r)) != KH_OK) {
		if (rc == KH_EAUTH)
			rc = kh_broken(kh);
		goto out;
	}
	rbuf_copy(&r, secret, KH_TOTP_LEN);
	if (kh_take_field(&r, blob, KH_TOTPBLOB_LEN, KH_TOTPBLOB_LEN,
	    bloblen) != 0)
		rc = kh_broken(kh);
out:
	srv_wipe(&ans, sizeof(ans));
	return rc;
}

int
kh_totpcheck(struct kh *kh, const char *account, const uint8_t *blob,
    size_t bloblen, const char *code, int64_t last, int64_t *step)
{
	struct kh_msg req = { .len = 0 }, ans = { .len = 0 };
	size_t a = strlen(account);
	uint8_t l8[8];
	struct rbuf r;
	int rc;

	*step = 0;
	if (a < 1 || a > KH_ACCOUNT_MAX || bloblen != KH_TOTPBLOB_LEN ||
	    strlen(code) != KH_TOTP_DIGITS ||
	    strspn(code, "0123456789") != KH_TOTP_DIGITS)
		return KH_EINVAL;
	kh_put_u8(&req, KH_TOTPCHECK);
	kh_put_field(&req, account, a);
	kh_put_field(&req, blob, bloblen);
	kh_put_field(&req, code, KH_TOTP_DIGITS);
	le64enc(l8, (uint64_t)(last < 0 ? 0 : last));
	kh_put(&req, l8, sizeof(l8));
	if ((rc = kh_call(kh, &req, &ans, &r)) != KH_OK)
		goto out;
	*step = (int64_t)rbuf_u64(&r);
	if (!rbuf_ok(&r) || rbuf_left(&r) != 0) {
		*step = 0;
		rc = kh_broken(kh);
	}
out:
	srv_wipe(&req, sizeof(req));
	return rc;
}
