#!/bin/bash
# Locks between machines that share a repository and a host name
# (docs/hosts.md, docs/retention.md "Locks"). A lock whose holder is "on
# this host" and whose pid does not exist here is taken for a killed
# process and ignored. Two machines of one name (cloned VMs, images whose
# name is "localhost"; told apart by --host as docs/hosts.md says), or two
# containers of one machine (one host name, separate pid namespaces), must
# not take each other's live locks for that: a prune would then garbage-
# collect the packs of a running backup, whose snapshot then names missing
# data.
#
# The other machine is a backup in its own pid namespace (unshare), with a
# pid that no process has here, stopped (SIGSTOP) while it holds its
# shared lock, after it uploaded its first pack. prune must respect that
# lock: defer its deletions (docs/retention.md "Deferred deletion"), or
# refuse; once the backup is let go it completes, and check --read-data
# passes (the other backup's packs are all there).
#
# Before that (local: made exact with strace): a lock that is released
# between another writer's listing of locks/ and its read of that lock
# is no conflict; before, the writer failed with "cannot take a lock:
# ... No such file or directory" (seen with six backups racing on the
# RadosGW: one of them failed so).
source "$(dirname "$0")/lib.sh"
need_root
make_repo
drfs init "$REPO" >/dev/null

# ---- a lock released while another writer looks at it (local) ------------------
if [ "$DRFS_TEST_BACKEND" = local ]; then
	mkdir -p "$T/one"
	echo one >"$T/one/file"
	# writer A holds its lock; writer B lists locks/ and is held 3 s
	# as it opens A's lock, while A's lock goes away (as A's release
	# deletes it). strace -P matches that openat(root, "locks/NAME") by
	# its relative path.
	DRFS_TEST_LOCK_SLEEP=60 "$DRFS" backup "$REPO" "$T/one" \
		--cache-dir "$T/c-a" --host web3 -q >/dev/null 2>"$T/a.err" &
	a=$!
	for _ in $(seq 1 200); do
		[ -n "$(obj_names locks/)" ] && break
		sleep 0.05
	done
	la=$(obj_names locks/)
	[ -n "$la" ] || fail "writer A took no lock: $(cat "$T/a.err")"
	HOLD_PATH=$la hold openat "$DRFS" backup "$REPO" "$T/one" \
		--cache-dir "$T/c-b" --host web4 -q
	obj_del "$la"
	hold_wait "writer B"
	kill "$a"
	wait "$a" || true
	[ "$RC" = 0 ] ||
		fail "a lock released while writer B looked at it failed B: $(cat "$T/last.err")"
fi

command -v unshare >/dev/null || skip "unshare is not installed"
unshare --pid --fork --mount-proc true 2>/dev/null ||
	skip "cannot make a pid namespace here"

# an older snapshot the prune below would remove (so it has work to do)
mkdir -p "$T/small"
echo "old" >"$T/small/file"
drfs backup "$REPO" "$T/small" --host web2 --time 2026-01-01T00:00:00Z \
	-q >/dev/null

# 48 MiB that do not compress: several packs (DRFS pack target 16 MiB)
mkdir -p "$T/big"
for i in 1 2 3; do seeded_bytes "$i" $((16 << 20)) >"$T/big/f$i"; done

# a pid that no process has on this machine
pid=30000
while [ -e "/proc/$pid" ] || [ -e "/proc/$((pid + 1))" ]; do
	pid=$((pid + 7))
done
# DRFS_TEST_UPLOAD_SLEEP: 2 s after each pack it uploads, so that it is
# caught holding its lock with a pack uploaded (unslowed, it could end
# between two looks of the loop below on a fast machine)
setsid unshare --pid --fork --mount-proc bash -c '
	echo '"$pid"' >/proc/sys/kernel/ns_last_pid
	DRFS_TEST_UPLOAD_SLEEP=2 "$1" backup "$2" "$3" --cache-dir "$4" \
		--host web2 -q
	exit $? # not exec: the backup gets the pid set above
' other "$DRFS" "$REPO" "$T/big" "$T/c-other" \
	>"$T/other.out" 2>"$T/other.err" &
other=$!
# (lib.sh's cleanup still runs: this trap replaces its EXIT trap)
trap 'rc=$?; kill -CONT -- -$other 2>/dev/null || true; _lib_cleanup "$rc"' EXIT
obj_names data/ | sort >"$T/packs0"
packs0=$(wc -l <"$T/packs0")
for _ in $(seq 1 600); do
	[ -n "$(obj_names locks/)" ] &&
		[ "$(obj_names data/ | wc -l)" -gt "$packs0" ] && break
	kill -0 "$other" 2>/dev/null || break
	sleep 0.05
done
kill -STOP -- -"$other" || fail "the other machine's backup ended early: $(cat "$T/other.err")"
[ -n "$(obj_names locks/)" ] || fail "the other backup holds no lock"
info "other machine's backup stopped holding its lock (its pid: $pid)"
# the packs the other machine's backup has uploaded so far
obj_names data/ | sort | comm -13 "$T/packs0" - >"$T/packs-other"

run_nocrash "prune while the other machine backs up" \
	"$DRFS" prune "$REPO" --cache-dir "$CACHE" --keep-last 1 \
	--group-by '' --max-unused 0%
kill -CONT -- -"$other"
rc=0
wait "$other" || rc=$?
[ "$rc" = 0 ] || fail "the other machine's backup failed: $(cat "$T/other.err")"
[ "$RC" = 0 ] || grep -q 'locked' "$T/last.err" ||
	fail "prune failed (exit $RC): $(cat "$T/last.err")"
obj_names data/ | sort | comm -23 "$T/packs-other" - >"$T/gone"
[ ! -s "$T/gone" ] ||
	fail "prune deleted packs of the other machine's running backup: $(cat "$T/gone") ($(cat "$T/last.out" "$T/last.err"))"
run_nocrash "check after the race" \
	"$DRFS" check "$REPO" --cache-dir "$T/c-fresh" --read-data
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "check failed"; }
info "ok"
