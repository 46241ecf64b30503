/* SPDX-License-Identifier: ISC */
/* srv_log: levelled lines on stderr (srv_log.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "srv_log.h"

static bool log_quiet;

void
srv_log_quiet(bool on)
{
	log_quiet = on;
}

void
srv_log(const char *level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (log_quiet && strcmp(level, "error") != 0)
		return;
	n = snprintf(line, sizeof(line), "cofferd: %s: ", level);
	if (n < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* Names and paths come from clients: no control characters. */
	for (char *c = line; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	/* One write per line, so lines of threads do not interleave. */
	fprintf(stderr, "%s\n", line);
}
