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

/*
 * Called in the submitting thread for each sealed blob, oldest first;
 * ${sealed} (nonce | ciphertext | tag of codec byte + payload) is
 * borrowed for the call.  Non-zero stops and is returned.
 */
typedef int sealer_done_fn(void *cookie, int type,
    const uint8_t id[BLOB_ID_LEN], const uint8_t *sealed, size_t slen,
    uint32_t rawlen, struct coffer_err *err);

/*
 * sealer_new(key, keyid, level): threads (one per CPU, at most 8) that
 * seal under ${key} (borrowed; must outlive the sealer) with zstd
 * ${level}.  NULL if out of memory.
 */
struct sealer *sealer_new(const uint8_t *key, const uint8_t keyid[KEYID_LEN],
    int level);
/* sealer_free(s): stop the threads (pending jobs are dropped). */
void sealer_free(struct sealer *s);

/* sealer_submit(...): queue a copy of ${data}; may run ${done} for others. */
int sealer_submit(struct sealer *s, int type, const uint8_t id[BLOB_ID_LEN],
    const uint8_t *data, size_t len, sealer_done_fn *done, void *cookie,
    struct coffer_err *err) WUR;
/* sealer_drain(s, done, cookie, err): wait for all jobs, run ${done}. */
int sealer_drain(struct sealer *s, sealer_done_fn *done, void *cookie,
    struct coffer_err *err) WUR;

#endif /* !SEALER_H_ */
