/* SPDX-License-Identifier: ISC */
/*
 * sealer: a pool of threads that compress and encrypt blobs for a key
 * set, while the caller goes on reading and chunking.  Finished blobs
 * come back through a callback run in the caller's thread.
 */
#ifndef SEALER_H_
#define SEALER_H_

#include "repo.h"

struct sealer;

/* One blob of a sealed object, as the done callback hears of it. */
struct sealed_member {
	int		 type;
	const uint8_t	*id;
	uint32_t	 rawlen;
};

/*
 * Called in the submitting thread for each sealed object, oldest first:
 * one blob (${bundle} false, ${n} 1) or a bundle of the ${n} data blobs
 * ${m} (FORMAT.md §7.1).  ${sealed} (nonce | ciphertext | tag) and ${m}
 * are borrowed for the call.  Non-zero stops and is returned.
 */
typedef int sealer_done_fn(void *cookie, const uint8_t *sealed, size_t slen,
    bool bundle, const struct sealed_member *m, size_t n,
    struct coffer_err *err);
/*
 * Called on a worker thread with a blob id it computed: return true if
 * the caller's index had no such blob and now holds it as pending (the
 * job goes on to be sealed), false if it is a duplicate (dropped).  Must
 * be thread-safe.
 */
typedef bool sealer_claim_fn(void *cookie, int type,
    const uint8_t id[BLOB_ID_LEN]);

struct adbind;
/*
 * sealer_new(key, idkey, ab, level, blevel, claim, cookie): threads
 * (one per CPU, at most 8) that seal under ${key} with the associated
 * data of the key set ${ab} (copied), blobs with zstd
 * ${level} and bundles of small data blobs with ${blevel}, and, for
 * sealer_submit_hash(), compute blob ids under ${idkey} and ask
 * ${claim}.  The keys are borrowed and must outlive the sealer.  NULL if
 * out of memory.
 */
struct sealer *sealer_new(const uint8_t *key, const uint8_t *idkey,
    const struct adbind *ab, int level, int blevel,
    sealer_claim_fn *claim, void *cookie);
/* sealer_free(s): stop the threads (pending jobs are dropped). */
void sealer_free(struct sealer *s);

/* sealer_submit(...): queue a copy of ${data}; may run ${done} for others. */
int sealer_submit(struct sealer *s, int type, const uint8_t id[BLOB_ID_LEN],
    const uint8_t *data, size_t len, sealer_done_fn *done, void *cookie,
    struct coffer_err *err) WUR;
/*
 * sealer_submit_hash(s, type, dst, data, len, done, cookie, err): as
 * sealer_submit(), but the worker computes the id, writes it to ${dst}
 * (valid after the next sealer_drain()) and drops duplicates.
 */
int sealer_submit_hash(struct sealer *s, int type, uint8_t *dst,
    const uint8_t *data, size_t len, sealer_done_fn *done, void *cookie,
    struct coffer_err *err) WUR;
/* sealer_drain(s, done, cookie, err): wait for all jobs, run ${done}. */
int sealer_drain(struct sealer *s, sealer_done_fn *done, void *cookie,
    struct coffer_err *err) WUR;

#endif /* !SEALER_H_ */
