#!/bin/bash
# Crash torture of now/: rounds of seeded edits of a source tree (a real
# tree of this machine plus new, changed, deleted and renamed files, new
# directories, large files staged on disk), rsync into now/, `drfs
# snapshot`, fsync'd edits of other files (now/synced/) and kill -9 of the
# daemon at a seeded random moment: during the rsync, after it, during the
# snapshot, or after it (then also with unsynced writes in now/scratch/).
# After each kill and remount:
#   - every snapshot `drfs snapshot` printed (and one a killed `drfs
#     snapshot` left) equals the source as it was then (treecmp);
#   - now/synced/ equals its model exactly: fsync'd edits survive;
#   - now/ against the source (tests/tools/crashcheck.py): once a snapshot
#     completed, exactly the source; after the rsync, the new source except
#     files of this round that may have lost their content (empty, new
#     mtime); during the rsync, each entry old or new, nothing unchanged
#     lost; now/scratch/ files intact or emptied;
#   - 3 s after a snapshot, `drfs status` shows nothing staged.
# Then the rsync is run again, now/ must equal the source, and a snapshot
# of it is taken (so every round starts from a durable now/). At the end
# `drfs check --read-data`. DRFS_TEST_SEED picks the edits and the kill
# moments (printed); DRFS_TEST_ROUNDS (default 10) the number of rounds;
# with more than 20 rounds each round compares the two newest snapshots and
# one picked at random, and every snapshot is compared at the end.
source "$(dirname "$0")/lib.sh"
need_root
make_repo
MNT=$T/mnt
ROUNDS=${DRFS_TEST_ROUNDS:-10}
RANDOM=$SEED
info "DRFS_TEST_SEED=$SEED, $ROUNDS rounds"
drfs init "$REPO" >/dev/null
crashcheck() { python3 "$TOOLS/crashcheck.py" "$@"; }
started=$(date +%s)

# R=random number below $1 (the main shell's seeded $RANDOM: never call
# this in a subshell, which would not advance it)
rnd() { R=$((RANDOM % $1)); }
# sleep_ms N
sleep_ms() { sleep "$(($1 / 1000)).$(printf %03d $(($1 % 1000)))"; }
nowns() { date +%s%N; }
RSYNC=(rsync -aHAX --delete --exclude /synced/ --exclude /scratch/)
CMP=(treecmp --no-atime --ignore-root-times --exclude synced --exclude scratch)

# ---- the source, round 0 ------------------------------------------------------
mkdir -p "$T/st/0/real" "$T/synced" "$T/empty"
real=$(realtree)
mapfile -t ents < <(cd "$real" && find . -mindepth 1 -maxdepth 1 | sort)
for e in "${ents[@]:0:50}"; do cp -a "$real/$e" "$T/st/0/real/"; done
for i in $(seq 1 30); do
	seeded_bytes $((SEED * 1000 + i)) $((i * 1500)) >"$T/st/0/f$i"
done

# one seeded edit round of $T/st/$1 (a cp -al of the one before: changed
# files are replaced, never modified in place); CHANGED: files written
edit() {
	local st=$T/st/$1 k=$1 j f d n
	local -a files dirs
	CHANGED=()
	mapfile -t files < <(cd "$st" && find . -type f | sort)
	mapfile -t dirs < <(cd "$st" && find . -type d | sort)
	rnd 8; n=$((3 + R))
	for j in $(seq 1 $n); do	# new small files
		rnd ${#dirs[@]}; d=${dirs[R]}
		rnd 200000
		seeded_bytes $((SEED * 100000 + k * 100 + j)) "$R" >"$st/$d/n$k-$j"
		CHANGED+=("$d/n$k-$j")
	done
	rnd 2
	for j in $(seq 1 $R); do	# a large one: staged on disk
		rnd 1000000
		seeded_bytes $((SEED * 100000 + k * 100 + 50 + j)) $((R + 1100000)) \
			>"$st/L$k-$j"
	done
	rnd 6; n=$((2 + R))
	for j in $(seq 1 $n); do	# changed: replaced by a new file
		rnd ${#files[@]}; f=$st/${files[R]}
		[ -f "$f" ] || continue
		rnd 300000
		seeded_bytes $((SEED * 100000 + k * 100 + 70 + j)) "$R" >"$f.tmp"
		chmod --reference="$f" "$f.tmp"
		mv "$f.tmp" "$f"
		CHANGED+=("${f#"$st"/}")
	done
	rnd 4; n=$((1 + R))
	for j in $(seq 1 $n); do	# deleted
		rnd ${#files[@]}; f=$st/${files[R]}
		rm -f "$f"
	done
	rnd 3; n=$((1 + R))
	for j in $(seq 1 $n); do	# renamed, maybe into another directory
		rnd ${#files[@]}; f=$st/${files[R]}
		rnd ${#dirs[@]}; d=${dirs[R]}
		[ -f "$f" ] && mv "$f" "$st/$d/r$k-$j"
	done
	rnd 4
	if [ "$R" = 0 ]; then		# a new directory with a few files
		mkdir -p "$st/dir$k/sub"
		for j in 1 2 3; do
			seeded_bytes $((SEED * 100000 + k * 100 + 90 + j)) $((j * 999)) \
				>"$st/dir$k/sub/x$j"
		done
	fi
	rnd 6
	if [ "$R" = 0 ]; then		# a directory removed
		rnd ${#dirs[@]}; d=${dirs[R]}
		[ "$d" = . ] || rm -rf "${st:?}/$d"
	fi
	return 0
}

# one fsync'd edit of now/synced/, mirrored in $T/synced
fsync_edit() {
	local tag=$1 f size off
	local -a have
	mapfile -t have < <(cd "$T/synced" && ls | sort)
	rnd 4
	if [ "$R" = 0 ] || [ ${#have[@]} = 0 ]; then
		f=s$tag
		rnd 1600000; size=$R
		seeded_bytes $((SEED * 7000 + ${tag//[^0-9]/})) "$size" >"$T/edit"
		dd if="$T/edit" of="$MNT/now/synced/$f" bs=64k conv=fsync status=none
		cp "$T/edit" "$T/synced/$f"
	elif [ "$R" = 3 ]; then		# renamed, the directory fsync'd
		rnd ${#have[@]}; f=${have[R]}
		mv "$MNT/now/synced/$f" "$MNT/now/synced/$f.r"
		python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' \
			"$MNT/now/synced"
		mv "$T/synced/$f" "$T/synced/$f.r"
		f=$f.r
	else				# rewritten in place, partly
		rnd ${#have[@]}; f=${have[R]}
		size=$(stat -c %s "$T/synced/$f")
		rnd $((size + 1)); off=$R
		seeded_bytes $((SEED * 9000 + ${tag//[^0-9]/})) 5000 >"$T/edit"
		dd if="$T/edit" of="$MNT/now/synced/$f" bs=5000 seek="$off" \
			oflag=seek_bytes conv=notrunc,fsync status=none
		dd if="$T/edit" of="$T/synced/$f" bs=5000 seek="$off" \
			oflag=seek_bytes conv=notrunc status=none
	fi
	touch -r "$MNT/now/synced/$f" "$T/synced/$f"
	touch -r "$MNT/now/synced" "$T/synced"
}

# hold_open: in one round of two, keep up to 3 files this round wrote open
# (read-only) while drfs snapshot runs, as a RELEASE arriving late does;
# close_held closes them
HOLDER=
hold_open() {
	local -a fs=()
	local f
	rnd 2
	[ "$R" = 0 ] || return 0
	for f in "${CHANGED[@]}"; do
		[ -f "$MNT/now/$f" ] && fs+=("$MNT/now/$f")
		[ ${#fs[@]} -lt 3 ] || break
	done
	[ ${#fs[@]} -gt 0 ] || return 0
	rm -f "$T/held"
	python3 -c 'import os, signal, sys
fds = [os.open(p, os.O_RDONLY) for p in sys.argv[2:]]
open(sys.argv[1], "w").close()
signal.alarm(300)
signal.pause()' "$T/held" "${fs[@]}" >/dev/null 2>&1 &
	HOLDER=$!
	for _ in $(seq 1 100); do [ -e "$T/held" ] && break; sleep 0.05; done
	[ -e "$T/held" ] || fail "could not hold files open"
	HELD=" (${#fs[@]} files held open)"
}
close_held() {
	[ -n "$HOLDER" ] || return 0
	kill "$HOLDER" 2>/dev/null || true
	wait "$HOLDER" 2>/dev/null || true
	HOLDER=
}
trap 'rc=$?; close_held; _lib_cleanup "$rc"' EXIT

# snapshots: folder, source state, copy of now/synced at that time
SNAP_F=() SNAP_ST=()
snap_folder() { date -u -d "@$1" +%Y-%m-%d/%H%M%S; }
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
record() {	# record FOLDER STATE
	local i=${#SNAP_F[@]}
	SNAP_F+=("$1")
	SNAP_ST+=("$2")
	rm -rf "$T/syn/$i"
	mkdir -p "$T/syn"
	cp -a "$T/synced" "$T/syn/$i"
}
# check_snaps [all] — recorded snapshots against their sources: every one
# (all, or at most 20 rounds), else the two newest and one at random
check_snaps() {
	local n=${#SNAP_F[@]} i
	local -a idx=() pairs=()
	if [ "$ROUNDS" -le 20 ] || [ "${1:-}" = all ]; then
		for ((i = 0; i < n; i++)); do idx+=("$i"); done
	else
		idx=($((n - 1)))
		[ "$n" -gt 1 ] && idx+=($((n - 2)))
		rnd "$n"; idx+=("$R")
	fi
	for i in "${idx[@]}"; do
		pairs+=("${SNAP_ST[i]}" "$MNT/snapshots/${SNAP_F[i]}"
			"$T/syn/$i" "$MNT/snapshots/${SNAP_F[i]}/synced")
	done
	crashcheck trees --exclude synced --exclude scratch "${pairs[@]}" \
		>"$T/cmp" || { cat "$T/cmp" >&2; fail "a snapshot differs from its source (seed $SEED)"; }
}
snapshot() {	# snapshot TIME STATE: take one, record it
	local f
	f=$(drfs snapshot "$MNT" --time "$(iso "$1")" 2>"$T/snap.err") ||
		{ cat "$T/snap.err" >&2; fail "drfs snapshot failed"; }
	[ "$f" = "$MNT/snapshots/$(snap_folder "$1")" ] ||
		fail "drfs snapshot printed '$f'"
	record "$(snap_folder "$1")" "$2"
}

mount_repo "$MNT"
mkdir "$MNT/now/synced"
touch -r "$MNT/now/synced" "$T/synced"
T0=$(date -u -d 2026-10-01T00:00:00Z +%s)
# round 0: the first copy, snapshotted
"${RSYNC[@]}" "$T/st/0/" "$MNT/now/"
crashcheck dirtimes "$MNT/now" "$T/st/0"
snapshot "$T0" "$T/st/0"
declare -A phases=()
for k in $(seq 1 "$ROUNDS"); do
	prev=$T/st/$((k - 1)) st=$T/st/$k
	cp -al "$prev" "$st"
	edit "$k"
	since=$(nowns)
	rnd 10
	case $R in
	0 | 1 | 2) phase=rsync ;;
	3 | 4) phase=after-rsync ;;
	5 | 6) phase=snapshot ;;
	*) phase=after-snapshot ;;
	esac
	phases[$phase]=$((${phases[$phase]:-0} + 1))
	rnd 3
	for j in $(seq 1 $R); do fsync_edit "$k$j"; done
	snap_time=$((T0 + k * 120)) snapped= stale=
	"${RSYNC[@]}" "$st/" "$MNT/now/" >/dev/null 2>&1 &
	rs=$!
	if [ $phase = rsync ]; then
		rnd 1500; sleep_ms "$R"
		kill9 "$MNT"
		wait "$rs" || true
		what="${R} ms into the rsync"
	else
		wait "$rs" || fail "rsync into now/ failed (round $k)"
		HELD=
		if [ $phase = after-rsync ]; then
			crashcheck dirtimes "$MNT/now" "$st"
			rnd 2
			for j in $(seq 1 $R); do fsync_edit "${k}5$j"; done
			rnd 1500; sleep_ms "$R"
			what="${R} ms after the rsync"
		elif [ $phase = snapshot ]; then
			hold_open
			drfs snapshot "$MNT" --time "$(iso "$snap_time")" \
				>"$T/snap.out" 2>&1 &
			sp=$!
			rnd 600; sleep_ms "$R"
			what="${R} ms into drfs snapshot$HELD"
		else
			hold_open
			snapshot "$snap_time" "$st"
			snapped=1
			close_held
			crashcheck dirtimes "$MNT/now" "$st"
			for _ in $(seq 1 30); do
				st_now=$(drfs status "$MNT")
				grep -q '^staged: 0 files' <<<"$st_now" && break
				sleep 0.1
			done
			# (failed after the crash check below: a loss first)
			grep -q '^staged: 0 files' <<<"$st_now" ||
				stale="3 s after drfs snapshot$HELD, files are still staged: $(head -n 2 <<<"$st_now" | tr '\n' ' ')"
			rnd 2
			for j in $(seq 1 $R); do fsync_edit "${k}7$j"; done
			mkdir -p "$MNT/now/scratch" "$T/scratch"
			rnd 5
			for j in $(seq 0 $R); do
				rnd 1200000
				seeded_bytes $((SEED * 5000 + k * 10 + j)) "$R" >"$T/scratch/w$j"
				cp "$T/scratch/w$j" "$MNT/now/scratch/w$j"
				touch -r "$MNT/now/scratch/w$j" "$T/scratch/w$j"
			done
			rnd 3000; sleep_ms "$R"
			what="${R} ms after drfs snapshot$HELD"
		fi
		kill9 "$MNT"
		if [ $phase = snapshot ]; then
			wait "$sp" && snapped=1 || true
			close_held
		fi
	fi
	mount_repo "$MNT"
	# a snapshot the kill interrupted: absent, or complete
	if [ $phase = snapshot ] && [ -z "$snapped" ] &&
		[ -d "$MNT/snapshots/$(snap_folder "$snap_time")" ]; then
		snapped=1
	fi
	if [ $phase = snapshot ]; then
		crashcheck dirtimes "$MNT/now" "$st"
		[ -n "$snapped" ] && record "$(snap_folder "$snap_time")" "$st"
	fi
	check_snaps
	treecmp --no-atime --ignore-root-times "$T/synced" "$MNT/now/synced" >"$T/cmp" ||
		{ cat "$T/cmp" >&2; fail "round $k: fsync'd edits lost ($what, seed $SEED)"; }
	if [ -n "$snapped" ]; then
		"${CMP[@]}" "$st" "$MNT/now" >"$T/cmp" ||
			{ cat "$T/cmp" >&2; fail "round $k: now/ differs from the snapshot it completed ($what, seed $SEED)"; }
		res="now/ = the snapshot"
		[ -z "$stale" ] || fail "round $k: $stale"
	else
		mode=()
		[ $phase = rsync ] || mode=(--settled)
		crashcheck check "$MNT/now" "$prev" "$st" --since "$since" \
			"${mode[@]}" --exclude synced --exclude scratch \
			>"$T/cmp" 2>"$T/cc.err" ||
			{ cat "$T/cmp" "$T/cc.err" >&2; fail "round $k: now/ after kill -9 $what (seed $SEED)"; }
		res=$(sed 's/^crashcheck: //' "$T/cc.err")
	fi
	if [ -d "$T/scratch" ]; then
		crashcheck check "$MNT/now/scratch" "$T/empty" "$T/scratch" \
			--since "$since" --settled >"$T/cmp" 2>"$T/cc.err" ||
			{ cat "$T/cmp" "$T/cc.err" >&2; fail "round $k: now/scratch after kill -9 $what (seed $SEED)"; }
		rm -rf "$MNT/now/scratch" "$T/scratch"
	fi
	info "round $k: kill -9 $what: $res"
	# the rsync again: now/ is the source; a snapshot makes it durable
	if [ -z "$snapped" ]; then
		"${RSYNC[@]}" "$st/" "$MNT/now/" || fail "round $k: rsync after the remount failed"
		crashcheck dirtimes "$MNT/now" "$st"
		"${CMP[@]}" "$st" "$MNT/now" >"$T/cmp" ||
			{ cat "$T/cmp" >&2; fail "round $k: the rsync did not repair now/ (seed $SEED)"; }
		snapshot $((snap_time + 60)) "$st"
	fi
done
check_snaps all
umount_repo "$MNT"
check_repo "seed $SEED"
info "ok: $ROUNDS rounds, ${#SNAP_F[@]} snapshots checked, kills:$(for p in "${!phases[@]}"; do printf ' %s %s' "$p" "${phases[$p]}"; done), $(($(date +%s) - started)) s, seed $SEED"
