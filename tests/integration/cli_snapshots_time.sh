#!/usr/bin/env bash
# cli_snapshots_time: drfs snapshots shows each snapshot's time in the
# local time zone (TZ) next to its folder (which is UTC), with the offset
# in effect at that time (summer time too, half-hour zones); --utc leaves
# the column out. The folder stays the first column either way.
. "$(dirname "$0")/lib.sh"
for z in Europe/Berlin America/New_York Asia/Kolkata; do
	[ -e "/usr/share/zoneinfo/$z" ] || skip "no tzdata ($z)"
done

make_repo
drfs init "$REPO" >/dev/null 2>&1 || fail "init failed"
mkdir -p "$T/src"
echo a >"$T/src/a"
drfs backup "$REPO" "$T/src" -q --time 2026-11-21T14:30:05Z >/dev/null || fail "backup 1 failed"
drfs backup "$REPO" "$T/src" -q --time 2026-07-01T12:00:00Z >/dev/null || fail "backup 2 failed"

# row FOLDER TZ [OPTS] — the line of FOLDER in drfs snapshots under TZ
row() { TZ=$2 drfs snapshots "$REPO" "${@:3}" | awk -v f="$1" '$1 == f'; }
want() { # FOLDER TZ LOCAL
	local r
	r=$(row "$1" "$2")
	[ "$(echo "$r" | awk '{ print $2 }')" = "$3" ] ||
		fail "TZ=$2: $1 shows \"$r\", want local time $3"
}
want 2026-11-21/143005 Europe/Berlin 2026-11-21T15:30:05+01:00
want 2026-07-01/120000 Europe/Berlin 2026-07-01T14:00:00+02:00
want 2026-11-21/143005 America/New_York 2026-11-21T09:30:05-05:00
want 2026-11-21/143005 Asia/Kolkata 2026-11-21T20:00:05+05:30
want 2026-11-21/143005 UTC 2026-11-21T14:30:05+00:00
TZ=Europe/Berlin drfs snapshots "$REPO" >"$T/list" || fail "snapshots failed"
head -1 "$T/list" | grep -q '^folder  *local time  *id ' ||
	fail "the header does not name the local-time column"
info "local time next to the folder, with the offset of that date"

r=$(row 2026-11-21/143005 Europe/Berlin --utc)
[ -n "$r" ] && ! echo "$r" | grep -q '+01:00' &&
	[ "$(echo "$r" | awk '{ print $2 }' | wc -c)" = 9 ] ||
	fail "--utc: \"$r\", want the folder, then the id"
TZ=Europe/Berlin drfs snapshots "$REPO" --utc >"$T/list" || fail "snapshots --utc failed"
head -1 "$T/list" | grep -q '^folder  *id ' ||
	fail "--utc: the header still names a local-time column"
info "--utc: no local-time column"
info "ok"
