/* SPDX-License-Identifier: ISC */
/*
 * srv_opts: cofferd's options, from the command line and from a config
 * file of "key = value" lines (the keys are the long option names without
 * the dashes; "#" starts a comment).  An option given on the command line
 * wins over the file.  See docs/man/cofferd.8.
 */
#ifndef COFFERD_SRV_OPTS_H_
#define COFFERD_SRV_OPTS_H_

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define SRV_DEFAULT_LISTEN	"127.0.0.1:8443"
#define SRV_DEFAULT_DB		"sqlite:/var/lib/cofferd/cofferd.db"
#define SRV_DEFAULT_TTL		(30 * 24 * 3600)
#define SRV_DEFAULT_FRESH	600
#define SRV_DEFAULT_TIMEOUT	30
#define SRV_DEFAULT_REG_LIMIT	5	/* API_REGISTER_LIMIT */
#define SRV_DEFAULT_KDF_QUEUE	64
#define SRV_ERRLEN		512

struct srv_opts {
	char	*config;
	char	*listen;
	char	*tls_cert;
	char	*tls_key;
	char	*db;
	char	*master_key_file;
	char	*user;
	char	*init_master_key;
	char	*keyholder_user;
	char	*add_account;		/* --add-account NAME */
	char	*password_file;
	bool	 insecure_http;
	bool	 no_console;		/* --no-console */
	bool	 registration_open;
	int	 register_limit;
	unsigned int kdf_threads;
	unsigned int kdf_queue;
	int64_t	 session_ttl;
	int64_t	 fresh_auth;		/* seconds, see --fresh-auth */
	unsigned int threads;
	unsigned int timeout;		/* seconds, see --timeout */
	bool	 help;
	bool	 version;
};

/*
 * srv_opts_parse(argc, argv, o, err): fill ${o} from the command line and
 * the config file it names, then the defaults.  0, or -1 with a message
 * in ${err} (a usage error: exit 2).  Free with srv_opts_release().
 */
int srv_opts_parse(int argc, char **argv, struct srv_opts *o,
    char err[SRV_ERRLEN]) __attribute__((warn_unused_result));
void srv_opts_release(struct srv_opts *o);

/* The usage text (for --help and usage errors). */
extern const char srv_usage[];

/* A listen address: "IPV4:PORT", "[IPV6]:PORT" or "localhost:PORT". */
struct srv_addr {
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	bool			 loopback;
};

/* srv_addr_parse(s, a, err): 0, or -1 with a message in ${err}. */
int srv_addr_parse(const char *s, struct srv_addr *a, char err[SRV_ERRLEN])
    __attribute__((warn_unused_result));

#endif /* !COFFERD_SRV_OPTS_H_ */
