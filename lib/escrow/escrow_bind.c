/* SPDX-License-Identifier: ISC */
/*
 * escrow_bind: the binds of pooled wrap keys not yet told to the server
 * (docs/PROTOCOL.md §6 "bind").  A wrap key is taken from the pool
 * offline; once its key set exists, the server is told which repository
 * and key set it serves, so that the owner can find (and destroy) the
 * keys of a lost device without its card.  Offline, the bind waits in
 * the keystore file "wrapbind" (not secret: ids only), one line
 * "<key id> <repo id> <set id> <server>", and goes with the next escrow
 * call that tries (a backup under escrow custody, login, pool).
 */
#include <stdio.h>
#include <string.h>

#include "escrow_internal.h"
#include "../crypto/crypto.h"
#include "../keystore/keystore.h"

#define BIND_FILE	"wrapbind"
#define BIND_MAX	256	/* lines kept; older ones dropped */

struct bind {
	char	key_id[ESCROW_KEYID_LEN + 1];
	char	repo_id[ESCROW_REPOID_LEN + 1];
	char	set_id[ESCROW_SETID_LEN + 1];
	char	server[ESCROW_URL_MAX + 1];
};

/* binds_load(kst, v, &n, err): the pending binds (at most BIND_MAX). */
static int
binds_load(struct keystore *kst, struct bind *v, size_t *n,
    struct coffer_err *err)
{
	uint8_t *p = NULL;
	char *line, *save = NULL;
	size_t len = 0;
	int r;

	*n = 0;
	if ((r = keystore_get_blob(kst, BIND_FILE, &p, &len, err)) != 0)
		return r == COFFER_ENOTFOUND ? 0 : r;
	for (line = strtok_r((char *)p, "\n", &save); line != NULL &&
	    *n < BIND_MAX; line = strtok_r(NULL, "\n", &save)) {
		struct bind *b = &v[*n];

		if (sscanf(line, "%32s %32s %16s %255s", b->key_id, b->repo_id,
		    b->set_id, b->server) != 4 ||
		    !escrow_valid_keyid(b->key_id) ||
		    strlen(b->repo_id) != ESCROW_REPOID_LEN ||
		    strlen(b->set_id) != ESCROW_SETID_LEN)
			continue;	/* a damaged line is dropped */
		(*n)++;
	}
	secret_free(p);
	return 0;
}

static int
binds_save(struct keystore *kst, const struct bind *v, size_t n,
    struct coffer_err *err)
{
	struct wbuf b;
	char line[ESCROW_URL_MAX + 128];
	int r;

	if (n == 0)
		return keystore_del_blob(kst, BIND_FILE, err);
	wbuf_init(&b, KEYSTORE_BLOB_MAX);
	for (size_t i = 0; i < n; i++) {
		int k = snprintf(line, sizeof(line), "%s %s %s %s\n",
		    v[i].key_id, v[i].repo_id, v[i].set_id, v[i].server);

		wbuf_put(&b, line, (size_t)k);
	}
	if (b.oom)
		r = coffer_err_set(err, COFFER_ENOMEM, "wrap key binds");
	else
		r = keystore_put_blob(kst, BIND_FILE, b.p, b.len, false, err);
	wbuf_release(&b);
	return r;
}

int
escrow_bind_later(struct keystore *kst, const char *server,
    const char *key_id, const char *repo_id, const char *set_id,
    struct coffer_err *err)
{
	struct bind *v;
	size_t n = 0;
	int fd = -1;
	int r;

	if (strlen(server) > ESCROW_URL_MAX || strchr(server, ' ') != NULL)
		return coffer_err_set(err, COFFER_EINVAL, "server URL");
	if ((v = coffer_calloc(BIND_MAX + 1, sizeof(*v))) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "wrap key binds");
	if ((r = keystore_flock(kst, &fd, err)) != 0)
		goto out;
	if ((r = binds_load(kst, v, &n, err)) != 0)
		goto out;
	if (n == BIND_MAX) {
		memmove(&v[0], &v[1], (n - 1) * sizeof(v[0]));
		n--;
	}
	snprintf(v[n].key_id, sizeof(v[n].key_id), "%s", key_id);
	snprintf(v[n].repo_id, sizeof(v[n].repo_id), "%s", repo_id);
	snprintf(v[n].set_id, sizeof(v[n].set_id), "%s", set_id);
	snprintf(v[n].server, sizeof(v[n].server), "%s", server);
	r = binds_save(kst, v, n + 1, err);
out:
	keystore_funlock(fd);
	coffer_free(v);
	return r;
}

int
escrow_bind_pending(struct keystore *kst, const struct escrow_login *lg,
    struct coffer_err *err)
{
	struct bind *v;
	size_t n = 0, j = 0;
	int fd = -1;
	int r, rnet = 0;

	if ((v = coffer_calloc(BIND_MAX, sizeof(*v))) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "wrap key binds");
	if ((r = keystore_flock(kst, &fd, err)) != 0)
		goto out;
	if ((r = binds_load(kst, v, &n, err)) != 0 || n == 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		int rb = -1;

		if (rnet == 0 && strcmp(v[i].server, lg->server) == 0) {
			rb = escrow_wrapkey_bind(lg, v[i].key_id, v[i].repo_id,
			    v[i].set_id, err);
			/*
			 * Done, or the server's last word on it (unknown,
			 * destroyed, bound to another set): dropped.  Any
			 * other failure (network, login, a local problem)
			 * keeps this one and the rest for later.
			 */
			if (rb == 0 || rb == COFFER_ENOTFOUND ||
			    rb == COFFER_EDESTROYED || rb == COFFER_EEXIST)
				continue;
			rnet = rb;
		}
		v[j++] = v[i];
	}
	if (j != n)
		r = binds_save(kst, v, j, err);
	if (r == 0)
		r = rnet;
out:
	keystore_funlock(fd);
	coffer_free(v);
	return r;
}
