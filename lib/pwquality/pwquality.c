/* SPDX-License-Identifier: ISC */
/*
 * pwquality: zxcvbn's rating of a new password, and a message that says
 * why a weak one is weak and what would do instead.
 *
 * zxcvbn wants a NUL-terminated string: the password is copied into
 * guarded memory first (it may contain a NUL, then only the part before
 * it is rated, which can only rate it lower).  zxcvbn's own working
 * copies live on its stack and in its heap match list (positions and
 * entropies, no text); those are not ours to wipe (SECURITY.md).
 */
#include <ctype.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <zxcvbn.h>

#include "coffer/coffer.h"
#include "../util/util.h"
#include "../crypto/crypto.h"
#include "pwquality.h"

#define WORDS_MAX	24
#define WORD_LEN	64

/* The user dictionary: words tied to this user, device and tool. */
struct words {
	char		 buf[WORDS_MAX][WORD_LEN];
	const char	*v[WORDS_MAX + 1];
	size_t		 n;
};

/* words_add(w, s, len): ${s} lowercased, if 3 or more characters. */
static void
words_add(struct words *w, const char *s, size_t len)
{
	if (len < 3 || w->n == WORDS_MAX)
		return;
	if (len >= WORD_LEN)
		len = WORD_LEN - 1;
	for (size_t i = 0; i < len; i++)
		w->buf[w->n][i] = (char)tolower((unsigned char)s[i]);
	w->buf[w->n][len] = '\0';
	w->v[w->n] = w->buf[w->n];
	w->n++;
	w->v[w->n] = NULL;
}

/* words_add_all(w, s): ${s} whole, and each run of letters and digits. */
static void
words_add_all(struct words *w, const char *s)
{
	size_t i = 0, start;

	if (s == NULL || *s == '\0')
		return;
	words_add(w, s, strlen(s));
	while (s[i] != '\0') {
		while (s[i] != '\0' && !isalnum((unsigned char)s[i]))
			i++;
		start = i;
		while (isalnum((unsigned char)s[i]))
			i++;
		if (start > 0 || s[i] != '\0')
			words_add(w, s + start, i - start);
	}
}

static void
words_init(struct words *w, const char *const *extra)
{
	static const char *const ours[] = { "coffer", "cofferd", "escrow",
	    "keystore", "backup", "backups", "recovery", "passphrase" };
	struct passwd *pw;
	char host[256] = "";

	memset(w, 0, sizeof(*w));
	w->v[0] = NULL;
	for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
		words_add_all(w, ours[i]);
	if ((pw = getpwuid(geteuid())) != NULL) {
		words_add_all(w, pw->pw_name);
		words_add_all(w, pw->pw_gecos);
	}
	if (gethostname(host, sizeof(host) - 1) == 0)
		words_add_all(w, host);
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
		words_add_all(w, extra[i]);
}

/* What a part of a password is: singular and plural. */
struct kind {
	const char	*one, *many;
};

static const struct kind k_word = { "a common word", "common words" };
static const struct kind k_leet = { "a common word with look-alike symbols",
    "common words with look-alike symbols" };
static const struct kind k_user = { "a name tied to you, this host or "
    "coffer", "names tied to you, this host or coffer" };
static const struct kind k_repeat = { "repeated characters",
    "runs of repeated characters" };
static const struct kind k_seq = { "a sequence like abc or 123",
    "sequences like abc or 123" };
static const struct kind k_spatial = { "a keyboard pattern",
    "keyboard patterns" };
static const struct kind k_date = { "a date", "dates" };
static const struct kind k_year = { "a year", "years" };
static const struct kind k_digits = { "digits", "digits" };
static const struct kind k_letters = { "letters", "letters" };
static const struct kind k_other = { "other characters",
    "other characters" };

/*
 * part_kind(m, pw): what one part of the password is; NULL for a lone
 * separator (a space, '-', ...) between two other parts.
 */
static const struct kind *
part_kind(const ZxcMatch_t *m, const char *pw)
{
	bool digits = true, letters = true;

	switch ((int)m->Type & ~(int)MULTIPLE_MATCH) {
	case DICTIONARY_MATCH:
		return &k_word;
	case DICT_LEET_MATCH:
		return &k_leet;
	case USER_MATCH:
	case USER_LEET_MATCH:
		return &k_user;
	case REPEATS_MATCH:
		return &k_repeat;
	case SEQUENCE_MATCH:
		return &k_seq;
	case SPATIAL_MATCH:
		return &k_spatial;
	case DATE_MATCH:
		return &k_date;
	case YEAR_MATCH:
		return &k_year;
	default:
		break;
	}
	for (int i = m->Begin; i < m->Begin + m->Length && pw[i] != '\0';
	    i++) {
		if (!isdigit((unsigned char)pw[i]))
			digits = false;
		if (!isalpha((unsigned char)pw[i]))
			letters = false;
	}
	if (m->Length == 1 && !digits && !letters && m->Begin > 0 &&
	    m->Next != NULL)
		return NULL;
	return digits ? &k_digits : letters ? &k_letters : &k_other;
}

/*
 * describe(info, pw, out, cap): "2 common words followed by digits": the
 * parts zxcvbn found, in order, runs of one kind counted, separators
 * left out, at most four.
 */
static void
describe(const ZxcMatch_t *info, const char *pw, char *out, size_t cap)
{
	const struct kind *run = NULL, *k;
	size_t used = 0, nruns = 0;
	int count = 0, len = 0, nparts = 0;

	out[0] = '\0';
	for (const ZxcMatch_t *m = info; ; m = m->Next) {
		k = m != NULL ? part_kind(m, pw) : NULL;
		if (m != NULL) {
			len += m->Length;
			nparts++;
			if (k == NULL)
				continue;
			if (k == run) {
				count++;
				continue;
			}
		}
		if (run != NULL && nruns < 4 && used < cap) {
			if (count == 1 || run->one == run->many)
				used += (size_t)snprintf(out + used, cap - used,
				    "%s%s", nruns ? " followed by " : "",
				    run->one);
			else
				used += (size_t)snprintf(out + used, cap - used,
				    "%s%d %s", nruns ? " followed by " : "",
				    count, run->many);
			nruns++;
		} else if (run != NULL && nruns == 4 && used < cap) {
			used += (size_t)snprintf(out + used, cap - used,
			    " and more");
			nruns++;
		}
		if (m == NULL)
			break;
		run = k;
		count = 1;
	}
	/* One run of plain characters: it is just too short. */
	if (nparts == 1 && ((int)info->Type & ~(int)MULTIPLE_MATCH) ==
	    BRUTE_MATCH)
		snprintf(out, cap, "only %d characters", len);
}

int
coffer_password_check(const char *what, const char *pw, size_t len,
    const char *const *extra, struct coffer_err *err)
{
	struct words w;
	ZxcMatch_t *info = NULL;
	char why[160], guesses[32];
	char *s;
	double bits;
	int r;

	if ((s = secret_alloc(len + 1)) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "password memory");
	if (len > 0)
		memcpy(s, pw, len);
	s[len] = '\0';
	words_init(&w, extra);
	bits = ZxcvbnMatch(s, w.v, &info);
	if (bits >= PWQUALITY_MIN_BITS) {
		r = 0;
		goto out;
	}
	if (len == 0 || s[0] == '\0')
		snprintf(why, sizeof(why), "it is empty");
	else
		describe(info, s, why, sizeof(why));
	if (bits < 20)
		snprintf(guesses, sizeof(guesses), "%.0f", ceil(exp2(bits)));
	else
		snprintf(guesses, sizeof(guesses), "10^%d",
		    (int)floor(bits * log10(2.0)));
	r = coffer_err_set(err, COFFER_EINVAL, "this %s is too easy to guess: "
	    "%s, found in about %s guesses (%.0f bits; %d needed).  Use 4 or "
	    "more random words separated by spaces, or 12 or more random "
	    "letters, digits and symbols", what, why, guesses, bits,
	    PWQUALITY_MIN_BITS);
out:
	ZxcvbnFreeInfo(info);
	secret_free(s);
	return r;
}
