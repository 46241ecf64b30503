/* SPDX-License-Identifier: ISC */
/*
 * coffer: the public API of libcoffer, the engine behind coffer(1).
 *
 * Call coffer_init() once before anything else: it initialises libsodium,
 * without which guarded key memory (sodium_malloc) aborts the program.
 *
 * Every operation takes a struct coffer_ctx (where the repository and the
 * keystore are, and where warnings go) and a struct coffer_err for the
 * one-line reason of a failure.  Nothing here prints or exits.
 */
#ifndef COFFER_COFFER_H_
#define COFFER_COFFER_H_

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/err.h"

#define COFFER_VERSION	"0.1.0"

/* coffer_init(): 0, or -1 if libsodium cannot start. */
int coffer_init(void) __attribute__((warn_unused_result));

/*
 * coffer_secret_alloc(len) / coffer_secret_free(p): guarded memory
 * (locked, wiped on free) for passwords held by the caller.
 */
void *coffer_secret_alloc(size_t len);
void coffer_secret_free(void *p);

/* Warnings (an unreadable file, a damaged blob during restore). */
typedef void coffer_warn_fn(void *cookie, const char *msg);

/*
 * Asked for the keystore password when one is set: write it (not
 * NUL-terminated) into ${buf} (${cap} bytes) and return its length, or
 * -1 if none can be had.  ${prompt} says what is asked for.
 */
typedef int coffer_pass_fn(void *cookie, const char *prompt, char *buf,
    size_t cap);

enum coffer_scope {
	COFFER_SCOPE_DEFAULT = 0,	/* the repository's default */
	COFFER_SCOPE_DEVICE = 1, COFFER_SCOPE_PERIOD = 2,
	COFFER_SCOPE_BACKUP = 3,
};
enum coffer_period {
	COFFER_PERIOD_DEFAULT = -1,
	COFFER_PERIOD_DAY = 0, COFFER_PERIOD_WEEK = 1, COFFER_PERIOD_MONTH = 2,
};
/* Where a new key set's data key is kept (shared/DESIGN.md, "Custody"). */
enum coffer_custody {
	COFFER_CUSTODY_DEFAULT = 0,	/* the repository's default */
	COFFER_CUSTODY_LOCAL = 1,	/* the keystore only */
	COFFER_CUSTODY_ESCROW = 2,	/* the escrow server only */
	COFFER_CUSTODY_LOCAL_ESCROW = 3,	/* both */
	COFFER_CUSTODY_ESCROW_WRAP = 4,	/* sealed to a server key pair */
};

/*
 * Progress of a long operation, reported often (at least once per file;
 * the caller throttles what it draws).  Totals are 0 while unknown (a
 * backup counts them in the background as it goes).
 */
struct coffer_progress {
	const char	*phase;		/* "backup", "restore", "check" */
	uint64_t	 files, files_total;
	uint64_t	 bytes, bytes_total;
	const char	*current;	/* path being worked on, or NULL */
	bool		 done;		/* the last report of the operation */
};
typedef void coffer_progress_fn(void *cookie, const struct coffer_progress *p);

struct coffer_ctx {
	const char	*repo;		/* repository directory on the card */
	const char	*keystore;	/* keystore directory; NULL: default */
	coffer_warn_fn	*warn;		/* may be NULL */
	coffer_pass_fn	*get_password;	/* may be NULL: locked keystores fail */
	coffer_progress_fn *progress;	/* may be NULL */
	void		*cookie;
	/* A recovery passphrase: opens key sets by their card slot. */
	const char	*passphrase;
	size_t		 passphrase_len;
	/* Minimum Argon2id costs: for tests only (COFFER_INSECURE_FAST_KDF). */
	bool		 fast_kdf;
	/* Escrow: the server URL (--server) and a private CA (--cacert). */
	const char	*escrow_server;		/* NULL: the saved login's */
	const char	*cacert;		/* NULL: the saved login's */
	/*
	 * Fresh proof for the escrow server (docs/PROTOCOL.md §3.3): asked
	 * when a release, unwrap, destroy or account change needs the
	 * account password (and a one-time code when the account has a
	 * second factor).  May be NULL: such calls then fail with
	 * COFFER_EPERM and a message that says what is needed.
	 */
	coffer_pass_fn	*get_escrow_password;
	coffer_pass_fn	*get_escrow_code;
	/*
	 * May be NULL.  A backup stops cleanly once *stop is non-zero (set
	 * by a signal handler): it finishes the pack being written, indexes
	 * what it wrote, writes no snapshot and fails with COFFER_EINTR.
	 */
	const volatile sig_atomic_t *stop;
};

enum coffer_node_type {
	COFFER_NODE_FILE = 1, COFFER_NODE_DIR = 2, COFFER_NODE_SYMLINK = 3,
	COFFER_NODE_FIFO = 4, COFFER_NODE_CHR = 5, COFFER_NODE_BLK = 6,
};

/*
 * coffer_repo_init(ctx, name_by_count, scope, period, err): create the
 * repository at ${ctx->repo} and a secret for it in the keystore
 * (created 0700 if needed).  Snapshots are named by UTC time, or by a
 * running count; ${scope}/${period}/${custody} are the defaults for
 * backups.
 */
int coffer_repo_init(const struct coffer_ctx *ctx, bool name_by_count,
    int scope, int period, int custody, struct coffer_err *err)
    __attribute__((warn_unused_result));

struct coffer_backup_opts {
	const char	*const *paths;
	size_t		 npaths;
	int		 scope;		/* enum coffer_scope */
	int		 period;	/* enum coffer_period */
	int		 custody;	/* enum coffer_custody */
	bool		 use_stdin;	/* back up standard input ... */
	const char	*stdin_name;	/* ... as this file name */
	/* What to leave out (docs/CLI.md, "Selecting files"). */
	const char	*const *excludes;	/* gitignore-style patterns */
	size_t		 nexcludes;
	const char	*const *exclude_files;	/* files of patterns */
	size_t		 nexclude_files;
	bool		 exclude_caches;	/* folders with CACHEDIR.TAG */
	uint64_t	 exclude_larger_than;	/* bytes; 0: no limit */
	bool		 one_file_system;	/* stay on each path's device */
	/* Tags of the new snapshot (coffer_tag_ok each); may repeat. */
	const char	*const *tags;
	size_t		 ntags;
};

struct coffer_backup_result {
	char		name[64];	/* snapshot name */
	char		id[65];
	char		key_id[17];
	uint64_t	nfiles, ndirs, nother;
	uint64_t	nunchanged;	/* files taken from the file cache */
	uint64_t	nchanged;	/* files the last backup had, changed */
	uint64_t	nnew;		/* files the last backup did not have */
	uint64_t	nexcluded;	/* entries left out on purpose */
	uint64_t	size;		/* bytes of file content */
	uint64_t	unchanged_bytes; /* of those, taken from the cache */
	uint64_t	added;		/* bytes written to the card */
	/*
	 * Bytes of packs an interrupted backup of this key set left (no
	 * index named them), verified and taken over: not written again.
	 */
	uint64_t	resumed;
	uint64_t	nwarnings;	/* entries that could not be read */
	uint64_t	ntorn;		/* files that changed while read: stored as read */
	/*
	 * The keystore was inside a folder backed up and was left out
	 * (counted in nexcluded): its keys, encrypted under themselves,
	 * would restore nothing.  Named as a path, it is backed up.
	 */
	bool		keystore_excluded;
};

/*
 * coffer_backup(ctx, opts, res, err): back up ${opts->paths} as one new
 * snapshot.  Unreadable entries are warned about through ${ctx->warn},
 * left out, and counted in ${res->nwarnings}; the snapshot is still
 * written.  A path that does not exist at all is an error up front.
 * What an interrupted backup of the same key set left is taken over
 * first (${res->resumed}).  Stopped through ${ctx->stop}: COFFER_EINTR,
 * with ${res->nfiles} and ${res->added} telling what was kept.
 */
int coffer_backup(const struct coffer_ctx *ctx,
    const struct coffer_backup_opts *opts, struct coffer_backup_result *res,
    struct coffer_err *err) __attribute__((warn_unused_result));

struct coffer_snapshot_info {
	char		 name[64];
	char		 id[65];
	char		 key_id[17];
	bool		 readable;	/* key present and snapshot intact */
	bool		 damaged;	/* key present, snapshot fails to load */
	/*
	 * The key cannot be had now: the escrow server is not reachable,
	 * refuses (not logged in, fresh proof not given), or destroyed
	 * it; or the recovery passphrase given does not open the set.
	 * Not damage: the card says nothing wrong.
	 */
	bool		 key_unavailable;
	char		*problem;	/* why not readable, else NULL */
	int64_t		 time_sec;
	uint32_t	 time_nsec;
	char		*hostname;
	char		*username;
	char		**paths;
	size_t		 npaths;
	uint64_t	 size, nfiles, ndirs, added;
	char		**tags;		/* sorted, unique */
	size_t		 ntags;
};

/*
 * Which snapshots a command works on (snapshots, forget, mount; later
 * copy): every field empty matches everything.
 * ${tags}: each entry a comma-separated list, all of whose tags the
 * snapshot must have; the snapshot must satisfy any one entry.
 * ${hosts}: the snapshot's host is any one of them.  ${paths}: each is
 * among the snapshot's paths (as stored; a leading '/' is ignored).
 */
struct coffer_snapshot_filter {
	const char	*const *tags;
	size_t		 ntags;
	const char	*const *hosts;
	size_t		 nhosts;
	const char	*const *paths;
	size_t		 npaths;
};

/*
 * coffer_snapshot_match(f, host, paths, npaths, tags, ntags): whether a
 * snapshot of ${host} with those paths and tags passes ${f} (NULL: any).
 */
bool coffer_snapshot_match(const struct coffer_snapshot_filter *f,
    const char *host, const char *const *paths, size_t npaths,
    const char *const *tags, size_t ntags);

/* coffer_tag_ok(t): ${t} can be a tag: 1 … 255 bytes, not "." or "..",
 * no ',', '/' or control characters. */
bool coffer_tag_ok(const char *t);

/*
 * coffer_snapshots(ctx, &v, &n, err): every snapshot on the card, oldest
 * first.  Snapshots whose key is absent, whose key cannot be had now, or
 * that fail to authenticate are listed with readable = false and a
 * problem text; key_unavailable = true for the second kind, damaged =
 * true for the third.  Free with coffer_snapshots_free().
 */
int coffer_snapshots(const struct coffer_ctx *ctx,
    struct coffer_snapshot_info **v, size_t *n, struct coffer_err *err)
    __attribute__((warn_unused_result));
void coffer_snapshots_free(struct coffer_snapshot_info *v, size_t n);

struct coffer_entry_info {
	const uint8_t	*path;		/* bytes, '/'-separated, no leading '/' */
	size_t		 pathlen;
	int		 type;		/* enum coffer_node_type */
	uint32_t	 mode, uid, gid;
	int64_t		 mtime_sec;
	uint32_t	 mtime_nsec;
	uint64_t	 size;
	const uint8_t	*target;	/* symlink target, else NULL */
	size_t		 targetlen;
	uint64_t	 link_id;
	uint64_t	 rdev;
	size_t		 nxattrs;
};
/* Return 0 to go on, non-zero to stop (returned by coffer_ls). */
typedef int coffer_entry_fn(void *cookie, const struct coffer_entry_info *e);

/*
 * coffer_ls(ctx, snapshot, prefix, fn, cookie, err): call ${fn} for every
 * entry of ${snapshot} (name, id prefix or "latest") at or below
 * ${prefix} (NULL: all; raw bytes or as the caller prints paths,
 * docs/CLI.md "Paths"), in depth-first name order.
 */
int coffer_ls(const struct coffer_ctx *ctx, const char *snapshot,
    const char *prefix, coffer_entry_fn *fn, void *cookie,
    struct coffer_err *err) __attribute__((warn_unused_result));

/*
 * What restore does with an entry that already exists in the target
 * where the snapshot has a non-folder (or a folder where the snapshot
 * has something else); an existing folder is always kept and filled.
 */
enum coffer_overwrite {
	COFFER_OVERWRITE_REFUSE = 0,	/* keep it; each one is an error */
	COFFER_OVERWRITE_NEVER = 1,	/* keep it; not an error */
	COFFER_OVERWRITE_IF_CHANGED = 2, /* keep it if identical, else
					  * replace it */
	COFFER_OVERWRITE_ALWAYS = 3,	/* replace it */
};

struct coffer_restore_opts {
	const char	*snapshot;
	const char	*target;
	/* Paths in the snapshot, as typed or as coffer_ls's caller prints
	 * them (docs/CLI.md, "Paths"). */
	const char	*const *includes;
	size_t		 nincludes;
	int		 overwrite;	/* enum coffer_overwrite */
	bool		 verbose;	/* one warning per existing entry */
};

struct coffer_restore_result {
	uint64_t	nfiles, ndirs, nother, bytes;
	uint64_t	nerrors;	/* entries not restored (warned) */
	/* Entries found in the target: */
	uint64_t	nkept;		/* left as they were (never, refuse) */
	uint64_t	nunchanged;	/* identical, left alone (if-changed) */
	uint64_t	nreplaced;	/* removed and restored anew */
};

/*
 * coffer_restore(ctx, opts, res, err): restore a snapshot under
 * ${opts->target}.  Entries that fail (damaged data, existing entries
 * with COFFER_OVERWRITE_REFUSE) are warned about and left out; a file
 * whose data fails authentication is removed, never left with wrong
 * bytes.  Existing entries are warned about in one summary per kind
 * (count and the first few paths), or one each with ${verbose}.  No
 * symbolic link in the target is followed.  Returns non-zero when
 * anything was left out.
 */
int coffer_restore(const struct coffer_ctx *ctx,
    const struct coffer_restore_opts *opts, struct coffer_restore_result *res,
    struct coffer_err *err) __attribute__((warn_unused_result));

struct coffer_check_result {
	uint64_t	nsets, nsets_checked, nsnapshots, ntrees, nblobs;
	/*
	 * Sets not checked beyond their layout: the key is not here (made
	 * elsewhere), or cannot be had now (as key_unavailable above: each
	 * warned about, with the reason).  Neither is a problem.
	 */
	uint64_t	nsets_nokey, nsets_unavailable;
	uint64_t	npacks, bytes_read;
	uint64_t	nproblems;
	uint64_t	nleftovers;	/* unreferenced files from interrupted runs */
	/*
	 * Pack files no index names yet while another coffer holds an
	 * append or exclusive lock (a backup or prune running beside the
	 * check): not counted as leftovers.  The writer_* fields name the
	 * first such lock's holder.
	 */
	uint64_t	npending;
	long		writer_pid;	/* 0 if its lock file is unreadable */
	bool		writer_this_host;
	bool		writer_exclusive;	/* not a backup: prune, ... */
};

/*
 * coffer_check(ctx, read_data, res, err): verify the repository; each
 * problem goes to ${ctx->warn} naming the file.  Returns non-zero if any
 * problem was found.
 */
int coffer_check(const struct coffer_ctx *ctx, bool read_data,
    struct coffer_check_result *res, struct coffer_err *err)
    __attribute__((warn_unused_result));

/* ---- retention ---- */

struct coffer_forget_opts {
	/* A policy (see docs/CLI.md, forget) ... */
	unsigned	 keep_last, keep_hourly, keep_daily, keep_weekly;
	unsigned	 keep_monthly, keep_yearly;
	/* ... or the snapshots to forget, by name, id prefix or latest. */
	const char	*const *snapshots;
	size_t		 nsnapshots;
	bool		 dry_run;
	/* Only snapshots it matches are considered (NULL: all). */
	const struct coffer_snapshot_filter *filter;
	/* COFFER_GROUP_* bits the policy groups by; 0: host and paths. */
	unsigned	 group_by;
};
#define COFFER_GROUP_HOST	1u
#define COFFER_GROUP_PATHS	2u
#define COFFER_GROUP_TAGS	4u
#define COFFER_GROUP_NONE	8u	/* all snapshots in one group */

/* Called once per snapshot considered: kept or (to be) forgotten. */
typedef void coffer_forget_fn(void *cookie, const char *name,
    const char *key_id, const char *group, bool keep);

/*
 * coffer_forget(ctx, opts, fn, cookie, &nforgotten, err): remove the
 * snapshot files the policy does not keep (or the named ones), per
 * group of snapshots with the same host and paths.  Snapshots whose key
 * is not here are left alone.  The data stays on the card until
 * coffer_prune().  With dry_run nothing is removed.
 */
int coffer_forget(const struct coffer_ctx *ctx,
    const struct coffer_forget_opts *opts, coffer_forget_fn *fn, void *cookie,
    size_t *nforgotten, struct coffer_err *err)
    __attribute__((warn_unused_result));

struct coffer_tag_opts {
	const char	*const *snapshots;	/* names, id prefixes, latest */
	size_t		 nsnapshots;
	const char	*const *add, *const *remove, *const *set;
	size_t		 nadd, nremove, nset;
	bool		 set_given;	/* --set given (may be empty: clear) */
};

/* Called once per snapshot: its tags now and whether it was rewritten. */
typedef void coffer_tag_fn(void *cookie, const char *name, const char *id,
    const char *const *tags, size_t ntags, bool changed);

/*
 * coffer_tag(ctx, opts, fn, cookie, err): change the tags of the named
 * snapshots: replace them by ${opts->set} when set_given, then add
 * ${opts->add}, then remove ${opts->remove}.  A snapshot whose tags
 * change is rewritten under its key as a new revision (crash-safe,
 * docs/FORMAT.md §10.3), and gets a new id.  COFFER_EINVAL for a bad
 * tag, COFFER_ENOTFOUND for a snapshot not on the card.
 */
int coffer_tag(const struct coffer_ctx *ctx, const struct coffer_tag_opts *o,
    coffer_tag_fn *fn, void *cookie, struct coffer_err *err)
    __attribute__((warn_unused_result));

/* ---- a second card with the same snapshots (coffer copy) ---- */

/*
 * coffer_repo_init_like(ctx, like, err): create the repository at
 * ${ctx->repo} (a new or empty folder) as a copy of the repository at
 * ${like}: the same repository id, format version, snapshot naming and
 * defaults (docs/FORMAT.md §5, "Copies").  Its key sets are then those of
 * ${like} (the same data keys give the same key ids, chunk boundaries
 * and blob ids), so coffer_copy() moves only what is missing.  Writes
 * nothing to the keystore.
 */
int coffer_repo_init_like(const struct coffer_ctx *ctx, const char *like,
    struct coffer_err *err) __attribute__((warn_unused_result));

struct coffer_copy_opts {
	const char	*to;		/* the destination repository */
	const char	*const *snapshots;	/* names, id prefixes, latest */
	size_t		 nsnapshots;	/* 0: every snapshot (that passes) */
	const struct coffer_snapshot_filter *filter;	/* NULL: none */
};

enum coffer_copy_status {
	COFFER_COPY_DONE = 0,		/* copied now */
	COFFER_COPY_PRESENT = 1,	/* the destination has it already */
	COFFER_COPY_FAILED = 2,		/* not copied: ${why} says why */
};

/*
 * Called once per chosen snapshot, in the order copied: its name, id
 * (the same on both cards), key set, what happened and, for
 * COFFER_COPY_FAILED, the error (else NULL).
 */
typedef void coffer_copy_fn(void *cookie, const char *name, const char *id,
    const char *key_id, int status, const char *why);

struct coffer_copy_result {
	uint64_t	copied, present, failed;	/* snapshots */
	uint64_t	blobs;		/* blobs written to the destination */
	uint64_t	bytes;		/* their sealed bytes in its packs */
	uint64_t	bytes_read;	/* plaintext bytes read from the source */
	uint64_t	resumed;	/* bytes taken over from a killed copy */
};

/*
 * coffer_copy(ctx, opts, fn, cookie, res, err): copy snapshots of
 * ${ctx->repo} into ${opts->to}, which must be a copy of it
 * (coffer_repo_init_like): each with its key set (the keyinfo with the
 * same custody and escrow binding, written again under the same key),
 * every blob it needs that the destination lacks (read and authenticated
 * from the source, written through the backup's pack writer), then its
 * index, then the snapshot file itself.  A snapshot that cannot be
 * copied (damaged source data, a key that cannot be had, a different
 * snapshot of that name on the destination) is reported through ${fn}
 * and counted in ${res->failed}; the others go on, and the call then
 * fails with the first such error.  COFFER_EINVAL if ${opts->to} is not
 * a copy of ${ctx->repo}; COFFER_EINTR once *ctx->stop is set (what was
 * written is indexed; the next copy goes on from there).
 */
int coffer_copy(const struct coffer_ctx *ctx, const struct coffer_copy_opts *o,
    coffer_copy_fn *fn, void *cookie, struct coffer_copy_result *res,
    struct coffer_err *err) __attribute__((warn_unused_result));

/* ---- browsing snapshots as a file system (coffer mount) ---- */

/*
 * A read-only view of the snapshots, by path: "/" holds snapshots/,
 * latest (a symbolic link to snapshots/<newest>), hosts/<host>/ and
 * tags/<tag>/, each of which holds snapshot folders <name>/ whose
 * content is the snapshot's tree.  File content is read on demand, one
 * chunk at a time, through a bounded cache.  Not thread-safe: one caller
 * at a time (coffer mount runs FUSE single-threaded).
 */
struct coffer_fs;

struct coffer_fs_stat {
	int		type;		/* enum coffer_node_type */
	uint32_t	mode;		/* permission bits, 07777 */
	uint32_t	uid, gid;
	int64_t		mtime_sec;
	uint32_t	mtime_nsec;
	uint64_t	size, rdev;
	uint64_t	nlink;		/* hard links in the snapshot */
	uint64_t	ino;		/* stable within a mount; links share it */
};

/*
 * coffer_fs_open(ctx, filter, cache_bytes, &fs, err): list the
 * snapshots ${filter} selects (NULL: all) and open their key sets now
 * (an escrow server is asked here, once per set: a set that fails is not
 * asked again).  Snapshots that cannot be read are left out: warned
 * about (unless their key is simply not here), and each named, with the
 * reason, in the file "/unavailable.txt" of the view (there only when
 * one was left out).  When no snapshot at all can be read and one
 * failed for another reason than a missing key (an escrow server that
 * wants fresh proof and gets none, damage), it fails with that error
 * instead of showing an empty view.  Holds a read lock until
 * coffer_fs_free.  ${cache_bytes}: at most this much decoded content is
 * kept (0: 64 MiB; one chunk is always kept, whatever its size).
 */
int coffer_fs_open(const struct coffer_ctx *ctx,
    const struct coffer_snapshot_filter *filter, size_t cache_bytes,
    struct coffer_fs **fs, struct coffer_err *err)
    __attribute__((warn_unused_result));
void coffer_fs_free(struct coffer_fs *fs);
/* coffer_fs_count(fs): how many snapshots the view shows. */
size_t coffer_fs_count(const struct coffer_fs *fs);
/* coffer_fs_left_out(fs): how many snapshots unavailable.txt names. */
size_t coffer_fs_left_out(const struct coffer_fs *fs);
/*
 * coffer_fs_host_escape(host, out, cap): the name of ${host} in hosts/:
 * every '%' and '/' written as "%25" and "%2F", and the dots of a host
 * named "." or ".." as "%2E" (so "." is "%2E"); other bytes as they are.
 * Decoding every "%XX" gives the host name back, and no two host names
 * give one name.  Returns its length; 0 (and "") for an empty host name
 * or one that does not fit in ${cap} bytes with its NUL.
 */
size_t coffer_fs_host_escape(const char *host, char *out, size_t cap);

/*
 * The calls below take a path from "/" and return 0, COFFER_ENOTFOUND
 * (no such entry), COFFER_EINVAL (wrong kind: not a folder, not a file,
 * not a link; no such attribute), or the error of damaged data
 * (COFFER_EAUTH, COFFER_EFORMAT, COFFER_EIO).
 */
int coffer_fs_stat(struct coffer_fs *fs, const char *path,
    struct coffer_fs_stat *st, struct coffer_err *err)
    __attribute__((warn_unused_result));
/* Called per entry of a folder; non-zero stops the listing. */
typedef int coffer_fs_dir_fn(void *cookie, const char *name, size_t namelen,
    const struct coffer_fs_stat *st);
int coffer_fs_readdir(struct coffer_fs *fs, const char *path,
    coffer_fs_dir_fn *fn, void *cookie, struct coffer_err *err)
    __attribute__((warn_unused_result));
/* coffer_fs_readlink: the target (not NUL-terminated), ${*len} bytes,
 * cut to ${cap}. */
int coffer_fs_readlink(struct coffer_fs *fs, const char *path, char *buf,
    size_t cap, size_t *len, struct coffer_err *err)
    __attribute__((warn_unused_result));
/* coffer_fs_read: up to ${len} bytes at ${off}; ${*got} < len at the end. */
int coffer_fs_read(struct coffer_fs *fs, const char *path, uint8_t *buf,
    size_t len, uint64_t off, size_t *got, struct coffer_err *err)
    __attribute__((warn_unused_result));
/*
 * coffer_fs_getxattr: the value of attribute ${name} in ${buf} (cut to
 * ${cap}; ${cap} 0: only its length in ${*len}).  coffer_fs_listxattr:
 * the names, each followed by a NUL, the same way.
 */
int coffer_fs_getxattr(struct coffer_fs *fs, const char *path,
    const char *name, void *buf, size_t cap, size_t *len,
    struct coffer_err *err) __attribute__((warn_unused_result));
int coffer_fs_listxattr(struct coffer_fs *fs, const char *path, char *buf,
    size_t cap, size_t *len, struct coffer_err *err)
    __attribute__((warn_unused_result));
/* coffer_fs_bytes_read(fs): content bytes fetched from the card so far. */
uint64_t coffer_fs_bytes_read(const struct coffer_fs *fs);

/* max_unused: unused space prune may leave; or this for no limit. */
#define COFFER_PRUNE_UNLIMITED	(-1)
#define COFFER_PRUNE_MAX_UNUSED	5	/* the default */

struct coffer_prune_opts {
	bool		dry_run;
	/*
	 * Percent (0 … 99) of the pack bytes after prune that may stay
	 * unused: packs are rewritten, most wasteful first, until no more
	 * is.  0: rewrite every pack with a dead byte.  5 is the default.
	 */
	int		max_unused;
};

struct coffer_prune_result {
	uint64_t	packs_deleted, packs_repacked, packs_written;
	uint64_t	blobs_removed, blobs_kept;
	uint64_t	bundles_cut;	/* bundles sealed again without dead members */
	uint64_t	bytes_before, bytes_after;	/* pack files on the card */
	uint64_t	bytes_freed;	/* dry run: estimated */
	uint64_t	bytes_repacked;	/* written again; dry run: estimated */
	uint64_t	damaged;	/* objects that failed, kept in place */
	/* Old revision files of retagged snapshots deleted (dry run: to be). */
	uint64_t	revisions_removed;
};

/*
 * coffer_prune(ctx, opts, res, err): free the space of data no snapshot
 * uses any more: packs with nothing in use are deleted, packs with
 * unused bytes are rewritten with what is still used (bundles cut down
 * to their used members) until at most opts->max_unused percent is
 * unused, leftovers of interrupted backups go, and so do the lower
 * revision files an interrupted 'coffer tag' left beside a snapshot
 * (only once its highest revision authenticates).  Crash-safe: new packs
 * and a complete new index are durable before anything is deleted.  An
 * object that fails authentication is never copied: its pack stays,
 * the rest goes on, and the result is COFFER_EAUTH.  Needs the key of
 * each set it prunes; others are left alone.
 */
int coffer_prune(const struct coffer_ctx *ctx,
    const struct coffer_prune_opts *opts, struct coffer_prune_result *res,
    struct coffer_err *err)
    __attribute__((warn_unused_result));

/* ---- keys ---- */

struct coffer_keyset_info {
	char		 key_id[17];
	int		 scope;		/* enum coffer_scope */
	char		 period[64];	/* period label, or "" */
	const char	*custody;	/* "local", "escrow", ... */
	bool		 key_present;	/* this keystore can open it */
	bool		 passphrase;	/* a recovery passphrase slot exists */
	bool		 damaged;	/* keyinfo unreadable */
	char		 escrow_server[256];	/* escrow custodies, else "" */
	char		 escrow_key_id[65];	/* the server's key id, or "" */
	char		**snapshots;	/* names, oldest first */
	size_t		 nsnapshots;
};

/* coffer_keys(ctx, &v, &n, err): every key set on the card. */
int coffer_keys(const struct coffer_ctx *ctx, struct coffer_keyset_info **v,
    size_t *n, struct coffer_err *err) __attribute__((warn_unused_result));
void coffer_keys_free(struct coffer_keyset_info *v, size_t n);

/*
 * coffer_key_passphrase(ctx, key_id, get_new, out_key_id, err): add
 * (replace) the recovery passphrase slot of key set ${key_id}; with
 * ${get_new} NULL, remove it.  The keystore is opened first (its
 * password asked), then the set chosen, and only then the new
 * passphrase asked through ${get_new} (${ctx->cookie}; the prompt names
 * the set) and checked by coffer_password_check.  ${key_id} NULL: the
 * one key set with snapshots whose key is in this keystore; when there
 * are several, COFFER_EINVAL with a message naming them (scope,
 * snapshots, newest snapshot's paths).  ${out_key_id} (17 bytes, may be
 * NULL) gets the set's id.
 */
int coffer_key_passphrase(const struct coffer_ctx *ctx, const char *key_id,
    coffer_pass_fn *get_new, char *out_key_id, struct coffer_err *err)
    __attribute__((warn_unused_result));

/*
 * coffer_key_destroy(ctx, key_id, really, report, err): destroy key set
 * ${key_id}: wipe its data key from the keystore (rotating the
 * repository secret when the key was derived from it) and delete the set
 * from the card.  Without ${really}, change nothing: only describe.
 * Each line of the description goes to ${ctx->warn}-like ${report}.
 */
int coffer_key_destroy(const struct coffer_ctx *ctx, const char *key_id,
    bool really, coffer_warn_fn *report, struct coffer_err *err)
    __attribute__((warn_unused_result));

/* coffer_keystore_dir(ctx, out, cap, err): where ${ctx}'s keystore is. */
int coffer_keystore_dir(const struct coffer_ctx *ctx, char *out, size_t cap,
    struct coffer_err *err) __attribute__((warn_unused_result));

/*
 * coffer_keystore_passwd(ctx, get_new, err): set or change the keystore
 * password: the current one (if any) is asked through
 * ${ctx->get_password} and checked first, then the new one through
 * ${get_new}.  The card is not touched.
 */
int coffer_keystore_passwd(const struct coffer_ctx *ctx,
    coffer_pass_fn *get_new, struct coffer_err *err)
    __attribute__((warn_unused_result));

/*
 * coffer_keystore_has_password(ctx, &has, err): whether ${ctx}'s
 * keystore has a password; *has is false when there is no keystore yet.
 */
int coffer_keystore_has_password(const struct coffer_ctx *ctx, bool *has,
    struct coffer_err *err) __attribute__((warn_unused_result));

/*
 * coffer_keystore_first_password(ctx, pw, len, err): create ${ctx}'s
 * keystore (0700) if there is none and give it its first password
 * ${pw}, checked by coffer_password_check.  Called before
 * coffer_repo_init, the repository's key file is then written wrapped
 * from the start and never in the clear (key files already in the
 * keystore are wrapped now, their old blocks stay on the disk:
 * docs/SECURITY.md).  COFFER_EEXIST if it has a password already.
 */
int coffer_keystore_first_password(const struct coffer_ctx *ctx,
    const char *pw, size_t len, struct coffer_err *err)
    __attribute__((warn_unused_result));

/*
 * coffer_password_check(what, pw, len, words, err): 0 if the new
 * password ${pw} (${len} bytes) is hard enough to guess to be set as a
 * keystore password, recovery passphrase or escrow account password:
 * zxcvbn rates it at 45 bits (log2 of the guesses) or more, counting
 * "coffer", the user's name and the host name, and ${words}
 * (NULL-terminated, may be NULL: an account name, ...) as words tied to
 * the user.  Else COFFER_EINVAL, with a message that names ${what} ("keystore
 * password") and says why (what the password is made of, about how
 * many guesses find it) and what would do instead.  coffer_keystore_passwd,
 * coffer_key_passphrase and coffer_escrow_register call it; a caller
 * may call it first to ask again at once.  Never for a password that
 * is only entered to unlock.
 */
int coffer_password_check(const char *what, const char *pw, size_t len,
    const char *const *words, struct coffer_err *err)
    __attribute__((warn_unused_result));

/* ---- looking around: diff, find, stats, one file to a descriptor ---- */

enum coffer_change {
	COFFER_CHANGE_ADDED = 1, COFFER_CHANGE_REMOVED = 2,
	COFFER_CHANGE_MODIFIED = 3,	/* content, size, type, target, device */
	COFFER_CHANGE_METADATA = 4,	/* only mode, owner, mtime, xattrs */
};
/* What differs: bits of coffer_diff_entry.what. */
#define COFFER_DIFF_CONTENT	0x001
#define COFFER_DIFF_SIZE	0x002
#define COFFER_DIFF_TYPE	0x004
#define COFFER_DIFF_TARGET	0x008	/* symlink target */
#define COFFER_DIFF_DEVICE	0x010	/* device number */
#define COFFER_DIFF_MODE	0x020
#define COFFER_DIFF_OWNER	0x040
#define COFFER_DIFF_MTIME	0x080
#define COFFER_DIFF_XATTRS	0x100	/* attributes, ACLs, capabilities */
#define COFFER_DIFF_IFLAGS	0x200	/* inode flags (chattr) */

struct coffer_diff_entry {
	const uint8_t	*path;		/* stored path, as coffer_ls gives it */
	size_t		 pathlen;
	int		 change;	/* enum coffer_change */
	int		 type;		/* enum coffer_node_type: the new one
					   (the old one for a removal) */
	unsigned	 what;		/* COFFER_DIFF_*; 0 for added/removed */
};
/* Return 0 to go on, non-zero to stop (returned by coffer_diff). */
typedef int coffer_diff_fn(void *cookie, const struct coffer_diff_entry *d);

struct coffer_diff_result {
	uint64_t	added, removed, modified, metadata;
};

/*
 * coffer_diff(ctx, snap1, snap2, fn, cookie, res, err): call ${fn} for
 * every entry that differs from ${snap1} to ${snap2}, depth first in
 * name order (a folder before its content; everything below an added or
 * removed folder is reported too).  Within one key set, folders with the
 * same id are skipped unread and files compare by chunk ids; across key
 * sets, files of equal size are compared by reading their content.
 */
int coffer_diff(const struct coffer_ctx *ctx, const char *snap1,
    const char *snap2, coffer_diff_fn *fn, void *cookie,
    struct coffer_diff_result *res, struct coffer_err *err)
    __attribute__((warn_unused_result));

/* Return 0 to go on, non-zero to stop (returned by coffer_find). */
typedef int coffer_find_fn(void *cookie, const char *snapshot,
    const struct coffer_entry_info *e);

/*
 * coffer_find(ctx, pattern, snapshots, n, fn, cookie, &nmatches, err):
 * call ${fn} for every entry whose stored path matches ${pattern}
 * (fnmatch(3) with FNM_PATHNAME on the whole path if the pattern holds a
 * '/', else on the last component), in the ${n} snapshots named (specs as
 * for coffer_ls) or, with ${n} 0, in every snapshot whose key is here,
 * oldest first.  Damaged snapshots are warned about and skipped then.
 */
int coffer_find(const struct coffer_ctx *ctx, const char *pattern,
    const char *const *snapshots, size_t n, coffer_find_fn *fn, void *cookie,
    uint64_t *nmatches, struct coffer_err *err)
    __attribute__((warn_unused_result));

struct coffer_stats_set {
	char		key_id[17];	/* "" for the total */
	uint64_t	nsnapshots;
	uint64_t	nfiles;		/* regular file entries, summed */
	uint64_t	restore_size;	/* their sizes, summed */
	uint64_t	nchunks;	/* distinct data chunks referenced */
	uint64_t	dedup_size;	/* their plaintext bytes */
	uint64_t	stored_size;	/* their bytes on the card */
	uint64_t	ntrees;		/* distinct folders (tree blobs) */
	uint64_t	tree_stored_size;
	uint64_t	nmissing;	/* chunks or trees not in the index */
};

struct coffer_stats_result {
	struct coffer_stats_set	 total;
	struct coffer_stats_set	*sets;		/* per key set, by key id */
	size_t			 nsets;
	uint64_t		 nunreadable;	/* snapshots not counted */
	char			 snapshot[64];	/* the one snapshot, or "" */
};

/*
 * coffer_stats(ctx, snapshot, res, err): sizes before and after
 * deduplication and compression, for ${snapshot} (a spec as for
 * coffer_ls) or, if NULL, every snapshot whose key is here.  Free with
 * coffer_stats_free().
 */
int coffer_stats(const struct coffer_ctx *ctx, const char *snapshot,
    struct coffer_stats_result *res, struct coffer_err *err)
    __attribute__((warn_unused_result));
void coffer_stats_free(struct coffer_stats_result *res);

/* Files up to this size are read and verified whole before any write. */
#define COFFER_DUMP_BUFFER_MAX	(64u << 20)

/*
 * coffer_restore_fd(ctx, snapshot, path, fd, &bytes, err): write the
 * content of the regular file ${path} of ${snapshot} (raw bytes or as
 * coffer_ls's caller prints it) to ${fd}.  A file
 * of at most COFFER_DUMP_BUFFER_MAX bytes is written only once every
 * chunk has authenticated; a larger one chunk by chunk, each
 * authenticated first, so on failure ${fd} may have received the chunks
 * before the bad one.  COFFER_EINVAL if ${path} is not a regular file.
 */
int coffer_restore_fd(const struct coffer_ctx *ctx, const char *snapshot,
    const char *path, int fd, uint64_t *bytes, struct coffer_err *err)
    __attribute__((warn_unused_result));

/* ---- cards (coffer card) ---- */

/*
 * coffer_card_identify(ctx, repo_id, key_ids, cap, &n, err): the
 * repository id (32 hex) of ${ctx->repo} in ${repo_id}, and in
 * ${key_ids} the ids of up to ${cap} of its key sets whose data key this
 * keystore holds (or derives) and whose keyinfo authenticates under it
 * (bound to the repository id from format 3 on); ${n} of them.  Reads
 * only and takes no lock, so it works on a card mounted read-only; asks
 * no escrow server.  COFFER_ENOKEY if the keystore has no secret for
 * this repository.
 */
int coffer_card_identify(const struct coffer_ctx *ctx, char repo_id[33],
    char (*key_ids)[17], size_t cap, size_t *n, struct coffer_err *err)
    __attribute__((warn_unused_result));

#endif /* !COFFER_COFFER_H_ */
