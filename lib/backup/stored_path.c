/* SPDX-License-Identifier: ISC */
/*
 * stored_path: find an entry of a snapshot by its path, and read a path
 * the user typed, which may be raw bytes or the path as 'coffer ls'
 * prints it (docs/CLI.md, "Paths").
 */
#include <string.h>

#include "session.h"

long
stored_path_lookup(const struct tree *t, const char *name, size_t len)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct tree_entry *e = &t->e[mid];
		size_t n = e->namelen < len ? e->namelen : len;
		int c = memcmp(e->name, name, n);

		if (c == 0)
			c = e->namelen < len ? -1 : e->namelen > len;
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

int
stored_path_find(struct keyset *ks, const uint8_t root[BLOB_ID_LEN],
    const char *path, const char *snapname, struct tree *t,
    const struct tree_entry **out, struct coffer_err *err)
{
	uint8_t id[BLOB_ID_LEN];
	struct wbuf blob;
	const char *p = path;
	int r;

	wbuf_init(&blob, BLOB_MAX);
	memcpy(id, root, BLOB_ID_LEN);
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		const struct tree_entry *e;
		long i;

		tree_release(t);
		if ((r = tree_load(ks, id, &blob, t, err)) != 0) {
			coffer_err_prefix(err, "folder '%.*s' of snapshot '%s'",
			    p == path ? 1 : (int)(p - path - 1),
			    p == path ? "/" : path, snapname);
			goto out;
		}
		if ((i = stored_path_lookup(t, p, len)) < 0)
			break;
		e = &t->e[i];
		if (slash == NULL) {
			*out = e;
			r = 0;
			goto out;
		}
		if (e->type != NODE_DIR)
			break;
		memcpy(id, e->subtree, BLOB_ID_LEN);
		p = slash + 1;
	}
	r = coffer_err_set(err, COFFER_ENOTFOUND, "no '%s' in snapshot '%s' "
	    "(see 'coffer ls %s')", path, snapname, snapname);
out:
	wbuf_release(&blob);
	return r;
}

size_t
stored_path_print(char *out, size_t cap, const char *in)
{
	static const char hex[] = "0123456789abcdef";
	size_t j = 0;
	bool differs = false;

	for (; *in != '\0'; in++) {
		unsigned char ch = (unsigned char)*in;

		if (j + 5 > cap)
			return 0;
		if (ch == '\\') {
			out[j++] = '\\';
			out[j++] = '\\';
			differs = true;
		} else if (ch < 0x20 || ch == 0x7f) {
			out[j++] = '\\';
			out[j++] = 'x';
			out[j++] = hex[ch >> 4];
			out[j++] = hex[ch & 15];
			differs = true;
		} else {
			out[j++] = (char)ch;
		}
	}
	out[j] = '\0';
	return differs ? j : 0;
}

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;		/* ls writes lower case only */
}

int
stored_path_unescape(const char *in, char **out)
{
	size_t n = strlen(in), j = 0;
	char *u;

	*out = NULL;
	if (strchr(in, '\\') == NULL)
		return 0;
	if ((u = coffer_malloc(n + 1)) == NULL)
		return COFFER_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int hi, lo, v;

		if (in[i] != '\\') {
			u[j++] = in[i];
			continue;
		}
		if (in[i + 1] == '\\') {
			u[j++] = '\\';
			i++;
			continue;
		}
		/* Only what ls writes: \xNN for 0x01-0x1f and 0x7f. */
		if (in[i + 1] != 'x' || (hi = hexval(in[i + 2])) < 0 ||
		    (lo = hexval(in[i + 3])) < 0)
			goto no;
		v = hi * 16 + lo;
		if (v == 0 || (v >= 0x20 && v != 0x7f))
			goto no;
		u[j++] = (char)v;
		i += 3;
	}
	u[j] = '\0';
	*out = u;
	return 1;
no:
	coffer_free(u);
	return 0;
}

int
stored_path_resolve(const struct coffer_ctx *ctx, struct keyset *ks,
    const uint8_t root[BLOB_ID_LEN], const char *text, const char *snapname,
    char **out, struct coffer_err *err)
{
	struct tree t = { 0 };
	const struct tree_entry *e;
	struct coffer_err e1 = { 0 };
	char *raw = NULL, *u = NULL;
	size_t n;
	int r;

	*out = NULL;
	/* A stored path: no leading or trailing '/'. */
	while (*text == '/')
		text++;
	if ((raw = coffer_strdup(text)) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "path");
	n = strlen(raw);
	while (n > 0 && raw[n - 1] == '/')
		raw[--n] = '\0';
	if ((r = stored_path_unescape(raw, &u)) < 0) {
		coffer_free(raw);
		return coffer_err_set(err, COFFER_ENOMEM, "path");
	}
	if (r == 0 || stored_path_find(ks, root, u, snapname, &t, &e,
	    &e1) != 0) {
		/* Not an ls form, or it names nothing: the raw bytes. */
		tree_release(&t);
		coffer_free(u);
		if (e1.code == COFFER_ENOMEM) {
			coffer_free(raw);
			*err = e1;
			return COFFER_ENOMEM;
		}
		*out = raw;
		return 0;
	}
	tree_release(&t);
	/* Both readings name an entry: say which one is taken. */
	if (stored_path_find(ks, root, raw, snapname, &t, &e, &e1) == 0)
		session_warn(ctx, "'%s' is taken as 'coffer ls' shows it; "
		    "another entry has the typed bytes as its path: to take "
		    "that one, give '%s'", u, raw);
	tree_release(&t);
	coffer_free(raw);
	*out = u;
	return 0;
}
