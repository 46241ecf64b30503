/* SPDX-License-Identifier: ISC */
/*
 * pullfs: a FUSE file system for coffer's power-loss tests (issue 20).
 *
 * pullfs [--seed S] [--pull-after N] [--keep PCT] [--tear] [--count FILE]
 *     [--full-after N] BACKING MOUNTPOINT
 *
 * A pass-through over the folder BACKING that behaves like a card whose
 * writes sit in a cache until they are synced.  Every mutating operation
 * (write, truncate, create, mkdir, rename, unlink, rmdir) takes effect at
 * once for readers, as the page cache would show it, but becomes durable
 * only when synced:
 *
 *   - fsync or fdatasync of a file makes its data and size durable (not
 *     its name);
 *   - fsync of a folder makes every name operation in that folder durable
 *     (create, mkdir, unlink, rmdir, and a rename whose source or target
 *     is in it; a rename is one operation, never half done).
 *
 * "Pulling the card" (the N-th mutating operation with --pull-after N, or
 * SIGUSR1 at the next operation) keeps a random subset of the operations
 * not yet durable: each survives with probability PCT % (--keep, else a
 * seeded draw from 0, 25, 50, 75 and 100 per pull), in any order the
 * device chose (name operations are replayed in their order, each one
 * independently kept or lost; writes to a file likewise); with --tear the
 * last surviving write of a file may be cut at a 512-byte boundary.  The
 * survivors are applied to BACKING, and from then on every operation
 * fails with EIO until the file system is unmounted.  An operation that
 * triggers the pull is not done.  Without a pull, unmounting writes the
 * whole current state (a clean eject).
 *
 * The whole tree lives in memory while mounted (the card of a test is
 * small); BACKING is read at mount and rewritten at the end, so it must
 * not be touched meanwhile.  Only folders and regular files exist, as on
 * FAT: links, devices and the like are refused.  --count FILE writes the
 * number of mutating operations seen (a dry run, so that a harness can
 * pick N in [1, total]); the pull's summary goes to stderr.
 *
 * --full-after N: the card is full from the N-th mutating operation on:
 * every write, create and mkdir fails with ENOSPC (unlink, rmdir, rename
 * and truncate still work, as on a full card), and nothing is pulled.  The model
 * and what real file systems promise are in docs/RELIABILITY.md.
 */
#define FUSE_USE_VERSION 35
#define _XOPEN_SOURCE 700		/* nftw */

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SECTOR		512
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)	/* <linux/fs.h> */
#endif

struct buf {
	uint8_t		*p;
	size_t		 len;
	size_t		 cap;
};

/* A data operation on a file not yet durable: a write or a truncate. */
struct dop {
	bool		 trunc;
	uint64_t	 off;		/* write offset, or the new size */
	uint8_t		*data;
	size_t		 len;
};

struct ent {
	char		*name;
	struct node	*node;
};

struct dir {
	struct ent	*e;
	size_t		 n;
	size_t		 cap;
};

struct node {
	bool		 isdir;
	mode_t		 mode;
	struct timespec	 mtime;
	struct buf	 cur;		/* file: what readers see */
	struct buf	 dur;		/* file: what survives a pull */
	struct dop	*pend;		/* file: since the last fsync */
	size_t		 npend;
	size_t		 cappend;
	struct dir	 curd;		/* folder: names readers see */
	struct dir	 durd;		/* folder: names that survive */
	bool		 seen;		/* visited by the dump */
};

enum nkind { N_CREATE, N_UNLINK, N_RENAME };

/* A name operation not yet durable (mkdir is a create, rmdir an unlink). */
struct nop {
	enum nkind	 kind;
	struct node	*d1;
	char		*n1;
	struct node	*d2;		/* rename: the target folder */
	char		*n2;
	struct node	*node;		/* the node named */
	bool		 done;		/* made durable by a folder fsync */
};

static const char *backing;
static struct node *root;
static struct node **nodes;		/* every node, to free and to pull */
static size_t nnodes, capnodes;
static struct nop *nops;
static size_t nnops, capnops;
static uint64_t nmut;			/* mutating operations seen */
static uint64_t pull_after;		/* 0: never */
static uint64_t full_after;		/* 0: never */
static int keep_pct = -1;		/* -1: drawn per pull */
static bool tear;
static bool pulled;
static uint64_t rng;
static volatile sig_atomic_t sigpull;

static void
die(const char *what)
{
	fprintf(stderr, "pullfs: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n == 0 ? 1 : n)) == NULL)
		die("out of memory");
	return p;
}

static char *
xstrdup(const char *s)
{
	char *r;

	if ((r = strdup(s)) == NULL)
		die("out of memory");
	return r;
}

/* splitmix64: the seeded choices of a pull. */
static uint64_t
rnd(void)
{
	uint64_t z;

	z = (rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static bool
keep(void)
{
	return (int)(rnd() % 100) < keep_pct;
}

static void
buf_resize(struct buf *b, size_t len)
{
	size_t cap;

	if (len > b->cap) {
		cap = b->cap < 4096 ? 4096 : b->cap;
		while (cap < len)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	if (len > b->len)
		memset(b->p + b->len, 0, len - b->len);
	b->len = len;
}

static void
buf_write(struct buf *b, uint64_t off, const uint8_t *p, size_t len)
{
	if (off + len > b->len)
		buf_resize(b, off + len);
	memcpy(b->p + off, p, len);
}

static void
buf_copy(struct buf *to, const struct buf *from)
{
	to->len = 0;
	buf_resize(to, from->len);
	if (from->len > 0)
		memcpy(to->p, from->p, from->len);
}

static struct node *
node_new(bool isdir, mode_t mode)
{
	struct node *n;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		die("out of memory");
	n->isdir = isdir;
	n->mode = mode & 07777;
	if (nnodes == capnodes) {
		capnodes = capnodes == 0 ? 64 : capnodes * 2;
		nodes = xrealloc(nodes, capnodes * sizeof(*nodes));
	}
	nodes[nnodes++] = n;
	clock_gettime(CLOCK_REALTIME, &n->mtime);
	return n;
}

static struct ent *
dir_find(struct dir *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (strcmp(d->e[i].name, name) == 0)
			return &d->e[i];
	return NULL;
}

/* dir_set(d, name, node): name ${node} ${name} in ${d}, replacing. */
static void
dir_set(struct dir *d, const char *name, struct node *node)
{
	struct ent *e;

	if ((e = dir_find(d, name)) != NULL) {
		e->node = node;
		return;
	}
	if (d->n == d->cap) {
		d->cap = d->cap == 0 ? 8 : d->cap * 2;
		d->e = xrealloc(d->e, d->cap * sizeof(*d->e));
	}
	d->e[d->n].name = xstrdup(name);
	d->e[d->n].node = node;
	d->n++;
}

/* dir_del(d, name, node): remove ${name} if it names ${node} (any: NULL). */
static void
dir_del(struct dir *d, const char *name, const struct node *node)
{
	struct ent *e;

	if ((e = dir_find(d, name)) == NULL ||
	    (node != NULL && e->node != node))
		return;
	free(e->name);
	*e = d->e[--d->n];
}

/* --- the durable state ------------------------------------------------ */

static void
nop_log(enum nkind kind, struct node *d1, const char *n1, struct node *d2,
    const char *n2, struct node *node)
{
	struct nop *o;

	if (nnops == capnops) {
		capnops = capnops == 0 ? 64 : capnops * 2;
		nops = xrealloc(nops, capnops * sizeof(*nops));
	}
	o = &nops[nnops++];
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	o->d1 = d1;
	o->n1 = xstrdup(n1);
	o->d2 = d2;
	o->n2 = n2 != NULL ? xstrdup(n2) : NULL;
	o->node = node;
}

/* Apply name operation ${o} to the durable names. */
static void
nop_apply(struct nop *o)
{
	switch (o->kind) {
	case N_CREATE:
		dir_set(&o->d1->durd, o->n1, o->node);
		break;
	case N_UNLINK:
		dir_del(&o->d1->durd, o->n1, o->node);
		break;
	case N_RENAME:
		/*
		 * One journalled operation: the old name goes (if it was
		 * durable) and the new one comes, whatever it named.
		 */
		dir_del(&o->d1->durd, o->n1, o->node);
		dir_set(&o->d2->durd, o->n2, o->node);
		break;
	}
	o->done = true;
}

static void
dop_log(struct node *n, bool trunc, uint64_t off, const uint8_t *p,
    size_t len)
{
	struct dop *d;

	if (n->npend == n->cappend) {
		n->cappend = n->cappend == 0 ? 16 : n->cappend * 2;
		n->pend = xrealloc(n->pend, n->cappend * sizeof(*n->pend));
	}
	d = &n->pend[n->npend++];
	d->trunc = trunc;
	d->off = off;
	d->len = len;
	d->data = NULL;
	if (len > 0) {
		d->data = xrealloc(NULL, len);
		memcpy(d->data, p, len);
	}
}

static void
dops_clear(struct node *n)
{
	size_t i;

	for (i = 0; i < n->npend; i++)
		free(n->pend[i].data);
	n->npend = 0;
}

/* fsync of a file: its data and size are durable. */
static void
sync_file(struct node *n)
{
	if (n->isdir)
		return;
	buf_copy(&n->dur, &n->cur);
	dops_clear(n);
}

/* fsync of a folder: every name operation in it is durable. */
static void
sync_dir(struct node *d)
{
	size_t i;

	for (i = 0; i < nnops; i++)
		if (!nops[i].done && (nops[i].d1 == d || nops[i].d2 == d))
			nop_apply(&nops[i]);
}

/* --- writing BACKING ---------------------------------------------------- */

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	if (f->level == 0)
		return 0;
	if (remove(path) != 0)
		die(path);
	return 0;
}

static void
dump_node(const char *path, struct node *n, bool durable)
{
	struct dir *d;
	struct buf *b;
	char sub[4096];
	size_t i;
	int fd;

	if (n->seen)		/* a folder renamed into itself by a pull */
		return;
	n->seen = true;
	if (n->isdir) {
		if (n != root && mkdir(path, n->mode | 0700) != 0)
			die(path);
		d = durable ? &n->durd : &n->curd;
		for (i = 0; i < d->n; i++) {
			snprintf(sub, sizeof(sub), "%s/%s", path,
			    d->e[i].name);
			dump_node(sub, d->e[i].node, durable);
		}
		return;
	}
	b = durable ? &n->dur : &n->cur;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    n->mode | 0600)) == -1)
		die(path);
	for (i = 0; i < b->len; ) {
		ssize_t w = write(fd, b->p + i, b->len - i);

		if (w <= 0)
			die(path);
		i += (size_t)w;
	}
	if (close(fd) != 0)
		die(path);
}

/* Replace BACKING's contents by the durable or the current tree. */
static void
dump(bool durable)
{
	if (nftw(backing, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		die(backing);
	dump_node(backing, root, durable);
}

static struct node *
load(const char *path, bool isdir, mode_t mode)
{
	struct node *n;
	struct dirent *de;
	struct stat sb;
	char sub[4096];
	DIR *dp;
	int fd;
	ssize_t r;

	n = node_new(isdir, mode);
	if (!isdir) {
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			die(path);
		for (;;) {
			buf_resize(&n->cur, n->cur.len + 65536);
			n->cur.len -= 65536;
			if ((r = read(fd, n->cur.p + n->cur.len, 65536)) < 0)
				die(path);
			if (r == 0)
				break;
			n->cur.len += (size_t)r;
		}
		close(fd);
		buf_copy(&n->dur, &n->cur);
		return n;
	}
	if ((dp = opendir(path)) == NULL)
		die(path);
	while ((de = readdir(dp)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (lstat(sub, &sb) != 0)
			die(sub);
		if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode)) {
			fprintf(stderr, "pullfs: '%s' is neither a file nor "
			    "a folder\n", sub);
			exit(2);
		}
		dir_set(&n->curd, de->d_name,
		    load(sub, S_ISDIR(sb.st_mode), sb.st_mode));
	}
	closedir(dp);
	n->durd.n = 0;
	for (size_t i = 0; i < n->curd.n; i++)
		dir_set(&n->durd, n->curd.e[i].name, n->curd.e[i].node);
	return n;
}

/* --- the pull ---------------------------------------------------------- */

/* The unsynced writes of file ${n} that survive, applied to its durable copy. */
static void
pull_file(struct node *n, size_t *kept, size_t *total, size_t *torn)
{
	size_t i, last = SIZE_MAX, len;
	bool *k;

	k = xrealloc(NULL, n->npend * sizeof(*k));
	for (i = 0; i < n->npend; i++) {
		k[i] = keep();
		(*total)++;
		if (k[i]) {
			(*kept)++;
			if (!n->pend[i].trunc)
				last = i;
		}
	}
	for (i = 0; i < n->npend; i++) {
		struct dop *d = &n->pend[i];

		if (!k[i])
			continue;
		if (d->trunc) {
			buf_resize(&n->dur, d->off);
			continue;
		}
		len = d->len;
		/*
		 * Torn: the device wrote the sectors of the last write up to
		 * some boundary inside it (none of them, possibly).
		 */
		if (tear && i == last && rnd() % 2 == 0) {
			uint64_t first = (d->off + SECTOR - 1) / SECTOR *
			    SECTOR, end = d->off + d->len, nb, cut;

			nb = end > first ? (end - first) / SECTOR + 1 : 1;
			cut = first + (rnd() % nb) * SECTOR;
			if (cut > end)
				cut = end;
			if (cut < d->off)
				cut = d->off;
			len = (size_t)(cut - d->off);
			if (len < d->len)
				(*torn)++;
			if (len == 0)
				continue;
		}
		buf_write(&n->dur, d->off, d->data, len);
	}
	free(k);
	dops_clear(n);
}

/* A pull keeps a random subset of what is not durable, then writes it. */
static void
pull(void)
{
	size_t i, kn = 0, pn = 0, kd = 0, pd = 0, torn = 0;

	pulled = true;
	if (keep_pct < 0) {
		static const int pcts[] = { 0, 25, 50, 75, 100 };

		keep_pct = pcts[rnd() % 5];
	}
	for (i = 0; i < nnops; i++) {
		if (nops[i].done)
			continue;
		pn++;
		if (keep()) {
			nop_apply(&nops[i]);
			kn++;
		}
	}
	for (i = 0; i < nnodes; i++)
		if (!nodes[i]->isdir)
			pull_file(nodes[i], &kd, &pd, &torn);
	fprintf(stderr, "pullfs: pulled at operation %" PRIu64 ", keeping "
	    "%d %%: %zu of %zu name operations, %zu of %zu writes "
	    "(%zu torn)\n", nmut, keep_pct, kn, pn, kd, pd, torn);
	dump(true);
}

/* --- the file system ---------------------------------------------------- */

static void
on_usr1(int sig)
{
	(void)sig;
	sigpull = 1;
}

/*
 * Every operation starts here: EIO once the card is gone.  A mutating
 * operation counts, and the N-th one pulls the card instead of running.
 */
static int
gate(bool mutating)
{
	if (!pulled && (sigpull ||
	    (mutating && ++nmut == pull_after)))
		pull();
	return pulled ? -EIO : 0;
}

/* A write, create or mkdir on a card that is full: ENOSPC. */
static int
gate_alloc(void)
{
	int r;

	if ((r = gate(true)) != 0)
		return r;
	return full_after != 0 && nmut >= full_after ? -ENOSPC : 0;
}

/* resolve(path, parent, name): the node at ${path} (NULL if none). */
static struct node *
resolve(const char *path, struct node **parent, const char **name)
{
	struct node *n = root, *p = NULL;
	struct ent *e;
	char comp[256];
	const char *s = path, *t;
	size_t len;

	if (parent != NULL)
		*parent = NULL;
	while (*s == '/')
		s++;
	while (*s != '\0') {
		if ((t = strchr(s, '/')) == NULL)
			t = s + strlen(s);
		len = (size_t)(t - s);
		if (len >= sizeof(comp))
			return NULL;
		memcpy(comp, s, len);
		comp[len] = '\0';
		p = n;
		if (name != NULL)
			*name = s;
		while (*t == '/')
			t++;
		if (parent != NULL && *t == '\0')
			*parent = p;
		if (!n->isdir || (e = dir_find(&n->curd, comp)) == NULL) {
			n = NULL;
			if (parent != NULL && *t != '\0')
				*parent = NULL;	/* a folder on the way is missing */
			break;
		}
		n = e->node;
		s = t;
	}
	return n;
}

static struct node *
fi_node(const char *path, struct fuse_file_info *fi)
{
	if (fi != NULL && fi->fh != 0)
		return (struct node *)(uintptr_t)fi->fh;
	return path != NULL ? resolve(path, NULL, NULL) : NULL;
}

static int
pf_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct node *n;
	int r;

	if ((r = gate(false)) != 0)
		return r;
	if ((n = fi_node(path, fi)) == NULL)
		return -ENOENT;
	memset(st, 0, sizeof(*st));
	st->st_mode = (n->isdir ? S_IFDIR : S_IFREG) | n->mode;
	st->st_nlink = n->isdir ? 2 : 1;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_size = n->isdir ? 4096 : (off_t)n->cur.len;
	st->st_blksize = 4096;
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_mtim = st->st_ctim = st->st_atim = n->mtime;
	return 0;
}

static int
pf_readdir(const char *path, void *out, fuse_fill_dir_t fill, off_t off,
    struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct node *n;
	size_t i;
	int r;

	(void)off;
	(void)flags;
	if ((r = gate(false)) != 0)
		return r;
	if ((n = fi_node(path, fi)) == NULL)
		return -ENOENT;
	if (!n->isdir)
		return -ENOTDIR;
	fill(out, ".", NULL, 0, 0);
	fill(out, "..", NULL, 0, 0);
	for (i = 0; i < n->curd.n; i++)
		fill(out, n->curd.e[i].name, NULL, 0, 0);
	return 0;
}

/* Where a new name goes: its folder, or -errno. */
static int
new_name(const char *path, struct node **parent, const char **name)
{
	if (resolve(path, parent, name) != NULL)
		return -EEXIST;
	if (*parent == NULL)
		return -ENOENT;
	if (!(*parent)->isdir)
		return -ENOTDIR;
	return 0;
}

static int
pf_mkdir(const char *path, mode_t mode)
{
	struct node *p, *n;
	const char *name;
	int r;

	if ((r = gate_alloc()) != 0 || (r = new_name(path, &p, &name)) != 0)
		return r;
	n = node_new(true, mode);
	dir_set(&p->curd, name, n);
	nop_log(N_CREATE, p, name, NULL, NULL, n);
	return 0;
}

static int
pf_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct node *p, *n;
	const char *name;
	int r;

	if ((r = gate_alloc()) != 0 || (r = new_name(path, &p, &name)) != 0)
		return r;
	n = node_new(false, mode);
	dir_set(&p->curd, name, n);
	nop_log(N_CREATE, p, name, NULL, NULL, n);
	fi->fh = (uintptr_t)n;
	fi->direct_io = 1;
	return 0;
}

static int
pf_open(const char *path, struct fuse_file_info *fi)
{
	struct node *n;
	int r;

	if ((r = gate(false)) != 0)
		return r;
	if ((n = resolve(path, NULL, NULL)) == NULL)
		return -ENOENT;
	if (n->isdir)
		return -EISDIR;
	fi->fh = (uintptr_t)n;
	fi->direct_io = 1;
	return 0;
}

static int
pf_opendir(const char *path, struct fuse_file_info *fi)
{
	struct node *n;
	int r;

	if ((r = gate(false)) != 0)
		return r;
	if ((n = resolve(path, NULL, NULL)) == NULL)
		return -ENOENT;
	if (!n->isdir)
		return -ENOTDIR;
	fi->fh = (uintptr_t)n;
	return 0;
}

static int
pf_read(const char *path, char *out, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct node *n;
	int r;

	if ((r = gate(false)) != 0)
		return r;
	if ((n = fi_node(path, fi)) == NULL)
		return -ENOENT;
	if ((uint64_t)off >= n->cur.len)
		return 0;
	if (size > n->cur.len - (size_t)off)
		size = n->cur.len - (size_t)off;
	memcpy(out, n->cur.p + off, size);
	return (int)size;
}

static int
pf_write(const char *path, const char *in, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct node *n;
	int r;

	if ((r = gate_alloc()) != 0)
		return r;
	if ((n = fi_node(path, fi)) == NULL)
		return -ENOENT;
	buf_write(&n->cur, (uint64_t)off, (const uint8_t *)in, size);
	dop_log(n, false, (uint64_t)off, (const uint8_t *)in, size);
	clock_gettime(CLOCK_REALTIME, &n->mtime);
	return (int)size;
}

static int
pf_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct node *n;
	int r;

	if ((r = gate(true)) != 0)
		return r;
	if ((n = fi_node(path, fi)) == NULL)
		return -ENOENT;
	if (n->isdir)
		return -EISDIR;
	buf_resize(&n->cur, (size_t)size);
	dop_log(n, true, (uint64_t)size, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &n->mtime);
	return 0;
}

static int
pf_remove(const char *path, bool isdir)
{
	struct node *p, *n;
	const char *name;
	int r;

	if ((r = gate(true)) != 0)
		return r;
	if ((n = resolve(path, &p, &name)) == NULL || p == NULL)
		return -ENOENT;
	if (n->isdir != isdir)
		return isdir ? -ENOTDIR : -EISDIR;
	if (isdir && n->curd.n > 0)
		return -ENOTEMPTY;
	dir_del(&p->curd, name, n);
	nop_log(N_UNLINK, p, name, NULL, NULL, n);
	return 0;
}

static int
pf_unlink(const char *path)
{
	return pf_remove(path, false);
}

static int
pf_rmdir(const char *path)
{
	return pf_remove(path, true);
}

static int
pf_rename(const char *from, const char *to, unsigned int flags)
{
	struct node *p1, *p2, *n, *old;
	const char *n1, *n2;
	char *name1;
	int r;

	if ((r = gate(true)) != 0)
		return r;
	if (flags & ~(unsigned int)RENAME_NOREPLACE)
		return -EINVAL;
	if ((n = resolve(from, &p1, &n1)) == NULL || p1 == NULL)
		return -ENOENT;
	old = resolve(to, &p2, &n2);
	if (p2 == NULL)
		return -ENOENT;
	if (old == n)
		return 0;
	if (old != NULL) {
		if (flags & RENAME_NOREPLACE)
			return -EEXIST;
		if (old->isdir != n->isdir)
			return old->isdir ? -EISDIR : -ENOTDIR;
		if (old->isdir && old->curd.n > 0)
			return -ENOTEMPTY;
	}
	/* A folder into itself: the kernel refuses it before it comes here. */
	name1 = xstrdup(n1);
	dir_del(&p1->curd, name1, n);
	dir_set(&p2->curd, n2, n);
	nop_log(N_RENAME, p1, name1, p2, n2, n);
	free(name1);
	return 0;
}

static int
pf_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct node *n;
	int r;

	(void)datasync;
	if ((r = gate(false)) != 0)
		return r;
	if ((n = fi_node(path, fi)) == NULL)
		return -ENOENT;
	sync_file(n);
	return 0;
}

static int
pf_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct node *n;
	int r;

	(void)datasync;
	if ((r = gate(false)) != 0)
		return r;
	if ((n = fi_node(path, fi)) == NULL)
		return -ENOENT;
	sync_dir(n);
	return 0;
}

static int
pf_flush(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	return gate(false);
}

static int
pf_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	return 0;
}

static int
pf_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct node *n;
	int r;

	if ((r = gate(false)) != 0)
		return r;
	if ((n = fi_node(path, fi)) == NULL)
		return -ENOENT;
	n->mode = mode & 07777;
	return 0;
}

static int
pf_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	(void)uid;
	(void)gid;
	return fi_node(path, fi) == NULL ? -ENOENT : gate(false);
}

static int
pf_utimens(const char *path, const struct timespec tv[2],
    struct fuse_file_info *fi)
{
	struct node *n;
	int r;

	if ((r = gate(false)) != 0)
		return r;
	if ((n = fi_node(path, fi)) == NULL)
		return -ENOENT;
	if (tv[1].tv_nsec == UTIME_NOW)
		clock_gettime(CLOCK_REALTIME, &n->mtime);
	else if (tv[1].tv_nsec != UTIME_OMIT)
		n->mtime = tv[1];
	return 0;
}

static int
pf_statfs(const char *path, struct statvfs *st)
{
	int r;

	(void)path;
	if ((r = gate(false)) != 0)
		return r;
	return statvfs(backing, st) == 0 ? 0 : -errno;
}

static void *
pf_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	/* The kernel caches nothing: every lookup and read comes here. */
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->direct_io = 1;
	cfg->hard_remove = 1;		/* no .fuse_hidden renames */
	cfg->nullpath_ok = 1;
	return NULL;
}

static const struct fuse_operations pf_ops = {
	.init		= pf_init,
	.getattr	= pf_getattr,
	.readdir	= pf_readdir,
	.mkdir		= pf_mkdir,
	.create		= pf_create,
	.open		= pf_open,
	.opendir	= pf_opendir,
	.read		= pf_read,
	.write		= pf_write,
	.truncate	= pf_truncate,
	.unlink		= pf_unlink,
	.rmdir		= pf_rmdir,
	.rename		= pf_rename,
	.fsync		= pf_fsync,
	.fsyncdir	= pf_fsyncdir,
	.flush		= pf_flush,
	.release	= pf_release,
	.chmod		= pf_chmod,
	.chown		= pf_chown,
	.utimens	= pf_utimens,
	.statfs		= pf_statfs,
};

static void
usage(void)
{
	fprintf(stderr, "usage: pullfs [--seed S] [--pull-after N] "
	    "[--keep PCT] [--tear] [--count FILE] [--full-after N] "
	    "BACKING MOUNTPOINT\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *count = NULL, *mnt;
	char *fargv[8];
	struct sigaction sa;
	struct stat sb;
	FILE *f = NULL;
	size_t i;
	int a, r;

	for (a = 1; a < argc && strncmp(argv[a], "--", 2) == 0; a++) {
		if (strcmp(argv[a], "--tear") == 0)
			tear = true;
		else if (a + 1 >= argc)
			usage();
		else if (strcmp(argv[a], "--seed") == 0)
			rng = strtoull(argv[++a], NULL, 10);
		else if (strcmp(argv[a], "--full-after") == 0)
			full_after = strtoull(argv[++a], NULL, 10);
		else if (strcmp(argv[a], "--pull-after") == 0)
			pull_after = strtoull(argv[++a], NULL, 10);
		else if (strcmp(argv[a], "--keep") == 0)
			keep_pct = atoi(argv[++a]);
		else if (strcmp(argv[a], "--count") == 0)
			count = argv[++a];
		else
			usage();
	}
	if (argc - a != 2)
		usage();
	/* Absolute paths: fuse_main() may change the working folder. */
	if ((backing = realpath(argv[a], NULL)) == NULL)
		die(argv[a]);
	mnt = argv[a + 1];
	if (count != NULL && (f = fopen(count, "w")) == NULL)
		die(count);
	if (stat(backing, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "pullfs: '%s' is not a folder\n", backing);
		return 2;
	}
	root = load(backing, true, sb.st_mode);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);

	i = 0;
	fargv[i++] = argv[0];
	fargv[i++] = (char *)"-f";
	fargv[i++] = (char *)"-s";
	fargv[i++] = (char *)"-o";
	fargv[i++] = (char *)"fsname=pullfs,subtype=pullfs";
	fargv[i++] = (char *)mnt;
	fargv[i] = NULL;
	r = fuse_main((int)i, fargv, &pf_ops, NULL);
	/* A pull at the very end (SIGUSR1 with no operation after it). */
	if (!pulled && sigpull)
		pull();
	if (!pulled && nmut > 0)
		dump(false);
	if (count != NULL) {
		fprintf(f, "%" PRIu64 "\n", nmut);
		fclose(f);
	}
	for (i = 0; i < nnops; i++) {
		free(nops[i].n1);
		free(nops[i].n2);
	}
	free(nops);
	for (i = 0; i < nnodes; i++) {
		struct node *n = nodes[i];

		dops_clear(n);
		free(n->pend);
		free(n->cur.p);
		free(n->dur.p);
		for (size_t j = 0; j < n->curd.n; j++)
			free(n->curd.e[j].name);
		for (size_t j = 0; j < n->durd.n; j++)
			free(n->durd.e[j].name);
		free(n->curd.e);
		free(n->durd.e);
		free(n);
	}
	free(nodes);
	free((char *)backing);
	return r;
}
