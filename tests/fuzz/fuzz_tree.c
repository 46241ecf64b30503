/* SPDX-License-Identifier: ISC */
/*
 * fuzz_tree: tree_decode (docs/FORMAT.md §11), the parser of every
 * directory blob.  Property: a tree the decoder accepts re-encodes to
 * exactly the input bytes (there is one encoding per tree), and every
 * accepted entry obeys §11.2 (checked again here, independently).
 */
#include <string.h>

#include "fuzz.h"
#include "repo/tree.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

static void
check_entry(const struct tree_entry *e, const struct tree_entry *prev,
    uint32_t version)
{
	FUZZ_CHECK(e->namelen >= 1 && e->namelen <= TREE_NAME_MAX,
	    "name length %zu", e->namelen);
	FUZZ_CHECK(memchr(e->name, '/', e->namelen) == NULL &&
	    memchr(e->name, '\0', e->namelen) == NULL, "name has / or NUL");
	FUZZ_CHECK(!(e->namelen == 1 && e->name[0] == '.') &&
	    !(e->namelen == 2 && memcmp(e->name, "..", 2) == 0),
	    "name is . or ..");
	if (prev != NULL) {
		size_t m = prev->namelen < e->namelen ? prev->namelen :
		    e->namelen;
		int c = memcmp(prev->name, e->name, m);

		FUZZ_CHECK(c < 0 || (c == 0 && prev->namelen < e->namelen),
		    "names not strictly increasing");
	}
	FUZZ_CHECK(e->type >= NODE_FILE && e->type <= NODE_BLK, "type %d",
	    e->type);
	FUZZ_CHECK(e->mode <= 07777, "mode %o", (unsigned)e->mode);
	FUZZ_CHECK(e->mtime_nsec < 1000000000u, "nsec %u",
	    (unsigned)e->mtime_nsec);
	FUZZ_CHECK((e->type == NODE_SYMLINK) == (e->targetlen > 0),
	    "target on a type %d", e->type);
	FUZZ_CHECK(e->nchunks == 0 || e->type == NODE_FILE,
	    "chunks on a type %d", e->type);
	FUZZ_CHECK((e->iflags & ~TREE_IFLAGS_MASK) == 0, "iflags %#x",
	    (unsigned)e->iflags);
	FUZZ_CHECK(e->iflags == 0 || e->type == NODE_FILE ||
	    e->type == NODE_DIR, "iflags on a type %d", e->type);
	for (size_t x = 0; x < e->nxattrs; x++) {
		const char *nm = e->xattrs[x].name;
		size_t n = strlen(nm);

		FUZZ_CHECK(n >= 1 && n <= 255, "xattr name length %zu", n);
		FUZZ_CHECK(e->xattrs[x].vlen <= TREE_XATTR_MAX,
		    "xattr value length %zu", e->xattrs[x].vlen);
		/* Version 2: only the namespaces coffer stores. */
		FUZZ_CHECK(version == 1 || strncmp(nm, "user.", 5) == 0 ||
		    strncmp(nm, "trusted.", 8) == 0 ||
		    strncmp(nm, "security.", 9) == 0 ||
		    strncmp(nm, "system.posix_acl_", 17) == 0,
		    "xattr name '%s' in version 2", nm);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct coffer_err err = { 0 };
	struct tree t;
	struct wbuf again;
	int r;

	fuzz_setup();
	if (tree_is_split(data, size)) {
		uint8_t (*ids)[BLOB_ID_LEN];
		size_t n;

		/* A split tree: at least two part ids and nothing else. */
		r = tree_split_decode(data, size, &ids, &n, &err);
		FUZZ_CHECK(r == 0 || r == COFFER_EFORMAT || r == COFFER_ENOMEM,
		    "tree_split_decode returned %d (%s)", r, err.msg);
		FUZZ_CHECK(r != 0 || (n >= 2 && size == 8 + n * BLOB_ID_LEN &&
		    memcmp(ids, data + 8, n * BLOB_ID_LEN) == 0),
		    "split tree accepted with %zu parts in %zu bytes", n, size);
		FUZZ_CHECK(tree_decode(data, size, &t, &err) == COFFER_EFORMAT,
		    "tree_decode accepted a split tree");
		tree_release(&t);
		coffer_free(ids);
		return 0;
	}
	r = tree_decode(data, size, &t, &err);
	FUZZ_CHECK(r == 0 || r == COFFER_EFORMAT || r == COFFER_ENOMEM,
	    "tree_decode returned %d (%s)", r, err.msg);
	if (r == 0) {
		for (size_t i = 0; i < t.n; i++)
			check_entry(&t.e[i], i > 0 ? &t.e[i - 1] : NULL,
			    t.version);
		wbuf_init(&again, BLOB_MAX);
		tree_encode(&t, &again);
		FUZZ_CHECK(!again.oom, "re-encoding failed");
		FUZZ_CHECK(again.len == size && (size == 0 ||
		    memcmp(again.p, data, size) == 0),
		    "accepted tree re-encodes differently (%zu bytes, "
		    "input %zu)", again.len, size);
		wbuf_release(&again);
	}
	tree_release(&t);
	return 0;
}
