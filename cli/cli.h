/* SPDX-License-Identifier: ISC */
/*
 * cli: coffer(1), a thin layer over libcoffer.  Each command parses its
 * options, validates them in one block, runs one libcoffer call and
 * reports its error once.
 */
#ifndef CLI_H_
#define CLI_H_

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <termios.h>

#include <jansson.h>

#include "coffer/coffer.h"

enum {
	EXIT_OK = 0,		/* success */
	EXIT_FAIL = 1,		/* the operation failed */
	EXIT_USAGE = 2,		/* bad command line */
	EXIT_PARTIAL = 3,	/* backup done, some files left out */
	EXIT_NOKEY = 4,		/* snapshots, check: nothing damaged, but
				   some key cannot be had now */
};

/* Options every command accepts; filled from env, then flags. */
struct global_opts {
	const char	*repo;
	const char	*keystore;
	const char	*passphrase_file;
	const char	*cacert;	/* --cacert, COFFER_CACERT, config */
	const char	*server;	/* COFFER_SERVER, config "server" */
	bool		 quiet;
	bool		 system;
};
extern struct global_opts g_opts;
extern const char *g_cmd;

typedef int cmd_fn(int argc, char **argv);
cmd_fn cmd_init, cmd_backup, cmd_snapshots, cmd_ls, cmd_restore, cmd_check;
cmd_fn cmd_key, cmd_keystore;
cmd_fn cmd_forget, cmd_prune;
cmd_fn cmd_diff, cmd_find, cmd_stats;
cmd_fn cmd_escrow;
cmd_fn cmd_tag, cmd_mount, cmd_copy;
cmd_fn cmd_card;

/*
 * Long options shared by all commands; commands append their own.
 * GLOBAL_OPTS_SHORT are handled by global_opt().
 */
#define OPT_REPO	1000
#define OPT_KEYSTORE	1001
#define OPT_SYSTEM	1002
#define OPT_PASSFILE	1003
#define OPT_CACERT	1004
#define OPT_JSON_PROGRESS 1005
#define OPT_QUIET	'q'
#define GLOBAL_LONGOPTS							\
	{ "repo",	required_argument,	NULL, OPT_REPO },	\
	{ "keystore",	required_argument,	NULL, OPT_KEYSTORE },	\
	{ "system",	no_argument,		NULL, OPT_SYSTEM },	\
	{ "passphrase-file", required_argument,	NULL, OPT_PASSFILE },	\
	{ "cacert",	required_argument,	NULL, OPT_CACERT },	\
	{ "quiet",	no_argument,		NULL, OPT_QUIET }
/* global_opt(ch): handle a shared option; true if it was one. */
bool global_opt(int ch, const char *arg);

/*
 * ctx_make(ctx): a coffer_ctx from the global options: keystore (system
 * mode included), password callback, recovery passphrase.  Returns
 * EXIT_OK, or an exit status after printing why (not root for
 * --system, unreadable passphrase file).  main() calls ctx_release(),
 * which wipes the passphrase.
 */
int ctx_make(struct coffer_ctx *ctx);
void ctx_release(struct coffer_ctx *ctx);

/* Password and passphrase input (passphrase.c); -1 on failure. */
int secret_from_file(const char *path, char *buf, size_t cap);
int secret_from_tty(const char *prompt, char *buf, size_t cap);
int cli_get_password(void *cookie, const char *prompt, char *buf,
    size_t cap);
/*
 * The escrow server's fresh proof (ctx->get_escrow_password, _code):
 * COFFER_ESCROW_PASSWORD_FILE / COFFER_ESCROW_CODE, else the terminal,
 * asked at most once per run.
 */
int cli_get_escrow_password(void *cookie, const char *prompt, char *buf,
    size_t cap);
int cli_get_escrow_code(void *cookie, const char *prompt, char *buf,
    size_t cap);
/*
 * While secret_from_tty has the terminal's echo off: its descriptor
 * (else -1) and the settings to put back, for the interrupt handler.
 */
extern volatile sig_atomic_t g_tty_quiet_fd;
extern struct termios g_tty_saved;
/* line_from_tty(prompt, buf, cap): a line typed with echo; -1: no tty. */
int line_from_tty(const char *prompt, char *buf, size_t cap);
/* ask_new_secret(what, envfile, file, buf, cap): from ${file}, else the
 * file named by $envfile, else asked twice on the terminal. */
int ask_new_secret(const char *what, const char *envfile, const char *file,
    char *buf, size_t cap);
#define SECRET_MAX	1024

/* report_err(err): "coffer <cmd>: <strerror>: <detail>" on stderr. */
void report_err(const struct coffer_err *err);
/* usage_err(usage, fmt, ...): message + usage on stderr; EXIT_USAGE. */
int usage_err(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* parse_scope(s, &scope) / parse_period(s, &period): 0 or -1. */
int parse_scope(const char *s, int *scope);
/* parse_custody(s, &custody): "local", "escrow", ...; 0 or -1. */
int parse_custody(const char *s, int *custody);
extern const char *const custody_names[];
int parse_period(const char *s, int *period);
/*
 * parse_max_unused(s, &pct): prune's --max-unused: "0" … "99", with or
 * without "%", or "unlimited" (COFFER_PRUNE_UNLIMITED); 0 or -1.
 */
int parse_max_unused(const char *s, int *pct);
/* parse_size(s, &v): "500", "64K", "500M", "2G", "1T" (powers of 1024);
 * -1 if not a size. */
int parse_size(const char *s, uint64_t *v);

/* parse_count(s, &n): a whole number 0 ... 1,000,000 (forget's --keep-*). */
int parse_count(const char *s, unsigned *out);
extern const char *const scope_names[];

/* config.c: defaults from the config file (flags > env > file). */
#define CONFIG_EXCLUDES_MAX	256
struct config {
	char		*repo, *keystore;
	char		*cacert, *server;	/* escrow */
	int		 scope;		/* 0: not set */
	int		 custody;	/* 0: not set */
	int		 period;
	bool		 period_set;
	char		*excludes[CONFIG_EXCLUDES_MAX];
	size_t		 nexcludes;
	char		*exclude_files[CONFIG_EXCLUDES_MAX];
	size_t		 nexclude_files;
	bool		 exclude_caches, one_file_system;
};
extern struct config g_config;
/* config_load(): read the config file; -1 (after a message) if bad. */
int config_load(void);

/* progress.c: the live line on a terminal. */
void cli_progress(void *cookie, const struct coffer_progress *p);
void progress_clear(void);
/*
 * progress_wanted(json): --json-progress, or stderr is a terminal, no
 * --quiet, no --json.
 */
bool progress_wanted(bool json);
/* --json-progress was given: progress as JSON lines on stderr. */
extern bool g_progress_json;
/*
 * interrupt_setup(left): on SIGINT (unless ignored) and SIGTERM, end
 * the progress line, print "coffer CMD: interrupted: ${left}" (what the
 * run leaves behind; may be NULL) and die of the signal.
 */
void interrupt_setup(const char *left);
/*
 * interrupt_setup_stop(left): on SIGINT (unless ignored) and SIGTERM,
 * set g_stop to the signal, end the progress line and say that the
 * command is stopping; a second signal (or one at a password prompt)
 * acts as interrupt_setup(${left}) says.  For backup, which stops by
 * itself when g_stop is set (coffer_ctx.stop).
 */
void interrupt_setup_stop(const char *left);
extern volatile sig_atomic_t g_stop;

/* json_bytes(p, len): a JSON string (lossy if not UTF-8). */
json_t *json_bytes(const void *p, size_t len);
/* json_print(doc): dump ${doc} to stdout (and decref); EXIT_OK/FAIL. */
int json_print(json_t *doc);
/* print_escaped(f, p, len): bytes with unprintables as \xNN. */
void print_escaped(FILE *f, const void *p, size_t len);
/* human_size(n, buf): "12.3 MiB". */
const char *human_size(unsigned long long n, char buf[32]);
/* iso_time(sec, nsec, buf): "2026-11-25T17:31:00.123456789Z". */
const char *iso_time(long long sec, unsigned nsec, char buf[48]);

/*
 * snapfilter.c: --tag T, --host H, --path P of snapshots, forget (and
 * later mount and copy), parsed once into a coffer_snapshot_filter.
 */
#define OPT_TAG		1010
#define OPT_HOST	1011
#define OPT_PATH	1012
#define FILTER_LONGOPTS							\
	{ "tag",	required_argument,	NULL, OPT_TAG },	\
	{ "host",	required_argument,	NULL, OPT_HOST },	\
	{ "path",	required_argument,	NULL, OPT_PATH }
struct filter_args {
	struct coffer_snapshot_filter	 f;
	const char			**tags, **hosts, **paths; /* argc + 1 */
};
/* filter_init(fa, argc): room for every argument; -1 if out of memory. */
int filter_init(struct filter_args *fa, int argc);
/* filter_opt(fa, ch, arg): take a filter option; true if it was one. */
bool filter_opt(struct filter_args *fa, int ch, const char *arg);
void filter_release(struct filter_args *fa);
/* filter_given(fa): any filter option given. */
bool filter_given(const struct filter_args *fa);

#endif /* !CLI_H_ */
