/* SPDX-License-Identifier: ISC */
/*
 * lockval REPO PID START [BOOT]: print what a lock file of process PID,
 * started at START (clock ticks since boot) in the boot BOOT (32 hex;
 * default: this one) on this host, carries (docs/FORMAT.md §13):
 *   host H       the keyed host hash
 *   host_old H   the host hash of older coffers
 *   boot B       the keyed boot hash
 *   start S      the keyed start value
 * with the lock key of this machine id ($COFFER_MACHINE_ID or
 * /etc/machine-id) and REPO's id.  A fixture maker for 50-lock: exits 2
 * on bad usage, 1 on any error (no machine id).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/coffer.h"
#include "repo/repo.h"
#include "repo/repo_internal.h"

int
main(int argc, char **argv)
{
	struct coffer_err err = { 0 };
	struct repo *rp = NULL;
	char host[33], host_old[33], boot[33];
	unsigned long long start, startv;
	char *end;
	long pid;

	if (argc != 4 && argc != 5) {
		fputs("usage: lockval REPO PID START [BOOT]\n", stderr);
		return 2;
	}
	pid = strtol(argv[2], &end, 10);
	if (*end != '\0' || pid < 1)
		return 2;
	start = strtoull(argv[3], &end, 10);
	if (*end != '\0')
		return 2;
	if (coffer_init() != 0 || repo_open(argv[1], &rp, &err) != 0) {
		fprintf(stderr, "lockval: %s\n", err.msg);
		return 1;
	}
	if (repo_lock_values(rp, pid, start, argc == 5 ? argv[4] : NULL, host,
	    host_old, boot, &startv) != 0) {
		fputs("lockval: no lock key (no machine id)\n", stderr);
		return 1;
	}
	printf("host %s\nhost_old %s\nboot %s\nstart %llu\n", host, host_old,
	    boot, startv);
	repo_free(rp);
	return 0;
}
