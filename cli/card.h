/* SPDX-License-Identifier: ISC */
/*
 * card: coffer card, backups that start when a recorded card goes in.
 * card_store.c keeps the records (what each card backs up, FORMAT.md
 * §19) and each card's run history; card_dev.c finds a card's file
 * system UUID (libblkid) and mounts and unmounts it.  cmd_card.c is the
 * command.  Nothing here trusts the card: the UUID only picks a record,
 * and the repository must then prove itself under the keystore
 * (coffer_card_identify) before anything is written to it.
 */
#ifndef CARD_H_
#define CARD_H_

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define CARD_UUID_MAX	64
#define CARD_KEYS_MAX	64
#define CARD_RUNS_KEPT	20

struct card_rec {
	char		 uuid[CARD_UUID_MAX + 1];
	char		 fstype[16];
	char		*label;
	char		 repo_id[33];
	char		*repo;		/* repository folder, relative to the
					   card's root */
	char		 key_ids[CARD_KEYS_MAX][17];
	size_t		 nkey_ids;
	char		**paths, **excludes, **exclude_files;
	size_t		 npaths, nexcludes, nexclude_files;
	bool		 exclude_caches, one_file_system;
	unsigned	 keep_last, keep_hourly, keep_daily, keep_weekly;
	unsigned	 keep_monthly, keep_yearly;
	long long	 added;		/* when recorded, Unix seconds */
};

struct card_recs {
	char		*path;		/* the records file */
	struct card_rec	*v;
	size_t		 n;
};

/*
 * card_recs_path(system, buf, cap): the records file: $COFFER_CARDS,
 * else with ${system} /etc/coffer/cards, else
 * $XDG_CONFIG_HOME/coffer/cards (~/.config/coffer/cards).  -1 if none.
 */
int card_recs_path(bool system, char *buf, size_t cap);
/*
 * card_recs_load(path, recs): read and check the records file (a missing
 * one holds no cards).  It must be a regular file owned by us, writable
 * by no one else: it says what root backs up and where.  -1 after a
 * message naming the file and what is wrong.
 */
int card_recs_load(const char *path, struct card_recs *recs);
/* card_recs_save(recs): write it atomically (0600); -1 after a message. */
int card_recs_save(const struct card_recs *recs);
void card_recs_release(struct card_recs *recs);
void card_rec_release(struct card_rec *c);
/* card_recs_find(recs, name): the card with this UUID or label, or NULL. */
struct card_rec *card_recs_find(struct card_recs *recs, const char *name);
/* card_uuid_ok(s): a UUID as file systems have them: [0-9A-Za-z-]. */
bool card_uuid_ok(const char *s);

/* One run of a card's profile, as card status shows it. */
struct card_run {
	long long	 start, end;	/* Unix seconds; end 0 while running */
	char		 result[12];	/* running, ok, partial, failed,
					   refused */
	char		*message;
	char		 snapshot[64];
	uint64_t	 added;		/* bytes the backup wrote */
	uint64_t	 forgotten;
	long		 pid;
};
struct card_status {
	char		*path;
	struct card_run	 runs[CARD_RUNS_KEPT];	/* oldest first */
	size_t		 n;
};
/*
 * card_state_dir(system, buf, cap): where run histories and locks live:
 * $COFFER_CARD_STATE, else with ${system} /var/lib/coffer-card, else
 * $XDG_STATE_HOME/coffer/cards (~/.local/state/coffer/cards).
 */
int card_state_dir(bool system, char *buf, size_t cap);
/* card_mkdir_p(dir): make ${dir} and the folders above it (0700). */
int card_mkdir_p(const char *dir);
/*
 * card_status_load(dir, uuid, st): the history of card ${uuid}.  A
 * missing file is an empty history; a damaged one is reported as a
 * warning and started afresh (it records, it decides nothing).
 */
void card_status_load(const char *dir, const char *uuid,
    struct card_status *st);
/* card_status_push(st, run): append, dropping the oldest if full. */
void card_status_push(struct card_status *st, const struct card_run *run);
/* card_status_save(st): write atomically; -1 after a message. */
int card_status_save(const struct card_status *st);
void card_status_release(struct card_status *st);

/*
 * card_probe(dev, uuid, fstype, label, labcap): the file system UUID, type
 * and label of block device ${dev}, read with libblkid from the device
 * itself (no cache).  -1 after a message if ${dev} is not a block device
 * or holds no file system with a UUID.
 */
int card_probe(const char *dev, char uuid[CARD_UUID_MAX + 1],
    char fstype[16], char *label, size_t labcap);
/*
 * card_mount_of(path, dev, dcap, mnt, mcap): the block device a mounted
 * ${path} lives on and its mount point (from /proc/self/mountinfo).
 * -1 after a message.
 */
int card_mount_of(const char *path, char *dev, size_t dcap, char *mnt,
    size_t mcap);
/*
 * card_mount(dev, fstype, dir, rw): mount ${dev} at ${dir} (nosuid,
 * nodev, noexec, only root may enter), read-only unless ${rw}: through
 * the kernel, else, when the kernel lacks exFAT, through exfat-fuse.
 * A stale mount left at ${dir} by a killed run is detached first.
 * -1 after a message.
 */
int card_mount(const char *dev, const char *fstype, const char *dir,
    bool rw);
/*
 * card_unmount(dir): flush the card's file system and unmount it so the
 * card can be pulled; -1 after a message.
 */
int card_unmount(const char *dir);
/* card_is_mounted(dir): ${dir} is a mount point. */
bool card_is_mounted(const char *dir);

#endif /* !CARD_H_ */
