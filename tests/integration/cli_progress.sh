#!/usr/bin/env bash
# cli_progress: a long restore on a terminal (script(1) gives it one)
# shows a progress line refreshed in place ("\r") with a percentage of the
# snapshot's size, the rate and an ETA, ending at 100%, and erases it;
# with stderr not a terminal there is none unless --progress; -q hides it.
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
info "ok"
