/* SPDX-License-Identifier: ISC */
/*
 * repo: the repository on the card (docs/FORMAT.md is the byte-level
 * description; keep the two in step).
 *
 *   <repo>/config                          cleartext: version, id, naming
 *   <repo>/locks/<16 hex>.lock             who is using the repository
 *   <repo>/sets/<keyid>/keyinfo            key set header, authenticated
 *   <repo>/sets/<keyid>/packs/<xx>/<32 hex>   encrypted blobs + header
 *   <repo>/sets/<keyid>/index/<32 hex>     where each blob lives
 *   <repo>/sets/<keyid>/snapshots/<name>   one per backup
 *
 * Invariants a reader may rely on:
 *  1. A pack is renamed into place only after its bytes are fsynced.
 *  2. An index file names only packs that are already in place.
 *  3. A snapshot is renamed into place only after every index file that
 *     locates its blobs; so every snapshot visible on the card is whole.
 *  4. Every encrypted object carries, in its AEAD associated data, the
 *     format version, its type, the key id of its set and its own id.
 *
 * This module knows the layout and the crypto framing; it does not know
 * about files and directories on the device (lib/backup does).
 */
#ifndef REPO_H_
#define REPO_H_

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "coffer/err.h"
#include "../util/util.h"
#include "../crypto/crypto.h"

#define REPO_VERSION		1
/* config: 1 (local custody), 2 (adds a "custody" line), FORMAT.md §5 */
#define REPO_CONFIG_VERSION	3
#define REPO_ID_LEN		16
#define KEYID_LEN		8
#define KEYID_HEX_LEN		(2 * KEYID_LEN)
#define BLOB_ID_LEN		32
#define PACK_ID_LEN		16
#define PACK_TARGET_SIZE	(16u << 20)
#define BLOB_MAX		(64u << 20)	/* largest plaintext blob */
#define SNAPSHOT_NAME_MAX	64

/* Object types, bound into every AEAD's associated data. */
enum obj_type {
	OBJ_DATA	= 1,	/* a chunk of file content */
	OBJ_TREE	= 2,	/* one directory's entries */
	OBJ_PACKHDR	= 3,	/* the blob table at the end of a pack */
	OBJ_INDEX	= 4,	/* an index file */
	OBJ_SNAPSHOT	= 5,	/* a snapshot file */
	OBJ_KEYINFO	= 6,	/* a key set's keyinfo */
	OBJ_BUNDLE	= 7,	/* small data blobs sealed together */
};

enum name_by { NAME_BY_TIME = 0, NAME_BY_COUNT = 1 };
enum key_scope { SCOPE_DEVICE = 1, SCOPE_PERIOD = 2, SCOPE_BACKUP = 3 };
enum key_period { PERIOD_DAY = 0, PERIOD_WEEK = 1, PERIOD_MONTH = 2 };
enum key_custody { CUSTODY_LOCAL = 1, CUSTODY_ESCROW = 2,
    CUSTODY_LOCAL_ESCROW = 3, CUSTODY_ESCROW_WRAP = 4 };

struct repo {
	char		*path;		/* as given, for messages */
	int		 dirfd;
	uint8_t		 id[REPO_ID_LEN];
	char		 idhex[2 * REPO_ID_LEN + 1];
	int		 name_by;
	int		 scope;		/* default scope of backups */
	int		 period;	/* default period of the period scope */
	int		 custody;	/* default custody of new key sets */
	int		 version;	/* of the config (FORMAT.md §5) */
	char		*cachedir;	/* device-side index caches, or NULL */
};

/*
 * repo_create(path, name_by, scope, period, custody, err): make a new
 * repository at ${path} (the directory may exist but must be empty),
 * recording the default scope, period and custody.  COFFER_EEXIST if one
 * is there.
 */
int repo_create(const char *path, int name_by, int scope, int period,
    int custody, struct coffer_err *err) WUR;
/*
 * repo_create_like(path, like, err): make a new repository at ${path}
 * (as repo_create) whose config is that of ${like}: the same repository
 * id, format version, naming and defaults, so that the key sets of
 * ${like} open there too (a copy, FORMAT.md §5, "Copies").
 */
int repo_create_like(const char *path, const struct repo *like,
    struct coffer_err *err) WUR;

/* repo_open(path, &repo, err): open and check config. */
int repo_open(const char *path, struct repo **out, struct coffer_err *err) WUR;
void repo_free(struct repo *r);
/*
 * repo_set_cache_dir(r, dir): keep key sets' chunk indexes in files in
 * ${dir} on the device (FORMAT.md §18.8) rather than in memory.  0 or
 * COFFER_ENOMEM (then they stay in memory).
 */
int repo_set_cache_dir(struct repo *r, const char *dir) WUR;

/*
 * repo_list_sets(r, &ids, &n, err): the key ids (hex) of every key set on
 * the card, sorted.  Free with strlist_free().
 */
int repo_list_sets(struct repo *r, char ***ids, size_t *n,
    struct coffer_err *err) WUR;
void strlist_free(char **v, size_t n);
/*
 * repo_set_unborn(rp, keyid_hex): true if the set's folder is what a cut
 * off creation (or destroy) leaves: no keyinfo, nothing but empty packs/,
 * index/ and snapshots/ folders and a keyinfo.tmp (FORMAT.md §14).  False
 * for anything else, or if the folder cannot be read.
 */
bool repo_set_unborn(struct repo *rp, const char *keyid_hex);

/*
 * Locks.  "read" locks exclude nothing but exclusive locks; "append"
 * locks (backup) exclude other append and exclusive locks; "exclusive"
 * excludes all.  A lock of this host whose process is gone (written in
 * an earlier boot, no process with its pid, or one that started at
 * another time) or one of another host not refreshed for
 * LOCK_STALE_SECS is stale and is removed (docs/FORMAT.md §13).
 */
enum lock_kind { REPO_LOCK_READ = 1, REPO_LOCK_APPEND = 2, REPO_LOCK_EXCLUSIVE = 3 };
#define LOCK_STALE_SECS	1800
struct repo_lock;
int repo_lock(struct repo *r, int kind, struct repo_lock **out,
    struct coffer_err *err) WUR;
/* repo_lock_refresh(l): rewrite the lock's time if a few minutes passed. */
void repo_lock_refresh(struct repo_lock *l);
void repo_unlock(struct repo_lock *l);

/* Who holds a lock, as repo_lock_writers() tells it. */
struct repo_lock_holder {
	int	kind;		/* REPO_LOCK_APPEND or REPO_LOCK_EXCLUSIVE */
	long	pid;		/* 0 if its lock file cannot be read */
	bool	this_host;
};

/*
 * repo_lock_writers(r, first, &n, err): how many live append and
 * exclusive locks are in locks/ now (*n), and who holds the first of
 * them by file name (${first}; zeroed if none), by the rules repo_lock
 * uses (an unreadable lock file counts as a live exclusive lock until
 * its mtime is LOCK_STALE_SECS old).  A look only: nothing is written
 * or removed, and the caller need hold no lock; one of this process
 * counts too.  Returns 0, or an error if locks/ cannot be listed.
 */
int repo_lock_writers(struct repo *r, struct repo_lock_holder *first,
    size_t *n, struct coffer_err *err) WUR;

/* ---- key sets ---- */

struct blob_loc {
	uint32_t	pack;		/* index into keyset's pack table */
	uint64_t	offset;
	uint32_t	clen;		/* bytes on the card */
	uint32_t	rawlen;		/* plaintext length */
};

struct keyset;

/* keyset_keyid(dk, keyid): the key id of the set whose data key is ${dk}. */
void keyset_keyid(const uint8_t dk[KEY_LEN], uint8_t keyid[KEYID_LEN]);

/* What a new key set records in its keyinfo. */
struct keyset_params {
	int		 scope;		/* enum key_scope */
	int		 custody;	/* enum key_custody */
	const char	*label;		/* period label ("day:2026-11-25"), or NULL */
	/* Escrow custodies (FORMAT.md §6.3); NULL / 0 for local. */
	const char	*escrow_url;
	const char	*escrow_keyid;
	const uint8_t	*sealed;	/* escrow-wrap: the sealed data key */
	size_t		 sealed_len;
	/*
	 * A copy (coffer copy): the new set's keyinfo is this one, every
	 * field (custody, escrow block, slots, chunker parameters, creation
	 * time), sealed again under the same key; the fields above are
	 * then not used.
	 */
	const struct keyinfo *like;
};

/*
 * keyset_open(r, dk, create, prm, &ks, err):
 * Open the key set of data key ${dk}; verify its keyinfo.  Its index is
 * loaded at its first use (keyset_load_index).
 * With ${create}, make it (keyinfo from ${prm}, NULL: device/local) if
 * absent.  COFFER_ENOTFOUND if absent and not ${create}; COFFER_EAUTH if
 * keyinfo does not verify.  ${ks} keeps its own guarded subkeys.
 */
int keyset_open(struct repo *r, const uint8_t dk[KEY_LEN], bool create,
    const struct keyset_params *prm, struct keyset **out,
    struct coffer_err *err) WUR;

struct keyinfo;
struct kslot;
/* keyset_info(ks): the authenticated keyinfo; borrowed while ${ks} lives. */
const struct keyinfo *keyset_info(const struct keyset *ks);
/* keyset_set_slots(ks, slots, n, err): rewrite keyinfo with these slots. */
int keyset_set_slots(struct keyset *ks, const struct kslot *slots, int n,
    struct coffer_err *err) WUR;

/*
 * repo_destroy_set(r, keyid_hex, err): delete a key set from the card:
 * snapshots first, then index, packs, keyinfo and the folder.  Caller
 * holds an exclusive lock.
 */
int repo_destroy_set(struct repo *r, const char *keyid_hex,
    struct coffer_err *err) WUR;
void keyset_free(struct keyset *ks);

const char *keyset_idhex(const struct keyset *ks);
int keyset_scope(const struct keyset *ks);
/* Chunker key and parameters recorded in keyinfo. */
const uint8_t *keyset_chunker_key(const struct keyset *ks);
void keyset_chunker_params(const struct keyset *ks, size_t *min, size_t *avg,
    size_t *max);
/* keyset_blob_id(ks, type, data, len, id): keyed id of a blob. */
void keyset_blob_id(const struct keyset *ks, const uint8_t *data, size_t len,
    uint8_t id[BLOB_ID_LEN]);

/*
 * keyset_aux_key(ks, ctx, out): a key for device-side data of this set
 * (the file cache), derived from the set's keys in context ${ctx}.
 */
void keyset_aux_key(const struct keyset *ks, const char ctx[8],
    uint8_t out[KEY_LEN]);

/*
 * keyset_load_index(ks, whole, err): load the set's index now rather
 * than at its first use (keyset_open reads none): through the index
 * cache on the device if the repository has one (else into memory); with
 * ${whole} (prune) that cache is built again from the card's index files,
 * not reused.  0, or the error that every later use of the index would
 * meet.
 */
int keyset_load_index(struct keyset *ks, bool whole, struct coffer_err *err) WUR;

/* keyset_has_blob(ks, type, id): known in the index or pending. */
bool keyset_has_blob(struct keyset *ks, int type, const uint8_t id[BLOB_ID_LEN]);
/*
 * keyset_has_sorted(ks, type, ids, stride, n, have): keyset_has_blob for
 * each of the ${n} ids at ${ids} (one every ${stride} bytes, sorted by
 * id): have[i] = 1 found in the index cache (so in a pack an index file
 * names), 2 found otherwise (the table: pending, or a pack no index
 * names), 0 not known.  Many ids cost about one pass over the cache.
 * 0, or COFFER_ENOMEM / COFFER_EIO with ${err}.
 */
int keyset_has_sorted(struct keyset *ks, int type, const uint8_t *ids,
    size_t stride, size_t n, uint8_t *have, struct coffer_err *err) WUR;
/*
 * keyset_sorted_batch(ks): how many ids a caller of keyset_has_sorted or
 * keyset_mark_sorted should gather at most: a quarter of the set's index
 * entries, within 16,384 and 262,144 (so a small set's batch stays
 * small, and a large one reads its cache about once per 262,144 ids).
 */
size_t keyset_sorted_batch(struct keyset *ks);
/*
 * keyset_blob_unindexed(ks, type, id, label): true when the blob is known
 * only from the table of a pack that no index file names (an index file
 * was lost); ${label} then gets that pack's path, "sets/<key id>/packs/...".
 */
bool keyset_blob_unindexed(struct keyset *ks, int type,
    const uint8_t id[BLOB_ID_LEN], char label[128]);
/*
 * keyset_blob_info(ks, type, id, &clen, &rawlen): the bytes a blob takes
 * on the card (sealed, compressed) and its plaintext length, from the
 * index; false if the index does not know it (or it is still pending).
 */
bool keyset_blob_info(struct keyset *ks, int type,
    const uint8_t id[BLOB_ID_LEN], uint32_t *clen, uint32_t *rawlen);

/*
 * keyset_put_blob(ks, type, id, data, len, err):
 * Store a blob unless it is already there.  ${data} is copied; the blob
 * is compressed (kept only if it saves space) and encrypted on worker
 * threads and written to a pack (invariant 1) later, at the latest by
 * keyset_flush().
 */
int keyset_put_blob(struct keyset *ks, int type, const uint8_t id[BLOB_ID_LEN],
    const uint8_t *data, size_t len, struct coffer_err *err) WUR;
/*
 * keyset_put_data(ks, data, len, id_out, err): store a chunk of file
 * content unless it is already there; its id is computed on a worker
 * thread and written to ${id_out}, which must stay valid and is only
 * meaningful after the next keyset_sync() (or keyset_flush()).  Chunks
 * under 256 KiB travel in batches and are stored as bundles
 * (FORMAT.md §7.1).
 */
int keyset_put_data(struct keyset *ks, const uint8_t *data, size_t len,
    uint8_t *id_out, struct coffer_err *err) WUR;
/* keyset_sync(ks, err): wait until every blob put so far is in a pack
 * (or known as a duplicate) and every id_out is written. */
int keyset_sync(struct keyset *ks, struct coffer_err *err) WUR;

/* keyset_added(ks): bytes written to packs by this keyset so far. */
uint64_t keyset_added(const struct keyset *ks);

/*
 * keyset_flush(ks, err): close the open pack and write an index file for
 * every pack written since the last flush (invariants 1 and 2).
 */
int keyset_flush(struct keyset *ks, struct coffer_err *err) WUR;

/*
 * keyset_get_blob(ks, type, id, out, err): read, authenticate and
 * decompress a blob into ${out} (reset first).  Errors name the pack.
 */
int keyset_get_blob(struct keyset *ks, int type, const uint8_t id[BLOB_ID_LEN],
    struct wbuf *out, struct coffer_err *err) WUR;

/*
 * keyset_clear_tmp(ks): remove packs left as ".tmp" by an interrupted
 * backup.  Call only under an append or exclusive lock.
 */
void keyset_clear_tmp(struct keyset *ks);

/* ---- resuming an interrupted backup (resume.c) ---- */

/* A resuming backup writes an index file after every this many packs. */
#define RESUME_INDEX_EVERY	16

struct resume_stats {
	uint64_t	packs;		/* packs taken over */
	uint64_t	blobs;		/* blobs they brought that were not known */
	uint64_t	bytes;		/* their blobs' bytes on the card */
	uint64_t	refused;	/* packs no index names that did not verify */
};

/*
 * keyset_resume(ks, stop, st, err): before a backup writes into ${ks},
 * take over what interrupted backups left in it: every complete pack no
 * index file names whose table and every blob (or bundle) in it
 * authenticate and decode under this set's key has its blobs added to
 * the index, so they are not written again, and one index file names
 * them at once.  Packs that fail are left alone, counted in
 * ${st->refused}.  From then on ${ks} writes an index file every
 * RESUME_INDEX_EVERY packs, and keyset_put_blob/keyset_put_data fail
 * with COFFER_EINTR once *${stop} (may be NULL) is non-zero
 * (keyset_flush still closes and indexes what was written).  Caller
 * holds an append lock and has not written into ${ks} yet.  Returns 0;
 * COFFER_ENOMEM, COFFER_EINTR, or the error of an index file that
 * cannot be written.
 */
int keyset_resume(struct keyset *ks, const volatile sig_atomic_t *stop,
    struct resume_stats *st, struct coffer_err *err) WUR;

/* ---- snapshots ---- */

struct snapshot {
	char		 name[SNAPSHOT_NAME_MAX];
	char		 idhex[65];	/* BLAKE2b-256 of the file on the card */
	int64_t		 time_sec;
	uint32_t	 time_nsec;
	char		*hostname;
	char		*username;
	char		**paths;
	size_t		 npaths;
	uint8_t		 tree[BLOB_ID_LEN];
	uint64_t	 size;		/* bytes of regular file content */
	uint64_t	 nfiles;
	uint64_t	 ndirs;
	uint64_t	 added;		/* bytes this backup added to the card */
	char		 keyid[KEYID_HEX_LEN + 1];
	bool		 readable;	/* decrypted (key present, intact) */
	/*
	 * Revision: 0 as backed up, one more each time 'coffer tag'
	 * rewrites it (FORMAT.md §10.3).  The file of the highest
	 * revision counts; ${nstale} lower ones were found beside it (an
	 * interrupted rewrite) and are ignored.
	 */
	uint32_t	 rev;
	uint32_t	 nstale;
	char		**tags;		/* sorted, unique; body version 2 */
	size_t		 ntags;
};
void snapshot_release(struct snapshot *s);

#define SNAPSHOT_TAG_MAX	255	/* bytes in one tag */
#define SNAPSHOT_TAGS_MAX	256	/* tags on one snapshot */
#define SNAPSHOT_REV_MAX	99999999u
/*
 * snapshot_tag_ok(t): ${t} is 1 … SNAPSHOT_TAG_MAX bytes, not "." or
 * "..", without ',', '/' or control characters.
 */
bool snapshot_tag_ok(const char *t);

/* snapshot_fname(name, out): the FAT-safe file name of ${name}. */
void snapshot_fname(const char *name, char out[SNAPSHOT_NAME_MAX]);
/* snapshot_name_from_fname(fname, out): the inverse; -1 if not valid. */
int snapshot_name_from_fname(const char *fname, char out[SNAPSHOT_NAME_MAX]);
/*
 * snapshot_parse_fname(fname, out, &rev): as snapshot_name_from_fname,
 * also accepting a revision suffix ".N" (N decimal, 1 … SNAPSHOT_REV_MAX,
 * no leading zero) of a rewritten snapshot; ${rev} is 0 without one.
 */
int snapshot_parse_fname(const char *fname, char out[SNAPSHOT_NAME_MAX],
    uint32_t *rev);

/*
 * repo_list_snapshots(r, &v, &n, err): every snapshot of every set,
 * with only name, keyid, idhex, rev and nstale filled in, sorted by name.
 * Of several revision files of one name in one set, the highest is
 * listed; the others only count in its ${nstale}.
 */
int repo_list_snapshots(struct repo *r, struct snapshot **v, size_t *n,
    struct coffer_err *err) WUR;
void snapshot_list_free(struct snapshot *v, size_t n);

/*
 * snapshot_write(ks, s, err): encrypt and store ${s} (name must be new
 * on the whole card; COFFER_EEXIST otherwise).
 */
int snapshot_write(struct keyset *ks, struct snapshot *s,
    struct coffer_err *err) WUR;
/*
 * snapshot_rewrite(ks, s, err): store ${s} (loaded from ${ks}, fields
 * changed) as revision ${s->rev} + 1, then delete the files of the lower
 * revisions.  The new file is durable before any old one goes, so a
 * crash leaves the old snapshot or the new one (which wins, §10.3), never
 * none.  On success ${s->rev} and ${s->idhex} are the new ones.  Caller
 * holds an append lock.
 */
int snapshot_rewrite(struct keyset *ks, struct snapshot *s,
    struct coffer_err *err) WUR;
/*
 * snapshot_clear_stale(ks, s, err): delete the files of the revisions
 * of ${s->name} in ${ks} lower than ${s->rev} (what an interrupted
 * rewrite left, §10.3).  ${s} must have been loaded by snapshot_load
 * (authenticated: its name and revision are those of its file); call it
 * on nothing else, so a damaged higher revision never costs the lower
 * one.  Caller holds an exclusive lock.
 */
int snapshot_clear_stale(struct keyset *ks, const struct snapshot *s,
    struct coffer_err *err) WUR;
/*
 * repo_remove_snapshot(r, keyid, name, err): delete the snapshot's files
 * (forget), every revision, the highest last; its data stays until prune.
 */
int repo_remove_snapshot(struct repo *r, const char *keyid, const char *name,
    struct coffer_err *err) WUR;

/* snapshot_load(ks, s, err): decrypt the snapshot named ${s->name}. */
int snapshot_load(struct keyset *ks, struct snapshot *s,
    struct coffer_err *err) WUR;
/*
 * snapshot_copy(src, dst, s, err): load snapshot ${s->name} revision
 * ${s->rev} from key set ${src} (as snapshot_load, filling ${s}) and
 * write the very file that authenticated, byte for byte, into ${dst}:
 * the same key set in a repository with the same repository id (a copy,
 * coffer copy), where it opens as it is and keeps its snapshot id.
 * Never over an existing file (COFFER_EEXIST); lower revisions of the
 * name in ${dst} are deleted once it is durable (FORMAT.md §10.3).
 * COFFER_EINVAL if ${dst} is not such a set.  The caller flushed the
 * blobs and index it needs into ${dst} first (invariant 3).
 */
int snapshot_copy(struct keyset *src, struct keyset *dst, struct snapshot *s,
    struct coffer_err *err) WUR;

/* ---- prune ---- */

/* What prune may leave unused, in percent of the used bytes kept. */
#define PRUNE_UNUSED_UNLIMITED	(-1)

struct prune_opts {
	bool		dry_run;
	/*
	 * 0 … 99: repack (most wasteful first) until at most this share
	 * of the packs' bytes after prune is unused; 0 rewrites every
	 * pack with a dead byte; PRUNE_UNUSED_UNLIMITED: only delete
	 * packs with nothing in use.
	 */
	int		max_unused;
};

struct prune_stats {
	uint64_t	packs_deleted, packs_repacked, packs_written;
	uint64_t	blobs_removed, blobs_kept;
	uint64_t	bundles_cut;	/* bundles resealed without dead members */
	uint64_t	bytes_before, bytes_after, bytes_freed;
	uint64_t	bytes_repacked;	/* written again (dry run: estimated) */
	uint64_t	damaged;	/* objects kept, not copied: failed to read */
};

/*
 * keyset_scan_unindexed(ks): add to the index the blobs of pack files no
 * index file names (read from their own authenticated tables), once.
 */
void keyset_scan_unindexed(struct keyset *ks);

/*
 * keyset_mark_used(ks, type, id): mark a blob as used by a snapshot;
 * true if it was known and not yet marked (so a tree is walked once).
 */
bool keyset_mark_used(struct keyset *ks, int type,
    const uint8_t id[BLOB_ID_LEN]);
/*
 * keyset_mark_sorted(ks, type, ids, stride, n, &unknown, err): mark the
 * ${n} blobs at ${ids} (one every ${stride} bytes, sorted by id) as
 * used, looked up by reading the index cache in order (about one pass,
 * where keyset_mark_used makes a pread each once the cache is not
 * mapped).  *unknown: the first one the set does not know (as
 * keyset_has_blob), or ${n}.  0, or COFFER_ENOMEM / COFFER_EIO with
 * ${err}.
 */
int keyset_mark_sorted(struct keyset *ks, int type, const uint8_t *ids,
    size_t stride, size_t n, size_t *unknown, struct coffer_err *err) WUR;

/*
 * keyset_prune(ks, o, st, err): delete and repack packs by what
 * keyset_mark_used() marked (lib/repo/prune.c has the order that makes
 * it crash-safe).  Caller holds an exclusive lock and marked everything
 * every snapshot of the set uses.  ${st} is added to; with
 * ${o->dry_run} nothing changes and bytes_freed and bytes_repacked are
 * estimates.  An object that cannot be read or fails authentication is
 * never copied: its pack is kept, the rest of the prune goes on, and
 * the result is COFFER_EAUTH (st->damaged counts them; ${err} names
 * the first).
 */
int keyset_prune(struct keyset *ks, const struct prune_opts *o,
    struct prune_stats *st, struct coffer_err *err) WUR;

/* ---- check ---- */

/*
 * keyset_check(ks, read_data, report, cookie, nbad, bytes, tick,
 * tick_cookie, err): verify that every index entry points into an
 * existing pack of the right size; with ${read_data}, read every pack,
 * authenticate its header and every blob, and compare each blob's id
 * with its content.  Pack files no index names are read too when their
 * table authenticates (pack_scan), so a lost index file cannot hide data
 * from the check, and their blobs become known (keyset_blob_unindexed
 * tells them apart).  Each problem is passed to ${report} naming the
 * file and added to *nbad; *bytes gets what was read added.  The
 * counters are added to, not set: zero them first.  With ${read_data},
 * ${tick} (may be NULL) hears the bytes read so far of the total after
 * each pack, from the reading threads (one at a time).
 */
typedef void repo_report_fn(void *cookie, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
typedef void check_progress_fn(void *cookie, uint64_t done, uint64_t total);
int keyset_check(struct keyset *ks, bool read_data, repo_report_fn *report,
    void *cookie, uint64_t *nbad, uint64_t *bytes, check_progress_fn *tick,
    void *tick_cookie, struct coffer_err *err) WUR;

/*
 * keyset_count_unindexed(ks): the files in the set's packs/ that no
 * index file loaded by keyset_open() names: complete packs and ".tmp"
 * ones.  Left by an interrupted backup or prune, or written by one still
 * running (or that finished after keyset_open): the caller tells these
 * apart by the locks (repo_lock_writers).  A folder that cannot be read
 * counts nothing.
 */
uint64_t keyset_count_unindexed(struct keyset *ks);
/*
 * repo_check_layout(rp, keyid_hex, report, cookie): report (and count)
 * every entry of the set's folders that is of a kind the format never
 * puts there: a symbolic link, a FIFO, a device node, a folder for a
 * file or a file for a folder.  Needs no key.
 */
uint64_t repo_check_layout(struct repo *rp, const char *keyid_hex,
    repo_report_fn *report, void *cookie);

#endif /* !REPO_H_ */
