/* SPDX-License-Identifier: ISC */
/*
 * resume: a backup takes over what an interrupted one left in its key
 * set (docs/FORMAT.md §14, "Resuming").
 *
 * An interrupted backup leaves complete packs that no index file names
 * (killed) or names in an index file that no snapshot uses (stopped by a
 * signal: it writes one on the way out).  The second kind is in the
 * index already.  The first kind is adopted here: a pack counts only
 * when its table authenticates under this set's key (so a pack of
 * another set, a renamed one or random bytes never does) and every blob
 * and bundle it lists authenticates and decodes to the length its entry
 * gives; then its blobs join the index and an index file names them
 * before anything else is written.  Nothing is deleted here; a pack
 * that fails stays for check to report and prune to delete.
 *
 * The caller holds the append lock: no other backup and no prune can be
 * running (append excludes append and exclusive, FORMAT.md §13), so
 * every complete pack no index names belongs to a process that is gone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "repo.h"
#include "repo_internal.h"
#include "rfs.h"

static bool
want_hex2(const char *s)
{
	return rfs_is_hex(s, 2);
}

static bool
want_hex32(const char *s)
{
	return rfs_is_hex(s, 32);
}

static int
id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, PACK_ID_LEN);
}

/*
 * pack_verify(ks, fd, tab, n, v2, end, buf, out, bd): true when every
 * entry of the authenticated table ${tab} (${n} entries) of the pack open
 * as ${fd} lies between the magic and ${end}, and its blob (or the bundle
 * holding it, which must list it) authenticates and decodes to its
 * rawlen.  ${buf}, ${out} and ${bd} are scratch, grown as needed.
 */
static bool
pack_verify(struct keyset *ks, int fd, const uint8_t *tab, uint32_t n,
    bool v2, uint64_t end, struct wbuf *buf, struct wbuf *out,
    struct bundle *bd)
{
	struct rbuf rb;
	uint64_t boff = 0;
	uint32_t bclen = 0;
	bool bopen = false;

	rbuf_init(&rb, tab + 4, (size_t)n * 49);
	for (uint32_t i = 0; i < n; i++) {
		struct coffer_err e1 = { 0 };
		struct blob_loc loc;
		uint8_t id[BLOB_ID_LEN];
		const uint8_t *mp;
		int type;
		bool bundled;

		if (!entry_read(&rb, 0, v2, &type, id, &loc, &bundled) ||
		    loc.offset < MAGIC_LEN || loc.clen < AEAD_OVERHEAD + 1 ||
		    loc.offset > end || loc.clen > end - loc.offset)
			return false;
		if (bundled && bopen && loc.offset == boff && loc.clen == bclen) {
			/* Another member of the bundle opened last. */
			if (bundle_member(bd, type, id, loc.rawlen, &mp, "", &e1)
			    != 0)
				return false;
			continue;
		}
		bopen = false;
		wbuf_reset(buf);
		if (wbuf_reserve(buf, 2 * (size_t)loc.clen) != 0 ||
		    pread_full(fd, buf->p, loc.clen, (off_t)loc.offset) != 0)
			return false;
		if (!bundled) {
			if (keyset_open_blob(ks, type, id, buf->p, loc.clen,
			    loc.rawlen, out, buf->p + loc.clen, NULL, "", &e1)
			    != 0)
				return false;
			continue;
		}
		if (bundle_open(ks, buf->p, loc.clen, bd, NULL, "", &e1) != 0 ||
		    bundle_member(bd, type, id, loc.rawlen, &mp, "", &e1) != 0)
			return false;
		bopen = true;
		boff = loc.offset;
		bclen = loc.clen;
	}
	return true;
}

/* The adopted packs are the last ones of the pack table. */
static bool
keep_adopted(const struct keyset *ks, const struct idx_entry *e, void *cookie)
{
	(void)ks;
	return e->loc.pack >= *(const uint32_t *)cookie;
}

/*
 * adopt(ks, pid, buf, out, bd, st): adopt pack ${pid} if it verifies;
 * 0 (adopted or not), or COFFER_ENOMEM.
 */
static int
adopt(struct keyset *ks, const uint8_t pid[PACK_ID_LEN], struct wbuf *buf,
    struct wbuf *out, struct bundle *bd, struct resume_stats *st)
{
	uint8_t *tab = NULL;
	struct rbuf rb;
	uint64_t end;
	uint32_t n, pidx;
	uint64_t fresh = 0;
	bool v2;
	int fd = -1, r = 0;

	if (pack_read_table(ks, pid, &fd, &tab, &n, &v2, &end) != 0 ||
	    !pack_verify(ks, fd, tab, n, v2, end, buf, out, bd)) {
		st->refused++;
		goto out;
	}
	if (pack_add(ks, pid, &pidx) != 0) {
		r = COFFER_ENOMEM;
		goto out;
	}
	rbuf_init(&rb, tab + 4, (size_t)n * 49);
	pthread_mutex_lock(&ks->idx_mu);
	for (uint32_t i = 0; i < n && r == 0; i++) {
		struct blob_loc loc;
		uint8_t id[BLOB_ID_LEN];
		int type;
		bool bundled;

		(void)entry_read(&rb, pidx, v2, &type, id, &loc, &bundled);
		if (idx_find(ks, type, id) != NULL)
			continue;	/* stored elsewhere too: keep that one */
		if (idx_insert(ks, type, id, &loc, bundled) != 0)
			r = COFFER_ENOMEM;
		else
			fresh++;
	}
	pthread_mutex_unlock(&ks->idx_mu);
	if (fresh > 0) {
		st->packs++;
		st->blobs += fresh;
		st->bytes += end;
	}
out:
	coffer_free(tab);
	if (fd != -1)
		close(fd);
	return r;
}

int
keyset_resume(struct keyset *ks, const volatile sig_atomic_t *stop,
    struct resume_stats *st, struct coffer_err *err)
{
	char **dirs = NULL, **names = NULL;
	size_t ndirs = 0, nnames = 0;
	uint8_t *known = NULL;
	struct wbuf buf, out;
	struct bundle bd = { 0 };
	uint32_t first, nknown;
	int r;

	memset(st, 0, sizeof(*st));
	if ((r = idx_ready(ks, err)) != 0)
		return r;
	first = nknown = ks->npacks;
	wbuf_init(&buf, 2 * ((size_t)BLOB_MAX + (BLOB_MAX >> 4) + 64));
	wbuf_init(&out, BLOB_MAX);
	ks->stop = stop;
	ks->index_every = RESUME_INDEX_EVERY;
	if (ks->writing)
		return coffer_err_set(err, COFFER_EINVAL, "resume after "
		    "writing");
	/* The packs the index names, sorted, to tell the others. */
	if ((known = coffer_malloc((size_t)nknown * PACK_ID_LEN + 1)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "resuming");
		goto out;
	}
	for (uint32_t p = 0; p < nknown; p++)
		memcpy(known + (size_t)p * PACK_ID_LEN, ks->packs[p].id,
		    PACK_ID_LEN);
	qsort(known, nknown, PACK_ID_LEN, id_cmp);
	if (dir_list(ks->dirfd, "packs", "packs", want_hex2, &dirs, &ndirs,
	    NULL) != 0) {
		r = 0;		/* nothing to list: nothing to take over */
		goto out;
	}
	for (size_t d = 0; d < ndirs; d++) {
		char sub[16];

		snprintf(sub, sizeof(sub), "packs/%s", dirs[d]);
		if (dir_list(ks->dirfd, sub, sub, want_hex32, &names, &nnames,
		    NULL) != 0)
			continue;
		for (size_t i = 0; i < nnames; i++) {
			uint8_t pid[PACK_ID_LEN];

			if (stop != NULL && *stop != 0) {
				r = coffer_err_set(err, COFFER_EINTR,
				    "interrupted");
				goto out;
			}
			if (hex_decode(pid, names[i], PACK_ID_LEN) != 0 ||
			    strncmp(names[i], dirs[d], 2) != 0 ||
			    bsearch(pid, known, nknown, PACK_ID_LEN,
			    id_cmp) != NULL)
				continue;
			if ((r = adopt(ks, pid, &buf, &out, &bd, st)) != 0) {
				r = coffer_err_set(err, r, "resuming");
				goto out;
			}
		}
		strlist_free(names, nnames);
		names = NULL;
		nnames = 0;
	}
	/*
	 * Invariant 2 before anything else is written: an index file names
	 * the adopted packs (those whose blobs were all known elsewhere
	 * already stay leftovers, for prune).  Whatever this backup writes
	 * later goes into index files of its own.
	 */
	if (st->blobs > 0) {
		if ((r = index_write(ks, keep_adopted, &first, NULL, NULL,
		    err)) != 0) {
			coffer_err_prefix(err, "taking over an interrupted "
			    "backup's packs");
			goto out;
		}
	}
	r = 0;
out:
	strlist_free(names, nnames);
	strlist_free(dirs, ndirs);
	coffer_free(known);
	bundle_release(&bd);
	wbuf_release(&buf);
	wbuf_release(&out);
	return r;
}
