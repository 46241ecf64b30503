/* SPDX-License-Identifier: ISC */
/*
 * cmd_key: coffer key list [--json]
 *          coffer key add-passphrase [KEY_ID] [--passphrase-file F]
 *          coffer key remove-passphrase KEY_ID
 *          coffer key destroy KEY_ID [--yes]
 */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char key_usage[] =
    "usage: coffer key [--repo DIR] list [--json]\n"
    "       coffer key [--repo DIR] add-passphrase [KEY_ID]\n"
    "                  [--passphrase-file F]\n"
    "       coffer key [--repo DIR] remove-passphrase KEY_ID\n"
    "       coffer key [--repo DIR] destroy KEY_ID [-y | --yes] [--json]\n"
    "\nlist: every key set on the card: key id, scope, custody, its\n"
    "  snapshots, and whether this keystore holds its key.\n"
    "add-passphrase: put a recovery slot on the card, the key set's key\n"
    "  sealed under Argon2id(passphrase), so that 'coffer restore\n"
    "  --passphrase-file F' works with the keystore gone.  Without KEY_ID:\n"
    "  the one key set whose key is in this keystore; if there are\n"
    "  several, it lists them and a KEY_ID is needed.  The keystore\n"
    "  password (if any) is asked first, then the new passphrase, twice\n"
    "  on the terminal unless --passphrase-file is given.  Anyone with\n"
    "  the card can try passphrases against the slot, so one that is\n"
    "  easy to guess is refused (use 4 or more random words).\n"
    "remove-passphrase: remove that slot.\n"
    "destroy: wipe the key set's key from the keystore and delete the set\n"
    "  from the card; its snapshots are gone for good.  Without --yes it\n"
    "  only says what it would destroy.  KEY_ID may also be the escrow\n"
    "  server's 32-digit id of the key ('coffer escrow keys').\n"
    "\nexamples:\n  coffer key list\n"
    "  coffer key add-passphrase --passphrase-file ~/recovery.txt\n"
    "  coffer key destroy 3f2a9c0d11e4b7a8 --yes\n";

static int
key_list(bool json, struct coffer_ctx *ctx)
{
	struct coffer_keyset_info *v = NULL;
	struct coffer_err err = { 0 };
	size_t n = 0;
	int rc = EXIT_OK;

	if (coffer_keys(ctx, &v, &n, &err) != 0) {
		report_err(&err);
		return EXIT_FAIL;
	}
	if (json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < n; i++) {
			json_t *o = json_object(), *sn = json_array();

			for (size_t k = 0; k < v[i].nsnapshots; k++)
				json_array_append_new(sn,
				    json_string(v[i].snapshots[k]));
			json_object_set_new(o, "key_id",
			    json_string(v[i].key_id));
			json_object_set_new(o, "scope", v[i].damaged ?
			    json_null() : json_string(scope_names[v[i].scope]));
			json_object_set_new(o, "period", v[i].period[0] ?
			    json_string(v[i].period) : json_null());
			json_object_set_new(o, "custody",
			    json_string(v[i].custody));
			json_object_set_new(o, "escrow_server",
			    v[i].escrow_server[0] ? json_string(
			    v[i].escrow_server) : json_null());
			json_object_set_new(o, "escrow_key_id",
			    v[i].escrow_key_id[0] ? json_string(
			    v[i].escrow_key_id) : json_null());
			json_object_set_new(o, "key_present",
			    json_boolean(v[i].key_present));
			json_object_set_new(o, "passphrase",
			    json_boolean(v[i].passphrase));
			json_object_set_new(o, "damaged",
			    json_boolean(v[i].damaged));
			json_object_set_new(o, "snapshots", sn);
			json_array_append_new(arr, o);
		}
		rc = json_print(json_pack("{s:o}", "key_sets", arr));
	} else {
		printf("%-16s %-7s %-17s %-12s %-4s %-10s %s\n", "KEY ID",
		    "SCOPE", "PERIOD", "CUSTODY", "KEY", "PASSPHRASE",
		    "SNAPSHOTS");
		for (size_t i = 0; i < n; i++)
			printf("%-16s %-7s %-17s %-12s %-4s %-10s %zu%s\n",
			    v[i].key_id, v[i].damaged ? "?" :
			    scope_names[v[i].scope], v[i].period[0] ?
			    v[i].period : "-", v[i].custody,
			    v[i].key_present ? "yes" : "no",
			    v[i].passphrase ? "yes" : "no",
			    v[i].nsnapshots, v[i].damaged ?
			    " (keyinfo damaged)" : "");
	}
	coffer_keys_free(v, n);
	return rc;
}

/* The new recovery passphrase, asked after the keystore is open. */
struct new_pass {
	const char	*file;		/* --passphrase-file, or NULL */
	bool		 failed;	/* ask_new_secret said why */
};

static int
new_pass_cb(void *cookie, const char *prompt, char *buf, size_t cap)
{
	struct new_pass *np = cookie;
	int n;

	(void)prompt;
	if ((n = ask_new_secret("recovery passphrase", NULL, np->file, buf,
	    cap)) < 0)
		np->failed = true;
	return n;
}

static void
say_cb(void *cookie, const char *msg)
{
	json_t *arr = cookie;

	if (arr != NULL)
		json_array_append_new(arr, json_bytes(msg, strlen(msg)));
	else
		printf("%s\n", msg);
}

int
cmd_key(int argc, char **argv)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		{ "json",	no_argument,		NULL, 'j' },
		{ "yes",	no_argument,		NULL, 'y' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	struct coffer_err err = { 0 };
	struct coffer_ctx ctx;
	const char *sub, *keyid = NULL;
	bool json = false, yes = false;
	char done_id[17];
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "qhy", longopts, NULL)) != -1) {
		if (global_opt(ch, optarg))
			continue;
		switch (ch) {
		case 'j':
			json = true;
			break;
		case 'y':
			yes = true;
			break;
		case 'h':
			fputs(key_usage, stdout);
			return EXIT_OK;
		default:
			fputs(key_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return usage_err(key_usage, "give a subcommand");
	sub = argv[optind++];
	if (optind < argc)
		keyid = argv[optind++];
	if (optind < argc)
		return usage_err(key_usage, "unexpected argument '%s'",
		    argv[optind]);
	if (g_opts.repo == NULL)
		return usage_err(key_usage, "no repository given (use --repo "
		    "DIR or set COFFER_REPO)");
	if (strcmp(sub, "list") == 0) {
		if (keyid != NULL)
			return usage_err(key_usage, "list takes no key id");
		if ((ch = ctx_make(&ctx)) != EXIT_OK)
			return ch;
		return key_list(json, &ctx);
	}
	if (strcmp(sub, "add-passphrase") == 0) {
		/* --passphrase-file here names the new passphrase. */
		struct new_pass np = { g_opts.passphrase_file, false };

		g_opts.passphrase_file = NULL;
		if ((ch = ctx_make(&ctx)) != EXIT_OK)
			return ch;
		ctx.cookie = &np;
		rc = coffer_key_passphrase(&ctx, keyid, new_pass_cb, done_id,
		    &err) == 0 ? EXIT_OK : EXIT_FAIL;
		/* ask_new_secret has said why when it gave nothing. */
		if (rc != EXIT_OK && !np.failed)
			report_err(&err);
		if (rc == EXIT_OK && !g_opts.quiet)
			printf("key set %s: recovery passphrase slot written to "
			    "the card\n", done_id);
		return rc;
	}
	if (strcmp(sub, "remove-passphrase") == 0) {
		if (keyid == NULL)
			return usage_err(key_usage, "remove-passphrase needs a "
			    "key id");
		if ((ch = ctx_make(&ctx)) != EXIT_OK)
			return ch;
		if (coffer_key_passphrase(&ctx, keyid, NULL, done_id,
		    &err) != 0) {
			report_err(&err);
			return EXIT_FAIL;
		}
		if (!g_opts.quiet)
			printf("key set %s: recovery passphrase slot removed\n",
			    done_id);
		return EXIT_OK;
	}
	if (strcmp(sub, "destroy") == 0) {
		if (keyid == NULL)
			return usage_err(key_usage, "destroy needs a key id "
			    "(see 'coffer key list')");
		json_t *lines = json ? json_array() : NULL;

		if ((ch = ctx_make(&ctx)) != EXIT_OK) {
			json_decref(lines);
			return ch;
		}
		/* The report lines go to the callback's cookie. */
		ctx.cookie = lines;
		if (coffer_key_destroy(&ctx, keyid, yes, say_cb, &err) != 0) {
			json_decref(lines);
			report_err(&err);
			return EXIT_FAIL;
		}
		if (json)
			return json_print(json_pack("{s:s, s:b, s:o}", "key_id",
			    keyid, "destroyed", yes, "report", lines));
		return EXIT_OK;
	}
	return usage_err(key_usage, "unknown subcommand '%s'", sub);
}
