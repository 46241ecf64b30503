/* SPDX-License-Identifier: ISC */
/*
 * tree_blob: a folder's tree in and out of a key set, whole or split into
 * parts (docs/FORMAT.md §11.4).
 */
#include <string.h>

#include "tree.h"

int
tree_load(struct keyset *ks, const uint8_t id[BLOB_ID_LEN], struct wbuf *buf,
    struct tree *t, struct coffer_err *err)
{
	uint8_t (*ids)[BLOB_ID_LEN] = NULL;
	size_t n = 0;
	int r;

	memset(t, 0, sizeof(*t));
	if ((r = keyset_get_blob(ks, OBJ_TREE, id, buf, err)) != 0)
		return r;
	if (!tree_is_split(buf->p, buf->len))
		return tree_decode(buf->p, buf->len, t, err);
	if ((r = tree_split_decode(buf->p, buf->len, &ids, &n, err)) != 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct tree part;

		/* A part is a plain tree: tree_decode refuses a split one. */
		if ((r = keyset_get_blob(ks, OBJ_TREE, ids[i], buf, err)) != 0)
			break;
		r = tree_decode(buf->p, buf->len, &part, err);
		if (r == 0)
			r = tree_join(t, &part, err);
		tree_release(&part);
		if (r != 0) {
			coffer_err_prefix(err, "part %zu of %zu of a split "
			    "folder", i + 1, n);
			break;
		}
	}
	t->parts = ids;
	t->nparts = n;
	return r;
}

int
tree_store(struct keyset *ks, const struct tree *t, struct wbuf *buf,
    uint8_t id[BLOB_ID_LEN], struct coffer_err *err)
{
	uint8_t (*ids)[BLOB_ID_LEN] = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	if (tree_encoded_len(t) <= TREE_SPLIT_BYTES) {
		wbuf_reset(buf);
		tree_encode(t, buf);
		if (buf->oom)
			return coffer_err_set(err, COFFER_ENOMEM, "directory "
			    "too large to encode");
		keyset_blob_id(ks, buf->p, buf->len, id);
		return keyset_put_blob(ks, OBJ_TREE, id, buf->p, buf->len, err);
	}
	for (size_t from = 0, to; from < t->n; from = to) {
		to = tree_part_end(t, from, TREE_SPLIT_BYTES);
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			uint8_t (*ni)[BLOB_ID_LEN];

			if ((ni = coffer_realloc(ids, ncap * sizeof(*ni))) ==
			    NULL) {
				r = coffer_err_set(err, COFFER_ENOMEM, "trees");
				goto out;
			}
			ids = ni;
			cap = ncap;
		}
		wbuf_reset(buf);
		tree_encode_range(t, from, to, buf);
		if (buf->oom) {
			r = coffer_err_set(err, COFFER_ENOMEM, "directory "
			    "entry too large to encode");
			goto out;
		}
		keyset_blob_id(ks, buf->p, buf->len, ids[n]);
		if ((r = keyset_put_blob(ks, OBJ_TREE, ids[n], buf->p, buf->len,
		    err)) != 0)
			goto out;
		n++;
	}
	wbuf_reset(buf);
	tree_split_encode((const uint8_t (*)[BLOB_ID_LEN])ids, n, buf);
	if (buf->oom) {
		r = coffer_err_set(err, COFFER_ENOMEM, "directory too large "
		    "to encode");
		goto out;
	}
	keyset_blob_id(ks, buf->p, buf->len, id);
	r = keyset_put_blob(ks, OBJ_TREE, id, buf->p, buf->len, err);
out:
	coffer_free(ids);
	return r;
}
