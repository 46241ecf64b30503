/* SPDX-License-Identifier: ISC */
/*
 * fuzz_config: repo_open on a scratch directory whose config is the
 * input (config_parse, docs/FORMAT.md §5).  Properties: the only outcomes
 * are success or a clean COFFER_EFORMAT; an accepted config has sane
 * values (id 32 lowercase hex that decodes to repo->id; name-by, scope
 * and period in range), and is byte for byte the one text §5 gives for
 * those values, its checksum rebuilt here independently.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static char dir[PATH_MAX];
static int dirfd_ = -1;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	fuzz_path(dir, sizeof(dir), "cfg");
	if (mkdirat_p(AT_FDCWD, dir, 0700) != 0 ||
	    (dirfd_ = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fuzz_fail(__FILE__, __LINE__, "setup", "cannot make %s", dir);
	return 0;
}

/* The text §5 prescribes for these values. */
static size_t
canonical(char *out, size_t cap, const struct repo *rp)
{
	static const char *const nb[] = { "time", "count" };
	static const char *const sc[] = { "", "device", "period", "backup" };
	static const char *const pe[] = { "day", "week", "month" };
	static const char *const cu[] = { "", "local", "escrow",
	    "local+escrow", "escrow-wrap" };
	uint8_t sum[16];
	char hex[33];
	int n;

	/* Versions 1 and 2 follow the custody; 3 may have any (§5). */
	FUZZ_CHECK(rp->version == 3 || rp->version ==
	    (rp->custody == CUSTODY_LOCAL ? 1 : 2), "version %d, custody %d",
	    rp->version, rp->custody);
	n = snprintf(out, cap, "coffer repository\nversion %d\nid %s\n"
	    "name-by %s\nscope %s\nperiod %s\n", rp->version, rp->idhex,
	    nb[rp->name_by], sc[rp->scope], pe[rp->period]);
	if (rp->custody != CUSTODY_LOCAL)
		n += snprintf(out + n, cap - (size_t)n, "custody %s\n",
		    cu[rp->custody]);
	hash_plain(sum, sizeof(sum), out, (size_t)n);
	hex_encode(hex, sum, sizeof(sum));
	n += snprintf(out + n, cap - (size_t)n, "checksum %s\n", hex);
	return (size_t)n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct coffer_err err = { 0 };
	struct repo *rp = NULL;
	char want[1024];
	uint8_t id[REPO_ID_LEN];
	int r;

	if (dirfd_ == -1)
		LLVMFuzzerInitialize(NULL, NULL);
	fuzz_write(dirfd_, "config", data, size, 0600);
	r = repo_open(dir, &rp, &err);
	FUZZ_CHECK(r == 0 || r == COFFER_EFORMAT,
	    "repo_open returned %d (%s)", r, err.msg);
	FUZZ_CHECK((r == 0) == (rp != NULL), "result %d but repo %p", r,
	    (void *)rp);
	if (r != 0) {
		FUZZ_CHECK(err.msg[0] != '\0', "error without a message");
		return 0;
	}
	FUZZ_CHECK(rp->name_by == NAME_BY_TIME || rp->name_by == NAME_BY_COUNT,
	    "name_by %d", rp->name_by);
	FUZZ_CHECK(rp->scope >= SCOPE_DEVICE && rp->scope <= SCOPE_BACKUP,
	    "scope %d", rp->scope);
	FUZZ_CHECK(rp->period >= PERIOD_DAY && rp->period <= PERIOD_MONTH,
	    "period %d", rp->period);
	FUZZ_CHECK(strlen(rp->idhex) == 32 &&
	    strspn(rp->idhex, "0123456789abcdef") == 32, "id '%s'", rp->idhex);
	FUZZ_CHECK(hex_decode(id, rp->idhex, sizeof(id)) == 0 &&
	    memcmp(id, rp->id, sizeof(id)) == 0, "id and idhex differ");
	FUZZ_CHECK(canonical(want, sizeof(want), rp) == size &&
	    memcmp(want, data, size) == 0,
	    "accepted a config that is not the canonical text");
	repo_free(rp);
	return 0;
}
