/* SPDX-License-Identifier: ISC */
/* srv_opts: the command line and the config file (srv_opts.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "srv_opts.h"

#define CONF_LINE_MAX	4096
#define TTL_MAX		(10LL * 365 * 24 * 3600)
#define THREADS_MAX	256
#define TIMEOUT_MAX	3600
#define KDF_THREADS_MAX	64
#define KDF_QUEUE_MAX	4096
#define REG_LIMIT_MAX	1000000
#define FRESH_MAX	86400

const char srv_usage[] =
    "usage: cofferd [--config FILE] [--listen ADDR:PORT] [--tls-cert FILE]\n"
    "               [--tls-key FILE] [--db URL] [--master-key-file FILE]\n"
    "               [--insecure-http] [--session-ttl SECONDS] [--threads N]\n"
    "               [--timeout SECONDS] [--user NAME] [--fresh-auth SECONDS]\n"
    "               [--keyholder-user NAME]\n"
    "               [--registration open|closed] [--register-limit N]\n"
    "               [--kdf-threads N] [--kdf-queue N] [--no-console]\n"
    "       cofferd --add-account NAME [--password-file FILE] [--db URL]\n"
    "       cofferd --init-master-key FILE\n"
    "       cofferd --help | --version\n"
    "\n"
    "  --config FILE           read options from FILE (\"key = value\"; the\n"
    "                          command line wins)\n"
    "  --listen ADDR:PORT      address to serve (default " SRV_DEFAULT_LISTEN
    ";\n"
    "                          [::1]:PORT for IPv6)\n"
    "  --tls-cert FILE         PEM certificate (chain) for HTTPS\n"
    "  --tls-key FILE          PEM private key for HTTPS\n"
    "  --db URL                sqlite:PATH or postgres://... (default\n"
    "                          " SRV_DEFAULT_DB ")\n"
    "  --master-key-file FILE  the master key (mode 0600; read only by the\n"
    "                          key holder process)\n"
    "  --insecure-http         plain HTTP; only on a loopback address\n"
    "  --session-ttl SECONDS   session lifetime (default 2592000, 30 days)\n"
    "  --fresh-auth SECONDS    how long the account password (fresh proof)\n"
    "                          counts for release, unwrap, destroy and\n"
    "                          account changes (default 600)\n"
    "  --threads N             HTTP worker threads (default: 16 per CPU)\n"
    "  --timeout SECONDS       close a connection idle that long, or whose\n"
    "                          request is not in whole that long after it\n"
    "                          opened or after the previous answer\n"
    "                          (default 30)\n"
    "  --user NAME             started as root (required then): serve as NAME\n"
    "                          after binding; NAME must not be able to read\n"
    "                          the master key file\n"
    "  --keyholder-user NAME   started as root: the key holder runs as NAME\n"
    "                          (default: the owner of the master key file;\n"
    "                          never root, never the --user)\n"
    "  --registration open|closed\n"
    "                          closed: POST /v1/accounts answers 403 and\n"
    "                          accounts are made with --add-account\n"
    "                          (default open)\n"
    "  --register-limit N      registrations per source address in 15\n"
    "                          minutes (default 5)\n"
    "  --kdf-threads N         password hashes (Argon2id) at once (default:\n"
    "                          half the CPUs, 1..8)\n"
    "  --kdf-queue N           logins and registrations waiting for them;\n"
    "                          more are answered 503 (default 64)\n"
    "  --no-console            no web console: /account/ answers 404\n"
    "  --add-account NAME      make the account NAME in the --db and exit;\n"
    "                          the password from --password-file FILE (its\n"
    "                          first line) or the terminal\n"
    "  --init-master-key FILE  write a new random master key to FILE (0600)\n"
    "                          and exit; never overwrites\n"
    "  --help                  this text\n"
    "  --version               the version\n";

enum {
	O_CONFIG = 256, O_LISTEN, O_TLS_CERT, O_TLS_KEY, O_DB, O_MASTER,
	O_INSECURE, O_TTL, O_THREADS, O_TIMEOUT, O_USER, O_FRESH, O_INIT,
	O_KHUSER,
	O_REGISTRATION, O_REGLIMIT, O_KDF_THREADS, O_KDF_QUEUE, O_ADD_ACCOUNT,
	O_PWFILE, O_NO_CONSOLE, O_HELP, O_VERSION,
};

#define ARG	required_argument
#define NOARG	no_argument
static const struct option longopts[] = {
	{ "config",		ARG,	NULL, O_CONFIG },
	{ "listen",		ARG,	NULL, O_LISTEN },
	{ "tls-cert",		ARG,	NULL, O_TLS_CERT },
	{ "tls-key",		ARG,	NULL, O_TLS_KEY },
	{ "db",			ARG,	NULL, O_DB },
	{ "master-key-file",	ARG,	NULL, O_MASTER },
	{ "insecure-http",	NOARG,	NULL, O_INSECURE },
	{ "session-ttl",	ARG,	NULL, O_TTL },
	{ "threads",		ARG,	NULL, O_THREADS },
	{ "timeout",		ARG,	NULL, O_TIMEOUT },
	{ "user",		ARG,	NULL, O_USER },
	{ "fresh-auth",		ARG,	NULL, O_FRESH },
	{ "init-master-key",	ARG,	NULL, O_INIT },
	{ "keyholder-user",	ARG,	NULL, O_KHUSER },
	{ "registration",	ARG,	NULL, O_REGISTRATION },
	{ "register-limit",	ARG,	NULL, O_REGLIMIT },
	{ "kdf-threads",	ARG,	NULL, O_KDF_THREADS },
	{ "kdf-queue",		ARG,	NULL, O_KDF_QUEUE },
	{ "add-account",	ARG,	NULL, O_ADD_ACCOUNT },
	{ "password-file",	ARG,	NULL, O_PWFILE },
	{ "no-console",		NOARG,	NULL, O_NO_CONSOLE },
	{ "help",		NOARG,	NULL, O_HELP },
	{ "version",		NOARG,	NULL, O_VERSION },
	{ NULL,			0,	NULL, 0 },
};
#undef ARG
#undef NOARG

/* What was given, before defaults; NULL fields were not given. */
struct given {
	char	*v[O_VERSION - O_CONFIG + 1];
};

static int
parse_num(const char *s, int64_t min, int64_t max, int64_t *out)
{
	int64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (max - (*s - '0')) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	if (v < min)
		return -1;
	*out = v;
	return 0;
}

static int
parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "yes") == 0 || strcmp(s, "true") == 0 ||
	    strcmp(s, "1") == 0 || strcmp(s, "on") == 0)
		*out = true;
	else if (strcmp(s, "no") == 0 || strcmp(s, "false") == 0 ||
	    strcmp(s, "0") == 0 || strcmp(s, "off") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

/* Record ${val} for option ${id} unless it is already set. */
static int
given_set(struct given *g, int id, const char *val, bool replace,
    char err[SRV_ERRLEN])
{
	char **slot = &g->v[id - O_CONFIG];

	if (*slot != NULL && !replace)
		return 0;
	free(*slot);
	if ((*slot = strdup(val)) == NULL) {
		snprintf(err, SRV_ERRLEN, "out of memory");
		return -1;
	}
	return 0;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
	    e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Options that make no sense in a file. */
static bool
file_allowed(int id)
{
	return id != O_CONFIG && id != O_INIT && id != O_HELP &&
	    id != O_VERSION && id != O_ADD_ACCOUNT && id != O_PWFILE;
}

static int
read_config(const char *path, struct given *g, char err[SRV_ERRLEN])
{
	char line[CONF_LINE_MAX];
	char *key, *val, *eq;
	const struct option *lo;
	FILE *f;
	int lineno = 0, r = -1;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, SRV_ERRLEN, "cannot open config file '%s': %s",
		    path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, SRV_ERRLEN, "%s:%d: line too long", path,
			    lineno);
			goto out;
		}
		key = trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		if ((eq = strchr(key, '=')) == NULL) {
			snprintf(err, SRV_ERRLEN, "%s:%d: expected "
			    "'key = value'", path, lineno);
			goto out;
		}
		*eq = '\0';
		key = trim(key);
		val = trim(eq + 1);
		for (lo = longopts; lo->name != NULL; lo++)
			if (strcmp(lo->name, key) == 0)
				break;
		if (lo->name == NULL || !file_allowed(lo->val)) {
			snprintf(err, SRV_ERRLEN, "%s:%d: unknown option '%s'",
			    path, lineno, key);
			goto out;
		}
		if (lo->has_arg == no_argument) {
			bool b;

			if (parse_bool(val, &b) != 0) {
				snprintf(err, SRV_ERRLEN, "%s:%d: '%s' wants "
				    "yes or no", path, lineno, key);
				goto out;
			}
			if (!b)
				continue;
			val = "1";
		} else if (*val == '\0') {
			snprintf(err, SRV_ERRLEN, "%s:%d: '%s' needs a value",
			    path, lineno, key);
			goto out;
		}
		/* The command line wins: keep what it set. */
		if (given_set(g, lo->val, val, false, err) != 0)
			goto out;
	}
	if (ferror(f)) {
		snprintf(err, SRV_ERRLEN, "cannot read config file '%s'", path);
		goto out;
	}
	r = 0;
out:
	fclose(f);
	return r;
}

static char *
take(struct given *g, int id, const char *dflt, char err[SRV_ERRLEN],
    bool *oom)
{
	char *v = g->v[id - O_CONFIG];

	g->v[id - O_CONFIG] = NULL;
	if (v == NULL && dflt != NULL && (v = strdup(dflt)) == NULL) {
		snprintf(err, SRV_ERRLEN, "out of memory");
		*oom = true;
	}
	return v;
}

int
srv_opts_parse(int argc, char **argv, struct srv_opts *o,
    char err[SRV_ERRLEN])
{
	struct given g;
	int64_t v;
	long cpus;
	bool oom = false;
	int ch, r = -1;
	size_t i;

	memset(o, 0, sizeof(*o));
	memset(&g, 0, sizeof(g));
	err[0] = '\0';
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch < O_CONFIG || ch > O_VERSION) {
			if (optopt >= O_CONFIG && optopt <= O_VERSION)
				snprintf(err, SRV_ERRLEN, "option '%s' needs a "
				    "value", argv[optind - 1]);
			else
				snprintf(err, SRV_ERRLEN, "unknown option '%s'",
				    argv[optind - 1]);
			goto out;
		}
		if (given_set(&g, ch, optarg != NULL ? optarg : "1", true,
		    err) != 0)
			goto out;
	}
	if (optind != argc) {
		snprintf(err, SRV_ERRLEN, "unexpected argument '%s'",
		    argv[optind]);
		goto out;
	}
	o->help = g.v[O_HELP - O_CONFIG] != NULL;
	o->version = g.v[O_VERSION - O_CONFIG] != NULL;
	if (o->help || o->version) {
		r = 0;
		goto out;
	}
	if (g.v[O_CONFIG - O_CONFIG] != NULL &&
	    read_config(g.v[O_CONFIG - O_CONFIG], &g, err) != 0)
		goto out;

	o->config = take(&g, O_CONFIG, NULL, err, &oom);
	o->listen = take(&g, O_LISTEN, SRV_DEFAULT_LISTEN, err, &oom);
	o->tls_cert = take(&g, O_TLS_CERT, NULL, err, &oom);
	o->tls_key = take(&g, O_TLS_KEY, NULL, err, &oom);
	o->db = take(&g, O_DB, SRV_DEFAULT_DB, err, &oom);
	o->master_key_file = take(&g, O_MASTER, NULL, err, &oom);
	o->user = take(&g, O_USER, NULL, err, &oom);
	o->init_master_key = take(&g, O_INIT, NULL, err, &oom);
	o->keyholder_user = take(&g, O_KHUSER, NULL, err, &oom);
	o->add_account = take(&g, O_ADD_ACCOUNT, NULL, err, &oom);
	o->password_file = take(&g, O_PWFILE, NULL, err, &oom);
	if (oom)
		goto out;
	o->insecure_http = g.v[O_INSECURE - O_CONFIG] != NULL;
	o->no_console = g.v[O_NO_CONSOLE - O_CONFIG] != NULL;

	o->session_ttl = SRV_DEFAULT_TTL;
	if (g.v[O_TTL - O_CONFIG] != NULL) {
		if (parse_num(g.v[O_TTL - O_CONFIG], 1, TTL_MAX, &v) != 0) {
			snprintf(err, SRV_ERRLEN, "--session-ttl wants seconds "
			    "from 1 to %lld", (long long)TTL_MAX);
			goto out;
		}
		o->session_ttl = v;
	}
	o->fresh_auth = SRV_DEFAULT_FRESH;
	if (g.v[O_FRESH - O_CONFIG] != NULL) {
		if (parse_num(g.v[O_FRESH - O_CONFIG], 1, FRESH_MAX, &v) != 0) {
			snprintf(err, SRV_ERRLEN, "--fresh-auth wants seconds "
			    "from 1 to %d", FRESH_MAX);
			goto out;
		}
		o->fresh_auth = v;
	}
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	/*
	 * A worker waiting for its group commit (store_group.c) holds its
	 * connections but no CPU: enough of them keep the groups full.
	 */
	o->threads = cpus < 1 ? 16 : cpus > 16 ? 256 : (unsigned int)cpus * 16;
	if (g.v[O_THREADS - O_CONFIG] != NULL) {
		if (parse_num(g.v[O_THREADS - O_CONFIG], 1, THREADS_MAX,
		    &v) != 0) {
			snprintf(err, SRV_ERRLEN, "--threads wants a number "
			    "from 1 to %d", THREADS_MAX);
			goto out;
		}
		o->threads = (unsigned int)v;
	}
	o->registration_open = true;
	if (g.v[O_REGISTRATION - O_CONFIG] != NULL) {
		if (strcmp(g.v[O_REGISTRATION - O_CONFIG], "closed") == 0)
			o->registration_open = false;
		else if (strcmp(g.v[O_REGISTRATION - O_CONFIG], "open") != 0) {
			snprintf(err, SRV_ERRLEN, "--registration wants open "
			    "or closed");
			goto out;
		}
	}
	o->register_limit = SRV_DEFAULT_REG_LIMIT;
	if (g.v[O_REGLIMIT - O_CONFIG] != NULL) {
		if (parse_num(g.v[O_REGLIMIT - O_CONFIG], 1, REG_LIMIT_MAX,
		    &v) != 0) {
			snprintf(err, SRV_ERRLEN, "--register-limit wants a "
			    "number from 1 to %d", REG_LIMIT_MAX);
			goto out;
		}
		o->register_limit = (int)v;
	}
	/* Half the CPUs: the other half serve everything else. */
	o->kdf_threads = cpus < 4 ? 1 : cpus > 16 ? 8 : (unsigned int)cpus / 2;
	if (g.v[O_KDF_THREADS - O_CONFIG] != NULL) {
		if (parse_num(g.v[O_KDF_THREADS - O_CONFIG], 1,
		    KDF_THREADS_MAX, &v) != 0) {
			snprintf(err, SRV_ERRLEN, "--kdf-threads wants a "
			    "number from 1 to %d", KDF_THREADS_MAX);
			goto out;
		}
		o->kdf_threads = (unsigned int)v;
	}
	o->kdf_queue = SRV_DEFAULT_KDF_QUEUE;
	if (g.v[O_KDF_QUEUE - O_CONFIG] != NULL) {
		if (parse_num(g.v[O_KDF_QUEUE - O_CONFIG], 0, KDF_QUEUE_MAX,
		    &v) != 0) {
			snprintf(err, SRV_ERRLEN, "--kdf-queue wants a number "
			    "from 0 to %d", KDF_QUEUE_MAX);
			goto out;
		}
		o->kdf_queue = (unsigned int)v;
	}
	o->timeout = SRV_DEFAULT_TIMEOUT;
	if (g.v[O_TIMEOUT - O_CONFIG] != NULL) {
		if (parse_num(g.v[O_TIMEOUT - O_CONFIG], 1, TIMEOUT_MAX,
		    &v) != 0) {
			snprintf(err, SRV_ERRLEN, "--timeout wants seconds "
			    "from 1 to %d", TIMEOUT_MAX);
			goto out;
		}
		o->timeout = (unsigned int)v;
	}
	r = 0;
out:
	for (i = 0; i < sizeof(g.v) / sizeof(g.v[0]); i++)
		free(g.v[i]);
	if (r != 0)
		srv_opts_release(o);
	return r;
}

void
srv_opts_release(struct srv_opts *o)
{
	free(o->config);
	free(o->listen);
	free(o->tls_cert);
	free(o->tls_key);
	free(o->db);
	free(o->master_key_file);
	free(o->user);
	free(o->init_master_key);
	free(o->keyholder_user);
	free(o->add_account);
	free(o->password_file);
	memset(o, 0, sizeof(*o));
}

int
srv_addr_parse(const char *s, struct srv_addr *a, char err[SRV_ERRLEN])
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;
	char host[64];
	const char *colon, *hs, *he;
	int64_t port;

	memset(a, 0, sizeof(*a));
	if (s[0] == '[') {
		hs = s + 1;
		if ((he = strchr(hs, ']')) == NULL || he[1] != ':')
			goto bad;
		colon = he + 1;
	} else {
		hs = s;
		if ((colon = strrchr(s, ':')) == NULL)
			goto bad;
		he = colon;
	}
	if ((size_t)(he - hs) >= sizeof(host) || he == hs)
		goto bad;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	if (parse_num(colon + 1, 0, 65535, &port) != 0)
		goto bad;
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (s[0] != '[' && inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		a->len = sizeof(*s4);
		a->loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
		return 0;
	}
	if (s[0] == '[' && inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*s6);
		a->loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
		    (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) &&
		    s6->sin6_addr.s6_addr[12] == 127);
		return 0;
	}
bad:
	snprintf(err, SRV_ERRLEN, "bad listen address '%s' (want IPV4:PORT, "
	    "[IPV6]:PORT or localhost:PORT)", s);
	return -1;
}
