#!/usr/bin/env bash
# cli_limit: --limit-upload and --limit-download hold a process to its rate.
# Random (incompressible) files, so the bytes moved are at least the files'
# sizes; each limited run must take at least 0.8 x bytes / rate seconds (a
# lower bound only, with room for the quarter second of burst), and the
# same work without a limit must take less. Bad rates exit 2, naming the
# option; a command that moves no data refuses the option.
. "$(dirname "$0")/lib.sh"

make_repo
drfs init "$REPO" >/dev/null 2>&1 || fail "init failed"
MIB=$((1024 * 1024))
mkdir -p "$T/src"
seeded_bytes 1 $((2 * MIB)) >"$T/src/a"

# ms since the epoch
now_ms() { date +%s%3N; }
# at_least WHAT MS BYTES RATE_BYTES_PER_S
at_least() {
	local min=$(($3 * 800 / $4))
	info "$1: $2 ms for $3 bytes at $4 B/s (at least $min ms)"
	[ "$2" -ge "$min" ] || fail "$1 took $2 ms, want at least $min ms"
}

# ---- bad values: exit 2, the option and the value named -----------------
for v in abc 0 -5 10X 1.5M "" 2M/h 99999999999999999999 512B; do
	run_nocrash "--limit-upload '$v'" drfs backup "$REPO" "$T/src" \
		--limit-upload "$v"
	[ "$RC" = 2 ] || fail "--limit-upload '$v': exit $RC, want 2"
	grep -q "invalid value \"$v\" for --limit-upload" "$T/last.err" ||
		{ cat "$T/last.err" >&2; fail "--limit-upload '$v': unclear error"; }
done
run_nocrash "--limit-download x" drfs restore "$REPO" latest "$T/x" \
	--limit-download x
[ "$RC" = 2 ] || fail "--limit-download x: exit $RC, want 2"
grep -q 'for --limit-download (want a rate' "$T/last.err" ||
	{ cat "$T/last.err" >&2; fail "--limit-download x: unclear error"; }
run_nocrash "snapshots --limit-download" drfs snapshots "$REPO" \
	--limit-download 100
[ "$RC" = 2 ] || fail "snapshots --limit-download: exit $RC, want 2"
[ "$(drfs snapshots "$REPO" --json)" = "[]" ] ||
	fail "a refused backup wrote a snapshot"

# ---- backup: unlimited, then 2 MiB more at 256 KiB/s ----------------------
t0=$(now_ms)
drfs backup "$REPO" "$T/src" -q >/dev/null || fail "backup 1 failed"
free=$(($(now_ms) - t0))
seeded_bytes 2 $((2 * MIB)) >"$T/src/b"
t0=$(now_ms)
drfs backup "$REPO" "$T/src" -q --limit-upload 256 >/dev/null ||
	fail "limited backup failed"
at_least "backup --limit-upload 256" $(($(now_ms) - t0)) $((2 * MIB)) \
	$((256 * 1024))
[ "$free" -lt $((2 * MIB * 800 / (256 * 1024))) ] ||
	fail "the unlimited backup took $free ms: the test cannot tell"

# ---- restore (a fresh cache: every byte from the repository) ---------------
t0=$(now_ms)
"$DRFS" restore --cache-dir "$(fresh_cache)" "$REPO" latest "$T/r1" -q \
	--limit-download 2M || fail "limited restore failed"
at_least "restore --limit-download 2M" $(($(now_ms) - t0)) $((4 * MIB)) \
	$((2 * 1024 * 1024))
cmp "$T/src/a" "$T/r1/a" && cmp "$T/src/b" "$T/r1/b" ||
	fail "the limited restore restored other bytes"

# ---- check --read-data ----------------------------------------------------
t0=$(now_ms)
"$DRFS" check --cache-dir "$(fresh_cache)" "$REPO" --read-data -q \
	--limit-download 4MiB/s >/dev/null || fail "limited check failed"
at_least "check --read-data --limit-download 4MiB/s" $(($(now_ms) - t0)) \
	$((4 * MIB)) $((4 * 1024 * 1024))

# ---- mount: snapshot reads and now/'s uploads ------------------------------
if fuse_ok; then
	M=$T/mnt
	CACHE=$(fresh_cache)
	mount_repo "$M" --limit-download 1M --limit-upload 512K
	t0=$(now_ms)
	cmp "$T/src/a" "$M/latest/a" || fail "the mount reads other bytes"
	at_least "mount --limit-download 1M: read" $(($(now_ms) - t0)) \
		$((2 * MIB)) $((1024 * 1024))
	t0=$(now_ms)
	seeded_bytes 3 $((2 * MIB)) >"$M/now/c"
	umount_repo "$M"	# the final snapshot and its upload
	at_least "mount --limit-upload 512K: write and umount" \
		$(($(now_ms) - t0)) $((2 * MIB)) $((512 * 1024))
	drfs restore "$REPO" latest "$T/r2" -q || fail "restore of now/ failed"
	seeded_bytes 3 $((2 * MIB)) | cmp - "$T/r2/c" ||
		fail "now/c was not uploaded whole"
else
	info "no FUSE here: the mount's part skipped"
fi
info "ok"
