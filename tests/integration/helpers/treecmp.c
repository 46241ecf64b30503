/* SPDX-License-Identifier: ISC */
/*
 * treecmp [--no-owner] [--no-sparse] A B: compare two directory trees the way
 * a restore must reproduce one.  Nothing is followed (lstat throughout).
 * For every entry below A and B it compares the set of names (byte-exact),
 * the type, permission bits (07777, not for symlinks), uid and gid (unless
 * --no-owner), mtime to the nanosecond (symlinks too), file contents, symlink
 * targets, device numbers, user.* xattrs, the hard-link structure (two paths
 * are links of one file in A exactly when they are in B), and sparseness (a
 * file that is mostly holes in A must have holes in B, unless --no-sparse).
 * A and B themselves are only required to be directories; their own
 * metadata is not compared.
 *
 * Every difference is one line on stdout, "PATH: what differs", with
 * unprintable bytes of names escaped as \xHH.  Exit status: 0 identical,
 * 1 different (or an entry could not be read), 2 usage.
 */

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NBUCKETS	4096

struct inode_ent {
	dev_t			 dev;
	ino_t			 ino;
	char			*path;	/* first path seen with this inode */
	struct inode_ent	*next;
};

struct side {
	const char		*root;	/* A or B as given */
	struct inode_ent	*bucket[NBUCKETS];
};

static struct side sa, sb;
static bool no_owner, no_sparse;
static unsigned long ndiff;

static void
oom(void)
{
	fputs("treecmp: out of memory\n", stderr);
	exit(2);
}

static void *
xmalloc(size_t n)
{
	void *p;

	if ((p = malloc(n == 0 ? 1 : n)) == NULL)
		oom();
	return p;
}

static char *
xstrdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		oom();
	return p;
}

/* Print ${len} bytes of ${s} with anything unprintable as \xHH. */
static void
put_escaped(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\')
			fputs("\\\\", stdout);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

/* Report one difference at ${rel}. */
static void diff(const char *rel, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
diff(const char *rel, const char *fmt, ...)
{
	va_list ap;

	ndiff++;
	put_escaped(rel, strlen(rel));
	fputs(": ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Like diff() with a second, escaped path or string appended. */
static void
diff_str(const char *rel, const char *what, const char *s1, size_t l1,
    const char *s2, size_t l2)
{
	ndiff++;
	put_escaped(rel, strlen(rel));
	printf(": %s '", what);
	put_escaped(s1, l1);
	fputs("' vs '", stdout);
	put_escaped(s2, l2);
	fputs("'\n", stdout);
}

/* ${rel} is a hard link of ${la} in A and of ${lb} in B (NULL: of none). */
static void
diff_links(const char *rel, const char *la, const char *lb)
{
	ndiff++;
	put_escaped(rel, strlen(rel));
	fputs(": hard link", stdout);
	if (la != NULL) {
		fputs(" of '", stdout);
		put_escaped(la, strlen(la));
		printf("' in %s", sa.root);
	} else
		printf(" of nothing earlier in %s", sa.root);
	if (lb != NULL) {
		fputs(" but of '", stdout);
		put_escaped(lb, strlen(lb));
		printf("' in %s\n", sb.root);
	} else
		printf(" but of nothing earlier in %s\n", sb.root);
}

static char *
join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = xmalloc(la + lb + 2);

	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

/* Full path of ${rel} on side ${s}. */
static char *
full(const struct side *s, const char *rel)
{
	return rel[0] == '\0' ? xstrdup(s->root) : join(s->root, rel);
}

/* The first path with the inode of ${st}; records ${rel} if it is new. */
static const char *
first_link(struct side *s, const struct stat *st, const char *rel)
{
	size_t h = ((size_t)st->st_ino * 2654435761u ^ (size_t)st->st_dev) %
	    NBUCKETS;
	struct inode_ent *e;

	if (S_ISDIR(st->st_mode) || st->st_nlink < 2)
		return rel;
	for (e = s->bucket[h]; e != NULL; e = e->next)
		if (e->dev == st->st_dev && e->ino == st->st_ino)
			return e->path;
	e = xmalloc(sizeof(*e));
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->path = xstrdup(rel);
	e->next = s->bucket[h];
	s->bucket[h] = e;
	return e->path;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in directory ${path}; NULL (reported) if it cannot be read. */
static char **
list_dir(const char *path, const char *rel, const char *label, size_t *np)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	if ((d = opendir(path)) == NULL) {
		diff(rel[0] ? rel : ".", "cannot open directory in %s: %s",
		    label, strerror(errno));
		return NULL;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((v = realloc(v, cap * sizeof(*v))) == NULL)
				oom();
		}
		v[n++] = xstrdup(de->d_name);
	}
	if (errno != 0)
		diff(rel[0] ? rel : ".", "cannot read directory in %s: %s",
		    label, strerror(errno));
	closedir(d);
	if (v == NULL)
		v = xmalloc(sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_names);
	*np = n;
	return v;
}

static const char *
type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG:	return "file";
	case S_IFDIR:	return "directory";
	case S_IFLNK:	return "symlink";
	case S_IFIFO:	return "fifo";
	case S_IFCHR:	return "char device";
	case S_IFBLK:	return "block device";
	case S_IFSOCK:	return "socket";
	default:	return "unknown";
	}
}

static void
cmp_contents(const char *rel, const char *pa, const char *pb)
{
	static uint8_t ba[65536], bb[65536];
	long long off = 0;
	int fa = -1, fb = -1;

	if ((fa = open(pa, O_RDONLY | O_NOFOLLOW)) == -1) {
		diff(rel, "cannot open in %s: %s", sa.root, strerror(errno));
		goto out;
	}
	if ((fb = open(pb, O_RDONLY | O_NOFOLLOW)) == -1) {
		diff(rel, "cannot open in %s: %s", sb.root, strerror(errno));
		goto out;
	}
	for (;;) {
		ssize_t na, nb;

		/* Fill both buffers fully so short reads cannot misalign. */
		na = 0;
		while ((size_t)na < sizeof(ba)) {
			ssize_t r = read(fa, ba + na, sizeof(ba) - (size_t)na);

			if (r < 0) {
				diff(rel, "read error in %s: %s", sa.root,
				    strerror(errno));
				goto out;
			}
			if (r == 0)
				break;
			na += r;
		}
		nb = 0;
		while ((size_t)nb < sizeof(bb)) {
			ssize_t r = read(fb, bb + nb, sizeof(bb) - (size_t)nb);

			if (r < 0) {
				diff(rel, "read error in %s: %s", sb.root,
				    strerror(errno));
				goto out;
			}
			if (r == 0)
				break;
			nb += r;
		}
		if (na != nb || memcmp(ba, bb, (size_t)na) != 0) {
			ssize_t i = 0;

			while (i < na && i < nb && ba[i] == bb[i])
				i++;
			diff(rel, "contents differ from byte %lld", off + i);
			goto out;
		}
		if (na == 0)
			break;
		off += na;
	}
out:
	if (fa != -1)
		close(fa);
	if (fb != -1)
		close(fb);
}

static void
cmp_symlinks(const char *rel, const char *pa, const char *pb)
{
	char ta[8192], tb[8192];
	ssize_t la, lb;

	if ((la = readlink(pa, ta, sizeof(ta))) < 0 ||
	    (lb = readlink(pb, tb, sizeof(tb))) < 0) {
		diff(rel, "cannot read symlink: %s", strerror(errno));
		return;
	}
	if (la != lb || memcmp(ta, tb, (size_t)la) != 0)
		diff_str(rel, "symlink target", ta, (size_t)la, tb, (size_t)lb);
}

/*
 * The sorted user.* xattr names of ${path} as a list of NUL-terminated
 * strings in one buffer; *np gets the count.  NULL on error (reported).
 */
static char **
user_xattrs(const char *rel, const char *path, const char *label,
    size_t *np)
{
	char *buf, **v;
	ssize_t len;
	size_t n = 0;

	*np = 0;
	for (;;) {
		if ((len = llistxattr(path, NULL, 0)) < 0) {
			if (errno == ENOTSUP)
				return xmalloc(sizeof(char *));
			diff(rel, "cannot list xattrs in %s: %s", label,
			    strerror(errno));
			return NULL;
		}
		buf = xmalloc((size_t)len + 1);
		if ((len = llistxattr(path, buf, (size_t)len)) >= 0)
			break;
		free(buf);
		if (errno != ERANGE) {
			diff(rel, "cannot list xattrs in %s: %s", label,
			    strerror(errno));
			return NULL;
		}
	}
	v = xmalloc(((size_t)len + 1) * sizeof(*v));
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(buf + i) + 1)
		if (strncmp(buf + i, "user.", 5) == 0)
			v[n++] = xstrdup(buf + i);
	free(buf);
	qsort(v, n, sizeof(*v), cmp_names);
	*np = n;
	return v;
}

/* Value of xattr ${name} of ${path} in a new buffer; NULL if it fails. */
static char *
xattr_value(const char *path, const char *name, ssize_t *lenp)
{
	ssize_t len;
	char *v;

	for (;;) {
		if ((len = lgetxattr(path, name, NULL, 0)) < 0)
			return NULL;
		v = xmalloc((size_t)len);
		if ((len = lgetxattr(path, name, v, (size_t)len)) >= 0)
			break;
		free(v);
		if (errno != ERANGE)
			return NULL;
	}
	*lenp = len;
	return v;
}

static void
cmp_xattrs(const char *rel, const char *pa, const char *pb)
{
	char **va, **vb;
	size_t na, nb, i = 0, j = 0;

	if ((va = user_xattrs(rel, pa, sa.root, &na)) == NULL)
		return;
	if ((vb = user_xattrs(rel, pb, sb.root, &nb)) == NULL)
		goto out;
	while (i < na || j < nb) {
		int c = i == na ? 1 : j == nb ? -1 : strcmp(va[i], vb[j]);

		if (c < 0) {
			diff(rel, "xattr %s only in %s", va[i++], sa.root);
		} else if (c > 0) {
			diff(rel, "xattr %s only in %s", vb[j++], sb.root);
		} else {
			ssize_t la = 0, lb = 0;
			char *xa = xattr_value(pa, va[i], &la);
			char *xb = xattr_value(pb, vb[j], &lb);

			if (xa == NULL || xb == NULL)
				diff(rel, "cannot read xattr %s", va[i]);
			else if (la != lb || memcmp(xa, xb, (size_t)la) != 0)
				diff(rel, "xattr %s differs (%zd vs %zd "
				    "bytes)", va[i], la, lb);
			free(xa);
			free(xb);
			i++;
			j++;
		}
	}
out:
	for (i = 0; i < na; i++)
		free(va[i]);
	free(va);
	if (vb != NULL) {
		for (j = 0; j < nb; j++)
			free(vb[j]);
		free(vb);
	}
}

static void walk(const char *rel);

/* Compare the entry ${rel}, which exists on both sides. */
static void
cmp_entry(const char *rel)
{
	char *pa = full(&sa, rel), *pb = full(&sb, rel);
	struct stat a, b;
	const char *la, *lb;

	if (lstat(pa, &a) != 0) {
		diff(rel, "cannot lstat in %s: %s", sa.root, strerror(errno));
		goto out;
	}
	if (lstat(pb, &b) != 0) {
		diff(rel, "cannot lstat in %s: %s", sb.root, strerror(errno));
		goto out;
	}
	if ((a.st_mode & S_IFMT) != (b.st_mode & S_IFMT)) {
		diff(rel, "type %s vs %s", type_name(a.st_mode),
		    type_name(b.st_mode));
		goto out;
	}
	if (!S_ISLNK(a.st_mode) && (a.st_mode & 07777) != (b.st_mode & 07777))
		diff(rel, "mode %04o vs %04o", (unsigned)(a.st_mode & 07777),
		    (unsigned)(b.st_mode & 07777));
	if (!no_owner && (a.st_uid != b.st_uid || a.st_gid != b.st_gid))
		diff(rel, "owner %lu:%lu vs %lu:%lu", (unsigned long)a.st_uid,
		    (unsigned long)a.st_gid, (unsigned long)b.st_uid,
		    (unsigned long)b.st_gid);
	if (a.st_mtim.tv_sec != b.st_mtim.tv_sec ||
	    a.st_mtim.tv_nsec != b.st_mtim.tv_nsec)
		diff(rel, "mtime %lld.%09ld vs %lld.%09ld",
		    (long long)a.st_mtim.tv_sec, a.st_mtim.tv_nsec,
		    (long long)b.st_mtim.tv_sec, b.st_mtim.tv_nsec);

	switch (a.st_mode & S_IFMT) {
	case S_IFREG:
		if (a.st_size != b.st_size)
			diff(rel, "size %lld vs %lld", (long long)a.st_size,
			    (long long)b.st_size);
		else
			cmp_contents(rel, pa, pb);
		/* Mostly holes in A: B must have holes too. */
		if (!no_sparse && a.st_size > 0 &&
		    (long long)a.st_blocks * 512 <= a.st_size / 2 &&
		    (long long)b.st_blocks * 512 >= b.st_size)
			diff(rel, "not sparse: %lld bytes allocated for size "
			    "%lld (%lld in %s)", (long long)b.st_blocks * 512,
			    (long long)b.st_size, (long long)a.st_blocks * 512,
			    sa.root);
		break;
	case S_IFLNK:
		cmp_symlinks(rel, pa, pb);
		break;
	case S_IFCHR:
	case S_IFBLK:
		if (a.st_rdev != b.st_rdev)
			diff(rel, "device %u,%u vs %u,%u", major(a.st_rdev),
			    minor(a.st_rdev), major(b.st_rdev),
			    minor(b.st_rdev));
		break;
	}
	cmp_xattrs(rel, pa, pb);

	/* Hard links: same first path of each inode, walking in one order. */
	la = first_link(&sa, &a, rel);
	lb = first_link(&sb, &b, rel);
	if (strcmp(la, lb) != 0)
		diff_links(rel, strcmp(la, rel) == 0 ? NULL : la,
		    strcmp(lb, rel) == 0 ? NULL : lb);

	if (S_ISDIR(a.st_mode))
		walk(rel);
out:
	free(pa);
	free(pb);
}

/* Compare the contents of directory ${rel} ("" for the top). */
static void
walk(const char *rel)
{
	char *pa = full(&sa, rel), *pb = full(&sb, rel);
	char **na, **nb = NULL;
	size_t ca = 0, cb = 0, i = 0, j = 0;

	if ((na = list_dir(pa, rel, sa.root, &ca)) == NULL)
		goto out;
	if ((nb = list_dir(pb, rel, sb.root, &cb)) == NULL)
		goto out;
	while (i < ca || j < cb) {
		int c = i == ca ? 1 : j == cb ? -1 : strcmp(na[i], nb[j]);
		const char *name = c <= 0 ? na[i] : nb[j];
		char *child = rel[0] == '\0' ? xstrdup(name) : join(rel, name);

		if (c < 0) {
			diff(child, "only in %s", sa.root);
			i++;
		} else if (c > 0) {
			diff(child, "only in %s", sb.root);
			j++;
		} else {
			cmp_entry(child);
			i++;
			j++;
		}
		free(child);
	}
out:
	if (na != NULL) {
		for (i = 0; i < ca; i++)
			free(na[i]);
		free(na);
	}
	if (nb != NULL) {
		for (j = 0; j < cb; j++)
			free(nb[j]);
		free(nb);
	}
	free(pa);
	free(pb);
}

static void
free_side(struct side *s)
{
	for (size_t h = 0; h < NBUCKETS; h++) {
		struct inode_ent *e, *next;

		for (e = s->bucket[h]; e != NULL; e = next) {
			next = e->next;
			free(e->path);
			free(e);
		}
	}
}

static int
usage(void)
{
	fputs("usage: treecmp [--no-owner] [--no-sparse] A B\n", stderr);
	return 2;
}

int
main(int argc, char **argv)
{
	struct stat st;
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--no-owner") == 0)
			no_owner = true;
		else if (strcmp(argv[i], "--no-sparse") == 0)
			no_sparse = true;
		else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else
			return usage();
	}
	if (argc - i != 2)
		return usage();
	sa.root = argv[i];
	sb.root = argv[i + 1];
	for (int k = 0; k < 2; k++) {
		const char *root = k == 0 ? sa.root : sb.root;

		if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
			fprintf(stderr, "treecmp: '%s' is not a directory\n",
			    root);
			return 1;
		}
	}

	walk("");
	free_side(&sa);
	free_side(&sb);
	if (fflush(stdout) != 0)
		return 2;
	if (ndiff > 0)
		fprintf(stderr, "treecmp: %lu difference%s\n", ndiff,
		    ndiff == 1 ? "" : "s");
	return ndiff > 0;
}
