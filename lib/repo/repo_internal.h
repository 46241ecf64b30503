/* SPDX-License-Identifier: ISC */
/* repo_internal: shared by the files of lib/repo only. */
#ifndef REPO_INTERNAL_H_
#define REPO_INTERNAL_H_

#include "repo.h"
#include "keyinfo.h"
#include "sealer.h"

#include <pthread.h>
#include <signal.h>

#define LOC_PENDING	UINT32_MAX	/* blob queued, not yet in a pack */
/* Associated data: version 1 (42 bytes), version 2 adds the repository id. */
#define AD_LEN_V1	(1 + 1 + KEYID_LEN + BLOB_ID_LEN)
#define AD_LEN		(AD_LEN_V1 + REPO_ID_LEN)

/*
 * Bundles (FORMAT.md §7.1): codec u8 | count u32 | count x entry |
 * payload; an entry is type u8 | id | rawlen u32.  In index files and
 * pack tables a member's type has ENTRY_BUNDLED set and its offset and
 * clen are those of its bundle.
 */
#define BUNDLE_HDR		5
#define BUNDLE_ENTRY		(1 + BLOB_ID_LEN + 4)
#define BUNDLE_MEMBERS_MAX	4096
#define ENTRY_BUNDLED		0x80
/* Bundles a reader keeps open (restore meets a duplicate now and then). */
#ifndef BUNDLE_CACHE
#define BUNDLE_CACHE		8
#endif

/*
 * What every object of a key set binds (FORMAT.md §2.3): its key id and,
 * for a set whose keyinfo is CFKEYI03, the repository id.
 */
struct adbind {
	uint8_t	keyid[KEYID_LEN];
	uint8_t	repoid[REPO_ID_LEN];
	bool	repo;		/* AD version 2: with the repository id */
};

/*
 * ad_build(ad, b, type, id, idlen): the associated data of an object of
 * ${type} with object id ${id} (${idlen} bytes, zero-padded) in the set
 * ${b}; returns its length (AD_LEN_V1 or AD_LEN).
 */
size_t ad_build(uint8_t ad[AD_LEN], const struct adbind *b, int type,
    const uint8_t *id, size_t idlen);

/*
 * dir_list(dirfd, sub, label, want, &names, &n, err): sorted names in
 * ${sub} (relative to ${dirfd}) for which want() is true; a missing
 * directory lists as empty.
 */
int dir_list(int dirfd, const char *sub, const char *label,
    bool (*want)(const char *), char ***out, size_t *nout,
    struct coffer_err *err) WUR;

struct compressor;
/* The parts of a key set the files of lib/repo share. */
struct pack_ref {
	uint8_t	id[PACK_ID_LEN];
	bool	unindexed;	/* no index file names it (found by pack_scan) */
};

struct idx_entry {
	uint8_t		id[BLOB_ID_LEN];
	uint8_t		type;		/* 0 = empty slot */
	uint8_t		used;		/* marked by prune's walk */
	uint8_t		bundled;	/* loc is its bundle's (§7.1) */
	struct blob_loc	loc;
};

struct pack_writer {
	int		 fd;
	uint8_t		 id[PACK_ID_LEN];
	char		 name[64];
	uint64_t	 off;
	struct wbuf	 hdr;		/* plaintext header entries */
	uint32_t	 nblobs;
	uint8_t		*obuf;		/* write buffer: fewer write(2) calls */
	size_t		 olen;
	bool		 direct;	/* fd is O_DIRECT (whole blocks only) */
	uint64_t	 written;	/* bytes handed to write(2) so far */
};
#define PACK_OBUF	(4u << 20)
#define PACK_BLOCK	4096		/* O_DIRECT alignment of obuf and writes */

struct idxcache;

struct keyset {
	struct repo	*repo;
	uint8_t		 keyid[KEYID_LEN];
	char		 idhex[KEYID_HEX_LEN + 1];
	struct adbind	 ab;		/* what its objects' AD binds */
	int		 dirfd;		/* sets/<keyid> */
	int		 scope;
	int		 custody;
	struct keyinfo	 ki;
	uint32_t	 chunk_min, chunk_avg, chunk_max;
	/* Guarded: enc (AEAD), idk (blob ids), chk (chunker). */
	uint8_t		*keys;
	/* Pack table: packs[i] for blob_loc.pack == i. */
	struct pack_ref	*packs;
	uint32_t	 npacks, packcap;
	/*
	 * Open-addressing hash table of blob locations: the whole index
	 * (IDX_FULL), or, with the index cache on disk (IDX_CACHED), only
	 * what this process added (pending, written, found in packs).
	 * Loaded on first use (idx_ready), so commands that need no blob
	 * read no index file.
	 */
	struct idx_entry *tab;
	size_t		 tabcap, tabn;
	struct idxcache	*ic;		/* IDX_CACHED: the rest */
	int		 ixstate;	/* enum idx_state */
	int		 ixerr_code;	/* IDX_FAILED: why */
	char		 ixerr_msg[512];
	/* Writing. */
	struct compressor *comp;
	struct pack_writer pw;
	bool		 writing;
	uint32_t	 first_new_pack;	/* packs >= this not yet indexed */
	struct sealer	*sealer;
	pthread_mutex_t	 idx_mu;	/* the table, while sealer threads run */
	bool		 idx_oom;	/* a claim failed for memory */
	uint64_t	 added;		/* bytes written to packs */
	/* Resuming (resume.c): index files as it goes, and when to stop. */
	uint32_t	 index_every;	/* packs per interim index; 0: none */
	const volatile sig_atomic_t *stop;	/* non-zero: puts refuse */
	/* Reading: one cached open pack, the last bundle opened. */
	int		 rfd;
	uint32_t	 rpack;
	struct bundle	*bcache;	/* BUNDLE_CACHE of them, or NULL */
	uint64_t	 bstamp;
	uint8_t		*rdbuf;		/* sealed bytes read (read_buffer) */
	size_t		 rdcap;
	/* Bundles' plaintext sums, for shares (keyset_blob_info). */
	struct bundle_sum *bsums;
	size_t		 nbsums;
	bool		 bsums_ok;
	/* Index files that failed to load (check reports each one). */
	uint32_t	 nbad_index;
	bool		 scanned;	/* unindexed packs were read (pack_scan) */
	struct coffer_err *index_errs;	/* nbad_index of them, or fewer */
	uint32_t	 nindex_errs;
	/* Prune's marks of the index cache's entries, 2 bits each (prune.c). */
	uint8_t		*icmark;
	bool		 mark_oom;	/* a mark could not be kept */
	bool		 pruning;	/* the cache must stay as marked */
};

#define KS_ENC(ks)	((ks)->keys)
#define KS_IDK(ks)	((ks)->keys + KEY_LEN)
#define KS_CHK(ks)	((ks)->keys + 2 * KEY_LEN)

/* pack_path(ks, packid, out): "packs/xx/<hex>", for openat(ks->dirfd). */
void pack_path(const uint8_t id[PACK_ID_LEN], char out[64]);

enum idx_state { IDX_NONE = 0, IDX_CACHED, IDX_FULL, IDX_FAILED };
/*
 * idx_ready(ks, err): load the index if it is not yet: through the index
 * cache when the repository has a cache folder (repo_set_cache_dir),
 * else into memory.  idx_full(ks, err): the whole index in memory (prune,
 * bundle shares walk every entry).  idx_fresh(ks, err): as idx_ready,
 * but a cache is rebuilt from the card's index files, not reused (check;
 * when the set's index is loaded already, as it is).  0, or the load's
 * error (kept: later calls return it too).
 */
int idx_ready(struct keyset *ks, struct coffer_err *err) WUR;
int idx_fresh(struct keyset *ks, struct coffer_err *err) WUR;
int idx_full(struct keyset *ks, struct coffer_err *err) WUR;

/* idx_insert(ks, type, id, loc, bundled): add or keep the existing entry. */
int idx_insert(struct keyset *ks, int type, const uint8_t id[BLOB_ID_LEN],
    const struct blob_loc *loc, bool bundled) WUR;
/*
 * idx_override(ks, e): the table's entry for ${e}'s id, added as a copy of
 * ${e} (its used mark too) if the table has none, even though the index
 * cache holds the id: then the table's copy is the one idx_find returns
 * and may be changed (prune's copies).  NULL if out of memory.
 * idx_find_tab(ks, type, id): the table's entry or NULL, the cache aside.
 */
struct idx_entry *idx_override(struct keyset *ks, const struct idx_entry *e);
struct idx_entry *idx_find_tab(struct keyset *ks, int type,
    const uint8_t id[BLOB_ID_LEN]);
/*
 * idx_find(ks, type, id): the entry or NULL.  An entry of the index
 * cache is a copy, valid in this thread until its next idx_find; only
 * entries of the table (pending ones among them) may be changed.
 */
struct idx_entry *idx_find(struct keyset *ks, int type,
    const uint8_t id[BLOB_ID_LEN]);
/*
 * entry_read(rb, pidx, v2, &type, id, &loc, &bundled): one 49-byte blob
 * entry of an index file or pack table (§8); false if it is not valid
 * (bundled members only in version 2 files).
 */
bool entry_read(struct rbuf *rb, uint32_t pidx, bool v2, int *type,
    uint8_t id[BLOB_ID_LEN], struct blob_loc *loc, bool *bundled);
/*
 * pack_read_table(ks, pid, &fd, &tab, &n, &v2, &end): open pack ${pid},
 * read its blob table and authenticate it (AD: PACKHDR, this set, the
 * pack id, so a pack of another set or renamed is refused).  On 0, *fd
 * is the open pack, *tab the plaintext table (4-byte count first; free
 * with coffer_free), *n its entries, *v2 whether the pack may hold
 * bundles and *end where the sealed table starts (every blob lies before
 * it).  -1 for anything else, nothing left open.
 */
int pack_read_table(struct keyset *ks, const uint8_t pid[PACK_ID_LEN],
    int *fd, uint8_t **tab, uint32_t *n, bool *v2, uint64_t *end) WUR;
/* pack_add(ks, id, &index): append a pack to the pack table. */
int pack_add(struct keyset *ks, const uint8_t id[PACK_ID_LEN], uint32_t *idx) WUR;

/* Object framing: magic(8) | AEAD(...). */
#define MAGIC_LEN	8
int obj_seal(struct keyset *ks, const char magic[MAGIC_LEN], int type,
    const uint8_t *id, size_t idlen, const uint8_t *plain, size_t len,
    uint8_t **out, size_t *outlen, struct coffer_err *err) WUR;
int obj_open(struct keyset *ks, const char magic[MAGIC_LEN], int type,
    const uint8_t *id, size_t idlen, const uint8_t *in, size_t inlen,
    uint8_t **out, size_t *outlen, const char *label,
    struct coffer_err *err) WUR;

/* keyset_read_raw(ks, pack, off, len, buf, err): bytes of a pack. */
int keyset_read_raw(struct keyset *ks, uint32_t pack, uint64_t off,
    uint32_t len, uint8_t *buf, struct coffer_err *err) WUR;
/*
 * keyset_open_blob(ks, type, id, sealed, clen, rawlen, out, scratch,
 * comp, where, err): authenticate, decode and decompress one sealed
 * blob; ${scratch} holds ${clen} bytes.  ${comp}: the caller's
 * decompressor (one per thread), or NULL to use the key set's own.
 */
int keyset_open_blob(struct keyset *ks, int type,
    const uint8_t id[BLOB_ID_LEN], const uint8_t *sealed, size_t clen,
    uint32_t rawlen, struct wbuf *out, uint8_t *scratch,
    struct compressor *comp, const char *where,
    struct coffer_err *err) WUR;

/*
 * index_load_file(ks, name, sink, cookie, err): read, authenticate and
 * parse index file ${name}, adding its packs to ks->packs and passing
 * each entry to ${sink} (a non-zero return stops it).  Nothing is added
 * or passed unless all of the file is well-formed (else COFFER_EFORMAT).
 */
typedef int index_sink_fn(struct keyset *ks, void *cookie, int type,
    const uint8_t id[BLOB_ID_LEN], const struct blob_loc *loc, bool bundled);
int index_load_file(struct keyset *ks, const char *name, index_sink_fn *sink,
    void *cookie, struct coffer_err *err) WUR;
/* index_list(ks, &names, &n, err): the index files on the card, sorted. */
int index_list(struct keyset *ks, char ***names, size_t *n,
    struct coffer_err *err) WUR;
/* index_note_bad(ks, e): an index file that failed to load (check says). */
void index_note_bad(struct keyset *ks, const struct coffer_err *e);

/* ---- the index cache on the device (idxcache.c, FORMAT.md §18.8) ---- */
int idxcache_load(struct keyset *ks, const char *dir, bool fresh,
    struct idxcache **out, struct coffer_err *err) WUR;
/*
 * idxcache_get(ic, type, id, e, &num): the entry in ${e}, and in ${num}
 * (if not NULL) its number: its place in idxcache_each's order.
 */
bool idxcache_get(const struct idxcache *ic, int type,
    const uint8_t id[BLOB_ID_LEN], struct idx_entry *e, uint64_t *num);
typedef int idxcache_each_fn(void *cookie, const struct idx_entry *e);
int idxcache_each(const struct idxcache *ic, idxcache_each_fn *fn,
    void *cookie) WUR;
/*
 * idxcache_each_in(ic, lo, hi, fn, cookie): as idxcache_each, but
 * fn(cookie, e, num) only for the entries in packs ${lo} <= pack <
 * ${hi}, with each one's number; the others are not decoded (prune's
 * batches pass over the cache once each).
 */
typedef int idxcache_num_fn(void *cookie, const struct idx_entry *e,
    uint64_t num);
int idxcache_each_in(const struct idxcache *ic, uint32_t lo, uint32_t hi,
    idxcache_num_fn *fn, void *cookie);
/*
 * idxcache_find_sorted(ic, type, ids, stride, n, found, nums): found[i]
 * = 1 if the cache holds (${type}, id i) of the ${n} ids at ${ids} (every
 * ${stride} bytes), sorted ascending, with its entry number in nums[i]
 * (if ${nums} is not NULL); else 0.  The cache is read in
 * order through a window of 256 KiB: about one pass for many ids, where
 * idxcache_get makes a pread each.  0, COFFER_ENOMEM or COFFER_EIO.
 */
int idxcache_find_sorted(const struct idxcache *ic, int type,
    const uint8_t *ids, size_t stride, size_t n, uint8_t *found,
    uint64_t *nums) WUR;
uint64_t idxcache_count(const struct idxcache *ic);
/* idxcache_feed_fn(ks, sink, cookie): pass entries to ${sink}. */
typedef int idxcache_feed_fn(struct keyset *ks, index_sink_fn *sink,
    void *cookie);
int idxcache_absorb(struct keyset *ks, const char *dir, char **names,
    size_t nnames, idxcache_feed_fn *each) WUR;
void idxcache_free(struct idxcache *ic);

/* index_write(ks, keep, cookie, name, err): see keyset.c. */
typedef bool index_keep_fn(const struct keyset *ks, const struct idx_entry *e,
    void *cookie);
int index_write(struct keyset *ks, index_keep_fn *keep, void *cookie,
    char ***names, size_t *nnames, struct coffer_err *err) WUR;
/*
 * index_write_each(ks, each, cookie, batch, names, nnames, err): as
 * index_write, for the entries each(cookie, lo, hi, fn, fncookie)
 * passes to fn (called once more per batch of packs: it must pass the
 * same entries every time; at least those in packs lo <= pack < hi,
 * others may be left out), holding about ${batch} of them in memory at
 * a time, in files of at most 4 MiB of plaintext (about 85,000
 * entries).
 */
typedef int index_each_fn(void *cookie, uint32_t lo, uint32_t hi,
    idxcache_each_fn *fn, void *fncookie);
int index_write_each(struct keyset *ks, index_each_fn *each, void *cookie,
    size_t batch, char ***names, size_t *nnames, struct coffer_err *err) WUR;

/*
 * write_object(ks, sealed, slen, bundle, m, n, err): append a sealed blob
 * (${n} 1) or bundle to the open pack (opening one if needed) and point
 * the index entry of each member at it (a sealer_done_fn).
 */
int write_object(void *ks, const uint8_t *sealed, size_t slen, bool bundle,
    const struct sealed_member *m, size_t n, struct coffer_err *err) WUR;

/* An opened bundle: its authenticated table and its members' bytes. */
struct bundle {
	uint32_t	 pack;		/* where it was read (a cache key) */
	uint64_t	 offset;
	bool		 valid;
	uint64_t	 stamp;		/* last use, for the cache */
	uint8_t		*plain;		/* codec | count | entries | payload */
	size_t		 plen, plaincap;
	uint32_t	 n;
	const uint8_t	*ents;		/* in plain */
	struct wbuf	 data;		/* the members' bytes, in order */
};
struct bundle_sum {
	uint64_t	 offset;
	uint32_t	 pack;
	uint32_t	 clen;
	uint64_t	 rawsum;
};
/*
 * bundle_open(ks, sealed, clen, b, comp, where, err): authenticate and
 * decode a sealed bundle into ${b} (its old contents released first).
 * ${comp} as for keyset_open_blob.
 */
int bundle_open(struct keyset *ks, const uint8_t *sealed, size_t clen,
    struct bundle *b, struct compressor *comp, const char *where,
    struct coffer_err *err) WUR;
/*
 * bundle_member(b, type, id, rawlen, &p, where, err): the bytes of a
 * member of an opened bundle; COFFER_EFORMAT if the bundle's table does
 * not list (${type}, ${id}) with ${rawlen} bytes.
 */
int bundle_member(const struct bundle *b, int type,
    const uint8_t id[BLOB_ID_LEN], uint32_t rawlen, const uint8_t **p,
    const char *where, struct coffer_err *err) WUR;
void bundle_release(struct bundle *b);
/*
 * repo_lock_values(rp, pid, start, boot, host, host_old, bootv, &startv):
 * what a lock of process ${pid}, started at ${start} (clock ticks) in the
 * boot ${boot} (32 hex, as lock files hold it raw; NULL: this boot) on
 * this host, carries (docs/FORMAT.md §13): ${host} the keyed host hash,
 * ${host_old} that of older coffers, ${bootv} the keyed boot hash, and
 * *startv the keyed start value.  -1 when there is no lock key (no
 * machine id).  For tests (50-lock, fuzz_lock): lock.c computes the same.
 */
int repo_lock_values(const struct repo *rp, long pid, unsigned long long start,
    const char *boot, char host[33], char host_old[33], char bootv[33],
    unsigned long long *startv);

/*
 * packids: a sorted set of pack ids (packids.c).  packids_build(ks,
 * want, cookie, s): the ids of the packs p of ${ks} for which
 * want(ks, p, cookie) is true (every pack if ${want} is NULL); -1 if out
 * of memory.  A pack named by several index files is in the table more
 * than once: it is in the set if any of its slots is wanted.
 */
struct packids {
	uint8_t	*id;		/* n ids of PACK_ID_LEN bytes, sorted */
	size_t	 n;
};
typedef bool packids_want_fn(const struct keyset *ks, uint32_t p,
    void *cookie);
int packids_build(const struct keyset *ks, packids_want_fn *want,
    void *cookie, struct packids *s) WUR;
bool packids_has(const struct packids *s, const uint8_t id[PACK_ID_LEN]);
void packids_release(struct packids *s);

/*
 * keyset_reseal(ks, type, id, data, len, err): seal ${data} again as the
 * blob (${type}, ${id}) the index already knows, through the sealer (so
 * small data blobs are bundled with the others resealed beside them),
 * and point its entry at the new copy when that is written.  Prune uses
 * it to cut dead members out of bundles; keyset_flush() finishes.
 */
int keyset_reseal(struct keyset *ks, int type, const uint8_t id[BLOB_ID_LEN],
    const uint8_t *data, size_t len, struct coffer_err *err) WUR;

/* empty_dir_at(dfd, name): ${name} in ${dfd} is a real folder (never a
 * symbolic link) with nothing in it (unborn.c). */
bool empty_dir_at(int dfd, const char *name);

#endif /* !REPO_INTERNAL_H_ */
