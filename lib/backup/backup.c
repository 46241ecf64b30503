/* SPDX-License-Identifier: ISC */
/*
 * backup: walk the given paths, cut files into chunks, store new chunks
 * and one tree blob per directory in the device's key set, then write
 * the snapshot last (invariant 3 of lib/repo).
 *
 * Paths are stored as given with any leading '/' (and leading "../")
 * removed, like tar; the directories above a given path are stored with
 * their own metadata so that restore recreates them.
 */
#define _GNU_SOURCE	/* O_NOATIME */
#include <sys/stat.h>

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "session.h"
#include "exclude.h"
#include "filecache.h"
#include "meta.h"
#include "tags.h"
#include "../chunker/chunker.h"

#define READ_BUF	(1u << 20)
#define ZERO_IDS	8		/* zero-chunk lengths remembered */

struct link_slot {
	dev_t		dev;
	ino_t		ino;
	uint64_t	id;
};

struct bctx {
	const struct coffer_ctx	*ctx;
	struct keyset		*ks;
	struct chunker		*ch;
	struct coffer_err	*err;
	struct coffer_backup_result *res;
	/*
	 * Chunk ids are computed on the sealer's threads; each goes to a slot
	 * of this arena (blocks that never move), and is copied into its
	 * tree entry when the directory is finished (put_tree).
	 */
	uint8_t			**arena;
	size_t			 narena;
	uint64_t		 arena_n;	/* slots handed out */
	uint64_t		 file_first;	/* first slot of this file */
	/*
	 * Trees waiting for ids the workers are still computing (their
	 * files' chunks, or their subtrees' own ids), oldest first: a
	 * directory is always queued after everything below it.
	 */
	struct deferred		*defer;
	size_t			 ndefer, defercap;
	size_t			 defer_entries;	/* entries of those trees */
	/*
	 * The trees still open (the walk's and the given paths' folders):
	 * after a flush their entries take their ids out of the arena, which
	 * then starts again from slot 0 (arena_rewind).
	 */
	struct wstack		*ws;
	struct vframe		*vf;
	size_t			 nvf;
	bool			 file_async;	/* some of its ids are hashed by workers */
	size_t			 nchunks;	/* chunks of this file */
	/* Ids of all-zero chunks (holes), by length, computed once. */
	struct {
		size_t	 len;
		uint8_t	 id[BLOB_ID_LEN];
	}			 zid[ZERO_IDS];
	size_t			 nzid;
	uint8_t			*rbuf;
	struct wbuf		 tbuf;
	/* Hard links: (dev, ino) -> link id, linear probing. */
	struct link_slot	*links;
	size_t			 linkcap, nlinks;
	uint64_t		 next_link;
	/* Never back up the repository into itself. */
	dev_t			 repo_dev;
	ino_t			 repo_ino;
	/*
	 * Nor the keystore found inside a folder being backed up: its keys
	 * encrypted under themselves restore nothing.  A path given as
	 * such (${given}, for store_entry) is backed up as asked.
	 */
	dev_t			 kst_dev;
	ino_t			 kst_ino;
	bool			 kst_known, given;
	struct repo_lock	*lock;
	struct fcache		*fc;		/* may be NULL */
	/* What to leave out. */
	struct excl		*excl;
	bool			 excl_caches;
	uint64_t		 max_size;	/* 0: no limit */
	bool			 one_fs;
	dev_t			 top_dev;	/* device of the path being walked */
	/* Progress: bytes read so far, and totals counted by a scanner. */
	uint64_t		 bytes_done;
	struct timespec		 last_report;
	pthread_mutex_t		 scan_mu;
	uint64_t		 scan_files, scan_bytes;
	bool			 scan_done, scan_stop;
};

/* A tree put aside until its ids are known; its id goes to arena slot. */
struct deferred {
	struct tree	 t;
	uint64_t	 slot;
};

static void progress(struct bctx *, const char *, bool);
static int arena_rewind(struct bctx *);

struct vnode {
	char		*name;		/* stored component */
	char		*src;		/* path to open on the device */
	bool		 real;		/* given by the user: walk it all */
	struct vnode	*kids;
	size_t		 nkids;
};

#define ARENA_BLOCK	4096		/* ids per arena block */
#ifndef DEFER_TREES
#define DEFER_TREES	1024
#endif		/* trees waiting for ids, at most */
#ifndef DEFER_ENTRIES
#define DEFER_ENTRIES	16384
#endif		/* entries of those trees, at most (then a flush) */
#define ARENA_KEEP	16		/* arena blocks kept over a rewind */

static uint8_t *
arena_slot(struct bctx *b, uint64_t i)
{
	return b->arena[i / ARENA_BLOCK] + (i % ARENA_BLOCK) * BLOB_ID_LEN;
}

/* arena_take(b, &i): the next free slot of the id arena. */
static int
arena_take(struct bctx *b, uint64_t *i)
{
	*i = b->arena_n;
	if (*i / ARENA_BLOCK >= b->narena) {
		uint8_t **na;

		if ((na = coffer_realloc(b->arena, (b->narena + 1) *
		    sizeof(*na))) == NULL)
			return coffer_err_set(b->err, COFFER_ENOMEM, "chunk ids");
		b->arena = na;
		if ((na[b->narena] = coffer_malloc(ARENA_BLOCK *
		    BLOB_ID_LEN)) == NULL)
			return coffer_err_set(b->err, COFFER_ENOMEM, "chunk ids");
		b->narena++;
	}
	b->arena_n++;
	return 0;
}

static int
chunk_cb(void *cookie, const uint8_t *buf, size_t len)
{
	struct bctx *b = cookie;
	uint64_t i;
	int r;

	if ((r = arena_take(b, &i)) != 0)
		return r;
	repo_lock_refresh(b->lock);	/* cheap: a time check */
	b->nchunks++;
	/*
	 * Every chunk is hashed by the workers, off this thread; its id
	 * lands in the arena, and its directory's tree waits (put_tree).
	 */
	b->file_async = true;
	return keyset_put_data(b->ks, buf, len, arena_slot(b, i), b->err);
}

/*
 * zero_chunk_cb(cookie, buf, len): a chunk of ${len} zeros from a hole.
 * Its id is the same for every hole, so it is hashed (and the blob
 * stored) once per length, not once per chunk.
 */
static int
zero_chunk_cb(void *cookie, const uint8_t *buf, size_t len)
{
	struct bctx *b = cookie;
	uint8_t *id = NULL;
	uint64_t i;
	int r;

	for (size_t k = 0; k < b->nzid && id == NULL; k++)
		if (b->zid[k].len == len)
			id = b->zid[k].id;
	if (id == NULL) {
		size_t k = b->nzid < ZERO_IDS ? b->nzid++ : len % ZERO_IDS;

		b->zid[k].len = len;
		id = b->zid[k].id;
		keyset_blob_id(b->ks, buf, len, id);
		if ((r = keyset_put_blob(b->ks, OBJ_DATA, id, buf, len,
		    b->err)) != 0)
			return r;
	}
	if ((r = arena_take(b, &i)) != 0)
		return r;
	repo_lock_refresh(b->lock);
	b->nchunks++;
	memcpy(arena_slot(b, i), id, BLOB_ID_LEN);
	return 0;
}

/* The entry's ids are in the arena, to be copied by put_tree. */
static int
take_chunks(struct bctx *b, struct tree_entry *e)
{
	e->nchunks = b->nchunks;
	e->pending_first = b->file_first;
	b->nchunks = 0;
	if (b->file_async) {
		/* Ids still being computed: copied by put_tree. */
		e->pending = true;
		return 0;
	}
	e->pending = false;
	if (e->nchunks == 0)
		return 0;
	if ((e->chunks = coffer_malloc(e->nchunks * BLOB_ID_LEN)) == NULL)
		return coffer_err_set(b->err, COFFER_ENOMEM, "chunks");
	for (size_t k = 0; k < e->nchunks; k++)
		memcpy(e->chunks[k], arena_slot(b, e->pending_first + k),
		    BLOB_ID_LEN);
	return 0;
}

/* One read(2), retried on EINTR; 0 bytes means end of file. */
static int
read_full_once(int fd, uint8_t *buf, size_t len, size_t *got)
{
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	*got = (size_t)n;
	return 0;
}

/*
 * next_data(b, fd, expect, &total, &data_end, &holes): skip the hole at
 * ${total}: feed it to the chunker as a count of zeros, leave the file
 * offset at the next data and ${data_end} at the hole after it.  Where
 * SEEK_DATA is not supported, clear ${holes}: the rest is simply read.
 * Returns 0, 1 (the offset cannot be set: errno says why) or < 0.
 */
static int
next_data(struct bctx *b, int fd, uint64_t expect, uint64_t *total,
    uint64_t *data_end, bool *holes)
{
	off_t d, h;
	int r;

	if ((d = lseek(fd, (off_t)*total, SEEK_DATA)) == -1) {
		/* ENXIO: a hole up to the end; else not supported here. */
		d = errno == ENXIO && expect > *total ? (off_t)expect :
		    (off_t)*total;
		*holes = false;
	} else if ((h = lseek(fd, d, SEEK_HOLE)) == -1 || h <= d) {
		*holes = false;
	} else {
		*data_end = (uint64_t)h;
	}
	if ((uint64_t)d > *total) {
		if ((r = chunker_write_zeros(b->ch, (uint64_t)d - *total)) != 0)
			return r < 0 ? r : coffer_err_set(b->err, COFFER_ENOMEM,
			    "chunker");
		b->bytes_done += (uint64_t)d - *total;
		*total = (uint64_t)d;
	}
	return lseek(fd, (off_t)*total, SEEK_SET) == -1 ? 1 : 0;
}

/*
 * read_content(b, fd, expect, holes, e, path): chunk and store everything
 * ${fd} yields; with ${holes}, find the data with SEEK_DATA/SEEK_HOLE and
 * do not read the holes.  Returns 0, 1 (read error: warned, entry to be
 * skipped) or < 0.
 */
static int
read_content(struct bctx *b, int fd, uint64_t expect, bool holes,
    struct tree_entry *e, const char *path)
{
	uint64_t total = 0, data_end = 0;
	size_t got, want;
	int r;

	b->nchunks = 0;
	b->file_first = b->arena_n;
	b->file_async = false;
	for (;;) {
		if (holes && total >= data_end &&
		    (r = next_data(b, fd, expect, &total, &data_end,
		    &holes)) != 0) {
			if (r < 0)
				return r;
			goto bad;
		}
		want = READ_BUF;
		if (holes && data_end - total < want)
			want = (size_t)(data_end - total);
		/* A short read that reaches the stat size is the end: no
		 * extra read() just to see 0. */
		if (read_full_once(fd, b->rbuf, want, &got) != 0)
			goto bad;
		if (got == 0)
			break;
		total += got;
		b->bytes_done += got;
		progress(b, path, false);
		if ((r = chunker_write(b->ch, b->rbuf, got)) != 0)
			return r < 0 ? r : coffer_err_set(b->err, COFFER_ENOMEM,
			    "chunker");
		if (!holes && got < want && total >= expect)
			break;
	}
	if ((r = chunker_finish(b->ch)) != 0)
		return r;
	e->size = total;
	b->res->size += total;
	repo_lock_refresh(b->lock);
	return take_chunks(b, e);
bad:
	session_warn(b->ctx, "cannot read '%s': %s; left out", path,
	    strerror(errno));
	(void)chunker_finish(b->ch);
	b->nchunks = 0;
	return 1;
}

static int64_t
ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/*
 * progress(b, path, force): tell the caller how far we are, at most
 * every 50 ms unless ${force}.
 */
static void
progress(struct bctx *b, const char *path, bool force)
{
	struct coffer_progress p = { .phase = "backup" };
	struct timespec now;

	if (b->ctx->progress == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!force && (now.tv_sec - b->last_report.tv_sec) * 1000 +
	    (now.tv_nsec - b->last_report.tv_nsec) / 1000000 < 50)
		return;
	b->last_report = now;
	p.files = b->res->nfiles;
	p.bytes = b->bytes_done;
	pthread_mutex_lock(&b->scan_mu);
	if (b->scan_done) {
		p.files_total = b->scan_files;
		p.bytes_total = b->scan_bytes;
	}
	pthread_mutex_unlock(&b->scan_mu);
	p.current = path;
	p.done = force && path == NULL;
	b->ctx->progress(b->ctx->cookie, &p);
}

/*
 * from_cache(b, sb, e): fill ${e} from the file cache when the file of
 * ${sb} is unchanged and every chunk is still in the key set, without
 * opening it.  1: done; 0: not in the cache; < 0: error.
 */
static int
from_cache(struct bctx *b, const struct stat *sb, struct tree_entry *e)
{
	const struct fcache_ent *fe;
	const uint8_t *ids;
	size_t n;

	if ((fe = fcache_lookup(b->fc, (uint64_t)sb->st_dev,
	    (uint64_t)sb->st_ino, (uint64_t)sb->st_size, ts_ns(&sb->st_mtim),
	    ts_ns(&sb->st_ctim))) == NULL)
		return 0;
	ids = fcache_chunks(fe, &n);
	for (size_t i = 0; i < n; i++)
		if (!keyset_has_blob(b->ks, OBJ_DATA, ids + i * BLOB_ID_LEN))
			return 0;
	if (fcache_fill(fe, e) != 0)
		return coffer_err_set(b->err, COFFER_ENOMEM, "chunks");
	b->res->size += e->size;
	b->bytes_done += e->size;
	b->res->unchanged_bytes += e->size;
	b->res->nunchanged++;
	fcache_keep(b->fc, fe);
	return 1;
}

/*
 * file_content(b, fd, sb, e, path): read the content of a regular file
 * not found in the cache.  A file whose size, mtime or ctime differ
 * after the read from ${sb} is stored as read, with a warning, and is
 * not cached; else ${e} is marked for the cache (cache_entry).
 */
static int
file_content(struct bctx *b, int fd, const struct stat *sb,
    struct tree_entry *e, const char *path)
{
	struct stat after;
	int r;

	if (fcache_known(b->fc, (uint64_t)sb->st_dev, (uint64_t)sb->st_ino))
		b->res->nchanged++;
	else
		b->res->nnew++;
	if ((r = read_content(b, fd, (uint64_t)sb->st_size,
	    (e->flags & NODE_F_SPARSE) != 0, e, path)) != 0)
		return r;
	if (fstat(fd, &after) != 0 || e->size != (uint64_t)sb->st_size ||
	    after.st_size != sb->st_size ||
	    ts_ns(&after.st_mtim) != ts_ns(&sb->st_mtim) ||
	    ts_ns(&after.st_ctim) != ts_ns(&sb->st_ctim)) {
		session_warn(b->ctx, "'%s' changed while it was read; stored "
		    "as read", path);
		b->res->ntorn++;
		return 0;
	}
	e->cache_add = true;
	e->c_dev = (uint64_t)sb->st_dev;
	e->c_ino = (uint64_t)sb->st_ino;
	e->c_mtime_ns = ts_ns(&sb->st_mtim);
	e->c_ctime_ns = ts_ns(&sb->st_ctim);
	return 0;
}

/* cache_entry(b, e): a file read whole and unchanged goes to the cache
 * once its ids are known (else encode_tree does it). */
static void
cache_entry(struct bctx *b, struct tree_entry *e)
{
	if (!e->cache_add || e->pending)
		return;
	fcache_add(b->fc, e->c_dev, e->c_ino, e->c_mtime_ns, e->c_ctime_ns,
	    e);
	e->cache_add = false;
}

static uint64_t
link_id(struct bctx *b, dev_t dev, ino_t ino, bool *first)
{
	size_t mask, i;

	*first = false;
	if ((b->nlinks + 1) * 2 > b->linkcap) {
		size_t ncap = b->linkcap ? b->linkcap * 2 : 256;
		struct link_slot *nl;

		if ((nl = coffer_calloc(ncap, sizeof(*nl))) == NULL)
			return 0;
		for (size_t j = 0; j < b->linkcap; j++) {
			if (b->links[j].id == 0)
				continue;
			for (i = ((size_t)b->links[j].ino * 31 +
			    (size_t)b->links[j].dev) & (ncap - 1);
			    nl[i].id != 0; i = (i + 1) & (ncap - 1))
				;
			nl[i] = b->links[j];
		}
		coffer_free(b->links);
		b->links = nl;
		b->linkcap = ncap;
	}
	mask = b->linkcap - 1;
	for (i = ((size_t)ino * 31 + (size_t)dev) & mask; b->links[i].id != 0;
	    i = (i + 1) & mask)
		if (b->links[i].dev == dev && b->links[i].ino == ino)
			return b->links[i].id;
	b->links[i].dev = dev;
	b->links[i].ino = ino;
	b->links[i].id = ++b->next_link;
	b->nlinks++;
	*first = true;
	return b->links[i].id;
}

static void
fill_meta(struct tree_entry *e, const struct stat *sb)
{
	e->mode = sb->st_mode & 07777;
	e->uid = sb->st_uid;
	e->gid = sb->st_gid;
	e->mtime_sec = sb->st_mtim.tv_sec;
	e->mtime_nsec = (uint32_t)sb->st_mtim.tv_nsec;
}

static int store_dir(struct bctx *, int, const char *, bool,
    struct tree_entry *, uint8_t *);
static int put_tree(struct bctx *, struct tree *, struct tree_entry *,
    uint8_t [BLOB_ID_LEN]);

/* Does the directory hold a CACHEDIR.TAG with the standard signature? */
static bool
cache_tagged(int dirfd)
{
	static const char sig[] = "Signature: 8a477f597d28d172789f06886806bc55";
	char buf[sizeof(sig) - 1];
	size_t got = 0;
	int fd;

	if ((fd = openat(dirfd, "CACHEDIR.TAG", O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC | O_NONBLOCK)) == -1)
		return false;
	if (read_full(fd, buf, sizeof(buf), &got) != 0)
		got = 0;
	close(fd);
	return got == sizeof(buf) && memcmp(buf, sig, sizeof(buf)) == 0;
}

/* store_entry's answer for a folder to walk into (its descriptor in *sub). */
#define STORE_DESCEND	3

/*
 * store_entry(b, parentfd, name, path, dtype, e, sub): describe and store
 * the entry ${name} of ${parentfd}.  0: filled in; 1: left out with a
 * warning; 2: left out on purpose; STORE_DESCEND: a folder whose
 * entries are still to be stored, open in *${sub} (the caller's to
 * close): the caller walks it (store_dir), then counts it in ndirs.
 */
static int
store_entry(struct bctx *b, int parentfd, const char *name, const char *path,
    int dtype, struct tree_entry *e, int *sub)
{
	struct stat sb;
	bool given = b->given;
	int fd = -1;
	int r;

	b->given = false;
	/*
	 * One fstatat for every kind: an unchanged regular file is then
	 * taken from the file cache without being opened (${dtype} would
	 * only save that call for folders).
	 */
	(void)dtype;
	if (fstatat(parentfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
		session_warn(b->ctx, "cannot stat '%s': %s; left out", path,
		    strerror(errno));
		return 1;
	}
	fill_meta(e, &sb);
	if (S_ISREG(sb.st_mode)) {
		e->type = NODE_FILE;
		if (b->max_size > 0 && (uint64_t)sb.st_size > b->max_size) {
			b->res->nexcluded++;
			r = 2;		/* left out on purpose: no warning */
			goto out;
		}
		if (sb.st_nlink > 1) {
			bool first;

			if ((e->link_id = link_id(b, sb.st_dev, sb.st_ino,
			    &first)) == 0) {
				r = coffer_err_set(b->err, COFFER_ENOMEM,
				    "hard links");
				goto out;
			}
		}
		if ((uint64_t)sb.st_blocks * 512 < (uint64_t)sb.st_size &&
		    sb.st_size > 0)
			e->flags |= NODE_F_SPARSE;
		if ((r = from_cache(b, &sb, e)) != 0) {
			if (r < 0)
				goto out;
			b->res->nfiles++;
			progress(b, path, false);
			r = 0;
			goto out;
		}
		/*
		 * O_NONBLOCK keeps a FIFO swapped in meanwhile from blocking
		 * us; the descriptor must be the file stat saw.
		 */
		if ((fd = openat(parentfd, name, O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC | O_NONBLOCK | O_NOATIME)) == -1 &&
		    errno == EPERM)
			fd = openat(parentfd, name, O_RDONLY | O_NOFOLLOW |
			    O_CLOEXEC | O_NONBLOCK);
		{
			struct stat fs;

			if (fd == -1 || fstat(fd, &fs) != 0 ||
			    !S_ISREG(fs.st_mode) || fs.st_dev != sb.st_dev ||
			    fs.st_ino != sb.st_ino) {
				session_warn(b->ctx, "cannot read '%s': %s; "
				    "left out", path, fd == -1 ?
				    strerror(errno) : "it changed while being "
				    "read");
				r = 1;
				goto out;
			}
			sb = fs;
		}
		fill_meta(e, &sb);
		if ((r = file_content(b, fd, &sb, e, path)) != 0)
			goto out;
		if ((r = meta_read(b->ctx, fd, e, path,
		    &b->res->nwarnings, b->err)) != 0)
			goto out;
		cache_entry(b, e);
		b->res->nfiles++;
		progress(b, path, false);
	} else if (S_ISDIR(sb.st_mode)) {
		e->type = NODE_DIR;
		if (sb.st_dev == b->repo_dev && sb.st_ino == b->repo_ino) {
			session_warn(b->ctx, "'%s' is the repository itself; "
			    "left out", path);
			return 2;
		}
		if (!given && b->kst_known && sb.st_dev == b->kst_dev &&
		    sb.st_ino == b->kst_ino) {
			b->res->nexcluded++;
			b->res->keystore_excluded = true;
			return 2;
		}
		if ((fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC)) == -1) {
			session_warn(b->ctx, "cannot open directory '%s': %s; "
			    "left out", path, strerror(errno));
			r = 1;
			goto out;
		}
		if ((r = meta_read(b->ctx, fd, e, path,
		    &b->res->nwarnings, b->err)) != 0)
			goto out;
		if (b->one_fs && sb.st_dev != b->top_dev) {
			/* Another file system: the mount point, empty. */
			struct tree none = { 0 };

			r = put_tree(b, &none, e, e->subtree);
			if (r != 0)
				goto out;
		} else {
			/* Walked by the caller, with no C stack per level. */
			*sub = fd;
			return STORE_DESCEND;
		}
		b->res->ndirs++;
	} else if (S_ISLNK(sb.st_mode)) {
		char tgt[TREE_TARGET_MAX];
		ssize_t n;

		e->type = NODE_SYMLINK;
		if ((n = readlinkat(parentfd, name, tgt, sizeof(tgt))) <= 0 ||
		    n >= (ssize_t)sizeof(tgt)) {
			session_warn(b->ctx, "cannot read link '%s'; left out",
			    path);
			return 1;
		}
		if ((e->target = coffer_malloc((size_t)n + 1)) == NULL)
			return coffer_err_set(b->err, COFFER_ENOMEM, "link");
		memcpy(e->target, tgt, (size_t)n);
		e->target[n] = 0;
		e->targetlen = (size_t)n;
		b->res->nother++;
	} else if (S_ISFIFO(sb.st_mode)) {
		e->type = NODE_FIFO;
		b->res->nother++;
	} else if (S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode)) {
		e->type = S_ISCHR(sb.st_mode) ? NODE_CHR : NODE_BLK;
		e->rdev = sb.st_rdev;
		b->res->nother++;
	} else {
		session_warn(b->ctx, "'%s' is a socket; left out", path);
		return 2;
	}
	r = 0;
out:
	if (fd != -1)
		close(fd);
	return r;
}

/*
 * resolve_ids(b, t, from): the entries of ${t} from ${from} on take the
 * ids they wait for out of the arena (the workers are done with them).
 */
static int
resolve_ids(struct bctx *b, struct tree *t, size_t from)
{
	for (size_t i = from; i < t->n; i++) {
		struct tree_entry *e = &t->e[i];

		if (e->sub_pending) {
			memcpy(e->subtree, arena_slot(b, e->sub_slot),
			    BLOB_ID_LEN);
			e->sub_pending = false;
		}
		if (!e->pending)
			continue;
		if ((e->chunks = coffer_malloc(e->nchunks * BLOB_ID_LEN)) == NULL)
			return coffer_err_set(b->err, COFFER_ENOMEM, "chunks");
		for (size_t k = 0; k < e->nchunks; k++)
			memcpy(e->chunks[k], arena_slot(b, e->pending_first + k),
			    BLOB_ID_LEN);
		e->pending = false;
		cache_entry(b, e);
	}
	return 0;
}

/*
 * encode_tree(b, t, id): store the tree blob of ${t}, every id it needs
 * being known; its id goes to ${id}.
 */
static int
encode_tree(struct bctx *b, struct tree *t, uint8_t id[BLOB_ID_LEN])
{
	int r;

	if ((r = resolve_ids(b, t, 0)) != 0)
		return r;
	tree_sort(t);
	return tree_store(b->ks, t, &b->tbuf, id, b->err);
}

/* Release the trees still waiting (after an error). */
static void
defer_release(struct bctx *b)
{
	for (size_t i = 0; i < b->ndefer; i++)
		tree_release(&b->defer[i].t);
	coffer_free(b->defer);
	b->defer = NULL;
	b->ndefer = b->defercap = 0;
}

/*
 * flush_trees(b, rewind): wait for the workers, then store every waiting
 * tree, oldest first, so that each finds the ids of the trees below it in
 * the arena; with ${rewind}, the open trees then take their ids out of
 * the arena and it starts again (arena_rewind).
 */
static int
flush_trees(struct bctx *b, bool rewind)
{
	size_t i;
	int r = 0;

	if (b->ndefer == 0)
		return 0;
	if ((r = keyset_sync(b->ks, b->err)) != 0)
		return r;
	for (i = 0; i < b->ndefer && r == 0; i++) {
		r = encode_tree(b, &b->defer[i].t, arena_slot(b,
		    b->defer[i].slot));
		tree_release(&b->defer[i].t);
	}
	/* On an error, the rest is released with the backup (defer_release). */
	memmove(b->defer, b->defer + i, (b->ndefer - i) * sizeof(*b->defer));
	b->ndefer -= i;
	if (r != 0)
		return r;
	b->defer_entries = 0;
	return rewind ? arena_rewind(b) : 0;
}

/*
 * put_tree(b, t, owner, id): store the tree of ${t} (the directory of
 * entry ${owner}, or the root when NULL); its id goes to ${id}.  A tree
 * whose ids are still being computed by the workers is put aside, ${t}
 * emptied, and its id goes to an arena slot that ${owner} then names:
 * directories do not wait for the workers one by one, only every
 * DEFER_TREES trees or DEFER_ENTRIES entries and for the root.  So at
 * most that many entries wait, whatever the size of the backup, and the
 * arena holds only the ids handed out since the last flush.
 */
static int
put_tree(struct bctx *b, struct tree *t, struct tree_entry *owner,
    uint8_t id[BLOB_ID_LEN])
{
	bool pending = false;
	uint64_t slot;
	int r;

	for (size_t i = 0; i < t->n; i++)
		pending |= t->e[i].pending || t->e[i].sub_pending;
	if (!pending)
		return encode_tree(b, t, id);
	if (b->ndefer == b->defercap) {
		size_t ncap = b->defercap ? 2 * b->defercap : 64;
		struct deferred *nd;

		if ((nd = coffer_realloc(b->defer, ncap * sizeof(*nd))) == NULL)
			return coffer_err_set(b->err, COFFER_ENOMEM, "trees");
		b->defer = nd;
		b->defercap = ncap;
	}
	if ((r = arena_take(b, &slot)) != 0)
		return r;
	b->defer[b->ndefer].t = *t;
	b->defer[b->ndefer].slot = slot;
	b->ndefer++;
	b->defer_entries += t->n;
	memset(t, 0, sizeof(*t));
	if (owner != NULL) {
		owner->sub_pending = true;
		owner->sub_slot = slot;
	}
	if (owner == NULL) {
		/* The root: its id is read before the arena starts again. */
		if ((r = flush_trees(b, false)) != 0)
			return r;
		memcpy(id, arena_slot(b, slot), BLOB_ID_LEN);
		return arena_rewind(b);
	}
	if (b->ndefer >= DEFER_TREES || b->defer_entries >= DEFER_ENTRIES)
		return flush_trees(b, true);
	return 0;
}

static int
cmp_name(const void *x, const void *y)
{
	/* Skip the d_type byte in front of each name. */
	return strcmp(*(char *const *)x + 1, *(char *const *)y + 1);
}

/*
 * The walk: one heap frame per folder on the way down (struct wframe in
 * a struct wstack), none on the C stack, so that any depth fits in any
 * stack.  A frame holds its folder's names (read and sorted when it is
 * entered, the listing closed at once), the index of the next one, the
 * tree being built and the entry of the parent that will name it.  Only
 * the top frame and the WALK_FDS deepest keep their folder open; a frame
 * in between is reopened when the walk climbs back to it, through ".."
 * of the folder below, and must be the same folder (device and inode)
 * or be found again from the nearest open frame above, name by name.
 * The path is one heap buffer, frame k's being its first plen bytes.
 */
#ifndef WALK_FDS
#define WALK_FDS	16		/* open folders per walk, at most */
#endif
#define WALK_PATH_MAX	(16u << 20)	/* longer paths are left out */

struct wframe {
	int		 fd;		/* -1: closed, reopened on the way up */
	bool		 own;		/* fd is the walk's to close */
	bool		 lost;		/* not found again: rest left out */
	dev_t		 dev;
	ino_t		 ino;
	char		**names;	/* byte 0: d_type; the name follows */
	size_t		 nnames, next;
	size_t		 plen;		/* its path: ws->path[0..plen) */
	/* The backup's: the tree being built, where its id goes. */
	struct tree	 t;
	size_t		 resolved;	/* entries before it hold no slot */
	struct tree_entry *owner;
	uint8_t		*id;
	bool		 tagged;
};

struct wstack {
	struct wframe	*f;
	size_t		 n, cap;
	char		*path;
	size_t		 pcap;
};

static void
wframe_release(struct wframe *f)
{
	if (f->own && f->fd != -1)
		close(f->fd);
	f->fd = -1;
	strlist_free(f->names, f->nnames);
	f->names = NULL;
	tree_release(&f->t);
}

static void
wstack_release(struct wstack *ws)
{
	while (ws->n > 0)
		wframe_release(&ws->f[--ws->n]);
	coffer_free(ws->f);
	coffer_free(ws->path);
	memset(ws, 0, sizeof(*ws));
}

/*
 * wstack_path(ws, plen, name, nlen): the path becomes its first ${plen}
 * bytes, '/' and ${name} (${plen} 0 and a NULL name: ${name} alone).
 * -1 if longer than WALK_PATH_MAX or out of memory.
 */
static int
wstack_path(struct wstack *ws, size_t plen, const char *name, size_t nlen,
    bool slash)
{
	size_t need = plen + (slash ? 1 : 0) + nlen + 1;

	if (need > WALK_PATH_MAX)
		return -1;
	if (need > ws->pcap) {
		size_t ncap = ws->pcap ? ws->pcap : 256;
		char *np;

		while (ncap < need)
			ncap *= 2;
		if ((np = coffer_realloc(ws->path, ncap)) == NULL)
			return -1;
		ws->path = np;
		ws->pcap = ncap;
	}
	if (slash)
		ws->path[plen++] = '/';
	memcpy(ws->path + plen, name, nlen);
	ws->path[plen + nlen] = '\0';
	return 0;
}

/*
 * read_names(ctx, fd, path, &names, &n, warn): the sorted names of the
 * folder ${fd} (not "." and ".."), each behind its d_type byte.  The
 * listing uses its own descriptor, closed before returning.  A listing
 * cut short by an error is warned about (when ${warn}) and counted in
 * *${warn}.  -1: cannot list it at all (errno); -2: out of memory.
 */
static int
read_names(const struct coffer_ctx *ctx, int fd, const char *path,
    char ***out, size_t *nout, uint64_t *warn)
{
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	DIR *d = NULL;
	int fd2;
	int r;

	*out = NULL;
	*nout = 0;
	if ((fd2 = dup(fd)) == -1 || (d = fdopendir(fd2)) == NULL) {
		if (fd2 != -1)
			close(fd2);
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		size_t len;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			char **nn;

			cap = cap ? cap * 2 : 32;
			if ((nn = coffer_realloc(names, cap * sizeof(*nn))) == NULL)
				goto oom;
			names = nn;
		}
		/* Byte 0 carries d_type; the name follows. */
		len = strlen(de->d_name);
		if ((names[n] = coffer_malloc(len + 2)) == NULL)
			goto oom;
		names[n][0] = (char)de->d_type;
		memcpy(names[n] + 1, de->d_name, len + 1);
		n++;
	}
	if (errno != 0 && warn != NULL) {
		session_warn(ctx, "cannot list all of '%s': %s; some "
		    "entries left out", path, strerror(errno));
		(*warn)++;
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_name);
	*out = names;
	*nout = n;
	return 0;
oom:
	r = errno;
	closedir(d);
	strlist_free(names, n);
	errno = r;
	return -2;
}

/*
 * wstack_push(b, ws, fd, own, plen, warn): a frame for the folder open
 * in ${fd} (the walk's to close if ${own}, also on failure), whose path
 * is the first ${plen} bytes of ws->path; its names are read now.  -1:
 * it cannot be listed (errno); -2: out of memory.  Deeper than
 * WALK_FDS, the frame WALK_FDS above it is closed.
 */
static int
wstack_push(struct bctx *b, struct wstack *ws, int fd, bool own, size_t plen,
    bool warn)
{
	struct wframe *f;
	struct stat sb;
	int r;

	if (ws->n == ws->cap) {
		size_t ncap = ws->cap ? 2 * ws->cap : 64;
		struct wframe *nf;

		if ((nf = coffer_realloc(ws->f, ncap * sizeof(*nf))) == NULL) {
			r = -2;
			goto fail;
		}
		ws->f = nf;
		ws->cap = ncap;
	}
	if (fstat(fd, &sb) != 0) {
		r = -1;
		goto fail;
	}
	f = &ws->f[ws->n];
	memset(f, 0, sizeof(*f));
	f->fd = fd;
	f->own = own;
	f->dev = sb.st_dev;
	f->ino = sb.st_ino;
	f->plen = plen;
	ws->path[plen] = '\0';
	if ((r = read_names(b->ctx, fd, ws->path, &f->names, &f->nnames,
	    warn ? &b->res->nwarnings : NULL)) != 0)
		goto fail;
	ws->n++;
	if (ws->n > WALK_FDS + 1 && ws->f[ws->n - 1 - WALK_FDS].own) {
		struct wframe *old = &ws->f[ws->n - 1 - WALK_FDS];

		if (old->fd != -1)
			close(old->fd);
		old->fd = -1;
	}
	return 0;
fail:
	if (own) {
		int e = errno;

		close(fd);
		errno = e;
	}
	return r;
}

/* Is ${fd} the folder of frame ${f}?  Closes ${fd} if not. */
static bool
same_dir(const struct wframe *f, int fd)
{
	struct stat sb;

	if (fd == -1)
		return false;
	if (fstat(fd, &sb) == 0 && sb.st_dev == f->dev && sb.st_ino == f->ino)
		return true;
	close(fd);
	return false;
}

/*
 * wstack_reopen(ws, k, below): open frame ${k} again, through ".." of
 * ${below} (the folder below it, -1 if none), else from the nearest
 * open frame above, name by name; every step must be the folder seen
 * on the way down.  false: not found again (moved meanwhile).
 */
static bool
wstack_reopen(struct wstack *ws, size_t k, int below)
{
	size_t j;
	int fd;

	fd = below == -1 ? -1 : openat(below, "..", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	if (same_dir(&ws->f[k], fd)) {
		ws->f[k].fd = fd;
		return true;
	}
	for (j = k; j > 0 && ws->f[j].fd == -1; j--)
		;
	if (ws->f[j].fd == -1)
		return false;
	fd = ws->f[j].fd;
	for (size_t m = j + 1; m <= k; m++) {
		const struct wframe *f = &ws->f[m];
		size_t start = ws->f[m - 1].plen + 1;
		char *name;
		int nfd;

		/* Frame m's name: its path after its parent's. */
		if ((name = coffer_malloc(f->plen - start + 1)) == NULL)
			nfd = -1;
		else {
			memcpy(name, ws->path + start, f->plen - start);
			name[f->plen - start] = '\0';
			nfd = openat(fd, name, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			coffer_free(name);
		}
		if (fd != ws->f[j].fd)
			close(fd);
		if (!same_dir(f, nfd))
			return false;
		fd = nfd;
	}
	ws->f[k].fd = fd;
	return true;
}

/*
 * wstack_pop(b, ws): drop the deepest frame; its parent, if any, is
 * open again afterwards, or marked lost (warned: its other entries are
 * left out).
 */
static void
wstack_pop(struct bctx *b, struct wstack *ws, bool warn)
{
	struct wframe *f = &ws->f[ws->n - 1];
	struct wframe *up = ws->n > 1 ? &ws->f[ws->n - 2] : NULL;

	if (up != NULL && up->fd == -1 && !up->lost &&
	    !wstack_reopen(ws, ws->n - 2, f->fd)) {
		up->lost = true;	/* its other entries are skipped */
		if (warn) {
			ws->path[up->plen] = '\0';
			session_warn(b->ctx, "'%s' moved during the backup; "
			    "the rest of it is left out", up->plen ? ws->path :
			    "/");
			b->res->nwarnings++;
		}
	}
	wframe_release(f);
	ws->n--;
}

/*
 * store_dir(b, dirfd, path, tagged, owner, id): every entry of ${dirfd}
 * that is not excluded, and all below, as trees; a ${tagged} cache
 * folder keeps only its tag.  The tree's id goes to ${id} (put_tree,
 * for ${owner}).  ${dirfd} stays the caller's.
 */
static int
store_dir(struct bctx *b, int dirfd, const char *path, bool tagged,
    struct tree_entry *owner, uint8_t *id)
{
	struct wstack ws = { 0 };
	size_t len = strlen(path);
	int r;

	if (wstack_path(&ws, 0, path, len, false) != 0) {
		r = coffer_err_set(b->err, COFFER_ENOMEM, "paths");
		goto out;
	}
	if ((r = wstack_push(b, &ws, dirfd, false, len, true)) != 0) {
		r = r == -2 ? coffer_err_set(b->err, COFFER_ENOMEM, "reading "
		    "'%s'", path) : coffer_err_sys(b->err, "cannot read "
		    "directory '%s'", path);
		goto out;
	}
	ws.f[0].tagged = tagged;
	ws.f[0].owner = owner;
	ws.f[0].id = id;
	b->ws = &ws;
	while (ws.n > 0) {
		struct wframe *f = &ws.f[ws.n - 1];
		struct tree_entry *e;
		const char *nm;
		int sub = -1;

		if (f->next == f->nnames || f->lost) {
			/* The folder is done: its tree, then its entry. */
			if ((r = put_tree(b, &f->t, f->owner, f->id)) != 0)
				goto out;
			wstack_pop(b, &ws, true);
			if (ws.n == 0)
				break;
			f = &ws.f[ws.n - 1];
			b->res->ndirs++;
			e = &f->t.e[f->t.n - 1];
			nm = f->names[f->next - 1] + 1;
			e->namelen = strlen(nm);
			if ((e->name = (uint8_t *)coffer_strdup(nm)) == NULL)
				goto oom;
			continue;
		}
		nm = f->names[f->next++] + 1;
		if (wstack_path(&ws, f->plen, nm, strlen(nm), true) != 0) {
			ws.path[f->plen] = '\0';
			session_warn(b->ctx, "a path under '%s' is longer than "
			    "%u bytes; '%s' left out", ws.path, WALK_PATH_MAX,
			    nm);
			b->res->nwarnings++;
			continue;
		}
		if (f->tagged && strcmp(nm, "CACHEDIR.TAG") != 0) {
			b->res->nexcluded++;
			continue;
		}
		if (b->excl != NULL) {
			/* The d_type byte in front of the name. */
			unsigned char dt = (unsigned char)nm[-1];
			struct stat xs;
			bool isdir = dt == DT_DIR;

			if (dt == DT_UNKNOWN && fstatat(f->fd, nm, &xs,
			    AT_SYMLINK_NOFOLLOW) == 0)
				isdir = S_ISDIR(xs.st_mode);
			if (excl_match(b->excl, excl_stored(ws.path), isdir)) {
				b->res->nexcluded++;
				continue;
			}
		}
		if ((e = tree_add(&f->t)) == NULL)
			goto oom;
		r = store_entry(b, f->fd, nm, ws.path,
		    (unsigned char)f->names[f->next - 1][0], e, &sub);
		if (r == STORE_DESCEND) {
			size_t plen = f->plen + 1 + strlen(nm);
			bool tg = b->excl_caches && cache_tagged(sub);

			if ((r = wstack_push(b, &ws, sub, true, plen,
			    true)) != 0) {
				r = r == -2 ? coffer_err_set(b->err,
				    COFFER_ENOMEM, "reading '%s'", ws.path) :
				    coffer_err_sys(b->err, "cannot read "
				    "directory '%s'", ws.path);
				goto out;
			}
			f = &ws.f[ws.n - 1];
			f->tagged = tg;
			f->owner = e;
			f->id = e->subtree;
			continue;
		}
		if (r != 0) {
			tree_entry_release(e);
			f->t.n--;
			if (r < 0)
				goto out;
			if (r == 1)
				b->res->nwarnings++;
			continue;
		}
		e->namelen = strlen(nm);
		if ((e->name = (uint8_t *)coffer_strdup(nm)) == NULL)
			goto oom;
	}
	r = 0;
	goto out;
oom:
	r = coffer_err_set(b->err, COFFER_ENOMEM, "reading '%s'", path);
out:
	b->ws = NULL;
	wstack_release(&ws);
	return r;
}

/* ---- the paths the user gave ---- */

/*
 * vnode_release(v): free everything below ${v} and its own strings,
 * deepest last kid first: no recursion (a given path can have
 * thousands of components) and no memory needed.
 */
static void
vnode_release(struct vnode *v)
{
	while (v->nkids > 0) {
		struct vnode *p = v, *k;

		for (;;) {
			k = &p->kids[p->nkids - 1];
			if (k->nkids == 0)
				break;
			p = k;
		}
		coffer_free(k->kids);
		coffer_free(k->name);
		coffer_free(k->src);
		if (--p->nkids == 0) {
			coffer_free(p->kids);
			p->kids = NULL;
		}
	}
	coffer_free(v->kids);
	coffer_free(v->name);
	coffer_free(v->src);
	memset(v, 0, sizeof(*v));
}

static struct vnode *
vnode_child(struct vnode *v, const char *name, size_t len)
{
	struct vnode *nk;

	for (size_t i = 0; i < v->nkids; i++)
		if (strlen(v->kids[i].name) == len &&
		    memcmp(v->kids[i].name, name, len) == 0)
			return &v->kids[i];
	if ((nk = coffer_realloc(v->kids, (v->nkids + 1) * sizeof(*nk))) == NULL)
		return NULL;
	v->kids = nk;
	nk = &v->kids[v->nkids];
	memset(nk, 0, sizeof(*nk));
	if ((nk->name = coffer_malloc(len + 1)) == NULL)
		return NULL;
	memcpy(nk->name, name, len);
	nk->name[len] = '\0';
	v->nkids++;
	return nk;
}

/*
 * add_path(root, given, stored, err): split ${given} into components,
 * drop leading '/' and "../" (tar's rule) and "." components, refuse ".."
 * elsewhere; add it under ${root}.  ${stored} gets the stored path.
 */
static int
add_path(struct vnode *root, const char *given, char *stored, size_t cap,
    struct coffer_err *err)
{
	struct vnode *v = root;
	const char *p = given;
	bool lead = true;
	size_t slen = 0;

	stored[0] = '\0';
	while (*p != '\0') {
		const char *q = p;
		size_t len;

		while (*q != '\0' && *q != '/')
			q++;
		len = (size_t)(q - p);
		if (len == 0 || (len == 1 && p[0] == '.')) {
			/* skip */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (!lead)
				return coffer_err_set(err, COFFER_EINVAL,
				    "path '%s' has '..' inside; give it "
				    "without", given);
		} else {
			lead = false;
			if (v->real)
				return 0;	/* already covered by a parent */
			if ((v = vnode_child(v, p, len)) == NULL)
				return coffer_err_set(err, COFFER_ENOMEM,
				    "paths");
			if (v->src == NULL) {
				size_t n = (size_t)(q - given);

				if ((v->src = coffer_malloc(n + 1)) == NULL)
					return coffer_err_set(err,
					    COFFER_ENOMEM, "paths");
				memcpy(v->src, given, n);
				v->src[n] = '\0';
			}
			if (slen + len + 2 > cap)
				return coffer_err_set(err, COFFER_EINVAL,
				    "path '%s' is too long", given);
			if (slen > 0)
				stored[slen++] = '/';
			memcpy(stored + slen, p, len);
			slen += len;
			stored[slen] = '\0';
		}
		p = *q ? q + 1 : q;
	}
	if (v == root) {
		/* "." or "/": its contents become the snapshot's top level. */
		if (root->src == NULL &&
		    (root->src = coffer_strdup(given)) == NULL)
			return coffer_err_set(err, COFFER_ENOMEM, "paths");
		snprintf(stored, cap, "%s", given[0] == '/' ? "/" : ".");
	}
	/* A given path covers everything below it. */
	for (size_t i = 0; i < v->nkids; i++)
		vnode_release(&v->kids[i]);
	coffer_free(v->kids);
	v->kids = NULL;
	v->nkids = 0;
	v->real = true;
	return 0;
}

/*
 * store_given(b, k, e): the path ${k} given by the user, into ${e}: 0,
 * 1 (left out, warned), 2 (left out on purpose) or < 0.
 */
static int
store_given(struct bctx *b, struct vnode *k, struct tree_entry *e)
{
	char *slash = strrchr(k->src, '/');
	char *dir = NULL;
	int dfd, sub = -1;
	int r;

	/* Open the parent, then take the entry as-is (lstat). */
	if (slash == NULL) {
		dfd = AT_FDCWD;
	} else {
		size_t n = (size_t)(slash - k->src);

		if ((dir = coffer_malloc(n + 2)) == NULL)
			return coffer_err_set(b->err, COFFER_ENOMEM, "paths");
		memcpy(dir, k->src, n);
		if (n == 0)
			dir[n++] = '/';
		dir[n] = '\0';
		if ((dfd = open(dir, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) == -1) {
			r = coffer_err_sys(b->err, "cannot open '%s'", dir);
			coffer_free(dir);
			return r;
		}
	}
	{
		struct stat ts;

		/* --one-file-system: the given path's device. */
		if (lstat(k->src, &ts) == 0)
			b->top_dev = ts.st_dev;
	}
	b->given = true;
	r = store_entry(b, dfd, slash ? slash + 1 : k->src, k->src, DT_UNKNOWN,
	    e, &sub);
	if (r == STORE_DESCEND) {
		r = store_dir(b, sub, k->src, b->excl_caches &&
		    cache_tagged(sub), e, e->subtree);
		close(sub);
		if (r == 0)
			b->res->ndirs++;
	}
	if (dfd != AT_FDCWD)
		close(dfd);
	coffer_free(dir);
	return r;
}

/*
 * store_vnode(b, root, t): the given paths below ${root} into ${t}, and
 * the folders above them with their own metadata.  One heap frame per
 * level of ${root} (a given path can have thousands of components).
 */
struct vframe {
	struct vnode		*v;
	size_t			 i;		/* next kid */
	struct tree		 t;
	size_t			 resolved;	/* as in struct wframe */
	struct tree_entry	*owner;		/* v's entry in the parent */
};

/*
 * resolve_open(b, t, resolved): arena_rewind for one open tree.  Its last
 * entry is looked at again next time: it may be a folder still walked,
 * whose id goes to a slot when it is done.
 */
static int
resolve_open(struct bctx *b, struct tree *t, size_t *resolved)
{
	int r;

	if ((r = resolve_ids(b, t, *resolved)) != 0)
		return r;
	*resolved = t->n > 0 ? t->n - 1 : 0;
	return 0;
}

/*
 * arena_rewind(b): after a flush (the workers are done), every open tree
 * takes the ids its entries wait for out of the arena, which then starts
 * again from slot 0 and gives back all but ARENA_KEEP blocks: its size
 * follows what is waiting, not the size of the backup.
 */
static int
arena_rewind(struct bctx *b)
{
	int r;

	for (size_t i = 0; b->ws != NULL && i < b->ws->n; i++)
		if ((r = resolve_open(b, &b->ws->f[i].t,
		    &b->ws->f[i].resolved)) != 0)
			return r;
	for (size_t i = 0; i < b->nvf; i++)
		if ((r = resolve_open(b, &b->vf[i].t, &b->vf[i].resolved)) != 0)
			return r;
	b->arena_n = 0;
	while (b->narena > ARENA_KEEP)
		coffer_free(b->arena[--b->narena]);
	return 0;
}

static int
store_vnode(struct bctx *b, struct vnode *root, struct tree *t)
{
	struct vframe *fs = NULL;
	size_t n = 0, cap = 0;
	int r;

	if ((fs = coffer_malloc((cap = 16) * sizeof(*fs))) == NULL)
		return coffer_err_set(b->err, COFFER_ENOMEM, "paths");
	fs[n++] = (struct vframe){ .v = root, .t = *t };
	memset(t, 0, sizeof(*t));
	while (n > 0) {
		struct vframe *f = &fs[n - 1];
		struct tree_entry *e;
		struct vnode *k;
		struct stat sb;

		b->vf = fs;	/* for arena_rewind */
		b->nvf = n;
		if (f->i == f->v->nkids) {
			if (n == 1)
				break;
			/* A folder above given paths is done. */
			e = f->owner;
			r = put_tree(b, &f->t, e, e->subtree);
			tree_release(&f->t);
			n--;
			if (r != 0)
				goto out;
			b->res->ndirs++;
			k = f->v;
			goto named;
		}
		k = &f->v->kids[f->i++];
		if ((e = tree_add(&f->t)) == NULL) {
			r = coffer_err_set(b->err, COFFER_ENOMEM, "tree");
			goto out;
		}
		if (k->real) {
			if ((r = store_given(b, k, e)) != 0) {
				tree_entry_release(e);
				f->t.n--;
				if (r < 0)
					goto out;
				if (r == 1)
					b->res->nwarnings++;
				continue;
			}
			goto named;
		}
		/* A directory above a given path: its own metadata. */
		if (stat(k->src, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
			tree_entry_release(e);
			f->t.n--;
			r = coffer_err_sys(b->err, "cannot stat '%s'", k->src);
			goto out;
		}
		e->type = NODE_DIR;
		fill_meta(e, &sb);
		if (n == cap) {
			struct vframe *nf;

			if ((nf = coffer_realloc(fs, 2 * cap * sizeof(*nf))) ==
			    NULL) {
				r = coffer_err_set(b->err, COFFER_ENOMEM,
				    "paths");
				goto out;
			}
			fs = nf;
			cap *= 2;
		}
		fs[n++] = (struct vframe){ .v = k, .owner = e };
		continue;
named:
		/* ${e}, in the frame now on top, is the entry of ${k}. */
		e->namelen = strlen(k->name);
		if ((e->name = (uint8_t *)coffer_strdup(k->name)) == NULL) {
			r = coffer_err_set(b->err, COFFER_ENOMEM, "tree");
			goto out;
		}
	}
	r = 0;
out:
	b->vf = NULL;
	b->nvf = 0;
	/* The top tree goes back to the caller, also after an error. */
	*t = fs[0].t;
	for (size_t i = 1; i < n; i++)
		tree_release(&fs[i].t);
	coffer_free(fs);
	return r;
}

static int
store_stdin(struct bctx *b, const char *name, struct tree *t)
{
	struct tree_entry *e;
	struct timespec now;
	int r;

	if ((e = tree_add(t)) == NULL)
		return coffer_err_set(b->err, COFFER_ENOMEM, "tree");
	clock_gettime(CLOCK_REALTIME, &now);
	e->type = NODE_FILE;
	e->mode = 0600;
	e->uid = geteuid();
	e->gid = getegid();
	e->mtime_sec = now.tv_sec;
	e->mtime_nsec = (uint32_t)now.tv_nsec;
	if ((r = read_content(b, STDIN_FILENO, UINT64_MAX, false, e,
	    "standard input")) != 0)
		return r < 0 ? r : coffer_err_set(b->err, COFFER_EIO,
		    "cannot read standard input");
	e->namelen = strlen(name);
	if ((e->name = (uint8_t *)coffer_strdup(name)) == NULL)
		return coffer_err_set(b->err, COFFER_ENOMEM, "tree");
	b->res->nfiles++;
	return 0;
}

/* ---- naming ---- */

static int
pick_name(struct session *s, time_t when, char name[SNAPSHOT_NAME_MAX],
    struct coffer_err *err)
{
	struct snapshot *v = NULL;
	size_t n = 0;
	int r;

	if ((r = repo_list_snapshots(s->repo, &v, &n, err)) != 0)
		return r;
	if (s->repo->name_by == NAME_BY_COUNT) {
		uint64_t max = 0, x;

		for (size_t i = 0; i < n; i++)
			if (parse_u64(v[i].name, &x) == 0 && x > max)
				max = x;
		snprintf(name, SNAPSHOT_NAME_MAX, "%llu",
		    (unsigned long long)max + 1);
	} else {
		char base[32];
		struct tm tm;

		gmtime_r(&when, &tm);
		strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%SZ", &tm);
		snprintf(name, SNAPSHOT_NAME_MAX, "%s", base);
		/* Two backups in one second: base, base-2, base-3, ... */
		for (unsigned k = 2; ; k++) {
			bool taken = false;

			for (size_t i = 0; i < n; i++)
				if (strcmp(v[i].name, name) == 0)
					taken = true;
			if (!taken)
				break;
			snprintf(name, SNAPSHOT_NAME_MAX, "%s-%u", base, k);
		}
	}
	snapshot_list_free(v, n);
	return 0;
}

/* ---- counting what there is, for the progress totals ---- */

struct scan {
	struct bctx	*b;
	struct vnode	*root;
};

static void
scan_add(struct bctx *b, uint64_t bytes)
{
	pthread_mutex_lock(&b->scan_mu);
	b->scan_files++;
	b->scan_bytes += bytes;
	pthread_mutex_unlock(&b->scan_mu);
}

/*
 * Count regular files below ${dfd} (stat only, same excludes), with the
 * walk's heap frames; ${dfd} is closed.  Nothing is warned about here:
 * the walk itself does that.
 */
static void
scan_dir(struct bctx *b, int dfd, const char *path)
{
	struct wstack ws = { 0 };
	size_t len = strlen(path);

	if (wstack_path(&ws, 0, path, len, false) != 0) {
		close(dfd);
		goto out;
	}
	if (wstack_push(b, &ws, dfd, true, len, false) != 0)
		goto out;
	while (ws.n > 0 && !__atomic_load_n(&b->scan_stop, __ATOMIC_RELAXED)) {
		struct wframe *f = &ws.f[ws.n - 1];
		struct stat sb;
		const char *nm;
		size_t n;

		if (f->next == f->nnames || f->lost) {
			wstack_pop(b, &ws, false);
			continue;
		}
		nm = f->names[f->next++] + 1;
		n = strlen(nm);
		if (wstack_path(&ws, f->plen, nm, n, true) != 0)
			continue;
		if (fstatat(f->fd, nm, &sb, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (b->kst_known && sb.st_dev == b->kst_dev &&
		    sb.st_ino == b->kst_ino)
			continue;
		if (b->excl != NULL && excl_match(b->excl,
		    excl_stored(ws.path), S_ISDIR(sb.st_mode)))
			continue;
		if (S_ISREG(sb.st_mode)) {
			if (b->max_size == 0 || (uint64_t)sb.st_size <= b->max_size)
				scan_add(b, (uint64_t)sb.st_size);
		} else if (S_ISDIR(sb.st_mode)) {
			int fd = openat(f->fd, nm, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);

			if (fd != -1)
				(void)wstack_push(b, &ws, fd, true,
				    f->plen + 1 + n, false);
		}
	}
out:
	wstack_release(&ws);
}

static void
scan_path(struct bctx *b, const char *src)
{
	struct stat sb;
	int fd;

	if (lstat(src, &sb) != 0)
		return;
	if (S_ISREG(sb.st_mode)) {
		scan_add(b, (uint64_t)sb.st_size);
		return;
	}
	if (!S_ISDIR(sb.st_mode) || (fd = open(src, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		return;
	scan_dir(b, fd, src);
}

/* scan_vnode(b, v): count below every path given under ${v}. */
static void
scan_vnode(struct bctx *b, const struct vnode *v)
{
	struct sframe {
		const struct vnode	*v;
		size_t			 i;
	} *fs;
	size_t n = 0, cap = 16;

	/* Out of memory: no totals, only the progress counts. */
	if ((fs = coffer_malloc(cap * sizeof(*fs))) == NULL)
		return;
	fs[n++] = (struct sframe){ v, 0 };
	while (n > 0 && !__atomic_load_n(&b->scan_stop, __ATOMIC_RELAXED)) {
		struct sframe *f = &fs[n - 1];
		const struct vnode *k;

		if (f->i == f->v->nkids) {
			n--;
			continue;
		}
		k = &f->v->kids[f->i++];
		if (k->real) {
			scan_path(b, k->src);
			continue;
		}
		if (n == cap) {
			struct sframe *nf;

			if ((nf = coffer_realloc(fs, 2 * cap * sizeof(*nf))) ==
			    NULL)
				break;
			fs = nf;
			cap *= 2;
		}
		fs[n++] = (struct sframe){ k, 0 };
	}
	coffer_free(fs);
}

static void *
scanner(void *arg)
{
	struct scan *sc = arg;

	if (sc->root->real)
		scan_path(sc->b, sc->root->src);
	else
		scan_vnode(sc->b, sc->root);
	pthread_mutex_lock(&sc->b->scan_mu);
	sc->b->scan_done = !__atomic_load_n(&sc->b->scan_stop,
	    __ATOMIC_RELAXED);
	pthread_mutex_unlock(&sc->b->scan_mu);
	return NULL;
}

int
coffer_backup(const struct coffer_ctx *ctx,
    const struct coffer_backup_opts *opts, struct coffer_backup_result *res,
    struct coffer_err *err)
{
	struct session s;
	struct bctx b;
	struct vnode root = { 0 };
	struct tree top = { 0 };
	struct snapshot snap;
	struct timespec now;
	struct stat sb;
	char **stored = NULL;
	size_t nstored = 0;
	char host[256] = "";
	struct passwd *pw;
	size_t cmin, cavg, cmax;
	int scope, period, custody;
	struct scan sc;
	pthread_t scan_th;
	bool scan_started = false;
	int r;

	memset(res, 0, sizeof(*res));
	memset(&b, 0, sizeof(b));
	memset(&snap, 0, sizeof(snap));
	pthread_mutex_init(&b.scan_mu, NULL);
	clock_gettime(CLOCK_REALTIME, &now);
	if (!opts->use_stdin && opts->npaths == 0)
		return coffer_err_set(err, COFFER_EINVAL, "nothing to back up");
	if (opts->use_stdin && (opts->stdin_name == NULL ||
	    *opts->stdin_name == '\0' || strchr(opts->stdin_name, '/') ||
	    strcmp(opts->stdin_name, ".") == 0 ||
	    strcmp(opts->stdin_name, "..") == 0))
		return coffer_err_set(err, COFFER_EINVAL, "--stdin-name must "
		    "be a plain file name");
	/* Every given path must exist: a typo is an error, not a warning. */
	if ((stored = coffer_calloc(opts->npaths + 1, sizeof(char *))) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "paths");
	for (size_t i = 0; i < opts->npaths; i++) {
		char buf[8192];

		if (lstat(opts->paths[i], &sb) != 0) {
			r = coffer_err_sys(err, "cannot back up '%s'",
			    opts->paths[i]);
			goto out;
		}
		if ((r = add_path(&root, opts->paths[i], buf, sizeof(buf),
		    err)) != 0)
			goto out;
		if ((stored[nstored] = coffer_strdup(buf)) == NULL) {
			r = coffer_err_set(err, COFFER_ENOMEM, "paths");
			goto out;
		}
		nstored++;
	}
	if (opts->use_stdin &&
	    (stored[nstored++] = coffer_strdup(opts->stdin_name)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "paths");
		goto out;
	}
	if ((r = tags_make(opts->tags, opts->ntags, &snap.tags, &snap.ntags,
	    err)) != 0)
		goto out;
	if ((r = session_open(ctx, REPO_LOCK_APPEND, true, &s, err)) != 0)
		goto out;
	b.ctx = ctx;
	b.err = err;
	b.res = res;
	b.lock = s.lock;
	b.excl_caches = opts->exclude_caches;
	b.max_size = opts->exclude_larger_than;
	b.one_fs = opts->one_file_system;
	if (opts->nexcludes > 0 || opts->nexclude_files > 0) {
		if ((b.excl = excl_new()) == NULL) {
			r = coffer_err_set(err, COFFER_ENOMEM, "patterns");
			goto close;
		}
		for (size_t i = 0; i < opts->nexcludes; i++)
			if ((r = excl_add(b.excl, opts->excludes[i], err)) != 0)
				goto close;
		for (size_t i = 0; i < opts->nexclude_files; i++)
			if ((r = excl_add_file(b.excl, opts->exclude_files[i],
			    err)) != 0)
				goto close;
	}
	if (fstat(s.repo->dirfd, &sb) == 0) {
		b.repo_dev = sb.st_dev;
		b.repo_ino = sb.st_ino;
	}
	{
		char ksdir[4096];

		if ((s.kst != NULL && stat(keystore_dir(s.kst), &sb) == 0) ||
		    (s.kst == NULL && session_keystore_dir(ctx, ksdir,
		    sizeof(ksdir), NULL) == 0 && stat(ksdir, &sb) == 0)) {
			b.kst_dev = sb.st_dev;
			b.kst_ino = sb.st_ino;
			b.kst_known = true;
		}
	}
	scope = opts->scope != COFFER_SCOPE_DEFAULT ? opts->scope :
	    s.repo->scope;
	period = opts->period != COFFER_PERIOD_DEFAULT ? opts->period :
	    s.repo->period;
	custody = opts->custody != COFFER_CUSTODY_DEFAULT ? opts->custody :
	    s.repo->custody;
	if ((r = session_target(&s, scope, period, custody, now.tv_sec, &b.ks,
	    err)) != 0)
		goto close;
	/* Totals for the progress line, counted alongside (stat only). */
	if (ctx->progress != NULL && !opts->use_stdin) {
		sc.b = &b;
		sc.root = &root;
		scan_started = pthread_create(&scan_th, NULL, scanner, &sc) == 0;
	}
	keyset_clear_tmp(b.ks);
	{
		struct resume_stats rs;

		if ((r = keyset_resume(b.ks, ctx->stop, &rs, err)) != 0)
			goto close;
		res->resumed = rs.bytes;
		if (rs.refused > 0)
			session_warn(ctx, "key set %s: %llu pack%s that no "
			    "index names did not authenticate (damaged, or not "
			    "of this key set) and %s not taken over; 'coffer "
			    "prune' deletes %s", keyset_idhex(b.ks),
			    (unsigned long long)rs.refused,
			    rs.refused == 1 ? "" : "s",
			    rs.refused == 1 ? "was" : "were",
			    rs.refused == 1 ? "it" : "them");
	}
	{
		char cpath[4200];
		uint8_t ckey[KEY_LEN];

		snprintf(cpath, sizeof(cpath), "%s/cache/%s.cache",
		    keystore_dir(s.kst), keyset_idhex(b.ks));
		keyset_aux_key(b.ks, "cofcache", ckey);
		if (fcache_open(cpath, ckey, &b.fc) != 0)
			b.fc = NULL;	/* out of memory: read everything */
		secret_wipe(ckey, sizeof(ckey));
	}
	keyset_chunker_params(b.ks, &cmin, &cavg, &cmax);
	wbuf_init(&b.tbuf, BLOB_MAX);
	if ((b.rbuf = coffer_malloc(READ_BUF)) == NULL ||
	    (b.ch = chunker_new(cmin, cavg, cmax, keyset_chunker_key(b.ks),
	    chunk_cb, &b)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "backup buffers");
		goto close;
	}
	chunker_set_zero_cb(b.ch, zero_chunk_cb);
	if (opts->use_stdin) {
		r = store_stdin(&b, opts->stdin_name, &top);
		if (r == 0)
			r = put_tree(&b, &top, NULL, snap.tree);
	} else if (root.real) {
		int dfd = open(root.src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd == -1) {
			r = coffer_err_sys(err, "cannot open '%s'", root.src);
			goto close;
		}
		if (fstat(dfd, &sb) == 0)
			b.top_dev = sb.st_dev;
		r = store_dir(&b, dfd, strcmp(root.src, "/") == 0 ? "" :
		    root.src, b.excl_caches && cache_tagged(dfd), NULL,
		    snap.tree);
		close(dfd);
	} else {
		r = store_vnode(&b, &root, &top);
		if (r == 0)
			r = put_tree(&b, &top, NULL, snap.tree);
	}
	if (r != 0)
		goto close;
	/* Invariants 1-3: packs, then index, then the snapshot. */
	if ((r = keyset_flush(b.ks, err)) != 0)
		goto close;
	res->added = keyset_added(b.ks);
	if ((r = pick_name(&s, now.tv_sec, snap.name, err)) != 0)
		goto close;
	gethostname(host, sizeof(host) - 1);
	snap.time_sec = now.tv_sec;
	snap.time_nsec = (uint32_t)now.tv_nsec;
	snap.hostname = host;
	pw = getpwuid(geteuid());
	snap.username = pw ? pw->pw_name : "";
	snap.paths = stored;
	snap.npaths = nstored;
	snap.size = res->size;
	snap.nfiles = res->nfiles;
	snap.ndirs = res->ndirs;
	snap.added = res->added;
	if ((r = snapshot_write(b.ks, &snap, err)) != 0)
		goto close;
	if (b.fc != NULL) {
		struct coffer_err e1 = { 0 };

		/* The snapshot is safe; a cache that cannot be kept only
		 * costs the next backup a full read. */
		if (fcache_save(b.fc, &e1) != 0)
			session_warn(ctx, "file cache not saved: %s", e1.msg);
	}
	memcpy(res->name, snap.name, sizeof(res->name));
	memcpy(res->id, snap.idhex, sizeof(res->id));
	memcpy(res->key_id, keyset_idhex(b.ks), sizeof(res->key_id));
	r = 0;
close:
	if (r == COFFER_EINTR) {
		struct coffer_err e1 = { 0 };

		/* Stopped: keep what is written; the next backup adopts it. */
		if (keyset_flush(b.ks, &e1) != 0)
			coffer_err_set(err, COFFER_EINTR, "interrupted; the "
			    "last packs are not indexed: %s", e1.msg);
		res->added = keyset_added(b.ks);
		memcpy(res->key_id, keyset_idhex(b.ks), sizeof(res->key_id));
	}
	if (scan_started) {
		__atomic_store_n(&b.scan_stop, true, __ATOMIC_RELAXED);
		pthread_join(scan_th, NULL);
	}
	if (r == 0)
		progress(&b, NULL, true);
	/*
	 * The key set first: freeing it stops the sealer threads, which may
	 * still write chunk ids into the arena after an error (a full card).
	 */
	keyset_free(b.ks);
	fcache_free(b.fc);
	excl_free(b.excl);
	chunker_free(b.ch);
	coffer_free(b.rbuf);
	for (size_t i = 0; i < b.narena; i++)
		coffer_free(b.arena[i]);
	coffer_free(b.arena);
	coffer_free(b.links);
	defer_release(&b);
	wbuf_release(&b.tbuf);
	session_close(&s);
out:
	pthread_mutex_destroy(&b.scan_mu);
	tree_release(&top);
	vnode_release(&root);
	strlist_free(stored, opts->npaths + 1);
	strlist_free(snap.tags, snap.ntags);
	return r;
}
