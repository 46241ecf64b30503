/* SPDX-License-Identifier: ISC */
/*
 * restore: recreate a snapshot's entries under a target directory.
 *
 * Safety rules:
 *  - Every entry is created relative to an open directory descriptor
 *    with O_NOFOLLOW, so no name in a snapshot and no symlink restored
 *    earlier can send a write outside the target.  Names were already
 *    checked by tree_decode (no '/', no "..").
 *  - A file's bytes are written only after each chunk authenticates; a
 *    file that meets a bad chunk is removed, never left with wrong bytes.
 *  - Existing entries are replaced only as the caller's overwrite mode
 *    says, by removing the name (never following it: a symbolic link in
 *    the target is removed, not what it points to) and creating anew;
 *    an existing inode is never written into.
 *  - Directory metadata (mode, times, attributes, inode flags) is
 *    applied after its content, so an immutable folder can be filled.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "meta.h"
#include "session.h"
#include "../chunker/chunker.h"

#define SPARSE_BLOCK	4096
#define CONFLICT_SHOWN	5		/* paths named in a summary */
#define SHOWN_MAX	300		/* bytes of each path named */
#define CMP_BUF		(1u << 20)	/* if-changed: read size */

/* entry_room's answers (< 0: the entry is left out). */
#define ROOM_CREATE	0
#define ROOM_FILL	1		/* an existing folder */
#define ROOM_KEEP	2		/* identical: left alone */

struct link_rec {
	uint64_t	 id;
	char		*path;		/* relative to the target */
};

/* Existing entries of one kind: counted, the first few named. */
struct conflicts {
	uint64_t	 n;
	char		*first[CONFLICT_SHOWN];
};

struct rctx {
	const struct coffer_ctx	*ctx;
	const struct coffer_restore_opts *o;
	struct coffer_restore_result *res;
	struct keyset		*ks;
	struct coffer_err	*err;
	int			 rootfd;
	bool			 root;
	int			 first_code;	/* of the first entry left out */
	struct wbuf		 blob;
	bool			*matched;	/* per include: found */
	uint64_t		 files_total, bytes_total;
	struct timespec		 last_report;
	struct link_rec		*links;
	size_t			 nlinks, linkcap;
	struct meta_tally	 meta;	/* attributes and flags not set */
	struct conflicts	 refused, kept, replaced;
	uint64_t		 skip_files, skip_bytes; /* for progress */
	/* if-changed: the chunk ids of an existing file, against cmp_e's. */
	struct chunker		*cmp_ch;
	uint8_t			*cmp_buf;
	const struct tree_entry	*cmp_e;
	size_t			 cmp_i;
	char			*path;		/* grown by path_put */
	size_t			 pathcap;
};

static void
rwarn(struct rctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
rwarn(struct rctx *c, int code, const char *fmt, ...)
{
	va_list ap;

	if (c->res->nerrors++ == 0)
		c->first_code = code;
	va_start(ap, fmt);
	session_vwarn(c->ctx, fmt, ap);
	va_end(ap);
}

/* Selected by --include (or everything), and ancestors of includes. */
static bool
selected(struct rctx *c, const char *path, size_t len)
{
	if (c->o->nincludes == 0)
		return true;
	for (size_t i = 0; i < c->o->nincludes; i++) {
		const char *inc = c->o->includes[i];
		size_t n;

		while (*inc == '/')
			inc++;
		n = strlen(inc);
		while (n > 0 && inc[n - 1] == '/')
			n--;
		if (n == 0 || (len >= n && memcmp(path, inc, n) == 0 &&
		    (len == n || path[n] == '/'))) {
			c->matched[i] = true;
			return true;
		}
	}
	return false;
}

static bool
ancestor(const struct rctx *c, const char *path, size_t len)
{
	for (size_t i = 0; i < c->o->nincludes; i++) {
		const char *inc = c->o->includes[i];

		while (*inc == '/')
			inc++;
		if (strlen(inc) > len && memcmp(inc, path, len) == 0 &&
		    inc[len] == '/')
			return true;
	}
	return false;
}

static const char *
link_lookup(struct rctx *c, uint64_t id)
{
	for (size_t i = 0; i < c->nlinks; i++)
		if (c->links[i].id == id)
			return c->links[i].path;
	return NULL;
}

static void
link_record(struct rctx *c, uint64_t id, const char *path)
{
	struct link_rec *nl;

	if (c->nlinks == c->linkcap) {
		size_t ncap = c->linkcap ? c->linkcap * 2 : 64;

		if ((nl = coffer_realloc(c->links, ncap * sizeof(*nl))) == NULL)
			return;		/* restored as copies instead */
		c->links = nl;
		c->linkcap = ncap;
	}
	if ((c->links[c->nlinks].path = coffer_strdup(path)) == NULL)
		return;
	c->links[c->nlinks++].id = id;
}

/* note_existing(c, k, what): count ${c->path} in ${k}; --verbose: say so. */
static void
note_existing(struct rctx *c, struct conflicts *k, const char *what)
{
	if (c->o->verbose)
		session_warn(c->ctx, "'%s' %s", c->path, what);
	else if (k->n < CONFLICT_SHOWN)
		k->first[k->n] = coffer_strdup(c->path);  /* NULL: not named */
	k->n++;
}

/*
 * link_first(c, first, dirfd, name): link ${name} of ${dirfd} to the file
 * restored first at ${first} (relative to the target): in one call, or,
 * for a path longer than the system takes, folder by folder from the
 * target.  -1 with errno on failure.
 */
static int
link_first(struct rctx *c, const char *first, int dirfd, const char *name)
{
	const char *p = first, *slash;
	int fd = c->rootfd;
	int r, e;

	if (linkat(c->rootfd, first, dirfd, name, 0) == 0)
		return 0;
	if (errno != ENAMETOOLONG)
		return -1;
	while ((slash = strchr(p, '/')) != NULL) {
		size_t n = (size_t)(slash - p);
		char *comp;
		int nfd;

		if ((comp = coffer_malloc(n + 1)) == NULL) {
			nfd = -1;
		} else {
			memcpy(comp, p, n);
			comp[n] = '\0';
			nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			coffer_free(comp);
		}
		e = errno;
		if (fd != c->rootfd)
			close(fd);
		if (nfd == -1) {
			errno = e;
			return -1;
		}
		fd = nfd;
		p = slash + 1;
	}
	r = linkat(fd, p, dirfd, name, 0);
	e = errno;
	if (fd != c->rootfd)
		close(fd);
	errno = e;
	return r;
}

/*
 * summarise(c, k, what, hint): one warning for all of ${k}: the count
 * first, then the first paths, each cut at SHOWN_MAX bytes (a warning
 * holds 2 KiB), then ${hint} (or nothing if NULL).
 */
static void
summarise(struct rctx *c, const struct conflicts *k, const char *what,
    const char *hint)
{
	struct wbuf b;
	size_t shown = 0;

	if (k->n == 0 || c->o->verbose)
		return;
	wbuf_init(&b, CONFLICT_SHOWN * (SHOWN_MAX + 8) + 256);
	for (size_t i = 0; i < CONFLICT_SHOWN && i < k->n; i++) {
		size_t len;

		if (k->first[i] == NULL)
			continue;
		len = strlen(k->first[i]);
		wbuf_put(&b, shown ? ", '" : "'", shown ? 3 : 1);
		wbuf_put(&b, k->first[i], len > SHOWN_MAX ? SHOWN_MAX : len);
		wbuf_put(&b, len > SHOWN_MAX ? "...'" : "'", len > SHOWN_MAX ?
		    4 : 1);
		shown++;
	}
	if (hint != NULL) {
		wbuf_put(&b, "; ", 2);
		wbuf_put(&b, hint, strlen(hint));
	}
	wbuf_put(&b, "", 1);
	if (b.oom || shown == 0)
		session_warn(c->ctx, "%llu existing entr%s %s",
		    (unsigned long long)k->n, k->n == 1 ? "y" : "ies", what);
	else if (k->n > shown)
		session_warn(c->ctx, "%llu existing entr%s %s (the first %zu "
		    "named; --verbose names each): %s",
		    (unsigned long long)k->n, k->n == 1 ? "y" : "ies", what,
		    shown, (const char *)b.p);
	else
		session_warn(c->ctx, "%llu existing entr%s %s: %s",
		    (unsigned long long)k->n, k->n == 1 ? "y" : "ies", what,
		    (const char *)b.p);
	wbuf_release(&b);
}

static void
conflicts_release(struct conflicts *k)
{
	for (size_t i = 0; i < CONFLICT_SHOWN; i++)
		coffer_free(k->first[i]);
}

static bool
same_mtime(const struct stat *sb, const struct tree_entry *e)
{
	return sb->st_mtim.tv_sec == e->mtime_sec &&
	    sb->st_mtim.tv_nsec == (long)e->mtime_nsec;
}

/* Chunk by chunk, an existing file's ids against the snapshot's. */
static int
cmp_chunk(void *cookie, const uint8_t *buf, size_t len)
{
	struct rctx *c = cookie;
	uint8_t id[BLOB_ID_LEN];

	if (c->cmp_i >= c->cmp_e->nchunks)
		return 1;
	keyset_blob_id(c->ks, buf, len, id);
	if (memcmp(id, c->cmp_e->chunks[c->cmp_i], BLOB_ID_LEN) != 0)
		return 1;
	c->cmp_i++;
	return 0;
}

/*
 * same_content(c, fd, e): does ${fd} hold ${e}'s bytes?  The file is cut
 * with the key set's chunker and each chunk's keyed id compared with the
 * snapshot's: nothing is read from the card.  Out of memory or a read
 * error: "no" (the file is then replaced).
 */
static bool
same_content(struct rctx *c, int fd, const struct tree_entry *e)
{
	size_t cmin, cavg, cmax, got;
	int r = 0;

	if (c->cmp_ch == NULL) {
		keyset_chunker_params(c->ks, &cmin, &cavg, &cmax);
		if ((c->cmp_ch = chunker_new(cmin, cavg, cmax,
		    keyset_chunker_key(c->ks), cmp_chunk, c)) == NULL)
			return false;
	}
	if (c->cmp_buf == NULL && (c->cmp_buf = coffer_malloc(CMP_BUF)) == NULL)
		return false;
	c->cmp_e = e;
	c->cmp_i = 0;
	for (;;) {
		if (read_full(fd, c->cmp_buf, CMP_BUF, &got) != 0) {
			r = -1;
			break;
		}
		if (got > 0 && (r = chunker_write(c->cmp_ch, c->cmp_buf,
		    got)) != 0)
			break;
		if (got < CMP_BUF)
			break;
	}
	if (r == 0)
		r = chunker_finish(c->cmp_ch);
	else
		(void)chunker_finish(c->cmp_ch);	/* reset for the next */
	return r == 0 && c->cmp_i == e->nchunks;
}

/*
 * same_file(c, dirfd, name, sb, e): is the existing regular file ${name}
 * (${sb}) the snapshot's file ${e}: same size, modification time and
 * content, or (a later member of a link group) a hard link to the file
 * restored for the group?  If so, its mode (and owner, as root) are set
 * from the snapshot; its content and times are left alone.
 */
static bool
same_file(struct rctx *c, int dirfd, const char *name, const struct stat *sb,
    const struct tree_entry *e)
{
	const char *first;
	struct stat fs;
	bool same;
	int fd;

	if (!S_ISREG(sb->st_mode) || (uint64_t)sb->st_size != e->size ||
	    !same_mtime(sb, e))
		return false;
	if (e->link_id != 0 && (first = link_lookup(c, e->link_id)) != NULL)
		return fstatat(c->rootfd, first, &fs,
		    AT_SYMLINK_NOFOLLOW) == 0 && fs.st_dev == sb->st_dev &&
		    fs.st_ino == sb->st_ino;
	if ((fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1)
		return false;
	/* The one stat'ed, not something put in its place since. */
	same = fstat(fd, &fs) == 0 && fs.st_dev == sb->st_dev &&
	    fs.st_ino == sb->st_ino && same_content(c, fd, e);
	if (same && (fs.st_mode & 07777) != e->mode)
		(void)fchmod(fd, e->mode);
	if (same && c->root && (fs.st_uid != e->uid || fs.st_gid != e->gid))
		(void)fchown(fd, e->uid, e->gid);
	close(fd);
	return same;
}

/* same_entry(c, dirfd, name, sb, e): if-changed's "identical". */
static bool
same_entry(struct rctx *c, int dirfd, const char *name, const struct stat *sb,
    const struct tree_entry *e)
{
	char buf[4096];
	ssize_t n;

	switch (e->type) {
	case NODE_FILE:
		return same_file(c, dirfd, name, sb, e);
	case NODE_SYMLINK:
		if (!S_ISLNK(sb->st_mode) || !same_mtime(sb, e) ||
		    e->targetlen >= sizeof(buf))
			return false;
		n = readlinkat(dirfd, name, buf, sizeof(buf));
		return n >= 0 && (size_t)n == e->targetlen &&
		    memcmp(buf, e->target, e->targetlen) == 0;
	case NODE_FIFO:
		return S_ISFIFO(sb->st_mode) && same_mtime(sb, e) &&
		    (sb->st_mode & 07777) == e->mode;
	case NODE_CHR:
	case NODE_BLK:
		return (e->type == NODE_CHR ? S_ISCHR(sb->st_mode) :
		    S_ISBLK(sb->st_mode)) && sb->st_rdev == (dev_t)e->rdev &&
		    same_mtime(sb, e) && (sb->st_mode & 07777) == e->mode;
	default:
		return false;
	}
}

/*
 * entry_room(c, dirfd, e, isdir): may ${e} (or, with ${e} NULL, a
 * folder when ${isdir}) be created as ${e->name}?  ROOM_CREATE if the
 * name is free or was freed (--overwrite if-changed or always; a
 * symbolic link is removed, never followed; a folder only if empty),
 * ROOM_FILL for a folder that exists where a folder is wanted,
 * ROOM_KEEP for an identical entry (if-changed), < 0 if the existing
 * entry stays and ${e} is left out.
 */
static int
entry_room(struct rctx *c, int dirfd, const char *name,
    const struct tree_entry *e, bool isdir)
{
	struct stat sb;
	int mode = c->o->overwrite;

	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		return ROOM_CREATE;
	if (isdir && S_ISDIR(sb.st_mode))
		return ROOM_FILL;
	if (mode == COFFER_OVERWRITE_REFUSE || mode == COFFER_OVERWRITE_NEVER) {
		if (mode == COFFER_OVERWRITE_NEVER) {
			c->res->nkept++;
			note_existing(c, &c->kept, "exists; kept");
			return -1;
		}
		if (c->res->nerrors++ == 0)
			c->first_code = COFFER_EEXIST;
		note_existing(c, &c->refused, "exists; not replaced (see "
		    "--overwrite)");
		return -1;
	}
	if (mode == COFFER_OVERWRITE_IF_CHANGED && e != NULL &&
	    same_entry(c, dirfd, name, &sb, e)) {
		c->res->nunchanged++;
		return ROOM_KEEP;
	}
	if (unlinkat(dirfd, name, S_ISDIR(sb.st_mode) ? AT_REMOVEDIR : 0) !=
	    0) {
		rwarn(c, COFFER_EIO, "cannot replace '%s': %s", c->path,
		    errno == ENOTEMPTY || errno == EEXIST ? "a folder that is "
		    "not empty is in its place" : strerror(errno));
		return -1;
	}
	c->res->nreplaced++;
	note_existing(c, &c->replaced, "existed; replaced");
	return ROOM_CREATE;
}

/*
 * make_room(c, dirfd, name, isdir): entry_room() for a folder (${isdir})
 * or for an entry that is never found identical.
 */
static int
make_room(struct rctx *c, int dirfd, const char *name, bool isdir)
{
	return entry_room(c, dirfd, name, NULL, isdir);
}

static void
set_meta_fd(struct rctx *c, int fd, const struct tree_entry *e)
{
	struct timespec ts[2];

	/* Owner first: chown clears capabilities and setuid bits. */
	if (c->root && fchown(fd, e->uid, e->gid) != 0)
		rwarn(c, COFFER_EIO, "cannot set owner of '%s': %s", c->path,
		    strerror(errno));
	/*
	 * Attributes and ACLs before the mode: a user's attributes need
	 * write permission, which a read-only file's mode would take away.
	 * chmod keeps capabilities, and sets an ACL's mask from the group
	 * bits, which the stored ACL's mask equals.
	 */
	meta_apply_xattrs(&c->meta, fd, e, c->path);
	if (fchmod(fd, e->mode) != 0)
		rwarn(c, COFFER_EIO, "cannot set mode of '%s': %s", c->path,
		    strerror(errno));
	ts[0].tv_sec = e->mtime_sec;
	ts[0].tv_nsec = e->mtime_nsec;
	ts[1] = ts[0];
	if (futimens(fd, ts) != 0)
		rwarn(c, COFFER_EIO, "cannot set times of '%s': %s", c->path,
		    strerror(errno));
	/* Inode flags last: an immutable file takes no further change. */
	meta_apply_iflags(&c->meta, fd, e, c->path);
}

static int
write_sparse(int fd, const uint8_t *p, size_t len, off_t *pos)
{
	/* Skip all-zero blocks; the final ftruncate gives the size. */
	static const uint8_t zero[SPARSE_BLOCK];

	while (len > 0) {
		size_t n = len < SPARSE_BLOCK ? len : SPARSE_BLOCK;

		if (n == SPARSE_BLOCK && memcmp(p, zero, n) == 0) {
			*pos += (off_t)n;
		} else {
			if (lseek(fd, *pos, SEEK_SET) == -1 ||
			    write_full(fd, p, n) != 0)
				return -1;
			*pos += (off_t)n;
		}
		p += n;
		len -= n;
	}
	return 0;
}

/* Report progress at most every 50 ms (or now, with ${force}). */
static void
rprogress(struct rctx *c, bool force, bool done)
{
	struct coffer_progress p = { .phase = "restore" };
	struct timespec now;

	if (c->ctx->progress == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!force && (now.tv_sec - c->last_report.tv_sec) * 1000 +
	    (now.tv_nsec - c->last_report.tv_nsec) / 1000000 < 50)
		return;
	c->last_report = now;
	/* Existing files left as they are count as done. */
	p.files = c->res->nfiles + c->skip_files;
	p.bytes = c->res->bytes + c->skip_bytes;
	/* Totals are the snapshot's, known only for a whole restore. */
	if (c->o->nincludes == 0) {
		p.files_total = c->files_total;
		p.bytes_total = c->bytes_total;
	}
	p.current = done ? NULL : c->path;
	p.done = done;
	c->ctx->progress(c->ctx->cookie, &p);
}

static int
restore_file(struct rctx *c, int dirfd, const struct tree_entry *e)
{
	const char *name = (const char *)e->name;
	const char *first;
	uint64_t total = 0;
	off_t pos = 0;
	int fd = -1;
	int r;

	if ((r = entry_room(c, dirfd, name, e, false)) != ROOM_CREATE) {
		/* An identical file heads its link group as if restored. */
		if (r == ROOM_KEEP && e->link_id != 0 &&
		    link_lookup(c, e->link_id) == NULL)
			link_record(c, e->link_id, c->path);
		c->skip_files++;
		c->skip_bytes += e->size;
		rprogress(c, false, false);
		return 0;
	}
	if (e->link_id != 0 && (first = link_lookup(c, e->link_id)) != NULL) {
		if (link_first(c, first, dirfd, name) == 0) {
			c->res->nfiles++;
			return 0;
		}
		/* Fall back to a copy (e.g. no hard links on this fs). */
	}
	if ((fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		rwarn(c, COFFER_EIO, "cannot create '%s': %s", c->path, strerror(errno));
		return 0;
	}
	for (size_t i = 0; i < e->nchunks; i++) {
		struct coffer_err e1 = { 0 };

		if ((r = keyset_get_blob(c->ks, OBJ_DATA, e->chunks[i], &c->blob,
		    &e1)) != 0) {
			if (r == COFFER_ENOMEM) {
				*c->err = e1;
				goto fail_fatal;
			}
			rwarn(c, e1.code, "'%s' not restored: %s", c->path, e1.msg);
			goto fail;
		}
		if (e->flags & NODE_F_SPARSE) {
			if (write_sparse(fd, c->blob.p, c->blob.len, &pos) != 0)
				goto fail_io;
		} else if (write_full(fd, c->blob.p, c->blob.len) != 0) {
			goto fail_io;
		}
		total += c->blob.len;
	}
	if (total != e->size) {
		rwarn(c, COFFER_EFORMAT, "'%s' not restored: its chunks hold %llu bytes, the "
		    "snapshot says %llu (damaged snapshot)", c->path,
		    (unsigned long long)total, (unsigned long long)e->size);
		goto fail;
	}
	if ((e->flags & NODE_F_SPARSE) && ftruncate(fd, (off_t)total) != 0)
		goto fail_io;
	set_meta_fd(c, fd, e);
	if (close(fd) != 0) {
		fd = -1;
		goto fail_io;
	}
	c->res->nfiles++;
	c->res->bytes += total;
	if (e->link_id != 0)
		link_record(c, e->link_id, c->path);
	rprogress(c, false, false);
	return 0;
fail_io:
	rwarn(c, COFFER_EIO, "cannot write '%s': %s", c->path, strerror(errno));
fail:
	if (fd != -1)
		close(fd);
	(void)unlinkat(dirfd, name, 0);
	return 0;
fail_fatal:
	close(fd);
	(void)unlinkat(dirfd, name, 0);
	return COFFER_ENOMEM;
}

static void
restore_other(struct rctx *c, int dirfd, const struct tree_entry *e)
{
	const char *name = (const char *)e->name;
	struct timespec ts[2];
	int rr;

	if (entry_room(c, dirfd, name, e, false) != ROOM_CREATE)
		return;
	switch (e->type) {
	case NODE_SYMLINK:
		rr = symlinkat((const char *)e->target, dirfd, name);
		break;
	case NODE_FIFO:
		rr = mkfifoat(dirfd, name, e->mode);
		break;
	default:
		if (!c->root) {
			session_warn(c->ctx, "'%s' is a device node; skipped "
			    "(only root can create it)", c->path);
			return;
		}
		rr = mknodat(dirfd, name, (e->type == NODE_CHR ? S_IFCHR :
		    S_IFBLK) | e->mode, (dev_t)e->rdev);
		break;
	}
	if (rr != 0) {
		rwarn(c, COFFER_EIO, "cannot create '%s': %s", c->path, strerror(errno));
		return;
	}
	if (c->root && fchownat(dirfd, name, e->uid, e->gid,
	    AT_SYMLINK_NOFOLLOW) != 0)
		rwarn(c, COFFER_EIO, "cannot set owner of '%s': %s", c->path,
		    strerror(errno));
	if (e->type != NODE_SYMLINK && fchmodat(dirfd, name, e->mode, 0) != 0)
		rwarn(c, COFFER_EIO, "cannot set mode of '%s': %s", c->path,
		    strerror(errno));
	ts[0].tv_sec = e->mtime_sec;
	ts[0].tv_nsec = e->mtime_nsec;
	ts[1] = ts[0];
	if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) != 0)
		rwarn(c, COFFER_EIO, "cannot set times of '%s': %s", c->path,
		    strerror(errno));
	c->res->nother++;
}

/*
 * The walk keeps one frame per folder on the way down, on the heap (a
 * struct tframe per level: any depth fits): the folder's tree, its next
 * entry, its path length, its entry in the parent (for its metadata,
 * set when it is done) and its descriptor.  Only the top frame and the
 * RESTORE_FDS deepest keep theirs open; one in between is reopened on
 * the way back up through ".." of the folder below, or name by name
 * from the nearest open frame above, and must be the folder restored
 * into before (device and inode).
 */
#ifndef RESTORE_FDS
#define RESTORE_FDS	16
#endif

/* Is ${fd} frame ${f}'s folder?  Closes ${fd} if not. */
static bool
same_folder(const struct tframe *f, int fd)
{
	struct stat sb;

	if (fd == -1)
		return false;
	if (fstat(fd, &sb) == 0 && (uint64_t)sb.st_dev == f->dev &&
	    (uint64_t)sb.st_ino == f->ino)
		return true;
	close(fd);
	return false;
}

/* restore_reopen(s, k, below): open frame ${k} again; false if moved. */
static bool
restore_reopen(struct tstack *s, size_t k, int below)
{
	size_t j;
	int fd;

	fd = below == -1 ? -1 : openat(below, "..", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	if (same_folder(&s->f[k], fd)) {
		s->f[k].fd = fd;
		return true;
	}
	for (j = k; j > 0 && s->f[j].fd == -1; j--)
		;
	if (s->f[j].fd == -1)
		return false;
	fd = s->f[j].fd;
	for (size_t m = j + 1; m <= k; m++) {
		int nfd = openat(fd, (const char *)s->f[m].owner->name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (fd != s->f[j].fd)
			close(fd);
		if (!same_folder(&s->f[m], nfd))
			return false;
		fd = nfd;
	}
	s->f[k].fd = fd;
	return true;
}

/*
 * restore_enter(c, s, dirfd, e, len, sel): create the folder of entry
 * ${e} in ${dirfd} (its path in c->path, ${len} bytes) and push it with
 * its tree.  A folder that cannot be made or read is warned about and
 * left out (0); < 0 only if out of memory.
 */
static int
restore_enter(struct rctx *c, struct tstack *s, int dirfd,
    const struct tree_entry *e, size_t len, bool sel)
{
	const char *name = (const char *)e->name;
	struct coffer_err e1 = { 0 };
	struct tframe *f;
	struct stat sb;
	int fd, rm;
	int r;

	if ((rm = make_room(c, dirfd, name, true)) < 0)
		return 0;
	if (rm == 0 && mkdirat(dirfd, name, 0700) != 0) {
		rwarn(c, COFFER_EIO, "cannot create directory '%s': %s", c->path,
		    strerror(errno));
		return 0;
	}
	if ((fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 || fstat(fd, &sb) != 0) {
		rwarn(c, COFFER_EIO, "cannot open directory '%s': %s", c->path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return 0;
	}
	/* Make sure we can write into it while filling it. */
	(void)fchmod(fd, 0700);
	if ((f = tstack_push(s)) == NULL) {
		close(fd);
		return coffer_err_set(c->err, COFFER_ENOMEM, "restore");
	}
	f->fd = fd;
	f->dev = (uint64_t)sb.st_dev;
	f->ino = (uint64_t)sb.st_ino;
	f->plen = len;
	f->sel = sel;
	f->owner = e;
	if (s->n > RESTORE_FDS + 1) {
		struct tframe *old = &s->f[s->n - 1 - RESTORE_FDS];

		if (old->fd != -1)
			close(old->fd);
		old->fd = -1;
	}
	if ((r = tree_load(c->ks, e->subtree, &c->blob, &f->t, &e1)) != 0) {
		tree_release(&f->t);
		if (r == COFFER_ENOMEM) {
			*c->err = e1;
			return r;
		}
		rwarn(c, e1.code, "contents of '%s' not restored: %s",
		    c->path, e1.msg);
	}
	return 0;
}

/*
 * restore_leave(c, s): the deepest folder is done: its metadata, then
 * back to its parent (reopened if needed).
 */
static void
restore_leave(struct rctx *c, struct tstack *s)
{
	struct tframe *f = &s->f[s->n - 1];
	struct tframe *up = &s->f[s->n - 2];

	/* The parent first: the folder's own mode may forbid "..". */
	if (up->fd == -1 && !restore_reopen(s, s->n - 2, f->fd)) {
		char keep = c->path[up->plen];

		c->path[up->plen] = '\0';
		rwarn(c, COFFER_EIO, "'%s' moved during the restore; the rest "
		    "of it is not restored", up->plen ? c->path : ".");
		c->path[up->plen] = keep;
		up->i = up->t.n;
		up->sel = false;
	}
	c->path[f->plen] = '\0';
	if (f->fd != -1) {
		set_meta_fd(c, f->fd, f->owner);
		close(f->fd);
	}
	c->res->ndirs++;
	tstack_pop(s);
}

/*
 * restore_tree(c, id, rootfd): the snapshot's top tree ${id} into
 * ${rootfd} (the caller's), and everything below.
 */
static int
restore_tree(struct rctx *c, const uint8_t *id, int rootfd)
{
	struct tstack s = { 0 };
	struct tframe *f;
	struct coffer_err e1 = { 0 };
	int r = 0;

	if ((f = tstack_push(&s)) == NULL) {
		r = coffer_err_set(c->err, COFFER_ENOMEM, "restore");
		goto out;
	}
	f->fd = rootfd;
	if ((r = tree_load(c->ks, id, &c->blob, &f->t, &e1)) != 0) {
		if (r == COFFER_ENOMEM) {
			*c->err = e1;
			goto out;
		}
		rwarn(c, e1.code, "contents of '.' not restored: %s", e1.msg);
		r = 0;
		goto out;
	}
	while (s.n > 0) {
		const struct tree_entry *e;
		size_t len;
		bool sel;

		f = &s.f[s.n - 1];
		if (f->i == f->t.n) {
			if (s.n == 1)
				break;
			restore_leave(c, &s);
			continue;
		}
		e = &f->t.e[f->i++];
		len = f->plen;
		if (f->fd == -1)
			continue;	/* lost: warned by restore_leave */
		if (path_put(&c->path, &c->pathcap, &len, e->name,
		    e->namelen) != 0) {
			c->path[f->plen] = '\0';
			rwarn(c, COFFER_EIO, "path too long under '%s'",
			    c->path);
			continue;
		}
		/* selected() runs even under a selected parent: it marks
		 * which --include paths were found. */
		sel = selected(c, c->path, len) || f->sel;
		if (!sel && !(e->type == NODE_DIR && ancestor(c, c->path, len)))
			continue;
		if (e->type == NODE_DIR)
			r = restore_enter(c, &s, f->fd, e, len, sel);
		else if (e->type == NODE_FILE)
			r = restore_file(c, f->fd, e);
		else
			restore_other(c, f->fd, e);
		if (r != 0)
			goto out;
	}
	r = 0;
out:
	/* After an error: close what is open (not the caller's root). */
	for (size_t i = 1; i < s.n; i++)
		if (s.f[i].fd != -1)
			close(s.f[i].fd);
	tstack_release(&s);
	return r;
}

int
coffer_restore(const struct coffer_ctx *ctx,
    const struct coffer_restore_opts *o, struct coffer_restore_result *res,
    struct coffer_err *err)
{
	struct session s;
	struct snapshot snap;
	struct coffer_restore_opts ro;
	struct rctx *c = NULL;
	char **inc = NULL;
	int r;

	memset(res, 0, sizeof(*res));
	memset(&snap, 0, sizeof(snap));
	if (o->target == NULL || *o->target == '\0')
		return coffer_err_set(err, COFFER_EINVAL, "no --target given");
	if ((r = session_open(ctx, REPO_LOCK_READ, true, &s, err)) != 0)
		return r;
	if ((c = coffer_calloc(1, sizeof(*c))) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "restore");
		goto out;
	}
	c->ctx = ctx;
	c->o = o;
	c->res = res;
	c->err = err;
	c->rootfd = -1;
	c->root = geteuid() == 0;
	c->meta.root = c->root;
	wbuf_init(&c->blob, BLOB_MAX);
	if ((c->matched = coffer_calloc(o->nincludes + 1,
	    sizeof(bool))) == NULL ||
	    (c->path = coffer_calloc(1, c->pathcap = 256)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "restore");
		goto out;
	}
	if ((r = session_find_snapshot(&s, o->snapshot, &c->ks, &snap, err)) != 0)
		goto out;
	/* Each --include as typed, or as 'coffer ls' prints it. */
	if ((inc = coffer_calloc(o->nincludes + 1, sizeof(*inc))) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "restore");
		goto out;
	}
	for (size_t i = 0; i < o->nincludes; i++)
		if ((r = stored_path_resolve(ctx, c->ks, snap.tree,
		    o->includes[i], snap.name, &inc[i], err)) != 0)
			goto out;
	ro = *o;
	ro.includes = (const char *const *)inc;
	c->o = &ro;
	if (mkdirat_p(AT_FDCWD, o->target, 0700) != 0 ||
	    (c->rootfd = open(o->target, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		r = coffer_err_sys(err, "cannot use target '%s'", o->target);
		goto out;
	}
	c->files_total = snap.nfiles;
	c->bytes_total = snap.size;
	rprogress(c, true, false);
	r = restore_tree(c, snap.tree, c->rootfd);
	rprogress(c, true, true);
	meta_finish(&c->meta);
	meta_report(ctx, &c->meta);
	if (r != 0)
		goto out;
	summarise(c, &c->refused, "not replaced", "--overwrite=never keeps "
	    "them without an error, if-changed or always replaces them");
	summarise(c, &c->kept, "kept as they were", NULL);
	summarise(c, &c->replaced, "replaced", NULL);
	for (size_t i = 0; i < o->nincludes; i++) {
		if (!c->matched[i]) {
			r = coffer_err_set(err, COFFER_ENOTFOUND, "no '%s' in "
			    "snapshot '%s' (see 'coffer ls %s')",
			    o->includes[i], snap.name, snap.name);
			goto out;
		}
	}
	if (res->nerrors > 0) {
		r = coffer_err_set(err, c->first_code, "%llu entr%s of "
		    "snapshot '%s' could not be restored (see above)",
		    (unsigned long long)res->nerrors,
		    res->nerrors == 1 ? "y" : "ies", snap.name);
		goto out;
	}
	r = 0;
out:
	if (c != NULL) {
		meta_report(ctx, &c->meta);	/* none left: releases */
		for (size_t i = 0; i < c->nlinks; i++)
			coffer_free(c->links[i].path);
		coffer_free(c->links);
		coffer_free(c->matched);
		conflicts_release(&c->refused);
		conflicts_release(&c->kept);
		conflicts_release(&c->replaced);
		chunker_free(c->cmp_ch);
		coffer_free(c->cmp_buf);
		coffer_free(c->path);
		wbuf_release(&c->blob);
		keyset_free(c->ks);
		if (c->rootfd != -1)
			close(c->rootfd);
		coffer_free(c);
	}
	if (inc != NULL)
		for (size_t i = 0; i < o->nincludes; i++)
			coffer_free(inc[i]);
	coffer_free(inc);
	snapshot_release(&snap);
	session_close(&s);
	return r;
}
