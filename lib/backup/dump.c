/* SPDX-License-Identifier: ISC */
/*
 * dump: one regular file of a snapshot, written to a file descriptor
 * (restore --to-stdout).
 *
 * Nothing unauthenticated is ever written.  A file of at most
 * COFFER_DUMP_BUFFER_MAX bytes is read and authenticated whole before
 * its first byte goes out, so a damaged file writes nothing; a larger
 * one goes out chunk by chunk, each authenticated first, and stops at
 * the first bad chunk (what came before it has been written).
 */
#include <errno.h>
#include <string.h>

#include "session.h"

static int
put(int fd, const uint8_t *p, size_t len, const char *path,
    struct coffer_err *err)
{
	if (len > 0 && write_full(fd, p, len) != 0)
		return coffer_err_sys(err, "cannot write the content of '%s'",
		    path);
	return 0;
}

int
coffer_restore_fd(const struct coffer_ctx *ctx, const char *spec,
    const char *path, int fd, uint64_t *bytes, struct coffer_err *err)
{
	struct session s;
	struct snapshot snap;
	struct keyset *ks = NULL;
	struct tree t = { 0 };
	const struct tree_entry *e = NULL;
	struct wbuf blob, whole;
	char *p = NULL;
	uint64_t total = 0;
	bool buffered;
	size_t len;
	int r;

	*bytes = 0;
	memset(&snap, 0, sizeof(snap));
	wbuf_init(&blob, BLOB_MAX);
	wbuf_init(&whole, COFFER_DUMP_BUFFER_MAX);
	if (path == NULL)
		return coffer_err_set(err, COFFER_EINVAL, "no path given");
	/* A stored path: no leading or trailing '/', no empty component. */
	while (*path == '/')
		path++;
	if ((p = coffer_strdup(path)) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "restore");
	len = strlen(p);
	while (len > 0 && p[len - 1] == '/')
		p[--len] = '\0';
	if (len == 0 || strstr(p, "//") != NULL) {
		coffer_free(p);
		return coffer_err_set(err, COFFER_EINVAL, "'%s' is not a file "
		    "path in a snapshot", path);
	}
	if ((r = session_open(ctx, REPO_LOCK_READ, true, &s, err)) != 0) {
		coffer_free(p);
		return r;
	}
	if ((r = session_find_snapshot(&s, spec, &ks, &snap, err)) != 0)
		goto out;
	/* As typed, or as 'coffer ls' prints it. */
	coffer_free(p);
	p = NULL;
	if ((r = stored_path_resolve(ctx, ks, snap.tree, path, snap.name, &p,
	    err)) != 0 ||
	    (r = stored_path_find(ks, snap.tree, p, snap.name, &t, &e, err)) != 0)
		goto out;
	if (e->type != NODE_FILE) {
		r = coffer_err_set(err, COFFER_EINVAL, "'%s' in snapshot '%s' "
		    "is %s, not a regular file", p, snap.name,
		    e->type == NODE_DIR ? "a folder" : e->type ==
		    NODE_SYMLINK ? "a symbolic link" : "a special file");
		goto out;
	}
	buffered = e->size <= COFFER_DUMP_BUFFER_MAX;
	for (size_t i = 0; i < e->nchunks; i++) {
		if ((r = keyset_get_blob(ks, OBJ_DATA, e->chunks[i], &blob,
		    err)) != 0) {
			coffer_err_prefix(err, "'%s' of snapshot '%s'%s", p,
			    snap.name, buffered || total == 0 ? "" :
			    " (the bytes before the damaged chunk were written)");
			goto out;
		}
		if (blob.len > e->size - total)
			goto toolong;
		total += blob.len;
		if (buffered) {
			wbuf_put(&whole, blob.p, blob.len);
			if (whole.oom) {
				r = coffer_err_set(err, COFFER_ENOMEM,
				    "restore");
				goto out;
			}
		} else if ((r = put(fd, blob.p, blob.len, p, err)) != 0) {
			goto out;
		} else {
			*bytes = total;
		}
	}
	if (total != e->size)
		goto toolong;
	if (buffered) {
		if ((r = put(fd, whole.p, whole.len, p, err)) != 0)
			goto out;
		*bytes = total;
	}
	r = 0;
	goto out;
toolong:
	r = coffer_err_set(err, COFFER_EFORMAT, "'%s' of snapshot '%s': its "
	    "chunks do not add up to the %llu bytes the snapshot records "
	    "(damaged snapshot)", p, snap.name, (unsigned long long)e->size);
out:
	wbuf_release(&blob);
	wbuf_release(&whole);
	tree_release(&t);
	keyset_free(ks);
	snapshot_release(&snap);
	session_close(&s);
	coffer_free(p);
	return r;
}
