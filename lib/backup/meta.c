/* SPDX-License-Identifier: ISC */
/*
 * meta: extended attributes, ACLs and inode flags of files and folders
 * (docs/FORMAT.md §11.1): read at backup, put back at restore.
 */
#include <sys/ioctl.h>
#include <sys/xattr.h>

#include <linux/fs.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meta.h"
#include "session.h"

#define XATTR_LIST_MAX	65536

/* The chattr flags TREE_IFLAGS_MASK stands for. */
_Static_assert((FS_SECRM_FL | FS_UNRM_FL | FS_COMPR_FL | FS_SYNC_FL |
    FS_IMMUTABLE_FL | FS_APPEND_FL | FS_NODUMP_FL | FS_NOATIME_FL |
    FS_NOCOMP_FL | FS_JOURNAL_DATA_FL | FS_NOTAIL_FL | FS_DIRSYNC_FL |
    FS_TOPDIR_FL | FS_NOCOW_FL) == TREE_IFLAGS_MASK,
    "TREE_IFLAGS_MASK is not the documented set");

/* The attributes backup stores; the rest (other system.*) it leaves. */
static bool
stored_name(const char *n)
{
	return strncmp(n, "user.", 5) == 0 || strncmp(n, "trusted.", 8) == 0 ||
	    strncmp(n, "security.", 9) == 0 ||
	    strcmp(n, "system.posix_acl_access") == 0 ||
	    strcmp(n, "system.posix_acl_default") == 0;
}

static int
xattr_cmp(const void *x, const void *y)
{
	const struct xattr *a = x, *b = y;

	return strcmp(a->name, b->name);
}

int
meta_read(const struct coffer_ctx *ctx, int fd, struct tree_entry *e,
    const char *path, uint64_t *nwarnings, struct coffer_err *err)
{
	char list[XATTR_LIST_MAX];
	ssize_t n, vn;
	size_t cnt = 0;
	int fl = 0;

	/* Not every file system has flags (ENOTTY, EOPNOTSUPP): then none. */
	if (ioctl(fd, FS_IOC_GETFLAGS, &fl) == 0)
		e->iflags = (uint32_t)fl & TREE_IFLAGS_MASK;
	if ((n = flistxattr(fd, list, sizeof(list))) <= 0)
		return 0;	/* none, or not supported here */
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1)
		if (stored_name(list + i))
			cnt++;
	if (cnt == 0)
		return 0;
	if ((e->xattrs = coffer_calloc(cnt, sizeof(*e->xattrs))) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "xattrs");
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1) {
		const char *name = list + i;
		struct xattr *x;

		if (!stored_name(name) || e->nxattrs == cnt)
			continue;
		if ((vn = fgetxattr(fd, name, NULL, 0)) < 0 ||
		    vn > (ssize_t)TREE_XATTR_MAX)
			goto unreadable;
		x = &e->xattrs[e->nxattrs];
		if ((x->name = coffer_strdup(name)) == NULL ||
		    (x->value = coffer_malloc((size_t)vn + 1)) == NULL) {
			coffer_free(x->name);
			x->name = NULL;
			return coffer_err_set(err, COFFER_ENOMEM, "xattrs");
		}
		if ((vn = fgetxattr(fd, name, x->value, (size_t)vn)) < 0 ||
		    !tree_xattr_ok(name, x->value, (size_t)vn, e->type)) {
			coffer_free(x->name);
			coffer_free(x->value);
			x->name = NULL;
			x->value = NULL;
			goto unreadable;
		}
		x->vlen = (size_t)vn;
		e->nxattrs++;
		continue;
unreadable:
		session_warn(ctx, "cannot read attribute '%s' of '%s'; left "
		    "out", name, path);
		(*nwarnings)++;
	}
	/* The tree encoding wants the names in a stable order. */
	if (e->nxattrs > 1)
		qsort(e->xattrs, e->nxattrs, sizeof(*e->xattrs), xattr_cmp);
	return 0;
}

/* ---- restore ---- */

static enum meta_kind
kind_of(const char *n)
{
	if (strncmp(n, "user.", 5) == 0)
		return META_USER;
	if (strncmp(n, "trusted.", 8) == 0)
		return META_TRUSTED;
	if (strcmp(n, "security.capability") == 0)
		return META_CAP;
	if (strncmp(n, "security.", 9) == 0)
		return META_SECURITY;
	if (strncmp(n, "system.posix_acl_", 17) == 0)
		return META_ACL;
	return META_OTHER;
}

/* Why errno ${e} refused an attribute (or, ${flags}, an inode flag). */
static enum meta_why
why_of(int e, bool flags)
{
	if (e == EPERM || e == EACCES)
		return META_DENIED;
	if (e == EOPNOTSUPP || e == ENOTSUP || e == ENOTTY ||
	    (flags && e == EINVAL))
		return META_UNSUPPORTED;
	return META_FAILED;
}

/* Count ${path} once under (${k}, ${w}); ${seen} is per file. */
static void
tally(struct meta_tally *m, enum meta_kind k, enum meta_why w, int e,
    const char *path, bool seen[META_NKINDS][META_NWHYS])
{
	if (seen[k][w])
		return;
	seen[k][w] = true;
	if (m->n[k][w]++ == 0) {
		m->first[k][w] = coffer_strdup(path);	/* NULL: told without */
		if (w == META_FAILED)
			m->err[k] = e;
	}
}

void
meta_apply_xattrs(struct meta_tally *m, int fd, const struct tree_entry *e,
    const char *path)
{
	bool seen[META_NKINDS][META_NWHYS] = { { false } };

	for (size_t i = 0; i < e->nxattrs; i++) {
		const struct xattr *x = &e->xattrs[i];

		if (fsetxattr(fd, x->name, x->value, x->vlen, 0) != 0)
			tally(m, kind_of(x->name), why_of(errno, false), errno,
			    path, seen);
	}
}

static int
get_flags(int fd, uint32_t *out)
{
	int fl = 0;

	if (ioctl(fd, FS_IOC_GETFLAGS, &fl) != 0)
		return -1;
	*out = (uint32_t)fl;
	return 0;
}

static int
set_flags(int fd, uint32_t v)
{
	int fl = (int)v;

	return ioctl(fd, FS_IOC_SETFLAGS, &fl);
}

/* Set ${want} (not 0) on ${fd}; see meta_apply_iflags. */
static void
apply_iflags(struct meta_tally *m, int fd, uint32_t want, const char *path)
{
	static const uint32_t last = FS_APPEND_FL | FS_IMMUTABLE_FL;
	bool seen[META_NKINDS][META_NWHYS] = { { false } };
	uint32_t cur, have;
	int why = -1, why_errno = 0;

	if (get_flags(fd, &cur) != 0) {
		tally(m, META_IFLAGS, why_of(errno, true), errno, path, seen);
		return;
	}
	if ((cur & TREE_IFLAGS_MASK) == want)
		return;
	if (set_flags(fd, (cur & ~TREE_IFLAGS_MASK) | want) != 0) {
		/*
		 * Some flag is refused (no privilege for immutable, or not
		 * in this file system): add them one at a time, so that the
		 * others land; immutable and append-only last.
		 */
		have = cur & ~(TREE_IFLAGS_MASK & ~want);
		if (have != cur && set_flags(fd, have) != 0)
			have = cur;
		for (int pass = 0; pass < 2; pass++) {
			for (uint32_t bit = 1; bit != 0; bit <<= 1) {
				if (!(want & bit) || (have & bit) ||
				    ((last & bit) != 0) != (pass == 1))
					continue;
				if (set_flags(fd, have | bit) == 0) {
					have |= bit;
				} else if (why != META_DENIED) {
					why = why_of(errno, true);
					why_errno = errno;
				}
			}
		}
	}
	/*
	 * A file system may take the call and ignore a flag it does not
	 * keep (ext4 and no-COW, btrfs and no-COW on a file with data).
	 */
	if (get_flags(fd, &have) == 0 && (have & TREE_IFLAGS_MASK) != want &&
	    why == -1)
		why = META_UNSUPPORTED;
	if (why != -1)
		tally(m, META_IFLAGS, (enum meta_why)why, why_errno, path, seen);
}

void
meta_apply_iflags(struct meta_tally *m, int fd, const struct tree_entry *e,
    const char *path)
{
	struct meta_late *l;

	if (e->iflags == 0)
		return;
	if (e->link_id != 0 && (e->iflags & (FS_APPEND_FL |
	    FS_IMMUTABLE_FL)) != 0 && m->nlate < META_LATE_MAX) {
		if (m->late == NULL)
			m->late = coffer_calloc(META_LATE_MAX, sizeof(*m->late));
		if (m->late != NULL) {
			l = &m->late[m->nlate];
			if ((l->path = coffer_strdup(path)) != NULL &&
			    (l->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) != -1) {
				l->iflags = e->iflags;
				m->nlate++;
				return;
			}
			coffer_free(l->path);
			l->path = NULL;
		}
	}
	apply_iflags(m, fd, e->iflags, path);
}

void
meta_finish(struct meta_tally *m)
{
	for (size_t i = 0; i < m->nlate; i++) {
		struct meta_late *l = &m->late[i];

		apply_iflags(m, l->fd, l->iflags, l->path);
		close(l->fd);
		coffer_free(l->path);
	}
	m->nlate = 0;
}

static const char *const kind_names[META_NKINDS] = {
	[META_USER] = "user.* attributes",
	[META_TRUSTED] = "trusted.* attributes",
	[META_SECURITY] = "security.* attributes",
	[META_CAP] = "file capabilities",
	[META_ACL] = "ACLs",
	[META_OTHER] = "other attributes",
	[META_IFLAGS] = "inode flags",
};

static const char *
why_text(const struct meta_tally *m, enum meta_kind k, enum meta_why w)
{
	if (w == META_UNSUPPORTED)
		return "the target file system does not support them";
	if (w == META_FAILED)
		return strerror(m->err[k]);
	if (m->root)
		return "not permitted, even to root";
	if (k == META_IFLAGS)
		return "only root may set the immutable, append-only and "
		    "data-journalling flags";
	if (k == META_TRUSTED || k == META_SECURITY || k == META_CAP)
		return "only root may set them";
	return "not permitted";
}

void
meta_report(const struct coffer_ctx *ctx, struct meta_tally *m)
{
	for (int k = 0; k < META_NKINDS; k++)
		for (int w = 0; w < META_NWHYS; w++) {
			uint64_t n = m->n[k][w];

			if (n == 0)
				continue;
			session_warn(ctx, "%s of %llu %s could not be restored: "
			    "%s (the first: '%s')", kind_names[k],
			    (unsigned long long)n, n == 1 ? "file" : "files",
			    why_text(m, k, w), m->first[k][w] != NULL ?
			    m->first[k][w] : "?");
			coffer_free(m->first[k][w]);
			m->first[k][w] = NULL;
			m->n[k][w] = 0;
		}
	for (size_t i = 0; i < m->nlate; i++) {
		close(m->late[i].fd);
		coffer_free(m->late[i].path);
	}
	coffer_free(m->late);
	m->late = NULL;
	m->nlate = 0;
}
