/* SPDX-License-Identifier: ISC */
/*
 * srvstress: load, slow clients and hostile bytes against a running
 * cofferd, for tests/harness/server-stress.sh (issue 6).
 *
 *	srvstress -u URL -c CACERT COMMAND [OPTION...]
 *
 * A test fixture, not library code.  Every command prints its findings as
 * one last line "COMMAND: key=value ..." on stdout, the first problems on
 * stderr, and exits 0 when every check passed, 1 when one failed, 2 on a
 * usage or setup error.  Source addresses are given as a prefix NET of
 * three octets ("127.31.7"); the fixture binds to NET.1, NET.2, ...  (on
 * Linux every 127.x.y.z is the loopback), since cofferd limits
 * connections and failed logins per address.
 *
 * work -n CLIENTS -N NET -p PREFIX [-r ROUNDS | -d SECONDS] [-l SECONDS]
 *     [-F]
 *	CLIENTS threads, each with its own account PREFIX-<i> (registered
 *	unless it exists), its own connection (kept alive; -F: a new one,
 *	with a new TLS handshake, for every request) and source address
 *	NET.<1 + i % 250>.  Each logs in, waits for all others, then ROUNDS
 *	times (default 3), or until SECONDS have passed: deposits 32 random
 *	bytes, releases them (the same bytes must come back) and asks for
 *	its session.  Fails on any transport error, any status but the
 *	expected one, a wrong key, or a request slower than -l SECONDS
 *	(default 30).
 *
 * slow -m MODE -n CONNS -N NET [-a ADDRS] [-d SECONDS] [-i MS]
 *	Opens CONNS connections from ADDRS source addresses (default 10,
 *	round robin) and keeps each one slow until the server closes it or
 *	SECONDS (default 60) pass:
 *	  header  TLS, then a request line and headers, one byte every MS
 *	          milliseconds (default 1000), never the blank line
 *	  body    TLS, complete headers announcing a 16000-byte JSON body,
 *	          then the body one byte every MS milliseconds
 *	  stall   TLS, then half a request line and nothing more
 *	  tls     TCP, then a TLS record header announcing a 16 KiB
 *	          ClientHello, and one byte of it every MS milliseconds
 *	  idle    TCP, and nothing at all
 *	Reports opened (connected, and for TLS modes handshaken), refused,
 *	early (closed by the server within 1 s of opening: refused by a
 *	connection limit), closed (by the server later), open_at_end, and
 *	min_life/max_life: seconds from opening to the server's close over
 *	the "closed" ones.  Checks nothing: the caller does.
 *
 * flood -A VICTIMS -M ADDRS -P PER -j THREADS -p PREFIX -N NET -G NET
 *     -V NET [-g GOOD]
 *	The failed-login limits of docs/PROTOCOL.md §4 under a flood.
 *	Accounts PREFIX-v<i> (i < VICTIMS) are registered; attacker
 *	addresses are NET.1 ... NET.ADDRS.  Every (victim, address) pair
 *	tries PER wrong passwords, and every address PER logins to accounts
 *	that do not exist, all shuffled over THREADS threads, while GOOD
 *	clients (default 4; accounts PREFIX-g<i>, addresses on -G NET) log
 *	in, deposit and release until the flood is over.  Checks: no
 *	account and no address had more than 10 passwords checked (answer
 *	401); every other answer was 429 with a Retry-After of 1 ... 900
 *	seconds; each victim, with its right password from a fresh address
 *	(on -V NET), gets 429 exactly when 10 of its logins failed, else
 *	201; from each attacker address a good account's right password
 *	gets 429 exactly when 10 logins from there failed, else 201; every
 *	request of the good clients succeeded.
 *
 * deposit -t TOKEN -o FILE [-n THREADS] [-d SECONDS] -N NET
 *	THREADS (default 4) threads deposit random keys back to back; each
 *	201 is appended to FILE as "KEY_ID BASE64\n" before the next
 *	request.  A thread stops at its first transport error (the server
 *	was killed) or after SECONDS (default 30).  Fails if an answer was
 *	neither 201 nor a transport error.
 *
 * verify -t TOKEN -f FILE [-n THREADS] -N NET
 *	Releases every key of FILE and compares it with the deposited bytes.
 *
 * junk -N NET [-w MS]
 *	One connection per case of malformed, truncated or oversized input
 *	at the socket level (raw TCP for the TLS layer, raw bytes inside TLS
 *	for HTTP), each answer read for up to MS milliseconds (default
 *	1500).  After every case GET /healthz must answer 200.  Fails on a
 *	5xx answer (but 505 to an unknown HTTP version), on a case that
 *	should be answered and is not, and when /healthz does not answer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#define RESP_MAX	65536
#define MAX_THREADS	2000
#define MAX_CONNS	5000
#define KEY_BYTES	32
#define B64_MAX		64
#define PASSWORD	"stress-password-0123456789"
#define LOGIN_MAX	10	/* docs/PROTOCOL.md §4 */
#define MAX_REPORTS	10

static const char *url;
static const char *cacert;
static char host[64];
static int port;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static int reports;

/* ---- small things ------------------------------------------------------ */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* problem(fmt, ...): report one problem on stderr (the first few only). */
static void
problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
problem(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&report_lock);
	if (reports++ < MAX_REPORTS) {
		va_start(ap, fmt);
		fputs("srvstress: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	pthread_mutex_unlock(&report_lock);
}

static void
fill_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = getrandom(p, len, 0)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			perror("srvstress: getrandom");
			exit(2);
		}
		p += n;
		len -= (size_t)n;
	}
}

static void
b64_encode(char *out, const uint8_t *in, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;
	uint32_t v;

	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		*out++ = tab[v >> 18];
		*out++ = tab[(v >> 12) & 63];
		*out++ = tab[(v >> 6) & 63];
		*out++ = tab[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)in[i] << 16;
		*out++ = tab[v >> 18];
		*out++ = tab[(v >> 12) & 63];
		*out++ = '=';
		*out++ = '=';
	} else if (len - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		*out++ = tab[v >> 18];
		*out++ = tab[(v >> 12) & 63];
		*out++ = tab[(v >> 6) & 63];
		*out++ = '=';
	}
	*out = '\0';
}

static void
addr_of(char out[32], const char *net, int i)
{
	snprintf(out, 32, "%s.%d", net, i);
}

/* A number option: 0, or exits 2. */
static long
num(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "srvstress: '%s' is not a number from %ld to "
		    "%ld\n", s, min, max);
		exit(2);
	}
	return v;
}

/* ---- HTTP requests through libcurl ------------------------------------- */

struct client {
	CURL		*c;
	char		 src[32];
	bool		 fresh;		/* a new connection per request */
	char		 token[80];
	char		 buf[RESP_MAX];
	size_t		 len;
	char		 retry_after[16];
	char		 error[CURL_ERROR_SIZE];
	double		 secs;		/* of the last request */
};

static size_t
on_body(char *p, size_t sz, size_t n, void *cookie)
{
	struct client *k = cookie;
	size_t len = sz * n;

	if (len > sizeof(k->buf) - 1 - k->len)
		len = sizeof(k->buf) - 1 - k->len;
	memcpy(k->buf + k->len, p, len);
	k->len += len;
	k->buf[k->len] = '\0';
	return sz * n;
}

static size_t
on_header(char *p, size_t sz, size_t n, void *cookie)
{
	struct client *k = cookie;
	size_t len = sz * n, i;

	if (len > 13 && strncasecmp(p, "Retry-After:", 12) == 0) {
		p += 12;
		len -= 12;
		while (len > 0 && *p == ' ') {
			p++;
			len--;
		}
		for (i = 0; i < len && i < sizeof(k->retry_after) - 1 &&
		    p[i] >= '0' && p[i] <= '9'; i++)
			k->retry_after[i] = p[i];
		k->retry_after[i] = '\0';
	}
	return sz * n;
}

static int
client_init(struct client *k, const char *src, bool fresh)
{
	memset(k, 0, sizeof(*k));
	snprintf(k->src, sizeof(k->src), "%s", src);
	k->fresh = fresh;
	if ((k->c = curl_easy_init()) == NULL)
		return -1;
	return 0;
}

static void
client_release(struct client *k)
{
	if (k->c != NULL)
		curl_easy_cleanup(k->c);
	k->c = NULL;
}

/*
 * req(k, method, path, body): one request; the status, or -1 after a
 * transport error (k->error says which).  The answer is in k->buf.
 */
static long
req(struct client *k, const char *method, const char *path, const char *body)
{
	struct curl_slist *h = NULL;
	char full[512], auth[128];
	long status = -1;
	double t0;
	CURLcode rc;

	snprintf(full, sizeof(full), "%s%s", url, path);
	k->len = 0;
	k->buf[0] = '\0';
	k->retry_after[0] = '\0';
	k->error[0] = '\0';
	curl_easy_reset(k->c);
	curl_easy_setopt(k->c, CURLOPT_URL, full);
	curl_easy_setopt(k->c, CURLOPT_CAINFO, cacert);
	curl_easy_setopt(k->c, CURLOPT_INTERFACE, k->src);
	curl_easy_setopt(k->c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(k->c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(k->c, CURLOPT_WRITEDATA, k);
	curl_easy_setopt(k->c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(k->c, CURLOPT_HEADERDATA, k);
	curl_easy_setopt(k->c, CURLOPT_ERRORBUFFER, k->error);
	curl_easy_setopt(k->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(k->c, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(k->c, CURLOPT_TIMEOUT, 120L);
	if (k->fresh) {
		curl_easy_setopt(k->c, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(k->c, CURLOPT_FORBID_REUSE, 1L);
	}
	if (body != NULL) {
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(k->c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(k->c, CURLOPT_POSTFIELDSIZE,
		    (long)strlen(body));
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(k->c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(k->c, CURLOPT_POSTFIELDSIZE, 0L);
	}
	if (k->token[0] != '\0') {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
		    k->token);
		h = curl_slist_append(h, auth);
	}
	/* No "Expect: 100-continue" pause for bodies. */
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(k->c, CURLOPT_HTTPHEADER, h);
	t0 = now_s();
	rc = curl_easy_perform(k->c);
	k->secs = now_s() - t0;
	if (rc == CURLE_OK)
		curl_easy_getinfo(k->c, CURLINFO_RESPONSE_CODE, &status);
	else if (k->error[0] == '\0')
		snprintf(k->error, sizeof(k->error), "%s",
		    curl_easy_strerror(rc));
	curl_slist_free_all(h);
	return status;
}

/* The string member ${name} of the JSON answer in k->buf, into ${out}. */
static int
json_str(const struct client *k, const char *name, char *out, size_t outlen)
{
	json_t *j, *v;
	int r = -1;

	if ((j = json_loads(k->buf, 0, NULL)) == NULL)
		return -1;
	if ((v = json_object_get(j, name)) != NULL && json_is_string(v) &&
	    strlen(json_string_value(v)) < outlen) {
		snprintf(out, outlen, "%s", json_string_value(v));
		r = 0;
	}
	json_decref(j);
	return r;
}

static void
creds(char *out, size_t len, const char *account, const char *pw)
{
	snprintf(out, len, "{\"account\":\"%s\",\"password\":\"%s\"}",
	    account, pw);
}

/* register + log in; 0 and k->token set, or -1 (reported). */
static int
account_login(struct client *k, const char *account)
{
	char body[256];
	long st;

	creds(body, sizeof(body), account, PASSWORD);
	k->token[0] = '\0';
	st = req(k, "POST", "/v1/accounts", body);
	if (st != 201 && st != 409) {
		problem("register %s from %s: %ld %s%s", account, k->src, st,
		    k->error, k->buf);
		return -1;
	}
	st = req(k, "POST", "/v1/sessions", body);
	if (st != 201 || json_str(k, "token", k->token,
	    sizeof(k->token)) != 0) {
		problem("login %s from %s: %ld %s%s", account, k->src, st,
		    k->error, k->buf);
		k->token[0] = '\0';
		return -1;
	}
	return 0;
}

/*
 * POST ${path} (a release) with ${k}'s session; if the server asks for
 * fresh proof (protocol version 2: a session older than --fresh-auth),
 * give the password and ask once more.  The status, as req().
 */
static long
req_fresh(struct client *k, const char *path)
{
	char body[256];
	long st;

	st = req(k, "POST", path, NULL);
	if (st != 403 || strstr(k->buf, "\"fresh_auth_required\"") == NULL)
		return st;
	snprintf(body, sizeof(body), "{\"password\":\"%s\"}", PASSWORD);
	st = req(k, "POST", "/v1/sessions/current/fresh", body);
	if (st != 200) {
		problem("fresh proof from %s: %ld %s%s", k->src, st, k->error,
		    k->buf);
		return st;
	}
	return req(k, "POST", path, NULL);
}

/*
 * One deposit + release + session round; 0, or -1 (reported).  Counts
 * requests, 5xx answers and the slowest request.
 */
struct tally {
	long		 requests;
	long		 failed;
	long		 http5xx;
	long		 transport;
	double		 max_secs;
};

static void
tally_add(struct tally *t, const struct client *k, long st)
{
	t->requests++;
	if (st >= 500)
		t->http5xx++;
	if (st < 0)
		t->transport++;
	if (k->secs > t->max_secs)
		t->max_secs = k->secs;
}

static int
round_trip(struct client *k, struct tally *t, double max_secs)
{
	uint8_t raw[KEY_BYTES];
	char b64[B64_MAX], got[B64_MAX], kid[40], body[160], path[96];
	long st;

	fill_random(raw, sizeof(raw));
	b64_encode(b64, raw, sizeof(raw));
	snprintf(body, sizeof(body), "{\"key\":\"%s\",\"label\":\"stress\"}",
	    b64);
	st = req(k, "POST", "/v1/keys", body);
	tally_add(t, k, st);
	if (st != 201 || json_str(k, "key_id", kid, sizeof(kid)) != 0) {
		problem("deposit from %s: %ld %s%s", k->src, st, k->error,
		    k->buf);
		return -1;
	}
	if (k->secs > max_secs)
		problem("deposit from %s took %.1f s", k->src, k->secs);
	snprintf(path, sizeof(path), "/v1/keys/%s/release", kid);
	st = req_fresh(k, path);
	tally_add(t, k, st);
	if (st != 200 || json_str(k, "key", got, sizeof(got)) != 0) {
		problem("release from %s: %ld %s%s", k->src, st, k->error,
		    k->buf);
		return -1;
	}
	if (strcmp(got, b64) != 0) {
		problem("release of %s gave other bytes", kid);
		return -1;
	}
	if (k->secs > max_secs)
		problem("release from %s took %.1f s", k->src, k->secs);
	st = req(k, "GET", "/v1/sessions/current", NULL);
	tally_add(t, k, st);
	if (st != 200) {
		problem("session from %s: %ld %s%s", k->src, st, k->error,
		    k->buf);
		return -1;
	}
	return t->max_secs > max_secs ? -1 : 0;
}

/* ---- work -------------------------------------------------------------- */

struct worker {
	pthread_t	 th;
	int		 i;
	struct client	 k;
	struct tally	 t;
	bool		 ok;
};

static struct {
	int		 clients;
	long		 rounds;
	double		 seconds;
	double		 max_secs;
	const char	*net;
	const char	*prefix;
	bool		 fresh;
	pthread_barrier_t barrier;
} W;

static void *
work_main(void *arg)
{
	struct worker *w = arg;
	char src[32], account[128];
	double end;
	long r;
	bool ok;

	addr_of(src, W.net, 1 + w->i % 250);
	snprintf(account, sizeof(account), "%s-%d", W.prefix, w->i);
	ok = client_init(&w->k, src, W.fresh) == 0 &&
	    account_login(&w->k, account) == 0;
	pthread_barrier_wait(&W.barrier);
	if (!ok) {
		w->t.failed++;
		return NULL;
	}
	end = now_s() + W.seconds;
	for (r = 0; W.seconds > 0 ? (r == 0 || now_s() < end) :
	    r < W.rounds; r++) {
		if (round_trip(&w->k, &w->t, W.max_secs) != 0) {
			w->t.failed++;
			break;
		}
	}
	w->ok = w->t.failed == 0;
	return NULL;
}

static int
cmd_work(int argc, char **argv)
{
	static struct worker ws[MAX_THREADS];
	struct tally all = { 0 };
	pthread_attr_t attr;
	int ch, i, bad = 0;
	double t0;

	W.clients = 10;
	W.rounds = 3;
	W.max_secs = 30;
	while ((ch = getopt(argc, argv, "n:r:d:l:N:p:F")) != -1) {
		switch (ch) {
		case 'n': W.clients = (int)num(optarg, 1, MAX_THREADS); break;
		case 'r': W.rounds = num(optarg, 1, 1000000); break;
		case 'd': W.seconds = (double)num(optarg, 1, 86400); break;
		case 'l': W.max_secs = (double)num(optarg, 1, 3600); break;
		case 'N': W.net = optarg; break;
		case 'p': W.prefix = optarg; break;
		case 'F': W.fresh = true; break;
		default: return 2;
		}
	}
	if (W.net == NULL || W.prefix == NULL) {
		fprintf(stderr, "srvstress work: -N NET and -p PREFIX\n");
		return 2;
	}
	pthread_barrier_init(&W.barrier, NULL, (unsigned)W.clients);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	t0 = now_s();
	for (i = 0; i < W.clients; i++) {
		ws[i].i = i;
		if (pthread_create(&ws[i].th, &attr, work_main, &ws[i]) != 0) {
			fprintf(stderr, "srvstress: cannot start thread %d\n",
			    i);
			exit(2);
		}
	}
	for (i = 0; i < W.clients; i++) {
		pthread_join(ws[i].th, NULL);
		all.requests += ws[i].t.requests;
		all.failed += ws[i].t.failed;
		all.http5xx += ws[i].t.http5xx;
		all.transport += ws[i].t.transport;
		if (ws[i].t.max_secs > all.max_secs)
			all.max_secs = ws[i].t.max_secs;
		if (!ws[i].ok)
			bad++;
		client_release(&ws[i].k);
	}
	printf("work: clients=%d requests=%ld failed_clients=%d http5xx=%ld "
	    "transport_errors=%ld max_request_s=%.2f seconds=%.1f\n",
	    W.clients, all.requests, bad, all.http5xx, all.transport,
	    all.max_secs, now_s() - t0);
	return bad == 0 && all.http5xx == 0 && all.transport == 0 ? 0 : 1;
}

/* ---- raw connections: TCP, or TLS through libcurl ---------------------- */

struct raw {
	int		 fd;		/* TCP mode */
	CURL		*c;		/* TLS mode (CONNECT_ONLY) */
	double		 opened;
	double		 closed;	/* 0 while open */
	size_t		 sent;
};

static int
tcp_connect(const char *src)
{
	struct sockaddr_in sa, me;
	int fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&me, 0, sizeof(me));
	me.sin_family = AF_INET;
	if (inet_pton(AF_INET, src, &me.sin_addr) != 1 ||
	    bind(fd, (struct sockaddr *)&me, sizeof(me)) == -1)
		goto fail;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

/* A TLS connection (handshake done) through libcurl, or NULL. */
static CURL *
tls_connect(const char *src)
{
	CURL *c;

	if ((c = curl_easy_init()) == NULL)
		return NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, cacert);
	curl_easy_setopt(c, CURLOPT_INTERFACE, src);
	curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
	if (curl_easy_perform(c) != CURLE_OK) {
		curl_easy_cleanup(c);
		return NULL;
	}
	return c;
}

static int
raw_socket(const struct raw *r)
{
	curl_socket_t s = CURL_SOCKET_BAD;

	if (r->c == NULL)
		return r->fd;
	if (curl_easy_getinfo(r->c, CURLINFO_ACTIVESOCKET, &s) != CURLE_OK)
		return -1;
	return (int)s;
}

/*
 * raw_send(r, p, len, wait_ms): send ${len} bytes, waiting up to
 * ${wait_ms} for room.  0, or -1 when the connection is gone.
 */
static int
raw_send(struct raw *r, const void *p, size_t len, int wait_ms)
{
	const uint8_t *b = p;
	struct pollfd pfd;
	double end = now_s() + wait_ms / 1000.0;
	size_t n;
	ssize_t w;
	CURLcode rc;

	while (len > 0) {
		if (r->c != NULL) {
			n = 0;
			rc = curl_easy_send(r->c, b, len, &n);
			if (rc == CURLE_AGAIN)
				n = 0;
			else if (rc != CURLE_OK)
				return -1;
		} else {
			w = send(r->fd, b, len, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w == -1 && errno != EAGAIN && errno != EINTR)
				return -1;
			n = w > 0 ? (size_t)w : 0;
		}
		b += n;
		len -= n;
		r->sent += n;
		if (len == 0)
			break;
		if (now_s() > end)
			return -1;
		pfd.fd = raw_socket(r);
		pfd.events = POLLOUT;
		(void)poll(&pfd, 1, 50);
	}
	return 0;
}

/*
 * raw_recv(r, buf, cap, &len, wait_ms): read what the server sends until
 * it closes, or nothing came for ${wait_ms} (for 200 ms once something
 * came).  1 if it closed, else 0.
 */
static int
raw_recv(struct raw *r, char *buf, size_t cap, size_t *len, int wait_ms)
{
	struct pollfd pfd;
	char scratch[4096], *to;
	double last = now_s();
	size_t n, room;
	ssize_t got;
	bool keep;
	CURLcode rc;

	for (;;) {
		/* Once ${buf} is full, read on into scratch and drop it. */
		keep = *len + 1 < cap;
		to = keep ? buf + *len : scratch;
		room = keep ? cap - 1 - *len : sizeof(scratch);
		if (r->c != NULL) {
			n = 0;
			rc = curl_easy_recv(r->c, to, room, &n);
			if (rc == CURLE_OK && n == 0)
				return 1;
			if (rc != CURLE_OK && rc != CURLE_AGAIN)
				return 1;
			got = rc == CURLE_OK ? (ssize_t)n : -1;
		} else {
			got = recv(r->fd, to, room, MSG_DONTWAIT);
			if (got == 0)
				return 1;
			if (got == -1 && errno != EAGAIN && errno != EINTR)
				return 1;
		}
		if (got > 0) {
			if (keep) {
				*len += (size_t)got;
				buf[*len] = '\0';
			}
			last = now_s();
			if (wait_ms > 200)
				wait_ms = 200;
			continue;
		}
		if ((now_s() - last) * 1000 >= wait_ms)
			return 0;
		pfd.fd = raw_socket(r);
		pfd.events = POLLIN;
		(void)poll(&pfd, 1, 20);
	}
}

static void
raw_close(struct raw *r, bool rst)
{
	struct linger lg = { 1, 0 };

	if (r->c != NULL) {
		if (rst && raw_socket(r) != -1)
			(void)setsockopt(raw_socket(r), SOL_SOCKET, SO_LINGER,
			    &lg, sizeof(lg));
		curl_easy_cleanup(r->c);
		r->c = NULL;
	} else if (r->fd != -1) {
		if (rst)
			(void)setsockopt(r->fd, SOL_SOCKET, SO_LINGER, &lg,
			    sizeof(lg));
		close(r->fd);
	}
	r->fd = -1;
}

/* Has the server closed ${r}?  Reads (and drops) anything it sent. */
static bool
raw_gone(struct raw *r)
{
	char buf[1024];
	size_t len = 0;

	return raw_recv(r, buf, sizeof(buf), &len, 0) == 1;
}

/* ---- slow -------------------------------------------------------------- */

static const char slow_header[] =
    "POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    "Content-Type: application/json\r\nX-Slow: ";
static const char slow_body[] =
    "POST /v1/accounts HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    "Content-Type: application/json\r\nContent-Length: 16000\r\n\r\n";

static int
cmd_slow(int argc, char **argv)
{
	static struct raw rs[MAX_CONNS];
	const char *mode = NULL, *net = NULL;
	char src[32], rec[5] = { 0x16, 0x03, 0x01, 0x40, 0x00 };
	int ch, i, n = 10, addrs = 10, every_ms = 1000;
	int opened = 0, refused = 0, early = 0, closed = 0, open_end;
	double seconds = 60, t_open, next, minl = 0, maxl = 0, life;
	bool tls;

	while ((ch = getopt(argc, argv, "m:n:N:a:d:i:")) != -1) {
		switch (ch) {
		case 'm': mode = optarg; break;
		case 'n': n = (int)num(optarg, 1, MAX_CONNS); break;
		case 'N': net = optarg; break;
		case 'a': addrs = (int)num(optarg, 1, 250); break;
		case 'd': seconds = (double)num(optarg, 1, 86400); break;
		case 'i': every_ms = (int)num(optarg, 10, 60000); break;
		default: return 2;
		}
	}
	if (mode == NULL || net == NULL || (strcmp(mode, "header") != 0 &&
	    strcmp(mode, "body") != 0 && strcmp(mode, "stall") != 0 &&
	    strcmp(mode, "tls") != 0 && strcmp(mode, "idle") != 0)) {
		fprintf(stderr, "srvstress slow: -m header|body|stall|tls|idle "
		    "-N NET\n");
		return 2;
	}
	tls = strcmp(mode, "tls") != 0 && strcmp(mode, "idle") != 0;

	for (i = 0; i < n; i++) {
		struct raw *r = &rs[i];

		r->fd = -1;
		addr_of(src, net, 1 + i % addrs);
		if (tls) {
			if ((r->c = tls_connect(src)) == NULL) {
				refused++;
				r->closed = -1;
				continue;
			}
		} else if ((r->fd = tcp_connect(src)) == -1) {
			refused++;
			r->closed = -1;
			continue;
		}
		r->opened = now_s();
		opened++;
		/* The part sent at once. */
		if (strcmp(mode, "body") == 0)
			(void)raw_send(r, slow_body, strlen(slow_body), 2000);
		else if (strcmp(mode, "stall") == 0)
			(void)raw_send(r, "POST /v1/ses", 12, 2000);
		else if (strcmp(mode, "tls") == 0)
			(void)raw_send(r, rec, sizeof(rec), 2000);
	}
	t_open = now_s();
	next = t_open;
	while (now_s() - t_open < seconds) {
		int live = 0;

		for (i = 0; i < n; i++) {
			struct raw *r = &rs[i];

			if (r->closed != 0)
				continue;
			if (raw_gone(r)) {
				r->closed = now_s();
				continue;
			}
			live++;
		}
		if (live == 0)
			break;
		if (now_s() >= next) {
			for (i = 0; i < n; i++) {
				struct raw *r = &rs[i];
				uint8_t b;

				if (r->closed != 0)
					continue;
				if (strcmp(mode, "header") == 0)
					b = r->sent < sizeof(slow_header) - 1 ?
					    (uint8_t)slow_header[r->sent] :
					    (uint8_t)('a' + r->sent % 26);
				else if (strcmp(mode, "body") == 0)
					b = ' ';
				else if (strcmp(mode, "tls") == 0)
					fill_random(&b, 1);
				else
					continue;
				if (raw_send(r, &b, 1, 0) != 0)
					r->closed = now_s();
			}
			next += every_ms / 1000.0;
		}
		usleep(50 * 1000);
	}
	open_end = 0;
	for (i = 0; i < n; i++) {
		struct raw *r = &rs[i];

		if (r->closed < 0)
			continue;
		if (r->closed == 0) {
			open_end++;
		} else {
			life = r->closed - r->opened;
			if (life < 1.0) {
				early++;
			} else {
				if (closed == 0 || life < minl)
					minl = life;
				if (life > maxl)
					maxl = life;
				closed++;
			}
		}
		raw_close(r, false);
	}
	printf("slow: mode=%s conns=%d opened=%d refused=%d early=%d "
	    "closed=%d open_at_end=%d min_life=%.1f max_life=%.1f\n", mode, n,
	    opened, refused, early, closed, open_end, minl, maxl);
	return opened > 0 ? 0 : 1;
}

/* ---- flood ------------------------------------------------------------- */

struct attempt {
	int		 victim;	/* -1: an account that does not exist */
	int		 addr;
	int		 seq;
};

static struct {
	int		 victims, addrs, per, threads, good;
	const char	*prefix, *net, *goodnet, *freshnet;
	struct attempt	*plan;
	size_t		 nplan;
	size_t		 next;		/* under lock */
	pthread_mutex_t	 lock;
	int		*acc401, *addr401, *acc429;
	long		 n401, n429, other, bad_retry;
	atomic_int	 done;
} F;

static void *
flood_main(void *arg)
{
	struct client k;
	char src[32], account[128], body[256], pw[64];
	struct attempt a;
	long st, ra;
	size_t j;

	(void)arg;
	if (client_init(&k, "127.0.0.1", false) != 0)
		return NULL;
	for (;;) {
		pthread_mutex_lock(&F.lock);
		j = F.next++;
		pthread_mutex_unlock(&F.lock);
		if (j >= F.nplan)
			break;
		a = F.plan[j];
		addr_of(src, F.net, 1 + a.addr);
		snprintf(k.src, sizeof(k.src), "%s", src);
		if (a.victim >= 0)
			snprintf(account, sizeof(account), "%s-v%d", F.prefix,
			    a.victim);
		else
			snprintf(account, sizeof(account), "%s-ghost%d-%d",
			    F.prefix, a.addr, a.seq);
		snprintf(pw, sizeof(pw), "wrong-password-%d", a.seq);
		creds(body, sizeof(body), account, pw);
		st = req(&k, "POST", "/v1/sessions", body);
		pthread_mutex_lock(&F.lock);
		if (st == 401) {
			F.n401++;
			F.addr401[a.addr]++;
			if (a.victim >= 0)
				F.acc401[a.victim]++;
		} else if (st == 429) {
			F.n429++;
			if (a.victim >= 0)
				F.acc429[a.victim]++;
			ra = k.retry_after[0] != '\0' ?
			    strtol(k.retry_after, NULL, 10) : 0;
			if (ra < 1 || ra > 900)
				F.bad_retry++;
		} else {
			F.other++;
			problem("flood login %s from %s: %ld %s%s", account,
			    src, st, k.error, k.buf);
		}
		pthread_mutex_unlock(&F.lock);
	}
	client_release(&k);
	return NULL;
}

static void *
flood_good_main(void *arg)
{
	struct worker *w = arg;
	char src[32], account[128];

	addr_of(src, F.goodnet, 1 + w->i);
	snprintf(account, sizeof(account), "%s-g%d", F.prefix, w->i);
	if (client_init(&w->k, src, false) != 0 ||
	    account_login(&w->k, account) != 0) {
		w->t.failed++;
		return NULL;
	}
	do {
		if (round_trip(&w->k, &w->t, 60) != 0) {
			w->t.failed++;
			break;
		}
	} while (!atomic_load(&F.done));
	w->ok = w->t.failed == 0;
	return NULL;
}

static int
cmd_flood(int argc, char **argv)
{
	static struct worker goods[64];
	pthread_t th[MAX_THREADS];
	struct client k;
	char src[32], account[128], body[256];
	int ch, i, s, p, fails = 0, good_bad = 0, acc_over = 0, addr_over = 0;
	int max_acc = 0, max_addr = 0;
	size_t j, m;
	long st;
	double t0;

	F.victims = 10;
	F.addrs = 10;
	F.per = 2;
	F.threads = 8;
	F.good = 4;
	while ((ch = getopt(argc, argv, "A:M:P:j:p:N:G:V:g:")) != -1) {
		switch (ch) {
		case 'A': F.victims = (int)num(optarg, 1, 240); break;
		case 'M': F.addrs = (int)num(optarg, 1, 250); break;
		case 'P': F.per = (int)num(optarg, 1, 1000); break;
		case 'j': F.threads = (int)num(optarg, 1, MAX_THREADS); break;
		case 'p': F.prefix = optarg; break;
		case 'N': F.net = optarg; break;
		case 'G': F.goodnet = optarg; break;
		case 'V': F.freshnet = optarg; break;
		case 'g': F.good = (int)num(optarg, 0, 64); break;
		default: return 2;
		}
	}
	if (F.prefix == NULL || F.net == NULL || F.goodnet == NULL ||
	    F.freshnet == NULL) {
		fprintf(stderr, "srvstress flood: -p PREFIX -N NET -G NET "
		    "-V NET\n");
		return 2;
	}
	pthread_mutex_init(&F.lock, NULL);
	F.acc401 = calloc((size_t)F.victims, sizeof(int));
	F.acc429 = calloc((size_t)F.victims, sizeof(int));
	F.addr401 = calloc((size_t)F.addrs, sizeof(int));
	F.nplan = (size_t)F.per * (size_t)F.addrs * (size_t)(F.victims + 1);
	F.plan = calloc(F.nplan, sizeof(*F.plan));
	if (F.acc401 == NULL || F.acc429 == NULL || F.addr401 == NULL ||
	    F.plan == NULL)
		return 2;
	m = 0;
	for (p = 0; p < F.per; p++) {
		for (s = 0; s < F.addrs; s++) {
			for (i = -1; i < F.victims; i++) {
				F.plan[m] = (struct attempt){ i, s, (int)m };
				m++;
			}
		}
	}
	/* Shuffle, so accounts and addresses interleave. */
	for (j = F.nplan - 1; j > 0; j--) {
		uint32_t rnd;
		struct attempt tmp;

		fill_random(&rnd, sizeof(rnd));
		m = rnd % (j + 1);
		tmp = F.plan[j];
		F.plan[j] = F.plan[m];
		F.plan[m] = tmp;
	}

	/* The victims exist (registered from the fresh net's last address). */
	if (client_init(&k, "127.0.0.1", false) != 0)
		return 2;
	addr_of(k.src, F.freshnet, 250);
	for (i = 0; i < F.victims; i++) {
		snprintf(account, sizeof(account), "%s-v%d", F.prefix, i);
		creds(body, sizeof(body), account, PASSWORD);
		st = req(&k, "POST", "/v1/accounts", body);
		if (st != 201 && st != 409) {
			problem("register %s: %ld %s%s", account, st, k.error,
			    k.buf);
			return 1;
		}
	}

	t0 = now_s();
	for (i = 0; i < F.good; i++) {
		goods[i].i = i;
		pthread_create(&goods[i].th, NULL, flood_good_main, &goods[i]);
	}
	for (i = 0; i < F.threads; i++)
		pthread_create(&th[i], NULL, flood_main, NULL);
	for (i = 0; i < F.threads; i++)
		pthread_join(th[i], NULL);
	atomic_store(&F.done, 1);
	for (i = 0; i < F.good; i++) {
		pthread_join(goods[i].th, NULL);
		if (!goods[i].ok)
			good_bad++;
		client_release(&goods[i].k);
	}

	/* The limits held. */
	for (i = 0; i < F.victims; i++) {
		if (F.acc401[i] > max_acc)
			max_acc = F.acc401[i];
		if (F.acc401[i] > LOGIN_MAX) {
			acc_over++;
			problem("account %s-v%d: %d wrong passwords checked",
			    F.prefix, i, F.acc401[i]);
		}
	}
	for (s = 0; s < F.addrs; s++) {
		if (F.addr401[s] > max_addr)
			max_addr = F.addr401[s];
		if (F.addr401[s] > LOGIN_MAX) {
			addr_over++;
			problem("address %s.%d: %d wrong passwords checked",
			    F.net, 1 + s, F.addr401[s]);
		}
	}
	/* Each victim, right password, fresh address. */
	for (i = 0; i < F.victims; i++) {
		long want = F.acc401[i] >= LOGIN_MAX ? 429 : 201;

		addr_of(k.src, F.freshnet, 1 + i);
		snprintf(account, sizeof(account), "%s-v%d", F.prefix, i);
		creds(body, sizeof(body), account, PASSWORD);
		k.token[0] = '\0';
		st = req(&k, "POST", "/v1/sessions", body);
		if (st != want) {
			fails++;
			problem("victim %s (%d failures) from a fresh "
			    "address: %ld, want %ld", account, F.acc401[i], st,
			    want);
		}
	}
	/* Each attacker address, a good account's right password. */
	snprintf(account, sizeof(account), "%s-g0", F.prefix);
	creds(body, sizeof(body), account, PASSWORD);
	for (s = 0; s < F.addrs; s++) {
		long want = F.addr401[s] >= LOGIN_MAX ? 429 : 201;

		addr_of(src, F.net, 1 + s);
		snprintf(k.src, sizeof(k.src), "%s", src);
		st = req(&k, "POST", "/v1/sessions", body);
		if (st != want) {
			fails++;
			problem("good account from attacker address %s (%d "
			    "failures): %ld, want %ld", src, F.addr401[s], st,
			    want);
		}
	}
	client_release(&k);
	printf("flood: attempts=%zu answered_401=%ld answered_429=%ld "
	    "other=%ld bad_retry_after=%ld max_checked_per_account=%d "
	    "max_checked_per_address=%d accounts_over=%d addresses_over=%d "
	    "wrong_after=%d good_clients=%d good_failed=%d seconds=%.1f\n",
	    F.nplan, F.n401, F.n429, F.other, F.bad_retry, max_acc, max_addr,
	    acc_over, addr_over, fails, F.good, good_bad, now_s() - t0);
	return F.other == 0 && F.bad_retry == 0 && acc_over == 0 &&
	    addr_over == 0 && fails == 0 && good_bad == 0 ? 0 : 1;
}

/* ---- deposit / verify (SIGKILL rounds) --------------------------------- */

static struct {
	const char	*token, *file, *net;
	int		 threads;
	double		 seconds;
	FILE		*out;
	pthread_mutex_t	 lock;
	long		 acked, cut, other;
	char		**ids, **keys;
	size_t		 nkeys, next;
	long		 ok, missing, wrong;
} D;

static void *
deposit_main(void *arg)
{
	struct client k;
	uint8_t raw[KEY_BYTES];
	char b64[B64_MAX], kid[40], body[160], src[32];
	double end = now_s() + D.seconds;
	long st;

	addr_of(src, D.net, 1 + (int)(intptr_t)arg);
	if (client_init(&k, src, false) != 0)
		return NULL;
	snprintf(k.token, sizeof(k.token), "%s", D.token);
	while (now_s() < end) {
		fill_random(raw, sizeof(raw));
		b64_encode(b64, raw, sizeof(raw));
		snprintf(body, sizeof(body), "{\"key\":\"%s\"}", b64);
		st = req(&k, "POST", "/v1/keys", body);
		pthread_mutex_lock(&D.lock);
		if (st == 201 && json_str(&k, "key_id", kid,
		    sizeof(kid)) == 0) {
			/* Written before the next request: never lost. */
			fprintf(D.out, "%s %s\n", kid, b64);
			fflush(D.out);
			D.acked++;
		} else if (st < 0) {
			D.cut++;
		} else {
			D.other++;
			problem("deposit: %ld %s", st, k.buf);
		}
		pthread_mutex_unlock(&D.lock);
		if (st < 0)
			break;
	}
	client_release(&k);
	return NULL;
}

static void *
verify_main(void *arg)
{
	struct client k;
	char got[B64_MAX], path[96], src[32];
	size_t j;
	long st;

	addr_of(src, D.net, 1 + (int)(intptr_t)arg);
	if (client_init(&k, src, false) != 0)
		return NULL;
	snprintf(k.token, sizeof(k.token), "%s", D.token);
	for (;;) {
		pthread_mutex_lock(&D.lock);
		j = D.next++;
		pthread_mutex_unlock(&D.lock);
		if (j >= D.nkeys)
			break;
		snprintf(path, sizeof(path), "/v1/keys/%s/release", D.ids[j]);
		st = req_fresh(&k, path);
		pthread_mutex_lock(&D.lock);
		if (st == 200 && json_str(&k, "key", got, sizeof(got)) == 0 &&
		    strcmp(got, D.keys[j]) == 0) {
			D.ok++;
		} else if (st == 200) {
			D.wrong++;
			problem("key %s released with other bytes", D.ids[j]);
		} else {
			D.missing++;
			problem("key %s acknowledged but not released: %ld "
			    "%s%s", D.ids[j], st, k.error, k.buf);
		}
		pthread_mutex_unlock(&D.lock);
	}
	client_release(&k);
	return NULL;
}

static int
cmd_deposit(int argc, char **argv, bool verify)
{
	pthread_t th[MAX_THREADS];
	char line[256], id[64], key[B64_MAX + 8];
	FILE *f;
	int ch, i;

	D.threads = 4;
	D.seconds = 30;
	while ((ch = getopt(argc, argv, "t:o:f:n:d:N:")) != -1) {
		switch (ch) {
		case 't': D.token = optarg; break;
		case 'o': case 'f': D.file = optarg; break;
		case 'n': D.threads = (int)num(optarg, 1, 250); break;
		case 'd': D.seconds = (double)num(optarg, 1, 86400); break;
		case 'N': D.net = optarg; break;
		default: return 2;
		}
	}
	if (D.token == NULL || D.file == NULL || D.net == NULL) {
		fprintf(stderr, "srvstress deposit|verify: -t TOKEN -o|-f FILE "
		    "-N NET\n");
		return 2;
	}
	pthread_mutex_init(&D.lock, NULL);
	if (!verify) {
		if ((D.out = fopen(D.file, "a")) == NULL) {
			perror(D.file);
			return 2;
		}
		for (i = 0; i < D.threads; i++)
			pthread_create(&th[i], NULL, deposit_main,
			    (void *)(intptr_t)i);
		for (i = 0; i < D.threads; i++)
			pthread_join(th[i], NULL);
		fclose(D.out);
		printf("deposit: acknowledged=%ld cut=%ld other=%ld\n",
		    D.acked, D.cut, D.other);
		return D.other == 0 ? 0 : 1;
	}
	if ((f = fopen(D.file, "r")) == NULL) {
		perror(D.file);
		return 2;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%63s %71s", id, key) != 2)
			continue;
		D.ids = realloc(D.ids, (D.nkeys + 1) * sizeof(char *));
		D.keys = realloc(D.keys, (D.nkeys + 1) * sizeof(char *));
		if (D.ids == NULL || D.keys == NULL)
			return 2;
		D.ids[D.nkeys] = strdup(id);
		D.keys[D.nkeys] = strdup(key);
		D.nkeys++;
	}
	fclose(f);
	for (i = 0; i < D.threads; i++)
		pthread_create(&th[i], NULL, verify_main, (void *)(intptr_t)i);
	for (i = 0; i < D.threads; i++)
		pthread_join(th[i], NULL);
	printf("verify: keys=%zu released_same=%ld missing=%ld wrong=%ld\n",
	    D.nkeys, D.ok, D.missing, D.wrong);
	return D.ok == (long)D.nkeys ? 0 : 1;
}

/* ---- junk -------------------------------------------------------------- */

enum { J_TCP = 1, J_TLS = 2 };
/* What a case may end with besides an HTTP 4xx answer or a close. */
#define J_WAITS		0x01	/* the server may wait for more bytes */
#define J_ANSWER	0x02	/* must get an HTTP answer */
#define J_505		0x04	/* 505 allowed (unknown HTTP version) */
#define J_OK		0x08	/* 2xx allowed */
#define J_CLOSE		0x10	/* we close right after sending */
#define J_RST		0x20	/* ... with a reset */

struct jcase {
	const char	*name;
	int		 layer;
	int		 flags;
	void		(*make)(char **p, size_t *len);
	const char	*text;
};

static char *
dupmem(const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (p == NULL)
		exit(2);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* A bare TLS 1.2 ClientHello (no extensions), ${n} bytes of it. */
static size_t
client_hello(uint8_t *b)
{
	size_t i = 0, body;

	b[i++] = 0x16; b[i++] = 0x03; b[i++] = 0x01;
	b[i++] = 0; b[i++] = 0;			/* record length */
	b[i++] = 0x01;				/* ClientHello */
	b[i++] = 0; b[i++] = 0; b[i++] = 0;	/* handshake length */
	b[i++] = 0x03; b[i++] = 0x03;
	fill_random(b + i, 32);
	i += 32;
	b[i++] = 0;				/* session id */
	b[i++] = 0; b[i++] = 4;			/* cipher suites */
	b[i++] = 0xc0; b[i++] = 0x2b; b[i++] = 0xc0; b[i++] = 0x2f;
	b[i++] = 1; b[i++] = 0;			/* compression: null */
	body = i - 9;
	b[3] = (uint8_t)((i - 5) >> 8);
	b[4] = (uint8_t)(i - 5);
	b[7] = (uint8_t)(body >> 8);
	b[8] = (uint8_t)body;
	return i;
}

static void
mk_garbage(char **p, size_t *len)
{
	*len = 4096;
	*p = malloc(*len + 1);
	fill_random(*p, *len);
}

static void
mk_zeros(char **p, size_t *len)
{
	*len = 65536;
	*p = calloc(1, *len + 1);
}

static void
mk_hello_half(char **p, size_t *len)
{
	uint8_t b[128];

	*len = client_hello(b) / 2;
	*p = dupmem((char *)b, *len);
}

static void
mk_hello_garbage(char **p, size_t *len)
{
	uint8_t b[128];
	size_t n = client_hello(b);

	*len = n + 1000;
	*p = malloc(*len + 1);
	memcpy(*p, b, n);
	fill_random(*p + n, 1000);
}

static void
mk_record_huge(char **p, size_t *len)
{
	*len = 5 + 200;
	*p = malloc(*len + 1);
	fill_random(*p, *len);
	memcpy(*p, "\x16\x03\x01\xff\xff", 5);
}

/* "GET /" + ${n} letters + " HTTP/1.1" etc.: built by these. */
static void
mk_filled(char **p, size_t *len, const char *pre, size_t n, char fill,
    const char *post)
{
	size_t a = strlen(pre), b = strlen(post);

	*len = a + n + b;
	*p = malloc(*len + 1);
	memcpy(*p, pre, a);
	memset(*p + a, fill, n);
	memcpy(*p + a + n, post, b);
	(*p)[*len] = '\0';
}

static void
mk_long_url(char **p, size_t *len)
{
	mk_filled(p, len, "GET /", 100000, 'a', " HTTP/1.1\r\nHost: x\r\n\r\n");
}

static void
mk_header_60k(char **p, size_t *len)
{
	mk_filled(p, len, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ",
	    60 * 1024, 'b', "\r\n\r\n");
}

static void
mk_header_200k(char **p, size_t *len)
{
	mk_filled(p, len, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ",
	    200 * 1024, 'b', "\r\n\r\n");
}

static void
mk_long_method(char **p, size_t *len)
{
	mk_filled(p, len, "", 8192, 'G',
	    " /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
}

static void
mk_many_headers(char **p, size_t *len)
{
	static const char line[] = "X-h: v\r\n";
	static const char pre[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
	size_t n = 4000, i, o;

	*len = strlen(pre) + n * strlen(line) + 2;
	*p = malloc(*len + 1);
	memcpy(*p, pre, strlen(pre));
	o = strlen(pre);
	for (i = 0; i < n; i++, o += strlen(line))
		memcpy(*p + o, line, strlen(line));
	memcpy(*p + o, "\r\n", 2);
}

static void
mk_crlf(char **p, size_t *len)
{
	size_t i;

	*len = 2000;
	*p = malloc(*len + 1);
	for (i = 0; i < *len; i += 2)
		memcpy(*p + i, "\r\n", 2);
}

static void
mk_nul_header(char **p, size_t *len)
{
	static const char s[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-N: a\0b"
	    "\r\n\r\n";

	*len = sizeof(s) - 1;
	*p = dupmem(s, *len);
}

static void
mk_deep_json(char **p, size_t *len)
{
	char head[160];
	size_t n = 15000;

	snprintf(head, sizeof(head), "POST /v1/accounts HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", n);
	mk_filled(p, len, head, n, '[', "");
}

static void
mk_huge_number(char **p, size_t *len)
{
	static const char body[] = "{\"account\":1e99999,\"password\":[{}]}";
	char head[160];

	snprintf(head, sizeof(head), "POST /v1/sessions HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
	    sizeof(body) - 1);
	mk_filled(p, len, head, 0, 0, body);
}

static void
mk_chunked_2m(char **p, size_t *len)
{
	static const char head[] = "POST /v1/accounts HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: application/json\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n";
	static const char chunk_head[] = "4000\r\n";
	size_t chunk = 0x4000, n = 128, i, o;

	*len = strlen(head) + n * (strlen(chunk_head) + chunk + 2) + 5;
	*p = malloc(*len + 1);
	memcpy(*p, head, strlen(head));
	o = strlen(head);
	for (i = 0; i < n; i++) {
		memcpy(*p + o, chunk_head, strlen(chunk_head));
		o += strlen(chunk_head);
		memset(*p + o, ' ', chunk);
		o += chunk;
		memcpy(*p + o, "\r\n", 2);
		o += 2;
	}
	memcpy(*p + o, "0\r\n\r\n", 5);
}

static void
mk_pipeline(char **p, size_t *len)
{
	static const char one[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	size_t n = 100, i;

	*len = n * strlen(one);
	*p = malloc(*len + 1);
	for (i = 0; i < n; i++)
		memcpy(*p + i * strlen(one), one, strlen(one));
}

#define POST_HEAD(path) "POST " path " HTTP/1.1\r\nHost: x\r\n" \
	"Content-Type: application/json\r\n"

static const struct jcase jcases[] = {
	/* The TLS layer, raw TCP. */
	/* Random: it may look like the start of a long record. */
	{ "tcp-garbage", J_TCP, J_WAITS, mk_garbage, NULL },
	{ "tcp-zeros-64k", J_TCP, 0, mk_zeros, NULL },
	{ "tcp-plain-http", J_TCP, 0, NULL,
	    "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" },
	{ "tcp-connect-close", J_TCP, J_CLOSE, NULL, "" },
	{ "tcp-connect-reset", J_TCP, J_CLOSE | J_RST, NULL, "" },
	{ "tls-hello-half-wait", J_TCP, J_WAITS, mk_hello_half, NULL },
	{ "tls-hello-half-close", J_TCP, J_CLOSE, mk_hello_half, NULL },
	{ "tls-hello-half-reset", J_TCP, J_CLOSE | J_RST, mk_hello_half,
	    NULL },
	{ "tls-hello-then-garbage", J_TCP, J_WAITS, mk_hello_garbage, NULL },
	{ "tls-record-64k", J_TCP, J_WAITS, mk_record_huge, NULL },
	{ "tls-sslv2-hello", J_TCP, J_WAITS, NULL,
	    "\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10" },
	{ "tls-alert-first", J_TCP, 0, NULL, "\x15\x03\x03\x00\x02\x02\x28" },
	/* HTTP inside TLS. */
	{ "http-bad-request-line", J_TLS, 0, NULL,
	    "GARBAGE\r\n\r\n" },
	{ "http-no-version", J_TLS, 0, NULL, "GET /healthz\r\n\r\n" },
	{ "http-version-9.9", J_TLS, J_505 | J_ANSWER, NULL,
	    "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n" },
	{ "http-version-junk", J_TLS, J_505, NULL,
	    "GET /healthz HTTP/1.x\r\nHost: x\r\n\r\n" },
	{ "http-lowercase-method", J_TLS, J_ANSWER, NULL,
	    "get /healthz HTTP/1.1\r\nHost: x\r\n\r\n" },
	{ "http-long-method-8k", J_TLS, 0, mk_long_method, NULL },
	{ "http-long-url-100k", J_TLS, 0, mk_long_url, NULL },
	{ "http-header-60k", J_TLS, J_OK, mk_header_60k, NULL },
	{ "http-header-200k", J_TLS, 0, mk_header_200k, NULL },
	{ "http-4000-headers", J_TLS, 0, mk_many_headers, NULL },
	{ "http-header-no-colon", J_TLS, 0, NULL,
	    "GET /healthz HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n" },
	{ "http-header-nul", J_TLS, J_OK, mk_nul_header, NULL },
	{ "http-header-folded", J_TLS, J_OK, NULL,
	    "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n" },
	{ "http-11-no-host", J_TLS, J_OK | J_ANSWER, NULL,
	    "GET /healthz HTTP/1.1\r\n\r\n" },
	{ "http-only-crlf", J_TLS, J_WAITS, mk_crlf, NULL },
	{ "http-tls-zeros", J_TLS, 0, mk_zeros, NULL },
	{ "http-absolute-uri", J_TLS, J_OK, NULL,
	    "GET https://127.0.0.1/healthz HTTP/1.1\r\nHost: x\r\n\r\n" },
	{ "http-bad-percent", J_TLS, J_ANSWER, NULL,
	    "GET /v1/keys/%zz%00%ff/release HTTP/1.1\r\nHost: x\r\n\r\n" },
	{ "http-binary-path", J_TLS, 0, NULL,
	    "GET /v1/\xff\xfe\x01 HTTP/1.1\r\nHost: x\r\n\r\n" },
	{ "http-cl-short", J_TLS, J_WAITS, NULL,
	    POST_HEAD("/v1/accounts") "Content-Length: 100\r\n\r\n{\"a\":1" },
	{ "http-cl-short-close", J_TLS, J_CLOSE, NULL,
	    POST_HEAD("/v1/accounts") "Content-Length: 100\r\n\r\n{\"a\":1" },
	{ "http-cl-long", J_TLS, J_ANSWER, NULL,
	    POST_HEAD("/v1/accounts") "Content-Length: 2\r\n\r\n{}"
	    "GARBAGE / HTTP/1.1\r\n\r\n" },
	{ "http-cl-over-cap", J_TLS, J_ANSWER, NULL,
	    POST_HEAD("/v1/accounts") "Content-Length: 20000\r\n\r\n" },
	{ "http-cl-negative", J_TLS, J_ANSWER, NULL,
	    POST_HEAD("/v1/accounts") "Content-Length: -1\r\n\r\n" },
	{ "http-cl-huge", J_TLS, J_ANSWER, NULL,
	    POST_HEAD("/v1/accounts")
	    "Content-Length: 99999999999999999999999999\r\n\r\n" },
	{ "http-cl-not-number", J_TLS, J_ANSWER, NULL,
	    POST_HEAD("/v1/accounts") "Content-Length: 1e3\r\n\r\n" },
	{ "http-cl-twice", J_TLS, J_ANSWER, NULL,
	    POST_HEAD("/v1/accounts")
	    "Content-Length: 2\r\nContent-Length: 20000\r\n\r\n{}" },
	{ "http-cl-and-chunked", J_TLS, 0, NULL,
	    POST_HEAD("/v1/accounts") "Content-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" },
	{ "http-chunk-bad-size", J_TLS, 0, NULL,
	    POST_HEAD("/v1/accounts") "Transfer-Encoding: chunked\r\n\r\n"
	    "zz\r\n{}\r\n0\r\n\r\n" },
	{ "http-chunk-size-overflow", J_TLS, 0, NULL,
	    POST_HEAD("/v1/accounts") "Transfer-Encoding: chunked\r\n\r\n"
	    "ffffffffffffffffffffff\r\n{}\r\n0\r\n\r\n" },
	{ "http-chunked-2m", J_TLS, 0, mk_chunked_2m, NULL },
	{ "http-te-unknown", J_TLS, J_WAITS, NULL,
	    POST_HEAD("/v1/accounts") "Transfer-Encoding: gzip\r\n\r\n{}" },
	{ "http-expect-continue", J_TLS, J_WAITS, NULL,
	    POST_HEAD("/v1/accounts") "Expect: 100-continue\r\n"
	    "Content-Length: 10000\r\n\r\n" },
	{ "http-deep-json", J_TLS, J_ANSWER, mk_deep_json, NULL },
	{ "http-json-huge-number", J_TLS, J_ANSWER, mk_huge_number, NULL },
	{ "http-pipeline-100", J_TLS, J_OK | J_ANSWER, mk_pipeline, NULL },
	{ "http-half-then-close", J_TLS, J_CLOSE, NULL,
	    "POST /v1/sessions HTTP/1.1\r\nHo" },
	{ "http-half-then-reset", J_TLS, J_CLOSE | J_RST, NULL,
	    POST_HEAD("/v1/keys") "Content-Length: 100\r\n\r\n{" },
};

/* GET /healthz on a new connection: 0 when it answers 200 in time. */
static int
healthz(const char *src)
{
	struct client k;
	long st = -1;
	int tries;

	if (client_init(&k, src, true) != 0)
		return -1;
	for (tries = 0; tries < 3 && st != 200; tries++)
		st = req(&k, "GET", "/healthz", NULL);
	if (st != 200)
		problem("/healthz answered %ld %s", st, k.error);
	client_release(&k);
	return st == 200 ? 0 : -1;
}

static int
cmd_junk(int argc, char **argv)
{
	char src[32], *data, *rbuf, *s, *only = NULL;
	const char *net = NULL, *what;
	int ch, wait_ms = 1500, failed = 0, answered = 0, closed = 0;
	int waiting = 0, nc = 0, codes[8] = { 0 }, code, st, hz_bad = 0;
	size_t len, rlen, i;
	struct raw r;
	bool bad, gone, any;

	while ((ch = getopt(argc, argv, "N:w:o:")) != -1) {
		switch (ch) {
		case 'N': net = optarg; break;
		case 'w': wait_ms = (int)num(optarg, 10, 60000); break;
		case 'o': only = optarg; break;
		default: return 2;
		}
	}
	if (net == NULL) {
		fprintf(stderr, "srvstress junk: -N NET\n");
		return 2;
	}
	if ((rbuf = malloc(RESP_MAX)) == NULL)
		return 2;
	for (i = 0; i < sizeof(jcases) / sizeof(jcases[0]); i++) {
		const struct jcase *c = &jcases[i];

		if (only != NULL && strcmp(only, c->name) != 0)
			continue;
		nc++;
		addr_of(src, net, 1 + (int)(i % 200));
		if (c->make != NULL) {
			c->make(&data, &len);
		} else {
			len = strlen(c->text);
			/* The SSLv2 hello and alert hold NUL bytes. */
			if (strcmp(c->name, "tls-sslv2-hello") == 0)
				len = 11;
			else if (strcmp(c->name, "tls-alert-first") == 0)
				len = 7;
			data = dupmem(c->text, len);
		}
		memset(&r, 0, sizeof(r));
		r.fd = -1;
		if (c->layer == J_TLS)
			r.c = tls_connect(src);
		else
			r.fd = tcp_connect(src);
		if (r.c == NULL && r.fd == -1) {
			problem("%s: cannot connect from %s", c->name, src);
			failed++;
			free(data);
			continue;
		}
		/* A send may fail once the server gave up on us: fine. */
		(void)raw_send(&r, data, len, 5000);
		free(data);
		rlen = 0;
		rbuf[0] = '\0';
		gone = false;
		if (!(c->flags & J_CLOSE))
			gone = raw_recv(&r, rbuf, RESP_MAX, &rlen,
			    wait_ms) == 1;
		raw_close(&r, (c->flags & J_RST) != 0);

		/* Every status line in the answer. */
		bad = false;
		any = false;
		for (s = rbuf; (s = strstr(s, "HTTP/1.")) != NULL; s += 7) {
			if ((s != rbuf && s[-1] != '\n') ||
			    sscanf(s, "HTTP/1.%*c %d", &code) != 1)
				continue;
			any = true;
			codes[code / 100 < 8 ? code / 100 : 7]++;
			if (code >= 500 && !(code == 505 &&
			    (c->flags & J_505)))
				bad = true;
			if (code < 400 && code != 100 && !(c->flags & J_OK))
				bad = true;
		}
		if (any)
			answered++;
		else if (gone)
			closed++;
		else if (!(c->flags & J_CLOSE))
			waiting++;
		if (!any && (c->flags & J_ANSWER))
			bad = true;
		if (!any && !gone && !(c->flags & (J_WAITS | J_CLOSE)))
			bad = true;
		what = any ? "answered" : gone ? "closed" :
		    (c->flags & J_CLOSE) ? "we closed" : "no answer, waiting";
		st = healthz(src);
		if (st != 0)
			hz_bad++;
		printf("case %s: %s", c->name, what);
		if (any) {
			char line[64];

			s = strstr(rbuf, "HTTP/1.");
			sscanf(s, "%63[^\r\n]", line);
			printf(" (%s)", line);
		}
		printf("%s\n", bad || st != 0 ? " FAIL" : "");
		if (bad) {
			failed++;
			problem("%s: %s: %.200s", c->name, what, rbuf);
		}
	}
	free(rbuf);
	printf("junk: cases=%d answered=%d closed=%d waiting=%d "
	    "answers_2xx=%d answers_4xx=%d answers_5xx=%d failed=%d "
	    "healthz_failed=%d\n", nc, answered, closed, waiting, codes[2],
	    codes[4], codes[5], failed, hz_bad);
	return failed == 0 && hz_bad == 0 && nc > 0 ? 0 : 1;
}

/* ---- main -------------------------------------------------------------- */

static void usage(void) __attribute__((noreturn));
static void
usage(void)
{
	fputs("usage: srvstress -u URL -c CACERT work|slow|flood|deposit|"
	    "verify|junk [OPTION...]\n", stderr);
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *cmd, *p;
	int ch, rc;

	while ((ch = getopt(argc, argv, "+u:c:")) != -1) {
		switch (ch) {
		case 'u': url = optarg; break;
		case 'c': cacert = optarg; break;
		default: usage();
		}
	}
	if (url == NULL || cacert == NULL || optind >= argc)
		usage();
	/* host and port, for the raw TCP cases (IPv4 only). */
	if ((p = strstr(url, "://")) == NULL ||
	    sscanf(p + 3, "%63[0-9.]:%d", host, &port) != 2) {
		fprintf(stderr, "srvstress: want a URL http(s)://IPV4:PORT\n");
		return 2;
	}
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	optind = 1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 2;
	if (strcmp(cmd, "work") == 0)
		rc = cmd_work(argc, argv);
	else if (strcmp(cmd, "slow") == 0)
		rc = cmd_slow(argc, argv);
	else if (strcmp(cmd, "flood") == 0)
		rc = cmd_flood(argc, argv);
	else if (strcmp(cmd, "deposit") == 0)
		rc = cmd_deposit(argc, argv, false);
	else if (strcmp(cmd, "verify") == 0)
		rc = cmd_deposit(argc, argv, true);
	else if (strcmp(cmd, "junk") == 0)
		rc = cmd_junk(argc, argv);
	else
		usage();
	curl_global_cleanup();
	return rc;
}
