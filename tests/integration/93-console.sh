# SPDX-License-Identifier: ISC
# tests/integration/93-console.sh
# test: long
# Goal: issue #15, the escrow account in a browser: cofferd's /account/
# pages in a real headless Chromium (helpers/console.py, Selenium) against
# a real cofferd on loopback with the test TLS setup:
#   - the lost-device drill through the pages: sign in, two-factor on
#     (QR as SVG, first code from oathtool, recovery codes), sign in with
#     the code, see the devices, sign the laptop out (its CLI token is
#     refused), destroy its keys once fresh proof ran out (the password
#     is asked again), and a copy of its card no longer restores;
#   - a POST without, or with a wrong, CSRF token is refused and does
#     nothing; the security headers are on every page; the console does
#     not render in a frame of another origin;
#   - a device named <script>alert(1)</script> and a label with quotes
#     show as text; 11 wrong passwords give the 429 page;
#   - the sign-in works by keyboard alone (Tab, Enter); on every page
#     each field has a label and each button a name, and at 390 pixels
#     nothing scrolls sideways but the tables in their own regions;
#   - screenshots of each page at 1280 and 390 pixels wide go to
#     BUILD/console-screenshots;
#   - the activity is paged: 50 rows, then "Older" to the rest;
#   - cofferd --no-console answers 404 under /account/ and the API works.

scenario() {
	need_cmd curl jq openssl oathtool setsid || return 1
	[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] &&
	    /usr/bin/python3 -c 'import selenium' ||
	    fail "needs chromium, chromium-driver and python3-selenium " \
	    "(scripts/install-deps.sh)" || return 1
	. "$SRCDIR/tests/harness/cofferd.sh" || return 1
	trap cofferd_cleanup EXIT
	COFFER_INSECURE_FAST_KDF=1
	export COFFER_INSECURE_FAST_KDF
	fresh=20
	cofferd_start srv --fresh-auth "$fresh" || return 1
	url=$COFFERD_URL
	COFFER_CACERT=$COFFERD_CACERT
	export COFFER_CACERT
	pass='correct horse battery staple 15'
	printf '%s\n' "$pass" >pw
	COFFER_ESCROW_PASSWORD_FILE=$PWD/pw
	export COFFER_ESCROW_PASSWORD_FILE
	"$HELPERS/gentree" src || return 1

	# ---- the laptop backs up under escrow custody; the phone signs in ----
	expect_exit 0 "$COFFER" escrow register --server "$url" \
	    --account erin || return 1
	expect_exit 0 "$COFFER" escrow login --server "$url" --account erin \
	    --device laptop || return 1
	expect_exit 0 "$COFFER" init --custody escrow || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	# The owner's copy of what the laptop had, to try after the drill.
	cp -a "$COFFER_KEYSTORE" owner-ks || return 1
	cp -a "$COFFER_REPO" owner-card || return 1
	# Before the drill, that copy restores (so the drill is what stops it).
	expect_exit 0 "$COFFER" restore latest --target r-before || return 1
	expect_tree src r-before/src || return 1
	expect_exit 0 env COFFER_KEYSTORE="$PWD/ks-phone" "$COFFER" escrow \
	    login --server "$url" --account erin --device phone || return 1

	# ---- a hostile device name and a label with quotes (the API) ----
	xss='<script>alert(1)</script>'
	jq -n --arg d "$xss" --arg p "$pass" \
	    '{account: "erin", password: $p, device: $d}' >login.json
	expect_exit 0 curl -s -f --cacert "$COFFER_CACERT" -H \
	    'Content-Type: application/json' --data @login.json \
	    "$url/v1/sessions" || return 1
	tok=$(jq -r .token out)
	jq -n --arg l "he said \"hi\" & 'bye'" \
	    '{key: "AAECAwQFBgcICQoLDA0ODw==", label: $l}' >dep.json
	expect_exit 0 curl -s -f --cacert "$COFFER_CACERT" -H \
	    'Content-Type: application/json' -H "Authorization: Bearer $tok" \
	    --data @dep.json "$url/v1/keys" || return 1

	# ---- 55 fresh proofs: more activity than one page holds ----
	jq -n --arg p "$pass" '{password: $p}' >fresh.json
	i=0
	while [ "$i" -lt 55 ]; do
		curl -s -f -o /dev/null --cacert "$COFFER_CACERT" -H \
		    'Content-Type: application/json' -H "Authorization: Bearer $tok" \
		    --data @fresh.json "$url/v1/sessions/current/fresh" ||
		    fail "fresh proof $i" || return 1
		i=$((i + 1))
	done

	# ---- an account to lock out with wrong passwords ----
	expect_exit 0 env COFFER_KEYSTORE="$PWD/ks-frank" "$COFFER" escrow \
	    register --server "$url" --account frank || return 1

	shots=$(dirname "$COFFER")/console-screenshots
	mkdir -p "$shots" || return 1
	expect_exit 0 env URL="$url" CACERT="$COFFER_CACERT" ACCOUNT=erin \
	    PASSWORD="$pass" LOCKED=frank LAPTOP_KS="$COFFER_KEYSTORE" \
	    PHONE_KS="$PWD/ks-phone" OWNER_KS="$PWD/owner-ks" \
	    OWNER_CARD="$PWD/owner-card" SHOTS="$shots" FRESH="$fresh" \
	    /usr/bin/python3 -B "$SRCDIR/tests/integration/helpers/console.py" ||
	    { sed -n '/^FAIL/p' out >&2; return 1; }
	expect_no_grep '^FAIL' out || return 1
	for p in signin devices security totp recovery refused keys destroy \
	    reauth activity limited; do
		for w in 1280 390; do
			[ -s "$shots/$p-$w.png" ] ||
			    fail "no screenshot $p-$w.png" || return 1
		done
	done

	# ---- --no-console ----
	cofferd_stop srv || return 1
	cofferd_start srv --no-console || return 1
	expect_exit 0 curl -s -o /dev/null -w '%{http_code}' --cacert \
	    "$COFFER_CACERT" "$COFFERD_URL/account/" || return 1
	expect_grep '^404$' out || return 1
	expect_exit 0 curl -s -o /dev/null -w '%{http_code}' --cacert \
	    "$COFFER_CACERT" "$COFFERD_URL/healthz" || return 1
	expect_grep '^200$' out || return 1
}
