/* SPDX-License-Identifier: ISC */
/*
 * tree: the encoding of one directory's entries (an OBJ_TREE blob).
 *
 * Names are arbitrary bytes (not NUL, not '/', not "." or ".."), sorted
 * bytewise with no duplicates; the decoder enforces all of this, so a
 * hostile tree cannot name a path outside its directory.
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
};

/* tree_add(t, &e): append a zeroed entry; NULL if out of memory. */
struct tree_entry *tree_add(struct tree *t);
/* tree_sort(t): sort entries by name (bytewise). */
void tree_sort(struct tree *t);
/* tree_encode(t, out): append the encoding; out->oom on failure. */
void tree_encode(const struct tree *t, struct wbuf *out);
/*
 * tree_decode(p, len, t, err): parse and validate; COFFER_EFORMAT on any
 * violation.  ${t} is the caller's to tree_release(), also on failure.
 */
int tree_decode(const uint8_t *p, size_t len, struct tree *t,
    struct coffer_err *err) WUR;
void tree_release(struct tree *t);
void tree_entry_release(struct tree_entry *e);

#endif /* !TREE_H_ */
