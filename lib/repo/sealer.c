/* SPDX-License-Identifier: ISC */
/*
 * sealer: compress and encrypt blobs on worker threads.
 *
 * The backup thread reads and chunks; each blob is copied into one of a
 * fixed number of job slots, where a worker computes its id when asked
 * (sealer_submit_hash: the first to claim the id in the index stores it,
 * later ones are dropped as duplicates) and seals it (compression kept
 * only when it saves at least 1/32, then the AEAD).
 * Finished jobs are handed back to the submitting thread, which alone
 * writes packs, so pack writing needs no locks.  The slots bound the
 * memory: at most SEALER_JOBS_PER_THREAD * threads jobs in flight.
 *
 * Small blobs (small files, file tails, trees) are gathered into one job
 * of up to BATCH_BYTES / BATCH_BLOBS: handing each to a worker on its
 * own cost a wake-up and two context switches per blob (100,000 of them
 * for 44,000 small files, about 7% of a first backup's CPU).  The data
 * blobs of such a job are compressed together, as one zstd frame, and
 * sealed as one bundle (FORMAT.md §7.1): small files share their
 * context, which makes zstd both faster and better on them.
 *
 * States of a slot: FREE -> FILLING (small blobs being added) -> QUEUED
 * (sealer_submit) -> BUSY (worker) -> DONE (worker) -> FREE (done
 * callback ran in the submitting thread).  Only the submitting thread
 * moves a slot out of FREE or FILLING.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "repo.h"
#include "repo_internal.h"
#include "sealer.h"
#include "../compress/compress.h"

#ifndef SEALER_JOBS_PER_THREAD
#define SEALER_JOBS_PER_THREAD	3
#endif
#define BATCH_BLOB_MAX	(256 * 1024)	/* smaller blobs are batched */
#define BATCH_BYTES	(1024 * 1024)	/* a batch holds at most this ... */
#define BATCH_BLOBS	64		/* ... and this many blobs */

enum job_state {
	JOB_FREE, JOB_FILLING, JOB_QUEUED, JOB_BUSY, JOB_DONE, JOB_FAILED
};

struct jblob {
	int		 type;
	uint8_t		 id[BLOB_ID_LEN];
	size_t		 off, len;	/* in job->in */
	size_t		 soff, slen;	/* sealed, in job->out */
	bool		 bundled;	/* in the job's bundle, not sealed alone */
	bool		 hash;		/* the worker computes id and dedups */
	bool		 dup;		/* already stored: nothing to write */
	uint8_t		*dst;		/* where the id goes (hash) */
};

struct job {
	enum job_state	 state;
	uint64_t	 seq;		/* submission order, for fairness */
	struct jblob	 b[BATCH_BLOBS];
	size_t		 nb;
	uint8_t		*in;		/* the blobs' bytes, one after another */
	size_t		 used, incap;
	uint8_t		*out;		/* plain scratch | sealed blobs */
	size_t		 outcap;
	size_t		 bsoff, bslen;	/* the sealed bundle in out, if any */
	size_t		 nbundled;
	uint8_t		*gather;	/* bundled bytes, when not contiguous */
	size_t		 gathercap;
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
	struct adbind	 ab;		/* the key set's AD binding */
	int		 level;		/* zstd level of single blobs */
	int		 blevel;	/* ... and of bundles */
	sealer_claim_fn	*claim;
	void		*claim_cookie;
	struct job	*filling;	/* the batch being gathered, or NULL */
};

/*
 * Seal blob ${x} of ${j} into ${j->out} at ${pos}, through the scratch
 * area at the start of ${j->out} (${scratch} bytes); the next position.
 */
static size_t
seal_one(struct sealer *s, struct compressor *comp, struct job *j,
    struct jblob *x, size_t scratch, size_t pos)
{
	const uint8_t *in = j->in + x->off;
	uint8_t *plain = j->out, ad[AD_LEN];
	size_t adlen;
	size_t clen = 0, plen;

	if (x->len >= 64 && compress_buf(comp, plain + 1, scratch - 1, in,
	    x->len, &clen) == 0 && clen < x->len - x->len / 32) {
		plain[0] = 1;
		plen = 1 + clen;
	} else {
		plain[0] = 0;
		if (x->len > 0)
			memcpy(plain + 1, in, x->len);
		plen = 1 + x->len;
	}
	adlen = ad_build(ad, &s->ab, x->type, x->id, BLOB_ID_LEN);
	aead_seal(j->out + pos, plain, plen, ad, adlen, s->key);
	secret_wipe(plain, plen);
	x->soff = pos;
	x->slen = plen + AEAD_OVERHEAD;
	return pos + x->slen;
}

/*
 * Seal the data blobs of ${j} marked bundled as one bundle into
 * ${j->out} at ${pos}, through the scratch area at the start of
 * ${j->out} (${scratch} bytes); the next position.  The plaintext is
 * codec | count | count x (type, id, rawlen) | payload, the payload
 * being the blobs' bytes one after another, compressed as one frame
 * when that saves at least 1/32.
 */
static size_t
seal_bundle(struct sealer *s, struct compressor *comp, struct job *j,
    const uint8_t *src, size_t sum, size_t scratch, size_t pos)
{
	static const uint8_t zero[BLOB_ID_LEN];
	uint8_t *plain = j->out, *q, ad[AD_LEN];
	size_t adlen;
	size_t hdr = BUNDLE_HDR + BUNDLE_ENTRY * j->nbundled, clen = 0, plen;

	q = plain + BUNDLE_HDR;
	for (size_t i = 0; i < j->nb; i++) {
		const struct jblob *x = &j->b[i];

		if (!x->bundled)
			continue;
		q[0] = (uint8_t)x->type;
		memcpy(q + 1, x->id, BLOB_ID_LEN);
		le32enc(q + 1 + BLOB_ID_LEN, (uint32_t)x->len);
		q += BUNDLE_ENTRY;
	}
	le32enc(plain + 1, (uint32_t)j->nbundled);
	if (sum >= 64 && compress_buf_at(comp, s->blevel, plain + hdr,
	    scratch - hdr, src, sum, &clen) == 0 && clen < sum - sum / 32) {
		plain[0] = 1;
		plen = hdr + clen;
	} else {
		plain[0] = 0;
		if (sum > 0)
			memcpy(plain + hdr, src, sum);
		plen = hdr + sum;
	}
	adlen = ad_build(ad, &s->ab, OBJ_BUNDLE, zero, BLOB_ID_LEN);
	aead_seal(j->out + pos, plain, plen, ad, adlen, s->key);
	secret_wipe(plain, plen);
	j->bsoff = pos;
	j->bslen = plen + AEAD_OVERHEAD;
	return pos + j->bslen;
}

/*
 * The bytes of the bundled blobs of ${j}, one after another: in place
 * when they already lie so in ${j->in} (no tree between them), else
 * gathered into ${j->gather}.  NULL if out of memory.
 */
static const uint8_t *
bundle_source(struct job *j, size_t sum)
{
	size_t first = SIZE_MAX, at = 0;
	bool contig = true;

	for (size_t i = 0; i < j->nb; i++) {
		const struct jblob *x = &j->b[i];

		if (!x->bundled)
			continue;
		if (first == SIZE_MAX)
			first = at = x->off;
		contig = contig && x->off == at;
		at = x->off + x->len;
	}
	if (contig)
		return j->in + first;
	if (sum > j->gathercap) {
		if (j->gather != NULL)
			secret_wipe(j->gather, j->gathercap);
		coffer_free(j->gather);
		j->gathercap = 0;
		if ((j->gather = coffer_malloc(sum)) == NULL)
			return NULL;
		j->gathercap = sum;
	}
	at = 0;
	for (size_t i = 0; i < j->nb; i++) {
		const struct jblob *x = &j->b[i];

		if (x->bundled && x->len > 0) {
			memcpy(j->gather + at, j->in + x->off, x->len);
			at += x->len;
		}
	}
	return j->gather;
}

/*
 * Seal every blob of ${j}: the data blobs of a batch of two or more
 * together as one bundle, the others one by one.  ${j->out} is a scratch
 * area for the largest plaintext (codec byte + compression bound, or
 * the bundle's) followed by the sealed objects.
 */
static bool
seal_job(struct sealer *s, struct compressor *comp, struct job *j)
{
	const uint8_t *src = NULL;
	size_t scratch = 0, need = 0, pos, ndata = 0, sum = 0;

	for (size_t i = 0; i < j->nb; i++)
		ndata += j->b[i].type == OBJ_DATA && !j->b[i].dup;
	j->nbundled = 0;
	for (size_t i = 0; i < j->nb; i++) {
		struct jblob *x = &j->b[i];
		size_t bound = 1 + compress_bound(x->len);

		x->bundled = false;
		if (x->dup)
			continue;
		x->bundled = ndata >= 2 && x->type == OBJ_DATA &&
		    x->len < BATCH_BLOB_MAX;
		if (x->bundled) {
			j->nbundled++;
			sum += x->len;
			continue;
		}
		if (bound > scratch)
			scratch = bound;
		need += bound + AEAD_OVERHEAD;
	}
	if (j->nbundled > 0) {
		size_t bound = BUNDLE_HDR + BUNDLE_ENTRY * j->nbundled +
		    compress_bound(sum);

		if (bound > scratch)
			scratch = bound;
		need += bound + AEAD_OVERHEAD;
		if ((src = bundle_source(j, sum)) == NULL)
			return false;
	}
	need += scratch;
	if (need > j->outcap) {
		coffer_free(j->out);
		if ((j->out = coffer_malloc(need)) == NULL) {
			j->outcap = 0;
			return false;
		}
		j->outcap = need;
	}
	pos = scratch;
	if (j->nbundled > 0)
		pos = seal_bundle(s, comp, j, src, sum, scratch, pos);
	for (size_t i = 0; i < j->nb; i++)
		if (!j->b[i].bundled && !j->b[i].dup)
			pos = seal_one(s, comp, j, &j->b[i], scratch, pos);
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
		for (size_t i = 0; i < j->nb; i++) {
			/* Hash here, off the reading thread; the first job to
			 * claim an id stores it, later ones are duplicates. */
			struct jblob *x = &j->b[i];

			if (!x->hash)
				continue;
			hash_keyed(x->id, s->idkey, j->in + x->off, x->len);
			memcpy(x->dst, x->id, BLOB_ID_LEN);
			x->dup = !s->claim(s->claim_cookie, x->type, x->id);
		}
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
    const struct adbind *ab, int level, int blevel,
    sealer_claim_fn *claim, void *claim_cookie)
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
	s->blevel = blevel;
	s->ab = *ab;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv_work, NULL);
	pthread_cond_init(&s->cv_done, NULL);
	s->njobs = s->nth * SEALER_JOBS_PER_THREAD;
	if ((s->jobs = coffer_calloc(s->njobs, sizeof(*s->jobs))) == NULL ||
	    (s->th = coffer_calloc(s->nth, sizeof(*s->th))) == NULL) {
		s->nth = 0;		/* no thread for sealer_free to join */
		goto fail;
	}
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
		if (s->jobs[i].gather != NULL)
			secret_wipe(s->jobs[i].gather, s->jobs[i].gathercap);
		coffer_free(s->jobs[i].in);
		coffer_free(s->jobs[i].out);
		coffer_free(s->jobs[i].gather);
	}
	coffer_free(s->jobs);
	coffer_free(s->th);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv_work);
	pthread_cond_destroy(&s->cv_done);
	coffer_free(s);
}

/* Hand the sealed objects of ${j} to ${done}: its bundle first. */
static int
hand_over(struct job *j, sealer_done_fn *done, void *cookie,
    struct coffer_err *err)
{
	struct sealed_member m[BATCH_BLOBS];
	size_t n = 0;
	int r;

	for (size_t i = 0; i < j->nb; i++) {
		const struct jblob *x = &j->b[i];

		if (x->bundled) {
			m[n].type = x->type;
			m[n].id = x->id;
			m[n].rawlen = (uint32_t)x->len;
			n++;
		}
	}
	if (n > 0 && (r = done(cookie, j->out + j->bsoff, j->bslen, true, m,
	    n, err)) != 0)
		return r;
	for (size_t i = 0; i < j->nb; i++) {
		const struct jblob *x = &j->b[i];

		if (x->bundled || x->dup)
			continue;
		m[0].type = x->type;
		m[0].id = x->id;
		m[0].rawlen = (uint32_t)x->len;
		if ((r = done(cookie, j->out + x->soff, x->slen, false, m, 1,
		    err)) != 0)
			return r;
	}
	return 0;
}

/*
 * Hand every DONE job's blobs to ${done} (with the lock released), oldest
 * job first; with ${wait}, first wait until at least one job is finished.
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
		if (r == 0)
			r = hand_over(j, done, cookie, err);
		pthread_mutex_lock(&s->mu);
		j->state = JOB_FREE;
		wait = false;
		if (r != 0)
			break;
	}
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* A FREE slot for the submitting thread, reaping (and waiting) for one. */
static int
take_slot(struct sealer *s, struct job **jp, sealer_done_fn *done,
    void *cookie, struct coffer_err *err)
{
	struct job *j = NULL;
	int r;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		for (size_t i = 0; i < s->njobs && j == NULL; i++)
			if (s->jobs[i].state == JOB_FREE)
				j = &s->jobs[i];
		if (j != NULL)
			j->state = JOB_FILLING;
		pthread_mutex_unlock(&s->mu);
		if (j != NULL)
			break;
		if ((r = reap(s, true, done, cookie, err)) != 0)
			return r;
	}
	j->nb = 0;
	j->used = 0;
	*jp = j;
	return 0;
}

/* Make room for ${len} more bytes in ${j->in} (the old bytes are kept). */
static int
reserve_in(struct job *j, size_t len, struct coffer_err *err)
{
	size_t want = j->used + len;
	uint8_t *p;

	if (want <= j->incap)
		return 0;
	if (want < BATCH_BYTES)
		want = BATCH_BYTES;
	if ((p = coffer_malloc(want)) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "blob copy");
	if (j->in != NULL) {
		memcpy(p, j->in, j->used);
		secret_wipe(j->in, j->incap);
		coffer_free(j->in);
	}
	j->in = p;
	j->incap = want;
	return 0;
}

/* Add a copy of a blob to ${j}, FILLING and owned by this thread. */
static int
add_blob(struct job *j, int type, const uint8_t *id, const uint8_t *data,
    size_t len, struct coffer_err *err)
{
	struct jblob *x;
	int r;

	if ((r = reserve_in(j, len, err)) != 0)
		return r;
	x = &j->b[j->nb++];
	x->type = type;
	x->hash = false;
	x->dup = false;
	x->dst = NULL;
	x->bundled = false;
	if (id != NULL)
		memcpy(x->id, id, BLOB_ID_LEN);
	x->off = j->used;
	x->len = len;
	if (len > 0)
		memcpy(j->in + j->used, data, len);
	j->used += len;
	return 0;
}

/* Give back ${j} (FILLING), unused. */
static void
release(struct sealer *s, struct job *j)
{
	pthread_mutex_lock(&s->mu);
	j->state = JOB_FREE;
	pthread_mutex_unlock(&s->mu);
}

/* Hand ${j} (FILLING) to the workers. */
static void
queue(struct sealer *s, struct job *j)
{
	pthread_mutex_lock(&s->mu);
	j->seq = s->seq++;
	j->state = JOB_QUEUED;
	pthread_cond_signal(&s->cv_work);
	pthread_mutex_unlock(&s->mu);
}

/* Queue the batch being gathered, if any. */
static void
queue_batch(struct sealer *s)
{
	if (s->filling != NULL) {
		queue(s, s->filling);
		s->filling = NULL;
	}
}

/* Add a blob to a job of its own (large) or to the batch (small). */
static int
submit(struct sealer *s, int type, const uint8_t *id, uint8_t *dst,
    const uint8_t *data, size_t len, sealer_done_fn *done, void *cookie,
    struct coffer_err *err)
{
	struct job *j;
	int r;

	if (len >= BATCH_BLOB_MAX) {
		queue_batch(s);
		if ((r = take_slot(s, &j, done, cookie, err)) != 0)
			return r;
		if ((r = add_blob(j, type, id, data, len, err)) != 0) {
			release(s, j);
			return r;
		}
	} else {
		if ((j = s->filling) != NULL &&
		    (j->nb == BATCH_BLOBS || j->used + len > BATCH_BYTES))
			queue_batch(s);
		if (s->filling == NULL &&
		    (r = take_slot(s, &s->filling, done, cookie, err)) != 0)
			return r;
		j = s->filling;
		if ((r = add_blob(j, type, id, data, len, err)) != 0)
			return r;
	}
	if (dst != NULL) {
		j->b[j->nb - 1].hash = true;
		j->b[j->nb - 1].dst = dst;
	}
	if (j != s->filling)
		queue(s, j);
	/* Write out whatever is finished, without waiting. */
	return reap(s, false, done, cookie, err);
}

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

int
sealer_drain(struct sealer *s, sealer_done_fn *done, void *cookie,
    struct coffer_err *err)
{
	int r;

	queue_batch(s);
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
