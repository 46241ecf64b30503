/* SPDX-License-Identifier: ISC */
/* main: the command table, shared options, and dispatch. */
#include <sys/prctl.h>
#include <sys/resource.h>

#include <getopt.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct global_opts g_opts;
static char *g_passphrase;	/* guarded; wiped by ctx_release() */
const char *g_cmd = "";

static const struct cmd {
	const char	*name;
	cmd_fn		*fn;
	const char	*summary;
} cmds[] = {
	{ "init",	cmd_init,	"create a repository and its key" },
	{ "backup",	cmd_backup,	"back up files and folders as a new snapshot" },
	{ "snapshots",	cmd_snapshots,	"list the snapshots on the card" },
	{ "ls",		cmd_ls,		"list the files in a snapshot" },
	{ "diff",	cmd_diff,	"show what changed between two snapshots" },
	{ "find",	cmd_find,	"search the snapshots for files by name" },
	{ "restore",	cmd_restore,	"restore a snapshot (or part of it)" },
	{ "check",	cmd_check,	"verify the repository" },
	{ "stats",	cmd_stats,	"sizes before and after dedup and compression" },
	{ "tag",	cmd_tag,	"add, remove or set the tags of snapshots" },
	{ "copy",	cmd_copy,	"copy snapshots to a second card (init --like)" },
	{ "mount",	cmd_mount,	"browse the snapshots as a read-only file system" },
	{ "forget",	cmd_forget,	"remove snapshots by a retention policy" },
	{ "prune",	cmd_prune,	"free the space no snapshot uses" },
	{ "key",	cmd_key,	"list, protect or destroy key sets" },
	{ "keystore",	cmd_keystore,	"manage the keystore (password)" },
	{ "escrow",	cmd_escrow,	"log in to a key escrow server, list its keys" },
	{ "card",	cmd_card,	"back up when a recorded card goes in" },
};

static void
usage(FILE *f)
{
	fputs("usage: coffer [--repo DIR] [--keystore DIR] COMMAND [ARGS]\n"
	    "\nEncrypted, deduplicated backups on a card or any folder.\n"
	    "\ncommands:\n", f);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].summary);
	fputs("\nglobal options (also accepted after the command):\n"
	    "  --repo DIR       repository folder (env COFFER_REPO)\n"
	    "  --keystore DIR   keystore folder (env COFFER_KEYSTORE; default\n"
	    "                   $XDG_DATA_HOME/coffer)\n"
	    "  --system         use the system keystore /var/lib/coffer (root only)\n"
	    "  --passphrase-file F  open key sets by their recovery passphrase\n"
	    "  --cacert FILE    CA certificate of the escrow server (env\n"
	    "                   COFFER_CACERT)\n"
	    "  -q, --quiet      print only errors and warnings\n"
	    "\nbefore the command only:\n"
	    "  -h, --help       this list\n"
	    "  -V, --version    print the version\n"
	    "\n'coffer COMMAND --help' shows a command's options.\n"
	    "exit status: 0 ok, 1 failed, 2 usage error, 3 backup done but\n"
	    "some files could not be read, 4 (snapshots, check) nothing\n"
	    "damaged but some key cannot be had now.\n", f);
}

bool
global_opt(int ch, const char *arg)
{
	switch (ch) {
	case OPT_REPO:
		g_opts.repo = arg;
		return true;
	case OPT_KEYSTORE:
		g_opts.keystore = arg;
		return true;
	case OPT_QUIET:
		g_opts.quiet = true;
		return true;
	case OPT_SYSTEM:
		g_opts.system = true;
		return true;
	case OPT_PASSFILE:
		g_opts.passphrase_file = arg;
		return true;
	case OPT_CACERT:
		g_opts.cacert = arg;
		return true;
	default:
		return false;
	}
}

static void
warn_cb(void *cookie, const char *msg)
{
	(void)cookie;
	progress_clear();
	/* File names can hold anything: show control bytes escaped. */
	fprintf(stderr, "coffer %s: warning: ", g_cmd);
	print_escaped(stderr, msg, strlen(msg));
	fputc('\n', stderr);
}

int
ctx_make(struct coffer_ctx *ctx)
{
	const char *v;

	memset(ctx, 0, sizeof(*ctx));
	ctx->repo = g_opts.repo;
	ctx->keystore = g_opts.keystore;
	ctx->warn = warn_cb;
	ctx->get_password = cli_get_password;
	ctx->get_escrow_password = cli_get_escrow_password;
	ctx->get_escrow_code = cli_get_escrow_code;
	ctx->cacert = g_opts.cacert;
	ctx->escrow_server = g_opts.server;
	v = getenv("COFFER_INSECURE_FAST_KDF");
	ctx->fast_kdf = v != NULL && strcmp(v, "1") == 0;
	if (g_opts.system) {
		/* Before anything is read or written. */
		if (geteuid() != 0) {
			fprintf(stderr, "coffer %s: --system needs root: the "
			    "system keystore is readable by root only (run "
			    "it with sudo)\n", g_cmd);
			return EXIT_FAIL;
		}
		v = getenv("COFFER_SYSTEM_KEYSTORE");
		ctx->keystore = v != NULL && *v != '\0' ? v : "/var/lib/coffer";
	}
	if (g_opts.passphrase_file != NULL) {
		char *buf;
		int n;

		if ((buf = coffer_secret_alloc(SECRET_MAX)) == NULL)
			return EXIT_FAIL;
		if ((n = secret_from_file(g_opts.passphrase_file, buf,
		    SECRET_MAX)) < 0) {
			coffer_secret_free(buf);
			return EXIT_FAIL;
		}
		coffer_secret_free(g_passphrase);
		g_passphrase = buf;
		ctx->passphrase = buf;
		ctx->passphrase_len = (size_t)n;
	}
	return EXIT_OK;
}

void
ctx_release(struct coffer_ctx *ctx)
{
	(void)ctx;
	coffer_secret_free(g_passphrase);
	g_passphrase = NULL;
}

/*
 * no_core_dumps(): keep keys and passwords out of core files and away
 * from other processes of our uid: no core file (RLIMIT_CORE 0, soft
 * and hard) and not dumpable, which also stops ptrace attach and
 * /proc/PID/mem reads by anyone but root.  A tracer that started us
 * (strace, gdb, valgrind) keeps working.  Best effort: a failure leaves
 * the defaults, which is no reason to refuse a backup.
 */
static void
no_core_dumps(void)
{
	struct rlimit rl = { 0, 0 };

	(void)setrlimit(RLIMIT_CORE, &rl);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		{ "help",	no_argument,	NULL, 'h' },
		{ "version",	no_argument,	NULL, 'V' },
		{ NULL,		0,		NULL, 0 },
	};
	static char argv0[32];
	const char *v;
	int ch, rc;

	/* Before any secret is read. */
	no_core_dumps();
	/* The config file, then the environment, then flags. */
	if (config_load() != 0)
		return EXIT_USAGE;
	g_opts.repo = g_config.repo;
	g_opts.keystore = g_config.keystore;
	if ((v = getenv("COFFER_REPO")) != NULL && *v != '\0')
		g_opts.repo = v;
	if ((v = getenv("COFFER_KEYSTORE")) != NULL && *v != '\0')
		g_opts.keystore = v;
	g_opts.cacert = g_config.cacert;
	g_opts.server = g_config.server;
	if ((v = getenv("COFFER_CACERT")) != NULL && *v != '\0')
		g_opts.cacert = v;
	if ((v = getenv("COFFER_SERVER")) != NULL && *v != '\0')
		g_opts.server = v;
	/* Options before the command; stop at the first non-option. */
	while ((ch = getopt_long(argc, argv, "+qhV", longopts, NULL)) != -1) {
		if (global_opt(ch, optarg))
			continue;
		switch (ch) {
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("coffer %s\n", COFFER_VERSION);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[0], "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[0], cmds[i].name) != 0)
			continue;
		g_cmd = cmds[i].name;
		/* Ctrl-C: a word, and the echo back on (backup says more). */
		interrupt_setup(NULL);
		if (coffer_init() != 0) {
			fprintf(stderr, "coffer: cannot initialise libsodium\n");
			return EXIT_FAIL;
		}
		/* 0 makes GNU getopt start afresh (and permute again). */
		optind = 0;
		/* getopt's own messages start with argv[0]: "coffer CMD". */
		snprintf(argv0, sizeof(argv0), "coffer %s", cmds[i].name);
		argv[0] = argv0;
		rc = cmds[i].fn(argc, argv);
		ctx_release(NULL);
		return rc;
	}
	fprintf(stderr, "coffer: unknown command '%s' (see 'coffer --help')\n",
	    argv[0]);
	return EXIT_USAGE;
}
