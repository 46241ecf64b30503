/* SPDX-License-Identifier: ISC */
/*
 * sealer: compress and encrypt blobs on worker threads.
 *
 * The backup thread reads, chunks and hashes; each new blob is copied
 * into one of a fixed number of job slots and sealed by a worker
 * (compression kept only when it saves at least 1/32, then the AEAD).
 * Finished jobs are handed back to the submitting thread, which alone
 * writes packs, so pack writing needs no locks.  The slots bound the
 * memory: at most SEALER_JOBS_PER_THREAD * threads blobs in flight.
 *
 * States of a slot: FREE -> QUEUED (sealer_submit) -> BUSY (worker) ->
 * DONE (worker) -> FREE (done callback ran in the submitting thread).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "repo.h"
#include "repo_internal.h"
#include "sealer.h"
#include "../compress/compress.h"

#define SEALER_JOBS_PER_THREAD	3

enum job_state { JOB_FREE, JOB_QUEUED, JOB_BUSY, JOB_DONE, JOB_FAILED };

struct job {
	enum job_state	 state;
	uint64_t	 seq;		/* submission order, for fairness */
	int		 type;
	uint8_t		 id[BLOB_ID_LEN];
	uint8_t		*in;
	size_t		 len, incap;
	uint8_t		*out;		/* plain (1 + bound) | sealed */
	size_t		 outcap, slen, soff;
	bool		 hash;		/* worker computes id (and dedups) */
	bool		 dup;		/* already stored: nothing to write */
	uint8_t		*dst;		/* where the id goes (hash jobs) */
};

struct sealer {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv_work;
	pthread_cond_t	 cv_done;
	struct job	*jobs;
	size_t		 njobs;
	pthread_t	*th;
	size_t		 nth;
	bool		 stop;
	uint64_t	 seq;
	const uint8_t	*key;		/* borrowed: the key set's guarded key */
	const uint8_t	*idkey;		/* borrowed: the blob-id key */
	uint8_t		 keyid[KEYID_LEN];
	int		 level;
	sealer_claim_fn	*claim;
	void		*claim_cookie;
};

static bool
seal_job(struct sealer *s, struct compressor *comp, struct job *j)
{
	size_t bound = compress_bound(j->len);
	size_t need = 2 * (1 + bound) + AEAD_OVERHEAD, clen = 0, plen;
	uint8_t ad[AD_LEN];
	uint8_t *plain;

	if (need > j->outcap) {
		free(j->out);
		if ((j->out = malloc(need)) == NULL) {
			j->outcap = 0;
			return false;
		}
		j->outcap = need;
	}
	plain = j->out;
	if (j->len >= 64 && compress_buf(comp, plain + 1, bound, j->in, j->len,
	    &clen) == 0 && clen < j->len - j->len / 32) {
		plain[0] = 1;
		plen = 1 + clen;
	} else {
		plain[0] = 0;
		if (j->len > 0)
			memcpy(plain + 1, j->in, j->len);
		plen = 1 + j->len;
	}
	ad_build(ad, j->type, s->keyid, j->id, BLOB_ID_LEN);
	aead_seal(plain + plen, plain, plen, ad, sizeof(ad), s->key);
	secret_wipe(plain, plen);
	j->soff = plen;
	j->slen = plen + AEAD_OVERHEAD;
	return true;
}

static void *
worker(void *arg)
{
	struct sealer *s = arg;
	struct compressor *comp = compressor_new(s->level);

	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct job *j = NULL;
		bool ok;

		while (!s->stop) {
			for (size_t i = 0; i < s->njobs; i++)
				if (s->jobs[i].state == JOB_QUEUED &&
				    (j == NULL || s->jobs[i].seq < j->seq))
					j = &s->jobs[i];
			if (j != NULL)
				break;
			pthread_cond_wait(&s->cv_work, &s->mu);
		}
		if (s->stop)
			break;
		j->state = JOB_BUSY;
		pthread_mutex_unlock(&s->mu);
		ok = true;
		if (j->hash) {
			/* Hash here, off the reading thread; the first job to
			 * claim an id stores it, later ones are duplicates. */
			hash_keyed(j->id, s->idkey, j->in, j->len);
			memcpy(j->dst, j->id, BLOB_ID_LEN);
			j->dup = !s->claim(s->claim_cookie, j->type, j->id);
		}
		if (!j->dup)
			ok = comp != NULL && seal_job(s, comp, j);
		pthread_mutex_lock(&s->mu);
		j->state = ok ? JOB_DONE : JOB_FAILED;
		pthread_cond_broadcast(&s->cv_done);
	}
	pthread_mutex_unlock(&s->mu);
	compressor_free(comp);
	return NULL;
}

struct sealer *
sealer_new(const uint8_t *key, const uint8_t *idkey,
    const uint8_t keyid[KEYID_LEN], int level, sealer_claim_fn *claim,
    void *claim_cookie)
{
	struct sealer *s;
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if ((s = coffer_calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->nth = n < 1 ? 1 : n > 8 ? 8 : (size_t)n;
	s->key = key;
	s->idkey = idkey;
	s->claim = claim;
	s->claim_cookie = claim_cookie;
	s->level = level;
	memcpy(s->keyid, keyid, KEYID_LEN);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv_work, NULL);
	pthread_cond_init(&s->cv_done, NULL);
	s->njobs = s->nth * SEALER_JOBS_PER_THREAD;
	if ((s->jobs = coffer_calloc(s->njobs, sizeof(*s->jobs))) == NULL ||
	    (s->th = coffer_calloc(s->nth, sizeof(*s->th))) == NULL)
		goto fail;
	for (size_t i = 0; i < s->nth; i++) {
		if (pthread_create(&s->th[i], NULL, worker, s) != 0) {
			s->nth = i;
			goto fail;
		}
	}
	return s;
fail:
	sealer_free(s);
	return NULL;
}

void
sealer_free(struct sealer *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_broadcast(&s->cv_work);
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < s->nth; i++)
		pthread_join(s->th[i], NULL);
	for (size_t i = 0; s->jobs != NULL && i < s->njobs; i++) {
		if (s->jobs[i].in != NULL)
			secret_wipe(s->jobs[i].in, s->jobs[i].incap);
		free(s->jobs[i].in);
		free(s->jobs[i].out);
	}
	coffer_free(s->jobs);
	coffer_free(s->th);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv_work);
	pthread_cond_destroy(&s->cv_done);
	coffer_free(s);
}

/*
 * Hand every DONE job to ${done} (with the lock released), oldest first;
 * with ${wait}, first wait until at least one job is finished.
 */
static int
reap(struct sealer *s, bool wait, sealer_done_fn *done, void *cookie,
    struct coffer_err *err)
{
	int r = 0;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct job *j = NULL;
		bool busy = false;

		for (size_t i = 0; i < s->njobs; i++) {
			struct job *x = &s->jobs[i];

			if (x->state == JOB_QUEUED || x->state == JOB_BUSY)
				busy = true;
			if ((x->state == JOB_DONE || x->state == JOB_FAILED) &&
			    (j == NULL || x->seq < j->seq))
				j = x;
		}
		if (j == NULL) {
			if (!wait || !busy)
				break;
			pthread_cond_wait(&s->cv_done, &s->mu);
			continue;
		}
		pthread_mutex_unlock(&s->mu);
		if (j->state == JOB_FAILED)
			r = coffer_err_set(err, COFFER_ENOMEM, "sealing blob");
		else if (j->dup)
			r = 0;
		else
			r = done(cookie, j->type, j->id, j->out + j->soff,
			    j->slen, (uint32_t)j->len, err);
		pthread_mutex_lock(&s->mu);
		j->state = JOB_FREE;
		wait = false;
		if (r != 0)
			break;
	}
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int submit(struct sealer *, int, const uint8_t *, uint8_t *,
    const uint8_t *, size_t, sealer_done_fn *, void *, struct coffer_err *);

int
sealer_submit(struct sealer *s, int type, const uint8_t id[BLOB_ID_LEN],
    const uint8_t *data, size_t len, sealer_done_fn *done, void *cookie,
    struct coffer_err *err)
{
	return submit(s, type, id, NULL, data, len, done, cookie, err);
}

int
sealer_submit_hash(struct sealer *s, int type, uint8_t *dst,
    const uint8_t *data, size_t len, sealer_done_fn *done, void *cookie,
    struct coffer_err *err)
{
	return submit(s, type, NULL, dst, data, len, done, cookie, err);
}

static int
submit(struct sealer *s, int type, const uint8_t *id, uint8_t *dst,
    const uint8_t *data, size_t len, sealer_done_fn *done, void *cookie,
    struct coffer_err *err)
{
	struct job *j = NULL;
	int r;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		for (size_t i = 0; i < s->njobs && j == NULL; i++)
			if (s->jobs[i].state == JOB_FREE)
				j = &s->jobs[i];
		pthread_mutex_unlock(&s->mu);
		if (j != NULL)
			break;
		if ((r = reap(s, true, done, cookie, err)) != 0)
			return r;
	}
	/* The slot is FREE: no worker touches it until it is QUEUED. */
	if (len > j->incap) {
		if (j->in != NULL)
			secret_wipe(j->in, j->incap);
		free(j->in);
		if ((j->in = malloc(len)) == NULL) {
			j->incap = 0;
			return coffer_err_set(err, COFFER_ENOMEM, "blob copy");
		}
		j->incap = len;
	}
	if (len > 0)
		memcpy(j->in, data, len);
	j->len = len;
	j->type = type;
	j->hash = id == NULL;
	j->dup = false;
	j->dst = dst;
	if (id != NULL)
		memcpy(j->id, id, BLOB_ID_LEN);
	pthread_mutex_lock(&s->mu);
	j->seq = s->seq++;
	j->state = JOB_QUEUED;
	pthread_cond_signal(&s->cv_work);
	pthread_mutex_unlock(&s->mu);
	/* Write out whatever is finished, without waiting. */
	return reap(s, false, done, cookie, err);
}

int
sealer_drain(struct sealer *s, sealer_done_fn *done, void *cookie,
    struct coffer_err *err)
{
	int r;

	for (;;) {
		bool pending = false;

		pthread_mutex_lock(&s->mu);
		for (size_t i = 0; i < s->njobs; i++)
			if (s->jobs[i].state != JOB_FREE)
				pending = true;
		pthread_mutex_unlock(&s->mu);
		if (!pending)
			return 0;
		if ((r = reap(s, true, done, cookie, err)) != 0)
			return r;
	}
}
