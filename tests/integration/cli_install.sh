#!/usr/bin/env bash
# cli_install: `meson install` (into a DESTDIR) puts in place the drfs
# binary under test, the systemd units naming the binary by its installed
# path (the configured prefix and bindir, not a path written into them),
# drfs(1) with a section per command of the binary's help and each of its
# options, and bash and zsh completions that offer every command and each
# command's options; `systemd-analyze verify` accepts the installed units
# (where it is installed).
. "$(dirname "$0")/lib.sh"

R=$T/root
meson install -C "$DRFS_BUILD" --destdir "$R" --no-rebuild >"$T/install.log" 2>&1 ||
	{ cat "$T/install.log" >&2; fail "meson install failed"; }
opt() { meson introspect "$DRFS_BUILD" --buildoptions |
	python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]][0])' "$1"; }
prefix=$(opt prefix)
bindir=$(opt bindir)
mandir=$(opt mandir)
datadir=$(opt datadir)
case $bindir in /*) bin=$bindir/drfs ;; *) bin=$prefix/$bindir/drfs ;; esac
case $mandir in /*) ;; *) mandir=$prefix/$mandir ;; esac
case $datadir in /*) ;; *) datadir=$prefix/$datadir ;; esac
units=$R$prefix/lib/systemd/system

cmp -s "$DRFS" "$R$bin" || fail "the installed $bin is not the drfs under test"
info "binary: $bin"

# the units: every one there, each drfs it runs the installed one
for u in drfs-mount@.service drfs-mounts@.service \
	drfs-backup@.service drfs-backup@.timer \
	drfs-prune@.service drfs-prune@.timer \
	drfs-drill@.service drfs-drill@.timer drfs-mirror@.service drfs-mirror@.timer; do
	[ -f "$units/$u" ] || fail "unit $u not installed in $prefix/lib/systemd/system"
done
! grep -l '@BINDIR@' "$units"/* || fail "a unit still holds @BINDIR@"
grep -ho '[^ =]*/drfs ' "$units"/*.service | sort -u >"$T/paths"
[ "$(cat "$T/paths")" = "$bin " ] ||
	fail "the units run $(tr '\n' ' ' <"$T/paths"), want only $bin"
info "units: each runs $bin"

# options CMD — the long options drfs help CMD lists, one a line
options() { "$DRFS" help "$1" | sed -n '/^options:/,/^$/p' |
	{ grep -o -- '^  *\(-[a-zA-Z], \)\{0,1\}--[a-z0-9-]*' || true; } | grep -o -- '--[a-z0-9-]*' || true; }
# drfs(1): a section per command, each option of the command in it
man=$R$mandir/man1/drfs.1
[ -f "$man" ] || fail "drfs.1 not installed in $mandir/man1"
MANWIDTH=200 man -l "$man" >"$T/man.txt" 2>"$T/man.err" ||
	{ cat "$T/man.err" >&2; fail "man cannot render drfs.1"; }
cmds=$("$DRFS" help | sed -n '/^commands:/,/^$/p' | awk 'NF > 1 && $1 != "commands:" { print $1 }')
[ "$(echo "$cmds" | wc -l)" -ge 20 ] || fail "drfs help lists too few commands"
for c in $cmds; do
	grep -q "^COMMAND: ${c^^}$" "$T/man.txt" || fail "drfs(1) has no section for $c"
	while read -r o; do
		grep -q -- " $o" <<<"$(sed -n "/^COMMAND: ${c^^}$/,/^COMMAND: /p" "$T/man.txt")" ||
			fail "drfs(1), section $c, lacks $o"
	done < <(options "$c")
done
info "drfs(1): a section per command with its options"

# bash completion: commands, then each command's options
comp=$R$datadir/bash-completion/completions/drfs
[ -f "$comp" ] || fail "bash completion not installed in $datadir/bash-completion/completions"
# (captured before grep: with pipefail, grep -q leaving early would fail
# the writer with SIGPIPE)
complete_words() { # WORDS... — what the completion offers for the last word
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _drfs; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$comp" "$@"
}
for c in $cmds; do
	grep -qx "$c" <<<"$(complete_words drfs "${c:0:3}")" || fail "completion of \"${c:0:3}\" lacks $c"
	while read -r o; do
		grep -qx -- "$o" <<<"$(complete_words drfs "$c" "${o:0:4}")" ||
			fail "completion of \"drfs $c ${o:0:4}\" lacks $o"
	done < <(options "$c")
done
grep -qx -- --cache-dir <<<"$(complete_words drfs backup --cache)" || fail "completion lacks the global --cache-dir"
info "bash completion: every command and each command's options"

# zsh completion: installed; zsh -n clean; the same commands and options
zcomp=$R$datadir/zsh/site-functions/_drfs
[ -f "$zcomp" ] || fail "zsh completion not installed in $datadir/zsh/site-functions"
head -n 1 "$zcomp" | grep -qx '#compdef drfs' || fail "_drfs does not start with #compdef drfs"
if command -v zsh >/dev/null; then
	zsh -n "$zcomp" || fail "zsh -n rejects _drfs"
	zwords() { # WORDS... — what _drfs offers for the last word (compadd stubbed)
		zsh -fc 'compadd() { [[ $1 == -- ]] && shift; printf "%s\n" "$@"; }
			_files() { :; }; f=$1; shift; words=("$@"); CURRENT=$#
			source "$f"' _ "$zcomp" "$@"
	}
	for c in $cmds; do
		grep -qx "$c" <<<"$(zwords drfs "${c:0:3}")" || fail "zsh: no $c at the command"
		while read -r o; do
			grep -qx -- "$o" <<<"$(zwords drfs "$c" "${o:0:4}")" ||
				fail "zsh completion of \"drfs $c ${o:0:4}\" lacks $o"
		done < <(options "$c")
	done
	info "zsh completion: zsh -n clean, every command and each command's options"
else
	info "no zsh here: _drfs installed, not run"
fi

if command -v systemd-analyze >/dev/null; then
	# verify where the units will run the binary: the DESTDIR's copy
	mkdir -p "$T/verify"
	cp "$units"/* "$T/verify/"
	sed -i "s|$bin|$R$bin|g" "$T/verify"/*.service
	(cd "$T/verify" && systemd-analyze verify drfs-mount@t.service \
		drfs-mounts@t.service drfs-backup@t.service drfs-backup@t.timer \
		drfs-prune@t.service drfs-prune@t.timer drfs-drill@t.service drfs-drill@t.timer \
		drfs-mirror@t.service drfs-mirror@t.timer) >"$T/verify.out" 2>&1 ||
		{ cat "$T/verify.out" >&2; fail "systemd-analyze verify rejects the installed units"; }
	info "systemd-analyze verify: the installed units pass"
	# the hardened units: exposure at most 5 for backup, prune and drill,
	# at most 7 for the mounts (docs/disaster-recovery.md)
	for u in backup prune drill mount mounts; do
		max=5
		case $u in mount*) max=7 ;; esac
		score=$(cd "$T/verify" && systemd-analyze security --offline=yes \
			drfs-$u@t.service 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
		[ -n "$score" ] && python3 -c "import sys; sys.exit(not float(sys.argv[1]) <= float(sys.argv[2]))" "$score" "$max" ||
			fail "systemd-analyze security rates drfs-$u@ \"$score\", want <= $max"
		info "systemd-analyze security: drfs-$u@ exposure $score"
	done
	# ... but not at the price of the mount itself: any setting that gives
	# a unit a mount namespace of its own keeps its FUSE mount from the
	# host (systemd.exec(5), PrivateMounts=), and in a user namespace
	# (PrivateUsers=) CAP_SYS_ADMIN cannot mount on the host
	ns='PrivateMounts|PrivateTmp|PrivateDevices|ProtectSystem|ProtectHome'
	ns+='|ReadOnlyPaths|ReadWritePaths|InaccessiblePaths|ExecPaths'
	ns+='|NoExecPaths|TemporaryFileSystem|BindPaths|BindReadOnlyPaths'
	ns+='|ProtectKernelTunables|ProtectKernelModules|ProtectKernelLogs'
	ns+='|ProtectControlGroups|ProtectProc|ProcSubset|PrivateUsers'
	ns+='|RootDirectory|RootImage|MountAPIVFS|DynamicUser'
	for u in mount mounts; do
		! grep -E "^($ns)=" "$T/verify/drfs-$u@.service" ||
			fail "drfs-$u@ has a namespace: its mount would not reach the host"
	done
else
	info "no systemd-analyze here: units not verified"
fi
info "ok"
