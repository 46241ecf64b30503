/* SPDX-License-Identifier: ISC */
/*
 * keyinfo: read and write a key set's header (docs/FORMAT.md, "keyinfo").
 *
 * Layout:
 *   0   magic "CFKEYI01", "CFKEYI02" or "CFKEYI03"
 *   8   scope u8 | custody u8 | label_len u8 | nslots u8 | reserved u32
 *   16  keyid[8]
 *   24  label (label_len bytes of ASCII)
 *   ..  nslots x 112-byte slots: kind u8 | reserved[7] | opslimit u64 |
 *       memlimit u64 | salt[16] | sealed data key[72]
 *   ..  AEAD(chunk_min u32 | chunk_avg u32 | chunk_max u32 | created i64)
 *   (CFKEYI02, and CFKEYI03 with a custody other than local: the escrow
 *   block)
 *   ..  url_len u8 | url | ekid_len u8 | escrow key id | sealed_len u16 |
 *       sealed data key (escrow-wrap)
 * The AEAD's object id is BLAKE2b-256 of all the cleartext before it,
 * which binds scope, custody, label, slots and escrow block to the data key.
 * CFKEYI03 (FORMAT.md §6.1) also binds the repository id: its AEAD, and
 * that of every object of the set, uses associated data version 2.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "keyinfo.h"
#include "repo_internal.h"
#include "rfs.h"

#define KEYINFO_FIXED	24
#define SLOT_LEN	112
#define BODY_LEN	20
#define ESCROW_BLOCK_MAX (1 + KEYINFO_URL_MAX + 1 + KEYINFO_EKID_MAX + 2 + \
    KEYINFO_SEALED_MAX)
#define KEYINFO_MAX	(KEYINFO_FIXED + KEYINFO_LABEL_MAX + \
    KEYINFO_SLOTS_MAX * SLOT_LEN + ESCROW_BLOCK_MAX + BODY_LEN + AEAD_OVERHEAD)

/*
 * 01: local custody; 02: adds the escrow block (FORMAT.md §6.3); 03: any
 * custody, the set's objects bind the repository id (§2.3).
 */
static const char keyinfo_magic[MAGIC_LEN] = "CFKEYI01";
static const char keyinfo_magic2[MAGIC_LEN] = "CFKEYI02";
static const char keyinfo_magic3[MAGIC_LEN] = "CFKEYI03";
static const char slot_label[] = "coffer passphrase slot v1";

static size_t
clear_encode(uint8_t *out, const struct keyinfo *ki)
{
	size_t llen = strlen(ki->label), o;
	bool escrow = ki->custody != CUSTODY_LOCAL;

	memcpy(out, ki->bound ? keyinfo_magic3 : escrow ? keyinfo_magic2 :
	    keyinfo_magic, MAGIC_LEN);
	out[8] = (uint8_t)ki->scope;
	out[9] = (uint8_t)ki->custody;
	out[10] = (uint8_t)llen;
	out[11] = (uint8_t)ki->nslots;
	le32enc(out + 12, 0);
	memcpy(out + 16, ki->keyid, KEYID_LEN);
	memcpy(out + 24, ki->label, llen);
	o = KEYINFO_FIXED + llen;
	for (int i = 0; i < ki->nslots; i++) {
		const struct kslot *s = &ki->slots[i];

		memset(out + o, 0, 8);
		out[o] = (uint8_t)s->kind;
		le64enc(out + o + 8, s->opslimit);
		le64enc(out + o + 16, s->memlimit);
		memcpy(out + o + 24, s->salt, PWHASH_SALT_LEN);
		memcpy(out + o + 40, s->sealed, SLOT_SEALED_LEN);
		o += SLOT_LEN;
	}
	if (escrow) {
		size_t ulen = strlen(ki->escrow_url);
		size_t klen = strlen(ki->escrow_keyid);

		out[o++] = (uint8_t)ulen;
		memcpy(out + o, ki->escrow_url, ulen);
		o += ulen;
		out[o++] = (uint8_t)klen;
		memcpy(out + o, ki->escrow_keyid, klen);
		o += klen;
		le16enc(out + o, (uint16_t)ki->sealed_len);
		o += 2;
		memcpy(out + o, ki->sealed, ki->sealed_len);
		o += ki->sealed_len;
	}
	return o;
}

/* Printable ASCII, 0x21 ... 0x7e, and not empty. */
static bool
printable(const uint8_t *p, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x21 || p[i] > 0x7e)
			return false;
	return true;
}

/* The escrow block at ${in} (${len} bytes left); its length in *used. */
static int
escrow_decode(const uint8_t *in, size_t len, struct keyinfo *ki, size_t *used)
{
	size_t o = 0, ulen, klen, slen;

	if (len < 1 || (ulen = in[0]) == 0 || len < 1 + ulen + 1 ||
	    !printable(in + 1, ulen))
		return -1;
	memcpy(ki->escrow_url, in + 1, ulen);
	ki->escrow_url[ulen] = '\0';
	o = 1 + ulen;
	klen = in[o++];
	if (klen == 0 || klen > KEYINFO_EKID_MAX || len < o + klen + 2 ||
	    !printable(in + o, klen))
		return -1;
	memcpy(ki->escrow_keyid, in + o, klen);
	ki->escrow_keyid[klen] = '\0';
	o += klen;
	slen = le16dec(in + o);
	o += 2;
	if (slen > KEYINFO_SEALED_MAX || len < o + slen)
		return -1;
	/* Sealed key if and only if escrow-wrap. */
	if ((slen != 0) != (ki->custody == CUSTODY_ESCROW_WRAP))
		return -1;
	memcpy(ki->sealed, in + o, slen);
	ki->sealed_len = slen;
	*used = o + slen;
	return 0;
}

/* Parse the cleartext part; *clen is its length. */
static int
clear_decode(const uint8_t *in, size_t len, struct keyinfo *ki, size_t *clen)
{
	size_t llen, o, used;
	bool escrow = false;

	memset(ki, 0, sizeof(*ki));
	if (len < KEYINFO_FIXED || le32dec(in + 12) != 0)
		return -1;
	if (memcmp(in, keyinfo_magic, MAGIC_LEN) == 0)
		escrow = false;
	else if (memcmp(in, keyinfo_magic2, MAGIC_LEN) == 0)
		escrow = true;
	else if (memcmp(in, keyinfo_magic3, MAGIC_LEN) == 0)
		ki->bound = true;
	else
		return -1;
	ki->scope = in[8];
	ki->custody = in[9];
	llen = in[10];
	ki->nslots = in[11];
	if (ki->scope < SCOPE_DEVICE || ki->scope > SCOPE_BACKUP ||
	    ki->custody < CUSTODY_LOCAL || ki->custody > CUSTODY_ESCROW_WRAP ||
	    llen > KEYINFO_LABEL_MAX || ki->nslots > KEYINFO_SLOTS_MAX ||
	    len < KEYINFO_FIXED + llen + (size_t)ki->nslots * SLOT_LEN)
		return -1;
	/* Local custody has no escrow block, every other custody has one. */
	if (ki->bound)
		escrow = ki->custody != CUSTODY_LOCAL;
	else if (escrow != (ki->custody != CUSTODY_LOCAL))
		return -1;
	memcpy(ki->keyid, in + 16, KEYID_LEN);
	memcpy(ki->label, in + 24, llen);
	ki->label[llen] = '\0';
	for (size_t i = 0; i < llen; i++)
		if (ki->label[i] < 0x21 || ki->label[i] > 0x7e)
			return -1;
	o = KEYINFO_FIXED + llen;
	for (int i = 0; i < ki->nslots; i++) {
		struct kslot *s = &ki->slots[i];

		s->kind = in[o];
		for (int k = 1; k < 8; k++)
			if (in[o + k] != 0)
				return -1;
		s->opslimit = le64dec(in + o + 8);
		s->memlimit = le64dec(in + o + 16);
		memcpy(s->salt, in + o + 24, PWHASH_SALT_LEN);
		memcpy(s->sealed, in + o + 40, SLOT_SEALED_LEN);
		if (s->kind != SLOT_PASSPHRASE)
			return -1;
		o += SLOT_LEN;
	}
	if (escrow) {
		if (escrow_decode(in + o, len - o, ki, &used) != 0)
			return -1;
		o += used;
	}
	*clen = o;
	return 0;
}

/* The AD of ${ki}'s AEAD: its cleartext ${clear} (${clen} bytes) hashed. */
static size_t
keyinfo_ad(uint8_t ad[AD_LEN], const struct keyinfo *ki,
    const struct repo *rp, const uint8_t *clear, size_t clen)
{
	struct adbind b;
	uint8_t h[HASH_LEN];

	memset(&b, 0, sizeof(b));
	memcpy(b.keyid, ki->keyid, KEYID_LEN);
	if (ki->bound) {
		memcpy(b.repoid, rp->id, REPO_ID_LEN);
		b.repo = true;
	}
	hash_plain(h, sizeof(h), clear, clen);
	return ad_build(ad, &b, OBJ_KEYINFO, h, sizeof(h));
}

/* Parse and, with ${enc}, authenticate the keyinfo ${file} of ${len}. */
static int
keyinfo_parse(const uint8_t *file, size_t len, const char *label,
    const struct repo *rp, const uint8_t *enc, struct keyinfo *ki,
    struct coffer_err *err)
{
	uint8_t body[BODY_LEN];
	uint8_t ad[AD_LEN];
	size_t adlen, clen;

	if (clear_decode(file, len, ki, &clen) != 0 ||
	    len != clen + BODY_LEN + AEAD_OVERHEAD)
		return coffer_err_set(err, COFFER_EFORMAT, "'%s' is damaged",
		    label);
	if (enc == NULL)
		return 0;
	/*
	 * A repository made since sets bind its id holds no other kind: an
	 * older set in it was copied from elsewhere (or downgraded).
	 */
	if (!ki->bound && rp->version >= 3)
		return coffer_err_set(err, COFFER_EAUTH, "'%s' is an older "
		    "kind of key set that does not name its repository, in a "
		    "repository whose sets all do: copied from another "
		    "repository, or edited", label);
	adlen = keyinfo_ad(ad, ki, rp, file, clen);
	if (aead_open(body, file + clen, len - clen, ad, adlen, enc) != 0)
		return coffer_err_set(err, COFFER_EAUTH, "'%s' failed "
		    "authentication: damaged, edited, not this key's set%s",
		    label, ki->bound ? ", or copied from another repository" :
		    "");
	ki->chunk_min = le32dec(body);
	ki->chunk_avg = le32dec(body + 4);
	ki->chunk_max = le32dec(body + 8);
	ki->created = (int64_t)le64dec(body + 12);
	if (ki->chunk_min < 64 || ki->chunk_min > ki->chunk_avg ||
	    ki->chunk_avg > ki->chunk_max || ki->chunk_max > BLOB_MAX)
		return coffer_err_set(err, COFFER_EFORMAT, "'%s' has "
		    "impossible chunk sizes", label);
	return 0;
}

int
keyinfo_read(struct repo *rp, const char *keyid_hex, const uint8_t *enc,
    struct keyinfo *ki, struct coffer_err *err)
{
	char path[64];
	uint8_t *file = NULL;
	size_t len;
	int r;

	memset(ki, 0, sizeof(*ki));
	snprintf(path, sizeof(path), "sets/%s/keyinfo", keyid_hex);
	if ((r = rfs_read(rp->dirfd, path, path, KEYINFO_MAX, &file, &len,
	    err)) != 0)
		return r;
	r = keyinfo_parse(file, len, path, rp, enc, ki, err);
	coffer_free(file);
	return r;
}

int
keyinfo_verify(struct repo *rp, const uint8_t dk[KEY_LEN], struct keyinfo *ki,
    struct coffer_err *err)
{
	uint8_t keyid[KEYID_LEN];
	char hex[KEYID_HEX_LEN + 1];
	uint8_t *enc;
	int r;

	memset(ki, 0, sizeof(*ki));
	if ((enc = secret_alloc(KEY_LEN)) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "key memory");
	kdf_derive(enc, KEY_LEN, 1, "cofferdk", dk);
	keyset_keyid(dk, keyid);
	hex_encode(hex, keyid, KEYID_LEN);
	r = keyinfo_read(rp, hex, enc, ki, err);
	secret_free(enc);
	if (r == 0 && memcmp(ki->keyid, keyid, KEYID_LEN) != 0)
		r = coffer_err_set(err, COFFER_EFORMAT, "'sets/%s/keyinfo' "
		    "names another key set", hex);
	return r;
}

int
keyinfo_peek(struct repo *rp, const char *keyid_hex, struct keyinfo *ki,
    struct coffer_err *err)
{
	return keyinfo_read(rp, keyid_hex, NULL, ki, err);
}

int
keyinfo_load(int dirfd, const char *label, const struct repo *rp,
    const uint8_t enc[KEY_LEN], struct keyinfo *ki, struct coffer_err *err)
{
	uint8_t *file = NULL;
	size_t len;
	int r;

	if ((r = rfs_read(dirfd, "keyinfo", label, KEYINFO_MAX, &file, &len,
	    err)) != 0)
		return r;
	r = keyinfo_parse(file, len, label, rp, enc, ki, err);
	coffer_free(file);
	return r;
}

int
keyinfo_store(int dirfd, const char *label, const struct repo *rp,
    const uint8_t enc[KEY_LEN], const struct keyinfo *ki, bool replace,
    struct coffer_err *err)
{
	uint8_t file[KEYINFO_MAX];
	uint8_t body[BODY_LEN];
	uint8_t ad[AD_LEN];
	size_t adlen, clen;

	if (strlen(ki->label) > KEYINFO_LABEL_MAX ||
	    ki->nslots > KEYINFO_SLOTS_MAX)
		return coffer_err_set(err, COFFER_EINVAL, "keyinfo too large");
	if (ki->custody != CUSTODY_LOCAL && (!printable((const uint8_t *)
	    ki->escrow_url, strlen(ki->escrow_url)) ||
	    strlen(ki->escrow_url) > KEYINFO_URL_MAX || !printable(
	    (const uint8_t *)ki->escrow_keyid, strlen(ki->escrow_keyid)) ||
	    strlen(ki->escrow_keyid) > KEYINFO_EKID_MAX ||
	    ki->sealed_len > KEYINFO_SEALED_MAX ||
	    (ki->sealed_len != 0) != (ki->custody == CUSTODY_ESCROW_WRAP)))
		return coffer_err_set(err, COFFER_EINVAL, "keyinfo: bad escrow "
		    "server, key id or sealed key");
	clen = clear_encode(file, ki);
	le32enc(body, ki->chunk_min);
	le32enc(body + 4, ki->chunk_avg);
	le32enc(body + 8, ki->chunk_max);
	le64enc(body + 12, (uint64_t)ki->created);
	adlen = keyinfo_ad(ad, ki, rp, file, clen);
	aead_seal(file + clen, body, sizeof(body), ad, adlen, enc);
	return atomicfile_write(dirfd, "keyinfo", file, clen + BODY_LEN +
	    AEAD_OVERHEAD, 0600, !replace, label, err);
}

static void
slot_ad(uint8_t ad[sizeof(slot_label) - 1 + KEYID_LEN],
    const uint8_t keyid[KEYID_LEN])
{
	memcpy(ad, slot_label, sizeof(slot_label) - 1);
	memcpy(ad + sizeof(slot_label) - 1, keyid, KEYID_LEN);
}

int
slot_make(struct kslot *slot, const uint8_t dk[KEY_LEN],
    const uint8_t keyid[KEYID_LEN], const char *pass, size_t passlen,
    bool fast, struct coffer_err *err)
{
	uint8_t ad[sizeof(slot_label) - 1 + KEYID_LEN];
	uint8_t *kek;

	memset(slot, 0, sizeof(*slot));
	slot->kind = SLOT_PASSPHRASE;
	slot->opslimit = fast ? SLOT_FAST_OPSLIMIT : SLOT_OPSLIMIT;
	slot->memlimit = fast ? SLOT_FAST_MEMLIMIT : SLOT_MEMLIMIT;
	random_bytes(slot->salt, sizeof(slot->salt));
	if ((kek = secret_alloc(KEY_LEN)) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "passphrase key");
	if (pwhash_derive(kek, KEY_LEN, pass, passlen, slot->salt,
	    slot->opslimit, slot->memlimit) != 0) {
		secret_free(kek);
		return coffer_err_set(err, COFFER_ENOMEM, "Argon2id needs %llu "
		    "MiB of memory", (unsigned long long)(slot->memlimit >> 20));
	}
	slot_ad(ad, keyid);
	aead_seal(slot->sealed, dk, KEY_LEN, ad, sizeof(ad), kek);
	secret_free(kek);
	return 0;
}

int
slot_open(const struct kslot *slot, const uint8_t keyid[KEYID_LEN],
    const char *pass, size_t passlen, uint8_t dk[KEY_LEN])
{
	uint8_t ad[sizeof(slot_label) - 1 + KEYID_LEN];
	uint8_t *kek;
	int r;

	/* Refuse costs a hostile card could use to exhaust the machine. */
	if (slot->kind != SLOT_PASSPHRASE || slot->opslimit < 1 ||
	    slot->opslimit > SLOT_OPSLIMIT_MAX ||
	    slot->memlimit < SLOT_FAST_MEMLIMIT ||
	    slot->memlimit > SLOT_MEMLIMIT_MAX)
		return COFFER_EFORMAT;
	if ((kek = secret_alloc(KEY_LEN)) == NULL)
		return COFFER_ENOMEM;
	if (pwhash_derive(kek, KEY_LEN, pass, passlen, slot->salt,
	    slot->opslimit, slot->memlimit) != 0) {
		secret_free(kek);
		return COFFER_ENOMEM;
	}
	slot_ad(ad, keyid);
	r = aead_open(dk, slot->sealed, SLOT_SEALED_LEN, ad, sizeof(ad), kek) ==
	    0 ? 0 : COFFER_EAUTH;
	secret_free(kek);
	return r;
}
