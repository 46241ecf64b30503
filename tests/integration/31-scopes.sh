# SPDX-License-Identifier: ISC
# tests/integration/31-scopes.sh
# Goal: the key scope decides which backups share a key set.  device (the
# default): every backup of one device id shares one set, and the second
# adds almost nothing; another device id gets another set.  backup: each
# backup is a set of its own.  period: backups of one day (week, month)
# share a set labelled "day:YYYY-MM-DD" ("week:YYYY-Www", "month:YYYY-MM")
# in UTC.  "init --scope" sets the repository default.  "key list" shows
# every set with its scope and snapshots, and every snapshot restores.
scenario() {
	COFFER_INSECURE_FAST_KDF=1
	export COFFER_INSECURE_FAST_KDF
	"$HELPERS/gentree" src || return 1
	# Count names: many backups run within one second.
	expect_exit 0 "$COFFER" init --name-by count || return 1

	# ---- device scope (the default) ----
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	snaps || return 1
	expect_jq 'length == 2' snaps.json || return 1
	expect_jq '.[0].key_id == .[1].key_id' snaps.json || return 1
	expect_jq '.[1].added < 65536' snaps.json || return 1
	dev1=$(jq -r '.[0].key_id' snaps.json)
	expect_exit 0 "$COFFER" backup --scope device src || return 1
	snaps || return 1
	KEY=$dev1 && export KEY
	expect_jq '.[2].key_id == env.KEY' snaps.json || return 1

	# Another device id: another key set, sharing nothing.
	expect_exit 0 env COFFER_MACHINE_ID=fedcba9876543210fedcba9876543210 \
	    "$COFFER" backup src || return 1
	snaps || return 1
	dev2=$(jq -r '.[3].key_id' snaps.json)
	[ "$dev2" != "$dev1" ] ||
	    fail "another device id used the same key set $dev1" || return 1
	expect_jq '.[3].added > 65536' snaps.json || return 1
	# And back on the first device id, the first set again.
	expect_exit 0 "$COFFER" backup src || return 1
	snaps || return 1
	expect_jq '.[4].key_id == env.KEY' snaps.json || return 1

	# ---- backup scope: a fresh set every time ----
	expect_exit 0 "$COFFER" backup --scope backup src || return 1
	expect_exit 0 "$COFFER" backup --scope backup src || return 1
	snaps || return 1
	expect_jq '[.[].key_id] | unique | length == 4' snaps.json || return 1
	expect_jq '.[5].added > 65536 and .[6].added > 65536' snaps.json ||
	    return 1

	# ---- period scope ----
	d0=$(date -u +%Y-%m-%d)
	expect_exit 0 "$COFFER" backup --scope period --period day src ||
	    return 1
	expect_exit 0 "$COFFER" backup --scope period --period day src ||
	    return 1
	d1=$(date -u +%Y-%m-%d)
	snaps || return 1
	if [ "$d0" = "$d1" ]; then
		expect_jq '.[7].key_id == .[8].key_id' snaps.json || return 1
	else
		note "midnight passed between the two day backups"
	fi
	expect_jq '[.[].key_id] | unique | length >= 5' snaps.json || return 1
	day=$(jq -r '.[8].key_id' snaps.json)

	w0=$(date -u +week:%G-W%V)
	expect_exit 0 "$COFFER" backup --scope period --period week src ||
	    return 1
	w1=$(date -u +week:%G-W%V)
	m0=$(date -u +month:%Y-%m)
	expect_exit 0 "$COFFER" backup --scope period --period month src ||
	    return 1
	m1=$(date -u +month:%Y-%m)
	snaps || return 1
	week=$(jq -r '.[9].key_id' snaps.json)
	month=$(jq -r '.[10].key_id' snaps.json)

	expect_exit 0 "$COFFER" key list --json || return 1
	cp out keys.json
	check_label "$day" "day:$d0" "day:$d1" || return 1
	check_label "$week" "$w0" "$w1" || return 1
	check_label "$month" "$m0" "$m1" || return 1
	[ "$day" != "$week" ] && [ "$week" != "$month" ] &&
	    [ "$day" != "$month" ] ||
	    fail "day, week and month sets are not distinct" || return 1

	# ---- key list: every set, with scope, key and snapshot names ----
	expect_jq '.key_sets | length ==
	    ([env.SNAPS | fromjson | .[].key_id] | unique | length)' \
	    keys.json || return 1
	expect_jq '.key_sets | all(has("key_id") and has("scope") and
	    has("period") and has("custody") and has("key_present") and
	    has("passphrase") and has("damaged") and has("snapshots"))' \
	    keys.json || return 1
	expect_jq '.key_sets | all(.key_present == true and
	    .damaged == false and .passphrase == false and
	    .custody == "local")' keys.json || return 1
	expect_jq '[.key_sets[] | select(.scope == "device")] | length == 2' \
	    keys.json || return 1
	expect_jq '[.key_sets[] | select(.scope == "backup")] | length == 2' \
	    keys.json || return 1
	expect_jq '[.key_sets[] | select(.scope == "period")] | length >= 3' \
	    keys.json || return 1
	expect_jq '.key_sets[] | select(.key_id == env.KEY) |
	    .snapshots == ["1", "2", "3", "5"] and .period == null' keys.json ||
	    return 1
	# Every snapshot is listed under its own set, exactly once.
	expect_jq '[.key_sets[].snapshots[]] | sort ==
	    (env.SNAPS | fromjson | [.[].name] | sort)' keys.json || return 1
	# shellcheck disable=SC2016 # $s and $k are jq variables
	expect_jq '(env.SNAPS | fromjson) as $s | .key_sets | all(.key_id as
	    $k | .snapshots == [$s[] | select(.key_id == $k) | .name])' \
	    keys.json || return 1
	expect_exit 0 "$COFFER" key list || return 1
	expect_grep "^$dev1 +device " out || return 1
	expect_grep "^$month +period +month:" out || return 1

	# ---- init --scope backup makes backup scope the default ----
	COFFER_REPO=$PWD/repo-b
	export COFFER_REPO
	expect_exit 0 "$COFFER" init --name-by count --scope backup || return 1
	expect_grep '^scope backup$' "$COFFER_REPO/config" || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" backup --scope device src || return 1
	expect_exit 0 "$COFFER" backup --scope device src || return 1
	snaps || return 1
	expect_jq '.[0].key_id != .[1].key_id' snaps.json || return 1
	expect_jq '.[2].key_id == .[3].key_id' snaps.json || return 1
	expect_jq '[.[].key_id] | unique | length == 3' snaps.json || return 1
	expect_exit 0 "$COFFER" key list --json || return 1
	expect_jq '[.key_sets[].scope] | sort == ["backup", "backup", "device"]' \
	    out || return 1
	restore_all || return 1
	# init --scope period --period week: the week is the default period.
	COFFER_REPO=$PWD/repo-w
	expect_exit 0 "$COFFER" init --scope period --period week || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" key list --json || return 1
	expect_jq '.key_sets | length == 1 and .[0].scope == "period" and
	    (.[0].period | startswith("week:"))' out || return 1
	expect_exit 2 "$COFFER" init --repo "$PWD/repo-x" --scope weekly ||
	    return 1
	[ ! -e repo-x ] || fail "a bad --scope created a repository" ||
	    return 1
	expect_exit 2 "$COFFER" backup --period fortnight src || return 1

	# ---- every snapshot of the first repository restores ----
	COFFER_REPO=$PWD/repo
	restore_all || return 1
	expect_exit 0 "$COFFER" check --read-data
}

# snaps: the snapshot list of $COFFER_REPO, oldest first, as snaps.json;
# also exported as SNAPS for jq.
snaps()
{
	expect_exit 0 "$COFFER" snapshots --json || return 1
	jq '.snapshots' out >snaps.json || fail "bad snapshots JSON" ||
	    return 1
	SNAPS=$(cat snaps.json)
	export SNAPS
}

# check_label KEY_ID WANT1 WANT2: key set KEY_ID (in keys.json) has scope
# period and the label WANT1 or WANT2 (the clock may tick over between).
check_label()
{
	ID=$1 W1=$2 W2=$3
	export ID W1 W2
	expect_jq '.key_sets[] | select(.key_id == env.ID) |
	    .scope == "period" and (.period == env.W1 or .period == env.W2)' \
	    keys.json
}

# restore_all: every snapshot of $COFFER_REPO restores identical to src.
restore_all()
{
	snaps || return 1
	_rs=rst-${COFFER_REPO##*/}
	for _n in $(jq -r '.[].name' snaps.json); do
		# A fresh target each time: restored trees hold read-only
		# folders that a non-root user cannot remove.
		expect_exit 0 "$COFFER" restore "$_n" --target "$_rs-$_n" ||
		    return 1
		# shellcheck disable=SC2046 # owner_opt is empty or one word
		expect_tree src "$_rs-$_n/src" $(owner_opt) || return 1
	done
}
