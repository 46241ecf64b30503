/* SPDX-License-Identifier: ISC */
/*
 * http: cofferd's libmicrohttpd front end, the only file that includes
 * <microhttpd.h>.  It owns the connection limits, timeouts, TLS and the
 * request body cap, and hands each complete request to api_handle().
 */
#ifndef COFFERD_HTTP_H_
#define COFFERD_HTTP_H_

#include <stdbool.h>
#include <stddef.h>

struct api;
struct http;

struct http_conf {
	int		 fd;		/* a bound, listening socket */
	unsigned int	 threads;	/* thread pool size */
	const char	*tls_cert;	/* PEM text; NULL: plain HTTP */
	const char	*tls_key;	/* PEM text */
	unsigned int	 timeout;	/* seconds idle, or for a whole
					   request (see http.c) */
	unsigned int	 max_conns;
	unsigned int	 max_per_ip;
	unsigned int	 kdf_threads;	/* password-hashing threads, >= 1 */
	unsigned int	 kdf_queue;	/* requests waiting for them */
};

/*
 * http_start(conf, api, &h): serve ${conf->fd} (which ${h} then owns)
 * until http_stop().  0, or -1 (logged).
 */
int http_start(const struct http_conf *conf, struct api *api,
    struct http **out) __attribute__((warn_unused_result));
/* http_stop(h): stop accepting, finish, free; NULL is a no-op. */
void http_stop(struct http *h);

#endif /* !COFFERD_HTTP_H_ */
