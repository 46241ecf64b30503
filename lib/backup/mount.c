/* SPDX-License-Identifier: ISC */
/*
 * mount: the snapshots as a read-only tree of paths (coffer_fs_*), for
 * coffer mount's FUSE layer.  Folders come from tree_load through a small
 * cache of decoded trees; file content is read chunk by chunk on demand
 * through a cache bounded in bytes, so a read in the middle of a large
 * file fetches about one chunk.  Every chunk is authenticated by
 * keyset_get_blob and its length checked against what the index and the
 * tree say before a byte of it is handed out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "tags.h"

#define FS_TREES	256		/* decoded trees kept */
#define FS_CACHE_DEFAULT	(64u << 20)
/* Chunk slots: one per 256 KiB of cache, 64 … 4096 (bounded in bytes). */
#define FS_CHUNKS_MIN	64
#define FS_CHUNKS_MAX	4096
#define FS_CHUNK_SHARE	(256u << 10)
/* unavailable.txt: at most this much; later lines are counted only. */
#define FS_NOTE_MAX	(256u << 10)
#define FS_NOTE_NAME	"unavailable.txt"
/* hosts/: an escaped host name longer than this is left out. */
#define FS_NAME_MAX	255

struct fs_snap {
	struct snapshot	 sn;
	struct keyset	*ks;		/* borrowed from fs->sets */
	const char	*hostdir;	/* its name in hosts/ (fs->hosts); NULL */
	/* Hard-link groups: link_id -> count, built on first need. */
	uint64_t	*lid, *lcnt;
	size_t		 nl;
	bool		 links_done;
};

struct fs_tree {
	struct keyset	*ks;
	uint8_t		 id[BLOB_ID_LEN];
	struct tree	 t;
	uint64_t	 used;		/* 0: empty slot */
};

struct fs_chunk {
	struct keyset	*ks;
	uint8_t		 id[BLOB_ID_LEN];
	struct wbuf	 data;
	uint64_t	 used;		/* 0: empty slot */
};

struct coffer_fs {
	struct session	 s;
	bool		 s_open;
	struct fs_snap	*snaps;
	size_t		 nsnaps;
	struct keyset	**sets;
	size_t		 nsets;
	/* hosts: escaped (coffer_fs_host_escape); tags as they are. */
	char		**hosts, **tags;	/* sorted, unique */
	size_t		 nhosts, ntags;
	/* Key sets that could not be opened (tried once each), and why. */
	char		**failed, **failed_why;
	size_t		 nfailed;
	/* unavailable.txt: the snapshots left out, and why. */
	struct wbuf	 note;
	size_t		 nleft, nleft_cut;
	struct fs_tree	 trees[FS_TREES];
	struct fs_chunk	*chunks;
	size_t		 nchunks;
	size_t		 cache_max, cache_len;
	uint64_t	 tick;
	uint64_t	 bytes_read;
	struct wbuf	 blob;		/* trees, links_count */
	struct wbuf	 scratch;	/* a chunk as read, before the cache */
};

/* What a path names. */
enum vkind {
	V_ROOT, V_SNAPSHOTS, V_LATEST, V_HOSTS, V_HOST, V_TAGS, V_TAG,
	V_SNAPROOT, V_ENTRY, V_NOTE,
};

struct vnode_ref {
	enum vkind		 kind;
	size_t			 idx;	/* host, tag or snapshot index */
	struct fs_snap		*snap;
	const struct tree_entry	*e;	/* V_ENTRY: in the tree cache */
	uint64_t		 pathhash;
};

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* add_unique(v, n, s): append a copy of ${s} if not there; -1 if OOM. */
static int
add_unique(char ***v, size_t *n, const char *s)
{
	char **nv;

	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i], s) == 0)
			return 0;
	if ((nv = coffer_realloc(*v, (*n + 1) * sizeof(char *))) == NULL)
		return -1;
	*v = nv;
	if ((nv[*n] = coffer_strdup(s)) == NULL)
		return -1;
	(*n)++;
	return 0;
}

size_t
coffer_fs_count(const struct coffer_fs *fs)
{
	return fs->nsnaps;
}

uint64_t
coffer_fs_bytes_read(const struct coffer_fs *fs)
{
	return fs->bytes_read;
}

size_t
coffer_fs_left_out(const struct coffer_fs *fs)
{
	return fs->nleft;
}

size_t
coffer_fs_host_escape(const char *host, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	if (cap == 0)
		return 0;
	if (host[0] == '\0') {
		out[0] = '\0';
		return 0;
	}
	/* "." and "..": their dots escaped; else '%' and '/' only. */
	for (const char *p = host; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		bool esc = c == '%' || c == '/' || (c == '.' &&
		    (strcmp(host, ".") == 0 || strcmp(host, "..") == 0));

		if (n + (esc ? 3 : 1) >= cap) {
			out[0] = '\0';
			return 0;
		}
		if (esc) {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
	return n;
}

/*
 * note_left(fs, name, keyid, why): one line of unavailable.txt for the
 * snapshot ${name} of key set ${keyid}, left out because ${why}.
 */
static void
note_left(struct coffer_fs *fs, const char *name, const char *keyid,
    const char *why)
{
	char line[512];
	int n;

	fs->nleft++;
	n = snprintf(line, sizeof(line), "%s (key set %s): %s\n", name, keyid,
	    why);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	if (fs->note.len + (size_t)n > FS_NOTE_MAX - 64) {
		fs->nleft_cut++;
		return;
	}
	if (fs->note.len == 0) {
		static const char head[] = "Snapshots on the card that this "
		    "mount does not show, and why:\n";

		wbuf_put(&fs->note, head, sizeof(head) - 1);
	}
	wbuf_put(&fs->note, line, (size_t)n);
}

void
coffer_fs_free(struct coffer_fs *fs)
{
	if (fs == NULL)
		return;
	for (size_t i = 0; i < FS_TREES; i++)
		tree_release(&fs->trees[i].t);
	for (size_t i = 0; i < fs->nchunks; i++)
		wbuf_release(&fs->chunks[i].data);
	coffer_free(fs->chunks);
	for (size_t i = 0; i < fs->nsnaps; i++) {
		snapshot_release(&fs->snaps[i].sn);
		coffer_free(fs->snaps[i].lid);
		coffer_free(fs->snaps[i].lcnt);
	}
	coffer_free(fs->snaps);
	for (size_t i = 0; i < fs->nsets; i++)
		keyset_free(fs->sets[i]);
	coffer_free(fs->sets);
	strlist_free(fs->hosts, fs->nhosts);
	strlist_free(fs->tags, fs->ntags);
	strlist_free(fs->failed, fs->nfailed);
	strlist_free(fs->failed_why, fs->nfailed);
	wbuf_release(&fs->note);
	wbuf_release(&fs->blob);
	wbuf_release(&fs->scratch);
	if (fs->s_open)
		session_close(&fs->s);
	coffer_free(fs);
}

/* fs_set(fs, keyid, &ks, err): the open key set ${keyid}, opened once. */
static int
fs_set(struct coffer_fs *fs, const char *keyid, struct keyset **ks,
    struct coffer_err *err)
{
	struct keyset **nv;
	int r;

	for (size_t i = 0; i < fs->nsets; i++)
		if (strcmp(keyset_idhex(fs->sets[i]), keyid) == 0) {
			*ks = fs->sets[i];
			return 0;
		}
	if ((nv = coffer_realloc(fs->sets, (fs->nsets + 1) *
	    sizeof(*nv))) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "mount");
	fs->sets = nv;
	if ((r = session_keyset(&fs->s, keyid, ks, err)) != 0)
		return r;
	fs->sets[fs->nsets++] = *ks;
	return 0;
}

/* set_failed(fs, keyid): why opening key set ${keyid} failed; NULL. */
static const char *
set_failed(const struct coffer_fs *fs, const char *keyid)
{
	for (size_t i = 0; i < fs->nfailed; i++)
		if (strcmp(fs->failed[i], keyid) == 0)
			return fs->failed_why[i];
	return NULL;
}

/* add_failed(fs, keyid, why): remember the failure; -1 if out of memory. */
static int
add_failed(struct coffer_fs *fs, const char *keyid, const char *why)
{
	char **a, **b;

	if ((a = coffer_realloc(fs->failed, (fs->nfailed + 1) *
	    sizeof(*a))) == NULL)
		return -1;
	fs->failed = a;
	if ((b = coffer_realloc(fs->failed_why, (fs->nfailed + 1) *
	    sizeof(*b))) == NULL)
		return -1;
	fs->failed_why = b;
	a[fs->nfailed] = coffer_strdup(keyid);
	b[fs->nfailed] = coffer_strdup(why);
	if (a[fs->nfailed] == NULL || b[fs->nfailed] == NULL) {
		coffer_free(a[fs->nfailed]);
		coffer_free(b[fs->nfailed]);
		return -1;
	}
	fs->nfailed++;
	return 0;
}

/*
 * fs_host(fs, fsn): put ${fsn}'s host into hosts/ under its escaped name
 * (none for an empty host name or one too long to be a file name).
 * -1 if out of memory.
 */
static int
fs_host(struct coffer_fs *fs, struct fs_snap *fsn)
{
	char esc[FS_NAME_MAX + 1];

	if (coffer_fs_host_escape(fsn->sn.hostname, esc, sizeof(esc)) == 0)
		return 0;
	if (add_unique(&fs->hosts, &fs->nhosts, esc) != 0)
		return -1;
	return 0;
}

/* fs_hostdirs(fs): point each snapshot at its name in the sorted hosts. */
static void
fs_hostdirs(struct coffer_fs *fs)
{
	char esc[FS_NAME_MAX + 1];

	for (size_t i = 0; i < fs->nsnaps; i++) {
		struct fs_snap *s = &fs->snaps[i];

		s->hostdir = NULL;
		if (coffer_fs_host_escape(s->sn.hostname, esc,
		    sizeof(esc)) == 0)
			continue;
		for (size_t k = 0; k < fs->nhosts; k++)
			if (strcmp(fs->hosts[k], esc) == 0)
				s->hostdir = fs->hosts[k];
	}
}

int
coffer_fs_open(const struct coffer_ctx *ctx,
    const struct coffer_snapshot_filter *filter, size_t cache_bytes,
    struct coffer_fs **out, struct coffer_err *err)
{
	struct coffer_err first = { 0 };
	struct coffer_fs *fs;
	struct snapshot *v = NULL;
	size_t n = 0, nread = 0;
	int r;

	*out = NULL;
	if ((fs = coffer_calloc(1, sizeof(*fs))) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "mount");
	fs->cache_max = cache_bytes ? cache_bytes : FS_CACHE_DEFAULT;
	fs->nchunks = fs->cache_max / FS_CHUNK_SHARE;
	if (fs->nchunks < FS_CHUNKS_MIN)
		fs->nchunks = FS_CHUNKS_MIN;
	if (fs->nchunks > FS_CHUNKS_MAX)
		fs->nchunks = FS_CHUNKS_MAX;
	wbuf_init(&fs->blob, BLOB_MAX);
	wbuf_init(&fs->scratch, BLOB_MAX);
	wbuf_init(&fs->note, FS_NOTE_MAX);
	if ((fs->chunks = coffer_calloc(fs->nchunks,
	    sizeof(*fs->chunks))) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "mount");
		goto out;
	}
	if ((r = session_open(ctx, REPO_LOCK_READ, true, &fs->s, err)) != 0)
		goto out;
	fs->s_open = true;
	if ((r = repo_list_snapshots(fs->s.repo, &v, &n, err)) != 0)
		goto out;
	if ((fs->snaps = coffer_calloc(n + 1, sizeof(*fs->snaps))) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "mount");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct fs_snap *fsn = &fs->snaps[fs->nsnaps];
		struct coffer_err e1 = { 0 };
		struct keyset *ks;
		const char *why;

		/* A set that failed is not asked again (nor its server). */
		if ((why = set_failed(fs, v[i].keyid)) != NULL) {
			note_left(fs, v[i].name, v[i].keyid, why);
			continue;
		}
		if (fs_set(fs, v[i].keyid, &ks, &e1) != 0) {
			if (e1.code == COFFER_ENOMEM ||
			    add_failed(fs, v[i].keyid, e1.msg) != 0) {
				r = coffer_err_set(err, COFFER_ENOMEM, "mount");
				goto out;
			}
			if (first.code == 0 && e1.code != COFFER_ENOKEY)
				first = e1;
			if (e1.code != COFFER_ENOKEY)
				session_warn(ctx, "snapshots of key set %s left "
				    "out: %s", v[i].keyid, e1.msg);
			note_left(fs, v[i].name, v[i].keyid, e1.msg);
			continue;
		}
		fsn->sn = v[i];
		memset(&v[i], 0, sizeof(v[i]));
		if (snapshot_load(ks, &fsn->sn, &e1) != 0) {
			if (e1.code == COFFER_ENOMEM) {
				*err = e1;
				r = e1.code;
				goto out;
			}
			if (first.code == 0)
				first = e1;
			session_warn(ctx, "snapshot '%s' left out: %s",
			    fsn->sn.name, e1.msg);
			note_left(fs, fsn->sn.name, fsn->sn.keyid, e1.msg);
			snapshot_release(&fsn->sn);
			continue;
		}
		nread++;
		if (!tags_match_snapshot(filter, &fsn->sn)) {
			snapshot_release(&fsn->sn);
			continue;
		}
		fsn->ks = ks;
		fs->nsnaps++;
		if (fs_host(fs, fsn) != 0) {
			r = coffer_err_set(err, COFFER_ENOMEM, "mount");
			goto out;
		}
		for (size_t k = 0; k < fsn->sn.ntags; k++)
			if (add_unique(&fs->tags, &fs->ntags,
			    fsn->sn.tags[k]) != 0) {
				r = coffer_err_set(err, COFFER_ENOMEM, "mount");
				goto out;
			}
	}
	/*
	 * Nothing readable, and not for want of keys made elsewhere: the
	 * mount would be an empty hole.  Say why instead.
	 */
	if (nread == 0 && first.code != 0) {
		*err = first;
		r = coffer_err_prefix(err, "no snapshot can be read");
		goto out;
	}
	if (fs->nleft_cut > 0) {
		char line[96];
		int k = snprintf(line, sizeof(line), "... and %zu more\n",
		    fs->nleft_cut);

		wbuf_put(&fs->note, line, (size_t)k);
	}
	if (fs->note.oom) {
		r = coffer_err_set(err, COFFER_ENOMEM, "mount");
		goto out;
	}
	if (fs->nhosts > 1)
		qsort(fs->hosts, fs->nhosts, sizeof(char *), cmp_str);
	if (fs->ntags > 1)
		qsort(fs->tags, fs->ntags, sizeof(char *), cmp_str);
	fs_hostdirs(fs);
	*out = fs;
	fs = NULL;
	r = 0;
out:
	snapshot_list_free(v, n);
	coffer_fs_free(fs);
	return r;
}

/* ---- caches ---- */

/* fs_tree(fs, ks, id, &t, err): the decoded folder ${id}, cached. */
static int
fs_tree(struct coffer_fs *fs, struct keyset *ks, const uint8_t id[BLOB_ID_LEN],
    const struct tree **t, struct coffer_err *err)
{
	struct fs_tree *slot = &fs->trees[0];
	int r;

	for (size_t i = 0; i < FS_TREES; i++) {
		struct fs_tree *c = &fs->trees[i];

		if (c->used != 0 && c->ks == ks &&
		    memcmp(c->id, id, BLOB_ID_LEN) == 0) {
			c->used = ++fs->tick;
			*t = &c->t;
			return 0;
		}
		if (c->used < slot->used)
			slot = c;
	}
	tree_release(&slot->t);
	slot->used = 0;
	if ((r = tree_load(ks, id, &fs->blob, &slot->t, err)) != 0) {
		tree_release(&slot->t);
		return r;
	}
	slot->ks = ks;
	memcpy(slot->id, id, BLOB_ID_LEN);
	slot->used = ++fs->tick;
	*t = &slot->t;
	return 0;
}

/*
 * fs_chunk(fs, ks, id, want, &data, err): the content chunk ${id}, which
 * must be ${want} bytes long, cached within cache_max bytes.
 */
static int
fs_chunk(struct coffer_fs *fs, struct keyset *ks, const uint8_t id[BLOB_ID_LEN],
    size_t want, const struct wbuf **data, struct coffer_err *err)
{
	struct fs_chunk *slot = NULL;
	int r;

	for (size_t i = 0; i < fs->nchunks; i++) {
		struct fs_chunk *c = &fs->chunks[i];

		if (c->used != 0 && c->ks == ks &&
		    memcmp(c->id, id, BLOB_ID_LEN) == 0) {
			c->used = ++fs->tick;
			*data = &c->data;
			return 0;
		}
	}
	/* Room: evict the least recently used until it fits. */
	for (;;) {
		struct fs_chunk *lru = NULL;
		size_t nfree = 0;

		for (size_t i = 0; i < fs->nchunks; i++) {
			struct fs_chunk *c = &fs->chunks[i];

			if (c->used == 0) {
				nfree++;
				slot = c;
			} else if (lru == NULL || c->used < lru->used) {
				lru = c;
			}
		}
		if (nfree > 0 && (fs->cache_len + want <= fs->cache_max ||
		    lru == NULL))
			break;
		fs->cache_len -= lru->data.cap;
		wbuf_release(&lru->data);
		lru->used = 0;
	}
	if ((r = keyset_get_blob(ks, OBJ_DATA, id, &fs->scratch, err)) != 0)
		return r;
	fs->bytes_read += fs->scratch.len;
	if (fs->scratch.len != want)
		return coffer_err_set(err, COFFER_EFORMAT, "a chunk is %zu "
		    "bytes, not the %zu its index entry says (damaged "
		    "repository)", fs->scratch.len, want);
	/*
	 * Kept in a buffer of its own size (a wbuf whose cap is its
	 * length): what the cache counts is what it holds, not the up to
	 * twice as much a growing buffer would.
	 */
	wbuf_init(&slot->data, want);
	wbuf_put(&slot->data, fs->scratch.p, want);
	if (slot->data.oom) {
		wbuf_release(&slot->data);
		return coffer_err_set(err, COFFER_ENOMEM, "mount: chunk cache");
	}
	slot->ks = ks;
	memcpy(slot->id, id, BLOB_ID_LEN);
	slot->used = ++fs->tick;
	fs->cache_len += slot->data.cap;
	*data = &slot->data;
	return 0;
}

/* ---- paths ---- */

static uint64_t
hash64(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;

	/* FNV-1a: inode numbers only, not security. */
	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static long
snap_by_name(struct coffer_fs *fs, const char *name, size_t len)
{
	for (size_t i = 0; i < fs->nsnaps; i++)
		if (strlen(fs->snaps[i].sn.name) == len &&
		    memcmp(fs->snaps[i].sn.name, name, len) == 0)
			return (long)i;
	return -1;
}

static long
str_index(char *const *v, size_t n, const char *s, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(v[i]) == len && memcmp(v[i], s, len) == 0)
			return (long)i;
	return -1;
}

static bool
snap_has_tag(const struct fs_snap *s, const char *tag)
{
	for (size_t i = 0; i < s->sn.ntags; i++)
		if (strcmp(s->sn.tags[i], tag) == 0)
			return true;
	return false;
}

/* resolve(fs, path, ref, err): what ${path} names. */
static int
resolve(struct coffer_fs *fs, const char *path, struct vnode_ref *ref,
    struct coffer_err *err)
{
	const char *p = path;
	const struct tree *t = NULL;
	int r;

	memset(ref, 0, sizeof(*ref));
	ref->kind = V_ROOT;
	ref->pathhash = 0xcbf29ce484222325ull;
	for (;;) {
		const char *c;
		size_t len;
		long i;

		while (*p == '/')
			p++;
		if (*p == '\0')
			return 0;
		c = p;
		len = strcspn(p, "/");
		p += len;
		switch (ref->kind) {
		case V_ROOT:
			if (len == 9 && memcmp(c, "snapshots", 9) == 0)
				ref->kind = V_SNAPSHOTS;
			else if (len == 6 && memcmp(c, "latest", 6) == 0 &&
			    fs->nsnaps > 0)
				ref->kind = V_LATEST;
			else if (len == 5 && memcmp(c, "hosts", 5) == 0)
				ref->kind = V_HOSTS;
			else if (len == 4 && memcmp(c, "tags", 4) == 0)
				ref->kind = V_TAGS;
			else if (len == strlen(FS_NOTE_NAME) && memcmp(c,
			    FS_NOTE_NAME, len) == 0 && fs->note.len > 0)
				ref->kind = V_NOTE;
			else
				goto notfound;
			continue;
		case V_HOSTS:
			if ((i = str_index(fs->hosts, fs->nhosts, c, len)) < 0)
				goto notfound;
			ref->kind = V_HOST;
			ref->idx = (size_t)i;
			continue;
		case V_TAGS:
			if ((i = str_index(fs->tags, fs->ntags, c, len)) < 0)
				goto notfound;
			ref->kind = V_TAG;
			ref->idx = (size_t)i;
			continue;
		case V_SNAPSHOTS:
		case V_HOST:
		case V_TAG:
			if ((i = snap_by_name(fs, c, len)) < 0)
				goto notfound;
			if (ref->kind == V_HOST && fs->snaps[i].hostdir !=
			    fs->hosts[ref->idx])
				goto notfound;
			if (ref->kind == V_TAG && !snap_has_tag(&fs->snaps[i],
			    fs->tags[ref->idx]))
				goto notfound;
			ref->kind = V_SNAPROOT;
			ref->snap = &fs->snaps[i];
			ref->pathhash = hash64(ref->pathhash, &i, sizeof(i));
			if ((r = fs_tree(fs, ref->snap->ks, ref->snap->sn.tree,
			    &t, err)) != 0)
				return r;
			continue;
		case V_SNAPROOT:
		case V_ENTRY:
			if (ref->kind == V_ENTRY) {
				if (ref->e->type != NODE_DIR)
					goto notfound;
				if ((r = fs_tree(fs, ref->snap->ks,
				    ref->e->subtree, &t, err)) != 0)
					return r;
			}
			if ((i = stored_path_lookup(t, c, len)) < 0)
				goto notfound;
			ref->kind = V_ENTRY;
			ref->e = &t->e[i];
			ref->pathhash = hash64(ref->pathhash, "/", 1);
			ref->pathhash = hash64(ref->pathhash, c, len);
			continue;
		case V_LATEST:
		case V_NOTE:
			goto notfound;
		}
	}
notfound:
	return coffer_err_set(err, COFFER_ENOTFOUND, "'%s': no such entry",
	    path);
}

/* links_count(fs, s, err): build ${s}'s hard-link group sizes. */
static int
links_count(struct coffer_fs *fs, struct fs_snap *s, struct coffer_err *err)
{
	uint8_t (*stack)[BLOB_ID_LEN] = NULL, (*ns)[BLOB_ID_LEN];
	size_t sp = 0, cap = 0;
	struct tree t = { 0 };
	int r = 0;

	if (s->links_done)
		return 0;
	if ((stack = coffer_malloc(16 * BLOB_ID_LEN)) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "mount");
	cap = 16;
	memcpy(stack[sp++], s->sn.tree, BLOB_ID_LEN);
	while (sp > 0) {
		uint8_t id[BLOB_ID_LEN];

		memcpy(id, stack[--sp], BLOB_ID_LEN);
		tree_release(&t);
		memset(&t, 0, sizeof(t));
		if ((r = tree_load(s->ks, id, &fs->blob, &t, err)) != 0)
			goto out;
		for (size_t i = 0; i < t.n; i++) {
			const struct tree_entry *e = &t.e[i];
			size_t k;

			if (e->type == NODE_DIR) {
				if (sp == cap) {
					if ((ns = coffer_realloc(stack, cap * 2 *
					    BLOB_ID_LEN)) == NULL)
						goto oom;
					stack = ns;
					cap *= 2;
				}
				memcpy(stack[sp++], e->subtree, BLOB_ID_LEN);
				continue;
			}
			if (e->link_id == 0)
				continue;
			for (k = 0; k < s->nl && s->lid[k] != e->link_id; k++)
				;
			if (k == s->nl) {
				uint64_t *a, *b;

				if ((a = coffer_realloc(s->lid, (k + 1) *
				    sizeof(*a))) == NULL)
					goto oom;
				s->lid = a;
				if ((b = coffer_realloc(s->lcnt, (k + 1) *
				    sizeof(*b))) == NULL)
					goto oom;
				s->lcnt = b;
				s->lid[k] = e->link_id;
				s->lcnt[k] = 0;
				s->nl++;
			}
			s->lcnt[k]++;
		}
	}
	s->links_done = true;
	r = 0;
	goto out;
oom:
	r = coffer_err_set(err, COFFER_ENOMEM, "mount");
out:
	tree_release(&t);
	coffer_free(stack);
	return r;
}

static void
dir_stat(struct coffer_fs_stat *st, int64_t t, uint64_t ino)
{
	memset(st, 0, sizeof(*st));
	st->type = COFFER_NODE_DIR;
	st->mode = 0555;
	st->mtime_sec = t;
	st->nlink = 1;
	st->ino = ino;
}

/* entry_stat(fs, s, e, pathhash, st, err): the stat of a tree entry. */
static int
entry_stat(struct coffer_fs *fs, struct fs_snap *s,
    const struct tree_entry *e, uint64_t pathhash, struct coffer_fs_stat *st,
    struct coffer_err *err)
{
	int r;

	memset(st, 0, sizeof(*st));
	st->type = e->type;
	st->mode = e->mode & 07777;
	st->uid = e->uid;
	st->gid = e->gid;
	st->mtime_sec = e->mtime_sec;
	st->mtime_nsec = e->mtime_nsec;
	st->size = e->type == NODE_SYMLINK ? e->targetlen : e->size;
	st->rdev = e->rdev;
	st->nlink = 1;
	st->ino = pathhash | 1;
	if (e->type == NODE_FILE && e->link_id != 0) {
		uint64_t h = hash64(0x84222325cbf29ce4ull, &s, sizeof(s));

		if ((r = links_count(fs, s, err)) != 0)
			return r;
		for (size_t k = 0; k < s->nl; k++)
			if (s->lid[k] == e->link_id)
				st->nlink = s->lcnt[k];
		/* Links of one file share an inode number. */
		st->ino = hash64(h, &e->link_id, sizeof(e->link_id)) | 1;
	}
	return 0;
}

static int64_t
newest_time(const struct coffer_fs *fs)
{
	return fs->nsnaps > 0 ? fs->snaps[fs->nsnaps - 1].sn.time_sec : 0;
}

int
coffer_fs_stat(struct coffer_fs *fs, const char *path,
    struct coffer_fs_stat *st, struct coffer_err *err)
{
	struct vnode_ref ref;
	int r;

	if ((r = resolve(fs, path, &ref, err)) != 0)
		return r;
	switch (ref.kind) {
	case V_ENTRY:
		return entry_stat(fs, ref.snap, ref.e, ref.pathhash, st, err);
	case V_SNAPROOT:
		dir_stat(st, ref.snap->sn.time_sec, ref.pathhash | 1);
		return 0;
	case V_LATEST:
		memset(st, 0, sizeof(*st));
		st->type = COFFER_NODE_SYMLINK;
		st->mode = 0777;
		st->mtime_sec = newest_time(fs);
		st->size = strlen("snapshots/") +
		    strlen(fs->snaps[fs->nsnaps - 1].sn.name);
		st->nlink = 1;
		st->ino = 3;
		return 0;
	case V_NOTE:
		memset(st, 0, sizeof(*st));
		st->type = COFFER_NODE_FILE;
		st->mode = 0444;
		st->mtime_sec = newest_time(fs);
		st->size = fs->note.len;
		st->nlink = 1;
		st->ino = 5;
		return 0;
	default:
		dir_stat(st, newest_time(fs), hash64(ref.pathhash, &ref.kind,
		    sizeof(ref.kind)) + ref.idx * 2 + 4);
		return 0;
	}
}

int
coffer_fs_readdir(struct coffer_fs *fs, const char *path,
    coffer_fs_dir_fn *fn, void *cookie, struct coffer_err *err)
{
	static const char *const top[] = { "snapshots", "latest", "hosts",
	    "tags", FS_NOTE_NAME };
	struct coffer_fs_stat st;
	struct vnode_ref ref;
	const struct tree *t;
	char sub[512];
	int r;

	if ((r = resolve(fs, path, &ref, err)) != 0)
		return r;
	switch (ref.kind) {
	case V_ROOT:
		for (size_t i = 0; i < 5; i++) {
			if ((i == 1 && fs->nsnaps == 0) ||
			    (i == 4 && fs->note.len == 0))
				continue;
			snprintf(sub, sizeof(sub), "/%s", top[i]);
			if ((r = coffer_fs_stat(fs, sub, &st, err)) != 0)
				return r;
			if (fn(cookie, top[i], strlen(top[i]), &st) != 0)
				return 0;
		}
		return 0;
	case V_HOSTS:
	case V_TAGS: {
		char **v = ref.kind == V_HOSTS ? fs->hosts : fs->tags;
		size_t n = ref.kind == V_HOSTS ? fs->nhosts : fs->ntags;

		for (size_t i = 0; i < n; i++) {
			dir_stat(&st, newest_time(fs), hash64(ref.pathhash,
			    v[i], strlen(v[i])) | 1);
			if (fn(cookie, v[i], strlen(v[i]), &st) != 0)
				return 0;
		}
		return 0;
	}
	case V_SNAPSHOTS:
	case V_HOST:
	case V_TAG:
		for (size_t i = 0; i < fs->nsnaps; i++) {
			struct fs_snap *s = &fs->snaps[i];

			if (ref.kind == V_HOST && s->hostdir !=
			    fs->hosts[ref.idx])
				continue;
			if (ref.kind == V_TAG && !snap_has_tag(s,
			    fs->tags[ref.idx]))
				continue;
			dir_stat(&st, s->sn.time_sec, hash64(0xcbf29ce484222325ull,
			    &i, sizeof(i)) | 1);
			if (fn(cookie, s->sn.name, strlen(s->sn.name), &st) != 0)
				return 0;
		}
		return 0;
	case V_SNAPROOT:
	case V_ENTRY: {
		struct fs_snap *s = ref.snap;
		uint64_t base = ref.pathhash;

		if (ref.kind == V_ENTRY && ref.e->type != NODE_DIR)
			return coffer_err_set(err, COFFER_EINVAL, "'%s' is not "
			    "a folder", path);
		if ((r = fs_tree(fs, s->ks, ref.kind == V_ENTRY ?
		    ref.e->subtree : s->sn.tree, &t, err)) != 0)
			return r;
		for (size_t i = 0; i < t->n; i++) {
			const struct tree_entry *e = &t->e[i];
			uint64_t h = hash64(hash64(base, "/", 1), e->name,
			    e->namelen);

			/* links_count may load trees, but not through the
			 * cache: ${t} stays valid. */
			if ((r = entry_stat(fs, s, e, h, &st, err)) != 0)
				return r;
			if (fn(cookie, (const char *)e->name, e->namelen,
			    &st) != 0)
				return 0;
		}
		return 0;
	}
	case V_LATEST:
	case V_NOTE:
		break;
	}
	return coffer_err_set(err, COFFER_EINVAL, "'%s' is not a folder", path);
}

int
coffer_fs_readlink(struct coffer_fs *fs, const char *path, char *buf,
    size_t cap, size_t *len, struct coffer_err *err)
{
	struct vnode_ref ref;
	int r;

	*len = 0;
	if ((r = resolve(fs, path, &ref, err)) != 0)
		return r;
	if (ref.kind == V_LATEST) {
		*len = (size_t)snprintf(buf, cap, "snapshots/%s",
		    fs->snaps[fs->nsnaps - 1].sn.name);
		if (*len > cap)
			*len = cap;
		return 0;
	}
	if (ref.kind != V_ENTRY || ref.e->type != NODE_SYMLINK)
		return coffer_err_set(err, COFFER_EINVAL, "'%s' is not a "
		    "symbolic link", path);
	*len = ref.e->targetlen < cap ? ref.e->targetlen : cap;
	memcpy(buf, ref.e->target, *len);
	return 0;
}

int
coffer_fs_read(struct coffer_fs *fs, const char *path, uint8_t *buf,
    size_t len, uint64_t off, size_t *got, struct coffer_err *err)
{
	struct vnode_ref ref;
	struct tree_entry e;
	uint64_t at = 0, total = 0;
	int r;

	*got = 0;
	if ((r = resolve(fs, path, &ref, err)) != 0)
		return r;
	if (ref.kind == V_NOTE) {
		if (off < fs->note.len) {
			*got = fs->note.len - (size_t)off;
			if (*got > len)
				*got = len;
			memcpy(buf, fs->note.p + off, *got);
		}
		return 0;
	}
	if (ref.kind != V_ENTRY || ref.e->type != NODE_FILE)
		return coffer_err_set(err, COFFER_EINVAL, "'%s' is not a "
		    "file", path);
	/* A copy: loading chunks never touches the tree cache, but be
	 * plain about what is borrowed. */
	e = *ref.e;
	for (size_t i = 0; i < e.nchunks; i++) {
		uint32_t clen, rawlen;

		if (!keyset_blob_info(ref.snap->ks, OBJ_DATA, e.chunks[i], &clen,
		    &rawlen))
			return coffer_err_set(err, COFFER_EFORMAT, "'%s': a "
			    "chunk is missing from the index (damaged "
			    "repository)", path);
		total += rawlen;
	}
	if (total != e.size)
		return coffer_err_set(err, COFFER_EFORMAT, "'%s': its chunks "
		    "do not add up to the %llu bytes the snapshot records "
		    "(damaged snapshot)", path, (unsigned long long)e.size);
	for (size_t i = 0; i < e.nchunks && *got < len; i++) {
		const struct wbuf *d = NULL;
		uint32_t clen, rawlen;
		size_t from, n;

		(void)keyset_blob_info(ref.snap->ks, OBJ_DATA, e.chunks[i],
		    &clen, &rawlen);
		if (off + *got >= at + rawlen) {
			at += rawlen;
			continue;
		}
		if ((r = fs_chunk(fs, ref.snap->ks, e.chunks[i], rawlen, &d,
		    err)) != 0)
			return coffer_err_prefix(err, "'%s'", path);
		from = (size_t)(off + *got - at);
		n = rawlen - from;
		if (n > len - *got)
			n = len - *got;
		memcpy(buf + *got, d->p + from, n);
		*got += n;
		at += rawlen;
	}
	return 0;
}

int
coffer_fs_getxattr(struct coffer_fs *fs, const char *path, const char *name,
    void *buf, size_t cap, size_t *len, struct coffer_err *err)
{
	struct vnode_ref ref;
	int r;

	*len = 0;
	if ((r = resolve(fs, path, &ref, err)) != 0)
		return r;
	if (ref.kind == V_ENTRY)
		for (size_t i = 0; i < ref.e->nxattrs; i++) {
			const struct xattr *x = &ref.e->xattrs[i];

			if (strcmp(x->name, name) != 0)
				continue;
			*len = x->vlen;
			if (cap > 0)
				memcpy(buf, x->value, x->vlen < cap ?
				    x->vlen : cap);
			return 0;
		}
	return coffer_err_set(err, COFFER_EINVAL, "'%s' has no attribute "
	    "'%s'", path, name);
}

int
coffer_fs_listxattr(struct coffer_fs *fs, const char *path, char *buf,
    size_t cap, size_t *len, struct coffer_err *err)
{
	struct vnode_ref ref;
	int r;

	*len = 0;
	if ((r = resolve(fs, path, &ref, err)) != 0)
		return r;
	if (ref.kind != V_ENTRY)
		return 0;
	for (size_t i = 0; i < ref.e->nxattrs; i++) {
		size_t n = strlen(ref.e->xattrs[i].name) + 1;

		if (cap > 0 && *len + n <= cap)
			memcpy(buf + *len, ref.e->xattrs[i].name, n);
		*len += n;
	}
	return 0;
}
