/* SPDX-License-Identifier: ISC */
/*
 * bench_escrow: load on a running cofferd (docs/PROTOCOL.md), for
 * bench/escrow-load.sh.  Not part of the tests.
 *
 *	bench_escrow -u URL [-c CACERT] [-t THREADS] [-s SECONDS]
 *	    [-o OPS] [-p PREFIX] [-P NAME:PID[+],...] [-S]
 *
 * Setup: each thread registers its own account (PREFIX-<n>, once per
 * PREFIX; an existing one is reused) and logs in.  Then, one phase per
 * operation in OPS (default "login,deposit,release"), every thread sends
 * requests back to back for SECONDS (default 10) over its own keep-alive
 * connection (one TLS handshake per thread, as a busy client would):
 *
 *	login	POST /v1/sessions (Argon2id check, new session row)
 *	deposit	POST /v1/keys, 32 random bytes (seal in the key holder,
 *		insert, audit row)
 *	release	POST /v1/keys/ID/release over the keys this thread
 *		deposited (giving fresh proof, POST
 *		/v1/sessions/current/fresh, when the session is older than
 *		cofferd's --fresh-auth),
 *		each answer compared with what was deposited (audit row,
 *		release count, open in the key holder)
 *
 * With -S, thread n connects from source address 127.0.1.n, as clients
 * on many machines would (cofferd checks and counts logins per source
 * address); without it, all come from the system's choice (127.0.0.1).
 *
 * Prints one line per phase:
 *	op=deposit threads=8 seconds=10.0 requests=1234 rate=123.4
 *	p50_ms=6.1 p99_ms=20.3 errors=0 cpu_client=0.61 [cpu_NAME=...]
 * where cpu_X is the CPU time X used during the phase over its wall time
 * (1.00 = one core busy): the client itself, and each process given with
 * -P (its threads, plus with "+" its child processes, live or reaped: a
 * database's postmaster and backends).
 * and exits 1 if any request failed or was answered wrongly.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/resource.h>

#include <curl/curl.h>
#include <jansson.h>

#define MAX_THREADS	250	/* -S: 127.0.1.1 ... 127.0.1.250 */
#define MAX_KEYS	200000	/* per thread, for release */
#define RESP_MAX	65536
#define KEY_BYTES	32
#define B64_LEN		(4 * ((KEY_BYTES + 2) / 3))

struct resp {
	char	 buf[RESP_MAX];
	size_t	 len;
};

struct deposited {
	char	 id[33];
	char	 b64[B64_LEN + 1];
};

struct thread {
	int		 n;
	CURL		*curl;
	struct resp	 resp;
	char		 account[64];
	char		 auth[128];	/* "Authorization: Bearer ..." */
	uint64_t	 rng;
	struct deposited *keys;
	size_t		 nkeys;
	size_t		 next;		/* release cursor */
	/* this phase */
	double		*lat;
	size_t		 nlat, caplat;
	size_t		 errors;
	char		 lasterr[256];
};

static const char *url;
static const char *cacert;
static const char *password = "bench-password-0123456789";
static int nthreads = 4;
static double seconds = 10;
static const char *prefix = "bench";
static bool spread;
static struct thread threads[MAX_THREADS];

#define MAX_WATCH	8
static struct watch {
	char	 name[32];
	long	 pid;
	bool	 children;
} watch[MAX_WATCH];
static int nwatch;
static pthread_barrier_t barrier;
static double deadline;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t
rng_next(uint64_t *s)
{
	/* xorshift64*: random enough for test keys. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static void
b64(const uint8_t *in, size_t len, char *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;
	uint32_t v;

	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
}

static size_t
on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct resp *r = arg;
	size_t n = size * nmemb;

	if (n > sizeof(r->buf) - 1 - r->len)
		return 0;	/* too large: fail the transfer */
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	r->buf[r->len] = '\0';
	return n;
}

/*
 * POST ${body} to ${path}; 0 and the parsed JSON answer (or NULL for an
 * empty body) in *jp if the status is ${want}, else -1 with t->lasterr.
 */
static int
post(struct thread *t, const char *path, const char *body, bool auth,
    long want, json_t **jp)
{
	struct curl_slist *hdr = NULL;
	char full[1024];
	json_error_t jerr;
	long status = 0;
	CURLcode cc;
	int r = -1;

	*jp = NULL;
	snprintf(full, sizeof(full), "%s%s", url, path);
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	if (auth)
		hdr = curl_slist_append(hdr, t->auth);
	t->resp.len = 0;
	t->resp.buf[0] = '\0';
	curl_easy_setopt(t->curl, CURLOPT_URL, full);
	curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(t->curl, CURLOPT_POSTFIELDS, body);
	if ((cc = curl_easy_perform(t->curl)) != CURLE_OK) {
		snprintf(t->lasterr, sizeof(t->lasterr), "%s: %s", path,
		    curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != want) {
		snprintf(t->lasterr, sizeof(t->lasterr), "%s: HTTP %ld: %.150s",
		    path, status, t->resp.buf);
		goto out;
	}
	if (t->resp.len > 0 &&
	    (*jp = json_loadb(t->resp.buf, t->resp.len, 0, &jerr)) == NULL) {
		snprintf(t->lasterr, sizeof(t->lasterr), "%s: bad JSON: %s",
		    path, jerr.text);
		goto out;
	}
	r = 0;
out:
	curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdr);
	return r;
}

static int
do_login(struct thread *t)
{
	char body[256];
	const char *tok;
	json_t *j = NULL;
	int r = -1;

	snprintf(body, sizeof(body),
	    "{\"account\":\"%s\",\"password\":\"%s\"}", t->account, password);
	if (post(t, "/v1/sessions", body, false, 201, &j) != 0)
		goto out;
	if ((tok = json_string_value(json_object_get(j, "token"))) == NULL ||
	    strlen(tok) != 64) {
		snprintf(t->lasterr, sizeof(t->lasterr), "login: no token");
		goto out;
	}
	snprintf(t->auth, sizeof(t->auth), "Authorization: Bearer %s", tok);
	r = 0;
out:
	json_decref(j);
	return r;
}

static int
do_deposit(struct thread *t)
{
	uint8_t key[KEY_BYTES];
	char body[256];
	struct deposited *d;
	const char *id;
	json_t *j = NULL;
	size_t i;
	int r = -1;

	if (t->nkeys == MAX_KEYS) {
		snprintf(t->lasterr, sizeof(t->lasterr), "too many keys");
		return -1;
	}
	d = &t->keys[t->nkeys];
	for (i = 0; i < KEY_BYTES; i += 8) {
		uint64_t v = rng_next(&t->rng);

		memcpy(key + i, &v, 8);
	}
	b64(key, KEY_BYTES, d->b64);
	snprintf(body, sizeof(body), "{\"key\":\"%s\",\"label\":\"bench\"}",
	    d->b64);
	if (post(t, "/v1/keys", body, true, 201, &j) != 0)
		goto out;
	if ((id = json_string_value(json_object_get(j, "key_id"))) == NULL ||
	    strlen(id) != 32) {
		snprintf(t->lasterr, sizeof(t->lasterr), "deposit: no key_id");
		goto out;
	}
	memcpy(d->id, id, 33);
	t->nkeys++;
	r = 0;
out:
	json_decref(j);
	return r;
}

static int
do_release(struct thread *t)
{
	struct deposited *d;
	const char *key;
	char path[128];
	json_t *j = NULL;
	int r = -1;

	if (t->nkeys == 0) {
		snprintf(t->lasterr, sizeof(t->lasterr),
		    "release: nothing deposited");
		return -1;
	}
	d = &t->keys[t->next++ % t->nkeys];
	snprintf(path, sizeof(path), "/v1/keys/%s/release", d->id);
	if (post(t, path, "{}", true, 200, &j) != 0) {
		char body[256];

		/* Protocol version 2: a session older than --fresh-auth. */
		if (strstr(t->lasterr, "fresh_auth_required") == NULL)
			goto out;
		json_decref(j);
		j = NULL;
		snprintf(body, sizeof(body), "{\"password\":\"%s\"}",
		    password);
		if (post(t, "/v1/sessions/current/fresh", body, true, 200,
		    &j) != 0)
			goto out;
		json_decref(j);
		j = NULL;
		if (post(t, path, "{}", true, 200, &j) != 0)
			goto out;
	}
	if ((key = json_string_value(json_object_get(j, "key"))) == NULL ||
	    strcmp(key, d->b64) != 0) {
		snprintf(t->lasterr, sizeof(t->lasterr),
		    "release %s: not the deposited key", d->id);
		goto out;
	}
	r = 0;
out:
	json_decref(j);
	return r;
}

static int
setup_thread(struct thread *t)
{
	char body[256];
	json_t *j = NULL;
	int r;

	if ((t->curl = curl_easy_init()) == NULL)
		return -1;
	curl_easy_setopt(t->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(t->curl, CURLOPT_WRITEDATA, &t->resp);
	curl_easy_setopt(t->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t->curl, CURLOPT_TIMEOUT, 60L);
	if (cacert != NULL)
		curl_easy_setopt(t->curl, CURLOPT_CAINFO, cacert);
	if (spread) {
		char src[32];

		snprintf(src, sizeof(src), "127.0.1.%d", 1 + t->n);
		curl_easy_setopt(t->curl, CURLOPT_INTERFACE, src);
	}
	snprintf(t->account, sizeof(t->account), "%s-%d", prefix, t->n);
	snprintf(body, sizeof(body),
	    "{\"account\":\"%s\",\"password\":\"%s\"}", t->account, password);
	/* 201 created, or 409: there from an earlier run with this prefix. */
	r = post(t, "/v1/accounts", body, false, 201, &j);
	json_decref(j);
	if (r != 0 && strstr(t->lasterr, "HTTP 409") == NULL)
		return -1;
	return do_login(t);
}

struct phase {
	const char	*name;
	int		(*fn)(struct thread *);
};

static const struct phase *cur;

static void *
run(void *arg)
{
	struct thread *t = arg;
	double t0, t1;

	pthread_barrier_wait(&barrier);
	for (t0 = now(); t0 < deadline; t0 = t1) {
		if (cur->fn(t) != 0)
			t->errors++;
		t1 = now();
		if (t->nlat == t->caplat) {
			size_t cap = t->caplat == 0 ? 4096 : 2 * t->caplat;
			double *nl = realloc(t->lat, cap * sizeof(*nl));

			if (nl == NULL)
				break;
			t->lat = nl;
			t->caplat = cap;
		}
		t->lat[t->nlat++] = t1 - t0;
	}
	return NULL;
}

/*
 * CPU seconds of ${pid} (all threads; with ${children}, also its reaped
 * children and, scanning /proc, its live ones); 0 if it is gone.
 */
static double
proc_cpu(long pid, bool children)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st, cut, cst;
	long ppid, tck = sysconf(_SC_CLK_TCK);
	double sum = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* After "(comm)": state ppid ... utime(14) stime cutime cstime */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %ld %*s %*s %*s %*s %*s %*s %*s %*s %*s "
	    "%llu %llu %llu %llu", &ppid, &ut, &st, &cut, &cst) != 5)
		return 0;
	sum = (double)(ut + st + (children ? cut + cst : 0)) / (double)tck;
	if (children) {
		char cpath[64];
		long c;
		int i;

		/* Live children: /proc/PID/task/PID/children (Linux 3.5+). */
		snprintf(cpath, sizeof(cpath), "/proc/%ld/task/%ld/children",
		    pid, pid);
		if ((f = fopen(cpath, "r")) != NULL) {
			for (i = 0; i < 4096 && fscanf(f, "%ld", &c) == 1; i++)
				sum += proc_cpu(c, false);
			fclose(f);
		}
	}
	return sum;
}

static double
self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
run_phase(const struct phase *ph)
{
	pthread_t th[MAX_THREADS];
	double cpu0[MAX_WATCH], self0;
	double *all = NULL, start, took;
	size_t n = 0, errors = 0, k;
	int i, rc = 0;

	cur = ph;
	for (i = 0; i < nthreads; i++) {
		threads[i].nlat = 0;
		threads[i].errors = 0;
		threads[i].lasterr[0] = '\0';
	}
	pthread_barrier_init(&barrier, NULL, (unsigned)nthreads + 1);
	for (i = 0; i < nwatch; i++)
		cpu0[i] = proc_cpu(watch[i].pid, watch[i].children);
	self0 = self_cpu();
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, run, &threads[i]) != 0) {
			fprintf(stderr, "bench_escrow: pthread_create\n");
			exit(2);
		}
	start = now();
	deadline = start + seconds;
	pthread_barrier_wait(&barrier);
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	took = now() - start;
	self0 = self_cpu() - self0;
	for (i = 0; i < nwatch; i++)
		cpu0[i] = proc_cpu(watch[i].pid, watch[i].children) - cpu0[i];
	pthread_barrier_destroy(&barrier);

	for (i = 0; i < nthreads; i++)
		n += threads[i].nlat;
	if ((all = calloc(n == 0 ? 1 : n, sizeof(*all))) == NULL)
		exit(2);
	for (n = 0, i = 0; i < nthreads; i++) {
		memcpy(all + n, threads[i].lat,
		    threads[i].nlat * sizeof(*all));
		n += threads[i].nlat;
		errors += threads[i].errors;
		if (threads[i].errors != 0) {
			fprintf(stderr, "bench_escrow: %s: thread %d: %zu "
			    "errors, last: %s\n", ph->name, i,
			    threads[i].errors, threads[i].lasterr);
			rc = 1;
		}
	}
	qsort(all, n, sizeof(*all), cmp_double);
	k = n == 0 ? 0 : n - 1;
	printf("op=%s threads=%d seconds=%.1f requests=%zu rate=%.1f "
	    "p50_ms=%.1f p99_ms=%.1f errors=%zu cpu_client=%.2f", ph->name,
	    nthreads, took, n - errors, (double)(n - errors) / took,
	    n == 0 ? 0 : all[n / 2] * 1e3,
	    n == 0 ? 0 : all[(size_t)((double)k * 0.99)] * 1e3, errors,
	    self0 / took);
	for (i = 0; i < nwatch; i++)
		printf(" cpu_%s=%.2f", watch[i].name, cpu0[i] / took);
	printf("\n");
	fflush(stdout);
	free(all);
	return rc;
}

static void
usage(void)
{
	fputs("usage: bench_escrow -u URL [-c CACERT] [-t THREADS] "
	    "[-s SECONDS] [-o OPS] [-p PREFIX] [-P NAME:PID[+],...] [-S]\n",
	    stderr);
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct phase phases[] = {
		{ "login", do_login },
		{ "deposit", do_deposit },
		{ "release", do_release },
	};
	const char *ops = "login,deposit,release";
	char *end, *list, *tok, *save = NULL;
	size_t i;
	int ch, n, rc = 0;

	while ((ch = getopt(argc, argv, "u:c:t:s:o:p:P:S")) != -1) {
		switch (ch) {
		case 'u': url = optarg; break;
		case 'c': cacert = optarg; break;
		case 't':
			errno = 0;
			nthreads = (int)strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || nthreads < 1 ||
			    nthreads > MAX_THREADS)
				usage();
			break;
		case 's':
			seconds = strtod(optarg, &end);
			if (*end != '\0' || !(seconds > 0 && seconds < 3600))
				usage();
			break;
		case 'o': ops = optarg; break;
		case 'p': prefix = optarg; break;
		case 'S': spread = true; break;
		case 'P':
			if ((list = strdup(optarg)) == NULL)
				return 2;
			for (tok = strtok_r(list, ",", &save); tok != NULL;
			    tok = strtok_r(NULL, ",", &save)) {
				struct watch *w = &watch[nwatch];
				char *colon = strchr(tok, ':');

				if (nwatch == MAX_WATCH || colon == NULL ||
				    colon - tok >= (int)sizeof(w->name))
					usage();
				memcpy(w->name, tok, (size_t)(colon - tok));
				w->name[colon - tok] = '\0';
				errno = 0;
				w->pid = strtol(colon + 1, &end, 10);
				w->children = *end == '+';
				if (errno != 0 || w->pid <= 0 ||
				    (*end != '\0' && strcmp(end, "+") != 0))
					usage();
				nwatch++;
			}
			free(list);
			save = NULL;
			break;
		default: usage();
		}
	}
	if (url == NULL || optind != argc)
		usage();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 2;
	for (n = 0; n < nthreads; n++) {
		struct thread *t = &threads[n];

		t->n = n;
		t->rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)n << 32) ^
		    (uint64_t)time(NULL) ^ (uint64_t)getpid();
		if ((t->keys = calloc(MAX_KEYS, sizeof(*t->keys))) == NULL)
			return 2;
		if (setup_thread(t) != 0) {
			fprintf(stderr, "bench_escrow: setup of %s: %s\n",
			    t->account, t->lasterr);
			return 1;
		}
	}
	if ((list = strdup(ops)) == NULL)
		return 2;
	for (tok = strtok_r(list, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
			if (strcmp(tok, phases[i].name) == 0)
				break;
		if (i == sizeof(phases) / sizeof(phases[0])) {
			fprintf(stderr, "bench_escrow: unknown op '%s'\n", tok);
			return 2;
		}
		if (run_phase(&phases[i]) != 0)
			rc = 1;
	}
	free(list);
	for (n = 0; n < nthreads; n++) {
		curl_easy_cleanup(threads[n].curl);
		free(threads[n].keys);
		free(threads[n].lat);
	}
	curl_global_cleanup();
	return rc;
}
