/* SPDX-License-Identifier: ISC */
/*
 * gentree DIR [--big]: create a test tree that holds every kind of entry a
 * backup has to carry: regular files of many sizes and kinds of content,
 * deep and empty directories, symlinks (relative, absolute, dangling, to a
 * directory, looping), hard links (a pair, a triple across directories, an
 * empty pair), odd permission bits (setuid, setgid, sticky), awkward names
 * (spaces, newline, leading dash, non-UTF-8, 255 bytes), user xattrs
 * (text, binary, empty) on files and directories, sparse files, a FIFO and,
 * when run as root, device nodes, a 0000 file and files owned by uid 1234,
 * gid 5678.  Every entry gets its own mtime with nanoseconds, directories
 * last of all.  --big adds a 40 MiB file.
 *
 * The content comes from a seeded PRNG, so two runs make identical trees.
 * This is a test fixture maker, not library code: it exits on the first
 * error, naming what failed, and fails rather than silently making a
 * poorer tree (a file system without user xattrs or holes is an error).
 */

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB		(1024 * 1024)
#define MAX_DIRS	64

enum fill {
	FILL_RANDOM,		/* incompressible */
	FILL_TEXT,		/* compressible words */
	FILL_MIXED,		/* 64 KiB blocks of each, alternating */
};

static const char *top;		/* DIR as given */
static int topfd = -1;
static bool is_root;
static char *dirs[MAX_DIRS];	/* directories, for their times at the end */
static size_t ndirs;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
    noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	fputs("gentree: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (e != 0)
		fprintf(stderr, ": %s", strerror(e));
	fputc('\n', stderr);
	exit(1);
}

/* splitmix64: small, fast, and good enough for test data. */
static uint64_t
rng_next(uint64_t *s)
{
	uint64_t z;

	*s += 0x9e3779b97f4a7c15ULL;
	z = *s;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* FNV-1a of ${s}: the seed of a file's content. */
static uint64_t
seed_of(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void
fill(uint8_t *buf, size_t len, uint64_t *s, enum fill kind, uint64_t off)
{
	static const char *const words[] = {
		"coffer ", "backup ", "restore ", "chunk ", "pack ", "index ",
		"snapshot ", "the ", "of ", "and ", "card ", "key ", "\n",
		"data ", "0123456789 ", "lorem ", "ipsum ", "dolor ", "sit ",
	};
	size_t i = 0;

	if (kind == FILL_MIXED)
		kind = (off / 65536) % 2 == 0 ? FILL_RANDOM : FILL_TEXT;
	if (kind == FILL_RANDOM) {
		while (i < len) {
			uint64_t r = rng_next(s);

			for (int k = 0; k < 8 && i < len; k++, r >>= 8)
				buf[i++] = (uint8_t)r;
		}
		return;
	}
	while (i < len) {
		const char *w = words[rng_next(s) % (sizeof(words) /
		    sizeof(words[0]))];

		for (; *w != '\0' && i < len; w++)
			buf[i++] = (uint8_t)*w;
	}
}

/* Write ${len} bytes of content at ${off} of ${fd}. */
static void
put(int fd, const char *rel, uint64_t *s, enum fill kind, off_t off,
    size_t len)
{
	static uint8_t buf[65536];

	while (len > 0) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf);
		ssize_t w;

		/* Block boundaries follow the offset, so MIXED alternates. */
		if (n > 65536 - (size_t)(off % 65536))
			n = 65536 - (size_t)(off % 65536);
		fill(buf, n, s, kind, (uint64_t)off);
		if ((w = pwrite(fd, buf, n, off)) < 0)
			die("write '%s'", rel);
		if ((size_t)w != n) {
			errno = 0;
			die("short write to '%s'", rel);
		}
		off += (off_t)n;
		len -= n;
	}
}

/*
 * The mtime of ${rel}: a function of its name alone, so options such as --big
 * do not shift the others; spread over ten years from 2004, with nanoseconds.
 */
static struct timespec
time_of(const char *rel)
{
	uint64_t s = seed_of(rel) ^ 0x74696d65ULL;
	struct timespec ts;

	ts.tv_sec = 1100000000 + (time_t)(rng_next(&s) % (10 * 365 * 86400ULL));
	ts.tv_nsec = (long)(rng_next(&s) % 1000000000ULL);
	return ts;
}

static void
set_time_to(const char *rel, struct timespec mtime)
{
	struct timespec ts[2];

	ts[0] = mtime;		/* atime: same; nothing compares it */
	ts[1] = mtime;
	if (utimensat(topfd, rel, ts, AT_SYMLINK_NOFOLLOW) != 0)
		die("set times of '%s'", rel);
}

static void
set_time(const char *rel)
{
	set_time_to(rel, time_of(rel));
}

static void
set_mode(const char *rel, mode_t mode)
{
	if (fchmodat(topfd, rel, mode, 0) != 0)
		die("chmod '%s'", rel);
}

static void
mkdir_(const char *rel, mode_t mode)
{
	if (ndirs == MAX_DIRS) {
		errno = 0;
		die("too many directories");
	}
	if (mkdirat(topfd, rel, 0700) != 0)
		die("mkdir '%s'", rel);
	set_mode(rel, mode);
	if ((dirs[ndirs++] = strdup(rel)) == NULL)
		die("strdup");
}

/*
 * Create ${rel} with ${mode}: ${skip} bytes of text, then ${size} - ${skip}
 * bytes of ${kind} content from the stream seeded by ${seedname}.
 */
static void
file_seeded(const char *rel, const char *seedname, size_t skip, off_t size,
    enum fill kind, mode_t mode)
{
	uint64_t s = seed_of("prefix");
	int fd;

	if ((fd = openat(topfd, rel, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
		die("create '%s'", rel);
	put(fd, rel, &s, FILL_TEXT, 0, skip);
	s = seed_of(seedname);
	put(fd, rel, &s, kind, (off_t)skip, (size_t)size - skip);
	if (close(fd) != 0)
		die("close '%s'", rel);
	set_mode(rel, mode);
	set_time(rel);
}

/* Create ${rel} with ${size} bytes of ${kind} content and ${mode}. */
static void
file(const char *rel, off_t size, enum fill kind, mode_t mode)
{
	file_seeded(rel, rel, 0, size, kind, mode);
}

/* Create ${rel} holding ${text}. */
static void
text_file(const char *rel, const char *text, mode_t mode)
{
	size_t len = strlen(text);
	int fd;

	if ((fd = openat(topfd, rel, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
		die("create '%s'", rel);
	if (write(fd, text, len) != (ssize_t)len)
		die("write '%s'", rel);
	if (close(fd) != 0)
		die("close '%s'", rel);
	set_mode(rel, mode);
	set_time(rel);
}

static void
symlink_(const char *target, const char *rel)
{
	if (symlinkat(target, topfd, rel) != 0)
		die("symlink '%s'", rel);
	set_time(rel);
}

static void
hardlink(const char *from, const char *rel)
{
	if (linkat(topfd, from, topfd, rel, 0) != 0)
		die("link '%s' to '%s'", rel, from);
}

static void
xattr(const char *rel, const char *name, const void *val, size_t len)
{
	char path[8192];

	snprintf(path, sizeof(path), "%s/%s", top, rel);
	if (lsetxattr(path, name, val, len, 0) != 0) {
		if (errno == ENOTSUP)
			die("set xattr %s on '%s' (this file system has no "
			    "user xattrs; set TMPDIR to one that has)", name,
			    path);
		die("set xattr %s on '%s'", name, path);
	}
}

static void
owner(const char *rel, uid_t uid, gid_t gid)
{
	if (fchownat(topfd, rel, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
		die("chown '%s'", rel);
}

/*
 * A sparse file of ${size} bytes with ${n} data extents at ${offs} of
 * ${lens}; fails if the file system did not leave the holes unallocated.
 */
static void
sparse(const char *rel, off_t size, const off_t *offs, const size_t *lens,
    size_t n)
{
	uint64_t s = seed_of(rel);
	struct stat sb;
	off_t data = 0;
	int fd;

	if ((fd = openat(topfd, rel, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
		die("create '%s'", rel);
	if (ftruncate(fd, size) != 0)
		die("truncate '%s'", rel);
	for (size_t i = 0; i < n; i++) {
		put(fd, rel, &s, FILL_RANDOM, offs[i], lens[i]);
		data += (off_t)lens[i];
	}
	if (fsync(fd) != 0 || fstat(fd, &sb) != 0)
		die("fsync '%s'", rel);
	if (close(fd) != 0)
		die("close '%s'", rel);
	if ((off_t)sb.st_blocks * 512 > data + 64 * 1024) {
		errno = 0;
		die("'%s' is not sparse (%lld bytes allocated for %lld of "
		    "data); this file system has no holes", rel,
		    (long long)sb.st_blocks * 512, (long long)data);
	}
	set_mode(rel, 0644);
	set_time(rel);
}

static void
make_files(bool big)
{
	char name[256];

	file("empty", 0, FILL_TEXT, 0644);
	file("one", 1, FILL_TEXT, 0600);
	file("f4k", 4096, FILL_RANDOM, 0640);
	file("f300k", 300 * 1024 + 17, FILL_RANDOM, 0644);
	file("text-100k", 100 * 1024 + 3, FILL_TEXT, 0644);
	file("f5m", 5 * MIB + 123, FILL_MIXED, 0644);
	if (big)
		file("big-40m", 40 * MIB, FILL_MIXED, 0644);
	text_file("exec.sh", "#!/bin/sh\necho hello from coffer\n", 0755);
	text_file("marker.txt", "a small text file\n", 0644);

	/* Identical and shifted content, for deduplication. */
	mkdir_("dup", 0755);
	file("dup/a", 300 * 1024, FILL_RANDOM, 0644);
	file_seeded("dup/b", "dup/a", 0, 300 * 1024, FILL_RANDOM, 0644);
	file_seeded("dup/shifted", "dup/a", 7, 300 * 1024 + 7, FILL_RANDOM,
	    0644);

	/* Permission bits. */
	mkdir_("modes", 0755);
	file("modes/readonly", 1000, FILL_TEXT, 0444);
	file("modes/private", 1000, FILL_TEXT, 0600);
	file("modes/group", 1000, FILL_TEXT, 0640);
	file("modes/setuid", 100, FILL_TEXT, 04755);
	file("modes/setgid", 100, FILL_TEXT, 02755);
	if (is_root)
		file("modes/none", 100, FILL_TEXT, 0);
	mkdir_("modes/private-dir", 0700);
	file("modes/private-dir/secret", 64, FILL_RANDOM, 0600);
	mkdir_("modes/setgid-dir", 02775);
	file("modes/setgid-dir/inside", 10, FILL_TEXT, 0664);
	mkdir_("modes/sticky", 01777);
	mkdir_("modes/readonly-dir", 0755);
	file("modes/readonly-dir/inside", 10, FILL_TEXT, 0644);
	set_mode("modes/readonly-dir", 0555);	/* nothing more goes in */

	/* Deep nesting, with a file at every level. */
	{
		char path[256] = "deep";

		mkdir_(path, 0755);
		for (int lvl = 1; lvl <= 8; lvl++) {
			char f[300];

			snprintf(path + strlen(path), sizeof(path) -
			    strlen(path), "/l%d", lvl);
			mkdir_(path, 0755);
			snprintf(f, sizeof(f), "%s/file%d", path, lvl);
			file(f, 100 * lvl, FILL_TEXT, 0644);
		}
	}
	mkdir_("emptydir", 0755);

	/* Many small files. */
	mkdir_("many", 0755);
	for (int i = 0; i < 150; i++) {
		snprintf(name, sizeof(name), "many/f%03d", i);
		file(name, (i * 37) % 5000, i % 3 == 0 ? FILL_RANDOM :
		    FILL_TEXT, 0644);
	}

	/* Awkward names. */
	mkdir_("names", 0755);
	file("names/with space", 10, FILL_TEXT, 0644);
	file("names/new\nline", 10, FILL_TEXT, 0644);
	file("names/-leading-dash", 10, FILL_TEXT, 0644);
	file("names/\xff\xfe-not-utf8", 10, FILL_TEXT, 0644);
	file("names/utf8-\xc3\xbc\xe5\x90\x8d", 10, FILL_TEXT, 0644);
	file("names/tab\there", 10, FILL_TEXT, 0644);
	file("names/back\\slash", 10, FILL_TEXT, 0644);
	file("names/quote'\"", 10, FILL_TEXT, 0644);
	file("names/glob*?[]", 10, FILL_TEXT, 0644);
	file("names/colon:x", 10, FILL_TEXT, 0644);
	file("names/CaseA", 10, FILL_TEXT, 0644);
	file("names/casea", 11, FILL_TEXT, 0644);
	file("names/latest", 10, FILL_TEXT, 0644);
	memset(name, 'L', 255);
	name[255] = '\0';
	{
		char rel[300];

		snprintf(rel, sizeof(rel), "names/%s", name);
		file(rel, 1234, FILL_RANDOM, 0644);
		memcpy(name, "dir-", 4);
		snprintf(rel, sizeof(rel), "names/%s", name);
		mkdir_(rel, 0755);
		snprintf(rel, sizeof(rel), "names/%s/inner", name);
		file(rel, 10, FILL_TEXT, 0644);
	}

	/* Symbolic links; none of them may be followed. */
	mkdir_("symlinks", 0755);
	symlink_("../f4k", "symlinks/relative");
	symlink_("/etc/passwd", "symlinks/absolute");
	symlink_("no/such/target", "symlinks/dangling");
	symlink_("/nonexistent/coffer/target", "symlinks/dangling-abs");
	symlink_("../deep", "symlinks/to-dir");
	symlink_("loop", "symlinks/loop");
	symlink_("target with space/\xff\xfe", "symlinks/odd-target");
	{
		char target[1024];

		for (size_t i = 0; i + 2 < sizeof(target); i += 2)
			memcpy(target + i, "a/", 2);
		target[sizeof(target) - 2] = 'z';
		target[sizeof(target) - 1] = '\0';
		symlink_(target, "symlinks/long-target");
	}

	/* Hard links: a pair, a triple across directories, an empty pair. */
	mkdir_("hard", 0755);
	mkdir_("hard/sub", 0755);
	file("hard/a", 5000, FILL_RANDOM, 0644);
	hardlink("hard/a", "hard/b");
	file("hard/t1", 70000, FILL_RANDOM, 0640);
	hardlink("hard/t1", "hard/sub/t2");
	hardlink("hard/t1", "t3-top");
	file("hard/empty1", 0, FILL_TEXT, 0600);
	hardlink("hard/empty1", "hard/sub/empty2");

	/* Extended attributes on a file and a directory. */
	mkdir_("xattr-dir", 0755);
	file("xattr-dir/file", 2000, FILL_TEXT, 0644);
	{
		static const uint8_t bin[] = { 0x00, 0xff, 0x01, '\n', 0x80,
		    0x00, 'x' };
		char longval[2000];

		memset(longval, 'v', sizeof(longval));
		xattr("xattr-dir/file", "user.test", "hello world", 11);
		xattr("xattr-dir/file", "user.binary", bin, sizeof(bin));
		xattr("xattr-dir/file", "user.empty", "", 0);
		xattr("xattr-dir/file", "user.long", longval,
		    sizeof(longval));
		xattr("xattr-dir", "user.dirattr", "on a directory", 14);
		xattr("hard/a", "user.linked", "shared by a and b", 17);
	}

	/* Sparse files: holes between, after, and everywhere. */
	mkdir_("sparse", 0755);
	{
		static const off_t offs[] = { 0, 3 * MIB, 8 * MIB - 4096 };
		static const size_t lens[] = { 4096, 65536, 4096 };
		static const off_t off1[] = { 0 };
		static const size_t len1[] = { 4096 };

		sparse("sparse/holes", 8 * MIB, offs, lens, 3);
		sparse("sparse/tail-hole", 4 * MIB, off1, len1, 1);
		sparse("sparse/all-hole", 1 * MIB, NULL, NULL, 0);
	}

	/* Times outside the usual range: before 1970 and after 2038. */
	mkdir_("times", 0755);
	file("times/before-1970", 10, FILL_TEXT, 0644);
	set_time_to("times/before-1970",
	    (struct timespec){ .tv_sec = -31536000, .tv_nsec = 500000000 });
	file("times/after-2038", 10, FILL_TEXT, 0644);
	set_time_to("times/after-2038",
	    (struct timespec){ .tv_sec = 4102444800, .tv_nsec = 1 });
	file("times/zero-ns", 10, FILL_TEXT, 0644);
	set_time_to("times/zero-ns",
	    (struct timespec){ .tv_sec = 1600000000, .tv_nsec = 0 });

	/* FIFO and, as root, devices. */
	mkdir_("special", 0755);
	if (mkfifoat(topfd, "special/fifo", 0600) != 0)
		die("mkfifo 'special/fifo'");
	set_mode("special/fifo", 0640);
	set_time("special/fifo");
	if (is_root) {
		if (mknodat(topfd, "special/null", S_IFCHR | 0666,
		    makedev(1, 3)) != 0)
			die("mknod 'special/null'");
		set_mode("special/null", 0666);
		set_time("special/null");
		if (mknodat(topfd, "special/block", S_IFBLK | 0660,
		    makedev(7, 200)) != 0)
			die("mknod 'special/block'");
		set_mode("special/block", 0660);
		set_time("special/block");
	}

	/* Ownership, as root: chown first, since it clears setuid bits. */
	if (is_root) {
		mkdir_("owned", 0750);
		owner("owned", 1234, 5678);
		file("owned/file", 300, FILL_TEXT, 0640);
		owner("owned/file", 1234, 5678);
		file("owned/group-only", 300, FILL_TEXT, 0640);
		owner("owned/group-only", 0, 5678);
		file("owned/setuid", 300, FILL_TEXT, 0644);
		owner("owned/setuid", 1234, 5678);
		set_mode("owned/setuid", 04755);
		symlink_("file", "owned/link");
		owner("owned/link", 1234, 5678);
		if (mkfifoat(topfd, "owned/fifo", 0600) != 0)
			die("mkfifo 'owned/fifo'");
		owner("owned/fifo", 1234, 5678);
		set_time("owned/fifo");
	}
}

int
main(int argc, char **argv)
{
	bool big = false;
	int i;

	top = NULL;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--big") == 0)
			big = true;
		else if (top == NULL && argv[i][0] != '\0')
			top = argv[i];
		else
			top = "";
	}
	if (top == NULL || top[0] == '\0') {
		fputs("usage: gentree DIR [--big]\n", stderr);
		return 2;
	}
	is_root = geteuid() == 0;
	umask(0);

	errno = 0;
	if (mkdir(top, 0755) != 0 && errno != EEXIST)
		die("mkdir '%s'", top);
	if ((topfd = open(top, O_RDONLY | O_DIRECTORY)) < 0)
		die("open '%s'", top);

	make_files(big);

	/* Directory times last, once nothing more is created inside. */
	for (size_t d = ndirs; d > 0; d--) {
		set_time(dirs[d - 1]);
		free(dirs[d - 1]);
	}
	set_time(".");
	close(topfd);
	return 0;
}
