/* SPDX-License-Identifier: ISC */
/*
 * session: what every operation opens first — the repository, the lock,
 * the keystore (unlocked with its password when it has one) — and the
 * search for the data key of a key set: a key stored in the keystore,
 * one derived from the repository secret (device or period scope), or a
 * recovery passphrase slot on the card.
 */
#ifndef SESSION_H_
#define SESSION_H_

#include <stdarg.h>

#include "coffer/coffer.h"
#include "../repo/repo.h"
#include "../repo/keyinfo.h"
#include "../repo/tree.h"
#include "../keystore/keystore.h"

#define SESSION_DK_CACHE	32

struct session {
	const struct coffer_ctx	*ctx;
	struct repo		*repo;
	struct repo_lock	*lock;
	struct keystore		*kst;		/* NULL: none (passphrase only) */
	uint8_t			*secret;	/* guarded; NULL if none here */
	struct {
		char		 keyid[KEYID_HEX_LEN + 1];
		uint8_t		*dk;		/* guarded */
	}			 cache[SESSION_DK_CACHE];
	int			 ncache;
	bool			 offline;	/* session_dk: never ask the server */
	/*
	 * Set by session_dk (and so session_keyset) when it fails because
	 * the key cannot be had now: the escrow server's answer (not
	 * reachable, not logged in, key destroyed there, fresh proof not
	 * given), or a recovery passphrase that does not open the set.
	 * Such a failure says nothing about the card: not damage.
	 */
	bool			 dk_unavailable;
};

/*
 * session_open(ctx, lockkind, need_key, s, err): open the repository,
 * take a lock of ${lockkind} (0: none) and, with ${need_key}, the
 * keystore (asking for its password if it has one) and the repository
 * secret.  With a recovery passphrase in ${ctx}, a missing keystore is
 * not an error.
 */
int session_open(const struct coffer_ctx *ctx, int lockkind, bool need_key,
    struct session *s, struct coffer_err *err) WUR;
void session_close(struct session *s);

/*
 * session_dk(s, keyid, &dk, err): the data key of key set ${keyid}
 * (borrowed until session_close).  COFFER_ENOKEY if none of the ways
 * finds it; COFFER_EAUTH if a passphrase was given and is wrong.  Sets
 * ${s}->dk_unavailable as said there.
 */
int session_dk(struct session *s, const char *keyid, const uint8_t **dk,
    struct coffer_err *err) WUR;

/* session_keyset(s, keyid, &ks, err): open key set ${keyid}. */
int session_keyset(struct session *s, const char *keyid, struct keyset **out,
    struct coffer_err *err) WUR;

/*
 * session_target(s, scope, period, custody, when, &ks, err): the key set
 * a backup requested at ${when} joins under ${scope}/${period} (creating
 * it: under local custody its data key goes into the keystore, under the
 * others to the escrow server, custody.c).
 */
int session_target(struct session *s, int scope, int period, int custody,
    time_t when, struct keyset **out, struct coffer_err *err) WUR;

/* session_cache_put(s, keyid, dk): keep ${dk} (ours now) for the session. */
const uint8_t *session_cache_put(struct session *s, const char *keyid,
    uint8_t *dk);

/*
 * custody_target(s, scope, custody, label, &ks, err): session_target for
 * the escrow custodies: append to this keystore's set for the device or
 * the period ${label} (its key released or unwrapped by the server), or
 * start a new one (deposited, or sealed to a pooled wrap key).
 */
int custody_target(struct session *s, int scope, int custody,
    const char *label, struct keyset **out, struct coffer_err *err) WUR;

/*
 * custody_fetch(s, ki, keyid, &dk, err): the data key of escrow key set
 * ${keyid} (keyinfo ${ki}) from the escrow server the keystore is logged
 * in to; *dk guarded, the caller's.  COFFER_ELOGIN, COFFER_EDESTROYED,
 * COFFER_ENET, COFFER_ENOTFOUND with messages that say what to do.
 */
int custody_fetch(struct session *s, const struct keyinfo *ki,
    const char *keyid, uint8_t **dk, struct coffer_err *err) WUR;

/*
 * custody_destroy(s, ki, keyid, err): destroy the escrowed key (or the
 * wrap key pair) of key set ${keyid} at its escrow server.  A key the
 * server has already destroyed is not an error; one it does not know for
 * this account is (COFFER_ENOTFOUND): it may live on under another.
 */
int custody_destroy(struct session *s, const struct keyinfo *ki,
    const char *keyid, struct coffer_err *err) WUR;

/*
 * custody_find(s, keyid, found, cap, &n, err): the escrowed copies of the
 * data key of key set ${keyid} at the escrow server this keystore is
 * logged in to: its deposited keys labelled "coffer key set <keyid>"
 * (custody.c) that, released, turn out to be that set's key.  Each goes
 * into ${found} (at most ${cap}) as a keyinfo fit for custody_destroy.
 * COFFER_ELOGIN, COFFER_ENET ... if the server cannot be asked.
 */
#define CUSTODY_FIND_MAX	8
int custody_find(struct session *s, const char *keyid, struct keyinfo *found,
    size_t cap, size_t *n, struct coffer_err *err) WUR;

/*
 * session_find_snapshot(s, spec, &ks, snap, err): resolve ${spec} (exact
 * name, "latest", or a unique prefix of the id), open its key set and
 * load it.
 */
/*
 * key_destroy_pending(s, keyid): this keystore holds the record of a 'key
 * destroy' of that set in this repository that did not finish (keys.c,
 * FORMAT.md §18.4).
 */
bool key_destroy_pending(struct session *s, const char *keyid);

int session_find_snapshot(struct session *s, const char *spec,
    struct keyset **ks, struct snapshot *snap, struct coffer_err *err) WUR;

/*
 * session_fresh(ctx, fresh): fill the escrow client's ${fresh} (a struct
 * escrow_fresh) from ${ctx}'s get_escrow_password and get_escrow_code.
 */
struct escrow_fresh;
void session_fresh(const struct coffer_ctx *ctx, struct escrow_fresh *fresh);

/*
 * session_warn(ctx, fmt, ...): pass a formatted warning to ctx->warn,
 * whole at any length (cut at 2047 bytes only if out of memory).
 */
void session_warn(const struct coffer_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* session_vwarn(ctx, fmt, ap): session_warn with a va_list. */
void session_vwarn(const struct coffer_ctx *ctx, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* session_keystore_dir(ctx, out, cap, err): where the keystore is. */
int session_keystore_dir(const struct coffer_ctx *ctx, char *out, size_t cap,
    struct coffer_err *err) WUR;
/* session_unlock(ctx, kst, err): ask for and check the password. */
int session_unlock(const struct coffer_ctx *ctx, struct keystore *kst,
    struct coffer_err *err) WUR;

/* period_label(period, when, out): "day:2026-11-25" etc. */
void period_label(int period, time_t when, char out[32]);

/*
 * entry_info(e, path, len, info): the public view of tree entry ${e}
 * found at ${path} (${len} bytes; borrowed, like the entry's target).
 */
void entry_info(const struct tree_entry *e, const char *path, size_t len,
    struct coffer_entry_info *info);

/* path_append(buf, &len, cap, name, namelen): "a/b" + "c"; -1 if too long. */
int path_append(char *buf, size_t *len, size_t cap, const uint8_t *name,
    size_t namelen) WUR;

/* stored_path_lookup(t, name, len): ${name} in ${t} (sorted by name): its
 * index, or -1. */
long stored_path_lookup(const struct tree *t, const char *name, size_t len);

/*
 * stored_path_find(ks, root, path, snapname, t, &e, err): walk from tree
 * ${root} along ${path} (raw bytes, '/'-separated, no empty component,
 * no leading or trailing '/'); *e points into ${t}, which the caller
 * releases (also on failure).  COFFER_ENOTFOUND (naming ${snapname}) if
 * nothing is there; the tree errors if a folder on the way is damaged.
 */
int stored_path_find(struct keyset *ks, const uint8_t root[BLOB_ID_LEN],
    const char *path, const char *snapname, struct tree *t,
    const struct tree_entry **e, struct coffer_err *err) WUR;

/*
 * stored_path_unescape(in, &out): if ${in} is a path as 'coffer ls'
 * prints it and reads differently as such (it holds "\\" or "\xNN"
 * with NN a lower-case control byte 01-1f or 7f, and no other
 * backslash), *out is the bytes it stands for (caller frees) and 1 is
 * returned; otherwise 0 and *out is NULL.  COFFER_ENOMEM if out of memory.
 */
int stored_path_unescape(const char *in, char **out) WUR;

/*
 * stored_path_print(out, cap, in): ${in} as 'coffer ls' prints it (a
 * control byte as \xNN, a backslash as \\) into ${out} (${cap} bytes,
 * NUL-terminated); its length, or 0 if it reads the same as ${in} or
 * does not fit.
 */
size_t stored_path_print(char *out, size_t cap, const char *in);

/*
 * stored_path_resolve(ctx, ks, root, text, snapname, &out, err): the
 * stored path the user meant by ${text}, leading and trailing '/'
 * dropped: the path as 'coffer ls' prints it if ${text} is one and it
 * names an entry of the snapshot with tree ${root}, else the bytes of
 * ${text} as typed.  When both readings name an entry, the ls reading
 * is taken with a warning.  *out is the caller's to free.
 */
int stored_path_resolve(const struct coffer_ctx *ctx, struct keyset *ks,
    const uint8_t root[BLOB_ID_LEN], const char *text, const char *snapname,
    char **out, struct coffer_err *err) WUR;

/*
 * path_put(buf, &cap, &len, name, namelen): like path_append, on a heap
 * buffer *${buf} of *${cap} bytes grown as needed (from NULL and 0 too)
 * up to PATH_BUF_MAX: the first *${len} bytes, '/' and ${name}.  -1 if
 * longer or out of memory; *${buf} and *${len} are then unchanged.
 */
#define PATH_BUF_MAX	(16u << 20)
int path_put(char **buf, size_t *cap, size_t *len, const uint8_t *name,
    size_t namelen) WUR;

/*
 * The tree walks (check, ls, find, stats, prune, restore) keep one frame
 * per folder on the way down on the heap, never on the C stack, so any
 * depth fits any stack: a struct tframe per level in a struct tstack.
 * A frame holds the folder's decoded tree, the index of its next entry
 * and the length of its path; the other fields are for the walk that
 * needs them.
 */
struct tframe {
	struct tree		 t;
	size_t			 i;		/* next entry */
	size_t			 plen;		/* the folder's path length */
	uint8_t			 id[BLOB_ID_LEN];
	uint64_t		 files, size;	/* stats */
	int			 fd;		/* restore: the folder, open */
	uint64_t		 dev, ino;	/* restore: its identity */
	bool			 sel;		/* restore: selected */
	const struct tree_entry	*owner;		/* its entry in the parent */
};

struct tstack {
	struct tframe		*f;
	size_t			 n, cap;
};

/*
 * tstack_push(s): a zeroed frame on top of ${s} (fd -1), valid until the
 * next push; NULL if out of memory.
 */
struct tframe *tstack_push(struct tstack *s);
/* tstack_pop(s): release the top frame's tree and drop it. */
void tstack_pop(struct tstack *s);
/* tstack_release(s): pop every frame and free ${s}'s memory. */
void tstack_release(struct tstack *s);

#endif /* !SESSION_H_ */
