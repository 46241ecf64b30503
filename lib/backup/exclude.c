/* SPDX-License-Identifier: ISC */
/* exclude: gitignore-style patterns (see exclude.h for the rules). */
#include <fcntl.h>
#include <fnmatch.h>
#include <string.h>

#include "exclude.h"

#define EXCL_FILE_MAX	(4u << 20)

struct pat {
	char	*glob;		/* without '!', leading and trailing '/' */
	bool	 negate;
	bool	 dironly;
	bool	 anchored;	/* began with '/': match from the top */
};

struct excl {
	struct pat	*p;
	size_t		 n, cap;
};

struct excl *
excl_new(void)
{
	return coffer_calloc(1, sizeof(struct excl));
}

void
excl_free(struct excl *x)
{
	if (x == NULL)
		return;
	for (size_t i = 0; i < x->n; i++)
		coffer_free(x->p[i].glob);
	coffer_free(x->p);
	coffer_free(x);
}

int
excl_add(struct excl *x, const char *pattern, struct coffer_err *err)
{
	struct pat pt = { 0 };
	size_t len;

	if (*pattern == '\0' || *pattern == '#')
		return 0;
	if (*pattern == '!') {
		pt.negate = true;
		pattern++;
	}
	if (*pattern == '/') {
		pt.anchored = true;
		while (*pattern == '/')
			pattern++;
	}
	len = strlen(pattern);
	while (len > 0 && pattern[len - 1] == '/') {
		pt.dironly = true;
		len--;
	}
	if (len == 0)
		return coffer_err_set(err, COFFER_EINVAL, "exclude pattern "
		    "'%s' matches nothing", pattern);
	if ((pt.glob = coffer_malloc(len + 1)) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "patterns");
	memcpy(pt.glob, pattern, len);
	pt.glob[len] = '\0';
	if (x->n == x->cap) {
		size_t ncap = x->cap ? 2 * x->cap : 8;
		struct pat *np;

		if ((np = coffer_realloc(x->p, ncap * sizeof(*np))) == NULL) {
			coffer_free(pt.glob);
			return coffer_err_set(err, COFFER_ENOMEM, "patterns");
		}
		x->p = np;
		x->cap = ncap;
	}
	x->p[x->n++] = pt;
	return 0;
}

int
excl_add_file(struct excl *x, const char *path, struct coffer_err *err)
{
	uint8_t *buf = NULL;
	size_t len;
	char *line, *next;
	int r;

	if ((r = file_read(AT_FDCWD, path, path, EXCL_FILE_MAX, &buf, &len,
	    err)) != 0)
		return r;
	buf[len] = '\0';
	for (line = (char *)buf; line != NULL && *line != '\0'; line = next) {
		size_t n;

		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		n = strlen(line);
		if (n > 0 && line[n - 1] == '\r')
			line[n - 1] = '\0';
		if ((r = excl_add(x, line, err)) != 0) {
			coffer_err_prefix(err, "exclude file '%s'", path);
			break;
		}
	}
	coffer_free(buf);
	return r;
}

/* Does ${pat} hold a "**" component? */
static bool
has_dstar(const char *pat)
{
	for (const char *p = pat; p != NULL; ) {
		if (p[0] == '*' && p[1] == '*' && (p[2] == '/' || p[2] == '\0'))
			return true;
		if ((p = strchr(p, '/')) != NULL)
			p++;
	}
	return false;
}

/* The last ${k} components of ${path} (k >= 1); NULL if it has fewer. */
static const char *
last_components(const char *path, size_t k)
{
	const char *p = path + strlen(path);

	while (p > path) {
		if (p[-1] == '/' && --k == 0)
			return p;
		p--;
	}
	return k == 1 ? path : NULL;
}

static size_t
ncomponents(const char *s)
{
	size_t n = 1;

	while ((s = strchr(s, '/')) != NULL) {
		n++;
		s++;
	}
	return n;
}

/* One component of a pattern (${pl} bytes) against one of a path. */
static bool __attribute__((noinline))
match_one(const char *pat, size_t pl, const char *path, size_t sl)
{
	char pc[4096], sc[4096];

	if (pl >= sizeof(pc) || sl >= sizeof(sc))
		return false;
	memcpy(pc, pat, pl);
	pc[pl] = '\0';
	memcpy(sc, path, sl);
	sc[sl] = '\0';
	return fnmatch(pc, sc, 0) == 0;
}

/*
 * match(pat, path): does glob ${pat} match all of ${path}, with '*' not
 * crossing '/' and "**" as a whole component matching any number of
 * components (including none)?  A pattern without "**" can match only
 * a path of as many components: any other is not tried.  It recurses
 * once per "**" of the pattern, never per component of the path.
 */
static bool
match(const char *pat, const char *path)
{
	for (;;) {
		const char *ps, *pe;
		size_t pl, sl;

		if (strncmp(pat, "**", 2) == 0 && (pat[2] == '/' ||
		    pat[2] == '\0')) {
			const char *rest = pat[2] == '/' ? pat + 3 : pat + 2;

			if (*rest == '\0')
				return true;
			if (!has_dstar(rest)) {
				path = last_components(path, ncomponents(rest));
				if (path == NULL)
					return false;
				pat = rest;
				continue;
			}
			for (const char *p = path; ; ) {
				if (match(rest, p))
					return true;
				if ((p = strchr(p, '/')) == NULL)
					return false;
				p++;
			}
		}
		pe = strchr(pat, '/');
		ps = strchr(path, '/');
		pl = pe ? (size_t)(pe - pat) : strlen(pat);
		sl = ps ? (size_t)(ps - path) : strlen(path);
		if (!match_one(pat, pl, path, sl))
			return false;
		if (pe == NULL && ps == NULL)
			return true;
		if (pe == NULL || ps == NULL)
			return false;
		pat = pe + 1;
		path = ps + 1;
	}
}

bool
excl_match(const struct excl *x, const char *path, bool isdir)
{
	bool out = false;

	for (size_t i = 0; x != NULL && i < x->n; i++) {
		const struct pat *p = &x->p[i];
		bool hit = false;

		if (p->dironly && !isdir)
			continue;
		if (p->anchored) {
			hit = match(p->glob, path);
		} else if (!has_dstar(p->glob)) {
			/* Unanchored: the path's last components, as many. */
			const char *t = last_components(path,
			    ncomponents(p->glob));

			hit = t != NULL && match(p->glob, t);
		} else {
			/* Unanchored: any tail of the path, whole components. */
			for (const char *t = path; t != NULL && !hit; ) {
				hit = match(p->glob, t);
				if ((t = strchr(t, '/')) != NULL)
					t++;
			}
		}
		if (hit)
			out = !p->negate;
	}
	return out;
}

const char *
excl_stored(const char *path)
{
	for (;;) {
		if (path[0] == '/')
			path++;
		else if (path[0] == '.' && path[1] == '/')
			path += 2;
		else if (path[0] == '.' && path[1] == '.' && path[2] == '/')
			path += 3;
		else
			return path;
	}
}
