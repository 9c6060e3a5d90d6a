#!/bin/bash
# The mount's FUSE loop (src/fs/loop.c) under many requests at once: 12
# readers copy parts of a snapshot out while 4 writers rsync trees into
# now/ and 2 more list now/ over and over. Every copy must equal its
# source, the daemon must never run more than 16 FUSE threads (drfs-fuse),
# and then end cleanly both ways a session ends: drfs umount (the parked
# workers woken and gone) and SIGTERM (libfuse's handler only sets a flag:
# the polling workers must notice it), each within 15 s, leaving no
# sanitizer report in the mount log.
source "$(dirname "$0")/lib.sh"
need_root
make_repo

MNT=$T/mnt
SRC=$(realtree)
drfs init "$REPO" >/dev/null
mount_repo "$MNT"
MLOG=$CACHE/mount-$(systemd-escape --path "$MNT").log
rsync -a "$SRC/" "$MNT/now/src/" || fail "rsync into now/ failed"
snap=$(drfs snapshot "$MNT") || fail "snapshot failed"
pid=$(daemon_pid "$MNT") || fail "cannot read the daemon's pid"

# fuse_threads: the daemon's FUSE worker threads now
fuse_threads() {
	grep -lx drfs-fuse /proc/"$pid"/task/*/comm 2>/dev/null | wc -l
}
# the top-level entries of the snapshot, dealt to 12 readers
mapfile -t tops < <(ls -A "$snap/src")
[ "${#tops[@]}" -ge 12 ] || fail "the real tree has only ${#tops[@]} entries"
pids=()
for r in $(seq 0 11); do
	(
		mkdir -p "$T/out$r"
		for ((i = r; i < ${#tops[@]}; i += 12)); do
			cp -a "$snap/src/${tops[i]}" "$T/out$r/" || exit 1
		done
	) &
	pids+=($!)
done
for w in 1 2 3 4; do
	rsync -a "$SRC/" "$MNT/now/w$w/" &
	pids+=($!)
done
for l in 1 2; do
	(for _ in 1 2 3; do ls -lR "$MNT/now" >/dev/null || exit 1; done) &
	pids+=($!)
done
most=0
while :; do
	n=$(fuse_threads)
	[ "$n" -gt "$most" ] && most=$n
	running=0
	for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && running=1; done
	[ "$running" = 1 ] || break
	sleep 0.05
done
for p in "${pids[@]}"; do wait "$p" || fail "a reader, writer or lister failed"; done
info "at most $most FUSE threads during 18 clients"
[ "$most" -le 16 ] || fail "$most FUSE threads: more than 16"
[ "$most" -ge 1 ] || fail "no drfs-fuse thread seen"

# every copy equals its source
for r in $(seq 0 11); do
	for ((i = r; i < ${#tops[@]}; i += 12)); do
		diff -r --no-dereference "$SRC/${tops[i]}" "$T/out$r/${tops[i]}" \
			>/dev/null || fail "copied out: ${tops[i]} differs from the source"
	done
done
for w in 1 2 3 4; do
	diff -r --no-dereference "$SRC" "$MNT/now/w$w" >/dev/null ||
		fail "now/w$w differs from the source"
done

# the end by drfs umount
start=$(date +%s)
timeout 60 "$DRFS" umount "$MNT" || fail "drfs umount failed or took over 60 s"
for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "the daemon still runs 15 s after drfs umount"
info "drfs umount: the daemon ended after $(($(date +%s) - start)) s"

# the end by SIGTERM
mount_repo "$MNT"
pid=$(daemon_pid "$MNT") || fail "cannot read the daemon's pid"
cp -a "$snap/src/." "$T/again" || fail "copy out after the remount failed"
start=$(date +%s)
kill -TERM "$pid"
for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "the daemon still runs 15 s after SIGTERM"
mountpoint -q "$MNT" && fail "still mounted after SIGTERM"
info "SIGTERM: the daemon ended after $(($(date +%s) - start)) s"
if sanitizer_report "$MLOG"; then
	cat "$MLOG" >&2
	fail "the mount log holds a sanitizer report"
fi
check_repo "after both ends"
info "ok"
