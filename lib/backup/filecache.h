/* SPDX-License-Identifier: ISC */
/*
 * filecache: what the backups into a key set learnt about each file, so
 * that a file whose device, inode, size, mtime and ctime are all
 * unchanged is neither opened nor read again: its chunk list, extended
 * attributes and inode flags are reused (an unchanged ctime proves that
 * attributes and flags did not change either).
 *
 * The cache remembers every path set backed up into the key set, not
 * only the last backup's: a file not met by this backup keeps its entry
 * until it has not been met in the last FCACHE_KEEP_BACKUPS backups and
 * for FCACHE_KEEP_DAYS days (both), so backing up /a, then /b, then /a
 * again reads nothing twice, while files that are gone fall out.
 *
 * It lives on the device, in the keystore folder (cache/<keyid>.cache),
 * never on the card.  It holds no file names and no content, only ids,
 * attributes and stat fields.  It is authenticated with a key derived
 * from the key set's keys, so a damaged, forged or old-format cache is
 * ignored rather than trusted; a reused chunk must also still be in the
 * key set's index (the caller checks, fcache_chunks).
 */
#ifndef FILECACHE_H_
#define FILECACHE_H_

#include <stdint.h>

#include "../repo/repo.h"
#include "../repo/tree.h"

#define FCACHE_KEEP_BACKUPS	16
#define FCACHE_KEEP_DAYS	30

struct fcache;
struct fcache_ent;

/* fcache_open(path, key, &fc): load ${path} if valid, else start empty. */
int fcache_open(const char *path, const uint8_t key[KEY_LEN],
    struct fcache **out) WUR;
void fcache_free(struct fcache *fc);

/*
 * fcache_lookup(fc, dev, ino, size, mtime_ns, ctime_ns): the entry of an
 * unchanged file (borrowed until fcache_free), or NULL.  The file counts
 * as met by this backup either way (see fcache_save).
 */
const struct fcache_ent *fcache_lookup(struct fcache *fc, uint64_t dev,
    uint64_t ino, uint64_t size, int64_t mtime_ns, int64_t ctime_ns);

/* fcache_chunks(fe, &n): the ${n} chunk ids of ${fe}, borrowed. */
const uint8_t *fcache_chunks(const struct fcache_ent *fe, size_t *n);

/*
 * fcache_fill(fe, e): give ${e} the size, chunk ids, extended attributes
 * and inode flags of ${fe} (new allocations, freed with ${e}).
 * COFFER_ENOMEM.
 */
int fcache_fill(const struct fcache_ent *fe, struct tree_entry *e) WUR;

/*
 * fcache_keep(fc, fe): record the unchanged file of ${fe} (from
 * fcache_lookup) for the next backups, as met by this one.
 */
void fcache_keep(struct fcache *fc, const struct fcache_ent *fe);

/* fcache_known(fc, dev, ino): did an earlier backup see this file? */
bool fcache_known(struct fcache *fc, uint64_t dev, uint64_t ino);

/*
 * fcache_add(fc, dev, ino, mtime_ns, ctime_ns, e): record the file of
 * ${e} (its size, chunks, attributes and inode flags) for the next
 * backups.
 */
void fcache_add(struct fcache *fc, uint64_t dev, uint64_t ino,
    int64_t mtime_ns, int64_t ctime_ns, const struct tree_entry *e);

/*
 * fcache_save(fc, err): write the new cache atomically: the files added
 * by this backup, and the older entries it did not meet unless they are
 * due for eviction (header comment).
 */
int fcache_save(struct fcache *fc, struct coffer_err *err) WUR;

#endif /* !FILECACHE_H_ */
