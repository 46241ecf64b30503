/* SPDX-License-Identifier: ISC */
/*
 * filecache: what the last backup into a key set learnt about each file,
 * so that a file whose device, inode, size, mtime and ctime are all
 * unchanged is not read again and its chunk list is reused.
 *
 * It lives on the device, in the keystore folder (cache/<keyid>.cache),
 * never on the card.  It holds no names.  It is authenticated with a key
 * derived from the key set's keys, so a damaged or forged cache is
 * ignored rather than trusted; a reused chunk must also still be in the
 * key set's index.
 */
#ifndef FILECACHE_H_
#define FILECACHE_H_

#include <stdint.h>

#include "../repo/repo.h"

struct fcache;

/* fcache_open(path, key, &fc): load ${path} if valid, else start empty. */
int fcache_open(const char *path, const uint8_t key[KEY_LEN],
    struct fcache **out) WUR;
void fcache_free(struct fcache *fc);

/*
 * fcache_lookup(fc, dev, ino, size, mtime_ns, ctime_ns, &n): the chunk
 * ids (borrowed until fcache_free) of an unchanged file, or NULL.
 */
const uint8_t *fcache_lookup(struct fcache *fc, uint64_t dev, uint64_t ino,
    uint64_t size, int64_t mtime_ns, int64_t ctime_ns, size_t *n);

/* fcache_known(fc, dev, ino): did the last backup see this file? */
bool fcache_known(struct fcache *fc, uint64_t dev, uint64_t ino);

/* fcache_add(fc, ...): record a file for the next backup. */
void fcache_add(struct fcache *fc, uint64_t dev, uint64_t ino, uint64_t size,
    int64_t mtime_ns, int64_t ctime_ns, const uint8_t *chunks, size_t n);

/* fcache_save(fc, err): write the new cache atomically. */
int fcache_save(struct fcache *fc, struct coffer_err *err) WUR;

#endif /* !FILECACHE_H_ */
