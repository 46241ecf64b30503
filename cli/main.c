/* SPDX-License-Identifier: ISC */
/* main: the command table, shared options, and dispatch. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct global_opts g_opts;
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
	{ "restore",	cmd_restore,	"restore a snapshot (or part of it)" },
	{ "check",	cmd_check,	"verify the repository" },
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
	    "  -q, --quiet      print only errors and warnings\n"
	    "\n'coffer COMMAND --help' shows a command's options.\n"
	    "exit status: 0 ok, 1 failed, 2 usage error, 3 backup done but\n"
	    "some files could not be read.\n", f);
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
	default:
		return false;
	}
}

static void
warn_cb(void *cookie, const char *msg)
{
	(void)cookie;
	fprintf(stderr, "coffer %s: warning: %s\n", g_cmd, msg);
}

void
ctx_make(struct coffer_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->repo = g_opts.repo;
	ctx->keystore = g_opts.keystore;
	ctx->warn = warn_cb;
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
	const char *v;
	int ch;

	if ((v = getenv("COFFER_REPO")) != NULL && *v != '\0')
		g_opts.repo = v;
	if ((v = getenv("COFFER_KEYSTORE")) != NULL && *v != '\0')
		g_opts.keystore = v;
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
		if (coffer_init() != 0) {
			fprintf(stderr, "coffer: cannot initialise libsodium\n");
			return EXIT_FAIL;
		}
		/* 0 makes GNU getopt start afresh (and permute again). */
		optind = 0;
		return cmds[i].fn(argc, argv);
	}
	fprintf(stderr, "coffer: unknown command '%s' (see 'coffer --help')\n",
	    argv[0]);
	return EXIT_USAGE;
}
