#!/usr/bin/env bash
# cli_progress: a long restore on a terminal (script(1) gives it one)
# shows a progress line refreshed in place ("\r") with a percentage of the
# snapshot's size, the rate and an ETA, ending at 100%, and erases it;
# with stderr not a terminal there is none unless --progress; -q hides it.
# check --read-data the same (the phase, a percentage of the packs'
# bytes); with --json --progress JSON lines on stdout, the summary last.
# copy, drill, prune and umount on a terminal: their lines, the last one
# (printed when the command ends) with the final counters.
. "$(dirname "$0")/lib.sh"
command -v script >/dev/null || skip "no script(1)"

make_repo
drfs init "$REPO" >/dev/null 2>&1 || fail "init failed"
mkdir -p "$T/src"
head -c 120000000 /dev/urandom >"$T/src/big"
seq 1 20000 >"$T/src/small"
drfs backup "$REPO" "$T/src" -q >/dev/null || fail "backup failed"

# on a terminal
script -qfec "$(printf '%q ' "$DRFS" restore "$REPO" latest "$T/r1" --cache-dir "$CACHE")" \
	/dev/null >"$T/tty.out" 2>&1 || { cat "$T/tty.out" >&2; fail "restore under script failed"; }
cmp -s "$T/src/big" "$T/r1/big" || fail "the restore under script(1) differs"
tr '\r' '\n' <"$T/tty.out" | grep -a '^restore: ' >"$T/lines" || true
[ -s "$T/lines" ] || { cat -v "$T/tty.out" >&2; fail "no progress line on the terminal"; }
grep -aqE '^restore: +[0-9]+\.[0-9]% [0-9.]+ [KMG]?i?B of 114\.[0-9] MiB, [0-9.]+ [KMG]?i?B/s, ETA [0-9]+:[0-9]{2}, [0-9]+ files' "$T/lines" ||
	{ cat -v "$T/lines" >&2; fail "the progress line lacks percentage, total, rate or ETA"; }
grep -aq '^restore: 100\.0% ' "$T/lines" || info "(the last refresh came before 100%)"
grep -aq $'\r\033\[K' "$T/tty.out" || fail "the progress line is not erased at the end"
info "terminal: $(wc -l <"$T/lines") refreshes, e.g. \"$(head -1 "$T/lines" | tr -d '\033' | sed 's/\[K$//')\""

# not a terminal: none; --progress: there; -q: none on a terminal either
drfs restore "$REPO" latest "$T/r2" 2>"$T/plain.err" || fail "restore failed"
! grep -aq '%' "$T/plain.err" || fail "a progress line without a terminal"
drfs restore "$REPO" latest "$T/r3" --progress 2>"$T/forced.err" || fail "restore --progress failed"
tr '\r' '\n' <"$T/forced.err" >"$T/forced.lines"
grep -aqE '^restore: +[0-9.]+% ' "$T/forced.lines" ||
	{ cat -v "$T/forced.err" >&2; fail "--progress: no progress line"; }
script -qfec "$(printf '%q ' "$DRFS" restore "$REPO" latest "$T/r4" --cache-dir "$CACHE" -q)" \
	/dev/null >"$T/q.out" 2>&1 || fail "restore -q under script failed"
! grep -aq '%' "$T/q.out" || fail "-q: a progress line on the terminal"
info "no terminal: none unless --progress; -q: none"

# check --read-data on a terminal: the phase, a percentage of the packs'
# bytes, the rate and an ETA
script -qfec "$(printf '%q ' "$DRFS" check "$REPO" --read-data --threads 1 --cache-dir "$CACHE")" \
	/dev/null >"$T/ck.out" 2>&1 || { cat "$T/ck.out" >&2; fail "check --read-data under script failed"; }
tr '\r' '\n' <"$T/ck.out" | grep -a '^check: ' >"$T/ck.lines" || true
grep -aqE '^check: reading packs: +[0-9]+\.[0-9]% [0-9.]+ [KMG]?i?B of 114\.[0-9] MiB, [0-9.]+ [KMG]?i?B/s, ETA [0-9]+:[0-9]{2}, [0-9]+ packs' "$T/ck.lines" ||
	{ cat -v "$T/ck.out" >&2; fail "check --read-data: no progress line with a percentage"; }
grep -aq 'no problems found' "$T/ck.out" || fail "check --read-data: no result on the terminal"
info "check --read-data: e.g. \"$(grep -a 'reading packs' "$T/ck.lines" | head -1 | tr -d '\033' | sed 's/\[K$//')\""

# without a terminal and without --progress: only the result on stderr
drfs check "$REPO" --read-data >"$T/ck2.out" 2>"$T/ck2.err" || fail "check --read-data failed"
[ "$(cat "$T/ck2.err")" = "no problems found" ] ||
	{ cat -v "$T/ck2.err" >&2; fail "check without a terminal printed more than its result"; }
[ ! -s "$T/ck2.out" ] || fail "check without a terminal printed on stdout"
drfs restore "$REPO" latest "$T/r5" >"$T/r5.out" 2>"$T/r5.err" || fail "restore failed"
grep -aqv '^restored [0-9]* files, ' "$T/r5.err" && { cat -v "$T/r5.err" >&2; fail "restore without a terminal printed more than its result"; }

# --json --progress: JSON lines, progress first, the summary last
drfs check "$REPO" --read-data --threads 1 --json --progress >"$T/ck.jsonl" 2>"$T/ck.jerr" ||
	fail "check --json --progress failed"
python3 - "$T/ck.jsonl" <<'PY' || fail "check --json --progress: not the documented JSON lines"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) >= 2, "no progress line"
for p in lines[:-1]:
    assert p["type"] == "progress" and p["command"] == "check", p
    for k in ("seconds", "count", "bytes", "bytes_new", "errors",
              "bytes_per_second"):
        assert isinstance(p[k], (int, float)), (k, p)
    assert p["phase"] is None or isinstance(p["phase"], str), p
reading = [p for p in lines[:-1] if p["phase"] == "reading packs"]
assert reading and all(0 <= p["percent"] <= 100 and p["unit"] == "packs"
                       and p["bytes_total"] > 100e6 for p in reading), lines
s = lines[-1]
assert s["type"] == "summary" and s["ok"] is True and s["read_data"] is True, s
PY
[ ! -s "$T/ck.jerr" ] || { cat "$T/ck.jerr" >&2; fail "check --json --progress wrote on stderr"; }
info "check --json --progress: $(($(wc -l <"$T/ck.jsonl") - 1)) progress line(s), then the summary"

# tty_lines NAME CMD... — CMD on a terminal (script(1)): its progress lines
# ("NAME: ...", each refresh one, the last with the final counters) in
# $T/NAME.lines, and the line erased at the end
tty_lines() {
	local name=$1
	shift
	script -qfec "$(printf '%q ' "$@")" /dev/null >"$T/$name.out" 2>&1 ||
		{ cat -v "$T/$name.out" >&2; fail "$name under script failed"; }
	tr '\r' '\n' <"$T/$name.out" | grep -a "^$name: " |
		sed 's/\x1b\[K$//' >"$T/$name.lines" || true
	[ -s "$T/$name.lines" ] || { cat -v "$T/$name.out" >&2; fail "$name: no progress line on the terminal"; }
	grep -aq $'\r\033\[K' "$T/$name.out" || fail "$name: the progress line is not erased at the end"
	info "$name: e.g. \"$(tail -1 "$T/$name.lines")\""
}
# want_last NAME REGEX — the last refresh of NAME's line matches REGEX
want_last() {
	tail -1 "$T/$1.lines" | grep -aqE "$2" ||
		{ cat -v "$T/$1.lines" >&2; fail "$1: the last progress line is not /$2/"; }
}
SZ='[0-9.]+ [KMG]?i?B'

# copy: snapshots copied, bytes read and stored, the rate
"$DRFS" init "$T/repo2" --cache-dir "$T/cache2" >/dev/null 2>&1 || fail "init of the second repository failed"
tty_lines copy "$DRFS" copy "$REPO" "$T/repo2" --cache-dir "$CACHE"
want_last copy "^copy: 1 snapshots, 11[0-9]\.[0-9] MiB, 11[0-9]\.[0-9] MiB new, $SZ/s, [0-9]+:[0-9]{2}\$"
# drill: restoring, then verifying: a percentage of the snapshot's size
tty_lines drill "$DRFS" drill "$REPO" --cache-dir "$CACHE"
want_last drill "^drill: verifying: 100\.0% 114\.[0-9] MiB of 114\.[0-9] MiB, $SZ/s, ETA 0:00, 2 files\$"
grep -aq 'result: *ok' "$T/drill.out" || fail "drill on a terminal: no result"
# the rate is that of the phase, from its start: never a fantasy of TiB/s
! grep -aE ' [0-9.]+ TiB/s' "$T/drill.lines" "$T/copy.lines" || fail "an impossible rate"
# prune: its phases; deleting the packs only the forgotten snapshot used
echo other >"$T/src/big"
drfs backup "$REPO" "$T/src" -q >/dev/null || fail "the second backup failed"
tty_lines prune "$DRFS" prune "$REPO" --keep-last 1 --cache-dir "$CACHE"
! grep -avE '^prune: (syncing|marking|counting|repacking|writing the index|deleting packs): ' "$T/prune.lines" ||
	fail "prune: a line without its phase"
want_last prune "^prune: deleting packs: 100\.0% $SZ of $SZ, $SZ/s, ETA 0:00, [1-9][0-9]* packs\$"
grep -aq '1 snapshot(s) kept, 1 removed' "$T/prune.out" || fail "prune on a terminal: no result"

# umount: what the daemon had to upload when it began, and the time
if fuse_ok; then
	mount_repo "$T/mnt"
	head -c 30000000 /dev/urandom >"$T/mnt/now/new"
	tty_lines umount "$DRFS" umount "$T/mnt" --bytes
	! mountpoint -q "$T/mnt" || fail "still mounted after umount"
	want_last umount "^umount: final snapshot and uploads \(at unmount: staged 1 files, 30000000 B; pending upload [0-9]+ blobs, [0-9]+ B\): [0-9]+:[0-9]{2}\$"
	drfs restore "$REPO" latest "$T/r6" -q || fail "restore of the final snapshot failed"
	[ "$(stat -c %s "$T/r6/new")" = 30000000 ] || fail "the final snapshot lacks the file"
else
	info "(no FUSE here: umount's line not tested)"
fi
info "ok"
