/* SPDX-License-Identifier: ISC */
/*
 * prune: free the space of blobs no snapshot uses.
 *
 * The caller marks every blob still used (keyset_mark_used, walking all
 * snapshots of the set) under an exclusive lock.  Then, per pack: nothing
 * used → delete; at least PRUNE_REPACK_PCT percent unused → copy the used
 * blobs (sealed bytes verbatim, after authenticating them) into new
 * packs; else keep.  Pack files that no index names (interrupted
 * backups) are deleted too.  A bundle (FORMAT.md §7.1) is used when any
 * of its blobs is: it is copied whole, and the new index names only its
 * used blobs; its space comes back when none is used.
 *
 * Order, so that a crash at any instant loses nothing a snapshot needs:
 *   1. new packs written, fsynced and renamed, with their index file;
 *   2. one complete index of every used blob, at its current place;
 *   3. every other index file deleted;
 *   4. the packs that are no longer named deleted.
 * Before 2, the old index still places every blob in its old pack; from
 * 2 on, the complete index places it in a pack that is kept.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "repo.h"
#include "repo_internal.h"
#include "rfs.h"

#define PRUNE_REPACK_PCT	10

enum { P_KEEP = 0, P_DELETE = 1, P_REPACK = 2 };

bool
keyset_mark_used(struct keyset *ks, int type, const uint8_t id[BLOB_ID_LEN])
{
	struct idx_entry *e;

	if (idx_full(ks, NULL) != 0)
		return false;	/* keyset_prune returns the error */
	e = idx_find(ks, type, id);
	if (e == NULL || e->used)
		return false;
	e->used = 1;
	return true;
}

/* Entries by place: a bundle's members next to each other. */
static int
by_place(const void *a, const void *b)
{
	const struct idx_entry *x = *(const struct idx_entry *const *)a;
	const struct idx_entry *y = *(const struct idx_entry *const *)b;

	if (x->loc.pack != y->loc.pack)
		return x->loc.pack < y->loc.pack ? -1 : 1;
	return x->loc.offset < y->loc.offset ? -1 :
	    x->loc.offset > y->loc.offset;
}

static bool
same_place(const struct idx_entry *x, const struct idx_entry *y)
{
	return x->loc.pack == y->loc.pack && x->loc.offset == y->loc.offset;
}

static bool
keep_used(const struct keyset *ks, const struct idx_entry *e, void *cookie)
{
	const uint8_t *fate = cookie;

	return e->used && e->loc.pack < ks->npacks && fate[e->loc.pack] ==
	    P_KEEP;
}

static bool
is_hex32n(const char *s)
{
	uint8_t tmp[16];

	return strlen(s) == 32 && hex_decode(tmp, s, 16) == 0;
}

static bool
is_hex2(const char *s)
{
	return rfs_is_hex(s, 2);
}

/*
 * A pack or an index file, or one being written ("<32 hex>.tmp"): the
 * only names prune deletes.
 */
static bool
is_objname(const char *s)
{
	return rfs_is_hex(s, 32) || rfs_is_packtmp(s);
}

/*
 * Delete "packs/xx/name" (relative to the set), counting its size; a
 * name that is not a regular file is left alone (check names it).
 */
static void
unlink_pack(struct keyset *ks, const char *path, uint64_t *freed)
{
	struct stat sb;
	char label[128];
	int fd;

	SET_LABEL(label, ks->idhex, path);
	if (rfs_open_file(ks->dirfd, path, label, O_RDONLY, &fd, &sb,
	    NULL) != 0)
		return;
	close(fd);
	if (rfs_unlink(ks->dirfd, path, label, NULL) == 0)
		*freed += (uint64_t)sb.st_size;
}

int
keyset_prune(struct keyset *ks, bool dry_run, struct prune_stats *st,
    struct coffer_err *err)
{
	uint64_t *total = NULL, *used = NULL;
	uint8_t *fate = NULL;
	uint32_t nold;
	struct idx_entry **ent = NULL;
	size_t nent = 0;
	struct sealed_member m[64];
	struct bundle bd = { 0 };
	struct wbuf blob;
	uint8_t *buf = NULL;
	size_t bufcap = 0;
	char keepname[33], label[128];
	char **dirs = NULL, **names = NULL;
	size_t ndirs = 0, nnames = 0;
	int r;

	/* A walk over an index that did not load marked nothing: stop. */
	if ((r = idx_full(ks, err)) != 0)
		return r;
	nold = ks->npacks;
	wbuf_init(&blob, BLOB_MAX);
	if ((total = coffer_calloc(nold + 1, sizeof(*total))) == NULL ||
	    (used = coffer_calloc(nold + 1, sizeof(*used))) == NULL ||
	    (fate = coffer_calloc(nold + 1, 1)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "prune");
		goto out;
	}
	/* Every entry by place: a bundle counts once, used if any is. */
	for (size_t i = 0; i < ks->tabcap; i++)
		nent += ks->tab[i].type != 0 && ks->tab[i].loc.pack < nold;
	if ((ent = coffer_calloc(nent + 1, sizeof(*ent))) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "prune");
		goto out;
	}
	for (size_t i = 0, k = 0; i < ks->tabcap; i++)
		if (ks->tab[i].type != 0 && ks->tab[i].loc.pack < nold)
			ent[k++] = &ks->tab[i];
	if (nent > 1)
		qsort(ent, nent, sizeof(*ent), by_place);
	for (size_t i = 0; i < nent; i++) {
		const struct idx_entry *e = ent[i];
		bool first = i == 0 || !same_place(ent[i - 1], e);
		bool any = false;

		if (e->used)
			st->blobs_kept++;
		else
			st->blobs_removed++;
		if (!first)
			continue;
		for (size_t k = i; k < nent && same_place(ent[k], e); k++)
			any = any || ent[k]->used;
		total[e->loc.pack] += e->loc.clen;
		if (any)
			used[e->loc.pack] += e->loc.clen;
	}
	for (uint32_t p = 0; p < nold; p++) {
		char path[64];
		struct stat sb;
		int fd;

		pack_path(ks->packs[p].id, path);
		if (rfs_open_file(ks->dirfd, path, path, O_RDONLY, &fd, &sb,
		    NULL) == 0) {
			st->bytes_before += (uint64_t)sb.st_size;
			close(fd);
		}
		if (used[p] == 0)
			fate[p] = P_DELETE;
		else if ((total[p] - used[p]) * 100 >= total[p] *
		    PRUNE_REPACK_PCT)
			fate[p] = P_REPACK;
		st->packs_deleted += fate[p] == P_DELETE;
		st->packs_repacked += fate[p] == P_REPACK;
	}
	if (dry_run) {
		r = 0;
		goto out;
	}

	/*
	 * 1. Copy the used blobs of repacked packs, authenticated; a bundle
	 * once, with its used members (at most 64 per copy: a bundle with
	 * more, written by another coffer, is copied once per 64).
	 */
	for (size_t i = 0; i < nent; ) {
		struct idx_entry *e = ent[i];
		struct coffer_err e1 = { 0 };
		char where[128], path[64];
		struct blob_loc loc = e->loc;
		size_t k, n = 0;

		if (!e->bundled || fate[loc.pack] != P_REPACK) {
			k = i + 1;
			if (!e->used || fate[loc.pack] != P_REPACK) {
				i = k;
				continue;
			}
		} else {
			for (k = i; k < nent && same_place(ent[k], e) &&
			    ent[k]->bundled; k++)
				;
		}
		if (2 * (size_t)loc.clen > bufcap) {
			coffer_free(buf);
			bufcap = 2 * (size_t)loc.clen;
			if ((buf = coffer_malloc(bufcap)) == NULL) {
				r = coffer_err_set(err, COFFER_ENOMEM, "prune");
				goto out;
			}
		}
		pack_path(ks->packs[loc.pack].id, path);
		snprintf(where, sizeof(where), "%s at offset %llu of 'sets/%s/%s'",
		    e->bundled ? "bundle" : "blob",
		    (unsigned long long)loc.offset, ks->idhex, path);
		if ((r = keyset_read_raw(ks, loc.pack, loc.offset, loc.clen, buf,
		    err)) != 0)
			goto out;
		/* Never copy damage forward: stop before anything is lost. */
		if (!e->bundled) {
			r = keyset_open_blob(ks, e->type, e->id, buf, loc.clen,
			    loc.rawlen, &blob, buf + loc.clen, NULL, where, &e1);
			m[0].type = e->type;
			m[0].id = e->id;
			m[0].rawlen = loc.rawlen;
			n = 1;
		} else {
			r = bundle_open(ks, buf, loc.clen, &bd, NULL, where, &e1);
		}
		for (size_t j = i; r == 0 && e->bundled && j < k; j++) {
			const uint8_t *mp;

			if (!ent[j]->used)
				continue;
			if ((r = bundle_member(&bd, ent[j]->type, ent[j]->id,
			    ent[j]->loc.rawlen, &mp, where, &e1)) != 0)
				break;
			m[n].type = ent[j]->type;
			m[n].id = ent[j]->id;
			m[n].rawlen = ent[j]->loc.rawlen;
			if (++n == 64 || j + 1 == k) {
				if ((r = write_object(ks, buf, loc.clen, true, m,
				    n, err)) != 0)
					goto out;
				n = 0;
			}
		}
		if (r != 0) {
			if (r != COFFER_ENOMEM)
				coffer_err_prefix(&e1, "prune stopped, nothing "
				    "deleted (run 'coffer check --read-data')");
			*err = e1;
			goto out;
		}
		if (!e->bundled && (r = write_object(ks, buf, loc.clen, false, m,
		    1, err)) != 0)
			goto out;
		if (e->bundled && n > 0 && (r = write_object(ks, buf, loc.clen,
		    true, m, n, err)) != 0)
			goto out;
		i = k;
	}
	/* New packs durable, with an index of their own (flush). */
	if ((r = keyset_flush(ks, err)) != 0)
		goto out;
	st->packs_written = ks->npacks - nold;

	/* 2. One complete index: used blobs in kept and new packs. */
	{
		uint8_t *fate2;

		if ((fate2 = coffer_calloc(ks->npacks + 1, 1)) == NULL) {
			r = coffer_err_set(err, COFFER_ENOMEM, "prune");
			goto out;
		}
		memcpy(fate2, fate, nold);
		r = index_write(ks, keep_used, fate2, keepname, err);
		coffer_free(fate2);
		if (r != 0)
			goto out;
	}

	/* 3. Every other index file. */
	SET_LABEL(label, ks->idhex, "index");
	if ((r = dir_list(ks->dirfd, "index", label, is_objname, &names,
	    &nnames, err)) != 0)
		goto out;
	for (size_t i = 0; i < nnames; i++) {
		char path[96];

		if (strcmp(names[i], keepname) == 0)
			continue;
		snprintf(path, sizeof(path), "index/%s", names[i]);
		(void)rfs_unlink(ks->dirfd, path, path, NULL);
	}
	{
		int ifd = -1;

		r = rfs_open_dir(ks->dirfd, "index", "index", &ifd,
		    NULL) != 0 || fsync_dir(ifd) != 0 ? -1 : 0;
		if (ifd != -1)
			close(ifd);
		if (r != 0) {
			r = coffer_err_sys(err, "cannot sync 'sets/%s/index'",
			    ks->idhex);
			goto out;
		}
	}

	/* 4. Packs no longer named: deleted, repacked, and leftovers. */
	SET_LABEL(label, ks->idhex, "packs");
	if ((r = dir_list(ks->dirfd, "packs", label, is_hex2, &dirs, &ndirs,
	    err)) != 0)
		goto out;
	for (size_t d = 0; d < ndirs; d++) {
		char sub[16];

		snprintf(sub, sizeof(sub), "packs/%s", dirs[d]);
		strlist_free(names, nnames);
		names = NULL;
		nnames = 0;
		SET_LABEL(label, ks->idhex, sub);
		if ((r = dir_list(ks->dirfd, sub, label, is_objname, &names,
		    &nnames, err)) != 0)
			goto out;
		for (size_t i = 0; i < nnames; i++) {
			uint8_t pid[PACK_ID_LEN];
			char path[80];
			bool live = false;

			snprintf(path, sizeof(path), "%s/%s", sub, names[i]);
			if (is_hex32n(names[i]) && hex_decode(pid, names[i],
			    PACK_ID_LEN) == 0) {
				/*
				 * A pack two index files name (a prune
				 * stopped before step 3 left them) has two
				 * slots; the blobs sit in the first one
				 * loaded.  Live if any slot keeps it.
				 */
				for (uint32_t p = 0; p < ks->npacks; p++)
					if (memcmp(ks->packs[p].id, pid,
					    PACK_ID_LEN) == 0 && (p >= nold ||
					    fate[p] == P_KEEP))
						live = true;
			}
			if (!live)
				unlink_pack(ks, path, &st->bytes_freed);
		}
		{
			int sfd = -1;

			if (rfs_open_dir(ks->dirfd, sub, sub, &sfd, NULL) == 0) {
				if (fsync_dir(sfd) != 0) {
					/* best effort: the index is already right */
				}
				close(sfd);
			}
		}
	}
	for (uint32_t p = 0; p < ks->npacks; p++) {
		char path[64];
		struct stat sb;
		int fd;

		if (p < nold && fate[p] != P_KEEP)
			continue;
		pack_path(ks->packs[p].id, path);
		if (rfs_open_file(ks->dirfd, path, path, O_RDONLY, &fd, &sb,
		    NULL) == 0) {
			st->bytes_after += (uint64_t)sb.st_size;
			close(fd);
		}
	}
	r = 0;
out:
	strlist_free(dirs, ndirs);
	strlist_free(names, nnames);
	bundle_release(&bd);
	coffer_free(ent);
	wbuf_release(&blob);
	coffer_free(buf);
	coffer_free(total);
	coffer_free(used);
	coffer_free(fate);
	return r;
}
