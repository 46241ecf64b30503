/* SPDX-License-Identifier: ISC */
/*
 * snapshot: the files under sets/<keyid>/snapshots/.
 *
 * The file name is the snapshot name made FAT-safe (colons dropped:
 * "2026-11-25T17:31:00Z" is stored as "2026-11-25T173100Z"); the content
 * is magic "CFSNAP01" | AEAD(body) with the BLAKE2b-256 of the name as
 * the object id, so a snapshot cannot be renamed or swapped for another.
 * A snapshot's id is the BLAKE2b-256 of its file, computable without the
 * key.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "repo.h"
#include "repo_internal.h"
#include "rfs.h"

#define SNAPSHOT_FILE_MAX	(16u << 20)
#define SNAPSHOT_BODY_V1	1	/* no revision, no tags */
#define SNAPSHOT_BODY_V2	2	/* + revision, tags (§10.3) */
/* A file name with its revision suffix: 24 + '.' + 8 digits. */
#define SNAPSHOT_FNAME_MAX	(SNAPSHOT_NAME_MAX + 16)

static const char snap_magic[MAGIC_LEN] = "CFSNAP01";

void
snapshot_release(struct snapshot *s)
{
	if (s == NULL)
		return;
	coffer_free(s->hostname);
	coffer_free(s->username);
	strlist_free(s->paths, s->npaths);
	strlist_free(s->tags, s->ntags);
	s->hostname = s->username = NULL;
	s->paths = NULL;
	s->npaths = 0;
	s->tags = NULL;
	s->ntags = 0;
}

void
snapshot_list_free(struct snapshot *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		snapshot_release(&v[i]);
	coffer_free(v);
}

void
snapshot_fname(const char *name, char out[SNAPSHOT_NAME_MAX])
{
	size_t j = 0;

	for (size_t i = 0; name[i] != '\0' && j < SNAPSHOT_NAME_MAX - 1; i++)
		if (name[i] != ':')
			out[j++] = name[i];
	out[j] = '\0';
}

static bool
all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return n > 0;
}

int
snapshot_name_from_fname(const char *f, char out[SNAPSHOT_NAME_MAX])
{
	size_t n = strlen(f);

	/* Count names: decimal digits, no leading zero. */
	if (all_digits(f, n) && f[0] != '0' && n < 20) {
		memcpy(out, f, n + 1);
		return 0;
	}
	/* Time names: YYYY-MM-DDTHHMMSSZ, optionally -N for a same-second
	 * second backup. */
	if (n < 18 || !all_digits(f, 4) || f[4] != '-' ||
	    !all_digits(f + 5, 2) || f[7] != '-' || !all_digits(f + 8, 2) ||
	    f[10] != 'T' || !all_digits(f + 11, 6) || f[17] != 'Z')
		return -1;
	if (n > 18 && (f[18] != '-' || !all_digits(f + 19, n - 19) ||
	    f[19] == '0' || n > 24))
		return -1;
	snprintf(out, SNAPSHOT_NAME_MAX, "%.13s:%.2s:%.2sZ%s", f, f + 13,
	    f + 15, f + 18);
	return 0;
}

int
snapshot_parse_fname(const char *f, char out[SNAPSHOT_NAME_MAX],
    uint32_t *rev)
{
	char base[SNAPSHOT_NAME_MAX];
	const char *dot = strchr(f, '.');
	size_t blen, slen;
	unsigned long v;

	*rev = 0;
	if (dot == NULL)
		return snapshot_name_from_fname(f, out);
	blen = (size_t)(dot - f);
	slen = strlen(dot + 1);
	/* ".N": 1 to 8 digits, no leading zero. */
	if (blen == 0 || blen >= sizeof(base) || slen == 0 || slen > 8 ||
	    !all_digits(dot + 1, slen) || dot[1] == '0')
		return -1;
	v = strtoul(dot + 1, NULL, 10);
	if (v > SNAPSHOT_REV_MAX)
		return -1;
	memcpy(base, f, blen);
	base[blen] = '\0';
	if (snapshot_name_from_fname(base, out) != 0)
		return -1;
	*rev = (uint32_t)v;
	return 0;
}

/* snap_fname_rev(name, rev, out): the file name of revision ${rev}. */
static void
snap_fname_rev(const char *name, uint32_t rev, char out[SNAPSHOT_FNAME_MAX])
{
	char f[SNAPSHOT_NAME_MAX];

	snapshot_fname(name, f);
	if (rev == 0)
		snprintf(out, SNAPSHOT_FNAME_MAX, "%s", f);
	else
		snprintf(out, SNAPSHOT_FNAME_MAX, "%s.%u", f, (unsigned)rev);
}

static bool
is_snapfile(const char *s)
{
	char tmp[SNAPSHOT_NAME_MAX];
	uint32_t rev;

	return snapshot_parse_fname(s, tmp, &rev) == 0;
}

static int snapshot_name_cmp(const char *xn, const char *yn);

/* By name, then key set, then revision (so a name's revisions adjoin). */
static int
cmp_snap(const void *a, const void *b)
{
	const struct snapshot *x = a, *y = b;
	int c;

	if ((c = snapshot_name_cmp(x->name, y->name)) != 0)
		return c;
	if ((c = strcmp(x->keyid, y->keyid)) != 0)
		return c;
	return x->rev < y->rev ? -1 : x->rev > y->rev;
}

static int
snapshot_name_cmp(const char *xn, const char *yn)
{
	size_t xl = strlen(xn), yl = strlen(yn);
	int c;

	/* Count names sort as numbers. */
	if (all_digits(xn, xl) && all_digits(yn, yl) && xl != yl)
		return xl < yl ? -1 : 1;
	/* Time names: by time, then by the -N suffix as a number. */
	if (xl >= 20 && yl >= 20 && (c = strncmp(xn, yn, 20)) != 0)
		return c;
	if (xl >= 20 && yl >= 20 && xl != yl)
		return xl < yl ? -1 : 1;
	return strcmp(xn, yn);
}

int
repo_list_snapshots(struct repo *rp, struct snapshot **out, size_t *nout,
    struct coffer_err *err)
{
	char **sets = NULL, **names = NULL;
	size_t nsets = 0, nnames = 0;
	struct snapshot *v = NULL, *nv;
	size_t n = 0, cap = 0;
	int r;

	*out = NULL;
	*nout = 0;
	if ((r = repo_list_sets(rp, &sets, &nsets, err)) != 0)
		return r;
	for (size_t s = 0; s < nsets; s++) {
		char sub[64];

		snprintf(sub, sizeof(sub), "sets/%s/snapshots", sets[s]);
		if ((r = dir_list(rp->dirfd, sub, sub, is_snapfile, &names,
		    &nnames, err)) != 0)
			goto out;
		for (size_t i = 0; i < nnames; i++) {
			struct snapshot *sn;
			char path[128];
			uint8_t h[HASH_LEN];
			uint8_t *file = NULL;
			size_t flen;

			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				if ((nv = coffer_realloc(v, cap *
				    sizeof(*v))) == NULL) {
					r = coffer_err_set(err, COFFER_ENOMEM,
					    "listing snapshots");
					goto out;
				}
				v = nv;
			}
			sn = &v[n++];
			memset(sn, 0, sizeof(*sn));
			if (snapshot_parse_fname(names[i], sn->name,
			    &sn->rev) != 0) {
				n--;	/* dir_list checked it */
				continue;
			}
			memcpy(sn->keyid, sets[s], KEYID_HEX_LEN + 1);
			snprintf(path, sizeof(path), "%s/%s", sub, names[i]);
			/* The id is the hash of the file; unreadable → empty. */
			if (rfs_read(rp->dirfd, path, path, SNAPSHOT_FILE_MAX,
			    &file, &flen, NULL) == 0) {
				hash_plain(h, sizeof(h), file, flen);
				hex_encode(sn->idhex, h, sizeof(h));
				coffer_free(file);
			}
		}
		strlist_free(names, nnames);
		names = NULL;
		nnames = 0;
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_snap);
	/* Of a name's revisions in one set the highest counts (§10.3). */
	{
		size_t k = 0;

		for (size_t i = 0; i < n; i++) {
			if (k > 0 && strcmp(v[k - 1].name, v[i].name) == 0 &&
			    strcmp(v[k - 1].keyid, v[i].keyid) == 0) {
				uint32_t st = v[k - 1].nstale + 1;

				v[k - 1] = v[i];
				v[k - 1].nstale = st;
				continue;
			}
			v[k++] = v[i];
		}
		n = k;
	}
	*out = v;
	*nout = n;
	v = NULL;
	n = 0;
	r = 0;
out:
	strlist_free(names, nnames);
	strlist_free(sets, nsets);
	snapshot_list_free(v, n);
	return r;
}

static void
put_str(struct wbuf *b, const char *s)
{
	wbuf_bytes32(b, s ? s : "", s ? strlen(s) : 0);
}

/*
 * get_str(rb, max, oom): a bytes32 string of at most ${max} bytes with no
 * NUL, copied; NULL if malformed (rb marked bad) or out of memory (rb
 * marked bad and *oom set, so the caller does not call it damage).
 */
static char *
get_str(struct rbuf *rb, size_t max, bool *oom)
{
	const uint8_t *p;
	size_t len;
	char *s;

	if ((p = rbuf_bytes32(rb, &len, max)) == NULL)
		return NULL;
	if (memchr(p, '\0', len) != NULL) {
		rb->bad = true;
		return NULL;
	}
	if ((s = coffer_malloc(len + 1)) == NULL) {
		rb->bad = true;
		*oom = true;
		return NULL;
	}
	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

bool
snapshot_tag_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > SNAPSHOT_TAG_MAX || strcmp(t, ".") == 0 ||
	    strcmp(t, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f || t[i] == ',' ||
		    t[i] == '/')
			return false;
	return true;
}

/* snap_encode(s, b): the body of ${s}, version 1 if it can be. */
static void
snap_encode(const struct snapshot *s, struct wbuf *b)
{
	bool v2 = s->rev > 0 || s->ntags > 0;

	wbuf_u32(b, v2 ? SNAPSHOT_BODY_V2 : SNAPSHOT_BODY_V1);
	put_str(b, s->name);
	wbuf_u64(b, (uint64_t)s->time_sec);
	wbuf_u32(b, s->time_nsec);
	put_str(b, s->hostname);
	put_str(b, s->username);
	wbuf_u32(b, (uint32_t)s->npaths);
	for (size_t i = 0; i < s->npaths; i++)
		put_str(b, s->paths[i]);
	wbuf_put(b, s->tree, BLOB_ID_LEN);
	wbuf_u64(b, s->size);
	wbuf_u64(b, s->nfiles);
	wbuf_u64(b, s->ndirs);
	wbuf_u64(b, s->added);
	if (!v2)
		return;
	wbuf_u32(b, s->rev);
	wbuf_u32(b, (uint32_t)s->ntags);
	for (size_t i = 0; i < s->ntags; i++)
		put_str(b, s->tags[i]);
}

/*
 * snap_store(ks, s, sfd, err): seal ${s} and write it atomically as the
 * file of revision ${s->rev} in the open snapshots folder ${sfd}; never
 * over an existing file (COFFER_EEXIST).
 */
static int
snap_store(struct keyset *ks, struct snapshot *s, int sfd,
    struct coffer_err *err)
{
	char fname[SNAPSHOT_FNAME_MAX], label[128];
	uint8_t nameid[HASH_LEN], h[HASH_LEN];
	uint8_t *sealed = NULL;
	struct wbuf b;
	size_t slen;
	int r;

	if (s->ntags > SNAPSHOT_TAGS_MAX)
		return coffer_err_set(err, COFFER_EINVAL, "snapshot '%s': more "
		    "than %d tags", s->name, SNAPSHOT_TAGS_MAX);
	for (size_t i = 0; i < s->ntags; i++)
		if (!snapshot_tag_ok(s->tags[i]) || (i > 0 &&
		    strcmp(s->tags[i - 1], s->tags[i]) >= 0))
			return coffer_err_set(err, COFFER_EINVAL, "snapshot "
			    "'%s': tags not valid, sorted and unique",
			    s->name);
	wbuf_init(&b, SNAPSHOT_FILE_MAX - 1024);
	snap_encode(s, &b);
	if (b.oom) {
		r = coffer_err_set(err, COFFER_ENOMEM, "snapshot too large");
		goto out;
	}
	hash_plain(nameid, sizeof(nameid), s->name, strlen(s->name));
	if ((r = obj_seal(ks, snap_magic, OBJ_SNAPSHOT, nameid, sizeof(nameid),
	    b.p, b.len, &sealed, &slen, err)) != 0)
		goto out;
	snap_fname_rev(s->name, s->rev, fname);
	snprintf(label, sizeof(label), "sets/%s/snapshots/%s", ks->idhex,
	    fname);
	if ((r = atomicfile_write(sfd, fname, sealed, slen, 0600, true, label,
	    err)) != 0)
		goto out;
	hash_plain(h, sizeof(h), sealed, slen);
	hex_encode(s->idhex, h, sizeof(h));
	memcpy(s->keyid, ks->idhex, sizeof(s->keyid));
	s->readable = true;
	r = 0;
out:
	coffer_free(sealed);
	wbuf_release(&b);
	return r;
}

int
snapshot_write(struct keyset *ks, struct snapshot *s, struct coffer_err *err)
{
	char dlabel[96];
	int sfd = -1;
	int r;

	snprintf(dlabel, sizeof(dlabel), "sets/%s/snapshots", ks->idhex);
	if ((r = rfs_open_dir(ks->dirfd, "snapshots", dlabel, &sfd,
	    err)) != 0)
		return r;
	/* Invariant 3: the caller flushed packs and index before this. */
	r = snap_store(ks, s, sfd, err);
	close(sfd);
	return r;
}

/*
 * unlink_revs(pfd, sub, dfd, dlabel, name, below, err): delete the files
 * of ${name}'s revisions lower than ${below}, lowest first, from the
 * snapshots folder ${dfd} (${sub} under ${pfd}), and fsync the folder.
 */
static int
unlink_revs(int pfd, const char *sub, int dfd, const char *dlabel,
    const char *name, uint32_t below, struct coffer_err *err)
{
	char **names = NULL;
	size_t nnames = 0;
	bool any = false;
	int r;

	if ((r = dir_list(pfd, sub, dlabel, is_snapfile, &names, &nnames,
	    err)) != 0)
		return r;
	for (;;) {
		char n1[SNAPSHOT_NAME_MAX], path[160];
		uint32_t rev, low = UINT32_MAX;
		size_t at = 0;

		for (size_t i = 0; i < nnames; i++) {
			if (names[i] == NULL ||
			    snapshot_parse_fname(names[i], n1, &rev) != 0 ||
			    strcmp(n1, name) != 0 || rev >= below)
				continue;
			if (low == UINT32_MAX || rev < low) {
				low = rev;
				at = i;
			}
		}
		if (low == UINT32_MAX)
			break;
		snprintf(path, sizeof(path), "%s/%s", dlabel, names[at]);
		if ((r = rfs_unlink(dfd, names[at], path, err)) != 0)
			goto out;
		coffer_free(names[at]);
		names[at] = NULL;
		any = true;
	}
	if (any && fsync_dir(dfd) != 0) {
		r = coffer_err_sys(err, "cannot sync '%s'", dlabel);
		goto out;
	}
	r = 0;
out:
	strlist_free(names, nnames);
	return r;
}

int
snapshot_rewrite(struct keyset *ks, struct snapshot *s, struct coffer_err *err)
{
	char dlabel[96];
	uint32_t old = s->rev;
	int sfd = -1;
	int r;

	if (old >= SNAPSHOT_REV_MAX)
		return coffer_err_set(err, COFFER_EINVAL, "snapshot '%s' was "
		    "rewritten too often", s->name);
	snprintf(dlabel, sizeof(dlabel), "sets/%s/snapshots", ks->idhex);
	if ((r = rfs_open_dir(ks->dirfd, "snapshots", dlabel, &sfd,
	    err)) != 0)
		return r;
	/* New revision durable (file and folder) before the old goes. */
	s->rev = old + 1;
	if ((r = snap_store(ks, s, sfd, err)) != 0) {
		s->rev = old;
		goto out;
	}
	r = unlink_revs(ks->dirfd, "snapshots", sfd, dlabel, s->name, s->rev,
	    err);
out:
	close(sfd);
	return r;
}

int
snapshot_clear_stale(struct keyset *ks, const struct snapshot *s,
    struct coffer_err *err)
{
	char dlabel[96];
	int sfd = -1;
	int r;

	if (!s->readable || s->rev == 0 || strcmp(s->keyid, ks->idhex) != 0)
		return 0;
	snprintf(dlabel, sizeof(dlabel), "sets/%s/snapshots", ks->idhex);
	if ((r = rfs_open_dir(ks->dirfd, "snapshots", dlabel, &sfd,
	    err)) != 0)
		return r;
	r = unlink_revs(ks->dirfd, "snapshots", sfd, dlabel, s->name, s->rev,
	    err);
	close(sfd);
	return r;
}

/*
 * snap_load(ks, s, keep, keeplen, err): snapshot_load; with ${keep}
 * non-NULL, *${keep} gets the file's bytes as read and authenticated
 * (*${keeplen} long, the caller's to free), NULL on failure.
 */
static int
snap_load(struct keyset *ks, struct snapshot *s, uint8_t **keep,
    size_t *keeplen, struct coffer_err *err)
{
	char fname[SNAPSHOT_FNAME_MAX], label[128], path[96];
	uint8_t nameid[HASH_LEN], h[HASH_LEN];
	uint8_t *file = NULL, *plain = NULL;
	size_t flen, plen;
	struct rbuf rb;
	char *name = NULL;
	bool oom = false;
	uint32_t version;
	int r;

	snapshot_release(s);
	s->readable = false;
	snap_fname_rev(s->name, s->rev, fname);
	snprintf(label, sizeof(label), "sets/%s/snapshots/%s", ks->idhex,
	    fname);
	snprintf(path, sizeof(path), "snapshots/%s", fname);
	if ((r = rfs_read(ks->dirfd, path, label, SNAPSHOT_FILE_MAX, &file,
	    &flen, err)) != 0)
		goto out;
	hash_plain(nameid, sizeof(nameid), s->name, strlen(s->name));
	if ((r = obj_open(ks, snap_magic, OBJ_SNAPSHOT, nameid, sizeof(nameid),
	    file, flen, &plain, &plen, label, err)) != 0)
		goto out;
	rbuf_init(&rb, plain, plen);
	version = rbuf_u32(&rb);
	if (version != SNAPSHOT_BODY_V1 && version != SNAPSHOT_BODY_V2)
		goto bad;
	if ((name = get_str(&rb, SNAPSHOT_NAME_MAX, &oom)) == NULL ||
	    strcmp(name, s->name) != 0)
		goto bad;
	s->time_sec = (int64_t)rbuf_u64(&rb);
	s->time_nsec = rbuf_u32(&rb);
	s->hostname = get_str(&rb, 4096, &oom);
	s->username = get_str(&rb, 4096, &oom);
	s->npaths = rbuf_u32(&rb);
	if (!rbuf_ok(&rb) || s->npaths > rbuf_left(&rb) / 4) {
		s->npaths = 0;
		goto bad;
	}
	if ((s->paths = coffer_calloc(s->npaths, sizeof(char *))) == NULL) {
		s->npaths = 0;
		r = coffer_err_set(err, COFFER_ENOMEM, "loading snapshot");
		goto out;
	}
	for (size_t i = 0; i < s->npaths; i++)
		s->paths[i] = get_str(&rb, 65536, &oom);
	rbuf_copy(&rb, s->tree, BLOB_ID_LEN);
	s->size = rbuf_u64(&rb);
	s->nfiles = rbuf_u64(&rb);
	s->ndirs = rbuf_u64(&rb);
	s->added = rbuf_u64(&rb);
	if (version == SNAPSHOT_BODY_V1 && s->rev != 0)
		goto bad;	/* a revision file must say its revision */
	if (version == SNAPSHOT_BODY_V2) {
		size_t nt;

		/* The revision in the file name is the one sealed inside. */
		if (rbuf_u32(&rb) != s->rev)
			goto bad;
		nt = rbuf_u32(&rb);
		if (!rbuf_ok(&rb) || nt > SNAPSHOT_TAGS_MAX ||
		    nt > rbuf_left(&rb) / 4)
			goto bad;
		if (nt > 0 && (s->tags = coffer_calloc(nt,
		    sizeof(char *))) == NULL) {
			r = coffer_err_set(err, COFFER_ENOMEM, "loading "
			    "snapshot");
			goto out;
		}
		for (size_t i = 0; i < nt; i++) {
			s->tags[i] = get_str(&rb, SNAPSHOT_TAG_MAX, &oom);
			s->ntags++;
			if (s->tags[i] == NULL ||
			    !snapshot_tag_ok(s->tags[i]) || (i > 0 &&
			    strcmp(s->tags[i - 1], s->tags[i]) >= 0))
				goto bad;
		}
	}
	if (!rbuf_ok(&rb) || rbuf_left(&rb) != 0 || s->hostname == NULL ||
	    s->username == NULL)
		goto bad;
	for (size_t i = 0; i < s->npaths; i++)
		if (s->paths[i] == NULL)
			goto bad;
	hash_plain(h, sizeof(h), file, flen);
	hex_encode(s->idhex, h, sizeof(h));
	memcpy(s->keyid, ks->idhex, sizeof(s->keyid));
	s->readable = true;
	if (keep != NULL) {
		*keep = file;
		*keeplen = flen;
		file = NULL;
	}
	r = 0;
	goto out;
bad:
	if (oom)
		r = coffer_err_set(err, COFFER_ENOMEM, "loading snapshot");
	else
		r = coffer_err_set(err, COFFER_EFORMAT, "'%s' is damaged (bad "
		    "layout)", label);
out:
	/* A failed load leaves nothing in ${s} for the caller to free. */
	if (r != 0)
		snapshot_release(s);
	coffer_free(name);
	coffer_free(file);
	coffer_free(plain);
	return r;
}

int
snapshot_load(struct keyset *ks, struct snapshot *s, struct coffer_err *err)
{
	return snap_load(ks, s, NULL, NULL, err);
}

int
snapshot_copy(struct keyset *src, struct keyset *dst, struct snapshot *s,
    struct coffer_err *err)
{
	char fname[SNAPSHOT_FNAME_MAX], label[160], dlabel[64];
	uint8_t *file = NULL;
	size_t flen = 0;
	int sfd = -1;
	int r;

	if (strcmp(src->idhex, dst->idhex) != 0 ||
	    src->ab.repo != dst->ab.repo || (src->ab.repo &&
	    memcmp(src->ab.repoid, dst->ab.repoid, REPO_ID_LEN) != 0))
		return coffer_err_set(err, COFFER_EINVAL, "snapshot '%s': "
		    "copied only into the same key set of a copy of its "
		    "repository", s->name);
	/* The bytes written are the very bytes that authenticated. */
	if ((r = snap_load(src, s, &file, &flen, err)) != 0)
		return r;
	snap_fname_rev(s->name, s->rev, fname);
	snprintf(dlabel, sizeof(dlabel), "sets/%s/snapshots", dst->idhex);
	snprintf(label, sizeof(label), "%s/%s", dlabel, fname);
	if ((r = rfs_open_dir(dst->dirfd, "snapshots", dlabel, &sfd,
	    err)) != 0)
		goto out;
	/* Invariant 3: the caller flushed packs and index before this. */
	if ((r = atomicfile_write(sfd, fname, file, flen, 0600, true, label,
	    err)) != 0)
		goto out;
	/* Lower revisions on the destination go once this one is durable. */
	r = unlink_revs(dst->dirfd, "snapshots", sfd, dlabel, s->name, s->rev,
	    err);
out:
	if (sfd != -1)
		close(sfd);
	coffer_free(file);
	return r;
}

int
repo_remove_snapshot(struct repo *rp, const char *keyid, const char *name,
    struct coffer_err *err)
{
	char sub[64];
	int dfd;
	int r = 0;

	snprintf(sub, sizeof(sub), "sets/%s/snapshots", keyid);
	if ((r = rfs_open_dir(rp->dirfd, sub, sub, &dfd, err)) != 0)
		return r;
	/* Every revision, the lowest first: a crash leaves the newest. */
	r = unlink_revs(rp->dirfd, sub, dfd, sub, name, UINT32_MAX, err);
	close(dfd);
	return r;
}
