/* SPDX-License-Identifier: ISC */
/*
 * destroy: remove a whole key set from the card.  Snapshots go first, so
 * that an interruption never leaves a snapshot whose data is gone; the
 * keyinfo and the folder go last.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "repo.h"
#include "repo_internal.h"
#include "rfs.h"

/*
 * rm_dir(pfd, sub, label, err): remove every file in ${sub} of ${pfd},
 * then ${sub} itself.  A card may hold folders nested to any depth: one
 * heap frame per level (its listing, the length of its label), no C
 * stack; each level holds one descriptor, so a nesting deeper than the
 * open-file limit fails cleanly ("cannot open").
 */
struct rmframe {
	DIR	*d;
	char	*name;		/* in the parent */
	size_t	 llen;		/* its label: the first llen bytes */
};

/* Set the label to its first ${len} bytes, '/' and ${name}. */
static int
label_set(char **lb, size_t *cap, size_t len, const char *name)
{
	size_t need = len + 1 + strlen(name) + 1;

	if (need > *cap) {
		char *nb;

		if ((nb = coffer_realloc(*lb, need * 2)) == NULL)
			return -1;
		*lb = nb;
		*cap = need * 2;
	}
	if (len > 0)
		(*lb)[len++] = '/';
	memcpy(*lb + len, name, strlen(name) + 1);
	return 0;
}

static int
rm_dir(int pfd, const char *sub, const char *label, struct coffer_err *err)
{
	struct rmframe *fs = NULL;
	size_t n = 0, cap = 0, lcap = 0;
	const char *name = sub;
	char *lb = NULL;
	int fd = -1;
	int r;

	if (label_set(&lb, &lcap, 0, label) != 0) {
		r = coffer_err_set(err, COFFER_ENOMEM, "removing '%s'", label);
		goto out;
	}
	for (;;) {
		struct rmframe *f;
		struct dirent *de;
		struct stat sb;
		size_t llen = strlen(lb);

		/* Enter ${name} of the folder on top (${pfd} at first). */
		if (name != NULL) {
			int at = n > 0 ? dirfd(fs[n - 1].d) : pfd;

			if ((fd = openat(at, name, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC)) == -1) {
				r = errno == ENOENT ? 0 : coffer_err_sys(err,
				    "cannot open '%s'", lb);
				if (r != 0 || n == 0)
					goto out;
				name = NULL;	/* gone meanwhile: fine */
				continue;
			}
			if (n == cap) {
				size_t ncap = cap ? 2 * cap : 16;
				struct rmframe *nf;

				if ((nf = coffer_realloc(fs, ncap *
				    sizeof(*nf))) == NULL) {
					r = coffer_err_set(err, COFFER_ENOMEM,
					    "removing '%s'", lb);
					goto out;
				}
				fs = nf;
				cap = ncap;
			}
			f = &fs[n];
			f->llen = llen;
			if ((f->name = coffer_strdup(name)) == NULL) {
				r = coffer_err_set(err, COFFER_ENOMEM,
				    "removing '%s'", lb);
				goto out;
			}
			if ((f->d = fdopendir(fd)) == NULL) {
				r = coffer_err_sys(err, "cannot read '%s'", lb);
				coffer_free(f->name);
				goto out;
			}
			fd = -1;
			n++;
			name = NULL;
		}
		f = &fs[n - 1];
		lb[f->llen] = '\0';
		while ((errno = 0, de = readdir(f->d)) != NULL &&
		    (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0))
			;
		if (de == NULL) {
			/* Empty now: sync it, close it, remove it. */
			int at = n > 1 ? dirfd(fs[n - 2].d) : pfd;

			if (fsync_dir(dirfd(f->d)) != 0) {
				r = coffer_err_sys(err, "cannot sync '%s'", lb);
				goto out;
			}
			closedir(f->d);
			n--;
			r = unlinkat(at, f->name, AT_REMOVEDIR) != 0 &&
			    errno != ENOENT ? coffer_err_sys(err, "cannot "
			    "remove '%s'", lb) : 0;
			coffer_free(f->name);
			if (r != 0 || n == 0)
				goto out;
			continue;
		}
		if (label_set(&lb, &lcap, f->llen, de->d_name) != 0) {
			r = coffer_err_set(err, COFFER_ENOMEM, "removing '%s'",
			    lb);
			goto out;
		}
		if (fstatat(dirfd(f->d), de->d_name, &sb,
		    AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode)) {
			/* Valid until the next readdir: entered at once. */
			name = de->d_name;
		} else if (unlinkat(dirfd(f->d), de->d_name, 0) != 0) {
			r = coffer_err_sys(err, "cannot remove '%s'", lb);
			goto out;
		}
	}
out:
	if (fd != -1)
		close(fd);
	while (n > 0) {
		closedir(fs[--n].d);
		coffer_free(fs[n].name);
	}
	coffer_free(fs);
	coffer_free(lb);
	return r;
}

int
repo_destroy_set(struct repo *rp, const char *keyid_hex, struct coffer_err *err)
{
	static const char *const order[] = { "snapshots", "index", "packs" };
	char sub[64], label[128];
	int setsfd = -1, sfd = -1;
	int r;

	/* Real folders only: "sets" and the set itself are never followed. */
	snprintf(sub, sizeof(sub), "sets/%s", keyid_hex);
	if ((r = rfs_open_dir(rp->dirfd, "sets", "sets", &setsfd, err)) != 0 ||
	    (r = rfs_open_dir(setsfd, keyid_hex, sub, &sfd, err)) != 0) {
		coffer_err_prefix(err, "cannot open key set in '%s'", rp->path);
		goto out;
	}
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		snprintf(label, sizeof(label), "%s/%s", sub, order[i]);
		if ((r = rm_dir(sfd, order[i], label, err)) != 0)
			goto out;
	}
	if ((r = rm_dir(setsfd, keyid_hex, sub, err)) != 0)
		goto out;
	if (fsync_dir(setsfd) != 0) {
		r = coffer_err_sys(err, "cannot sync '%s/sets'", rp->path);
		goto out;
	}
	r = 0;
out:
	if (sfd != -1)
		close(sfd);
	if (setsfd != -1)
		close(setsfd);
	return r;
}
