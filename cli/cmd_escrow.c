/* SPDX-License-Identifier: ISC */
/*
 * cmd_escrow: coffer escrow register --server URL --account NAME
 *             coffer escrow login --server URL --account NAME
 *             coffer escrow logout
 *             coffer escrow status [--json]
 *             coffer escrow keys [--json]
 *             coffer escrow audit [--limit N] [--json]
 *             coffer escrow pool [--json]
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "coffer/coffer_escrow.h"

static const char escrow_usage[] =
    "usage: coffer escrow register --server URL --account NAME [--json]\n"
    "       coffer escrow login --server URL --account NAME [--json]\n"
    "       coffer escrow logout [--json]\n"
    "       coffer escrow status [--json]\n"
    "       coffer escrow keys [--json]\n"
    "       coffer escrow audit [--limit N] [--json]\n"
    "       coffer escrow pool [--json]\n"
    "\nAn account at a key escrow server (cofferd) holds the keys of the\n"
    "key sets whose custody is escrow, local+escrow or escrow-wrap.\n"
    "This device keeps its login (a session token) in the keystore,\n"
    "wrapped under the keystore password if there is one.\n"
    "\nregister: create the account NAME at URL (the password is asked\n"
    "  twice; one that is easy to guess, or made of the account name, is\n"
    "  refused before anything is sent).  Nothing is saved on this\n"
    "  device.\n"
    "login: log in and keep the session in the keystore (creating the\n"
    "  keystore if there is none: how a new device restores), and fetch\n"
    "  unused wrap keys for escrow-wrap backups.\n"
    "logout: end the session at the server and forget it here (here even\n"
    "  when the server cannot be reached).\n"
    "status: the server, account and expiry of the login, whether the\n"
    "  server still accepts it, and the wrap keys in the pool.  Exit\n"
    "  status 0 only when the server accepts it.\n"
    "keys: the account's keys at the server: deposited and wrap keys.\n"
    "audit: the account's audit log, newest first (--limit, 1 to 1000;\n"
    "  default 100).\n"
    "pool: fetch unused wrap keys until the pool holds 8, and show it.\n"
    "\noptions:\n"
    "  --server URL     the server, https://HOST[:PORT] (register, login;\n"
    "                   default: COFFER_SERVER or the config's 'server');\n"
    "                   http:// only to 127.0.0.1, [::1] or localhost\n"
    "  --account NAME   the account name (register, login)\n"
    "  --limit N        audit: the newest N events\n"
    "  --json           print the result as one JSON document\n"
    "  --cacert FILE    the CA certificate that signed the server's (env\n"
    "                   COFFER_CACERT); saved with the login\n"
    "\nThe account password is asked on the terminal, or read from the\n"
    "file named by COFFER_ESCROW_PASSWORD_FILE.\n"
    "\nexamples:\n"
    "  coffer escrow register --server https://escrow.example.org:8443 \\\n"
    "      --account alice@example.org\n"
    "  coffer escrow login --server https://escrow.example.org:8443 \\\n"
    "      --account alice@example.org --cacert ~/escrow-ca.pem\n"
    "  coffer escrow status\n"
    "  coffer escrow keys --json | jq '.keys[].key_id'\n"
    "  coffer escrow audit --limit 20\n"
    "  coffer escrow pool\n"
    "  coffer escrow logout\n";

enum sub {
	SUB_REGISTER, SUB_LOGIN, SUB_LOGOUT, SUB_STATUS, SUB_KEYS, SUB_AUDIT,
	SUB_POOL,
};

static const char *const sub_names[] = { "register", "login", "logout",
    "status", "keys", "audit", "pool" };

struct escrow_opts {
	int		 sub;
	const char	*server;
	const char	*account;
	int		 limit;		/* 0: the server's default */
	bool		 json;
};

/* parse_limit(s, &v): strict decimal 1 ... 1000; 0 or -1. */
static int
parse_limit(const char *s, int *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || v < 1 ||
	    v > 1000)
		return -1;
	*out = (int)v;
	return 0;
}

/* utc(sec, buf): "2026-11-25T17:31:00Z". */
static const char *
utc(int64_t sec, char buf[32])
{
	time_t t = (time_t)sec;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, 32, "%lld", (long long)sec);
	return buf;
}

/* read_password(o, again, buf): the account password; -1 after a message. */
static int
read_password(const struct escrow_opts *o, bool again, char *buf)
{
	const char *f = getenv("COFFER_ESCROW_PASSWORD_FILE");
	char prompt[512];
	int n;

	if (again)
		return ask_new_secret("escrow password",
		    "COFFER_ESCROW_PASSWORD_FILE", NULL, buf, SECRET_MAX);
	if (f != NULL && *f != '\0')
		return secret_from_file(f, buf, SECRET_MAX);
	snprintf(prompt, sizeof(prompt), "password of '%s' at %s", o->account,
	    o->server);
	if ((n = secret_from_tty(prompt, buf, SECRET_MAX)) < 0)
		fprintf(stderr, "coffer %s: no terminal to ask for the "
		    "password (use COFFER_ESCROW_PASSWORD_FILE)\n", g_cmd);
	return n;
}

static int
do_register(struct coffer_ctx *ctx, const struct escrow_opts *o)
{
	struct coffer_err err = { 0 };
	char *pw;
	int n, r;

	if ((pw = coffer_secret_alloc(SECRET_MAX)) == NULL)
		return EXIT_FAIL;
	if ((n = read_password(o, true, pw)) < 0) {
		coffer_secret_free(pw);
		return EXIT_FAIL;
	}
	r = coffer_escrow_register(ctx, o->server, o->account, pw, (size_t)n,
	    &err);
	coffer_secret_free(pw);
	if (r != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if (o->json)
		return json_print(json_pack("{s:o, s:s}", "account",
		    json_bytes(o->account, strlen(o->account)), "server",
		    o->server));
	if (!g_opts.quiet)
		printf("registered account '%s' at %s\nnext: coffer escrow "
		    "login --server %s --account %s\n", o->account, o->server,
		    o->server, o->account);
	return EXIT_OK;
}

static int
do_login(struct coffer_ctx *ctx, const struct escrow_opts *o)
{
	struct coffer_escrow_info info;
	struct coffer_err err = { 0 };
	char when[32];
	char *pw;
	int n, r;

	if ((pw = coffer_secret_alloc(SECRET_MAX)) == NULL)
		return EXIT_FAIL;
	if ((n = read_password(o, false, pw)) < 0) {
		coffer_secret_free(pw);
		return EXIT_FAIL;
	}
	r = coffer_escrow_login(ctx, o->server, o->account, pw, (size_t)n,
	    &info, &err);
	coffer_secret_free(pw);
	if (r != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if (o->json)
		return json_print(json_pack("{s:s, s:o, s:I, s:o, s:b, s:o}",
		    "server", info.server, "account", json_bytes(info.account,
		    strlen(info.account)), "expires", (json_int_t)info.expires,
		    "keystore", json_bytes(info.keystore,
		    strlen(info.keystore)), "keystore_created",
		    info.keystore_created, "pool", info.pool >= 0 ?
		    json_integer(info.pool) : json_null()));
	if (g_opts.quiet)
		return EXIT_OK;
	if (info.keystore_created)
		printf("created the keystore '%s'\n", info.keystore);
	printf("logged in to %s as '%s' until %s\n", info.server, info.account,
	    utc(info.expires, when));
	if (info.pool >= 0)
		printf("wrap key pool: %d unused key%s\n", info.pool,
		    info.pool == 1 ? "" : "s");
	return EXIT_OK;
}

static int
do_logout(struct coffer_ctx *ctx, const struct escrow_opts *o)
{
	struct coffer_escrow_info info;
	struct coffer_err err = { 0 };
	bool told = false;

	if (coffer_escrow_logout(ctx, &info, &told, &err) != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if (o->json)
		return json_print(json_pack("{s:s, s:b}", "server",
		    info.server, "server_told", told));
	if (!g_opts.quiet) {
		if (told)
			printf("logged out of %s\n", info.server);
		else
			printf("forgot the login to %s on this device (the "
			    "server was not told)\n", info.server);
	}
	return EXIT_OK;
}

static int
do_status(struct coffer_ctx *ctx, const struct escrow_opts *o)
{
	static const char *const states[] = { "unreachable", "refused",
	    "accepted" };
	struct coffer_escrow_info info;
	struct coffer_err err = { 0 }, why = { 0 };
	const char *state;
	char when[32];
	int r;

	r = coffer_escrow_status(ctx, &info, &why, &err);
	if (r == COFFER_ELOGIN) {
		if (o->json)
			(void)json_print(json_pack("{s:b}", "logged_in", 0));
		else
			printf("not logged in to an escrow server (run 'coffer "
			    "escrow login --server URL --account NAME')\n");
		return EXIT_FAIL;
	}
	if (r != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	state = states[info.accepted + 1];
	if (o->json) {
		json_t *doc = json_pack("{s:b, s:s, s:s, s:I, s:s, s:s, s:o, "
		    "s:o, s:o, s:o}", "logged_in", 1, "server", info.server,
		    "account", info.account, "expires",
		    (json_int_t)info.expires,
		    "expires_utc", utc(info.expires, when), "session", state,
		    "error", info.accepted == 1 ? json_null() :
		    json_string(why.msg),
		    "cacert", info.cacert[0] ? json_bytes(info.cacert,
		    strlen(info.cacert)) : json_null(),
		    "pool", info.pool >= 0 ? json_integer(info.pool) :
		    json_null(),
		    "keystore", json_bytes(info.keystore,
		    strlen(info.keystore)));

		r = json_print(doc);
		return r != EXIT_OK ? r : info.accepted == 1 ? EXIT_OK :
		    EXIT_FAIL;
	}
	printf("server:    %s\naccount:   %s\nexpires:   %s\n", info.server,
	    info.account, utc(info.expires, when));
	if (info.accepted == 1)
		printf("session:   accepted by the server\n");
	else if (info.accepted == 0)
		printf("session:   refused by the server (%s)\n", why.msg);
	else
		printf("session:   unknown: the server is unreachable (%s)\n",
		    why.msg);
	printf("CA file:   %s\n", info.cacert[0] ? info.cacert :
	    "(the system's CA certificates)");
	if (info.pool >= 0)
		printf("wrap keys: %d unused in the pool\n", info.pool);
	return info.accepted == 1 ? EXIT_OK : EXIT_FAIL;
}

/* json_int(o, key): an integer member, or -1. */
static long long
json_int(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* json_text(o, key): a string member, or "-". */
static const char *
json_text(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "-";
}

static void
print_keys(const json_t *doc)
{
	const json_t *keys = json_object_get(doc, "keys"), *k;
	char t1[32], t2[32];
	size_t i;

	if (json_array_size(keys) == 0) {
		printf("no keys at the server for this account\n");
		return;
	}
	printf("%-32s  %-4s  %-20s  %8s  %-20s  %s\n", "KEY ID", "KIND",
	    "CREATED", "RELEASES", "DESTROYED", "LABEL");
	json_array_foreach(keys, i, k) {
		long long d = json_int(k, "destroyed");
		const char *label = json_text(k, "label");

		printf("%-32s  %-4s  %-20s  %8lld  %-20s  ", json_text(k,
		    "key_id"), json_text(k, "kind"),
		    utc(json_int(k, "created"), t1), json_int(k, "releases"),
		    d >= 0 ? utc(d, t2) : "-");
		print_escaped(stdout, label, strlen(label));
		putchar('\n');
	}
}

static void
print_events(const json_t *doc)
{
	const json_t *ev = json_object_get(doc, "events"), *e;
	char t[32];
	size_t i;

	if (json_array_size(ev) == 0) {
		printf("no events in the audit log\n");
		return;
	}
	printf("%-20s  %-13s  %-32s  %-4s  %s\n", "TIME", "EVENT", "KEY ID",
	    "OK", "ADDRESS");
	json_array_foreach(ev, i, e) {
		const json_t *ok = json_object_get(e, "ok");
		const char *addr = json_text(e, "address");

		printf("%-20s  %-13s  %-32s  %-4s  ", utc(json_int(e, "time"),
		    t), json_text(e, "event"), json_text(e, "key_id"),
		    json_is_true(ok) ? "yes" : json_is_false(ok) ? "no" : "-");
		print_escaped(stdout, addr, strlen(addr));
		putchar('\n');
	}
}

static int
do_list(struct coffer_ctx *ctx, const struct escrow_opts *o)
{
	struct coffer_err err = { 0 };
	char *text = NULL;
	json_t *doc;
	int r;

	if (o->sub == SUB_KEYS)
		r = coffer_escrow_keys(ctx, &text, &err);
	else
		r = coffer_escrow_audit(ctx, o->limit, &text, &err);
	if (r != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	doc = json_loads(text, 0, NULL);
	coffer_escrow_free(text);
	if (doc == NULL) {
		fprintf(stderr, "coffer %s: the server's answer is not JSON\n",
		    g_cmd);
		return EXIT_FAIL;
	}
	if (o->json)
		return json_print(doc);
	if (o->sub == SUB_KEYS)
		print_keys(doc);
	else
		print_events(doc);
	json_decref(doc);
	return EXIT_OK;
}

static int
do_pool(struct coffer_ctx *ctx, const struct escrow_opts *o)
{
	struct coffer_escrow_info info;
	struct coffer_err err = { 0 };

	if (coffer_escrow_pool(ctx, true, &info, &err) != 0) {
		report_err(&err);
		if (info.pool >= 0)
			fprintf(stderr, "coffer %s: the pool holds %d unused "
			    "wrap key%s for %s\n", g_cmd, info.pool,
			    info.pool == 1 ? "" : "s", info.server);
		return EXIT_FAIL;
	}
	if (o->json)
		return json_print(json_pack("{s:s, s:s, s:i, s:i}", "server",
		    info.server, "account", info.account, "pool", info.pool,
		    "target", 8));
	if (!g_opts.quiet)
		printf("wrap key pool for %s: %d unused key%s\n", info.server,
		    info.pool, info.pool == 1 ? "" : "s");
	return EXIT_OK;
}

int
cmd_escrow(int argc, char **argv)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		{ "server",	required_argument,	NULL, 's' },
		{ "account",	required_argument,	NULL, 'a' },
		{ "limit",	required_argument,	NULL, 'l' },
		{ "json",	no_argument,		NULL, 'j' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	struct escrow_opts o = { .sub = -1 };
	struct coffer_err err = { 0 };
	struct coffer_ctx ctx;
	const char *limit = NULL, *flag_server = NULL;
	int ch, rc;

	/* 1. Parse. */
	while ((ch = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		if (global_opt(ch, optarg))
			continue;
		switch (ch) {
		case 's':
			flag_server = optarg;
			break;
		case 'a':
			o.account = optarg;
			break;
		case 'l':
			limit = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'h':
			fputs(escrow_usage, stdout);
			return EXIT_OK;
		default:
			fputs(escrow_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return usage_err(escrow_usage, "give a subcommand: register, "
		    "login, logout, status, keys, audit or pool");
	for (int i = 0; i < (int)(sizeof(sub_names) / sizeof(sub_names[0]));
	    i++) {
		if (strcmp(argv[optind], sub_names[i]) == 0)
			o.sub = i;
	}
	if (o.sub < 0)
		return usage_err(escrow_usage, "unknown subcommand '%s'",
		    argv[optind]);
	if (++optind < argc)
		return usage_err(escrow_usage, "unexpected argument '%s'",
		    argv[optind]);

	/* 2. Validate. */
	o.server = flag_server != NULL ? flag_server : g_opts.server;
	if (o.sub == SUB_REGISTER || o.sub == SUB_LOGIN) {
		if (o.server == NULL || *o.server == '\0')
			return usage_err(escrow_usage, "%s needs --server URL "
			    "(or COFFER_SERVER, or 'server' in the config)",
			    sub_names[o.sub]);
		if (o.account == NULL || *o.account == '\0')
			return usage_err(escrow_usage, "%s needs --account "
			    "NAME", sub_names[o.sub]);
	} else if (flag_server != NULL || o.account != NULL) {
		return usage_err(escrow_usage, "--server and --account are for "
		    "register and login (%s uses the saved login)",
		    sub_names[o.sub]);
	}
	if (limit != NULL) {
		if (o.sub != SUB_AUDIT)
			return usage_err(escrow_usage, "--limit is for audit");
		if (parse_limit(limit, &o.limit) != 0)
			return usage_err(escrow_usage, "--limit must be a "
			    "number from 1 to 1000, not '%s'", limit);
	}

	if ((o.sub == SUB_REGISTER || o.sub == SUB_LOGIN) &&
	    coffer_escrow_check_url(o.server, &err) != 0) {
		/* Before a password is asked for. */
		report_err(&err);
		return EXIT_FAIL;
	}

	/* 3. Run. */
	if ((rc = ctx_make(&ctx)) != EXIT_OK)
		return rc;
	ctx.escrow_server = o.server;
	switch (o.sub) {
	case SUB_REGISTER:
		return do_register(&ctx, &o);
	case SUB_LOGIN:
		return do_login(&ctx, &o);
	case SUB_LOGOUT:
		return do_logout(&ctx, &o);
	case SUB_STATUS:
		return do_status(&ctx, &o);
	case SUB_KEYS:
	case SUB_AUDIT:
		return do_list(&ctx, &o);
	default:
		return do_pool(&ctx, &o);
	}
}
