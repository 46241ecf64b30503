/* SPDX-License-Identifier: ISC */
/*
 * escrow_http: the only file of coffer that includes <curl/curl.h>.  One
 * request, one answer: certificate and host name always verified,
 * http/https only, no redirects, 10 s to connect, 60 s in all, answers
 * capped at 1 MiB.  Connections are kept alive and reused across
 * requests of one process (a curl share of the connection cache).
 *
 * The server URL is parsed by curl's own URL parser, the one that then
 * connects, so the host checked for "loopback only over http://" is the
 * host curl talks to.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "coffer/coffer.h"
#include "escrow_internal.h"
#include "../crypto/crypto.h"

static pthread_once_t http_once = PTHREAD_ONCE_INIT;
static CURLSH *http_share;
static bool http_ready;
static pthread_mutex_t http_locks[CURL_LOCK_DATA_LAST];

static void
share_lock(CURL *c, curl_lock_data data, curl_lock_access access, void *u)
{
	(void)c;
	(void)access;
	(void)u;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		(void)pthread_mutex_lock(&http_locks[data]);
}

static void
share_unlock(CURL *c, curl_lock_data data, void *u)
{
	(void)c;
	(void)u;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		(void)pthread_mutex_unlock(&http_locks[data]);
}

static void
http_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return;
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		(void)pthread_mutex_init(&http_locks[i], NULL);
	/* Without a share every request opens its own connection: fine. */
	if ((http_share = curl_share_init()) != NULL &&
	    (curl_share_setopt(http_share, CURLSHOPT_LOCKFUNC,
	    share_lock) != CURLSHE_OK ||
	    curl_share_setopt(http_share, CURLSHOPT_UNLOCKFUNC,
	    share_unlock) != CURLSHE_OK ||
	    curl_share_setopt(http_share, CURLSHOPT_SHARE,
	    CURL_LOCK_DATA_CONNECT) != CURLSHE_OK)) {
		curl_share_cleanup(http_share);
		http_share = NULL;
	}
	http_ready = true;
}

/* ---- the URL ---- */

static bool
is_loopback(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;
	char buf[64];
	size_t n = strlen(host);

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (n >= 2 && n < sizeof(buf) && host[0] == '[' && host[n - 1] == ']') {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		host = buf;
	}
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return memcmp(&a6, &in6addr_loopback, sizeof(a6)) == 0;
	return false;
}

int
escrow_check_url(const char *url, struct coffer_err *err)
{
	char *scheme = NULL, *host = NULL, *user = NULL, *query = NULL;
	char *frag = NULL;
	CURLU *u = NULL;
	CURLUcode uc;
	int r;

	if (url == NULL || *url == '\0')
		return coffer_err_set(err, COFFER_EINVAL, "no escrow server "
		    "given (use --server URL, COFFER_SERVER or the config "
		    "setting 'server')");
	if (strlen(url) > ESCROW_URL_MAX)
		return coffer_err_set(err, COFFER_EINVAL, "the escrow server "
		    "URL is longer than %d bytes", ESCROW_URL_MAX);
	for (const char *p = url; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return coffer_err_set(err, COFFER_EINVAL, "the escrow "
			    "server URL holds a blank or a control character");
	}
	if ((u = curl_url()) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "URL");
	if ((uc = curl_url_set(u, CURLUPART_URL, url, 0)) != CURLUE_OK) {
		r = coffer_err_set(err, COFFER_EINVAL, "'%s' is not a URL "
		    "(%s): write https://HOST[:PORT]", url,
		    curl_url_strerror(uc));
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		r = coffer_err_set(err, COFFER_EINVAL, "'%s' is not a URL: "
		    "write https://HOST[:PORT]", url);
		goto out;
	}
	if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0) {
		r = coffer_err_set(err, COFFER_EINVAL, "'%s': the escrow "
		    "server is reached over https:// (not %s://)", url, scheme);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK) {
		r = coffer_err_set(err, COFFER_EINVAL, "'%s': the escrow "
		    "server URL must not hold a user name, a '?' query or a "
		    "'#' fragment: write https://HOST[:PORT]", url);
		goto out;
	}
	if (strcmp(scheme, "http") == 0 && !is_loopback(host)) {
		r = coffer_err_set(err, COFFER_EINVAL, "refusing '%s': plain "
		    "http:// would send passwords and keys unencrypted; use "
		    "https:// (http:// is allowed only to 127.0.0.0/8, [::1] "
		    "and localhost, for tests)", url);
		goto out;
	}
	r = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(query);
	curl_free(frag);
	curl_url_cleanup(u);
	return r;
}

/* ---- one request ---- */

struct http_state {
	struct escrow_resp	*resp;
	bool			 too_big;
};

static size_t
on_body(char *p, size_t size, size_t n, void *cookie)
{
	struct http_state *st = cookie;
	struct wbuf *b = &st->resp->body;

	n *= size;	/* size is always 1 */
	if (n > ESCROW_RESP_MAX - b->len) {
		st->too_big = true;
		return 0;	/* curl stops with CURLE_WRITE_ERROR */
	}
	wbuf_put(b, p, n);
	return b->oom ? 0 : n;
}

static size_t
on_header(char *p, size_t size, size_t n, void *cookie)
{
	static const char name[] = "retry-after:";
	struct http_state *st = cookie;
	char num[24];
	size_t len = size * n, i = sizeof(name) - 1, k = 0;
	uint64_t v;

	/* A new status line (after a 1xx) starts the headers again. */
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0)
		st->resp->retry_after = -1;
	if (len <= i || strncasecmp(p, name, i) != 0)
		return len;
	while (i < len && (p[i] == ' ' || p[i] == '\t'))
		i++;
	while (i < len && k + 1 < sizeof(num) && p[i] >= '0' && p[i] <= '9')
		num[k++] = p[i++];
	num[k] = '\0';
	if (k > 0 && parse_u64(num, &v) == 0 && v <= 86400 * 365)
		st->resp->retry_after = (long)v;
	return len;
}

void
escrow_resp_release(struct escrow_resp *resp)
{
	wbuf_release(&resp->body);
	resp->status = 0;
	resp->retry_after = -1;
}

static int
curl_err(CURLcode rc, const char *errbuf, const struct http_state *st,
    const char *server, const char *cacert, struct coffer_err *err)
{
	const char *why = *errbuf != '\0' ? errbuf : curl_easy_strerror(rc);

	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
		return coffer_err_set(err, COFFER_ENET, "cannot find the host "
		    "of %s (%s): check the server address and your network",
		    server, why);
	case CURLE_COULDNT_CONNECT:
		return coffer_err_set(err, COFFER_ENET, "cannot connect to %s "
		    "(%s): is cofferd running there? check the address and "
		    "your network", server, why);
	case CURLE_OPERATION_TIMEDOUT:
		return coffer_err_set(err, COFFER_ENET, "%s did not answer in "
		    "time (%s); try again later", server, why);
	case CURLE_PEER_FAILED_VERIFICATION:
		if (cacert != NULL && *cacert != '\0')
			return coffer_err_set(err, COFFER_ENET, "the "
			    "certificate of %s cannot be verified with the CA "
			    "certificate '%s' (%s): is it the CA that signed "
			    "the server's certificate, and does the server's "
			    "name match?", server, cacert, why);
		return coffer_err_set(err, COFFER_ENET, "the certificate of %s "
		    "cannot be verified with the system's CA certificates "
		    "(%s): if the server uses a private CA, give its "
		    "certificate with --cacert FILE or COFFER_CACERT", server,
		    why);
	case CURLE_SSL_CACERT_BADFILE:
		return coffer_err_set(err, COFFER_EINVAL, "cannot use the CA "
		    "certificate '%s' (%s): give a PEM file with --cacert FILE "
		    "or COFFER_CACERT", cacert != NULL && *cacert != '\0' ?
		    cacert : "(system)", why);
	case CURLE_SSL_CONNECT_ERROR:
		return coffer_err_set(err, COFFER_ENET, "TLS with %s failed "
		    "(%s): is it an https:// server?", server, why);
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		if (st->too_big || rc == CURLE_FILESIZE_EXCEEDED)
			return coffer_err_set(err, COFFER_ENET, "the answer of "
			    "%s is larger than 1 MiB; refusing it (is this a "
			    "coffer escrow server?)", server);
		if (st->resp->body.oom)
			return coffer_err_set(err, COFFER_ENOMEM, "the answer "
			    "of %s", server);
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return coffer_err_set(err, COFFER_EINVAL, "cannot use the "
		    "escrow server URL '%s' (%s)", server, why);
	case CURLE_OUT_OF_MEMORY:
		return coffer_err_set(err, COFFER_ENOMEM, "HTTP request");
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		return coffer_err_set(err, COFFER_ENET, "the connection to %s "
		    "broke (%s); try again", server, why);
	default:
		break;
	}
	return coffer_err_set(err, COFFER_ENET, "talking to %s failed (%s)",
	    server, why);
}

/* base_len(server): the length of ${server} without trailing '/'. */
static size_t
base_len(const char *server)
{
	size_t n = strlen(server);

	while (n > 0 && server[n - 1] == '/')
		n--;
	return n;
}

int
escrow_http(const char *server, const char *cacert, const char *method,
    const char *path, const char *token, const char *body, size_t len,
    struct escrow_resp *resp, struct coffer_err *err)
{
	char url[ESCROW_URL_MAX + 256];
	char errbuf[CURL_ERROR_SIZE];
	struct http_state st = { resp, false };
	struct curl_slist *hdrs = NULL, *h;
	char *auth = NULL;
	CURL *c = NULL;
	CURLcode rc;
	size_t n;
	int r;

	resp->status = 0;
	resp->retry_after = -1;
	wbuf_init(&resp->body, ESCROW_RESP_MAX + 1);
	errbuf[0] = '\0';
	if ((r = escrow_check_url(server, err)) != 0)
		return r;
	n = base_len(server);
	if (snprintf(url, sizeof(url), "%.*s%s", (int)n, server, path) >=
	    (int)sizeof(url))
		return coffer_err_set(err, COFFER_EINVAL, "URL too long");
	if (cacert != NULL && *cacert != '\0') {
		int fd;

		/* Say plainly what is wrong rather than curl's error 77. */
		if ((fd = open(cacert, O_RDONLY | O_CLOEXEC)) == -1)
			return coffer_err_set(err, COFFER_EINVAL, "cannot read "
			    "the CA certificate '%s' (given by --cacert, "
			    "COFFER_CACERT, the config or the saved login): %s",
			    cacert, strerror(errno));
		close(fd);
	}
	if (len > ESCROW_REQ_MAX)
		return coffer_err_set(err, COFFER_EINVAL, "request to %s too "
		    "large (%zu bytes)", server, len);
	(void)pthread_once(&http_once, http_init);
	if (!http_ready)
		return coffer_err_set(err, COFFER_ENET, "cannot start libcurl");
	if ((c = curl_easy_init()) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "HTTP request");
		goto out;
	}
	if (token != NULL) {
		static const char pfx[] = "Authorization: Bearer ";
		size_t tl = strlen(token);

		if ((auth = secret_alloc(sizeof(pfx) + tl)) == NULL) {
			r = coffer_err_set(err, COFFER_ENOMEM, "key memory");
			goto out;
		}
		memcpy(auth, pfx, sizeof(pfx) - 1);
		memcpy(auth + sizeof(pfx) - 1, token, tl + 1);
	}
	if ((h = curl_slist_append(hdrs, "Accept: application/json")) == NULL)
		goto oom;
	hdrs = h;
	/* No "Expect: 100-continue" round trip. */
	if ((h = curl_slist_append(hdrs, "Expect:")) == NULL)
		goto oom;
	hdrs = h;
	if (body != NULL) {
		if ((h = curl_slist_append(hdrs,
		    "Content-Type: application/json")) == NULL)
			goto oom;
		hdrs = h;
	}
	if (auth != NULL) {
		if ((h = curl_slist_append(hdrs, auth)) == NULL)
			goto oom;
		hdrs = h;
	}
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT,
	    (long)ESCROW_CONNECT_TIMEOUT) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT,
	    (long)ESCROW_TOTAL_TIMEOUT) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSLVERSION,
	    (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)ESCROW_RESP_MAX) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, &st) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HEADERDATA, &st) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT, "coffer/" COFFER_VERSION) !=
	    CURLE_OK) {
		r = coffer_err_set(err, COFFER_ENET, "cannot set up an HTTP "
		    "request (libcurl too old?)");
		goto out;
	}
	if (http_share != NULL)
		(void)curl_easy_setopt(c, CURLOPT_SHARE, http_share);
	if (cacert != NULL && *cacert != '\0' &&
	    curl_easy_setopt(c, CURLOPT_CAINFO, cacert) != CURLE_OK) {
		r = coffer_err_set(err, COFFER_ENOMEM, "HTTP request");
		goto out;
	}
	if (strcmp(method, "GET") == 0) {
		rc = curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(method, "POST") == 0) {
		/* POSTFIELDS is not copied: the body may be a secret. */
		if ((rc = curl_easy_setopt(c, CURLOPT_POST, 1L)) == CURLE_OK &&
		    (rc = curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE,
		    (long)(body != NULL ? len : 0))) == CURLE_OK)
			rc = curl_easy_setopt(c, CURLOPT_POSTFIELDS,
			    body != NULL ? body : "");
	} else {
		rc = curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	if (rc != CURLE_OK) {
		r = coffer_err_set(err, COFFER_ENOMEM, "HTTP request");
		goto out;
	}
	if ((rc = curl_easy_perform(c)) != CURLE_OK) {
		r = curl_err(rc, errbuf, &st, server, cacert, err);
		goto out;
	}
	if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status) !=
	    CURLE_OK) {
		r = coffer_err_set(err, COFFER_ENET, "no HTTP status from %s",
		    server);
		goto out;
	}
	/* A NUL after the body, not counted in its length. */
	wbuf_u8(&resp->body, 0);
	if (resp->body.oom) {
		r = coffer_err_set(err, COFFER_ENOMEM, "the answer of %s",
		    server);
		goto out;
	}
	resp->body.len--;
	r = 0;
	goto out;
oom:
	r = coffer_err_set(err, COFFER_ENOMEM, "HTTP request");
out:
	curl_slist_free_all(hdrs);
	secret_free(auth);
	if (c != NULL)
		curl_easy_cleanup(c);
	return r;
}
