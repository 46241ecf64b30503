/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/escrow without a server: which URLs are accepted,
 * the sealed key format of docs/PROTOCOL.md §6, the login and the wrap
 * key pool kept in the keystore (round trips with and without a keystore
 * password, file modes, damage), and how error answers map to error
 * codes and messages.  The CLI against a real cofferd is
 * tests/integration/81-escrow-cli.sh.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "escrow/escrow.h"
#include "escrow/escrow_internal.h"
#include "keystore/keystore.h"
#include "util/util.h"
#include "unit.h"

#define PW	"correct horse battery staple"
#define TOKEN	"0123456789abcdef0123456789abcdef" \
		"fedcba9876543210fedcba9876543210"
#define SRV_A	"https://escrow-a.example:8443"
#define SRV_B	"https://escrow-b.example"

static int
setup(void)
{
	return coffer_crypto_init();
}

/* ---- helpers ---- */

static bool
fixture(char tmp[PATH_MAX], char dir[PATH_MAX], struct keystore **ks)
{
	struct coffer_err err = { 0 };

	*ks = NULL;
	if (!unit_tmpdir_new(tmp))
		return false;
	unit_pathf(dir, "%s/ks", tmp);
	if (keystore_open(dir, true, ks, &err) != 0) {
		unit_fail(__FILE__, __LINE__, "keystore_open: %s", err.msg);
		unit_tmpdir_remove(tmp);
		return false;
	}
	return true;
}

static void
fixture_done(const char *tmp, struct keystore *ks)
{
	keystore_free(ks);
	unit_tmpdir_remove(tmp);
}

/* file_holds(path, s): the file's bytes contain the string ${s}. */
static bool
file_holds(const char *path, const char *s)
{
	size_t len = 0, n = strlen(s);
	uint8_t *p = unit_slurp(path, &len);
	bool hit = false;

	for (size_t i = 0; p != NULL && i + n <= len && !hit; i++)
		hit = memcmp(p + i, s, n) == 0;
	coffer_free(p);
	return hit;
}

static void
make_login(struct escrow_login *lg, const char *server)
{
	memset(lg, 0, sizeof(*lg));
	snprintf(lg->server, sizeof(lg->server), "%s", server);
	snprintf(lg->account, sizeof(lg->account), "alice@example.org");
	snprintf(lg->cacert, sizeof(lg->cacert), "/etc/coffer/ca.pem");
	lg->expires = 1795000000;
	lg->token = secret_alloc(ESCROW_TOKEN_LEN + 1);
	memcpy(lg->token, TOKEN, ESCROW_TOKEN_LEN + 1);
}

/* ---- URLs ---- */

static void
url_table(void)
{
	static const struct {
		const char	*url;
		int		 want;
	} cases[] = {
		{ "https://escrow.example.org", 0 },
		{ "https://escrow.example.org:8443", 0 },
		{ "https://escrow.example.org:8443/", 0 },
		{ "https://10.0.0.1:8443", 0 },
		{ "https://[2001:db8::1]:8443", 0 },
		{ "HTTPS://Escrow.Example.Org", 0 },
		{ "http://127.0.0.1:8080", 0 },
		{ "http://127.1.2.3", 0 },
		{ "http://[::1]:8080", 0 },
		{ "http://localhost:8080", 0 },
		{ "http://LOCALHOST", 0 },
		{ "http://escrow.example.org", COFFER_EINVAL },
		{ "http://10.0.0.1:8080", COFFER_EINVAL },
		{ "http://128.0.0.1", COFFER_EINVAL },
		{ "http://127.0.0.1.evil.example", COFFER_EINVAL },
		{ "http://localhost.evil.example", COFFER_EINVAL },
		{ "http://[::2]", COFFER_EINVAL },
		{ "http://[::ffff:10.0.0.1]", COFFER_EINVAL },
		{ "ftp://escrow.example.org", COFFER_EINVAL },
		{ "file:///etc/passwd", COFFER_EINVAL },
		{ "escrow.example.org", COFFER_EINVAL },
		{ "https://", COFFER_EINVAL },
		{ "https://user:pw@escrow.example.org", COFFER_EINVAL },
		{ "https://escrow.example.org/?x=1", COFFER_EINVAL },
		{ "https://escrow.example.org/#f", COFFER_EINVAL },
		{ "https://escrow.example.org/ a", COFFER_EINVAL },
		{ "https://escrow.example.org\n", COFFER_EINVAL },
		{ "", COFFER_EINVAL },
	};
	char longurl[ESCROW_URL_MAX + 32];
	struct coffer_err err = { 0 };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = escrow_check_url(cases[i].url, &err);

		if (r != cases[i].want)
			unit_fail(__FILE__, __LINE__, "escrow_check_url(\"%s\")"
			    " = %d, want %d (%s)", cases[i].url, r,
			    cases[i].want, r ? err.msg : "");
	}
	T_EQ_INT(escrow_check_url(NULL, &err), COFFER_EINVAL);
	T_TRUE(strstr(err.msg, "--server") != NULL);
	T_EQ_INT(escrow_check_url("http://escrow.example.org", &err),
	    COFFER_EINVAL);
	T_TRUE(strstr(err.msg, "https://") != NULL);
	T_TRUE(strstr(err.msg, "loopback") != NULL ||
	    strstr(err.msg, "127.0.0.0/8") != NULL);
	memset(longurl, 'a', sizeof(longurl) - 1);
	memcpy(longurl, "https://", 8);
	longurl[sizeof(longurl) - 1] = '\0';
	T_EQ_INT(escrow_check_url(longurl, &err), COFFER_EINVAL);
}

/* ---- sealed keys ---- */

static void
seal_format(void)
{
	static const char kid[] = "9f86d081884c7d659a2feaa0c55ad015";
	uint8_t pub[BOX_PUB_LEN], sk[BOX_SK_LEN], pub2[BOX_PUB_LEN],
	    sk2[BOX_SK_LEN];
	uint8_t dk[ESCROW_DK_LEN], s1[ESCROW_SEALED_LEN], s2[ESCROW_SEALED_LEN];
	uint8_t plain[ESCROW_SEALED_LEN - BOX_SEAL_OVERHEAD];

	T_EQ_INT(ESCROW_SEALED_LEN, 114);
	T_EQ_INT(sizeof(plain), 66);
	box_keypair(pub, sk);
	box_keypair(pub2, sk2);
	for (size_t i = 0; i < sizeof(dk); i++)
		dk[i] = (uint8_t)(0xa0 + i);
	escrow_seal(pub, kid, dk, s1);
	escrow_seal(pub, kid, dk, s2);
	/* A fresh ephemeral key each time. */
	T_TRUE(memcmp(s1, s2, sizeof(s1)) != 0);
	T_EQ_INT(box_seal_open(plain, s1, sizeof(s1), pub, sk), 0);
	T_EQ_INT(plain[0], 1);				/* version */
	T_EQ_INT(plain[1], ESCROW_KEYID_LEN);		/* n */
	T_EQ_MEM(plain + 2, kid, ESCROW_KEYID_LEN);	/* key id, ASCII */
	T_EQ_MEM(plain + 2 + ESCROW_KEYID_LEN, dk, ESCROW_DK_LEN);
	T_EQ_INT(box_seal_open(plain, s2, sizeof(s2), pub, sk), 0);
	/* Only that pair opens it, and any change is detected. */
	T_EQ_INT(box_seal_open(plain, s1, sizeof(s1), pub2, sk2), -1);
	s1[60] ^= 1;
	T_EQ_INT(box_seal_open(plain, s1, sizeof(s1), pub, sk), -1);
	T_EQ_INT(box_seal_open(plain, s1, 47, pub, sk), -1);
}

static void
base64_roundtrip(void)
{
	static const uint8_t in[] = { 0xfb, 0xff, 0x00, 0x01, 0x02 };
	uint8_t out[16];
	char txt[16];
	size_t n = 0;

	T_EQ_INT(b64_encoded_len(5), 8);
	T_EQ_INT(b64_encode(txt, sizeof(txt), in, sizeof(in)), 0);
	T_EQ_STR(txt, "+/8AAQI=");
	T_EQ_INT(b64_decode(out, sizeof(out), txt, strlen(txt), &n), 0);
	T_EQ_INT(n, 5);
	T_EQ_MEM(out, in, 5);
	T_EQ_INT(b64_decode(out, sizeof(out), "+/8AAQI", 7, &n), -1);
	T_EQ_INT(b64_decode(out, sizeof(out), "-_8AAQI=", 8, &n), -1);
	T_EQ_INT(b64_decode(out, sizeof(out), "+/8A AQI=", 9, &n), -1);
	T_EQ_INT(b64_decode(out, 4, txt, strlen(txt), &n), -1);
	T_EQ_INT(b64_encode(txt, 8, in, sizeof(in)), -1);
}

/* ---- the login in the keystore ---- */

static void
check_login(const struct escrow_login *got, const struct escrow_login *want)
{
	T_EQ_STR(got->server, want->server);
	T_EQ_STR(got->account, want->account);
	T_EQ_STR(got->cacert, want->cacert);
	T_EQ_INT(got->expires, want->expires);
	T_TRUE(got->token != NULL);
	if (got->token != NULL)
		T_EQ_STR(got->token, want->token);
}

static void
login_roundtrip_clear(void)
{
	char tmp[PATH_MAX], dir[PATH_MAX], p[PATH_MAX];
	struct coffer_err err = { 0 };
	struct escrow_login lg, got;
	struct keystore *ks;

	if (!fixture(tmp, dir, &ks))
		return;
	make_login(&lg, SRV_A);
	T_EQ_INT(escrow_login_load(ks, &got, &err), COFFER_ELOGIN);
	T_TRUE(strstr(err.msg, "coffer escrow login") != NULL);
	T_TRUE(got.token == NULL);
	T_EQ_INT(escrow_login_save(ks, &lg, &err), 0);
	unit_pathf(p, "%s/escrow", dir);
	T_EQ_INT(unit_mode_of(p), 0600);
	T_EQ_INT(unit_mode_of(dir), 0700);
	/* No password: protected by the modes only. */
	T_TRUE(file_holds(p, TOKEN));
	T_EQ_INT(escrow_login_load(ks, &got, &err), 0);
	check_login(&got, &lg);
	escrow_login_clear(&got);
	T_TRUE(got.token == NULL);
	/* Replaced atomically: no temporary left. */
	lg.expires = 1800000000;
	T_EQ_INT(escrow_login_save(ks, &lg, &err), 0);
	T_EQ_INT(escrow_login_load(ks, &got, &err), 0);
	T_EQ_INT(got.expires, 1800000000);
	escrow_login_clear(&got);
	unit_pathf(p, "%s/escrow.tmp", dir);
	T_EQ_INT(access(p, F_OK), -1);
	/* Forget: gone, and forgetting again is fine. */
	T_EQ_INT(escrow_login_forget(ks, &err), 0);
	T_EQ_INT(escrow_login_load(ks, &got, &err), COFFER_ELOGIN);
	T_EQ_INT(escrow_login_forget(ks, &err), 0);
	escrow_login_clear(&lg);
	fixture_done(tmp, ks);
}

static void
login_roundtrip_password(void)
{
	char tmp[PATH_MAX], dir[PATH_MAX], p[PATH_MAX];
	struct coffer_err err = { 0 };
	struct escrow_login lg, got;
	struct keystore *ks, *ks2 = NULL;

	if (!fixture(tmp, dir, &ks))
		return;
	T_EQ_INT(keystore_set_password(ks, PW, strlen(PW), true, &err), 0);
	make_login(&lg, SRV_A);
	T_EQ_INT(escrow_login_save(ks, &lg, &err), 0);
	unit_pathf(p, "%s/escrow", dir);
	T_EQ_INT(unit_mode_of(p), 0600);
	T_TRUE(!file_holds(p, TOKEN));
	T_TRUE(!file_holds(p, "alice@example.org"));
	T_EQ_INT(escrow_login_load(ks, &got, &err), 0);
	check_login(&got, &lg);
	escrow_login_clear(&got);
	/* Another process without the password: locked. */
	T_EQ_INT(keystore_open(dir, false, &ks2, &err), 0);
	T_EQ_INT(escrow_login_load(ks2, &got, &err), COFFER_EAUTH);
	T_TRUE(got.token == NULL);
	T_EQ_INT(escrow_login_save(ks2, &lg, &err), COFFER_EAUTH);
	T_EQ_INT(keystore_unlock(ks2, PW, strlen(PW), &err), 0);
	T_EQ_INT(escrow_login_load(ks2, &got, &err), 0);
	check_login(&got, &lg);
	escrow_login_clear(&got);
	escrow_login_clear(&lg);
	keystore_free(ks2);
	fixture_done(tmp, ks);
}

/* A login saved before the password was set is wrapped when it is set. */
static void
login_wrapped_by_passwd(void)
{
	char tmp[PATH_MAX], dir[PATH_MAX], p[PATH_MAX];
	struct coffer_err err = { 0 };
	struct escrow_login lg, got;
	struct keystore *ks, *ks2 = NULL;

	if (!fixture(tmp, dir, &ks))
		return;
	make_login(&lg, SRV_A);
	T_EQ_INT(escrow_login_save(ks, &lg, &err), 0);
	unit_pathf(p, "%s/escrow", dir);
	T_TRUE(file_holds(p, TOKEN));
	T_EQ_INT(keystore_set_password(ks, PW, strlen(PW), true, &err), 0);
	T_TRUE(!file_holds(p, TOKEN));
	T_EQ_INT(unit_mode_of(p), 0600);
	T_EQ_INT(keystore_open(dir, false, &ks2, &err), 0);
	T_EQ_INT(escrow_login_load(ks2, &got, &err), COFFER_EAUTH);
	T_EQ_INT(keystore_unlock(ks2, PW, strlen(PW), &err), 0);
	T_EQ_INT(escrow_login_load(ks2, &got, &err), 0);
	check_login(&got, &lg);
	escrow_login_clear(&got);
	escrow_login_clear(&lg);
	keystore_free(ks2);
	fixture_done(tmp, ks);
}

static void
login_refuses_damage_and_modes(void)
{
	char tmp[PATH_MAX], dir[PATH_MAX], p[PATH_MAX];
	struct coffer_err err = { 0 };
	struct escrow_login lg, got;
	struct keystore *ks;
	uint8_t *buf;
	size_t len = 0;

	if (!fixture(tmp, dir, &ks))
		return;
	make_login(&lg, SRV_A);
	T_EQ_INT(escrow_login_save(ks, &lg, &err), 0);
	unit_pathf(p, "%s/escrow", dir);
	/* Open to the group: refused, as a key file would be. */
	T_EQ_INT(chmod(p, 0640), 0);
	T_EQ_INT(escrow_login_load(ks, &got, &err), COFFER_EPERM);
	T_TRUE(strstr(err.msg, "chmod 600") != NULL);
	T_EQ_INT(chmod(p, 0600), 0);
	/* One flipped bit anywhere: damaged. */
	if ((buf = unit_slurp(p, &len)) != NULL && len > 40) {
		buf[30] ^= 0x01;
		T_TRUE(unit_spit(p, buf, len));
		T_EQ_INT(escrow_login_load(ks, &got, &err), COFFER_EFORMAT);
		buf[30] ^= 0x01;
		T_TRUE(unit_spit(p, buf, len - 1));
		T_EQ_INT(escrow_login_load(ks, &got, &err), COFFER_EFORMAT);
	} else {
		unit_fail(__FILE__, __LINE__, "cannot read %s", p);
	}
	coffer_free(buf);
	T_TRUE(got.token == NULL);
	/* A symbolic link is refused. */
	T_EQ_INT(unlink(p), 0);
	T_EQ_INT(symlink("/etc/hostname", p), 0);
	T_EQ_INT(escrow_login_load(ks, &got, &err), COFFER_EPERM);
	escrow_login_clear(&lg);
	fixture_done(tmp, ks);
}

static void
blob_names(void)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	struct coffer_err err = { 0 };
	struct keystore *ks;

	if (!fixture(tmp, dir, &ks))
		return;
	T_EQ_INT(keystore_put_blob(ks, "passwd", "x", 1, false, &err),
	    COFFER_EINVAL);
	T_EQ_INT(keystore_put_blob(ks, "../x", "x", 1, false, &err),
	    COFFER_EINVAL);
	T_EQ_INT(keystore_put_blob(ks, "", "x", 1, false, &err),
	    COFFER_EINVAL);
	T_EQ_INT(keystore_put_blob(ks, "Escrow", "x", 1, false, &err),
	    COFFER_EINVAL);
	T_EQ_INT(keystore_put_blob(ks, "ok-name_1", "", 0, false, &err), 0);
	fixture_done(tmp, ks);
}

/* ---- the wrap key pool ---- */

struct seed {
	const char	*server;
	char		 key_id[ESCROW_KEYID_LEN + 1];
	uint8_t		 pub[ESCROW_PUB_LEN];
};

/*
 * seed_pool(dir, v, n): write "wrappool" by hand, in the format of
 * docs/FORMAT.md §18.6, not through lib/escrow.
 */
static void
seed_pool(const char *dir, const struct seed *v, size_t n)
{
	char p[PATH_MAX];
	struct wbuf pl, f;
	uint8_t sum[16];
	int fd;

	wbuf_init(&pl, 1 << 20);
	wbuf_u8(&pl, 1);
	wbuf_u32(&pl, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		wbuf_bytes32(&pl, v[i].server, strlen(v[i].server));
		wbuf_put(&pl, v[i].key_id, ESCROW_KEYID_LEN);
		wbuf_put(&pl, v[i].pub, ESCROW_PUB_LEN);
	}
	wbuf_init(&f, 1 << 20);
	wbuf_put(&f, "CFBLOB01", 8);
	wbuf_u32(&f, 0);			/* flags: clear, not secret */
	wbuf_u32(&f, (uint32_t)pl.len);
	wbuf_put(&f, pl.p, pl.len);
	hash_plain(sum, sizeof(sum), f.p, f.len);
	wbuf_put(&f, sum, sizeof(sum));
	T_TRUE(!f.oom && !pl.oom);
	unit_pathf(p, "%s/wrappool", dir);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    write_full(fd, f.p, f.len) != 0)
		unit_fail(__FILE__, __LINE__, "cannot write %s", p);
	if (fd != -1)
		close(fd);
	wbuf_release(&pl);
	wbuf_release(&f);
}

static void
make_seeds(struct seed *v, size_t n, const char *const *servers)
{
	for (size_t i = 0; i < n; i++) {
		v[i].server = servers[i];
		snprintf(v[i].key_id, sizeof(v[i].key_id), "%032zx", i + 1);
		memset(v[i].pub, (int)(0x10 + i), ESCROW_PUB_LEN);
	}
}

static void
pool_take_count(void)
{
	static const char *const servers[] = { SRV_A, SRV_B, SRV_A "/",
	    SRV_A };
	char tmp[PATH_MAX], dir[PATH_MAX], p[PATH_MAX];
	char kid[ESCROW_KEYID_LEN + 1];
	uint8_t pub[ESCROW_PUB_LEN];
	struct coffer_err err = { 0 };
	struct seed v[4];
	struct keystore *ks;

	if (!fixture(tmp, dir, &ks))
		return;
	/* No pool file yet: empty. */
	T_EQ_INT(escrow_pool_count(ks, SRV_A, &err), 0);
	T_EQ_INT(escrow_pool_take(ks, SRV_A, kid, pub, &err),
	    COFFER_ENOTFOUND);
	T_TRUE(strstr(err.msg, "coffer escrow pool") != NULL);
	make_seeds(v, 4, servers);
	seed_pool(dir, v, 4);
	/* A trailing '/' names the same server. */
	T_EQ_INT(escrow_pool_count(ks, SRV_A, &err), 3);
	T_EQ_INT(escrow_pool_count(ks, SRV_A "/", &err), 3);
	T_EQ_INT(escrow_pool_count(ks, SRV_B, &err), 1);
	T_EQ_INT(escrow_pool_count(ks, "https://other", &err), 0);
	/* Oldest first, each once. */
	T_EQ_INT(escrow_pool_take(ks, SRV_A, kid, pub, &err), 0);
	T_EQ_STR(kid, v[0].key_id);
	T_EQ_MEM(pub, v[0].pub, ESCROW_PUB_LEN);
	T_EQ_INT(escrow_pool_count(ks, SRV_A, &err), 2);
	T_EQ_INT(escrow_pool_count(ks, SRV_B, &err), 1);
	T_EQ_INT(escrow_pool_take(ks, SRV_A, kid, pub, &err), 0);
	T_EQ_STR(kid, v[2].key_id);
	T_EQ_INT(escrow_pool_take(ks, SRV_A, kid, pub, &err), 0);
	T_EQ_STR(kid, v[3].key_id);
	T_EQ_MEM(pub, v[3].pub, ESCROW_PUB_LEN);
	T_EQ_INT(escrow_pool_take(ks, SRV_A, kid, pub, &err),
	    COFFER_ENOTFOUND);
	T_EQ_INT(escrow_pool_count(ks, SRV_B, &err), 1);
	unit_pathf(p, "%s/wrappool", dir);
	T_EQ_INT(unit_mode_of(p), 0600);
	/* Clear drops one server's keys only. */
	seed_pool(dir, v, 4);
	T_EQ_INT(escrow_pool_clear(ks, SRV_A, &err), 0);
	T_EQ_INT(escrow_pool_count(ks, SRV_A, &err), 0);
	T_EQ_INT(escrow_pool_count(ks, SRV_B, &err), 1);
	T_EQ_INT(escrow_pool_take(ks, SRV_B, kid, pub, &err), 0);
	T_EQ_STR(kid, v[1].key_id);
	fixture_done(tmp, ks);
}

/* The pool is public: a locked keystore still gives out wrap keys. */
static void
pool_needs_no_password(void)
{
	static const char *const servers[] = { SRV_A };
	char tmp[PATH_MAX], dir[PATH_MAX];
	char kid[ESCROW_KEYID_LEN + 1];
	uint8_t pub[ESCROW_PUB_LEN];
	struct coffer_err err = { 0 };
	struct keystore *ks, *ks2 = NULL;
	struct seed v[1];

	if (!fixture(tmp, dir, &ks))
		return;
	T_EQ_INT(keystore_set_password(ks, PW, strlen(PW), true, &err), 0);
	make_seeds(v, 1, servers);
	seed_pool(dir, v, 1);
	T_EQ_INT(keystore_open(dir, false, &ks2, &err), 0);
	T_EQ_INT(escrow_pool_count(ks2, SRV_A, &err), 1);
	T_EQ_INT(escrow_pool_take(ks2, SRV_A, kid, pub, &err), 0);
	T_EQ_STR(kid, v[0].key_id);
	keystore_free(ks2);
	fixture_done(tmp, ks);
}

static void
pool_fill_bookkeeping(void)
{
	static const char *const full[ESCROW_POOL_TARGET] = { SRV_A, SRV_A,
	    SRV_A, SRV_A, SRV_A, SRV_A, SRV_A, SRV_A };
	static const char *const three[] = { SRV_A, SRV_A, SRV_A };
	char tmp[PATH_MAX], dir[PATH_MAX];
	struct coffer_err err = { 0 };
	struct seed v[ESCROW_POOL_TARGET];
	struct escrow_login lg;
	struct keystore *ks;

	if (!fixture(tmp, dir, &ks))
		return;
	/* Full: nothing to fetch, so no network is touched. */
	make_login(&lg, SRV_A);
	make_seeds(v, ESCROW_POOL_TARGET, full);
	seed_pool(dir, v, ESCROW_POOL_TARGET);
	T_EQ_INT(escrow_pool_fill(ks, &lg, &err), 0);
	T_EQ_INT(escrow_pool_count(ks, SRV_A, &err), ESCROW_POOL_TARGET);
	escrow_login_clear(&lg);
	/* Short, server down: the error, and the pool as it was. */
	make_login(&lg, "http://127.0.0.1:1");
	lg.cacert[0] = '\0';
	make_seeds(v, 3, three);
	for (size_t i = 0; i < 3; i++)
		v[i].server = "http://127.0.0.1:1";
	seed_pool(dir, v, 3);
	T_EQ_INT(escrow_pool_fill(ks, &lg, &err), COFFER_ENET);
	T_TRUE(strstr(err.msg, "http://127.0.0.1:1") != NULL);
	T_EQ_INT(escrow_pool_count(ks, "http://127.0.0.1:1", &err), 3);
	/* Not logged in: the login error, before any request. */
	secret_free(lg.token);
	lg.token = NULL;
	T_EQ_INT(escrow_pool_fill(ks, &lg, &err), COFFER_ELOGIN);
	escrow_login_clear(&lg);
	fixture_done(tmp, ks);
}

static void
pool_refuses_damage(void)
{
	static const char *const servers[] = { SRV_A, SRV_B };
	char tmp[PATH_MAX], dir[PATH_MAX], p[PATH_MAX];
	struct coffer_err err = { 0 };
	struct seed v[2];
	struct keystore *ks;
	uint8_t *buf;
	size_t len = 0;

	if (!fixture(tmp, dir, &ks))
		return;
	make_seeds(v, 2, servers);
	memcpy(v[1].key_id, "NOT-HEX-NOT-HEX-NOT-HEX-NOT-HEX-", 32);
	seed_pool(dir, v, 2);
	T_EQ_INT(escrow_pool_count(ks, SRV_A, &err), COFFER_EFORMAT);
	make_seeds(v, 2, servers);
	seed_pool(dir, v, 2);
	unit_pathf(p, "%s/wrappool", dir);
	if ((buf = unit_slurp(p, &len)) != NULL && len > 20) {
		buf[20] ^= 0x40;
		T_TRUE(unit_spit(p, buf, len));
		T_EQ_INT(escrow_pool_count(ks, SRV_A, &err), COFFER_EFORMAT);
		T_TRUE(strstr(err.msg, "wrappool") != NULL);
	}
	coffer_free(buf);
	fixture_done(tmp, ks);
}

/* ---- error answers ---- */

static void
answer(long status, const char *body, long retry, const char *key_id,
    bool login, int want, const char *needle)
{
	struct escrow_what what = { "https://x.example", "alice", key_id,
	    login };
	struct escrow_resp resp;
	struct coffer_err err = { 0 };
	int r;

	resp.status = status;
	resp.retry_after = retry;
	wbuf_init(&resp.body, 1 << 16);
	wbuf_put(&resp.body, body, strlen(body) + 1);
	resp.body.len = strlen(body);
	r = escrow_answer_err(&resp, &what, &err);
	if (r != want || strstr(err.msg, needle) == NULL)
		unit_fail(__FILE__, __LINE__, "HTTP %ld: %d '%s', want %d with "
		    "'%s'", status, r, err.msg, want, needle);
	T_EQ_INT(err.code, want);
	escrow_resp_release(&resp);
}

static void
answers_map_to_codes(void)
{
	static const char kid[] = "9f86d081884c7d659a2feaa0c55ad015";

	answer(401, "{\"error\":\"unauthorized\",\"message\":\"x\"}", -1,
	    NULL, false, COFFER_ELOGIN, "not logged in to https://x.example");
	answer(401, "{\"error\":\"unauthorized\"}", -1, NULL, false,
	    COFFER_ELOGIN, "coffer escrow login --server https://x.example "
	    "--account alice");
	answer(401, "{\"error\":\"bad_credentials\"}", -1, NULL, true,
	    COFFER_EAUTH, "wrong account name or password");
	answer(404, "{\"error\":\"not_found\"}", -1, kid, false,
	    COFFER_ENOTFOUND, kid);
	answer(410, "{\"error\":\"destroyed\"}", -1, kid, false,
	    COFFER_EDESTROYED, "destroyed");
	answer(409, "{\"error\":\"exists\"}", -1, NULL, false, COFFER_EEXIST,
	    "already exists");
	answer(422, "{\"error\":\"bad_sealed\"}", -1, kid, false, COFFER_EAUTH,
	    "sealed");
	answer(429, "{\"error\":\"rate_limited\"}", 42, NULL, true, COFFER_ENET,
	    "try again in 42 s");
	answer(429, "", -1, NULL, true, COFFER_ENET, "try again later");
	answer(400, "{\"error\":\"bad_request\",\"message\":\"account: too "
	    "long\"}", -1, NULL, false, COFFER_EINVAL, "account: too long");
	answer(413, "{\"error\":\"too_large\"}", -1, NULL, false, COFFER_EINVAL,
	    "too_large");
	answer(503, "{\"error\":\"unavailable\",\"message\":\"db\"}", -1, NULL,
	    false, COFFER_ENET, "try again later");
	answer(500, "not json", -1, NULL, false, COFFER_ENET, "HTTP 500");
	answer(302, "", -1, NULL, false, COFFER_ENET, "redirect");
	answer(418, "", -1, NULL, false, COFFER_ENET, "cofferd");
	/* Protocol version 2 (PROTOCOL.md §2, §3.3). */
	answer(403, "{\"error\":\"fresh_auth_required\"}", -1, kid, false,
	    COFFER_EPERM, "needs the account password for this (fresh "
	    "proof): set COFFER_ESCROW_PASSWORD_FILE");
	answer(403, "{\"error\":\"forbidden\"}", -1, NULL, false,
	    COFFER_EPERM, "HTTP 403");
	answer(401, "{\"error\":\"code_required\"}", -1, NULL, true,
	    COFFER_EAUTH, "one-time code");
	answer(401, "{\"error\":\"bad_code\"}", -1, NULL, true,
	    COFFER_EAUTH, "not accepted");
	/* Control characters of the server's message are not passed on. */
	answer(400, "{\"error\":\"bad_request\",\"message\":\"a\\u001b[2Jb\"}",
	    -1, NULL, false, COFFER_EINVAL, "a?[2Jb");
}

static void
call_without_token(void)
{
	struct escrow_what what = { SRV_A, "alice", NULL, false };
	struct escrow_login lg;
	struct coffer_err err = { 0 };
	char *json = NULL;

	memset(&lg, 0, sizeof(lg));
	snprintf(lg.server, sizeof(lg.server), SRV_A);
	T_EQ_INT(escrow_call(&lg, "GET", "/v1/keys", NULL, 0, 200, NULL,
	    &what, &err), COFFER_ELOGIN);
	T_EQ_INT(escrow_list_keys(&lg, &json, &err), COFFER_ELOGIN);
	T_TRUE(json == NULL);
	T_EQ_INT(escrow_audit(&lg, 1001, &json, &err), COFFER_EINVAL);
	T_EQ_INT(escrow_release(&lg, "../../v1/accounts", (uint8_t **)&json,
	    &err), COFFER_EINVAL);
}

/* Binds of pooled wrap keys wait in the keystore while offline. */
static void
bind_later_waits(void)
{
	static const char kid[] = "9f86d081884c7d659a2feaa0c55ad015";
	static const char rid[] = "5d0e9c1b2a3f4e6d5d0e9c1b2a3f4e6d";
	static const char sid[] = "3a1f0c9e8d7b6a55";
	char tmp[PATH_MAX], dir[PATH_MAX], p[PATH_MAX];
	struct coffer_err err = { 0 };
	struct escrow_login lg;
	struct keystore *ks;

	if (!fixture(tmp, dir, &ks))
		return;
	make_login(&lg, "http://127.0.0.1:1");
	lg.cacert[0] = '\0';
	/* Nothing pending: nothing to do, no network. */
	T_EQ_INT(escrow_bind_pending(ks, &lg, &err), 0);
	T_EQ_INT(escrow_bind_later(ks, lg.server, kid, rid, sid, &err), 0);
	unit_pathf(p, "%s/wrapbind", dir);
	T_EQ_INT(unit_mode_of(p), 0600);
	T_TRUE(file_holds(p, kid) && file_holds(p, rid) &&
	    file_holds(p, sid));
	/* Unreachable: kept for next time. */
	T_EQ_INT(escrow_bind_pending(ks, &lg, &err), COFFER_ENET);
	T_TRUE(file_holds(p, kid));
	/* Another server's binds are not sent to this one, and stay. */
	escrow_login_clear(&lg);
	make_login(&lg, "http://127.0.0.1:2");
	T_EQ_INT(escrow_bind_pending(ks, &lg, &err), 0);
	T_TRUE(file_holds(p, kid));
	/* A local problem (an unreadable CA file) drops nothing either. */
	escrow_login_clear(&lg);
	make_login(&lg, "http://127.0.0.1:1");
	T_EQ_INT(escrow_bind_pending(ks, &lg, &err), COFFER_EINVAL);
	T_TRUE(file_holds(p, kid));
	/* Ids that are not hex are refused before the network. */
	T_EQ_INT(escrow_wrapkey_bind(&lg, kid, "xyz", sid, &err),
	    COFFER_EINVAL);
	escrow_login_clear(&lg);
	fixture_done(tmp, ks);
}

static void
json_escape(void)
{
	struct wbuf b;

	wbuf_init(&b, 1024);
	escrow_json_escape(&b, "a\"b\\c\n\x01\xc3\xa9", 9);
	wbuf_u8(&b, 0);
	T_EQ_STR((const char *)b.p, "\"a\\\"b\\\\c\\u000a\\u0001\xc3\xa9\"");
	wbuf_release(&b);
}

static void
unreachable_server(void)
{
	struct coffer_err err = { 0 };
	struct escrow_login lg;

	/* Port 1 on loopback: refused at once. */
	T_EQ_INT(escrow_register("http://127.0.0.1:1", NULL, "alice",
	    "password1", 9, &err), COFFER_ENET);
	T_TRUE(strstr(err.msg, "cannot connect to http://127.0.0.1:1") !=
	    NULL);
	T_EQ_INT(escrow_login("http://127.0.0.1:1", NULL, "alice",
	    "password1", 9, "laptop", NULL, &lg, &err), COFFER_ENET);
	T_TRUE(lg.token == NULL);
	/* Checked before the network. */
	T_EQ_INT(escrow_register("http://127.0.0.1:1", NULL, "alice",
	    "short", 5, &err), COFFER_EINVAL);
	T_EQ_INT(escrow_register("http://127.0.0.1:1", NULL, " alice",
	    "password1", 9, &err), COFFER_EINVAL);
	T_EQ_INT(escrow_register("http://127.0.0.1:1", NULL, "al\tice",
	    "password1", 9, &err), COFFER_EINVAL);
	T_EQ_INT(escrow_login("http://escrow.example", NULL, "alice",
	    "password1", 9, NULL, NULL, &lg, &err), COFFER_EINVAL);
	/* A device name with a control character, before the network. */
	T_EQ_INT(escrow_login("http://127.0.0.1:1", NULL, "alice",
	    "password1", 9, "lap\ntop", NULL, &lg, &err), COFFER_EINVAL);
	T_EQ_INT(escrow_register("https://127.0.0.1:1",
	    "/nonexistent/ca.pem", "alice", "password1", 9, &err),
	    COFFER_EINVAL);
	T_TRUE(strstr(err.msg, "/nonexistent/ca.pem") != NULL);
}

UNIT_MAIN(setup,
	UNIT_TEST(url_table),
	UNIT_TEST(seal_format),
	UNIT_TEST(base64_roundtrip),
	UNIT_TEST(login_roundtrip_clear),
	UNIT_TEST(login_roundtrip_password),
	UNIT_TEST(login_wrapped_by_passwd),
	UNIT_TEST(login_refuses_damage_and_modes),
	UNIT_TEST(blob_names),
	UNIT_TEST(pool_take_count),
	UNIT_TEST(pool_needs_no_password),
	UNIT_TEST(pool_fill_bookkeeping),
	UNIT_TEST(pool_refuses_damage),
	UNIT_TEST(answers_map_to_codes),
	UNIT_TEST(call_without_token),
	UNIT_TEST(bind_later_waits),
	UNIT_TEST(json_escape),
	UNIT_TEST(unreachable_server),
)
