/* SPDX-License-Identifier: ISC */
/*
 * tree: encode and decode directory blobs (docs/FORMAT.md, "tree").
 * Layout: version u32 (2) | count u32 | entries, each:
 *   name bytes32 | type u8 | mode u32 | uid u32 | gid u32 |
 *   mtime_sec i64 | mtime_nsec u32 | size u64 | rdev u64 | link_id u64 |
 *   flags u32 | iflags u32 | target bytes32 | subtree[32] | nchunks u32 |
 *   ids[32]... | nxattrs u32 | (name bytes32 | value bytes32)...
 * Version 1 (still read) has no iflags and any xattr name.
 * A split tree (version 3, a folder too large for one blob):
 *   version u32 (3) | count u32 (>= 2) | count x part tree id[32]
 * each part a version 1 or 2 tree of a contiguous run of the names.
 */
#include <stdlib.h>
#include <string.h>

#include "tree.h"

#define TREE_VERSION	2
#define TREE_VERSION_SPLIT	3
#define ACL_XATTR_VERSION	2	/* docs/FORMAT.md §11.1 */

struct tree_entry *
tree_add(struct tree *t)
{
	struct tree_entry *ne;

	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;

		if ((ne = coffer_realloc(t->e, ncap * sizeof(*ne))) == NULL)
			return NULL;
		t->e = ne;
		t->cap = ncap;
	}
	memset(&t->e[t->n], 0, sizeof(t->e[0]));
	return &t->e[t->n++];
}

static int
name_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int
entry_cmp(const void *x, const void *y)
{
	const struct tree_entry *a = x, *b = y;

	return name_cmp(a->name, a->namelen, b->name, b->namelen);
}

void
tree_sort(struct tree *t)
{
	if (t->n > 1)
		qsort(t->e, t->n, sizeof(t->e[0]), entry_cmp);
}

/* entry_len(e, version): the bytes entry_encode() writes for ${e}. */
static size_t
entry_len(const struct tree_entry *e, uint32_t version)
{
	size_t n = 4 + e->namelen + 1 + 4 * 3 + 8 + 4 + 8 * 3 + 4 +
	    (version >= 2 ? 4 : 0) + 4 + e->targetlen + BLOB_ID_LEN + 4 +
	    e->nchunks * BLOB_ID_LEN + 4;

	for (size_t x = 0; x < e->nxattrs; x++)
		n += 8 + strlen(e->xattrs[x].name) + e->xattrs[x].vlen;
	return n;
}

static void
entry_encode(const struct tree_entry *e, uint32_t version, struct wbuf *b)
{
	wbuf_bytes32(b, e->name, e->namelen);
	wbuf_u8(b, (uint8_t)e->type);
	wbuf_u32(b, e->mode);
	wbuf_u32(b, e->uid);
	wbuf_u32(b, e->gid);
	wbuf_u64(b, (uint64_t)e->mtime_sec);
	wbuf_u32(b, e->mtime_nsec);
	wbuf_u64(b, e->size);
	wbuf_u64(b, e->rdev);
	wbuf_u64(b, e->link_id);
	wbuf_u32(b, e->flags);
	if (version >= 2)
		wbuf_u32(b, e->iflags);
	wbuf_bytes32(b, e->target, e->targetlen);
	wbuf_put(b, e->subtree, BLOB_ID_LEN);
	wbuf_u32(b, (uint32_t)e->nchunks);
	if (e->nchunks > 0)
		wbuf_put(b, e->chunks, e->nchunks * BLOB_ID_LEN);
	wbuf_u32(b, (uint32_t)e->nxattrs);
	for (size_t x = 0; x < e->nxattrs; x++) {
		wbuf_bytes32(b, e->xattrs[x].name,
		    strlen(e->xattrs[x].name));
		wbuf_bytes32(b, e->xattrs[x].value, e->xattrs[x].vlen);
	}
}

void
tree_encode_range(const struct tree *t, size_t from, size_t to,
    struct wbuf *b)
{
	uint32_t version = t->version != 0 ? t->version : TREE_VERSION;

	wbuf_u32(b, version);
	wbuf_u32(b, (uint32_t)(to - from));
	for (size_t i = from; i < to; i++)
		entry_encode(&t->e[i], version, b);
}

void
tree_encode(const struct tree *t, struct wbuf *b)
{
	tree_encode_range(t, 0, t->n, b);
}

size_t
tree_encoded_len(const struct tree *t)
{
	uint32_t version = t->version != 0 ? t->version : TREE_VERSION;
	size_t n = 8;

	for (size_t i = 0; i < t->n; i++)
		n += entry_len(&t->e[i], version);
	return n;
}

/*
 * Where a part may end: past a quarter of the split size, after an entry
 * whose name hashes to 0 mod 64, so that a name added or removed moves
 * the parts around it only (the later parts keep their bytes and ids);
 * at the latest before the split size.  FNV-1a of the name.
 */
static bool
name_cut(const struct tree_entry *e)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < e->namelen; i++)
		h = (h ^ e->name[i]) * 16777619u;
	return (h >> 26) == 0;
}

size_t
tree_part_end(const struct tree *t, size_t from, size_t max)
{
	uint32_t version = t->version != 0 ? t->version : TREE_VERSION;
	size_t len = 8, i = from;

	while (i < t->n) {
		size_t el = entry_len(&t->e[i], version);

		if (i > from && len + el > max)
			break;
		len += el;
		i++;
		if (len >= max / 4 && name_cut(&t->e[i - 1]))
			break;
	}
	return i;
}

void
tree_split_encode(const uint8_t (*ids)[BLOB_ID_LEN], size_t n,
    struct wbuf *b)
{
	wbuf_u32(b, TREE_VERSION_SPLIT);
	wbuf_u32(b, (uint32_t)n);
	wbuf_put(b, ids, n * BLOB_ID_LEN);
}

bool
tree_is_split(const uint8_t *p, size_t len)
{
	return len >= 4 && le32dec(p) == TREE_VERSION_SPLIT;
}

int
tree_split_decode(const uint8_t *p, size_t len,
    uint8_t (**ids)[BLOB_ID_LEN], size_t *n, struct coffer_err *err)
{
	struct rbuf rb;
	uint32_t cnt;

	*ids = NULL;
	*n = 0;
	rbuf_init(&rb, p, len);
	if (rbuf_u32(&rb) != TREE_VERSION_SPLIT)
		goto bad;
	cnt = rbuf_u32(&rb);
	if (!rbuf_ok(&rb) || cnt < 2 || rbuf_left(&rb) !=
	    (size_t)cnt * BLOB_ID_LEN)
		goto bad;
	if ((*ids = coffer_malloc((size_t)cnt * BLOB_ID_LEN)) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "decoding tree");
	rbuf_copy(&rb, *ids, (size_t)cnt * BLOB_ID_LEN);
	*n = cnt;
	return 0;
bad:
	return coffer_err_set(err, COFFER_EFORMAT, "split tree blob is "
	    "damaged (bad layout)");
}

int
tree_join(struct tree *t, struct tree *part, struct coffer_err *err)
{
	struct tree_entry *ne;

	if (part->n == 0 || (t->n > 0 && name_cmp(t->e[t->n - 1].name,
	    t->e[t->n - 1].namelen, part->e[0].name, part->e[0].namelen) >= 0))
		return coffer_err_set(err, COFFER_EFORMAT, "split tree is "
		    "damaged (a part is empty, out of order or overlaps the "
		    "one before)");
	if (t->n + part->n > t->cap) {
		size_t ncap = t->cap ? t->cap : 16;

		while (ncap < t->n + part->n)
			ncap *= 2;
		if ((ne = coffer_realloc(t->e, ncap * sizeof(*ne))) == NULL)
			return coffer_err_set(err, COFFER_ENOMEM, "joining "
			    "tree parts");
		t->e = ne;
		t->cap = ncap;
	}
	memcpy(t->e + t->n, part->e, part->n * sizeof(*part->e));
	t->n += part->n;
	if (t->version == 0)
		t->version = part->version;
	/* The entries moved: free only the part's array. */
	coffer_free(part->e);
	part->e = NULL;
	part->n = part->cap = 0;
	return 0;
}

static bool
name_ok(const uint8_t *n, size_t len)
{
	if (len == 0 || len > TREE_NAME_MAX)
		return false;
	if ((len == 1 && n[0] == '.') || (len == 2 && n[0] == '.' &&
	    n[1] == '.'))
		return false;
	return memchr(n, '/', len) == NULL && memchr(n, '\0', len) == NULL;
}

static uint8_t *
dup_bytes(const uint8_t *p, size_t len, bool nul)
{
	uint8_t *d;

	if ((d = coffer_malloc(len + (nul ? 1 : 0))) == NULL)
		return NULL;
	if (len > 0)
		memcpy(d, p, len);
	if (nul)
		d[len] = 0;
	return d;
}

/*
 * A POSIX ACL as Linux's system.posix_acl_* value: u32 version 2, then
 * entries of u16 tag, u16 perm, u32 id (all little-endian).
 */
static bool
acl_ok(const uint8_t *p, size_t len)
{
	if (len < 4 || (len - 4) % 8 != 0 || le32dec(p) != ACL_XATTR_VERSION)
		return false;
	for (size_t i = 4; i < len; i += 8) {
		uint16_t tag = le16dec(p + i), perm = le16dec(p + i + 2);

		/* USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER; rwx */
		if ((tag != 0x01 && tag != 0x02 && tag != 0x04 &&
		    tag != 0x08 && tag != 0x10 && tag != 0x20) || perm > 7)
			return false;
	}
	return true;
}

bool
tree_xattr_ok(const char *name, const uint8_t *v, size_t vlen, int type)
{
	if (strncmp(name, "user.", 5) == 0 || strncmp(name, "trusted.", 8) == 0 ||
	    strncmp(name, "security.", 9) == 0)
		return true;
	if (strcmp(name, "system.posix_acl_access") == 0)
		return acl_ok(v, vlen);
	if (strcmp(name, "system.posix_acl_default") == 0)
		return type == NODE_DIR && acl_ok(v, vlen);
	return false;
}

static int
entry_decode(struct rbuf *rb, struct tree_entry *e, uint32_t version)
{
	const uint8_t *p;
	size_t len;

	if ((p = rbuf_bytes32(rb, &len, TREE_NAME_MAX)) == NULL ||
	    !name_ok(p, len))
		return -1;
	if ((e->name = dup_bytes(p, len, true)) == NULL)
		return -2;
	e->namelen = len;
	e->type = rbuf_u8(rb);
	e->mode = rbuf_u32(rb);
	e->uid = rbuf_u32(rb);
	e->gid = rbuf_u32(rb);
	e->mtime_sec = (int64_t)rbuf_u64(rb);
	e->mtime_nsec = rbuf_u32(rb);
	e->size = rbuf_u64(rb);
	e->rdev = rbuf_u64(rb);
	e->link_id = rbuf_u64(rb);
	e->flags = rbuf_u32(rb);
	if (version >= 2)
		e->iflags = rbuf_u32(rb);
	if (e->type < NODE_FILE || e->type > NODE_BLK || e->mode > 07777 ||
	    e->mtime_nsec >= 1000000000u)
		return -1;
	/* Inode flags: only the stored set, only on files and folders. */
	if ((e->iflags & ~TREE_IFLAGS_MASK) != 0 || (e->iflags != 0 &&
	    e->type != NODE_FILE && e->type != NODE_DIR))
		return -1;
	if ((p = rbuf_bytes32(rb, &len, TREE_TARGET_MAX)) == NULL)
		return -1;
	if ((e->type == NODE_SYMLINK) != (len > 0) ||
	    memchr(p, '\0', len) != NULL)
		return -1;
	if (len > 0 && (e->target = dup_bytes(p, len, true)) == NULL)
		return -2;
	e->targetlen = len;
	rbuf_copy(rb, e->subtree, BLOB_ID_LEN);
	e->nchunks = rbuf_u32(rb);
	if (!rbuf_ok(rb) || e->nchunks > rbuf_left(rb) / BLOB_ID_LEN ||
	    (e->nchunks > 0 && e->type != NODE_FILE)) {
		e->nchunks = 0;
		return -1;
	}
	if (e->nchunks > 0) {
		if ((e->chunks = coffer_malloc(e->nchunks * BLOB_ID_LEN)) == NULL) {
			e->nchunks = 0;
			return -2;
		}
		rbuf_copy(rb, e->chunks, e->nchunks * BLOB_ID_LEN);
	}
	e->nxattrs = rbuf_u32(rb);
	if (!rbuf_ok(rb) || e->nxattrs > rbuf_left(rb) / 8) {
		e->nxattrs = 0;
		return -1;
	}
	if (e->nxattrs > 0 &&
	    (e->xattrs = coffer_calloc(e->nxattrs, sizeof(*e->xattrs))) == NULL) {
		e->nxattrs = 0;
		return -2;
	}
	for (size_t x = 0; x < e->nxattrs; x++) {
		if ((p = rbuf_bytes32(rb, &len, 255)) == NULL || len == 0 ||
		    memchr(p, '\0', len) != NULL)
			return -1;
		if ((e->xattrs[x].name = (char *)dup_bytes(p, len, true)) == NULL)
			return -2;
		if ((p = rbuf_bytes32(rb, &len, TREE_XATTR_MAX)) == NULL)
			return -1;
		if ((e->xattrs[x].value = dup_bytes(p, len, false)) == NULL)
			return -2;
		e->xattrs[x].vlen = len;
		if (version >= 2 && !tree_xattr_ok(e->xattrs[x].name,
		    e->xattrs[x].value, len, e->type))
			return -1;
	}
	return rbuf_ok(rb) ? 0 : -1;
}

int
tree_decode(const uint8_t *p, size_t len, struct tree *t,
    struct coffer_err *err)
{
	struct rbuf rb;
	uint32_t n;

	memset(t, 0, sizeof(*t));
	rbuf_init(&rb, p, len);
	t->version = rbuf_u32(&rb);
	if (t->version != 1 && t->version != TREE_VERSION)
		goto bad;
	n = rbuf_u32(&rb);
	if (!rbuf_ok(&rb) || n > rbuf_left(&rb) / 64)
		goto bad;
	for (uint32_t i = 0; i < n; i++) {
		struct tree_entry *e;
		int r;

		if ((e = tree_add(t)) == NULL)
			goto oom;
		if ((r = entry_decode(&rb, e, t->version)) == -2)
			goto oom;
		if (r != 0)
			goto bad;
		/* Strictly increasing names: sorted, no duplicates. */
		if (i > 0 && name_cmp(t->e[i - 1].name, t->e[i - 1].namelen,
		    e->name, e->namelen) >= 0)
			goto bad;
	}
	if (rbuf_left(&rb) != 0)
		goto bad;
	return 0;
bad:
	return coffer_err_set(err, COFFER_EFORMAT, "tree blob is damaged "
	    "(bad layout)");
oom:
	return coffer_err_set(err, COFFER_ENOMEM, "decoding tree");
}

void
tree_entry_release(struct tree_entry *e)
{
	coffer_free(e->name);
	coffer_free(e->target);
	coffer_free(e->chunks);
	for (size_t x = 0; x < e->nxattrs; x++) {
		coffer_free(e->xattrs[x].name);
		coffer_free(e->xattrs[x].value);
	}
	coffer_free(e->xattrs);
	memset(e, 0, sizeof(*e));
}

void
tree_release(struct tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		tree_entry_release(&t->e[i]);
	coffer_free(t->e);
	coffer_free(t->parts);
	memset(t, 0, sizeof(*t));
}
