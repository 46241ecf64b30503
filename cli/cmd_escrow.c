/* SPDX-License-Identifier: ISC */
/*
 * cmd_escrow: coffer escrow register --server URL --account NAME
 *             coffer escrow login --server URL --account NAME [--device N]
 *             coffer escrow logout
 *             coffer escrow status [--json]
 *             coffer escrow keys [--json]
 *             coffer escrow audit [--limit N] [--json]
 *             coffer escrow pool [--json]
 *             coffer escrow devices [--json]
 *             coffer escrow revoke DEVICE | --id ID | --all-others
 *             coffer escrow destroy KEY_ID... | --device NAME [--yes]
 *             coffer escrow passwd
 *             coffer escrow delete-account [--yes]
 *             coffer escrow totp enable | confirm | disable
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <qrencode.h>

#include "cli.h"
#include "coffer/coffer_escrow.h"

static const char escrow_usage[] =
    "usage: coffer escrow register --server URL --account NAME [--json]\n"
    "       coffer escrow login --server URL --account NAME [--device NAME]\n"
    "                           [--json]\n"
    "       coffer escrow logout [--json]\n"
    "       coffer escrow status [--json]\n"
    "       coffer escrow keys [--json]\n"
    "       coffer escrow audit [--limit N] [--json]\n"
    "       coffer escrow pool [--json]\n"
    "       coffer escrow devices [--json]\n"
    "       coffer escrow revoke DEVICE | --id ID | --all-others [--json]\n"
    "       coffer escrow destroy KEY_ID... | --device NAME [--yes] [--json]\n"
    "       coffer escrow passwd\n"
    "       coffer escrow delete-account [--yes]\n"
    "       coffer escrow totp enable | confirm | disable [--json]\n"
    "\nAn account at a key escrow server (cofferd) holds the keys of the\n"
    "key sets whose custody is escrow, local+escrow or escrow-wrap.\n"
    "This device keeps its login (a device session) in the keystore,\n"
    "wrapped under the keystore password if there is one.  A device\n"
    "session backs up (deposits keys, fetches wrap keys) and lists; it\n"
    "cannot read or destroy.  Releasing or unwrapping a key (restore, and\n"
    "everything else that reads an escrow key set), destroying, revoking\n"
    "and changing the account need fresh proof: the account password\n"
    "(and the one-time code when the account has a second factor) given\n"
    "within the last minutes.  coffer asks for it when the server does;\n"
    "a login counts as fresh proof.  Nothing fresh is kept on the disk.\n"
    "\nregister: create the account NAME at URL (the password is asked\n"
    "  twice; one that is easy to guess, or made of the account name, is\n"
    "  refused before anything is sent).  Nothing is saved on this\n"
    "  device.\n"
    "login: log in as the device NAME (--device; the host name by default)\n"
    "  and keep the session in the keystore (creating the keystore if\n"
    "  there is none: how a new device restores), and fetch unused wrap\n"
    "  keys for escrow-wrap backups.\n"
    "logout: end the session at the server and forget it here (here even\n"
    "  when the server cannot be reached).\n"
    "status: the server, account, device and expiry of the login, whether\n"
    "  the server still accepts it, and the wrap keys in the pool.  Exit\n"
    "  status 0 only when the server accepts it.\n"
    "keys: the account's keys at the server: deposited and wrap keys, with\n"
    "  the device that made each, its repository and coffer key set.\n"
    "audit: the account's audit log, newest first (--limit, 1 to 1000;\n"
    "  default 100).\n"
    "pool: fetch unused wrap keys until the pool holds 8, and show it.\n"
    "devices: the account's sessions (devices); '*' marks this one.\n"
    "revoke: end the sessions of DEVICE (or the session --id ID, or every\n"
    "  session but this one with --all-others) at once.\n"
    "destroy: destroy keys at the server, no card needed: the KEY_IDs (the\n"
    "  server's 32-hex ids, see 'keys'), or every key of --device NAME.\n"
    "  Without --yes, only says what would be destroyed.\n"
    "passwd: a new account password (asked twice); every other session\n"
    "  ends.\n"
    "delete-account: destroy every key of the account and delete it; asks\n"
    "  for the account name and a confirmation (--yes: neither).\n"
    "totp enable: turn on the second factor: shows the secret, its\n"
    "  otpauth:// URI and a QR code for an authenticator app, then asks\n"
    "  for a first code; prints 10 recovery codes, once.  Without a\n"
    "  terminal it leaves the secret pending: then 'totp confirm' with\n"
    "  COFFER_ESCROW_CODE.  totp disable: turn it off.\n"
    "\noptions:\n"
    "  --server URL     the server, https://HOST[:PORT] (register, login;\n"
    "                   default: COFFER_SERVER or the config's 'server');\n"
    "                   http:// only to 127.0.0.1, [::1] or localhost\n"
    "  --account NAME   the account name (register, login)\n"
    "  --device NAME    login: this device's name; destroy: whose keys\n"
    "  --id ID          revoke: the session with this id (see 'devices')\n"
    "  --all-others     revoke: every session but this one\n"
    "  --yes            destroy, delete-account: really do it\n"
    "  --limit N        audit: the newest N events\n"
    "  --json           print the result as one JSON document\n"
    "  --cacert FILE    the CA certificate that signed the server's (env\n"
    "                   COFFER_CACERT); saved with the login\n"
    "\nenvironment:\n"
    "  COFFER_ESCROW_PASSWORD_FILE  a file holding the account password\n"
    "                   (login, register, fresh proof); else it is asked\n"
    "                   on the terminal\n"
    "  COFFER_ESCROW_NEW_PASSWORD_FILE  passwd: the new password\n"
    "  COFFER_ESCROW_CODE  the one-time code (TOTP) or a recovery code\n"
    "\nexamples:\n"
    "  coffer escrow register --server https://escrow.example.org:8443 \\\n"
    "      --account alice@example.org\n"
    "  coffer escrow login --server https://escrow.example.org:8443 \\\n"
    "      --account alice@example.org --device laptop\n"
    "  coffer escrow devices\n"
    "  coffer escrow revoke laptop\n"
    "  coffer escrow destroy --device laptop --yes\n"
    "  coffer escrow keys --json | jq '.keys[].key_id'\n"
    "  coffer escrow totp enable\n";

enum sub {
	SUB_REGISTER, SUB_LOGIN, SUB_LOGOUT, SUB_STATUS, SUB_KEYS, SUB_AUDIT,
	SUB_POOL, SUB_DEVICES, SUB_REVOKE, SUB_DESTROY, SUB_PASSWD,
	SUB_DELETE, SUB_TOTP,
};

static const char *const sub_names[] = { "register", "login", "logout",
    "status", "keys", "audit", "pool", "devices", "revoke", "destroy",
    "passwd", "delete-account", "totp" };

#define ESCROW_ARGS_MAX	256	/* key ids of one destroy */

struct escrow_opts {
	int		 sub;
	const char	*server;
	const char	*account;
	const char	*device;	/* --device */
	const char	*id;		/* --id */
	bool		 all_others;
	bool		 yes;
	int		 limit;		/* 0: the server's default */
	bool		 json;
	char		**args;		/* positional, after the subcommand */
	int		 nargs;
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
		    "login --server %s --account %s%s%s\n", o->account,
		    o->server, o->server, o->account, g_opts.cacert != NULL &&
		    *g_opts.cacert != '\0' ? " --cacert " : "",
		    g_opts.cacert != NULL ? g_opts.cacert : "");
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
	    o->device, &info, &err);
	coffer_secret_free(pw);
	if (r != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if (o->json)
		return json_print(json_pack("{s:s, s:o, s:I, s:o, s:b, s:o, "
		    "s:o, s:I}",
		    "server", info.server, "account", json_bytes(info.account,
		    strlen(info.account)), "expires", (json_int_t)info.expires,
		    "keystore", json_bytes(info.keystore,
		    strlen(info.keystore)), "keystore_created",
		    info.keystore_created, "pool", info.pool >= 0 ?
		    json_integer(info.pool) : json_null(), "device",
		    json_bytes(info.device, strlen(info.device)),
		    "fresh_until", (json_int_t)info.fresh_until));
	if (g_opts.quiet)
		return EXIT_OK;
	if (info.keystore_created)
		printf("created the keystore '%s'\n", info.keystore);
	printf("logged in to %s as '%s' until %s\n", info.server, info.account,
	    utc(info.expires, when));
	if (info.device[0] != '\0') {
		printf("this device: ");
		print_escaped(stdout, info.device, strlen(info.device));
		putchar('\n');
	}
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
		    "s:o, s:o, s:o, s:o, s:I, s:o}", "logged_in", 1, "server",
		    info.server,
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
		    strlen(info.keystore)),
		    "device", info.accepted == 1 ? json_bytes(info.device,
		    strlen(info.device)) : json_null(),
		    "fresh_until", (json_int_t)info.fresh_until,
		    "totp", info.totp < 0 ? json_null() :
		    json_boolean(info.totp == 1));

		r = json_print(doc);
		return r != EXIT_OK ? r : info.accepted == 1 ? EXIT_OK :
		    EXIT_FAIL;
	}
	printf("server:    %s\naccount:   %s\nexpires:   %s\n", info.server,
	    info.account, utc(info.expires, when));
	if (info.accepted == 1) {
		printf("device:    ");
		print_escaped(stdout, info.device, strlen(info.device));
		putchar('\n');
		if (info.fresh_until > (int64_t)time(NULL))
			printf("fresh:     until %s (release, destroy and "
			    "account changes need no password until then)\n",
			    utc(info.fresh_until, when));
		else
			printf("fresh:     no (release, destroy and account "
			    "changes will ask for the password)\n");
		if (info.totp >= 0)
			printf("2nd factor: %s\n", info.totp ? "TOTP on" :
			    "off");
	}
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
	printf("%-32s  %-4s  %-16s  %-32s  %-20s  %8s  %-20s  %s\n",
	    "KEY ID", "KIND", "KEY SET", "REPOSITORY", "CREATED", "RELEASES",
	    "DESTROYED", "DEVICE");
	json_array_foreach(keys, i, k) {
		long long d = json_int(k, "destroyed");
		const char *dev = json_text(k, "device");

		printf("%-32s  %-4s  %-16s  %-32s  %-20s  %8lld  %-20s  ",
		    json_text(k, "key_id"), json_text(k, "kind"),
		    json_text(k, "keyset_id"), json_text(k, "repo_id"),
		    utc(json_int(k, "created"), t1), json_int(k, "releases"),
		    d >= 0 ? utc(d, t2) : "-");
		print_escaped(stdout, dev, strlen(dev));
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
	printf("%-20s  %-15s  %-32s  %-4s  %-15s  %s\n", "TIME", "EVENT",
	    "KEY ID", "OK", "ADDRESS", "DEVICE");
	json_array_foreach(ev, i, e) {
		const json_t *ok = json_object_get(e, "ok");
		const char *addr = json_text(e, "address");
		const char *dev = json_text(e, "device");

		printf("%-20s  %-15s  %-32s  %-4s  ", utc(json_int(e, "time"),
		    t), json_text(e, "event"), json_text(e, "key_id"),
		    json_is_true(ok) ? "yes" : json_is_false(ok) ? "no" : "-");
		print_escaped(stdout, addr, strlen(addr));
		printf("%*s  ", (int)(strlen(addr) < 15 ? 15 - strlen(addr) :
		    0), "");
		print_escaped(stdout, dev, strlen(dev));
		putchar('\n');
	}
}

static void
print_devices(const json_t *doc)
{
	const json_t *devs = json_object_get(doc, "devices"), *d;
	char t1[32], t2[32];
	size_t i;

	if (json_array_size(devs) == 0) {
		printf("no sessions at the server for this account\n");
		return;
	}
	printf("  %-16s  %-20s  %-20s  %-15s  %s\n", "ID", "CREATED",
	    "LAST USED", "LAST ADDRESS", "DEVICE");
	json_array_foreach(devs, i, d) {
		const char *name = json_text(d, "device");
		const char *addr = json_text(d, "last_address");
		long long c = json_int(d, "created");

		printf("%c %-16s  %-20s  %-20s  ",
		    json_is_true(json_object_get(d, "current")) ? '*' : ' ',
		    json_text(d, "id"), c > 0 ? utc(c, t1) : "-",
		    utc(json_int(d, "last_used"), t2));
		print_escaped(stdout, addr, strlen(addr));
		printf("%*s  ", (int)(strlen(addr) < 15 ? 15 - strlen(addr) :
		    0), "");
		print_escaped(stdout, name, strlen(name));
		putchar('\n');
	}
	printf("(* this device)\n");
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
	else if (o->sub == SUB_DEVICES)
		r = coffer_escrow_devices(ctx, &text, &err);
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
	else if (o->sub == SUB_DEVICES)
		print_devices(doc);
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

static int
do_revoke(struct coffer_ctx *ctx, const struct escrow_opts *o)
{
	struct coffer_err err = { 0 };
	const char *dev = o->nargs == 1 ? o->args[0] : NULL;
	long n = 0;

	if (coffer_escrow_revoke(ctx, dev, o->id, o->all_others, &n,
	    &err) != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if (o->json)
		return json_print(json_pack("{s:I}", "revoked",
		    (json_int_t)n));
	if (!g_opts.quiet) {
		printf("ended %ld session%s", n, n == 1 ? "" : "s");
		if (dev != NULL) {
			printf(" of device '");
			print_escaped(stdout, dev, strlen(dev));
			putchar('\'');
		} else if (o->id != NULL) {
			printf(" (id %s)", o->id);
		} else {
			printf(" (every one but this device's)");
		}
		putchar('\n');
		if (n == 0)
			printf("no session matched: see 'coffer escrow "
			    "devices'\n");
	}
	return EXIT_OK;
}

static int
do_destroy(struct coffer_ctx *ctx, const struct escrow_opts *o)
{
	struct coffer_err err = { 0 };
	const json_t *gone, *missing, *k;
	char *text = NULL;
	json_t *doc;
	size_t i;
	int r;

	r = coffer_escrow_destroy(ctx, o->nargs > 0 ?
	    (const char *const *)o->args : NULL, (size_t)o->nargs, o->device,
	    !o->yes, &text, &err);
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
	gone = json_object_get(doc, "destroyed");
	missing = json_object_get(doc, "not_found");
	if (!g_opts.quiet) {
		json_array_foreach(gone, i, k)
			printf("%s %s\n", o->yes ? "destroyed" :
			    "would destroy", json_is_string(k) ?
			    json_string_value(k) : "?");
		json_array_foreach(missing, i, k)
			printf("not found (unknown, another account's, or "
			    "destroyed already): %s\n", json_is_string(k) ?
			    json_string_value(k) : "?");
		if (json_array_size(gone) == 0)
			printf("no key to destroy\n");
		if (!o->yes)
			printf("nothing was changed; add --yes to destroy "
			    "(this cannot be undone: the backups under these "
			    "keys become unreadable forever)\n");
	}
	json_decref(doc);
	return EXIT_OK;
}

static int
do_passwd(struct coffer_ctx *ctx, const struct escrow_opts *o)
{
	struct coffer_err err = { 0 };
	char *pw;
	int n, r;

	(void)o;
	/* The current password first (fresh proof), then the new one. */
	if (coffer_escrow_fresh(ctx, &err) != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if ((pw = coffer_secret_alloc(SECRET_MAX)) == NULL)
		return EXIT_FAIL;
	if ((n = ask_new_secret("escrow password",
	    "COFFER_ESCROW_NEW_PASSWORD_FILE", NULL, pw, SECRET_MAX)) < 0) {
		coffer_secret_free(pw);
		return EXIT_FAIL;
	}
	r = coffer_escrow_passwd(ctx, pw, (size_t)n, &err);
	coffer_secret_free(pw);
	if (r != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if (!g_opts.quiet)
		printf("the account password is changed; every other session "
		    "(device) is logged out\n");
	return EXIT_OK;
}

static int
do_delete(struct coffer_ctx *ctx, const struct escrow_opts *o)
{
	struct coffer_escrow_info info;
	struct coffer_err err = { 0 }, why = { 0 };
	char line[256];

	if (coffer_escrow_status(ctx, &info, &why, &err) != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if (!o->yes) {
		fprintf(stderr, "This destroys every key of account '%s' at "
		    "%s: every backup under escrow custody becomes unreadable "
		    "forever, on every device.\n", info.account, info.server);
		if (line_from_tty("type the account name to go on: ", line,
		    sizeof(line)) < 0) {
			fprintf(stderr, "coffer %s: no terminal to confirm on; "
			    "nothing changed (--yes confirms for scripts)\n",
			    g_cmd);
			return EXIT_FAIL;
		}
		if (strcmp(line, info.account) != 0) {
			fprintf(stderr, "coffer %s: that is not the account "
			    "name; nothing changed\n", g_cmd);
			return EXIT_FAIL;
		}
		if (line_from_tty("delete the account and all its keys? "
		    "(yes/no): ", line, sizeof(line)) < 0 ||
		    strcmp(line, "yes") != 0) {
			fprintf(stderr, "coffer %s: not confirmed; nothing "
			    "changed\n", g_cmd);
			return EXIT_FAIL;
		}
	}
	if (coffer_escrow_delete_account(ctx, &err) != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if (!g_opts.quiet)
		printf("deleted account '%s' at %s and destroyed all its keys; "
		    "this device is logged out\n", info.account, info.server);
	return EXIT_OK;
}

/* print_qr(text): ${text} as a QR code on the terminal (libqrencode). */
static void
print_qr(const char *text)
{
	QRcode *qr;
	int w, x, y;

	if ((qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8,
	    1)) == NULL) {
		fprintf(stderr, "coffer %s: cannot make a QR code: %s\n", g_cmd,
		    strerror(errno));
		return;
	}
	/*
	 * Two rows per line with half blocks, a quiet zone of 2 modules,
	 * dark modules drawn as the terminal's background (so it scans on
	 * a dark terminal too: light background, dark foreground).
	 */
	w = qr->width;
	for (y = -2; y < w + 2; y += 2) {
		for (x = -2; x < w + 2; x++) {
			bool top = y >= 0 && y < w && x >= 0 && x < w &&
			    (qr->data[y * w + x] & 1);
			bool bot = y + 1 >= 0 && y + 1 < w && x >= 0 &&
			    x < w && (qr->data[(y + 1) * w + x] & 1);

			/* Light modules are drawn: "\u2588" full block. */
			fputs(!top && !bot ? "\xe2\x96\x88" : !top ?
			    "\xe2\x96\x80" : !bot ? "\xe2\x96\x84" : " ",
			    stdout);
		}
		putchar('\n');
	}
	QRcode_free(qr);
}

static int
print_recovery(const struct escrow_opts *o, const char *codes, size_t n)
{
	const char *c = codes;
	json_t *arr;

	if (o->json) {
		if ((arr = json_array()) == NULL)
			return EXIT_FAIL;
		for (size_t i = 0; i < n; i++, c += strlen(c) + 1)
			json_array_append_new(arr, json_string(c));
		return json_print(json_pack("{s:b, s:o}", "totp", 1,
		    "recovery_codes", arr));
	}
	printf("the second factor is on: logins and fresh proof now need a "
	    "code\n\nrecovery codes (each works once, in place of a code; "
	    "keep them apart from this device, they are shown only now):\n");
	for (size_t i = 0; i < n; i++, c += strlen(c) + 1)
		printf("  %s\n", c);
	return EXIT_OK;
}

static int
totp_confirm(struct coffer_ctx *ctx, const struct escrow_opts *o)
{
	struct coffer_err err = { 0 };
	char *code, *codes = NULL;
	size_t n = 0;
	int k, r;

	if ((code = coffer_secret_alloc(SECRET_MAX)) == NULL)
		return EXIT_FAIL;
	if ((k = cli_get_escrow_code(NULL, "code shown by the authenticator "
	    "app", code, SECRET_MAX)) <= 0) {
		coffer_secret_free(code);
		fprintf(stderr, "coffer %s: no code given (set "
		    "COFFER_ESCROW_CODE or run on a terminal); the secret "
		    "stays pending: 'coffer escrow totp confirm' turns it on\n",
		    g_cmd);
		return EXIT_FAIL;
	}
	r = coffer_escrow_totp_confirm(ctx, code, (size_t)k, &codes, &n,
	    &err);
	coffer_secret_free(code);
	if (r != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	r = print_recovery(o, codes, n);
	coffer_secret_free(codes);
	return r;
}

static int
do_totp(struct coffer_ctx *ctx, const struct escrow_opts *o)
{
	struct coffer_err err = { 0 };
	const char *what = o->args[0];
	char *secret = NULL, *uri = NULL;
	int fd, r;

	if (strcmp(what, "disable") == 0) {
		if (coffer_escrow_totp_disable(ctx, &err) != 0) {
			report_err(&err);
			return EXIT_FAIL;
		}
		if (o->json)
			return json_print(json_pack("{s:b}", "totp", 0));
		if (!g_opts.quiet)
			printf("the second factor is off\n");
		return EXIT_OK;
	}
	if (strcmp(what, "confirm") == 0)
		return totp_confirm(ctx, o);
	if (coffer_escrow_totp_begin(ctx, &secret, &uri, &err) != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if (o->json) {
		/* For scripts: the code comes later, with 'totp confirm'. */
		r = json_print(json_pack("{s:s, s:s, s:b}", "secret", secret,
		    "uri", uri, "pending", 1));
		goto out;
	}
	printf("secret:  %s\nURI:     %s\n\nscan this with an "
	    "authenticator app (or type the secret into it):\n\n", secret,
	    uri);
	print_qr(uri);
	putchar('\n');
	fflush(stdout);
	if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) != -1)
		close(fd);
	if (fd == -1) {
		printf("no terminal to ask for the first code: the secret is "
		    "pending; turn it on with 'coffer escrow totp confirm' "
		    "(the code in COFFER_ESCROW_CODE)\n");
		r = EXIT_OK;
		goto out;
	}
	r = totp_confirm(ctx, o);
out:
	coffer_secret_free(secret);
	coffer_secret_free(uri);
	return r;
}

int
cmd_escrow(int argc, char **argv)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		{ "server",	required_argument,	NULL, 's' },
		{ "account",	required_argument,	NULL, 'a' },
		{ "device",	required_argument,	NULL, 'd' },
		{ "id",		required_argument,	NULL, 'i' },
		{ "all-others",	no_argument,		NULL, 'o' },
		{ "yes",	no_argument,		NULL, 'y' },
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
		case 'd':
			o.device = optarg;
			break;
		case 'i':
			o.id = optarg;
			break;
		case 'o':
			o.all_others = true;
			break;
		case 'y':
			o.yes = true;
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
		    "login, logout, status, keys, audit, pool, devices, "
		    "revoke, destroy, passwd, delete-account or totp");
	for (int i = 0; i < (int)(sizeof(sub_names) / sizeof(sub_names[0]));
	    i++) {
		if (strcmp(argv[optind], sub_names[i]) == 0)
			o.sub = i;
	}
	if (o.sub < 0)
		return usage_err(escrow_usage, "unknown subcommand '%s'",
		    argv[optind]);
	o.args = argv + optind + 1;
	o.nargs = argc - optind - 1;

	/* 2. Validate. */
	if (o.sub == SUB_REVOKE) {
		if (o.nargs + (o.id != NULL) + o.all_others != 1)
			return usage_err(escrow_usage, "revoke needs one of: a "
			    "DEVICE name, --id ID, --all-others");
	} else if (o.sub == SUB_DESTROY) {
		if ((o.nargs > 0) == (o.device != NULL))
			return usage_err(escrow_usage, "destroy needs KEY_ID... "
			    "or --device NAME (one of the two)");
		if (o.nargs > ESCROW_ARGS_MAX)
			return usage_err(escrow_usage, "at most %d key ids at "
			    "once", ESCROW_ARGS_MAX);
		for (int i = 0; i < o.nargs; i++) {
			size_t k = strspn(o.args[i], "0123456789abcdef");

			if (k != 32 || o.args[i][k] != '\0')
				return usage_err(escrow_usage, "'%s' is not an "
				    "escrow key id (32 hex digits, the KEY ID "
				    "of 'coffer escrow keys'; a coffer key set "
				    "id is 16)", o.args[i]);
		}
	} else if (o.sub == SUB_TOTP) {
		if (o.nargs != 1 || (strcmp(o.args[0], "enable") != 0 &&
		    strcmp(o.args[0], "confirm") != 0 &&
		    strcmp(o.args[0], "disable") != 0))
			return usage_err(escrow_usage, "totp needs enable, "
			    "confirm or disable");
	} else if (o.nargs > 0) {
		return usage_err(escrow_usage, "unexpected argument '%s'",
		    o.args[0]);
	}
	if (o.device != NULL && o.sub != SUB_LOGIN && o.sub != SUB_DESTROY)
		return usage_err(escrow_usage, "--device is for login and "
		    "destroy (revoke takes the device name as its argument)");
	if ((o.id != NULL || o.all_others) && o.sub != SUB_REVOKE)
		return usage_err(escrow_usage, "--id and --all-others are for "
		    "revoke");
	if (o.yes && o.sub != SUB_DESTROY && o.sub != SUB_DELETE)
		return usage_err(escrow_usage, "--yes is for destroy and "
		    "delete-account");
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
	case SUB_DEVICES:
		return do_list(&ctx, &o);
	case SUB_REVOKE:
		return do_revoke(&ctx, &o);
	case SUB_DESTROY:
		return do_destroy(&ctx, &o);
	case SUB_PASSWD:
		return do_passwd(&ctx, &o);
	case SUB_DELETE:
		return do_delete(&ctx, &o);
	case SUB_TOTP:
		return do_totp(&ctx, &o);
	default:
		return do_pool(&ctx, &o);
	}
}
