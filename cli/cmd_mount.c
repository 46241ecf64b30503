/* SPDX-License-Identifier: ISC */
/*
 * cmd_mount: coffer mount [-f] [--allow-other] [--cache-size SIZE]
 * [--tag T] [--host H] [--path P] MOUNTPOINT: the snapshots as a
 * read-only file system (libfuse3, single-threaded) over libcoffer's
 * coffer_fs_* view.
 */
#define FUSE_USE_VERSION 31

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <fuse.h>

#include "cli.h"

static const char mount_usage[] =
    "usage: coffer mount [--repo DIR] [-f | --foreground] [--allow-other]\n"
    "                    [--cache-size SIZE] [--tag T[,T...]]...\n"
    "                    [--host H]... [--path P]... MOUNTPOINT\n"
    "\nShow the snapshots as a read-only file system at MOUNTPOINT:\n"
    "snapshots/NAME/, latest (a link to the newest), hosts/HOST/NAME/ (a\n"
    "'/' or '%' in HOST written %2F, %25) and tags/TAG/NAME/.  Files are\n"
    "read from the card as they are read, with a cache of at most SIZE\n"
    "(default 64M; K, M, G: powers of 1024); owners, modes, times, links\n"
    "and extended attributes are as stored.  Keys are opened once, at the\n"
    "start (an escrow server asks for its fresh proof then); snapshots\n"
    "whose key cannot be had are left out, named in unavailable.txt at\n"
    "the top of the mount.  --tag, --host and --path show only\n"
    "the snapshots they select (as for 'coffer snapshots').  Runs in the\n"
    "background unless -f; ends with 'fusermount3 -u MOUNTPOINT' or\n"
    "Ctrl-C (SIGINT, SIGTERM).  --allow-other lets other users in (the\n"
    "stored permissions still apply; needs user_allow_other in\n"
    "/etc/fuse.conf unless root).\n";

static struct coffer_fs *g_fs;

/* fs_errno(err, einval): a negative errno for a coffer_fs_* error. */
static int
fs_errno(const struct coffer_err *err, int einval)
{
	switch (err->code) {
	case COFFER_ENOTFOUND:
		return -ENOENT;
	case COFFER_EINVAL:
		return -einval;
	case COFFER_ENOMEM:
		return -ENOMEM;
	default:
		/* Damage: said on stderr (the journal, in the background). */
		fprintf(stderr, "coffer mount: %s\n", err->msg);
		return -EIO;
	}
}

static void
to_stat(const struct coffer_fs_stat *s, struct stat *st)
{
	static const mode_t fmt[] = { 0, S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO,
	    S_IFCHR, S_IFBLK };

	memset(st, 0, sizeof(*st));
	st->st_mode = (s->type >= 1 && s->type <= 6 ? fmt[s->type] : S_IFREG) |
	    (s->mode & 07777);
	st->st_ino = (ino_t)s->ino;
	st->st_nlink = (nlink_t)s->nlink;
	st->st_uid = s->uid;
	st->st_gid = s->gid;
	st->st_size = (off_t)s->size;
	st->st_rdev = (dev_t)s->rdev;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((s->size + 511) / 512);
	st->st_mtim.tv_sec = s->mtime_sec;
	st->st_mtim.tv_nsec = s->mtime_nsec;
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

static int
m_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct coffer_err err = { 0 };
	struct coffer_fs_stat s;

	(void)fi;
	if (coffer_fs_stat(g_fs, path, &s, &err) != 0)
		return fs_errno(&err, ENOENT);
	to_stat(&s, st);
	return 0;
}

struct fill {
	void		*buf;
	fuse_fill_dir_t	 filler;
	char		 name[4097];
};

static int
fill_one(void *cookie, const char *name, size_t len,
    const struct coffer_fs_stat *s)
{
	struct fill *f = cookie;
	struct stat st;

	if (len >= sizeof(f->name))
		return 0;
	memcpy(f->name, name, len);
	f->name[len] = '\0';
	to_stat(s, &st);
	return f->filler(f->buf, f->name, &st, 0, 0);
}

static int
m_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
    struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct coffer_err err = { 0 };
	struct fill f = { .buf = buf, .filler = filler };

	(void)off;
	(void)fi;
	(void)flags;
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	if (coffer_fs_readdir(g_fs, path, fill_one, &f, &err) != 0)
		return fs_errno(&err, ENOTDIR);
	return 0;
}

static int
m_open(const char *path, struct fuse_file_info *fi)
{
	struct coffer_err err = { 0 };
	struct coffer_fs_stat s;

	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	if (coffer_fs_stat(g_fs, path, &s, &err) != 0)
		return fs_errno(&err, ENOENT);
	if (s.type == COFFER_NODE_DIR)
		return -EISDIR;
	/* Snapshots never change: the kernel may keep what it read. */
	fi->keep_cache = 1;
	return 0;
}

static int
m_read(const char *path, char *buf, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct coffer_err err = { 0 };
	size_t got;

	(void)fi;
	if (off < 0)
		return -EINVAL;
	if (coffer_fs_read(g_fs, path, (uint8_t *)buf, size, (uint64_t)off,
	    &got, &err) != 0)
		return fs_errno(&err, EINVAL);
	return (int)got;
}

static int
m_readlink(const char *path, char *buf, size_t size)
{
	struct coffer_err err = { 0 };
	size_t len;

	if (size == 0)
		return -EINVAL;
	if (coffer_fs_readlink(g_fs, path, buf, size - 1, &len, &err) != 0)
		return fs_errno(&err, EINVAL);
	buf[len] = '\0';
	return 0;
}

static int
m_getxattr(const char *path, const char *name, char *value, size_t size)
{
	struct coffer_err err = { 0 };
	size_t len;

	if (coffer_fs_getxattr(g_fs, path, name, value, size, &len,
	    &err) != 0)
		return fs_errno(&err, ENODATA);
	if (size > 0 && len > size)
		return -ERANGE;
	return (int)len;
}

static int
m_listxattr(const char *path, char *list, size_t size)
{
	struct coffer_err err = { 0 };
	size_t len;

	if (coffer_fs_listxattr(g_fs, path, list, size, &len, &err) != 0)
		return fs_errno(&err, EINVAL);
	if (size > 0 && len > size)
		return -ERANGE;
	return (int)len;
}

static void *
m_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	cfg->use_ino = 1;
	cfg->kernel_cache = 1;
	cfg->entry_timeout = 60;
	cfg->attr_timeout = 60;
	cfg->negative_timeout = 60;
	return NULL;
}

static const struct fuse_operations mount_ops = {
	.getattr	= m_getattr,
	.readdir	= m_readdir,
	.open		= m_open,
	.read		= m_read,
	.readlink	= m_readlink,
	.getxattr	= m_getxattr,
	.listxattr	= m_listxattr,
	.init		= m_init,
};

static int
mount_main(int argc, char **argv, struct filter_args *fa)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		FILTER_LONGOPTS,
		{ "foreground",	no_argument,		NULL, 'f' },
		{ "allow-other", no_argument,		NULL, 'A' },
		{ "cache-size",	required_argument,	NULL, 'C' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct coffer_err err = { 0 };
	struct coffer_ctx ctx;
	struct fuse *fuse = NULL;
	const char *mnt;
	char mntbuf[PATH_MAX];
	bool fg = false, allow_other = false, mounted = false;
	uint64_t cache = 0;
	struct stat sb;
	int ch, rc = EXIT_FAIL, lr;

	while ((ch = getopt_long(argc, argv, "qhf", longopts, NULL)) != -1) {
		if (global_opt(ch, optarg) || filter_opt(fa, ch, optarg))
			continue;
		switch (ch) {
		case 'f': fg = true; break;
		case 'A': allow_other = true; break;
		case 'C':
			/* At least 1 MiB; at most what memory could hold. */
			if (parse_size(optarg, &cache) != 0 ||
			    cache < (1u << 20) || cache > SIZE_MAX / 2)
				return usage_err(mount_usage, "--cache-size: "
				    "'%s' is not a size of at least 1M (like "
				    "16M or 1G)", optarg);
			break;
		case 'h':
			fputs(mount_usage, stdout);
			return EXIT_OK;
		default:
			fputs(mount_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc)
		return usage_err(mount_usage, optind == argc ? "no MOUNTPOINT "
		    "given" : "unexpected argument '%s'", argv[optind + 1]);
	/* Absolute: fuse_daemonize changes to "/", and unmount follows. */
	if (stat(argv[optind], &sb) != 0 || !S_ISDIR(sb.st_mode) ||
	    realpath(argv[optind], mntbuf) == NULL)
		return usage_err(mount_usage, "'%s' is not a folder",
		    argv[optind]);
	mnt = mntbuf;
	if (g_opts.repo == NULL)
		return usage_err(mount_usage, "no repository given (use --repo "
		    "DIR or set COFFER_REPO)");
	if ((ch = ctx_make(&ctx)) != EXIT_OK)
		return ch;
	/* Keys (and an escrow server's fresh proof) now, on the terminal. */
	if (coffer_fs_open(&ctx, &fa->f, (size_t)cache, &g_fs, &err) != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if (fuse_opt_add_arg(&args, "coffer") != 0 ||
	    fuse_opt_add_arg(&args, "-o") != 0 ||
	    fuse_opt_add_arg(&args, allow_other ?
	    "ro,default_permissions,fsname=coffer,subtype=coffer,allow_other" :
	    "ro,default_permissions,fsname=coffer,subtype=coffer") != 0) {
		fprintf(stderr, "coffer mount: out of memory\n");
		goto out;
	}
	if ((fuse = fuse_new(&args, &mount_ops, sizeof(mount_ops),
	    NULL)) == NULL) {
		fprintf(stderr, "coffer mount: cannot set up FUSE\n");
		goto out;
	}
	if (fuse_mount(fuse, mnt) != 0) {
		fprintf(stderr, "coffer mount: cannot mount on '%s' (is "
		    "/dev/fuse there, and fusermount3?)\n", mnt);
		goto out;
	}
	mounted = true;
	/*
	 * libfuse installs its handlers (end the loop, then unmount) only
	 * over the defaults: drop the ones coffer set, and end on SIGINT
	 * even as a background job whose shell ignores it.
	 */
	(void)signal(SIGINT, SIG_DFL);
	(void)signal(SIGTERM, SIG_DFL);
	(void)signal(SIGHUP, SIG_DFL);
	if (fuse_set_signal_handlers(fuse_get_session(fuse)) != 0) {
		fprintf(stderr, "coffer mount: cannot set signal handlers\n");
		goto out;
	}
	if (!g_opts.quiet)
		fprintf(stderr, "coffer mount: %zu snapshot%s at '%s'%s\n",
		    coffer_fs_count(g_fs), coffer_fs_count(g_fs) == 1 ? "" :
		    "s", mnt, fg ? "; Ctrl-C or 'fusermount3 -u' ends it" : "");
	/* A hole in the view is said even with -q. */
	if (coffer_fs_left_out(g_fs) > 0)
		fprintf(stderr, "coffer mount: %zu snapshot%s left out; "
		    "'%s/unavailable.txt' names each and why\n",
		    coffer_fs_left_out(g_fs), coffer_fs_left_out(g_fs) == 1 ?
		    "" : "s", mnt);
	if (fuse_daemonize(fg) != 0) {
		fprintf(stderr, "coffer mount: cannot go to the background\n");
		goto out;
	}
	/* Single-threaded: coffer_fs is not thread-safe. */
	lr = fuse_loop(fuse);
	fuse_remove_signal_handlers(fuse_get_session(fuse));
	/* Ended by a signal (its number) or an unmount (0): both clean. */
	if (lr != 0 && lr != SIGINT && lr != SIGTERM && lr != SIGHUP) {
		fprintf(stderr, "coffer mount: the FUSE loop failed (%d)\n",
		    lr);
		goto out;
	}
	rc = EXIT_OK;
out:
	if (mounted)
		fuse_unmount(fuse);
	fuse_destroy(fuse);
	fuse_opt_free_args(&args);
	coffer_fs_free(g_fs);
	g_fs = NULL;
	return rc;
}

int
cmd_mount(int argc, char **argv)
{
	struct filter_args fa;
	int rc;

	if (filter_init(&fa, argc) != 0)
		return EXIT_FAIL;
	rc = mount_main(argc, argv, &fa);
	filter_release(&fa);
	return rc;
}
