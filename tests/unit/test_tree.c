/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/repo/tree.c: the directory blob codec.  The encoder
 * does not validate, so hostile trees are made by encoding bad entries
 * (or by patching encoded bytes) and the decoder must refuse each one.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "crypto/crypto.h"
#include "repo/tree.h"
#include "util/util.h"
#include "unit.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * The byte vectors below *are* the tree format (versions 1 and 2): if an
 * edit changes them, the edit changed the on-card format and needs a
 * format version bump (TREE_VERSION, REPO_VERSION) and a note in the
 * format documentation.  Old cards hold trees in exactly these bytes:
 * version 1 must still decode.
 */
#define Z4		0x00, 0x00, 0x00, 0x00
#define Z8		Z4, Z4
#define Z32		Z8, Z8, Z8, Z8
#define R8(x)		x, x, x, x, x, x, x, x
#define R32(x)		R8(x), R8(x), R8(x), R8(x)

static const uint8_t vec_tree[] = {
	0x01, 0x00, 0x00, 0x00,			/* version 1 */
	0x03, 0x00, 0x00, 0x00,			/* 3 entries */
	/* "a": a regular file */
	0x01, 0x00, 0x00, 0x00, 'a',		/* name */
	0x01,					/* type: file */
	0xa4, 0x01, 0x00, 0x00,			/* mode 0644 */
	0xe8, 0x03, 0x00, 0x00,			/* uid 1000 */
	0x64, 0x00, 0x00, 0x00,			/* gid 100 */
	0x00, 0xf1, 0x53, 0x65, 0x00, 0x00, 0x00, 0x00,	/* mtime 1700000000 */
	0x05, 0x00, 0x00, 0x00,			/* mtime_nsec 5 */
	0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* size 3 */
	Z8,					/* rdev */
	0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* link_id 2 */
	0x01, 0x00, 0x00, 0x00,			/* flags: sparse */
	Z4,					/* no target */
	Z32,					/* no subtree */
	0x01, 0x00, 0x00, 0x00,			/* 1 chunk */
	R32(0x11),				/* chunk id */
	0x01, 0x00, 0x00, 0x00,			/* 1 xattr */
	0x06, 0x00, 0x00, 0x00, 'u', 's', 'e', 'r', '.', 'k',
	0x02, 0x00, 0x00, 0x00, 0x00, 'v',	/* value "\0v" */
	/* "d": a directory */
	0x01, 0x00, 0x00, 0x00, 'd',
	0x02,					/* type: dir */
	0xed, 0x01, 0x00, 0x00,			/* mode 0755 */
	Z4, Z4,					/* uid 0, gid 0 */
	R8(0xff),				/* mtime -1 */
	0xff, 0xc9, 0x9a, 0x3b,			/* mtime_nsec 999999999 */
	Z8, Z8, Z8,				/* size, rdev, link_id */
	Z4,					/* flags */
	Z4,					/* no target */
	R32(0x22),				/* subtree id */
	Z4,					/* no chunks */
	Z4,					/* no xattrs */
	/* "l": a symbolic link to "t" */
	0x01, 0x00, 0x00, 0x00, 'l',
	0x03,					/* type: symlink */
	0xff, 0x01, 0x00, 0x00,			/* mode 0777 */
	0xe8, 0x03, 0x00, 0x00,			/* uid 1000 */
	0x64, 0x00, 0x00, 0x00,			/* gid 100 */
	Z8, Z4,					/* mtime 0.0 */
	0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* size 1 */
	Z8, Z8,					/* rdev, link_id */
	Z4,					/* flags */
	0x01, 0x00, 0x00, 0x00, 't',		/* target */
	Z32,					/* no subtree */
	Z4,					/* no chunks */
	Z4,					/* no xattrs */
};

/* The same tree in version 2, with inode flags on "a" and "d". */
static const uint8_t vec_tree_v2[] = {
	0x02, 0x00, 0x00, 0x00,			/* version 2 */
	0x03, 0x00, 0x00, 0x00,			/* 3 entries */
	/* "a": a regular file */
	0x01, 0x00, 0x00, 0x00, 'a',		/* name */
	0x01,					/* type: file */
	0xa4, 0x01, 0x00, 0x00,			/* mode 0644 */
	0xe8, 0x03, 0x00, 0x00,			/* uid 1000 */
	0x64, 0x00, 0x00, 0x00,			/* gid 100 */
	0x00, 0xf1, 0x53, 0x65, 0x00, 0x00, 0x00, 0x00,	/* mtime 1700000000 */
	0x05, 0x00, 0x00, 0x00,			/* mtime_nsec 5 */
	0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* size 3 */
	Z8,					/* rdev */
	0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* link_id 2 */
	0x01, 0x00, 0x00, 0x00,			/* flags: sparse */
	0x50, 0x00, 0x00, 0x00,			/* iflags: i, d */
	Z4,					/* no target */
	Z32,					/* no subtree */
	0x01, 0x00, 0x00, 0x00,			/* 1 chunk */
	R32(0x11),				/* chunk id */
	0x01, 0x00, 0x00, 0x00,			/* 1 xattr */
	0x06, 0x00, 0x00, 0x00, 'u', 's', 'e', 'r', '.', 'k',
	0x02, 0x00, 0x00, 0x00, 0x00, 'v',	/* value "\0v" */
	/* "d": a directory */
	0x01, 0x00, 0x00, 0x00, 'd',
	0x02,					/* type: dir */
	0xed, 0x01, 0x00, 0x00,			/* mode 0755 */
	Z4, Z4,					/* uid 0, gid 0 */
	R8(0xff),				/* mtime -1 */
	0xff, 0xc9, 0x9a, 0x3b,			/* mtime_nsec 999999999 */
	Z8, Z8, Z8,				/* size, rdev, link_id */
	Z4,					/* flags */
	0x10, 0x00, 0x00, 0x00,			/* iflags: i */
	Z4,					/* no target */
	R32(0x22),				/* subtree id */
	Z4,					/* no chunks */
	Z4,					/* no xattrs */
	/* "l": a symbolic link to "t" */
	0x01, 0x00, 0x00, 0x00, 'l',
	0x03,					/* type: symlink */
	0xff, 0x01, 0x00, 0x00,			/* mode 0777 */
	0xe8, 0x03, 0x00, 0x00,			/* uid 1000 */
	0x64, 0x00, 0x00, 0x00,			/* gid 100 */
	Z8, Z4,					/* mtime 0.0 */
	0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* size 1 */
	Z8, Z8,					/* rdev, link_id */
	Z4,					/* flags */
	Z4,					/* iflags */
	0x01, 0x00, 0x00, 0x00, 't',		/* target */
	Z32,					/* no subtree */
	Z4,					/* no chunks */
	Z4,					/* no xattrs */
};

/* ---- building trees ---- */

/* set_bytes(&p, &len, s, n): ${p} gets a malloc'ed copy of ${n} bytes. */
static void
set_bytes(uint8_t **p, size_t *len, const void *s, size_t n)
{
	coffer_free(*p);
	*p = coffer_malloc(n + 1);
	if (*p != NULL) {
		memcpy(*p, s, n);
		(*p)[n] = 0;
	}
	*len = n;
}

/* add(t, name, namelen, type): append an entry with plain defaults. */
static struct tree_entry *
add(struct tree *t, const void *name, size_t namelen, int type)
{
	struct tree_entry *e;

	if ((e = tree_add(t)) == NULL) {
		unit_fail(__FILE__, __LINE__, "tree_add: out of memory");
		return NULL;
	}
	set_bytes(&e->name, &e->namelen, name, namelen);
	e->type = type;
	e->mode = type == NODE_DIR ? 0755 : 0644;
	e->uid = 1000;
	e->gid = 1000;
	e->mtime_sec = 1700000000;
	return e;
}

static void
add_xattr(struct tree_entry *e, const char *name, const void *v, size_t vlen)
{
	struct xattr *nx;
	size_t n;

	nx = coffer_realloc(e->xattrs, (e->nxattrs + 1) * sizeof(*nx));
	if (nx == NULL)
		return;
	e->xattrs = nx;
	nx = &e->xattrs[e->nxattrs++];
	n = strlen(name);
	if ((nx->name = coffer_malloc(n + 1)) != NULL)
		memcpy(nx->name, name, n + 1);
	nx->value = NULL;
	set_bytes(&nx->value, &nx->vlen, v, vlen);
}

static void
set_chunks(struct tree_entry *e, size_t n, uint8_t seed)
{
	coffer_free(e->chunks);
	e->chunks = coffer_malloc(n * BLOB_ID_LEN + 1);
	e->nchunks = e->chunks != NULL ? n : 0;
	for (size_t i = 0; i < e->nchunks; i++)
		for (size_t j = 0; j < BLOB_ID_LEN; j++)
			e->chunks[i][j] = (uint8_t)(seed + 3 * i + j);
}

/* An ACL value (u::rw-, u:1000:r--, g::r--, m::r--, o::---). */
static const uint8_t acl[] = {
	0x02, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x06, 0x00, 0xff, 0xff, 0xff, 0xff,
	0x02, 0x00, 0x04, 0x00, 0xe8, 0x03, 0x00, 0x00,
	0x04, 0x00, 0x04, 0x00, 0xff, 0xff, 0xff, 0xff,
	0x10, 0x00, 0x04, 0x00, 0xff, 0xff, 0xff, 0xff,
	0x20, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
};
/* A security.capability value (revision 2, cap_net_raw+ep). */
static const uint8_t cap[] = {
	0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,
};

/*
 * rich_tree(t, big): entries of every type with every field set, names
 * with non-UTF-8 bytes and newlines; with ${big}, also the longest name
 * and target the format allows.  Sorted.
 */
static void
rich_tree(struct tree *t, bool big)
{
	static const uint8_t bin[] = { 0x00, 0x01, 0x02, 0xff, 0x00, '\n' };
	static const uint8_t nonutf8[] = { 0xff, 0xfe, 'x', 0xc3 };
	static const uint8_t target[] = "../t\xff\n\x01 x";
	struct tree_entry *e;

	memset(t, 0, sizeof(*t));
	if ((e = add(t, nonutf8, sizeof(nonutf8), NODE_FILE)) != NULL) {
		e->mode = 04755;
		e->uid = UINT32_MAX;
		e->gid = 0;
		e->mtime_sec = INT64_MAX;
		e->mtime_nsec = 999999999;
		e->size = UINT64_MAX;
		e->link_id = 7;
		e->flags = NODE_F_SPARSE;
		set_chunks(e, 3, 0x40);
		e->iflags = TREE_IFLAGS_MASK;
		add_xattr(e, "security.capability", cap, sizeof(cap));
		add_xattr(e, "security.selinux", "system_u:object_r", 17);
		add_xattr(e, "system.posix_acl_access", acl, sizeof(acl));
		add_xattr(e, "trusted.t", "", 0);
		add_xattr(e, "user.bin", bin, sizeof(bin));
		add_xattr(e, "user.empty", "", 0);
	}
	if ((e = add(t, "a\nb", 3, NODE_FILE)) != NULL) {
		e->mtime_sec = -1;
		e->mtime_nsec = 1;
		e->link_id = 7;
	}
	if ((e = add(t, "dir", 3, NODE_DIR)) != NULL) {
		memset(e->subtree, 0x5a, BLOB_ID_LEN);
		e->mtime_sec = INT64_MIN;
		e->iflags = 0x10;	/* immutable */
		add_xattr(e, "system.posix_acl_default", acl, sizeof(acl));
		add_xattr(e, "user.d", "x", 1);
	}
	if ((e = add(t, "link", 4, NODE_SYMLINK)) != NULL) {
		e->mode = 0777;
		set_bytes(&e->target, &e->targetlen, target,
		    sizeof(target) - 1);
		e->size = e->targetlen;
	}
	if ((e = add(t, "fifo", 4, NODE_FIFO)) != NULL)
		e->mode = 0600;
	if ((e = add(t, "chr", 3, NODE_CHR)) != NULL)
		e->rdev = 0x0501;
	if ((e = add(t, "blk", 3, NODE_BLK)) != NULL)
		e->rdev = UINT64_MAX;
	if ((e = add(t, " ", 1, NODE_FILE)) != NULL)
		set_chunks(e, 1, 0x99);
	if ((e = add(t, "...", 3, NODE_FILE)) != NULL)
		e->mode = 0;
	if ((e = add(t, ".a", 2, NODE_FILE)) != NULL)
		e->mode = 07777;
	if (big) {
		uint8_t name[TREE_NAME_MAX];
		uint8_t *tg;

		memset(name, 'n', sizeof(name));
		(void)add(t, name, sizeof(name), NODE_DIR);
		if ((tg = coffer_malloc(TREE_TARGET_MAX)) != NULL) {
			memset(tg, 't', TREE_TARGET_MAX);
			if ((e = add(t, "m", 1, NODE_SYMLINK)) != NULL)
				set_bytes(&e->target, &e->targetlen, tg,
				    TREE_TARGET_MAX);
			coffer_free(tg);
		}
	}
	tree_sort(t);
}

/* encode(t, out): the encoding of ${t} into ${out} (caller releases). */
static void
encode(const struct tree *t, struct wbuf *out)
{
	wbuf_init(out, BLOB_MAX);
	tree_encode(t, out);
	T_TRUE(!out->oom);
}

/* entry_eq(a, b): every field equal; reports the first that differs. */
static bool
entry_eq(const struct tree_entry *a, const struct tree_entry *b)
{
	const char *what = NULL;

	if (a->namelen != b->namelen || memcmp(a->name, b->name,
	    a->namelen) != 0)
		what = "name";
	else if (a->type != b->type)
		what = "type";
	else if (a->mode != b->mode || a->uid != b->uid || a->gid != b->gid)
		what = "mode/uid/gid";
	else if (a->mtime_sec != b->mtime_sec || a->mtime_nsec != b->mtime_nsec)
		what = "mtime";
	else if (a->size != b->size || a->rdev != b->rdev)
		what = "size/rdev";
	else if (a->link_id != b->link_id || a->flags != b->flags)
		what = "link_id/flags";
	else if (a->iflags != b->iflags)
		what = "iflags";
	else if (a->targetlen != b->targetlen || (a->targetlen > 0 &&
	    memcmp(a->target, b->target, a->targetlen) != 0))
		what = "target";
	else if (memcmp(a->subtree, b->subtree, BLOB_ID_LEN) != 0)
		what = "subtree";
	else if (a->nchunks != b->nchunks || (a->nchunks > 0 &&
	    memcmp(a->chunks, b->chunks, a->nchunks * BLOB_ID_LEN) != 0))
		what = "chunks";
	else if (a->nxattrs != b->nxattrs)
		what = "nxattrs";
	for (size_t x = 0; what == NULL && x < a->nxattrs; x++) {
		const struct xattr *p = &a->xattrs[x], *q = &b->xattrs[x];

		if (strcmp(p->name, q->name) != 0 || p->vlen != q->vlen ||
		    (p->vlen > 0 && memcmp(p->value, q->value, p->vlen) != 0))
			what = "xattr";
	}
	if (what != NULL)
		unit_fail(__FILE__, __LINE__, "entry '%.*s': %s differs",
		    (int)(a->namelen < 40 ? a->namelen : 40), (const char *)a->name,
		    what);
	return what == NULL;
}

static bool
tree_eq(const struct tree *a, const struct tree *b)
{
	if (a->n != b->n) {
		unit_fail(__FILE__, __LINE__, "%zu entries, want %zu", b->n, a->n);
		return false;
	}
	for (size_t i = 0; i < a->n; i++)
		if (!entry_eq(&a->e[i], &b->e[i]))
			return false;
	return true;
}

/* decode_code(p, len): tree_decode's result; the tree is released. */
static int
decode_code(const uint8_t *p, size_t len)
{
	struct coffer_err err = { 0 };
	struct tree t;
	int r;

	r = tree_decode(p, len, &t, &err);
	if (r != 0 && (err.code != r || err.msg[0] == '\0'))
		unit_fail(__FILE__, __LINE__, "error %d without message", r);
	tree_release(&t);
	return r;
}

static void expect_reject(const struct tree *, const char *);

/* ---- tests ---- */

static void
roundtrip_every_field(void)
{
	struct tree t, d;
	struct wbuf b, b2;
	struct coffer_err err = { 0 };

	rich_tree(&t, true);
	T_EQ_INT(t.n, 12);
	/* Sorted bytewise: " " first, the 0xff name last. */
	T_TRUE(t.e[0].namelen == 1 && t.e[0].name[0] == ' ');
	T_TRUE(t.e[t.n - 1].name[0] == 0xff);
	encode(&t, &b);
	T_EQ_INT(tree_decode(b.p, b.len, &d, &err), 0);
	T_TRUE(tree_eq(&t, &d));
	/* Decoded names and targets are NUL-terminated for convenience. */
	for (size_t i = 0; i < d.n; i++) {
		T_EQ_INT(d.e[i].name[d.e[i].namelen], 0);
		if (d.e[i].target != NULL)
			T_EQ_INT(d.e[i].target[d.e[i].targetlen], 0);
	}
	/* And what was decoded encodes to the same bytes. */
	encode(&d, &b2);
	T_EQ_INT(b2.len, b.len);
	if (b2.len == b.len)
		T_EQ_MEM(b2.p, b.p, b.len);
	wbuf_release(&b);
	wbuf_release(&b2);
	tree_release(&t);
	tree_release(&d);

	/* The empty directory. */
	memset(&t, 0, sizeof(t));
	encode(&t, &b);
	T_EQ_INT(b.len, 8);
	T_EQ_INT(tree_decode(b.p, b.len, &d, &err), 0);
	T_EQ_INT(d.n, 0);
	tree_release(&d);
	wbuf_release(&b);
}

static void
known_bytes_vector(void)
{
	struct tree t, d;
	struct tree_entry *e;
	struct wbuf b;
	struct coffer_err err = { 0 };

	memset(&t, 0, sizeof(t));
	if ((e = add(&t, "a", 1, NODE_FILE)) != NULL) {
		e->mode = 0644;
		e->gid = 100;
		e->mtime_nsec = 5;
		e->size = 3;
		e->link_id = 2;
		e->flags = NODE_F_SPARSE;
		set_chunks(e, 1, 0);
		if (e->chunks != NULL)
			memset(e->chunks[0], 0x11, BLOB_ID_LEN);
		add_xattr(e, "user.k", "\0v", 2);
	}
	if ((e = add(&t, "d", 1, NODE_DIR)) != NULL) {
		e->uid = e->gid = 0;
		e->mtime_sec = -1;
		e->mtime_nsec = 999999999;
		memset(e->subtree, 0x22, BLOB_ID_LEN);
	}
	if ((e = add(&t, "l", 1, NODE_SYMLINK)) != NULL) {
		e->mode = 0777;
		e->gid = 100;
		e->mtime_sec = 0;
		e->size = 1;
		set_bytes(&e->target, &e->targetlen, "t", 1);
	}

	/* Version 1, as older coffers wrote it, still decodes (iflags 0). */
	T_EQ_INT(tree_decode(vec_tree, sizeof(vec_tree), &d, &err), 0);
	T_EQ_INT(d.version, 1);
	T_TRUE(tree_eq(&t, &d));
	/* and re-encodes to its own bytes. */
	encode(&d, &b);
	T_EQ_INT(b.len, sizeof(vec_tree));
	if (b.len == sizeof(vec_tree))
		T_EQ_MEM(b.p, vec_tree, sizeof(vec_tree));
	wbuf_release(&b);
	tree_release(&d);

	/* A new tree is written as version 2, iflags after flags. */
	t.e[0].iflags = 0x50;
	t.e[1].iflags = 0x10;
	encode(&t, &b);
	T_EQ_INT(b.len, sizeof(vec_tree_v2));
	if (b.len == sizeof(vec_tree_v2))
		T_EQ_MEM(b.p, vec_tree_v2, sizeof(vec_tree_v2));
	T_EQ_INT(tree_decode(vec_tree_v2, sizeof(vec_tree_v2), &d, &err), 0);
	T_EQ_INT(d.version, 2);
	T_TRUE(tree_eq(&t, &d));
	T_EQ_INT(d.e[0].iflags, 0x50);
	wbuf_release(&b);
	tree_release(&t);
	tree_release(&d);
}

/*
 * Version 1 holds no iflags and took any attribute name: an old tree
 * with a name version 2 refuses still decodes.
 */
static void
version1_stays_lenient(void)
{
	struct tree t, d;
	struct tree_entry *e;
	struct wbuf b;
	struct coffer_err err = { 0 };

	memset(&t, 0, sizeof(t));
	if ((e = add(&t, "x", 1, NODE_FILE)) != NULL)
		add_xattr(e, "system.other", "v", 1);
	t.version = 1;
	encode(&t, &b);
	T_EQ_INT(le32dec(b.p), 1);
	T_EQ_INT(tree_decode(b.p, b.len, &d, &err), 0);
	T_EQ_INT(d.n, 1);
	tree_release(&d);
	wbuf_release(&b);
	t.version = 0;
	expect_reject(&t, "system.other in version 2");
	tree_release(&t);
}

/* expect_reject(t, what): ${t} encodes, but must not decode. */
static void
expect_reject(const struct tree *t, const char *what)
{
	struct wbuf b;
	int r;

	encode(t, &b);
	if ((r = decode_code(b.p, b.len)) != COFFER_EFORMAT)
		unit_fail(__FILE__, __LINE__, "%s: tree_decode gave %d, want "
		    "COFFER_EFORMAT", what, r);
	wbuf_release(&b);
}

/* one(t, name, namelen, type): ${t} becomes a tree of one fresh entry. */
static struct tree_entry *
one(struct tree *t, const void *name, size_t namelen, int type)
{
	tree_release(t);
	return add(t, name, namelen, type);
}

static void
decode_rejects_bad_names(void)
{
	static const struct {
		const char	*name;
		size_t		 len;
	} bad[] = {
		{ ".", 1 }, { "..", 2 }, { "", 0 }, { "a/b", 3 }, { "/", 1 },
		{ "/a", 2 }, { "a/", 2 }, { "../x", 4 }, { "a\0b", 3 },
		{ "\0", 1 }, { "a\0", 2 },
	};
	struct tree t;
	uint8_t *longname;

	memset(&t, 0, sizeof(t));
	for (size_t i = 0; i < NELEM(bad); i++) {
		(void)one(&t, bad[i].name, bad[i].len, NODE_FILE);
		expect_reject(&t, bad[i].name);
	}
	/* One byte over TREE_NAME_MAX. */
	if ((longname = coffer_malloc(TREE_NAME_MAX + 1)) != NULL) {
		memset(longname, 'n', TREE_NAME_MAX + 1);
		(void)one(&t, longname, TREE_NAME_MAX + 1, NODE_FILE);
		expect_reject(&t, "name of TREE_NAME_MAX + 1 bytes");
		coffer_free(longname);
	}
	/* A good name, as a control. */
	(void)one(&t, "..a", 3, NODE_FILE);
	{
		struct wbuf b;

		encode(&t, &b);
		T_EQ_INT(decode_code(b.p, b.len), 0);
		wbuf_release(&b);
	}
	tree_release(&t);
}

static void
decode_rejects_bad_order(void)
{
	static const char *const pairs[][2] = {
		{ "b", "a" },		/* unsorted */
		{ "a", "a" },		/* duplicate */
		{ "ab", "a" },		/* longer first */
		{ "\xff", "z" },	/* bytewise, not signed char */
		{ "B", "A" },
	};
	struct tree t;

	memset(&t, 0, sizeof(t));
	for (size_t i = 0; i < NELEM(pairs); i++) {
		tree_release(&t);
		(void)add(&t, pairs[i][0], strlen(pairs[i][0]), NODE_FILE);
		(void)add(&t, pairs[i][1], strlen(pairs[i][1]), NODE_FILE);
		expect_reject(&t, pairs[i][0]);
	}
	/* Duplicates further apart than neighbours are caught by sorting. */
	tree_release(&t);
	(void)add(&t, "a", 1, NODE_FILE);
	(void)add(&t, "b", 1, NODE_FILE);
	(void)add(&t, "a", 1, NODE_FILE);
	expect_reject(&t, "a b a");
	tree_release(&t);
}

static void
decode_rejects_bad_fields(void)
{
	struct tree t;
	struct tree_entry *e;

	memset(&t, 0, sizeof(t));

	/* Types outside 1..6. */
	if ((e = one(&t, "x", 1, NODE_FILE)) != NULL)
		e->type = 0;
	expect_reject(&t, "type 0");
	if ((e = one(&t, "x", 1, NODE_FILE)) != NULL)
		e->type = 7;
	expect_reject(&t, "type 7");
	if ((e = one(&t, "x", 1, NODE_FILE)) != NULL)
		e->type = 255;
	expect_reject(&t, "type 255");

	/* Mode beyond 07777 (file type bits are not stored). */
	if ((e = one(&t, "x", 1, NODE_FILE)) != NULL)
		e->mode = 010000;
	expect_reject(&t, "mode 010000");
	if ((e = one(&t, "x", 1, NODE_FILE)) != NULL)
		e->mode = 0100644;
	expect_reject(&t, "mode 0100644");
	if ((e = one(&t, "x", 1, NODE_FILE)) != NULL)
		e->mode = UINT32_MAX;
	expect_reject(&t, "mode ~0");

	/* Nanoseconds of a full second or more. */
	if ((e = one(&t, "x", 1, NODE_FILE)) != NULL)
		e->mtime_nsec = 1000000000;
	expect_reject(&t, "nsec 1e9");
	if ((e = one(&t, "x", 1, NODE_FILE)) != NULL)
		e->mtime_nsec = UINT32_MAX;
	expect_reject(&t, "nsec ~0");

	/* Targets only on symlinks, always on symlinks, never with NUL. */
	if ((e = one(&t, "x", 1, NODE_SYMLINK)) != NULL)
		e->targetlen = 0;
	expect_reject(&t, "symlink without target");
	if ((e = one(&t, "x", 1, NODE_FILE)) != NULL)
		set_bytes(&e->target, &e->targetlen, "t", 1);
	expect_reject(&t, "file with target");
	if ((e = one(&t, "x", 1, NODE_SYMLINK)) != NULL)
		set_bytes(&e->target, &e->targetlen, "a\0b", 3);
	expect_reject(&t, "target with NUL");
	if ((e = one(&t, "x", 1, NODE_SYMLINK)) != NULL) {
		uint8_t *tg = coffer_malloc(TREE_TARGET_MAX + 1);

		if (tg != NULL) {
			memset(tg, 't', TREE_TARGET_MAX + 1);
			set_bytes(&e->target, &e->targetlen, tg,
			    TREE_TARGET_MAX + 1);
			coffer_free(tg);
		}
	}
	expect_reject(&t, "target too long");

	/* Chunks only on regular files. */
	if ((e = one(&t, "x", 1, NODE_DIR)) != NULL)
		set_chunks(e, 1, 0);
	expect_reject(&t, "directory with chunks");
	if ((e = one(&t, "x", 1, NODE_SYMLINK)) != NULL) {
		set_bytes(&e->target, &e->targetlen, "t", 1);
		set_chunks(e, 2, 0);
	}
	expect_reject(&t, "symlink with chunks");

	/* Extended attribute names: not empty, at most 255 bytes. */
	if ((e = one(&t, "x", 1, NODE_FILE)) != NULL)
		add_xattr(e, "", "v", 1);
	expect_reject(&t, "empty xattr name");
	if ((e = one(&t, "x", 1, NODE_FILE)) != NULL) {
		char nm[257];

		memset(nm, 'a', 256);
		nm[256] = '\0';
		add_xattr(e, nm, "v", 1);
	}
	expect_reject(&t, "xattr name of 256 bytes");

	/* Inode flags: only the stored set, only on files and folders. */
	if ((e = one(&t, "x", 1, NODE_FILE)) != NULL)
		e->iflags = 0x100;
	expect_reject(&t, "iflags 0x100 (not stored)");
	if ((e = one(&t, "x", 1, NODE_FILE)) != NULL)
		e->iflags = 0x80000;
	expect_reject(&t, "iflags extents");
	if ((e = one(&t, "x", 1, NODE_SYMLINK)) != NULL) {
		set_bytes(&e->target, &e->targetlen, "t", 1);
		e->iflags = 0x10;
	}
	expect_reject(&t, "iflags on a symlink");
	if ((e = one(&t, "x", 1, NODE_FIFO)) != NULL)
		e->iflags = 0x40;
	expect_reject(&t, "iflags on a FIFO");

	/* Attribute namespaces, and the layout of ACLs. */
	if ((e = one(&t, "x", 1, NODE_FILE)) != NULL)
		add_xattr(e, "system.nfs4_acl", "v", 1);
	expect_reject(&t, "system.nfs4_acl");
	if ((e = one(&t, "x", 1, NODE_FILE)) != NULL)
		add_xattr(e, "users.x", "v", 1);
	expect_reject(&t, "users.x");
	if ((e = one(&t, "x", 1, NODE_FILE)) != NULL)
		add_xattr(e, "system.posix_acl_default", acl, sizeof(acl));
	expect_reject(&t, "default ACL on a file");
	{
		static const struct {
			size_t	 off;
			uint8_t	 v;
			size_t	 len;
			const char *what;
		} bad[] = {
			{ 0, 0x01, sizeof(acl), "ACL version 1" },
			{ 0, 0x02, 3, "ACL of 3 bytes" },
			{ 0, 0x02, sizeof(acl) - 1, "ACL cut in an entry" },
			{ 4, 0x03, sizeof(acl), "ACL tag 3" },
			{ 6, 0x08, sizeof(acl), "ACL perm 8" },
		};
		uint8_t v[sizeof(acl)];

		for (size_t i = 0; i < NELEM(bad); i++) {
			memcpy(v, acl, sizeof(acl));
			v[bad[i].off] = bad[i].v;
			if ((e = one(&t, "x", 1, NODE_FILE)) != NULL)
				add_xattr(e, "system.posix_acl_access", v,
				    bad[i].len);
			expect_reject(&t, bad[i].what);
		}
	}
	/* Controls: each namespace, an ACL, and every stored flag. */
	if ((e = one(&t, "x", 1, NODE_DIR)) != NULL) {
		e->iflags = TREE_IFLAGS_MASK;
		add_xattr(e, "security.x", "", 0);
		add_xattr(e, "system.posix_acl_access", acl, sizeof(acl));
		add_xattr(e, "system.posix_acl_default", acl, 4);
		add_xattr(e, "trusted.x", "v", 1);
		add_xattr(e, "user.x", "v", 1);
	}
	{
		struct wbuf b;

		encode(&t, &b);
		T_EQ_INT(decode_code(b.p, b.len), 0);
		wbuf_release(&b);
	}
	tree_release(&t);
}

/* find(hay, n, needle, m): offset of ${needle} in ${hay}, or -1. */
static long
find(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return (long)i;
	return -1;
}

/* expect_patched_reject(b, off, v, what): ${b} with a u32 at ${off}. */
static void
expect_patched_reject(const struct wbuf *b, size_t off, uint32_t v,
    const char *what)
{
	uint8_t *p;
	int r;

	if ((p = coffer_malloc(b->len)) == NULL)
		return;
	memcpy(p, b->p, b->len);
	le32enc(p + off, v);
	if ((r = decode_code(p, b->len)) != COFFER_EFORMAT)
		unit_fail(__FILE__, __LINE__, "%s: tree_decode gave %d, want "
		    "COFFER_EFORMAT", what, r);
	coffer_free(p);
}

static void
decode_rejects_bad_layout(void)
{
	struct tree t;
	struct tree_entry *e;
	struct wbuf b;
	uint8_t *p;
	long at;

	/* One file, no chunks, one xattr named "user.aXb". */
	memset(&t, 0, sizeof(t));
	if ((e = one(&t, "x", 1, NODE_FILE)) != NULL)
		add_xattr(e, "user.aXb", "val", 3);
	encode(&t, &b);
	T_EQ_INT(decode_code(b.p, b.len), 0);

	/* Versions other than 1 and 2. */
	expect_patched_reject(&b, 0, 0, "version 0");
	expect_patched_reject(&b, 0, 3, "version 3");
	expect_patched_reject(&b, 0, UINT32_MAX, "version ~0");
	/* Entry counts that do not match the bytes. */
	expect_patched_reject(&b, 4, 0, "count 0 + trailing entry");
	expect_patched_reject(&b, 4, 2, "count 2 of 1");
	expect_patched_reject(&b, 4, UINT32_MAX, "count ~0");
	/* Name length beyond the input, or beyond TREE_NAME_MAX. */
	expect_patched_reject(&b, 8, 2, "name length 2");
	expect_patched_reject(&b, 8, TREE_NAME_MAX + 1, "name length max+1");
	expect_patched_reject(&b, 8, UINT32_MAX, "name length ~0");

	/* NUL inside an xattr name. */
	if ((at = find(b.p, b.len, "aXb", 3)) >= 0 &&
	    (p = coffer_malloc(b.len)) != NULL) {
		memcpy(p, b.p, b.len);
		p[at + 1] = '\0';
		T_EQ_INT(decode_code(p, b.len), COFFER_EFORMAT);
		coffer_free(p);
	} else
		T_TRUE(at >= 0);

	/* Trailing bytes, and a byte too few. */
	if ((p = coffer_malloc(b.len + 1)) != NULL) {
		memcpy(p, b.p, b.len);
		p[b.len] = 0;
		T_EQ_INT(decode_code(p, b.len + 1), COFFER_EFORMAT);
		T_EQ_INT(decode_code(p, b.len - 1), COFFER_EFORMAT);
		coffer_free(p);
	}
	wbuf_release(&b);

	/*
	 * Huge counts must fail before allocating: a file with no chunks
	 * and no xattrs ends in nchunks u32 | nxattrs u32.
	 */
	(void)one(&t, "x", 1, NODE_FILE);
	encode(&t, &b);
	T_EQ_INT(decode_code(b.p, b.len), 0);
	expect_patched_reject(&b, b.len - 8, 1, "nchunks 1 of 0");
	expect_patched_reject(&b, b.len - 8, 1u << 27, "nchunks 2^27");
	expect_patched_reject(&b, b.len - 8, UINT32_MAX, "nchunks ~0");
	expect_patched_reject(&b, b.len - 4, 1, "nxattrs 1 of 0");
	expect_patched_reject(&b, b.len - 4, UINT32_MAX, "nxattrs ~0");
	wbuf_release(&b);
	tree_release(&t);
}

/* Every proper prefix of a valid tree is refused, and nothing crashes. */
static void
decode_rejects_every_truncation(void)
{
	struct tree t;
	struct wbuf b;
	uint8_t *p;
	size_t nbad = 0;

	rich_tree(&t, false);
	encode(&t, &b);
	T_EQ_INT(decode_code(b.p, b.len), 0);
	for (size_t n = 0; n < b.len; n++) {
		/* A fresh allocation of exactly n bytes, so ASan sees overreads. */
		if ((p = coffer_malloc(n)) == NULL)
			break;
		memcpy(p, b.p, n);
		if (decode_code(p, n) != COFFER_EFORMAT && nbad++ < 5)
			unit_fail(__FILE__, __LINE__, "prefix of %zu of %zu "
			    "bytes not refused", n, b.len);
		coffer_free(p);
	}
	T_EQ_INT(nbad, 0);
	wbuf_release(&b);
	tree_release(&t);
}

/*
 * Any single damaged byte is either refused or decodes to a tree that
 * re-encodes to exactly the damaged bytes (no silent normalisation).
 */
static void
decode_damaged_bytes_canonical(void)
{
	struct tree t, d;
	struct wbuf b, again;
	struct coffer_err err;
	uint8_t *p;
	size_t nbad = 0;

	rich_tree(&t, false);
	encode(&t, &b);
	if ((p = coffer_malloc(b.len)) == NULL)
		goto out;
	for (size_t i = 0; i < b.len; i++) {
		static const uint8_t xors[] = { 0x01, 0x80, 0xff };

		for (size_t k = 0; k < NELEM(xors); k++) {
			int r;

			memcpy(p, b.p, b.len);
			p[i] ^= xors[k];
			r = tree_decode(p, b.len, &d, &err);
			if (r == 0) {
				wbuf_init(&again, BLOB_MAX);
				tree_encode(&d, &again);
				if ((again.len != b.len || memcmp(again.p, p,
				    b.len) != 0) && nbad++ < 5)
					unit_fail(__FILE__, __LINE__, "byte %zu "
					    "^ %#x accepted but not canonical",
					    i, xors[k]);
				wbuf_release(&again);
			} else if (r != COFFER_EFORMAT && nbad++ < 5)
				unit_fail(__FILE__, __LINE__, "byte %zu ^ %#x: "
				    "%d", i, xors[k], r);
			tree_release(&d);
		}
	}
	T_EQ_INT(nbad, 0);
	coffer_free(p);
out:
	wbuf_release(&b);
	tree_release(&t);
}

/*
 * A large folder split into parts (FORMAT.md §11.4): every way of cutting
 * rich_tree into parts joins back to the same tree; the split tree's
 * layout round-trips; joins of empty, overlapping or out-of-order parts
 * and malformed split trees are refused; tree_decode refuses a split tree.
 */
static void
split_parts_join_back(void)
{
	struct tree t, j, part;
	struct wbuf b, sb;
	struct coffer_err err = { 0 };
	uint8_t ids[3][BLOB_ID_LEN], (*got)[BLOB_ID_LEN];
	size_t n;

	rich_tree(&t, true);
	encode(&t, &b);
	T_EQ_INT(tree_encoded_len(&t), b.len);
	wbuf_release(&b);
	for (size_t max = 64; max <= 4096; max *= 2) {
		size_t nparts = 0;

		memset(&j, 0, sizeof(j));
		for (size_t from = 0, to; from < t.n; from = to) {
			to = tree_part_end(&t, from, max);
			T_TRUE(to > from && to <= t.n);
			wbuf_init(&b, BLOB_MAX);
			tree_encode_range(&t, from, to, &b);
			T_TRUE(to == from + 1 || b.len <= max);
			T_EQ_INT(tree_decode(b.p, b.len, &part, &err), 0);
			T_EQ_INT(tree_join(&j, &part, &err), 0);
			tree_release(&part);
			wbuf_release(&b);
			nparts++;
		}
		T_TRUE(max > 1024 || nparts > 1);
		T_TRUE(tree_eq(&t, &j));
		/* A part again, or the first part after the last: refused. */
		wbuf_init(&b, BLOB_MAX);
		tree_encode_range(&t, t.n - 1, t.n, &b);
		T_EQ_INT(tree_decode(b.p, b.len, &part, &err), 0);
		T_EQ_INT(tree_join(&j, &part, &err), COFFER_EFORMAT);
		tree_release(&part);
		wbuf_reset(&b);
		tree_encode_range(&t, 0, 1, &b);
		T_EQ_INT(tree_decode(b.p, b.len, &part, &err), 0);
		T_EQ_INT(tree_join(&j, &part, &err), COFFER_EFORMAT);
		tree_release(&part);
		/* An empty part: refused. */
		wbuf_reset(&b);
		tree_encode_range(&t, 0, 0, &b);
		T_EQ_INT(tree_decode(b.p, b.len, &part, &err), 0);
		T_EQ_INT(tree_join(&j, &part, &err), COFFER_EFORMAT);
		tree_release(&part);
		wbuf_release(&b);
		tree_release(&j);
	}
	tree_release(&t);

	/* The split tree itself. */
	for (size_t i = 0; i < 3; i++)
		memset(ids[i], 0x11 * (int)(i + 1), BLOB_ID_LEN);
	wbuf_init(&sb, BLOB_MAX);
	tree_split_encode((const uint8_t (*)[BLOB_ID_LEN])ids, 3, &sb);
	T_EQ_INT(sb.len, 8 + 3 * BLOB_ID_LEN);
	T_TRUE(tree_is_split(sb.p, sb.len));
	T_EQ_INT(tree_split_decode(sb.p, sb.len, &got, &n, &err), 0);
	T_EQ_INT(n, 3);
	if (n == 3)
		T_EQ_MEM(got, ids, sizeof(ids));
	coffer_free(got);
	T_EQ_INT(tree_decode(sb.p, sb.len, &t, &err), COFFER_EFORMAT);
	tree_release(&t);
	/* Truncated, one byte over, or fewer than two parts: refused. */
	T_EQ_INT(tree_split_decode(sb.p, sb.len - 1, &got, &n, &err),
	    COFFER_EFORMAT);
	wbuf_u8(&sb, 0);
	T_EQ_INT(tree_split_decode(sb.p, sb.len, &got, &n, &err),
	    COFFER_EFORMAT);
	wbuf_reset(&sb);
	tree_split_encode((const uint8_t (*)[BLOB_ID_LEN])ids, 1, &sb);
	T_EQ_INT(tree_split_decode(sb.p, sb.len, &got, &n, &err),
	    COFFER_EFORMAT);
	wbuf_release(&sb);
}

static int
setup(void)
{
	return coffer_crypto_init();
}

UNIT_MAIN(setup,
	UNIT_TEST(roundtrip_every_field),
	UNIT_TEST(known_bytes_vector),
	UNIT_TEST(version1_stays_lenient),
	UNIT_TEST(decode_rejects_bad_names),
	UNIT_TEST(decode_rejects_bad_order),
	UNIT_TEST(decode_rejects_bad_fields),
	UNIT_TEST(decode_rejects_bad_layout),
	UNIT_TEST(decode_rejects_every_truncation),
	UNIT_TEST(decode_damaged_bytes_canonical),
	UNIT_TEST(split_parts_join_back),
)
