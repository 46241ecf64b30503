/* SPDX-License-Identifier: ISC */
/*
 * fuzz.h: what the fuzz targets of tests/fuzz share (tests/fuzz/common.c).
 *
 * Each tests/fuzz/fuzz_<target>.c defines LLVMFuzzerTestOneInput and
 * checks a property of one parser of card or keystore data.  It is linked
 * either with libFuzzer ("make fuzz", clang only) or with fuzz_replay.c,
 * which runs it over the files of a corpus with any compiler ("make test",
 * tests/integration/70-fuzz-replay.sh).
 *
 * The parsers behind authentication are reached through the library's own
 * loaders: the harness seals the fuzzer's PLAINTEXT with a fixed data key
 * and the right associated data, writes it where the loader looks, and
 * calls the loader.  Everything lives in one scratch directory per process
 * (fuzz_dir()), removed at exit: under $FUZZ_TMPDIR if set, else /dev/shm
 * when writable (the loaders fsync), else $TMPDIR or /tmp.
 *
 * Nothing here is part of libcoffer.
 */
#ifndef FUZZ_H_
#define FUZZ_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "keystore/keystore.h"
#include "repo/repo.h"
#include "repo/repo_internal.h"
#include "util/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* FUZZ_CHECK(cond, fmt, ...): the property failed: say which, abort(). */
#define FUZZ_CHECK(c, ...) do {						\
	if (!(c))							\
		fuzz_fail(__FILE__, __LINE__, #c, __VA_ARGS__);		\
} while (0)

void fuzz_fail(const char *file, int line, const char *cond,
    const char *fmt, ...) __attribute__((noreturn, format(printf, 4, 5)));

/* The fixed data key of every harness key set, and the password of the
 * harness keystore (its passwd file is fuzz_passwd_file()). */
extern const uint8_t fuzz_dk[KEY_LEN];
#define FUZZ_PASSWORD		"fuzz-password"
/* The key-set key id and repository id the keystore harness asks for. */
extern const uint8_t fuzz_ks_keyid[8];
extern const uint8_t fuzz_ks_repoid[16];
/* The keystore master key sealed in fuzz_passwd_file(). */
extern const uint8_t fuzz_kmk[KEY_LEN];

/*
 * fuzz_setup(): coffer_crypto_init() and the scratch directory; aborts
 * on failure.  Idempotent; every target calls it first.
 */
void fuzz_setup(void);

/* fuzz_dir(): the absolute path of the scratch directory. */
const char *fuzz_dir(void);

/*
 * fuzz_path(out, cap, fmt, ...): fuzz_dir() + "/" + the formatted rest.
 */
const char *fuzz_path(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * fuzz_repo(): a repository (name-by count) at fuzz_dir()/repo, opened;
 * made on first use and kept for the life of the process.
 */
struct repo *fuzz_repo(void);

/*
 * fuzz_keyset(): the key set of fuzz_dk in fuzz_repo(), made and opened
 * on first use and kept.  Used to seal and to compare against.
 */
struct keyset *fuzz_keyset(void);

/*
 * fuzz_write(dirfd, name, p, len, mode): replace the file ${name}
 * (relative to ${dirfd}) with ${p}; abort on failure.  Not atomic.
 */
void fuzz_write(int dirfd, const char *name, const void *p, size_t len,
    int mode);

/* fuzz_exists(dirfd, name): the name exists. */
bool fuzz_exists(int dirfd, const char *name);

/*
 * fuzz_passwd_file(out): the 128-byte keystore passwd file that opens,
 * with FUZZ_PASSWORD, to fuzz_kmk (fixed salt, opslimit 1, memlimit
 * 64 KiB), laid out as docs/FORMAT.md §18.3 says.
 */
#define FUZZ_PASSWD_LEN	128
void fuzz_passwd_file(uint8_t out[FUZZ_PASSWD_LEN]);

/* fuzz_rm_rf(path): remove a tree; errors ignored. */
void fuzz_rm_rf(const char *path);

#endif /* !FUZZ_H_ */
