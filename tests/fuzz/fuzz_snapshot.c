/* SPDX-License-Identifier: ISC */
/*
 * fuzz_snapshot: the body of a snapshot file (docs/FORMAT.md §10.2),
 * through snapshot_load.  The input is the body PLAINTEXT; the harness
 * seals it as snapshot_write would (magic CFSNAP01, type SNAPSHOT, object
 * id BLAKE2b-256 of the name) under the fixed key and stores it under the
 * file name of the name it carries (or of "1" when it carries no valid
 * name), so the parser behind the AEAD is what gets fuzzed.
 *
 * Properties: a correctly sealed body is never refused as unauthentic;
 * an accepted body has every string present, its name is the one asked
 * for, and re-encoding its fields by §10.2 (here, independently) gives
 * exactly the input.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	fuzz_keyset();
	return 0;
}

/* The name the body carries, if it is one a snapshot file can have. */
static void
pick_name(const uint8_t *data, size_t size, char name[SNAPSHOT_NAME_MAX])
{
	char fname[SNAPSHOT_NAME_MAX], back[SNAPSHOT_NAME_MAX];
	struct rbuf rb;
	const uint8_t *p;
	size_t len;

	strcpy(name, "1");
	rbuf_init(&rb, data, size);
	(void)rbuf_u32(&rb);
	if ((p = rbuf_bytes32(&rb, &len, SNAPSHOT_NAME_MAX - 1)) == NULL ||
	    len == 0 || memchr(p, '\0', len) != NULL)
		return;
	memcpy(back, p, len);
	back[len] = '\0';
	snapshot_fname(back, fname);
	if (snapshot_name_from_fname(fname, name) != 0 ||
	    strcmp(name, back) != 0)
		strcpy(name, "1");
}

static void
put_str(struct wbuf *b, const char *s)
{
	wbuf_u32(b, (uint32_t)strlen(s));
	wbuf_put(b, s, strlen(s));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct coffer_err err = { 0 };
	struct keyset *ks;
	struct snapshot s;
	char name[SNAPSHOT_NAME_MAX], fname[SNAPSHOT_NAME_MAX], path[96];
	uint8_t nameid[HASH_LEN];
	uint8_t *sealed = NULL;
	size_t slen;
	struct wbuf again;
	int r;

	ks = fuzz_keyset();
	pick_name(data, size, name);
	hash_plain(nameid, sizeof(nameid), name, strlen(name));
	FUZZ_CHECK(obj_seal(ks, "CFSNAP01", OBJ_SNAPSHOT, nameid,
	    sizeof(nameid), data, size, &sealed, &slen, &err) == 0,
	    "sealing: %s", err.msg);
	snapshot_fname(name, fname);
	snprintf(path, sizeof(path), "snapshots/%s", fname);
	fuzz_write(ks->dirfd, path, sealed, slen, 0600);
	coffer_free(sealed);

	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "%s", name);
	r = snapshot_load(ks, &s, &err);
	FUZZ_CHECK(r == 0 || r == COFFER_EFORMAT || r == COFFER_ENOMEM,
	    "snapshot_load returned %d (%s)", r, err.msg);
	if (r != 0) {
		FUZZ_CHECK(r != COFFER_EFORMAT || (s.hostname == NULL && s.username == NULL &&
		    s.paths == NULL && s.npaths == 0),
		    "a refused snapshot keeps fields");
		snapshot_release(&s);
		(void)unlinkat(ks->dirfd, path, 0);
		return 0;
	}
	FUZZ_CHECK(strcmp(s.name, name) == 0, "name changed to '%s'", s.name);
	FUZZ_CHECK(s.readable && s.hostname != NULL && s.username != NULL,
	    "accepted snapshot lacks fields");
	for (size_t i = 0; i < s.npaths; i++)
		FUZZ_CHECK(s.paths[i] != NULL, "path %zu missing", i);
	wbuf_init(&again, 16u << 20);
	wbuf_u32(&again, 1);
	put_str(&again, s.name);
	wbuf_u64(&again, (uint64_t)s.time_sec);
	wbuf_u32(&again, s.time_nsec);
	put_str(&again, s.hostname);
	put_str(&again, s.username);
	wbuf_u32(&again, (uint32_t)s.npaths);
	for (size_t i = 0; i < s.npaths; i++)
		put_str(&again, s.paths[i]);
	wbuf_put(&again, s.tree, BLOB_ID_LEN);
	wbuf_u64(&again, s.size);
	wbuf_u64(&again, s.nfiles);
	wbuf_u64(&again, s.ndirs);
	wbuf_u64(&again, s.added);
	FUZZ_CHECK(!again.oom && again.len == size &&
	    memcmp(again.p, data, size) == 0,
	    "accepted body re-encodes differently (%zu bytes, input %zu)",
	    again.len, size);
	wbuf_release(&again);
	snapshot_release(&s);
	(void)unlinkat(ks->dirfd, path, 0);
	return 0;
}
