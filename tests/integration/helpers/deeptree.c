/* SPDX-License-Identifier: ISC */
/*
 * deeptree: deep folder chains for 25-deep-tree.sh, made and compared
 * without recursion and without ever handing the kernel a long path
 * (every step is relative to an open descriptor).
 *
 *   deeptree make DIR DEPTH   DIR/d/d/.../d (DEPTH folders named "d",
 *                             every 1000th mode 0555),
 *                             holding at the bottom a file "deepfile",
 *                             a file "secret.x", a symlink "link" to
 *                             deepfile and a folder "b2" with a file "f2"
 *                             and a hard link "hard" to it; beside the
 *                             top "d", a file "top"
 *   deeptree edit DIR DEPTH   append a line to the bottom deepfile
 *   deeptree chain DIR N LEN  DIR/C/C/... N folders named C, LEN 'c's
 *                             each, holding a file "f" and a socket "s"
 *   deeptree whilewarn FROM TO [FROM TO]... -- CMD [ARG]...
 *                             run CMD with its standard error into a
 *                             pipe of one page; when the first byte
 *                             comes (CMD is then writing its first
 *                             warning, and blocks once the page is
 *                             full), rename each FROM to TO, then pass
 *                             CMD's standard error on; exit as CMD
 *   deeptree cmp A B          compare two trees: names, types, modes,
 *                             mtimes (not of A and B), contents, link
 *                             targets, hard link counts; one line per
 *                             difference
 *
 * Exit status: 0 done (cmp: identical), 1 different or failed, 2 usage.
 */
#define _GNU_SOURCE	/* F_SETPIPE_SZ */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void die(const char *) __attribute__((noreturn));

static void
die(const char *what)
{
	fprintf(stderr, "deeptree: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
put(int dirfd, const char *name, const char *text, int flags)
{
	int fd;

	if ((fd = openat(dirfd, name, O_WRONLY | O_CREAT | flags, 0644)) == -1)
		die(name);
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		die(name);
	close(fd);
}

/* The folder DEPTH levels of "d" below DIR, open. */
static int
descend(const char *dir, long depth, bool create)
{
	int fd, nfd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY)) == -1)
		die(dir);
	for (long i = 0; i < depth; i++) {
		if (create && mkdirat(fd, "d", 0755) != 0 && errno != EEXIST)
			die("mkdir d");
		if ((nfd = openat(fd, "d", O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW)) == -1)
			die("open d");
		close(fd);
		fd = nfd;
	}
	return fd;
}

static int
make(const char *dir, long depth)
{
	int fd, b2;

	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		die(dir);
	fd = descend(dir, 0, false);
	put(fd, "top", "at the top\n", O_EXCL);
	close(fd);
	fd = descend(dir, depth, true);
	put(fd, "deepfile", "at the bottom\n", O_EXCL);
	put(fd, "secret.x", "left out by --exclude\n", O_EXCL);
	if (symlinkat("deepfile", fd, "link") != 0)
		die("symlink");
	if (mkdirat(fd, "b2", 0700) != 0 ||
	    (b2 = openat(fd, "b2", O_RDONLY | O_DIRECTORY)) == -1)
		die("b2");
	put(b2, "f2", "second branch\n", O_EXCL);
	if (linkat(b2, "f2", b2, "hard", 0) != 0)
		die("link");
	close(b2);
	close(fd);
	/* Every 1000th folder read-only (0555), now that all is made. */
	fd = descend(dir, 0, false);
	for (long i = 0; i < depth; i++) {
		int nfd;

		if ((nfd = openat(fd, "d", O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW)) == -1)
			die("open d");
		close(fd);
		fd = nfd;
		if (i % 1000 == 999 && fchmod(fd, 0555) != 0)
			die("chmod");
	}
	close(fd);
	return 0;
}

static int
edit(const char *dir, long depth)
{
	int fd = descend(dir, depth, false);

	put(fd, "deepfile", "changed\n", O_APPEND);
	close(fd);
	return 0;
}

static int
chain(const char *dir, long n, long len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *name;
	int fd, nfd, sk;

	if ((name = malloc((size_t)len + 1)) == NULL)
		die("memory");
	memset(name, 'c', (size_t)len);
	name[len] = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY)) == -1)
		die(dir);
	for (long i = 0; i < n; i++) {
		if (mkdirat(fd, name, 0755) != 0 ||
		    (nfd = openat(fd, name, O_RDONLY | O_DIRECTORY)) == -1)
			die("mkdir");
		close(fd);
		fd = nfd;
	}
	put(fd, "f", "at the bottom of the chain\n", O_EXCL);
	/* A socket: bind() takes a short path, so from the folder itself. */
	strcpy(sa.sun_path, "s");
	if (fchdir(fd) != 0 || (sk = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    bind(sk, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("socket");
	close(sk);
	close(fd);
	free(name);
	return 0;
}

static int
whilewarn(int argc, char **argv)
{
	char buf[4096];
	int p[2], st, i;
	pid_t pid;
	ssize_t n;

	for (i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
		;
	if (i == argc || i % 2 != 0 || i + 1 == argc) {
		fputs("deeptree whilewarn: FROM TO pairs, then -- CMD\n",
		    stderr);
		return 2;
	}
	if (pipe(p) != 0 || fcntl(p[0], F_SETPIPE_SZ, 4096) == -1)
		die("pipe");
	if ((pid = fork()) == -1)
		die("fork");
	if (pid == 0) {
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		execvp(argv[i + 1], argv + i + 1);
		_exit(127);
	}
	close(p[1]);
	/* One byte: CMD is in its first warning now. */
	if ((n = read(p[0], buf, 1)) == 1) {
		for (int k = 0; k < i; k += 2)
			if (rename(argv[k], argv[k + 1]) != 0)
				die(argv[k]);
		(void)write(2, buf, 1);
	}
	while ((n = read(p[0], buf, sizeof(buf))) > 0)
		(void)write(2, buf, (size_t)n);
	if (waitpid(pid, &st, 0) != pid)
		die("wait");
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- cmp: one frame per level, on the heap ---- */

struct frame {
	int	  fd[2];
	char	**names;
	size_t	  n, next;
	size_t	  plen;
};

static char *path;
static size_t pcap;
static int ndiff;

static void
differ(const char *what)
{
	printf("%s: %s\n", path[0] ? path : ".", what);
	ndiff++;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **
list(int fd, size_t *n)
{
	char **v = NULL;
	size_t cap = 0;
	struct dirent *de;
	DIR *d;

	*n = 0;
	if ((d = fdopendir(dup(fd))) == NULL)
		die("opendir");
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (*n == cap && (v = realloc(v, (cap = cap ? 2 * cap : 16) *
		    sizeof(*v))) == NULL)
			die("memory");
		if ((v[(*n)++] = strdup(de->d_name)) == NULL)
			die("memory");
	}
	closedir(d);
	qsort(v, *n, sizeof(*v), cmp_str);
	return v;
}

static void
setpath(size_t plen, const char *name)
{
	size_t need = plen + strlen(name) + 2;

	if (need > pcap && (path = realloc(path, pcap = 2 * need)) == NULL)
		die("memory");
	if (plen > 0)
		path[plen++] = '/';
	strcpy(path + plen, name);
}

static void
cmp_files(int da, int db, const char *name)
{
	char a[65536], b[65536];
	ssize_t na, nb;
	int fa, fb;

	if ((fa = openat(da, name, O_RDONLY | O_NOFOLLOW)) == -1 ||
	    (fb = openat(db, name, O_RDONLY | O_NOFOLLOW)) == -1)
		die(path);
	do {
		na = read(fa, a, sizeof(a));
		nb = read(fb, b, sizeof(b));
		if (na != nb || (na > 0 && memcmp(a, b, (size_t)na) != 0)) {
			differ("content");
			break;
		}
	} while (na > 0);
	close(fa);
	close(fb);
}

static int
cmp(const char *a, const char *b)
{
	struct frame *st = NULL;
	size_t n = 0, cap = 0;
	int fa, fb;

	if ((fa = open(a, O_RDONLY | O_DIRECTORY)) == -1 ||
	    (fb = open(b, O_RDONLY | O_DIRECTORY)) == -1)
		die("open");
	setpath(0, "");
	for (;;) {
		struct frame *f;

		if (fa != -1) {
			/* Enter the folder open in fa and fb. */
			size_t nb;
			char **vb;

			if (n == cap && (st = realloc(st, (cap = cap ? 2 * cap :
			    64) * sizeof(*st))) == NULL)
				die("memory");
			f = &st[n++];
			f->fd[0] = fa;
			f->fd[1] = fb;
			f->names = list(fa, &f->n);
			f->next = 0;
			f->plen = strlen(path);
			vb = list(fb, &nb);
			if (nb != f->n)
				differ("number of entries");
			for (size_t i = 0; i < nb && i < f->n; i++)
				if (strcmp(vb[i], f->names[i]) != 0) {
					differ("names");
					break;
				}
			for (size_t i = 0; i < nb; i++)
				free(vb[i]);
			free(vb);
			fa = fb = -1;
		}
		f = &st[n - 1];
		if (f->next == f->n) {
			/* Done: hold no descriptor above the current one. */
			for (size_t i = 0; i < f->n; i++)
				free(f->names[i]);
			free(f->names);
			if (n > 1 && ((st[n - 2].fd[0] = openat(f->fd[0], "..",
			    O_RDONLY | O_DIRECTORY)) == -1 ||
			    (st[n - 2].fd[1] = openat(f->fd[1], "..",
			    O_RDONLY | O_DIRECTORY)) == -1))
				die("..");
			close(f->fd[0]);
			close(f->fd[1]);
			if (--n == 0)
				break;
			continue;
		}
		{
			const char *nm = f->names[f->next++];
			struct stat sa, sb;

			setpath(f->plen, nm);
			if (fstatat(f->fd[0], nm, &sa,
			    AT_SYMLINK_NOFOLLOW) != 0)
				die(path);
			if (fstatat(f->fd[1], nm, &sb,
			    AT_SYMLINK_NOFOLLOW) != 0) {
				differ("missing");
				continue;
			}
			if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) {
				differ("type");
				continue;
			}
			if (!S_ISLNK(sa.st_mode) && sa.st_mode != sb.st_mode)
				differ("mode");
			if (sa.st_mtim.tv_sec != sb.st_mtim.tv_sec ||
			    sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec)
				differ("mtime");
			if (S_ISREG(sa.st_mode)) {
				if (sa.st_nlink != sb.st_nlink)
					differ("number of hard links");
				cmp_files(f->fd[0], f->fd[1], nm);
			} else if (S_ISLNK(sa.st_mode)) {
				char la[4096], lb[4096];
				ssize_t x, y;

				x = readlinkat(f->fd[0], nm, la, sizeof(la));
				y = readlinkat(f->fd[1], nm, lb, sizeof(lb));
				if (x != y || x < 0 ||
				    memcmp(la, lb, (size_t)x) != 0)
					differ("link target");
			} else if (S_ISDIR(sa.st_mode)) {
				if ((fa = openat(f->fd[0], nm, O_RDONLY |
				    O_DIRECTORY | O_NOFOLLOW)) == -1 ||
				    (fb = openat(f->fd[1], nm, O_RDONLY |
				    O_DIRECTORY | O_NOFOLLOW)) == -1)
					die(path);
				/* Only the deepest frame holds descriptors. */
				close(f->fd[0]);
				close(f->fd[1]);
			}
		}
	}
	free(st);
	free(path);
	return ndiff == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "make") == 0)
		return make(argv[2], atol(argv[3]));
	if (argc == 4 && strcmp(argv[1], "edit") == 0)
		return edit(argv[2], atol(argv[3]));
	if (argc == 4 && strcmp(argv[1], "cmp") == 0)
		return cmp(argv[2], argv[3]);
	if (argc == 5 && strcmp(argv[1], "chain") == 0)
		return chain(argv[2], atol(argv[3]), atol(argv[4]));
	if (argc > 2 && strcmp(argv[1], "whilewarn") == 0)
		return whilewarn(argc - 2, argv + 2);
	fputs("usage: deeptree make|edit DIR DEPTH | deeptree cmp A B |\n"
	    "       deeptree chain DIR N LEN |\n"
	    "       deeptree whilewarn FROM TO [FROM TO]... -- CMD...\n",
	    stderr);
	return 2;
}
