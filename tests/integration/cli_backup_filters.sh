#!/usr/bin/env bash
# cli_backup_filters: drfs backup --exclude (a name at any depth without
# '/', a path from DIR with '/', '*' '?' [..] "**", a trailing '/' for
# directories only), --exclude-file (comments, blanks), --exclude-caches
# (only a CACHEDIR.TAG with the standard signature counts; the tag is
# kept), --one-file-system (a tmpfs mounted inside DIR is kept as an empty
# directory, its files left out). What is restored is exactly the tree
# minus what was excluded; without the options everything is there.
. "$(dirname "$0")/lib.sh"

make_repo
drfs init "$REPO" >/dev/null 2>&1 || fail "init failed"

S=$T/src
mkdir -p "$S"/{sub/deep/er,build,sub/build,node_modules/m,sub/node_modules,cache/d,fakecache,tmp,sub/x,logs}
for f in a.o keep.c sub/x.o sub/keep.txt build/out sub/build/kept \
	node_modules/m/i.js sub/node_modules/j.js sub/deep/er/f.bin \
	sub/deep/g.txt cache/d/blob fakecache/blob tmp/t sub/x/tmp \
	logs/a.log logs/b.log logs/ab.log 'sp ace.o' ; do
	printf 'content of %s\n' "$f" >"$S/$f"
done
printf 'Signature: 8a477f597d28d172789f06886806bc55\n# a cache\n' >"$S/cache/CACHEDIR.TAG"
printf 'Signature: 0000000000000000000000000000000\n' >"$S/fakecache/CACHEDIR.TAG"
cat >"$T/excludes" <<'X'
# comments and blank lines are skipped, blanks around a pattern ignored

   node_modules   
/sub/deep/**/*.bin
tmp/
logs/?.log
X

fs=0
if [ "$(id -u)" = 0 ] && mkdir -p "$S/mnt" && mount -t tmpfs -o size=1m drfsfilters "$S/mnt" 2>/dev/null; then
	fs=1
	echo "on another file system" >"$S/mnt/other"
	mkdir "$S/mnt/dir"
	echo deeper >"$S/mnt/dir/f"
else
	info "cannot mount a tmpfs: --one-file-system not tried"
fi

# the expected tree: a copy of src with the excluded entries removed
E=$T/expected
cp -a "$S" "$E"
[ "$fs" = 0 ] || { rm -rf "$E/mnt"/*; }
rm -rf "$E/a.o" "$E/sub/x.o" "$E/sp ace.o" "$E/build" "$E/node_modules" \
	"$E/sub/node_modules" "$E/sub/deep/er/f.bin" "$E/cache/d" "$E/tmp" \
	"$E/logs/a.log" "$E/logs/b.log"
# kept: sub/build (/build is anchored), sub/x/tmp (a file: tmp/ is for
# directories), cache/CACHEDIR.TAG, fakecache/* (no valid signature),
# logs/ab.log (? is one character)

ofs=()
[ "$fs" = 0 ] || ofs=(--one-file-system)
run_nocrash "backup with filters" drfs backup "$REPO" "$S" \
	--exclude '*.o' --exclude /build --exclude-file "$T/excludes" \
	--exclude-caches "${ofs[@]}"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "backup with filters: exit $RC"; }
f1=$(cat "$T/last.out")
drfs restore "$REPO" "$f1" "$T/r1" -q || fail "restore failed"
(cd "$E" && find . | sort) >"$T/want.list"
(cd "$T/r1" && find . | sort) >"$T/got.list"
diff "$T/want.list" "$T/got.list" >&2 || fail "the restored tree is not the source minus the excluded entries"
diff -r "$E" "$T/r1" >&2 || fail "restored contents differ"
if [ "$fs" = 1 ]; then
	[ -d "$T/r1/mnt" ] && [ -z "$(ls -A "$T/r1/mnt")" ] ||
		fail "--one-file-system: the mount point is not an empty directory"
fi
info "filters: exactly the excluded entries left out"

# without them, everything is backed up (so the filters did the work)
drfs backup "$REPO" "$S" -q >"$T/f2" || fail "backup without filters failed"
drfs restore "$REPO" "$(cat "$T/f2")" "$T/r2" -q || fail "restore 2 failed"
diff -r "$S" "$T/r2" >&2 || fail "an unfiltered backup is not the whole tree"
[ "$fs" = 0 ] || [ -s "$T/r2/mnt/dir/f" ] || fail "without --one-file-system the tmpfs was left out"
info "without the options: the whole tree, tmpfs included"

# bad patterns and files: usage errors, no snapshot
n_before=$(drfs snapshots "$REPO" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
run_nocrash "empty pattern" drfs backup "$REPO" "$S" --exclude ''
[ "$RC" = 2 ] && grep -q -- '--exclude' "$T/last.err" || fail "--exclude '': exit $RC"
run_nocrash "missing exclude file" drfs backup "$REPO" "$S" --exclude-file "$T/nonexistent"
[ "$RC" = 2 ] && grep -q "$T/nonexistent" "$T/last.err" ||
	{ cat "$T/last.err" >&2; fail "--exclude-file of a missing file: exit $RC"; }
printf '/\n' >"$T/badex"
run_nocrash "a bad pattern in a file" drfs backup "$REPO" "$S" --exclude-file "$T/badex"
[ "$RC" = 2 ] && grep -q "line 1" "$T/last.err" ||
	{ cat "$T/last.err" >&2; fail "--exclude-file with '/': exit $RC"; }
n_after=$(drfs snapshots "$REPO" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n_before" = "$n_after" ] || fail "a refused backup made a snapshot"
[ "$fs" = 0 ] || umount "$S/mnt"
info "ok"
