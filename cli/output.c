/* SPDX-License-Identifier: ISC */
/* output: the only place coffer(1) prints errors; JSON and text helpers. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

void
report_err(const struct coffer_err *err)
{
	fprintf(stderr, "coffer %s: %s: %s\n", g_cmd,
	    coffer_strerror(err->code), err->msg);
	/* Say what to do next where there is one obvious step. */
	if (err->sys_errno == ENOSPC)
		fprintf(stderr, "coffer %s: the card is full: earlier snapshots "
		    "are intact; make room ('coffer forget' and 'coffer prune' "
		    "free space, and prune also removes what this run left) and "
		    "run it again\n", g_cmd);
}

int
usage_err(const char *usage, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "coffer %s: ", g_cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(usage, stderr);
	return EXIT_USAGE;
}

json_t *
json_bytes(const void *p, size_t len)
{
	const unsigned char *s = p;
	json_t *j;
	char *buf;
	size_t o = 0;

	if ((j = json_stringn((const char *)p, len)) != NULL)
		return j;
	/* Not UTF-8: replace each bad byte by U+FFFD (docs/CLI.md). */
	if ((buf = malloc(3 * len + 1)) == NULL)
		return json_null();
	for (size_t i = 0; i < len; i++) {
		size_t n = 0;

		if (s[i] < 0x80)
			n = 1;
		else if ((s[i] & 0xe0) == 0xc0)
			n = 2;
		else if ((s[i] & 0xf0) == 0xe0)
			n = 3;
		else if ((s[i] & 0xf8) == 0xf0)
			n = 4;
		if (n > 0 && i + n <= len &&
		    (j = json_stringn((const char *)s + i, n)) != NULL) {
			json_decref(j);
			memcpy(buf + o, s + i, n);
			o += n;
			i += n - 1;
		} else {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
		}
	}
	j = json_stringn(buf, o);
	free(buf);
	return j ? j : json_null();
}

int
json_print(json_t *doc)
{
	int r;

	r = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	json_decref(doc);
	if (r != 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
		fprintf(stderr, "coffer %s: cannot write the output\n", g_cmd);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

void
print_escaped(FILE *f, const void *p, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = p;
	char buf[4096];
	size_t n = 0;

	/*
	 * Gathered into ${buf}, written a block at a time: stderr is
	 * unbuffered, and a warning may name a path of many kilobytes.
	 */
	for (size_t i = 0; i < len; i++) {
		if (n + 4 > sizeof(buf)) {
			(void)fwrite(buf, 1, n, f);
			n = 0;
		}
		if (s[i] == '\\') {
			buf[n++] = '\\';
			buf[n++] = '\\';
		} else if (s[i] < 0x20 || s[i] == 0x7f) {
			buf[n++] = '\\';
			buf[n++] = 'x';
			buf[n++] = hex[s[i] >> 4];
			buf[n++] = hex[s[i] & 15];
		} else {
			buf[n++] = (char)s[i];
		}
	}
	if (n > 0)
		(void)fwrite(buf, 1, n, f);
}

const char *
human_size(unsigned long long n, char buf[32])
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, 32, "%llu B", n);
	else
		snprintf(buf, 32, "%.1f %s", v, units[u]);
	return buf;
}

const char *
iso_time(long long sec, unsigned nsec, char buf[48])
{
	struct tm tm;
	time_t t = (time_t)sec;
	char base[32];

	gmtime_r(&t, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, 48, "%s.%09uZ", base, nsec);
	return buf;
}

const char *const scope_names[] = { "default", "device", "period", "backup" };

int
parse_scope(const char *s, int *scope)
{
	for (int i = COFFER_SCOPE_DEVICE; i <= COFFER_SCOPE_BACKUP; i++) {
		if (strcmp(s, scope_names[i]) == 0) {
			*scope = i;
			return 0;
		}
	}
	return -1;
}

const char *const custody_names[] = { "default", "local", "escrow",
    "local+escrow", "escrow-wrap" };

int
parse_custody(const char *s, int *custody)
{
	for (int i = COFFER_CUSTODY_LOCAL; i <= COFFER_CUSTODY_ESCROW_WRAP; i++) {
		if (strcmp(s, custody_names[i]) == 0) {
			*custody = i;
			return 0;
		}
	}
	return -1;
}

int
parse_max_unused(const char *s, int *pct)
{
	int v = 0;
	size_t i;

	if (strcmp(s, "unlimited") == 0) {
		*pct = COFFER_PRUNE_UNLIMITED;
		return 0;
	}
	for (i = 0; s[i] >= '0' && s[i] <= '9' && i < 2; i++)
		v = v * 10 + (s[i] - '0');
	if (i == 0 || (s[i] != '\0' && strcmp(s + i, "%") != 0))
		return -1;
	*pct = v;
	return 0;
}

int
parse_period(const char *s, int *period)
{
	static const char *const names[] = { "day", "week", "month" };

	for (int i = 0; i < 3; i++) {
		if (strcmp(s, names[i]) == 0) {
			*period = i;
			return 0;
		}
	}
	return -1;
}
