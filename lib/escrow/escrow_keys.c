/* SPDX-License-Identifier: ISC */
/* escrow_keys: deposit, release, destroy, list; the audit log (§5, §7). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escrow_internal.h"
#include "../crypto/crypto.h"

#define KEY_MIN		16	/* PROTOCOL.md §5 */
#define KEY_MAX		64
#define LABEL_MAX	128

static int
check_keyid(const char *key_id, struct coffer_err *err)
{
	if (!escrow_valid_keyid(key_id))
		return coffer_err_set(err, COFFER_EINVAL, "'%s' is not an "
		    "escrow key id (%d hex digits)", key_id != NULL ? key_id :
		    "", ESCROW_KEYID_LEN);
	return 0;
}

/* is_hex(s, n): exactly ${n} lowercase hex digits. */
static bool
is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return i == n;
}

int
escrow_put_binding(struct wbuf *b, const char *repo_id, const char *set_id,
    struct coffer_err *err)
{
	if (repo_id == NULL && set_id == NULL)
		return 0;
	if (repo_id == NULL || set_id == NULL ||
	    !is_hex(repo_id, ESCROW_REPOID_LEN) ||
	    !is_hex(set_id, ESCROW_SETID_LEN))
		return coffer_err_set(err, COFFER_EINVAL, "a repository id is "
		    "%d hex digits and a key set id %d", ESCROW_REPOID_LEN,
		    ESCROW_SETID_LEN);
	wbuf_put(b, "\"repo_id\":\"", 11);
	wbuf_put(b, repo_id, ESCROW_REPOID_LEN);
	wbuf_put(b, "\",\"keyset_id\":\"", 15);
	wbuf_put(b, set_id, ESCROW_SETID_LEN);
	wbuf_u8(b, '"');
	return 0;
}

int
escrow_deposit(const struct escrow_login *lg, const uint8_t *key, size_t len,
    const char *label, const char *repo_id, const char *set_id,
    char key_id[ESCROW_KEYID_LEN + 1], struct coffer_err *err)
{
	struct escrow_what what = { lg->server, lg->account, NULL, false };
	char b64[2 * KEY_MAX + 8];
	struct wbuf b;
	json_t *doc = NULL;
	const char *id;
	int r;

	key_id[0] = '\0';
	if (len < KEY_MIN || len > KEY_MAX)
		return coffer_err_set(err, COFFER_EINVAL, "a deposited key is "
		    "%d to %d bytes, not %zu", KEY_MIN, KEY_MAX, len);
	if (label != NULL && strlen(label) > LABEL_MAX)
		return coffer_err_set(err, COFFER_EINVAL, "key label longer "
		    "than %d bytes", LABEL_MAX);
	/* The key goes into wiped buffers only, never into jansson's. */
	wbuf_init(&b, ESCROW_REQ_MAX);
	if (b64_encode(b64, sizeof(b64), key, len) != 0) {
		r = coffer_err_set(err, COFFER_EINVAL, "key too long");
		goto out;
	}
	wbuf_put(&b, "{\"key\":\"", 8);
	wbuf_put(&b, b64, strlen(b64));
	wbuf_u8(&b, '"');
	if (label != NULL) {
		wbuf_put(&b, ",\"label\":", 9);
		escrow_json_escape(&b, label, strlen(label));
	}
	if (repo_id != NULL) {
		wbuf_u8(&b, ',');
		if ((r = escrow_put_binding(&b, repo_id, set_id, err)) != 0)
			goto out;
	}
	wbuf_put(&b, "}", 1);
	if (b.oom) {
		r = coffer_err_set(err, COFFER_ENOMEM, "request");
		goto out;
	}
	if ((r = escrow_call(lg, "POST", "/v1/keys", (const char *)b.p, b.len,
	    201, &doc, &what, err)) != 0)
		goto out;
	if ((id = escrow_json_str(doc, "key_id")) == NULL ||
	    !escrow_valid_keyid(id)) {
		r = coffer_err_set(err, COFFER_ENET, "the deposit answer of %s "
		    "has no valid key id: is this a cofferd server?",
		    lg->server);
		goto out;
	}
	memcpy(key_id, id, ESCROW_KEYID_LEN + 1);
	r = 0;
out:
	secret_wipe(b64, sizeof(b64));
	wbuf_release(&b);
	json_decref(doc);
	return r;
}

/*
 * escrow_key_answer(doc, key_id, server, &key, err): the 32-byte key of
 * an answer {"key_id": ${key_id}, "key": base64}, into guarded memory.
 */
static int
key_answer(const json_t *doc, const char *key_id, const char *server,
    uint8_t **key, struct coffer_err *err)
{
	const char *id = escrow_json_str(doc, "key_id");
	const char *k = escrow_json_str(doc, "key");
	uint8_t *p;
	size_t n = 0;

	*key = NULL;
	if (id == NULL || strcmp(id, key_id) != 0 || k == NULL)
		return coffer_err_set(err, COFFER_EFORMAT, "the answer of %s "
		    "for key %s names another key or holds none", server,
		    key_id);
	if ((p = secret_alloc(KEY_MAX)) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "key memory");
	if (b64_decode(p, KEY_MAX, k, strlen(k), &n) != 0 ||
	    n != ESCROW_DK_LEN) {
		secret_free(p);
		return coffer_err_set(err, COFFER_EFORMAT, "key %s from %s is "
		    "not a %d-byte data key", key_id, server, ESCROW_DK_LEN);
	}
	*key = p;
	return 0;
}

int
escrow_release(const struct escrow_login *lg, const char *key_id,
    uint8_t **key, struct coffer_err *err)
{
	struct escrow_what what = { lg->server, lg->account, key_id, false };
	char path[64];
	json_t *doc = NULL;
	int r;

	*key = NULL;
	if ((r = check_keyid(key_id, err)) != 0)
		return r;
	snprintf(path, sizeof(path), "/v1/keys/%s/release", key_id);
	if ((r = escrow_call(lg, "POST", path, "{}", 2, 200, &doc, &what,
	    err)) != 0)
		return r;
	r = key_answer(doc, key_id, lg->server, key, err);
	json_decref(doc);
	return r;
}

int
escrow_destroy(const struct escrow_login *lg, const char *key_id,
    struct coffer_err *err)
{
	struct escrow_what what = { lg->server, lg->account, key_id, false };
	char path[64];
	int r;

	if ((r = check_keyid(key_id, err)) != 0)
		return r;
	snprintf(path, sizeof(path), "/v1/keys/%s", key_id);
	return escrow_call(lg, "DELETE", path, NULL, 0, 204, NULL, &what, err);
}

int
escrow_destroy_many(const struct escrow_login *lg, const char *const *ids,
    size_t n, const char *device, bool dry_run, char **json,
    struct coffer_err *err)
{
	struct escrow_what what = { lg->server, lg->account, NULL, false };
	struct wbuf b;
	json_t *doc = NULL;
	char *s = NULL;
	int r;

	*json = NULL;
	wbuf_init(&b, ESCROW_REQ_MAX);
	if (ids != NULL) {
		if (n == 0) {
			r = coffer_err_set(err, COFFER_EINVAL, "no key id "
			    "given");
			goto out;
		}
		wbuf_put(&b, "{\"key_ids\":[", 12);
		for (size_t i = 0; i < n; i++) {
			if ((r = check_keyid(ids[i], err)) != 0)
				goto out;
			wbuf_put(&b, i > 0 ? ",\"" : "\"", i > 0 ? 2 : 1);
			wbuf_put(&b, ids[i], ESCROW_KEYID_LEN);
			wbuf_u8(&b, '"');
		}
		wbuf_u8(&b, ']');
	} else {
		if (device == NULL || *device == '\0') {
			r = coffer_err_set(err, COFFER_EINVAL, "no device "
			    "named");
			goto out;
		}
		wbuf_put(&b, "{\"device\":", 10);
		escrow_json_escape(&b, device, strlen(device));
	}
	if (dry_run)
		wbuf_put(&b, ",\"dry_run\":true", 15);
	wbuf_u8(&b, '}');
	if (b.oom) {
		r = coffer_err_set(err, COFFER_EINVAL, "too many key ids for "
		    "one request");
		goto out;
	}
	if ((r = escrow_call(lg, "POST", "/v1/keys/destroy", (const char *)b.p,
	    b.len, 200, &doc, &what, err)) != 0)
		goto out;
	if (!json_is_array(json_object_get(doc, "destroyed"))) {
		r = coffer_err_set(err, COFFER_ENET, "the answer of %s has no "
		    "'destroyed' list: is this a cofferd server?", lg->server);
		goto out;
	}
	if ((s = json_dumps(doc, JSON_COMPACT)) == NULL ||
	    (*json = coffer_strdup(s)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "answer");
		goto out;
	}
	r = 0;
out:
	free(s);
	json_decref(doc);
	wbuf_release(&b);
	return r;
}

int
escrow_get_list(const struct escrow_login *lg, const char *path,
    const char *member, char **json, struct coffer_err *err)
{
	struct escrow_what what = { lg->server, lg->account, NULL, false };
	json_t *doc = NULL;
	char *s = NULL;
	int r;

	*json = NULL;
	if ((r = escrow_call(lg, "GET", path, NULL, 0, 200, &doc, &what,
	    err)) != 0)
		return r;
	if (!json_is_array(json_object_get(doc, member))) {
		r = coffer_err_set(err, COFFER_ENET, "the answer of %s has no "
		    "'%s' list: is this a cofferd server?", lg->server, member);
		goto out;
	}
	if ((s = json_dumps(doc, JSON_COMPACT)) == NULL ||
	    (*json = coffer_strdup(s)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "answer");
		goto out;
	}
	r = 0;
out:
	free(s);
	json_decref(doc);
	return r;
}

int
escrow_list_keys(const struct escrow_login *lg, char **json,
    struct coffer_err *err)
{
	return escrow_get_list(lg, "/v1/keys", "keys", json, err);
}

int
escrow_audit(const struct escrow_login *lg, int limit, char **json,
    struct coffer_err *err)
{
	char path[64];

	if (limit < 0 || limit > 1000)
		return coffer_err_set(err, COFFER_EINVAL, "the audit limit is "
		    "1 to 1000, not %d", limit);
	if (limit == 0)
		snprintf(path, sizeof(path), "/v1/audit");
	else
		snprintf(path, sizeof(path), "/v1/audit?limit=%d", limit);
	return escrow_get_list(lg, path, "events", json, err);
}

int
escrow_find_label(const struct escrow_login *lg, const char *label,
    char ids[][ESCROW_KEYID_LEN + 1], size_t cap, size_t *n,
    struct coffer_err *err)
{
	struct escrow_what what = { lg->server, lg->account, NULL, false };
	json_t *doc = NULL, *arr, *k;
	size_t i;
	int r;

	*n = 0;
	if ((r = escrow_call(lg, "GET", "/v1/keys", NULL, 0, 200, &doc, &what,
	    err)) != 0)
		return r;
	if (!json_is_array(arr = json_object_get(doc, "keys"))) {
		r = coffer_err_set(err, COFFER_ENET, "the answer of %s has no "
		    "'keys' list: is this a cofferd server?", lg->server);
		goto out;
	}
	json_array_foreach(arr, i, k) {
		const char *id = escrow_json_str(k, "key_id");
		const char *kind = escrow_json_str(k, "kind");
		const char *lbl = escrow_json_str(k, "label");

		if (id == NULL || kind == NULL || lbl == NULL ||
		    strcmp(kind, "key") != 0 || strcmp(lbl, label) != 0 ||
		    !json_is_null(json_object_get(k, "destroyed")) ||
		    strlen(id) != ESCROW_KEYID_LEN)
			continue;
		if (*n == cap) {
			r = coffer_err_set(err, COFFER_EFORMAT, "more than %zu "
			    "keys at %s are labelled '%s'", cap, lg->server,
			    label);
			goto out;
		}
		memcpy(ids[(*n)++], id, ESCROW_KEYID_LEN + 1);
	}
	r = 0;
out:
	json_decref(doc);
	return r;
}
