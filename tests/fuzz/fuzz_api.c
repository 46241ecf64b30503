/* SPDX-License-Identifier: ISC */
/*
 * fuzz_api: cofferd's request handling (server/api.c) with everything
 * behind it real: a SQLite store in memory and a forked key holder with a
 * fixed master key.  The harness registers an account, logs in, deposits
 * a key and makes a wrap key once; then each input is one request:
 *
 *   byte 0   bits 0-1 the method (GET, POST, DELETE, PUT); bit 2 send
 *            the session token; bit 3 Content-Type application/json,
 *            else bit 4 text/plain, else none; bit 5 "the body was over
 *            16 KiB" (as http.c reports it)
 *   then     the path up to the first newline ("?limit=" splits off the
 *            query; "{K}" and "{W}" are replaced by the deposited and the
 *            wrap key id)
 *   rest     the body
 *
 * Properties: the answer is one of the statuses docs/PROTOCOL.md lists
 * for client input (never 500 or 503: the store and the key holder are
 * healthy); 204 has no body; every other answer is a JSON object
 * (/metrics: text) and an error has string "error" and "message"; 405
 * has an Allow header and 429 a Retry-After.  Logging out, revoking
 * sessions and deleting the account are skipped, so the session lives
 * through the run; it stays fresh (docs/PROTOCOL.md §3.3) for as long.
 */
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "fuzz.h"

#include "api.h"
#include "keyholder.h"
#include "srv_crypto.h"
#include "srv_log.h"
#include "store.h"

#define PATH_CAP	512

static struct api api;
static char token[2 * SRV_TOKEN_LEN + 1];
static char kid[STORE_KEYID_LEN + 1];
static char wid[STORE_KEYID_LEN + 1];

static const char *const methods[] = { "GET", "POST", "DELETE", "PUT" };

/* One request from the harness itself; the answer's body is parsed. */
static json_t *
setup_call(const char *method, const char *path, const char *body,
    int want)
{
	struct api_req q;
	struct api_resp p;
	char auth[128];
	json_t *j;

	memset(&q, 0, sizeof(q));
	q.method = method;
	q.path = path;
	q.address = "192.0.2.1";
	q.content_type = "application/json";
	q.body = (const uint8_t *)body;
	q.body_len = body != NULL ? strlen(body) : 0;
	if (token[0] != '\0') {
		snprintf(auth, sizeof(auth), "Bearer %s", token);
		q.authorization = auth;
	}
	api_handle(&api, &q, &p);
	if (p.status != want || p.body == NULL)
		fuzz_fail(__FILE__, __LINE__, "setup", "%s %s: %d", method,
		    path, p.status);
	j = json_loadb(p.body, p.len, 0, NULL);
	api_resp_release(&p);
	if (j == NULL)
		fuzz_fail(__FILE__, __LINE__, "setup", "%s %s: not JSON",
		    method, path);
	return j;
}

static void
copy_str(json_t *j, const char *field, char *out, size_t cap)
{
	const char *s = json_string_value(json_object_get(j, field));

	if (s == NULL || strlen(s) >= cap)
		fuzz_fail(__FILE__, __LINE__, "setup", "no '%s'", field);
	memcpy(out, s, strlen(s) + 1);
	json_decref(j);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char mk[] = "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff\n";
	char path[PATH_MAX], err[STORE_ERRLEN];
	struct store *st = NULL;
	struct kh *kh = NULL;
	int fd;

	(void)argc;
	(void)argv;
	fuzz_setup();
	if (srv_crypto_init() != 0)
		fuzz_fail(__FILE__, __LINE__, "setup", "libsodium");
	srv_pwhash_fast(true);
	srv_log_quiet(true);
	fuzz_path(path, sizeof(path), "master.key");
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1 || write(fd, mk, sizeof(mk) - 1) !=
	    (ssize_t)(sizeof(mk) - 1) || close(fd) != 0)
		fuzz_fail(__FILE__, __LINE__, "setup", "%s", path);
	if (kh_start(path, (uid_t)-1, (gid_t)-1, &kh, err, sizeof(err)) != 0)
		fuzz_fail(__FILE__, __LINE__, "setup", "key holder: %s", err);
	if (store_open("sqlite::memory:", &st, err) != 0)
		fuzz_fail(__FILE__, __LINE__, "setup", "store: %s", err);
	if (api_init(&api, st, kh, 3600) != 0)
		fuzz_fail(__FILE__, __LINE__, "setup", "api_init");
	api.fresh_auth = 3600;
	json_decref(setup_call("POST", "/v1/accounts",
	    "{\"account\":\"fuzz\",\"password\":\"fuzz-password\"}", 201));
	copy_str(setup_call("POST", "/v1/sessions",
	    "{\"account\":\"fuzz\",\"password\":\"fuzz-password\"}", 201),
	    "token", token, sizeof(token));
	copy_str(setup_call("POST", "/v1/keys",
	    "{\"key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"}", 201),
	    "key_id", kid, sizeof(kid));
	copy_str(setup_call("POST", "/v1/wrapkeys", NULL, 201), "key_id",
	    wid, sizeof(wid));
	return 0;
}

/* Replace the first "{K}" and "{W}" in ${path} by key ids, if they fit. */
static void
fill_ids(char path[PATH_CAP])
{
	const char *id;
	size_t len, rest;
	char *at;

	for (int i = 0; i < 2; i++) {
		if ((at = strstr(path, i == 0 ? "{K}" : "{W}")) == NULL)
			continue;
		id = i == 0 ? kid : wid;
		len = strlen(path);
		rest = strlen(at + 3);
		if (len - 3 + STORE_KEYID_LEN >= PATH_CAP)
			continue;
		memmove(at + STORE_KEYID_LEN, at + 3, rest + 1);
		memcpy(at, id, STORE_KEYID_LEN);
	}
}

static bool
known_status(int s)
{
	static const int ok[] = { 200, 201, 204, 400, 401, 403, 404, 405,
	    409, 410, 413, 415, 422, 429 };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (ok[i] == s)
			return true;
	return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[PATH_CAP], auth[128], *qm;
	const uint8_t *nl;
	struct api_req q;
	struct api_resp p;
	size_t plen;
	json_t *j;

	if (size < 1)
		return 0;
	memset(&q, 0, sizeof(q));
	q.method = methods[data[0] & 3];
	if (data[0] & 4) {
		snprintf(auth, sizeof(auth), "Bearer %s", token);
		q.authorization = auth;
	}
	if (data[0] & 8)
		q.content_type = "application/json";
	else if (data[0] & 16)
		q.content_type = "text/plain";
	q.too_large = (data[0] & 32) != 0;
	q.address = "198.51.100.7";
	data++;
	size--;
	nl = memchr(data, '\n', size);
	plen = nl != NULL ? (size_t)(nl - data) : size;
	if (plen >= PATH_CAP)
		plen = PATH_CAP - 1;
	memcpy(path, data, plen);
	path[plen] = '\0';
	if (nl != NULL) {
		q.body = nl + 1;
		q.body_len = size - (size_t)(nl + 1 - data);
	}
	if (q.too_large) {
		q.body = NULL;
		q.body_len = 0;
	}
	fill_ids(path);
	if ((qm = strchr(path, '?')) != NULL) {
		*qm = '\0';
		if (strncmp(qm + 1, "limit=", 6) == 0)
			q.limit = qm + 7;
	}
	q.path = path;
	if ((strcmp(q.method, "DELETE") == 0 &&
	    (strcmp(path, "/v1/sessions") == 0 ||
	    strcmp(path, "/v1/account") == 0)) ||
	    (strcmp(q.method, "POST") == 0 &&
	    strcmp(path, "/v1/devices/revoke") == 0))
		return 0;

	api_handle(&api, &q, &p);
	FUZZ_CHECK(known_status(p.status), "%s %s: status %d", q.method,
	    path, p.status);
	if (p.status == 204) {
		FUZZ_CHECK(p.body == NULL, "204 with a body");
	} else if (strcmp(path, "/metrics") == 0 && p.status == 200) {
		FUZZ_CHECK(p.body != NULL && p.len > 0, "empty metrics");
	} else {
		FUZZ_CHECK(p.body != NULL, "%d without a body", p.status);
		j = json_loadb(p.body, p.len, 0, NULL);
		FUZZ_CHECK(json_is_object(j), "%d: not a JSON object",
		    p.status);
		if (p.status >= 400)
			FUZZ_CHECK(json_is_string(json_object_get(j,
			    "error")) && json_is_string(json_object_get(j,
			    "message")), "%d: no error/message", p.status);
		json_decref(j);
	}
	FUZZ_CHECK(p.status != 405 || p.allow[0] != '\0', "405 without Allow");
	FUZZ_CHECK(p.status != 429 || p.retry_after > 0,
	    "429 without Retry-After");
	api_resp_release(&p);
	return 0;
}
