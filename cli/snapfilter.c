/* SPDX-License-Identifier: ISC */
/* snapfilter: the --tag, --host, --path options commands share. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int
filter_init(struct filter_args *fa, int argc)
{
	size_t n = (size_t)argc + 1;

	memset(fa, 0, sizeof(*fa));
	if ((fa->tags = calloc(n, sizeof(char *))) == NULL ||
	    (fa->hosts = calloc(n, sizeof(char *))) == NULL ||
	    (fa->paths = calloc(n, sizeof(char *))) == NULL) {
		filter_release(fa);
		return -1;
	}
	fa->f.tags = fa->tags;
	fa->f.hosts = fa->hosts;
	fa->f.paths = fa->paths;
	return 0;
}

bool
filter_opt(struct filter_args *fa, int ch, const char *arg)
{
	switch (ch) {
	case OPT_TAG:
		fa->tags[fa->f.ntags++] = arg;
		return true;
	case OPT_HOST:
		fa->hosts[fa->f.nhosts++] = arg;
		return true;
	case OPT_PATH:
		fa->paths[fa->f.npaths++] = arg;
		return true;
	default:
		return false;
	}
}

bool
filter_given(const struct filter_args *fa)
{
	return fa->f.ntags + fa->f.nhosts + fa->f.npaths > 0;
}

void
filter_release(struct filter_args *fa)
{
	free(fa->tags);
	free(fa->hosts);
	free(fa->paths);
	memset(fa, 0, sizeof(*fa));
}
