/* SPDX-License-Identifier: ISC */
/*
 * http: libmicrohttpd glue (http.h).
 *
 * The access handler is called once when the headers are in (a
 * Content-Length over API_BODY_MAX is answered 413 right there, without
 * reading the body), then once per piece of body (kept up to
 * API_BODY_MAX in a wiped buffer; a body that turns out longer is
 * discarded and answered 413, and a connection that keeps sending far
 * past the cap is closed), and once more at the end, when api_handle()
 * answers.
 *
 * Slow clients: libmicrohttpd's connection timeout counts idle time only,
 * so a client sending a header or body byte every few seconds (slowloris)
 * would hold its connection, and one of the connection slots, for ever.
 * So every connection also has a deadline: a whole request (headers and
 * body) must be in within the timeout of the connection opening or of the
 * previous answer.  A reaper thread shuts down the socket of a connection
 * past its deadline, and libmicrohttpd then closes it as it closes any
 * connection its peer dropped.  libmicrohttpd tells us of the close
 * (http_notify) before it closes the socket, and both sides hold
 * ${lock}, so the reaper never touches a descriptor that was reused.
 *
 * Password hashing: a register or a login (api_needs_kdf) costs an
 * Argon2id hash of 64 MiB and a good part of a CPU-second; run on the
 * thread pool, a flood of them would stall every other connection the
 * same pool thread serves.  So those requests are suspended
 * (MHD_suspend_connection) and queued for a few password-hashing threads
 * of their own, which run at a lower priority (nice HTTP_KDF_NICE); the
 * thread that finishes one resumes its connection, and the pool thread
 * sends the answer.  At most conf->kdf_threads hashes run at once, and
 * at most conf->kdf_queue requests wait: the next one is answered 503
 * with Retry-After at once, without hashing.  Requests with a token and
 * /healthz never wait behind a hash.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "api.h"
#include "http.h"
#include "srv_crypto.h"
#include "srv_log.h"

/*
 * What TLS offers (GnuTLS priority string): TLS 1.3, and TLS 1.2 with
 * ECDHE key exchange and AEAD ciphers only: no static RSA key exchange
 * (no forward secrecy), no finite-field DHE, no CBC (Lucky 13, padding
 * oracles), no SHA-1 MACs; the server's order wins.  Checked with a real
 * scanner by tests/integration/87-tls-scan.sh.
 */
#define HTTP_TLS_PRIORITIES						\
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:"			\
	"-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:"				\
	"-CIPHER-ALL:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-GCM:"	\
	"-MAC-ALL:+AEAD:%SERVER_PRECEDENCE"

/* GnuTLS's session ticket key: 64 bytes (gnutls_session_ticket_key_generate). */
#define HTTP_TICKET_KEY_LEN	64
/* Out of descriptors: accept again after this many ms. */
#define HTTP_ACCEPT_PAUSE	100
/* A client still sending this much past the cap loses the connection. */
#define HTTP_DISCARD_MAX	(1024 * 1024)
/* The password-hashing threads' niceness, and a full queue's Retry-After. */
#define HTTP_KDF_NICE		10
#define HTTP_BUSY_RETRY		2

/* One open connection, for the reaper. */
struct http_conn {
	struct http_conn	*prev, *next;
	int			 fd;
	int64_t			 since;		/* ms: opened, last answer */
	bool			 receiving;	/* a request is not in whole */
	bool			 cut;		/* shut down by the reaper */
};

struct http {
	struct MHD_Daemon	*d;
	struct api		*api;
	gnutls_datum_t		 ticket_key;	/* TLS session tickets */
	int64_t			 deadline;	/* ms for a whole request */
	pthread_mutex_t		 lock;		/* conns, stop, accepting */
	pthread_cond_t		 wake;
	struct http_conn	*conns;
	bool			 stop;
	bool			 reaping;	/* the reaper thread runs */
	pthread_t		 reaper;

	/* Accepting (see http_acceptor). */
	int			 lfd;		/* listening, non-blocking */
	int			 stop_fd[2];	/* a pipe: stop accepting */
	unsigned int		 nconns;	/* started, not closed */
	unsigned int		 inflight;	/* handed over, not started */
	int64_t			 handed;	/* ms: the last hand-over */
	unsigned int		 max_conns;
	pthread_cond_t		 room;		/* a connection closed */
	bool			 accepting;	/* the acceptor runs */
	pthread_t		 acceptor;

	/* Password hashing (see the top of the file). */
	pthread_mutex_t		 kdf_lock;	/* all kdf_* below */
	pthread_cond_t		 kdf_wake;
	struct http_req		*kdf_head, *kdf_tail;
	unsigned int		 kdf_waiting;	/* in the queue */
	unsigned int		 kdf_queue;	/* its limit */
	unsigned int		 kdf_started;	/* threads in kdf[] */
	pthread_t		*kdf;
	bool			 kdf_stop;
};

/* Where a request is: read, waiting for a hashing thread, answered. */
enum { HR_NEW, HR_QUEUED, HR_DONE };

struct http_req {
	uint8_t		*body;		/* API_BODY_MAX, wiped */
	size_t		 len;
	size_t		 discarded;
	bool		 too_large;
	int		 state;		/* HR_* */
	struct MHD_Connection *conn;	/* while queued */
	struct http_req	*qnext;		/* the queue */
	char		 addr[API_ADDRESS_MAX + 1];
	struct api_req	 q;		/* borrows from MHD and ${body} */
	struct api_resp	 p;		/* the answer, once HR_DONE */
};

/* The peer's address as text; IPv4-mapped IPv6 shown as IPv4. */
static void
http_peer(struct MHD_Connection *conn, char out[API_ADDRESS_MAX + 1])
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;
	const struct sockaddr_in6 *s6;
	struct in_addr v4;

	snprintf(out, API_ADDRESS_MAX + 1, "unknown");
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || (sa = ci->client_addr) == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		    out, API_ADDRESS_MAX + 1);
	} else if (sa->sa_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			memcpy(&v4, s6->sin6_addr.s6_addr + 12, 4);
			inet_ntop(AF_INET, &v4, out, API_ADDRESS_MAX + 1);
		} else {
			inet_ntop(AF_INET6, &s6->sin6_addr, out,
			    API_ADDRESS_MAX + 1);
		}
	}
}

static int64_t
http_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Offer ${conn} session tickets, so that a client coming back resumes its
 * TLS session (an abbreviated handshake, no signature) instead of a full
 * one.  The handshake has not begun when libmicrohttpd tells of a new
 * connection.
 */
static void
http_tickets(struct http *h, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;

	if (h->ticket_key.data == NULL)
		return;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci == NULL || ci->tls_session == NULL)
		return;
	if (gnutls_session_ticket_enable_server(ci->tls_session,
	    &h->ticket_key) != GNUTLS_E_SUCCESS)
		log_warn("http: no TLS session tickets for a connection");
}

/* A connection opens or closes (MHD_OPTION_NOTIFY_CONNECTION). */
static void
http_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct http *h = cls;
	struct http_conn *c;
	const union MHD_ConnectionInfo *ci;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		pthread_mutex_lock(&h->lock);
		h->nconns++;
		if (h->inflight > 0)
			h->inflight--;
		pthread_mutex_unlock(&h->lock);
		/* Out of memory: untracked, only the idle timeout applies. */
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return;
		ci = MHD_get_connection_info(conn,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		c->fd = ci != NULL ? ci->connect_fd : -1;
		http_tickets(h, conn);
		c->since = http_now_ms();
		c->receiving = true;
		pthread_mutex_lock(&h->lock);
		c->next = h->conns;
		if (h->conns != NULL)
			h->conns->prev = c;
		h->conns = c;
		pthread_mutex_unlock(&h->lock);
		*socket_context = c;
		return;
	}
	pthread_mutex_lock(&h->lock);
	h->nconns--;
	pthread_cond_signal(&h->room);
	if ((c = *socket_context) == NULL) {
		pthread_mutex_unlock(&h->lock);
		return;
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&h->lock);
	free(c);
	*socket_context = NULL;
}

/*
 * http_receiving(h, conn, on): ${conn} waits for a request again (the
 * deadline starts now), or has one in whole (no deadline).
 */
static void
http_receiving(struct http *h, struct MHD_Connection *conn, bool on)
{
	const union MHD_ConnectionInfo *ci;
	struct http_conn *c;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci == NULL || (c = ci->socket_context) == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	c->receiving = on;
	if (on)
		c->since = http_now_ms();
	pthread_mutex_unlock(&h->lock);
}

/* The reaper thread: once a second, cut connections past the deadline. */
static void *
http_reaper(void *cookie)
{
	struct http *h = cookie;
	struct http_conn *c;
	struct timespec ts;
	int64_t now;
	unsigned int cut;

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		(void)pthread_cond_timedwait(&h->wake, &h->lock, &ts);
		now = http_now_ms();
		/*
		 * A connection handed over is started within milliseconds;
		 * one that libmicrohttpd dropped on the way (out of memory)
		 * never is: forget it after a second.
		 */
		if (h->inflight > 0 && now - h->handed > 1000) {
			h->inflight = 0;
			pthread_cond_signal(&h->room);
		}
		cut = 0;
		for (c = h->conns; c != NULL; c = c->next) {
			if (!c->receiving || c->cut || c->fd == -1 ||
			    now - c->since < h->deadline)
				continue;
			(void)shutdown(c->fd, SHUT_RDWR);
			c->cut = true;
			cut++;
		}
		if (cut > 0) {
			pthread_mutex_unlock(&h->lock);
			log_warn("closed %u connection%s that sent no whole "
			    "request in %lld seconds", cut, cut == 1 ? "" : "s",
			    (long long)(h->deadline / 1000));
			pthread_mutex_lock(&h->lock);
		}
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/*
 * The acceptor thread: accept each connection and hand it to
 * libmicrohttpd's pool (MHD_add_connection, which gives it to one pool
 * thread).  libmicrohttpd's own accepting has every pool thread watch the
 * listening socket, so each new connection woke them all and all but one
 * found nothing to accept (27 failed accept calls a connection with 32
 * threads; about 0.7 ms of CPU).  It counts the connections itself (those
 * handed over and not yet started, and those started and not closed):
 * at the limit the next ones wait in the backlog until one closes, as
 * they did.  libmicrohttpd's own limit is set above ours (it splits its
 * limit among the pool threads and would refuse a connection later, in a
 * pool thread, without a word).  Out of descriptors, it tries again
 * every HTTP_ACCEPT_PAUSE ms and says so at most once a minute.
 */
static void *
http_acceptor(void *cookie)
{
	struct http *h = cookie;
	struct sockaddr_storage ss;
	struct pollfd p[2];
	socklen_t sl;
	int64_t quiet_until = 0;
	bool stop;
	int fd;

	p[0].fd = h->lfd;
	p[0].events = POLLIN;
	p[1].fd = h->stop_fd[0];
	p[1].events = POLLIN;
	for (;;) {
		pthread_mutex_lock(&h->lock);
		while (h->nconns + h->inflight >= h->max_conns && !h->stop)
			pthread_cond_wait(&h->room, &h->lock);
		stop = h->stop;
		pthread_mutex_unlock(&h->lock);
		if (stop)
			break;
		if (poll(p, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			log_error("http: poll: %s", strerror(errno));
			(void)poll(&p[1], 1, HTTP_ACCEPT_PAUSE);
			continue;
		}
		if (p[1].revents != 0)
			break;
		if (p[0].revents == 0)
			continue;
		sl = sizeof(ss);
		fd = accept(h->lfd, (struct sockaddr *)&ss, &sl);
		if (fd == -1) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK || errno == ECONNABORTED)
				continue;
			if (http_now_ms() >= quiet_until) {
				log_warn("http: cannot accept a connection: %s "
				    "(trying again every %d ms)",
				    strerror(errno), HTTP_ACCEPT_PAUSE);
				quiet_until = http_now_ms() + 60 * 1000;
			}
			(void)poll(&p[1], 1, HTTP_ACCEPT_PAUSE);
			continue;
		}
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		/* Counted first: a pool thread may start it at once. */
		pthread_mutex_lock(&h->lock);
		h->inflight++;
		h->handed = http_now_ms();
		pthread_mutex_unlock(&h->lock);
		/* It owns ${fd} now (closed if refused: its address's limit). */
		if (MHD_add_connection(h->d, fd, (struct sockaddr *)&ss, sl) !=
		    MHD_YES) {
			pthread_mutex_lock(&h->lock);
			if (h->inflight > 0)
				h->inflight--;
			pthread_mutex_unlock(&h->lock);
		}
	}
	return NULL;
}

static void
http_free_body(void *cls)
{
	srv_wfree(cls);
}

/* Fill in ${hr->q} from the connection. */
static void
http_request(struct MHD_Connection *conn, const char *url,
    const char *method, struct http_req *hr)
{
	struct api_req *q = &hr->q;

	http_peer(conn, hr->addr);
	memset(q, 0, sizeof(*q));
	q->method = method;
	q->path = url;
	q->limit = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
	    "limit");
	q->authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	q->content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	q->cookie = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND,
	    "coffer_console");
	q->page = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
	    "page");
	q->fetch_site = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "Sec-Fetch-Site");
	q->body = hr->too_large ? NULL : hr->body;
	q->body_len = hr->too_large ? 0 : hr->len;
	q->too_large = hr->too_large;
	q->address = hr->addr;
}

/* Send ${hr->p}, the answer to ${hr->q}, and release it. */
static enum MHD_Result
http_reply(struct MHD_Connection *conn, struct http_req *hr)
{
	struct api_resp *p = &hr->p;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char ra[24];

	log_info("%s %s %s %d", hr->addr, hr->q.method, hr->q.path,
	    p->status);
	if (p->body != NULL) {
		resp = MHD_create_response_from_buffer_with_free_callback_cls(
		    p->len, p->body, http_free_body, p->body);
		if (resp == NULL) {
			api_resp_release(p);
			return MHD_NO;
		}
		p->body = NULL;		/* the response owns it now */
	} else {
		resp = MHD_create_response_from_buffer(0, NULL,
		    MHD_RESPMEM_PERSISTENT);
		if (resp == NULL)
			return MHD_NO;
	}
	if (p->ctype != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		    p->ctype);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	/* Every answer, the console's pages too (docs/SECURITY.md). */
	MHD_add_response_header(resp, "Content-Security-Policy",
	    "default-src 'self'; frame-ancestors 'none'");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	if (p->location[0] != '\0')
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION,
		    p->location);
	if (p->set_cookie[0] != '\0')
		MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE,
		    p->set_cookie);
	if (p->allow[0] != '\0')
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, p->allow);
	if (p->retry_after > 0) {
		snprintf(ra, sizeof(ra), "%d", p->retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	ret = MHD_queue_response(conn, (unsigned int)p->status, resp);
	MHD_destroy_response(resp);
	api_resp_release(p);
	return ret;
}

/*
 * Queue ${hr} for a password-hashing thread and suspend its connection.
 * 0, or -1 if the queue is full or the threads are stopping.
 */
static int
http_kdf_submit(struct http *h, struct MHD_Connection *conn,
    struct http_req *hr)
{
	pthread_mutex_lock(&h->kdf_lock);
	if (h->kdf_stop || h->kdf_waiting >= h->kdf_queue) {
		pthread_mutex_unlock(&h->kdf_lock);
		return -1;
	}
	hr->conn = conn;
	hr->state = HR_QUEUED;
	hr->qnext = NULL;
	MHD_suspend_connection(conn);
	if (h->kdf_tail != NULL)
		h->kdf_tail->qnext = hr;
	else
		h->kdf_head = hr;
	h->kdf_tail = hr;
	h->kdf_waiting++;
	pthread_cond_signal(&h->kdf_wake);
	pthread_mutex_unlock(&h->kdf_lock);
	return 0;
}

/*
 * A password-hashing thread: answer queued requests until told to stop
 * and the queue is empty (once stopping, with 503 and no hashing).
 */
static void *
http_kdf_main(void *cookie)
{
	struct http *h = cookie;
	struct MHD_Connection *conn;
	struct http_req *hr;
	bool stop;

	/* Below the threads that serve everything else (Linux: per thread). */
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
	    HTTP_KDF_NICE);
	pthread_mutex_lock(&h->kdf_lock);
	for (;;) {
		while (h->kdf_head == NULL && !h->kdf_stop)
			pthread_cond_wait(&h->kdf_wake, &h->kdf_lock);
		if ((hr = h->kdf_head) == NULL)
			break;
		if ((h->kdf_head = hr->qnext) == NULL)
			h->kdf_tail = NULL;
		h->kdf_waiting--;
		stop = h->kdf_stop;
		pthread_mutex_unlock(&h->kdf_lock);

		if (stop)
			api_busy(&hr->p, HTTP_BUSY_RETRY);
		else
			api_handle(h->api, &hr->q, &hr->p);
		conn = hr->conn;
		hr->state = HR_DONE;
		/* ${hr} is the connection's again from here on. */
		MHD_resume_connection(conn);

		pthread_mutex_lock(&h->kdf_lock);
	}
	pthread_mutex_unlock(&h->kdf_lock);
	return NULL;
}

static enum MHD_Result
http_answer(struct http *h, struct MHD_Connection *conn, const char *url,
    const char *method, struct http_req *hr)
{
	http_receiving(h, conn, false);
	http_request(conn, url, method, hr);
	if (api_needs_kdf(h->api, &hr->q)) {
		if (http_kdf_submit(h, conn, hr) == 0)
			return MHD_YES;		/* answered when resumed */
		api_busy(&hr->p, HTTP_BUSY_RETRY);
		return http_reply(conn, hr);
	}
	api_handle(h->api, &hr->q, &hr->p);
	return http_reply(conn, hr);
}

/* A Content-Length that is not a number or is over the cap. */
static bool
http_too_long(const char *cl)
{
	uint64_t v = 0;

	if (cl == NULL)
		return false;
	if (*cl == '\0')
		return true;
	for (; *cl != '\0'; cl++) {
		if (*cl < '0' || *cl > '9')
			return true;
		v = v * 10 + (uint64_t)(*cl - '0');
		if (v > API_BODY_MAX)
			return true;
	}
	return false;
}

static enum MHD_Result
http_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct http *h = cls;
	struct http_req *hr = *con_cls;

	(void)version;
	if (hr != NULL && hr->state == HR_DONE) {
		/* Resumed: a hashing thread has answered. */
		hr->state = HR_NEW;
		return http_reply(conn, hr);
	}
	if (hr != NULL && hr->state == HR_QUEUED)
		return MHD_YES;
	if (hr == NULL) {
		if ((hr = calloc(1, sizeof(*hr))) == NULL)
			return MHD_NO;
		*con_cls = hr;
		if (http_too_long(MHD_lookup_connection_value(conn,
		    MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH))) {
			hr->too_large = true;
			return http_answer(h, conn, url, method, hr);
		}
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		if (hr->too_large) {
			hr->discarded += *upload_data_size;
			*upload_data_size = 0;
			return hr->discarded > HTTP_DISCARD_MAX ? MHD_NO :
			    MHD_YES;
		}
		if (*upload_data_size > API_BODY_MAX - hr->len) {
			hr->too_large = true;
			hr->discarded = hr->len + *upload_data_size;
			*upload_data_size = 0;
			return MHD_YES;
		}
		if (hr->body == NULL &&
		    (hr->body = srv_wmalloc(API_BODY_MAX)) == NULL)
			return MHD_NO;
		memcpy(hr->body + hr->len, upload_data, *upload_data_size);
		hr->len += *upload_data_size;
		*upload_data_size = 0;
		return MHD_YES;
	}
	return http_answer(h, conn, url, method, hr);
}

static void
http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http_req *hr = *con_cls;

	(void)toe;
	/* Kept alive, the connection waits for its next request. */
	http_receiving(cls, conn, true);
	if (hr == NULL)
		return;
	api_resp_release(&hr->p);
	srv_wfree(hr->body);
	free(hr);
	*con_cls = NULL;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void
http_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_warn("http: %s", msg);
}
#pragma GCC diagnostic pop

int
http_start(const struct http_conf *conf, struct api *api, struct http **out)
{
	struct MHD_OptionItem opts[16];
	pthread_condattr_t ca;
	struct http *h;
	unsigned int flags;
	int n = 0;

	*out = NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		log_error("out of memory");
		return -1;
	}
	h->api = api;
	h->deadline = (int64_t)conf->timeout * 1000;
	h->lfd = conf->fd;	/* ours from here on */
	h->stop_fd[0] = h->stop_fd[1] = -1;
	h->max_conns = conf->max_conns;
	pthread_cond_init(&h->room, NULL);
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->wake, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&h->kdf_lock, NULL);
	pthread_cond_init(&h->kdf_wake, NULL);
	h->kdf_queue = conf->kdf_queue;
	/* Before the daemon: no request may be queued with no one to take it. */
	if ((h->kdf = calloc(conf->kdf_threads, sizeof(*h->kdf))) == NULL) {
		log_error("out of memory");
		http_stop(h);
		return -1;
	}
	for (; h->kdf_started < conf->kdf_threads; h->kdf_started++) {
		if (pthread_create(&h->kdf[h->kdf_started], NULL,
		    http_kdf_main, h) != 0) {
			log_error("cannot start a password-hashing thread");
			http_stop(h);
			return -1;
		}
	}
	/*
	 * The ticket key: random, made at each start, in guarded memory,
	 * never written anywhere (a restart makes clients do one full
	 * handshake again).
	 */
	if (conf->tls_cert != NULL) {
		if ((h->ticket_key.data = srv_secret_alloc(
		    HTTP_TICKET_KEY_LEN)) == NULL) {
			log_error("out of memory");
			http_stop(h);
			return -1;
		}
		srv_random(h->ticket_key.data, HTTP_TICKET_KEY_LEN);
		h->ticket_key.size = HTTP_TICKET_KEY_LEN;
	}
	if (pipe(h->stop_fd) == -1 ||
	    fcntl(h->stop_fd[0], F_SETFD, FD_CLOEXEC) == -1 ||
	    fcntl(h->stop_fd[1], F_SETFD, FD_CLOEXEC) == -1 ||
	    fcntl(h->lfd, F_SETFL, fcntl(h->lfd, F_GETFL) | O_NONBLOCK) ==
	    -1) {
		log_error("http: %s", strerror(errno));
		http_stop(h);
		return -1;
	}
	/*
	 * Connections come from http_acceptor (MHD_add_connection).  poll,
	 * not epoll: with epoll, libmicrohttpd 0.9.75 calls GnuTLS's
	 * handshake again and again while it waits for the client's next
	 * flight (44 failed reads in one TLS 1.3 handshake; ~3 ms of CPU a
	 * new connection, against ~0.4 with poll).
	 */
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
	    MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
	    MHD_USE_NO_LISTEN_SOCKET;
	if (conf->tls_cert != NULL)
		flags |= MHD_USE_TLS;
#define OPT(o, v, p) opts[n++] = (struct MHD_OptionItem){ (o), (v), (p) }
	if (conf->threads > 1)
		OPT(MHD_OPTION_THREAD_POOL_SIZE, conf->threads, NULL);
	OPT(MHD_OPTION_CONNECTION_TIMEOUT, conf->timeout, NULL);
	/* Never reached: http_acceptor keeps to conf->max_conns. */
	OPT(MHD_OPTION_CONNECTION_LIMIT, conf->max_conns *
	    (conf->threads > 1 ? conf->threads : 1), NULL);
	OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT, conf->max_per_ip, NULL);
	OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL);
	OPT(MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)http_completed, h);
	OPT(MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)http_notify, h);
	OPT(MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, NULL);
	if (conf->tls_cert != NULL) {
		OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)conf->tls_cert);
		OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)conf->tls_key);
		OPT(MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)HTTP_TLS_PRIORITIES);
	}
	OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
	/* The logger must come first, or MHD logs the rest on its own. */
	h->d = MHD_start_daemon(flags, 0, NULL, NULL, http_access, h,
	    MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, NULL,
	    MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (h->d == NULL) {
		log_error("cannot start the HTTP server (see above)");
		http_stop(h);
		return -1;
	}
	if (pthread_create(&h->reaper, NULL, http_reaper, h) != 0) {
		log_error("cannot start the slow-client reaper thread");
		http_stop(h);
		return -1;
	}
	h->reaping = true;
	if (pthread_create(&h->acceptor, NULL, http_acceptor, h) != 0) {
		log_error("cannot start the accepting thread");
		http_stop(h);
		return -1;
	}
	h->accepting = true;
	*out = h;
	return 0;
}

void
http_stop(struct http *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_cond_signal(&h->wake);
	pthread_cond_signal(&h->room);
	pthread_mutex_unlock(&h->lock);
	if (h->accepting) {
		(void)write(h->stop_fd[1], "", 1);
		pthread_join(h->acceptor, NULL);
	}
	if (h->reaping)
		pthread_join(h->reaper, NULL);
	/*
	 * The hashing threads answer what is queued (503) and resume every
	 * connection they hold: MHD must have none suspended when it stops.
	 */
	pthread_mutex_lock(&h->kdf_lock);
	h->kdf_stop = true;
	pthread_cond_broadcast(&h->kdf_wake);
	pthread_mutex_unlock(&h->kdf_lock);
	while (h->kdf_started > 0)
		pthread_join(h->kdf[--h->kdf_started], NULL);
	free(h->kdf);
	/* Closes every connection: http_notify frees their records. */
	if (h->d != NULL)
		MHD_stop_daemon(h->d);
	srv_secret_free(h->ticket_key.data);
	pthread_cond_destroy(&h->kdf_wake);
	pthread_mutex_destroy(&h->kdf_lock);
	pthread_cond_destroy(&h->wake);
	pthread_cond_destroy(&h->room);
	pthread_mutex_destroy(&h->lock);
	if (h->stop_fd[0] != -1)
		close(h->stop_fd[0]);
	if (h->stop_fd[1] != -1)
		close(h->stop_fd[1]);
	if (h->lfd != -1)
		close(h->lfd);
	free(h);
}
