/* SPDX-License-Identifier: ISC */
/*
 * config: the user's defaults, $XDG_CONFIG_HOME/coffer/config
 * (~/.config/coffer/config; COFFER_CONFIG names another file), lines of
 * "key = value", '#' comments.  Flags win over the environment, the
 * environment over this file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct config g_config;

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
	    e[-1] == '\n'))
		*--e = '\0';
	return s;
}

static bool
parse_bool(const char *v, bool *out)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 ||
	    strcmp(v, "1") == 0 || strcmp(v, "on") == 0)
		*out = true;
	else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 ||
	    strcmp(v, "0") == 0 || strcmp(v, "off") == 0)
		*out = false;
	else
		return false;
	return true;
}

static int
set_key(const char *file, unsigned line, const char *k, const char *v)
{
	char *dup;

	if ((dup = strdup(v)) == NULL)
		return -1;
	if (strcmp(k, "repo") == 0) {
		g_config.repo = dup;
	} else if (strcmp(k, "keystore") == 0) {
		g_config.keystore = dup;
	} else if (strcmp(k, "cacert") == 0) {
		g_config.cacert = dup;
	} else if (strcmp(k, "server") == 0) {
		g_config.server = dup;
	} else if (strcmp(k, "scope") == 0) {
		if (parse_scope(v, &g_config.scope) != 0)
			goto bad;
		free(dup);
	} else if (strcmp(k, "custody") == 0) {
		if (parse_custody(v, &g_config.custody) != 0)
			goto bad;
		free(dup);
	} else if (strcmp(k, "period") == 0) {
		if (parse_period(v, &g_config.period) != 0)
			goto bad;
		g_config.period_set = true;
		free(dup);
	} else if (strcmp(k, "exclude") == 0) {
		if (g_config.nexcludes == CONFIG_EXCLUDES_MAX)
			goto bad;
		g_config.excludes[g_config.nexcludes++] = dup;
	} else if (strcmp(k, "exclude-file") == 0) {
		if (g_config.nexclude_files == CONFIG_EXCLUDES_MAX)
			goto bad;
		g_config.exclude_files[g_config.nexclude_files++] = dup;
	} else if (strcmp(k, "exclude-caches") == 0) {
		free(dup);
		if (!parse_bool(v, &g_config.exclude_caches))
			goto badv;
	} else if (strcmp(k, "one-file-system") == 0) {
		free(dup);
		if (!parse_bool(v, &g_config.one_file_system))
			goto badv;
	} else {
		free(dup);
		fprintf(stderr, "coffer: %s:%u: unknown setting '%s' "
		    "(ignored; see coffer(1), FILES)\n", file, line, k);
	}
	return 0;
bad:
	free(dup);
badv:
	fprintf(stderr, "coffer: %s:%u: bad value '%s' for '%s'\n", file, line,
	    v, k);
	return -1;
}

int
config_load(void)
{
	char path[4096], buf[4096];
	const char *v;
	unsigned line = 0;
	FILE *f;

	g_config.scope = 0;
	g_config.period = 0;
	if ((v = getenv("COFFER_CONFIG")) != NULL && *v != '\0')
		snprintf(path, sizeof(path), "%s", v);
	else if ((v = getenv("XDG_CONFIG_HOME")) != NULL && *v == '/')
		snprintf(path, sizeof(path), "%s/coffer/config", v);
	else if ((v = getenv("HOME")) != NULL && *v == '/')
		snprintf(path, sizeof(path), "%s/.config/coffer/config", v);
	else
		return 0;
	if ((f = fopen(path, "re")) == NULL) {
		if (errno == ENOENT && getenv("COFFER_CONFIG") == NULL)
			return 0;
		fprintf(stderr, "coffer: cannot read config '%s': %s\n", path,
		    strerror(errno));
		return -1;
	}
	while (fgets(buf, sizeof(buf), f) != NULL) {
		char *s = trim(buf), *eq;

		line++;
		if (*s == '\0' || *s == '#')
			continue;
		if ((eq = strchr(s, '=')) == NULL) {
			fprintf(stderr, "coffer: %s:%u: expected 'key = value'\n",
			    path, line);
			fclose(f);
			return -1;
		}
		*eq = '\0';
		/* A comment may follow a value after blank space: " # ...". */
		for (char *h = eq + 1; *h != '\0'; h++) {
			if (*h == '#' && (h[-1] == ' ' || h[-1] == '\t')) {
				*h = '\0';
				break;
			}
		}
		if (set_key(path, line, trim(s), trim(eq + 1)) != 0) {
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return 0;
}
