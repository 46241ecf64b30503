/* SPDX-License-Identifier: ISC */
/*
 * meta: the metadata of a file or folder beyond owner, mode and times:
 * extended attributes (user.*, trusted.*, security.*, among them file
 * capabilities as security.capability), POSIX ACLs (the raw values of
 * system.posix_acl_access and system.posix_acl_default) and inode flags
 * (FS_IOC_GETFLAGS, masked to TREE_IFLAGS_MASK).
 *
 * Backup reads them into a tree entry (meta_read); restore puts back
 * what the target file system and the user's privileges allow
 * (meta_apply_xattrs, meta_apply_iflags) and tallies what it could not,
 * to say so once per kind and reason (meta_report), not once per file.
 * meta knows nothing of owners, modes and times: restore sets those, in
 * the order content, owner, mode, meta_apply_xattrs, times,
 * meta_apply_iflags (chown clears capabilities; an immutable file takes
 * no further change).
 */
#ifndef META_H_
#define META_H_

#include <stdbool.h>
#include <stdint.h>

#include "coffer/coffer.h"
#include "../repo/tree.h"

enum meta_kind {
	META_USER, META_TRUSTED, META_SECURITY, META_CAP, META_ACL,
	META_OTHER, META_IFLAGS, META_NKINDS
};

enum meta_why {
	META_UNSUPPORTED,	/* the target file system has no place for it */
	META_DENIED,		/* not permitted to this user */
	META_FAILED,		/* another error (errno kept) */
	META_NWHYS
};

#define META_LATE_MAX	256

/* A hard-linked file whose immutable or append-only flag waits. */
struct meta_late {
	int		 fd;
	uint32_t	 iflags;
	char		*path;
};

/* What restore could not put back: files per kind and reason. */
struct meta_tally {
	bool		 root;		/* restoring as root */
	uint64_t	 n[META_NKINDS][META_NWHYS];
	char		*first[META_NKINDS][META_NWHYS];	/* a path */
	int		 err[META_NKINDS];	/* errno of the first FAILED */
	/*
	 * An immutable or append-only file refuses further hard links, so
	 * those of files with a link group wait for meta_finish (at most
	 * META_LATE_MAX; beyond, they are set at once).
	 */
	struct meta_late *late;
	size_t		 nlate;
};

/*
 * meta_read(ctx, fd, e, path, nwarnings, err): fill ${e}->xattrs (sorted
 * by name) and ${e}->iflags from the open file or folder ${fd} (${path}
 * names it in warnings).  An attribute that cannot be read is left out
 * with a warning, counted in ${nwarnings}; a file system without
 * attributes or flags gives none.  Returns 0, or COFFER_ENOMEM.
 */
int meta_read(const struct coffer_ctx *ctx, int fd, struct tree_entry *e,
    const char *path, uint64_t *nwarnings, struct coffer_err *err) WUR;

/*
 * meta_apply_xattrs(m, fd, e, path): set ${e}'s attributes and ACLs on
 * ${fd}; what fails is counted in ${m} under ${path}.
 */
void meta_apply_xattrs(struct meta_tally *m, int fd,
    const struct tree_entry *e, const char *path);

/*
 * meta_apply_iflags(m, fd, e, path): set ${e}->iflags on ${fd} (last:
 * immutable and append-only stop later changes), as many as the file
 * system and privileges allow; the rest is counted in ${m}.  With
 * iflags 0 the flags ${fd} has (inherited from its folder) are kept.
 * A file of a hard-link group with immutable or append-only keeps a
 * duplicate of ${fd} in ${m} and gets its flags in meta_finish, so its
 * other links can still be made.
 */
void meta_apply_iflags(struct meta_tally *m, int fd,
    const struct tree_entry *e, const char *path);

/* meta_finish(m): set the flags that waited for the hard links. */
void meta_finish(struct meta_tally *m);

/*
 * meta_report(ctx, m): one warning per kind and reason counted in ${m},
 * with the number of files and the first path; then release ${m} (flags
 * still waiting are dropped).
 */
void meta_report(const struct coffer_ctx *ctx, struct meta_tally *m);

#endif /* !META_H_ */
