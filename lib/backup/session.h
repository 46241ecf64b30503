/* SPDX-License-Identifier: ISC */
/*
 * session: what every operation opens first — the repository, the lock,
 * the keystore and the data key of this device — and the lookup of a
 * snapshot by name, id prefix or "latest".
 */
#ifndef SESSION_H_
#define SESSION_H_

#include "coffer/coffer.h"
#include "../repo/repo.h"
#include "../repo/tree.h"
#include "../keystore/keystore.h"

struct session {
	const struct coffer_ctx	*ctx;
	struct repo		*repo;
	struct repo_lock	*lock;
	struct keystore		*kst;
	uint8_t			*dk;		/* guarded: device data key */
	char			 dk_keyid[KEYID_HEX_LEN + 1];
};

/*
 * session_open(ctx, lockkind, need_key, s, err): open the repository,
 * take a lock of ${lockkind} (0: none) and, with ${need_key}, the
 * keystore and this device's data key.
 */
int session_open(const struct coffer_ctx *ctx, int lockkind, bool need_key,
    struct session *s, struct coffer_err *err) WUR;
void session_close(struct session *s);

/*
 * session_keyset(s, keyid, create, &ks, err): open the key set ${keyid}
 * with a key this device holds; COFFER_ENOKEY if none fits.
 */
int session_keyset(struct session *s, const char *keyid, bool create,
    struct keyset **out, struct coffer_err *err) WUR;

/*
 * session_find_snapshot(s, spec, &ks, snap, err): resolve ${spec} (exact
 * name, "latest", or a unique prefix of the id), open its key set and
 * load it.
 */
int session_find_snapshot(struct session *s, const char *spec,
    struct keyset **ks, struct snapshot *snap, struct coffer_err *err) WUR;

/* session_warn(ctx, fmt, ...): pass a formatted warning to ctx->warn. */
void session_warn(const struct coffer_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* path_append(buf, &len, cap, name, namelen): "a/b" + "c"; -1 if too long. */
int path_append(char *buf, size_t *len, size_t cap, const uint8_t *name,
    size_t namelen) WUR;

#endif /* !SESSION_H_ */
