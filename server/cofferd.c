/* SPDX-License-Identifier: ISC */
/*
 * cofferd: the coffer key escrow server (docs/PROTOCOL.md, cofferd(8)).
 *
 * Start-up order matters for privilege separation:
 *   1. parse options; --init-master-key writes a key and exits;
 *   2. fork the key holder (keyholder.h) before anything secret or any
 *      thread exists, so the child inherits nothing of the front end's
 *      and the front end never opens the master key file; started as
 *      root, the key holder becomes another user than the front end
 *      (--keyholder-user, by default the master key file's owner) before
 *      it opens the file;
 *   3. read the TLS files, bind the listening socket, then (as root,
 *      which needs --user) drop to the service user, and check that it
 *      cannot open the master key file;
 *   4. open the database, start the HTTP thread pool, and wait for a
 *      signal: SIGTERM or SIGINT stops, SIGCHLD means the key holder died
 *      (every key operation answers 503 from then on).  Between signals,
 *      at start and every EXPIRE_EVERY seconds, the main thread deletes
 *      expired sessions and old failed logins (expire()), off every
 *      request's path.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "coffer/coffer.h"
#include "api.h"
#include "http.h"
#include "keyholder.h"
#include "srv_crypto.h"
#include "srv_log.h"
#include "srv_opts.h"
#include "store.h"

#define EXIT_USAGE		2
#define TLS_FILE_MAX		(1024 * 1024)
#define HTTP_MAX_CONNS		1024
#define HTTP_MAX_PER_IP		64
#define EXPIRE_EVERY		600	/* s: expire() */
#define PASSWORD_MIN		8	/* as POST /v1/accounts */
#define PASSWORD_MAX		1024

/* Write a new master key to ${path}: 64 hex digits and a newline, 0600. */
static int
init_master_key(const char *path)
{
	uint8_t key[32];
	char hex[sizeof(key) * 2 + 2];
	int fd, r = -1;
	size_t i;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1) {
		if (errno == EEXIST)
			log_error("'%s' exists; refusing to overwrite a master "
			    "key", path);
		else if (errno == ENOENT)
			log_error("cannot create '%s': the folder it goes in "
			    "does not exist (make it first, readable by the "
			    "key holder only: install -d -m 700 FOLDER)", path);
		else
			log_error("cannot create '%s': %s", path,
			    strerror(errno));
		return -1;
	}
	srv_random(key, sizeof(key));
	for (i = 0; i < sizeof(key); i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	hex[2 * sizeof(key)] = '\n';
	if (fchmod(fd, 0600) == -1 ||
	    write(fd, hex, 2 * sizeof(key) + 1) != 2 * sizeof(key) + 1 ||
	    fsync(fd) == -1) {
		log_error("cannot write '%s': %s", path, strerror(errno));
		(void)unlink(path);
		goto out;
	}
	log_info("wrote a new master key to '%s'; keep a copy somewhere safe: "
	    "without it no escrowed key can be released", path);
	r = 0;
out:
	srv_wipe(key, sizeof(key));
	srv_wipe(hex, sizeof(hex));
	close(fd);
	return r;
}

/* Read a PEM file (NUL-terminated) into wiping memory. */
static char *
read_pem(const char *path)
{
	char *buf = NULL;
	struct stat sb;
	size_t got = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_error("cannot open '%s': %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > TLS_FILE_MAX) {
		log_error("'%s' is not a regular file of at most 1 MiB", path);
		goto fail;
	}
	if ((buf = srv_wmalloc((size_t)sb.st_size + 1)) == NULL) {
		log_error("out of memory");
		goto fail;
	}
	while (got < (size_t)sb.st_size) {
		n = read(fd, buf + got, (size_t)sb.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_error("cannot read '%s'", path);
			goto fail;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fd);
	return buf;
fail:
	srv_wfree(buf);
	close(fd);
	return NULL;
}

/* Bind and listen; the socket, or -1 (logged). */
static int
listen_on(const struct srv_addr *a, char *shown, size_t shownlen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN];
	int fd, one = 1;
	unsigned int port;

	if ((fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC,
	    0)) == -1) {
		log_error("socket: %s", strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		    sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1 ||
	    listen(fd, 128) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) == -1) {
		log_error("cannot listen on the address: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
		    host, sizeof(host));
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		snprintf(shown, shownlen, "[%s]:%u", host, port);
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
		    host, sizeof(host));
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		snprintf(shown, shownlen, "%s:%u", host, port);
	}
	return fd;
}

/*
 * The connection limit, fitted to the descriptor limit: connections must
 * run out before descriptors do.  Out of descriptors, libmicrohttpd's
 * accept() fails with EMFILE, and a worker thread of the pool that holds
 * no connection then busy-waits, logging every turn (millions of lines a
 * second).  So raise the soft RLIMIT_NOFILE up to what ${want}
 * connections and a reserve (database, key holder, the pool's epoll and
 * wake-up descriptors) need, as far as the hard limit allows, and serve
 * fewer connections if it is still short.
 */
static unsigned int
fit_connections(unsigned int want, unsigned int threads)
{
	struct rlimit rl;
	rlim_t reserve = 32 + 2 * (rlim_t)threads;
	rlim_t need = want + reserve;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 ||
	    rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return want;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need ?
	    rl.rlim_max : need;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
		return want;
	want = rl.rlim_cur > reserve + 16 ? (unsigned int)(rl.rlim_cur -
	    reserve) : 16;
	log_warn("only %llu file descriptors (ulimit -n): serving at most %u "
	    "connections at once", (unsigned long long)rl.rlim_cur, want);
	return want;
}

/*
 * no_core_dumps(): the front end holds TLS private keys, session tokens
 * and account passwords in flight: no core file (RLIMIT_CORE 0, soft and
 * hard, inherited by the key holder) and not dumpable (no ptrace attach
 * or /proc/PID/mem by our uid).  A change of uid resets the dumpable
 * flag, so drop_privileges() calls this again.
 */
static void
no_core_dumps(void)
{
	struct rlimit rl = { 0, 0 };

	(void)setrlimit(RLIMIT_CORE, &rl);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static int
drop_privileges(uid_t uid, gid_t gid, const char *user)
{
	if (setgroups(0, NULL) == -1 || setgid(gid) == -1 ||
	    setuid(uid) == -1) {
		log_error("cannot switch to user '%s': %s", user,
		    strerror(errno));
		return -1;
	}
	if (uid != 0 && setuid(0) != -1) {
		log_error("could regain root after switching to '%s'", user);
		return -1;
	}
	no_core_dumps();
	return 0;
}

/* Seconds on CLOCK_MONOTONIC (the expiry schedule ignores clock steps). */
static int64_t
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/*
 * Delete expired sessions and failed logins outside the window
 * (api_expire).  A failure is logged and otherwise ignored: the rows
 * stay until the next turn, and serving goes on.
 */
static void
expire(struct api *api)
{
	char err[STORE_ERRLEN] = "";
	int64_t ns = 0, nf = 0;

	if (api_expire(api, (int64_t)time(NULL), &ns, &nf, err) != 0)
		log_warn("expiry failed (will retry in %d s): %s",
		    EXPIRE_EVERY, err);
	if (ns > 0 || nf > 0)
		log_info("removed %lld expired session%s and %lld failed "
		    "login%s outside the window", (long long)ns,
		    ns == 1 ? "" : "s", (long long)nf, nf == 1 ? "" : "s");
}

/*
 * Read one line (without its newline) of at most PASSWORD_MAX bytes from
 * ${f} into ${buf}; its length, or -1.
 */
static ssize_t
read_password_line(FILE *f, char buf[PASSWORD_MAX + 2])
{
	size_t n;

	if (fgets(buf, PASSWORD_MAX + 2, f) == NULL)
		return -1;
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (n > PASSWORD_MAX)
		return -1;
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return (ssize_t)n;
}

/* Ask the terminal for a line without echo; its length, or -1. */
static ssize_t
ask_password(FILE *tty, const char *prompt, char buf[PASSWORD_MAX + 2])
{
	struct termios old, quiet;
	ssize_t n;
	bool echo_off;

	fputs(prompt, tty);
	fflush(tty);
	echo_off = tcgetattr(fileno(tty), &old) == 0;
	if (echo_off) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		(void)tcsetattr(fileno(tty), TCSANOW, &quiet);
	}
	n = read_password_line(tty, buf);
	if (echo_off)
		(void)tcsetattr(fileno(tty), TCSANOW, &old);
	fputc('\n', tty);
	return n;
}

/*
 * cofferd --add-account NAME: the password from ${pwfile} (its first
 * line) or the terminal (twice), hashed as a registration would, and the
 * account made in ${db}, as ${user} (${uid}, ${gid}) unless ${uid} is
 * (uid_t)-1: the password is read first, so its file may be root's, and
 * the database is opened after the switch, so it stays the service's.
 * The exit status.
 */
static int
add_account(const char *name, const char *pwfile, const char *db,
    uid_t uid, gid_t gid, const char *user)
{
	char pw[PASSWORD_MAX + 2], again[PASSWORD_MAX + 2];
	char hash[SRV_PWHASH_STRLEN], serr[STORE_ERRLEN] = "";
	struct store_event ev;
	struct store *st = NULL;
	FILE *f;
	ssize_t n;
	int r, ret = 1;

	if (!api_valid_account(name, strlen(name))) {
		fprintf(stderr, "cofferd: '%s' is not an account name (1 to "
		    "128 bytes of printable text without leading or trailing "
		    "spaces)\n", name);
		return EXIT_USAGE;
	}
	if (pwfile != NULL) {
		if ((f = fopen(pwfile, "re")) == NULL) {
			log_error("cannot open '%s': %s", pwfile,
			    strerror(errno));
			return 1;
		}
		n = read_password_line(f, pw);
		fclose(f);
	} else {
		if ((f = fopen("/dev/tty", "r+e")) == NULL) {
			fprintf(stderr, "cofferd: no terminal to ask for the "
			    "password: give --password-file FILE\n");
			return EXIT_USAGE;
		}
		n = ask_password(f, "Password for the new account: ", pw);
		if (n >= 0 && (ask_password(f, "Again: ", again) != n ||
		    strcmp(pw, again) != 0)) {
			fprintf(stderr, "cofferd: the passwords differ\n");
			n = -2;
		}
		fclose(f);
	}
	if (n == -1 || (n >= 0 && (n < PASSWORD_MIN || n > PASSWORD_MAX))) {
		fprintf(stderr, "cofferd: the password must be %d to %d "
		    "bytes on one line\n", PASSWORD_MIN, PASSWORD_MAX);
		goto out;
	}
	if (n < 0)
		goto out;
	if (srv_pwhash_str(hash, pw, (size_t)n) != 0) {
		log_error("password hash: out of memory");
		goto out;
	}
	if (uid != (uid_t)-1 && drop_privileges(uid, gid, user) != 0)
		goto out;
	if (store_open(db, &st, serr) != 0) {
		log_error("cannot open the database: %s", serr);
		goto out;
	}
	r = store_account_create(st, name, hash, (int64_t)time(NULL), serr);
	if (r == STORE_EEXIST) {
		log_error("the account '%s' exists", name);
		goto out;
	}
	if (r != 0) {
		log_error("cannot make the account: %s", serr);
		goto out;
	}
	memset(&ev, 0, sizeof(ev));
	ev.time = (int64_t)time(NULL);
	snprintf(ev.account, sizeof(ev.account), "%s", name);
	snprintf(ev.address, sizeof(ev.address), "operator");
	snprintf(ev.event, sizeof(ev.event), "register");
	ev.ok = 1;
	if (store_audit_add(st, &ev, serr) != 0)
		log_warn("audit log: %s", serr);
	log_info("made the account '%s'", name);
	ret = 0;
out:
	store_close(st);
	srv_wipe(pw, sizeof(pw));
	srv_wipe(again, sizeof(again));
	srv_wipe(hash, sizeof(hash));
	return ret;
}

/* The user ${name}: 0 with *uid and *gid, or -1 (reported). */
static int
lookup_user(const char *opt, const char *name, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	if ((pw = getpwnam(name)) == NULL) {
		fprintf(stderr, "cofferd: %s: no user '%s'\n", opt, name);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/*
 * Started as root: the key holder's user, from --keyholder-user or the
 * owner of the master key file; never root, never the front end's.
 */
static int
keyholder_user(const struct srv_opts *o, uid_t uid, uid_t *khuid,
    gid_t *khgid)
{
	struct passwd *pw;
	struct stat sb;

	if (o->keyholder_user != NULL) {
		if (lookup_user("--keyholder-user", o->keyholder_user, khuid,
		    khgid) != 0)
			return -1;
	} else {
		if (stat(o->master_key_file, &sb) != 0) {
			fprintf(stderr, "cofferd: cannot stat the master key "
			    "file '%s': %s\n", o->master_key_file,
			    strerror(errno));
			return -1;
		}
		*khuid = sb.st_uid;
		*khgid = (pw = getpwuid(sb.st_uid)) != NULL ? pw->pw_gid :
		    sb.st_gid;
	}
	if (*khuid == 0) {
		fprintf(stderr, "cofferd: refusing to run the key holder as "
		    "root: give --keyholder-user NAME, a user of its own that "
		    "owns the master key file (mode 0600)\n");
		return -1;
	}
	if (*khuid == uid) {
		fprintf(stderr, "cofferd: the key holder and the front end "
		    "would both run as uid %ld: the front end could then read "
		    "the master key file; give --keyholder-user another "
		    "user, owning the master key file\n", (long)uid);
		return -1;
	}
	return 0;
}

/*
 * After the switch to the service user: the front end must not be able
 * to open the master key file (privilege separation, PROTOCOL.md §9).
 */
static int
check_key_unreadable(const char *path, const char *user)
{
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1)
		return 0;
	close(fd);
	log_error("the service user '%s' can open the master key file '%s': "
	    "make it owned by the key holder's user, mode 0600, in a "
	    "directory '%s' cannot read", user, path, user);
	return -1;
}

int
main(int argc, char **argv)
{
	char err[SRV_ERRLEN], serr[STORE_ERRLEN] = "", shown[80];
	struct srv_opts o;
	struct srv_addr addr;
	struct http_conf hc;
	struct api api;
	struct http *http = NULL;
	struct store *st = NULL;
	struct kh *kh = NULL;
	char *cert = NULL, *key = NULL;
	const char *env;
	uid_t uid = (uid_t)-1, khuid = (uid_t)-1;
	gid_t gid = (gid_t)-1, khgid = (gid_t)-1;
	bool root;
	sigset_t set;
	struct timespec tmo;
	int64_t next;
	pid_t pid;
	int fd = -1, sig, status, ret = 1;

	/* Before any secret is read. */
	no_core_dumps();
	if (srv_opts_parse(argc, argv, &o, err) != 0) {
		fprintf(stderr, "cofferd: %s\n%s", err, srv_usage);
		return EXIT_USAGE;
	}
	if (o.help) {
		fputs(srv_usage, stdout);
		ret = 0;
		goto out;
	}
	if (o.version) {
		printf("cofferd %s\n", COFFER_VERSION);
		ret = 0;
		goto out;
	}
	if (srv_crypto_init() != 0) {
		log_error("libsodium does not start");
		goto out;
	}
	if (o.init_master_key != NULL) {
		ret = init_master_key(o.init_master_key) == 0 ? 0 : 1;
		goto out;
	}
	if ((env = getenv("COFFERD_INSECURE_FAST_KDF")) != NULL &&
	    strcmp(env, "1") == 0) {
		srv_pwhash_fast(true);
		log_warn("COFFERD_INSECURE_FAST_KDF=1: new password hashes use "
		    "minimum costs; for tests only");
	}

	/* As root, only to bind and to hand out the two users. */
	root = getuid() == 0 || geteuid() == 0;
	if (root && o.user == NULL && (env = getenv(
	    "COFFERD_TEST_ALLOW_ROOT")) != NULL && strcmp(env, "1") == 0) {
		log_warn("COFFERD_TEST_ALLOW_ROOT=1: serving as root without "
		    "--user; the front end can read the master key file; for "
		    "tests only");
		root = false;
	} else if (root && o.user == NULL) {
		fprintf(stderr, "cofferd: refusing to run as root: give --user "
		    "NAME (the front end serves as NAME) and let the key holder "
		    "run as another user that owns the master key file "
		    "(--keyholder-user; see cofferd(8))\n");
		ret = EXIT_USAGE;
		goto out;
	}
	if (o.user != NULL) {
		if (lookup_user("--user", o.user, &uid, &gid) != 0) {
			ret = EXIT_USAGE;
			goto out;
		}
		if (!root && uid != getuid()) {
			fprintf(stderr, "cofferd: --user needs root\n");
			ret = EXIT_USAGE;
			goto out;
		}
		if (root && uid == 0) {
			fprintf(stderr, "cofferd: refusing --user '%s': it is "
			    "root\n", o.user);
			ret = EXIT_USAGE;
			goto out;
		}
		if (!root)
			uid = (uid_t)-1;
	}
	if (o.keyholder_user != NULL && !root) {
		fprintf(stderr, "cofferd: --keyholder-user needs root\n");
		ret = EXIT_USAGE;
		goto out;
	}
	if (o.add_account != NULL) {
		ret = add_account(o.add_account, o.password_file, o.db, uid,
		    gid, o.user);
		goto out;
	}
	if (o.password_file != NULL) {
		fprintf(stderr, "cofferd: --password-file goes with "
		    "--add-account\n");
		ret = EXIT_USAGE;
		goto out;
	}

	/* Validate: every cross-option rule is here. */
	if (srv_addr_parse(o.listen, &addr, err) != 0) {
		fprintf(stderr, "cofferd: %s\n", err);
		ret = EXIT_USAGE;
		goto out;
	}
	if (o.master_key_file == NULL) {
		fprintf(stderr, "cofferd: no --master-key-file (make one with "
		    "cofferd --init-master-key FILE)\n");
		ret = EXIT_USAGE;
		goto out;
	}
	if (o.insecure_http) {
		if (!addr.loopback) {
			fprintf(stderr, "cofferd: refusing --insecure-http on "
			    "'%s': plain HTTP is only allowed on a loopback "
			    "address (127.0.0.0/8, [::1])\n", o.listen);
			ret = EXIT_USAGE;
			goto out;
		}
		if (o.tls_cert != NULL || o.tls_key != NULL) {
			fprintf(stderr, "cofferd: --insecure-http and "
			    "--tls-cert/--tls-key exclude each other\n");
			ret = EXIT_USAGE;
			goto out;
		}
	} else if (o.tls_cert == NULL || o.tls_key == NULL) {
		fprintf(stderr, "cofferd: HTTPS needs --tls-cert and --tls-key "
		    "(or --insecure-http on a loopback address, for tests)\n");
		ret = EXIT_USAGE;
		goto out;
	}
	if (root && keyholder_user(&o, uid, &khuid, &khgid) != 0) {
		ret = EXIT_USAGE;
		goto out;
	}

	umask(077);
	signal(SIGPIPE, SIG_IGN);

	/* 2. The key holder, before any secret or thread of ours. */
	if (kh_start(o.master_key_file, khuid, khgid, &kh, err,
	    sizeof(err)) != 0) {
		log_error("%s", err);
		goto out;
	}
	log_info("key holder started (pid %ld)", (long)kh_pid(kh));

	/* 3. TLS files, the socket, then the service user. */
	if (!o.insecure_http && ((cert = read_pem(o.tls_cert)) == NULL ||
	    (key = read_pem(o.tls_key)) == NULL))
		goto out;
	if ((fd = listen_on(&addr, shown, sizeof(shown))) == -1)
		goto out;
	if (uid != (uid_t)-1 && (drop_privileges(uid, gid, o.user) != 0 ||
	    check_key_unreadable(o.master_key_file, o.user) != 0))
		goto out;

	/* 4. Database, API, HTTP. */
	if (store_open(o.db, &st, serr) != 0) {
		log_error("cannot open the database: %s", serr);
		goto out;
	}
	if (api_init(&api, st, kh, o.session_ttl) != 0) {
		log_error("out of memory");
		goto out;
	}
	api.registration_open = o.registration_open;
	api.register_limit = o.register_limit;
	api.fresh_auth = o.fresh_auth;
	api.console = !o.no_console;

	/* Signals go to sigtimedwait() below; the threads inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	memset(&hc, 0, sizeof(hc));
	hc.fd = fd;
	hc.threads = o.threads;
	hc.tls_cert = cert;
	hc.tls_key = key;
	hc.timeout = o.timeout;
	hc.max_conns = fit_connections(HTTP_MAX_CONNS, o.threads);
	hc.max_per_ip = HTTP_MAX_PER_IP;
	hc.kdf_threads = o.kdf_threads;
	hc.kdf_queue = o.kdf_queue;
	if (http_start(&hc, &api, &http) != 0)
		goto out;
	fd = -1;		/* the HTTP server owns it now */
	log_info("listening on %s://%s (%u threads, %u password-hashing, "
	    "database %s, registration %s, console %s)",
	    o.insecure_http ? "http" : "https", shown, o.threads,
	    o.kdf_threads, strncmp(o.db, "sqlite:", 7) == 0 ? o.db : "postgres",
	    o.registration_open ? "open" : "closed",
	    o.no_console ? "off" : "on at /account/");

	next = mono_s();
	for (;;) {
		if (mono_s() >= next) {
			expire(&api);
			next = mono_s() + EXPIRE_EVERY;
		}
		tmo.tv_sec = (time_t)(next - mono_s());
		tmo.tv_nsec = 0;
		if (tmo.tv_sec < 0)
			tmo.tv_sec = 0;
		sig = sigtimedwait(&set, NULL, &tmo);
		if (sig == -1)
			continue;	/* EAGAIN: time to expire; EINTR */
		if (sig == SIGCHLD) {
			if ((pid = kh_pid(kh)) > 0 &&
			    waitpid(pid, &status, WNOHANG) == pid) {
				log_error("the key holder (pid %ld) exited; "
				    "key operations answer 503", (long)pid);
				kh_reaped(kh);
			}
			continue;
		}
		if (sig == SIGHUP) {
			log_info("SIGHUP ignored (restart to reload)");
			continue;
		}
		log_info("signal %d: stopping", sig);
		break;
	}
	ret = 0;
out:
	http_stop(http);
	if (fd != -1)
		close(fd);
	store_close(st);
	kh_stop(kh);
	srv_wfree(cert);
	srv_wfree(key);
	srv_opts_release(&o);
	return ret;
}
