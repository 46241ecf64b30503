/* SPDX-License-Identifier: ISC */
/*
 * tree: the encoding of one directory's entries (an OBJ_TREE blob).
 *
 * Names are arbitrary bytes (not NUL, not '/', not "." or ".."), sorted
 * bytewise with no duplicates; the decoder enforces all of this, so a
 * hostile tree cannot name a path outside its directory.
 *
 * A folder whose encoding passes TREE_SPLIT_BYTES is stored as several
 * part trees, each an ordinary tree of a contiguous run of its names, and
 * a split tree listing the parts' ids in order (docs/FORMAT.md §11.4).
 * tree_store() writes either form, tree_load() reads either; readers of
 * folders go through tree_load(), never tree_decode() alone.
 */
#ifndef TREE_H_
#define TREE_H_

#include "repo.h"

enum node_type {
	NODE_FILE = 1, NODE_DIR = 2, NODE_SYMLINK = 3, NODE_FIFO = 4,
	NODE_CHR = 5, NODE_BLK = 6,
};

#define NODE_F_SPARSE	0x1	/* file had holes: restore sparse */
#define TREE_NAME_MAX	4096
#define TREE_TARGET_MAX	65536
#define TREE_XATTR_MAX	(1u << 20)
/*
 * The inode flags a tree may hold (docs/FORMAT.md §11.1): s u c S i a d A
 * m j t D T C of chattr(1), the FS_IOC_GETFLAGS bits a user or root sets;
 * state the file system keeps for itself (extents, inline data, ...) is
 * not stored.
 */
#define TREE_IFLAGS_MASK	0x0083c4ffu
#ifndef TREE_SPLIT_BYTES	/* -D smaller for the shrunk build (tests) */
#define TREE_SPLIT_BYTES	(16u << 20)	/* a folder's tree, unsplit */
#endif

struct xattr {
	char	*name;
	uint8_t	*value;
	size_t	 vlen;
};

struct tree_entry {
	uint8_t		*name;
	size_t		 namelen;
	int		 type;
	uint32_t	 mode;		/* permission bits, 07777 */
	uint32_t	 uid, gid;
	int64_t		 mtime_sec;
	uint32_t	 mtime_nsec;
	uint64_t	 size;
	uint64_t	 rdev;
	uint64_t	 link_id;	/* hard-link group in this snapshot, 0 none */
	uint32_t	 flags;
	uint32_t	 iflags;	/* inode flags (FS_IOC_GETFLAGS), masked */
	uint8_t		*target;	/* symlink target */
	size_t		 targetlen;
	uint8_t		 subtree[BLOB_ID_LEN];
	uint8_t		(*chunks)[BLOB_ID_LEN];
	size_t		 nchunks;
	struct xattr	*xattrs;
	size_t		 nxattrs;
	/*
	 * Backup's scratch, never encoded: chunk ids still being computed
	 * (nchunks of them from arena slot ${pending_first}), and what the
	 * file cache is to learn once they are known.
	 */
	bool		 pending;
	uint64_t	 pending_first;
	/* A directory whose tree waits too: its id goes to arena ${sub_slot}. */
	bool		 sub_pending;
	uint64_t	 sub_slot;
	bool		 cache_add;
	uint64_t	 c_dev, c_ino;
	int64_t		 c_mtime_ns, c_ctime_ns;
};

struct tree {
	struct tree_entry	*e;
	size_t			 n, cap;
	/*
	 * The version decoded (1 or 2); tree_encode writes it back, so a
	 * decoded tree re-encodes to its own bytes.  0 (a new tree): the
	 * current version.
	 */
	uint32_t		 version;
	/* A split tree's parts (tree_load), in order; else NULL and 0. */
	uint8_t			(*parts)[BLOB_ID_LEN];
	size_t			 nparts;
};

/* tree_add(t, &e): append a zeroed entry; NULL if out of memory. */
struct tree_entry *tree_add(struct tree *t);
/* tree_sort(t): sort entries by name (bytewise). */
void tree_sort(struct tree *t);
/*
 * tree_encode(t, out): append the encoding, in version ${t->version} (0:
 * the current one, 2); out->oom on failure.  Version 1 has no iflags.
 */
void tree_encode(const struct tree *t, struct wbuf *out);
/*
 * tree_decode(p, len, t, err): parse and validate; COFFER_EFORMAT on any
 * violation.  ${t} is the caller's to tree_release(), also on failure.
 */
int tree_decode(const uint8_t *p, size_t len, struct tree *t,
    struct coffer_err *err) WUR;
void tree_release(struct tree *t);

/*
 * tree_encoded_len(t): the length tree_encode() would write.
 * tree_encode_range(t, from, to, out): encode entries ${from} to ${to}
 * (excluded) as a tree of their own.
 * tree_part_end(t, from, max): where the part starting at entry ${from}
 * ends (one past its last entry): at most ${max} bytes encoded unless one
 * entry alone is larger, cut where the names say (content-defined).
 */
size_t tree_encoded_len(const struct tree *t);
void tree_encode_range(const struct tree *t, size_t from, size_t to,
    struct wbuf *out);
size_t tree_part_end(const struct tree *t, size_t from, size_t max);
/*
 * tree_split_encode(ids, n, out): the split tree naming ${n} parts.
 * tree_is_split(p, len): is the blob ${p} a split tree (to be decoded by
 * tree_split_decode(), not tree_decode())?
 * tree_split_decode(p, len, &ids, &n, err): its part ids (at least 2),
 * ${ids} the caller's to coffer_free(); COFFER_EFORMAT, COFFER_ENOMEM.
 */
void tree_split_encode(const uint8_t (*ids)[BLOB_ID_LEN], size_t n,
    struct wbuf *out);
bool tree_is_split(const uint8_t *p, size_t len);
int tree_split_decode(const uint8_t *p, size_t len,
    uint8_t (**ids)[BLOB_ID_LEN], size_t *n, struct coffer_err *err) WUR;
/*
 * tree_join(t, part, err): move the entries of the decoded part tree
 * ${part} to the end of ${t}; COFFER_EFORMAT unless ${part} is non-empty
 * and all its names come after ${t}'s.  ${part} is left empty either way
 * on success; the caller still releases it.
 */
int tree_join(struct tree *t, struct tree *part, struct coffer_err *err) WUR;

/*
 * tree_load(ks, id, buf, t, err): read the folder of tree blob ${id}
 * into ${t} (the caller's to tree_release(), also on failure): a plain
 * tree, or a split tree whose parts are read and joined (names checked
 * increasing across parts; ${t->parts} lists them).  ${buf} is scratch
 * (a wbuf of BLOB_MAX).  Errors as keyset_get_blob and tree_decode.
 */
int tree_load(struct keyset *ks, const uint8_t id[BLOB_ID_LEN],
    struct wbuf *buf, struct tree *t, struct coffer_err *err) WUR;
/*
 * tree_store(ks, t, buf, id, err): encode the sorted ${t} and put it in
 * ${ks}; past TREE_SPLIT_BYTES as parts and a split tree.  ${id} gets the
 * folder's id.  ${buf} is scratch (a wbuf of BLOB_MAX).  COFFER_ENOMEM
 * ("directory too large") if one entry alone passes BLOB_MAX, else as
 * keyset_put_blob.
 */
int tree_store(struct keyset *ks, const struct tree *t, struct wbuf *buf,
    uint8_t id[BLOB_ID_LEN], struct coffer_err *err) WUR;
/*
 * tree_xattr_ok(name, v, vlen, type): may a version 2 tree hold the
 * attribute ${name} with the ${vlen} bytes ${v} on an entry of ${type}?
 * user.*, trusted.*, security.*, and well-formed ACLs (§11.1).
 */
bool tree_xattr_ok(const char *name, const uint8_t *v, size_t vlen,
    int type);
void tree_entry_release(struct tree_entry *e);

#endif /* !TREE_H_ */
