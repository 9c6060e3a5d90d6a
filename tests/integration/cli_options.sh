#!/usr/bin/env bash
# cli_options: each command takes its own options and refuses the rest.
# Every command's --help (= drfs help CMD) names its options, each of them
# is then accepted; an option a command does not take is refused with
# exit 2 and "drfs: CMD: unknown option --X" — and the command does not
# run (backup --dry-run makes no snapshot, restore --dry-run writes
# nothing, umount --dry-run leaves the mount); misspelt commands and
# options get a suggestion; global options work before the command;
# -V prints meson's project version.
. "$(dirname "$0")/lib.sh"

# usage_err WHAT CMD... — exit 2 with one "drfs: ..." line naming $WANT
usage_err() {
	local what=$1
	shift
	run_nocrash "$what" "$@"
	[ "$RC" = 2 ] || { cat "$T/last.err" >&2; fail "$what: exit $RC, want 2"; }
	grep -qF -- "$WANT" "$T/last.err" ||
		{ cat "$T/last.err" >&2; fail "$what: no \"$WANT\" on stderr"; }
}

mapfile -t cmds < <("$DRFS" help | sed -n '/^commands:/,/^$/p' |
	awk 'NF > 1 && $1 != "commands:" { print $1 }')
[ "${#cmds[@]}" -ge 19 ] || fail "drfs help lists ${#cmds[@]} commands"
info "${#cmds[@]} commands: ${cmds[*]}"

for c in "${cmds[@]}"; do
	run_nocrash "$c --help" "$DRFS" "$c" --help
	[ "$RC" = 0 ] || fail "drfs $c --help: exit $RC"
	cp "$T/last.out" "$T/help.$c"
	grep -q "^usage: drfs $c " "$T/help.$c" ||
		fail "drfs $c --help: no usage line: $(head -n 2 "$T/help.$c")"
	"$DRFS" help "$c" >"$T/help2.$c" || fail "drfs help $c failed"
	cmp -s "$T/help.$c" "$T/help2.$c" ||
		fail "drfs help $c and drfs $c --help differ"
	awk 'length > 80 { exit 1 }' "$T/help.$c" ||
		fail "drfs $c --help has lines over 80 columns"
	# every option help names is one the command takes
	n=0
	while read -r opt arg; do
		a=()
		case "$arg" in [A-Z]*) a=(x) ;; esac
		run_nocrash "$c $opt" "$DRFS" "$c" "$opt" "${a[@]}"
		if grep -q "unknown option" "$T/last.err"; then
			cat "$T/last.err" >&2
			fail "drfs $c: --help names $opt, which it refuses"
		fi
		n=$((n + 1))
	done < <(grep -oE '^  (-[a-zA-Z], )?--[a-z0-9-]+( [A-Z][A-Z|/0-9-]*)?' \
		"$T/help.$c" | sed 's/^ *-[a-zA-Z], //' | grep -v -- '--help')
	[ "$n" -ge 17 ] || fail "drfs $c --help names only $n options"
	# and an option nobody takes is refused, naming it and the command
	WANT="drfs: $c: unknown option --no-such-option"
	usage_err "$c --no-such-option" "$DRFS" "$c" --no-such-option
done
info "every command: --help names its options, each accepted; unknown refused"

# what the help of some commands must name (the issue's examples)
for pair in "mount --snapshot-every" "mount --keep-daily" \
	"mount --no-snapshot-on-unmount" "prune --max-unused" \
	"check --region" "copy --password-file2" "backup --tag" \
	"snapshots --json" "restore --overwrite" "drill --sample"; do
	set -- $pair
	grep -qF -- "$2" "$T/help.$1" || fail "drfs $1 --help does not name $2"
done
grep -q '^exit status: 0 success, 1 failure, 2 usage error' "$T/help.check" ||
	fail "drfs check --help does not give the exit codes"

make_repo
drfs init "$REPO" >/dev/null 2>&1 || fail "init failed"
mkdir -p "$T/src/d"
echo one >"$T/src/a"
echo two >"$T/src/d/b"
drfs backup "$REPO" "$T/src" -q >/dev/null || fail "backup failed"

nsnap() { drfs snapshots "$REPO" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
[ "$(nsnap)" = 1 ] || fail "want 1 snapshot"

# options other commands take, or none does: refused, nothing runs
WANT="drfs: check: unknown option --tag"
usage_err "check --tag" drfs check "$REPO" --tag x
WANT="drfs: check: unknown option --json"
usage_err "check --json" drfs check "$REPO" --json
[ ! -s "$T/last.out" ] || fail "check --json printed: $(cat "$T/last.out")"
WANT="drfs: snapshots: unknown option --keep-daily"
usage_err "snapshots --keep-daily" drfs snapshots "$REPO" --keep-daily 3
WANT="drfs: backup: unknown option --dry-run"
usage_err "backup --dry-run" drfs backup "$REPO" "$T/src" --dry-run
[ "$(nsnap)" = 1 ] || fail "backup --dry-run made a snapshot"
mkdir -p "$T/out"
echo edited >"$T/out/a"
WANT="drfs: restore: unknown option --dry-run"
usage_err "restore --dry-run" drfs restore "$REPO" latest "$T/out" --dry-run
[ "$(cat "$T/out/a")" = edited ] || fail "restore --dry-run overwrote a file"
[ ! -e "$T/out/d" ] || fail "restore --dry-run wrote into the target"
WANT="drfs: status: unknown option --json"
usage_err "status --json" drfs status "$T/out" --json
WANT='--keep-daily'
usage_err "a bad value" drfs prune "$REPO" --keep-daily many
WANT='--tag needs a value'
usage_err "a missing value" drfs backup "$REPO" "$T/src" --tag
WANT='an argument is missing: drfs backup REPO DIR'
usage_err "too few arguments" drfs backup "$REPO"
WANT='too many arguments'
usage_err "too many arguments" drfs check "$REPO" "$T/src"
[ "$(nsnap)" = 1 ] || fail "a refused command made a snapshot"
info "options of other commands refused, with exit 2; nothing ran"

# did you mean
WANT='unknown command "chek" (did you mean "check"?)'
usage_err "misspelt command" "$DRFS" chek "$REPO"
WANT='unknown command "snapshot-list"'
usage_err "unknown command" "$DRFS" snapshot-list "$REPO"
WANT='unknown option --read-dta (did you mean --read-data?)'
usage_err "misspelt option" drfs check "$REPO" --read-dta
WANT='unknown option --keep-dialy (did you mean --keep-daily?)'
usage_err "misspelt option" drfs prune "$REPO" --keep-dialy 3
info "misspelt commands and options: did you mean"

# global options before the command; option=value; -- ends options
printf '%s\n' "$DRFS_PASSWORD" >"$T/pw"
chmod 600 "$T/pw"
run_nocrash "global options first" env -u DRFS_PASSWORD "$DRFS" \
	--cache-dir "$CACHE" --password-file "$T/pw" -q snapshots "$REPO" --json
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "global options before the command: exit $RC"; }
grep -q '"folder"' "$T/last.out" || fail "global options first: no listing"
run_nocrash "--opt=value" env -u DRFS_PASSWORD "$DRFS" snapshots \
	--cache-dir="$CACHE" --password-file="$T/pw" -- "$REPO"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "--opt=value: exit $RC"; }
WANT='drfs: unknown option --tag'
usage_err "a command's option before the command" "$DRFS" --tag x snapshots "$REPO"
info "global options before the command"

# the version is meson's
v=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$DRFS_SRC/meson.build" | head -n 1)
[ -n "$v" ] || fail "no version in meson.build"
[ "$("$DRFS" -V)" = "drfs $v" ] || fail "drfs -V: $("$DRFS" -V), want drfs $v"
[ "$("$DRFS" --version)" = "drfs $v" ] || fail "drfs --version"

# umount --dry-run must not unmount
if fuse_ok; then
	mount_repo "$T/mnt"
	WANT="drfs: umount: unknown option --dry-run"
	usage_err "umount --dry-run" "$DRFS" umount "$T/mnt" --dry-run
	mountpoint -q "$T/mnt" || fail "umount --dry-run unmounted"
	umount_repo "$T/mnt"
	info "umount --dry-run refused; still mounted"
else
	info "no FUSE: umount --dry-run not tried"
fi
info "ok"
