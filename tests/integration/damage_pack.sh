#!/bin/bash
# A lost pack costs only the files that use it, on an empty cache exactly as
# on the warm one (docs/damage.md).
#
# A: the primary loses a pack that only the newest snapshot uses (data of
# one file, "big"). With --replica holding it, restore, drill, a mount and
# copy work on the first run with empty caches. Without: the oldest snapshot
# restores (exit 0); the newest restores everything else and names "big"
# (exit 3), with a fresh and with the warm cache; drill, the mount, copy and
# check name it too; `repair snapshots --dry-run` changes nothing; `repair
# snapshots` replaces the newest snapshot by one where "big" lost the bytes
# of the lost pack, tagged, under the same folder name (also after a repair
# that stopped before forgetting), after which check is clean.
# B: a pack holding the tree of a directory the newest snapshot shares with
# the oldest is lost: the newest restores all but that directory (named);
# repair snapshots empties it, and the oldest (whose root is gone) becomes
# an empty snapshot; check is clean.
# C: a corrupted pack: repair snapshots --read-data cuts the file out, check
# is clean (check --read-data still names the pack: its bytes stay). The
# snapshot is held: it stays, under its name, next to its repaired copy.
source "$(dirname "$0")/lib.sh"
make_repo
PRIMARY=$REPO

new_bucket() { echo "s3://drfs-test-$(_rand_lower 12)/"; }
# place NAME — a second (third...) repository of this backend
place() {
	if [ "$DRFS_TEST_BACKEND" = s3 ]; then new_bucket; else echo "$T/$1"; fi
}
REPLICA=$(place replica)

fuse_ok || info "no FUSE here: the mount parts are skipped"

# ---- A: the data of one file ------------------------------------------------
mkdir -p "$T/state1/sub"
for i in 1 2 3; do
	seeded_bytes $((SEED + i)) $((i * 100000)) >"$T/state1/f$i"
done
echo small >"$T/state1/sub/small"
ln -s ../f1 "$T/state1/sub/link"
cp -a "$T/state1" "$T/state2"
# more than one pack's worth (16 MiB): the first pack of the second backup
# holds data of "big" only; the trees go into its last pack
seeded_bytes $((SEED + 7)) $((20 << 20)) >"$T/state2/big"
echo more >"$T/state2/sub/more"

drfs init "$PRIMARY" --replica "$REPLICA" >/dev/null
old=$(drfs backup "$PRIMARY" "$T/state1" --replica "$REPLICA" \
	--time 2025-04-01T08:00:00Z -q)
packs1=$(obj_names data/)
new=$(drfs backup "$PRIMARY" "$T/state2" --replica "$REPLICA" \
	--time 2025-04-02T08:00:00Z -q)
new_packs=$(obj_sizes data/ | grep -vF -f <(echo "$packs1"))
[ "$(echo "$new_packs" | wc -l)" -ge 2 ] ||
	fail "the second backup wrote one pack; the test needs two: $new_packs"
lost=$(echo "$new_packs" | sort -n | tail -n 1 | cut -d ' ' -f 2)
lost_id=${lost##*/}
obj_del "$lost"
info "the primary lost $lost (the replica keeps it)"
old_id=$(drfs snapshots "$PRIMARY" --json | python3 -c 'import json, sys
print([s["id"] for s in json.load(sys.stdin) if s["folder"] == sys.argv[1]][0])' "$new")

# ---- A1. a replica holds the pack: everything works, first run ----------------
R=(--replica "$REPLICA")
"$DRFS" restore "$PRIMARY" "$new" "$T/r-rep" "${R[@]}" --cache-dir "$(fresh_cache)" \
	2>"$T/r-rep.err" || { cat "$T/r-rep.err" >&2; fail "restore with --replica failed"; }
treecmp --ignore-root-times "$T/state2" "$T/r-rep" >/dev/null ||
	fail "restore with --replica differs"
grep -q 'reading from replica' "$T/r-rep.err" || fail "no failover was logged"
run_nocrash "drill with --replica" "$DRFS" drill "$PRIMARY" "$new" "${R[@]}" \
	--cache-dir "$(fresh_cache)"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "drill with --replica failed"; }
if fuse_ok; then
	CACHE=$(fresh_cache) mount_repo "$T/mnt" "${R[@]}"
	cp -a "$T/mnt/snapshots/$new" "$T/cp-rep"
	umount_repo "$T/mnt"
	treecmp --ignore-root-times "$T/state2" "$T/cp-rep" >/dev/null ||
		fail "cp -a out of a mount with --replica differs"
fi
DST=$(place dst)
"$DRFS" init "$DST" --cache-dir "$T/dst-init" >/dev/null
c=$(fresh_cache)
run_nocrash "copy with --replica" "$DRFS" copy "$PRIMARY" "$DST" "${R[@]}" --cache-dir "$c"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "copy with --replica failed"; }
"$DRFS" restore "$DST" latest "$T/r-dst" --cache-dir "$c.dst" -q
treecmp --ignore-root-times "$T/state2" "$T/r-dst" >/dev/null ||
	fail "the copy made with --replica differs"
run_nocrash "check with --replica" "$DRFS" check "$PRIMARY" "${R[@]}" --cache-dir "$(fresh_cache)"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "check with --replica is not clean"; }
run_nocrash "repair snapshots --replica --dry-run" \
	"$DRFS" repair snapshots "$PRIMARY" "${R[@]}" --dry-run --cache-dir "$(fresh_cache)"
grep -q '^no damaged snapshots' "$T/last.out" ||
	fail "with the replica nothing is damaged: $(cat "$T/last.out")"
info "with --replica: restore, drill, mount, copy, check work on the first run"

# ---- A2. no replica: only "big" is lost ------------------------------------------
# names_big WHAT FILE — the output names the lost file
names_big() {
	grep -q 'big' "$2" || fail "$1 does not name \"big\": $(cat "$2")"
}
for kind in fresh warm; do
	if [ "$kind" = warm ]; then c=$CACHE; else c=$(fresh_cache); fi
	rm -rf "$T/r-old" "$T/r-new"
	run_nocrash "$kind: restore $old" "$DRFS" restore "$PRIMARY" "$old" "$T/r-old" --cache-dir "$c"
	[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "$kind: restore of the oldest failed"; }
	treecmp --ignore-root-times "$T/state1" "$T/r-old" >/dev/null ||
		fail "$kind: restore of the oldest differs"
	run_nocrash "$kind: restore $new" "$DRFS" restore "$PRIMARY" "$new" "$T/r-new" --cache-dir "$c"
	[ "$RC" = 3 ] || { cat "$T/last.err" >&2; fail "$kind: restore of the newest exited $RC, want 3"; }
	names_big "$kind: restore" "$T/last.err"
	treecmp --ignore-root-times --exclude big \
		"$T/state2" "$T/r-new" >/dev/null ||
		fail "$kind: restore of the newest: files other than big differ"
done
run_nocrash "drill" "$DRFS" drill "$PRIMARY" "$new" --cache-dir "$(fresh_cache)"
[ "$RC" != 0 ] || fail "drill passed with a lost pack"
names_big drill "$T/last.err"
if fuse_ok; then
	CACHE=$(fresh_cache) mount_repo "$T/mnt"
	cp -a "$T/mnt/snapshots/$old" "$T/cp-old"
	treecmp --ignore-root-times "$T/state1" "$T/cp-old" >/dev/null ||
		fail "mount: cp -a of the oldest differs"
	if cat "$T/mnt/snapshots/$new/big" >/dev/null 2>"$T/cat.err"; then
		fail "mount: reading big succeeded"
	fi
	cp -a "$T/mnt/snapshots/$new/sub" "$T/cp-sub"
	cmp "$T/mnt/snapshots/$new/f3" "$T/state2/f3" || fail "mount: f3 differs"
	umount_repo "$T/mnt"
	treecmp "$T/state2/sub" "$T/cp-sub" >/dev/null || fail "mount: sub/ differs"
	grep -qs 'big' "$T/cat.err" || info "cat: $(cat "$T/cat.err")"
fi
DST2=$(place dst2)
"$DRFS" init "$DST2" --cache-dir "$T/dst2-init" >/dev/null
c=$(fresh_cache)
run_nocrash "copy" "$DRFS" copy "$PRIMARY" "$DST2" --cache-dir "$c"
[ "$RC" = 3 ] || { cat "$T/last.err" >&2; fail "copy exited $RC, want 3"; }
names_big copy "$T/last.err"
"$DRFS" snapshots "$DST2" --cache-dir "$c.dst" --json >"$T/dst2.json"
python3 - "$T/dst2.json" <<'PY' || fail "the damaged copy is not tagged: $(cat "$T/dst2.json")"
import json, sys
v = json.load(open(sys.argv[1]))
assert len(v) == 2 and "damaged:big" in v[1]["tags"], v
PY
for kind in fresh warm; do
	if [ "$kind" = warm ]; then c=$CACHE; else c=$(fresh_cache); fi
	run_nocrash "$kind: check" "$DRFS" check "$PRIMARY" --cache-dir "$c"
	[ "$RC" = 1 ] || fail "$kind: check exited $RC, want 1"
	grep -q "$lost_id" "$T/last.err" || fail "$kind: check does not name the pack"
	names_big "$kind: check" "$T/last.err"
done
info "without a replica: the oldest restores, the newest all but big (named)"

# ---- A3. repair snapshots -----------------------------------------------------------
obj_get "snapshots/$old_id" "$T/damaged-snapshot"
obj_sizes "" | grep -v ' locks/' >"$T/objects.before"
run_nocrash "repair --dry-run" drfs repair snapshots "$PRIMARY" --dry-run
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "repair --dry-run failed"; }
names_big "repair --dry-run" "$T/last.out"
grep -q '^would repair 1 of 2' "$T/last.out" || fail "dry run: $(cat "$T/last.out")"
obj_sizes "" | grep -v ' locks/' >"$T/objects.after"
diff "$T/objects.before" "$T/objects.after" >&2 || fail "--dry-run changed the repository"

run_nocrash "repair" drfs repair snapshots "$PRIMARY"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "repair snapshots failed"; }
cat "$T/last.out" >&2
names_big repair "$T/last.out"
drfs snapshots "$PRIMARY" --json >"$T/snaps.json"
python3 - "$T/snaps.json" "$old_id" "$new" <<'PY' || fail "after repair: $(cat "$T/snaps.json")"
import json, sys
v = json.load(open(sys.argv[1]))
assert len(v) == 2, v
assert all(s["id"] != sys.argv[2] for s in v), "the damaged snapshot is still there"
s = v[1]
assert s["folder"] == sys.argv[3], s
assert "repaired-from:" + sys.argv[2] in s["tags"] and "damaged:big" in s["tags"], s
PY
for kind in warm fresh; do
	if [ "$kind" = warm ]; then c=$CACHE; else c=$(fresh_cache); fi
	run_nocrash "$kind: check after repair" "$DRFS" check "$PRIMARY" --read-data --cache-dir "$c"
	[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "$kind: check after repair snapshots is not clean"; }
	rm -rf "$T/r-fix"
	run_nocrash "$kind: restore after repair" "$DRFS" restore "$PRIMARY" "$new" "$T/r-fix" --cache-dir "$c"
	[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "$kind: restore of the repaired snapshot failed"; }
	treecmp --ignore-root-times --exclude big \
		"$T/state2" "$T/r-fix" >/dev/null ||
		fail "$kind: repaired snapshot: files other than big differ"
	# restic's rule: the lost bytes are cut out, the rest moves up: the
	# repaired big is runs of the original, in order, with gaps
	size=$(stat -c %s "$T/r-fix/big")
	python3 - "$T/state2/big" "$T/r-fix/big" <<'PY' ||
import sys
o, r = (open(p, "rb").read() for p in sys.argv[1:3])
assert 0 < len(r) < len(o), (len(r), len(o))
i = j = runs = 0
while j < len(r):
    k = o.find(r[j:j + 64], i)
    assert k >= 0, "bytes %d.. of the repaired file are not in the original" % j
    n = 0
    while j + n < len(r) and k + n < len(o) and r[j + n] == o[k + n]:
        n += 1
    i, j, runs = k + n, j + n, runs + 1
print("big: %d of %d bytes kept, in %d run(s)" % (len(r), len(o), runs), file=sys.stderr)
PY
		fail "$kind: repaired big is not what remains of big"
	rm -rf "$T/r-old"
	"$DRFS" restore "$PRIMARY" "$old" "$T/r-old" --cache-dir "$c" -q
	treecmp --ignore-root-times "$T/state1" "$T/r-old" >/dev/null ||
		fail "$kind: the oldest differs after repair"
done
# a repair that stopped before forgetting: the next run only forgets
obj_put "snapshots/$old_id" "$T/damaged-snapshot"
run_nocrash "repair after a stop" drfs repair snapshots "$PRIMARY"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "repair after a stop failed"; }
grep -q "(${old_id:0:8}): already repaired as" "$T/last.out" ||
	fail "repair after a stop: $(cat "$T/last.out")"
[ "$(drfs snapshots "$PRIMARY" | tail -n +2 | wc -l)" = 2 ] ||
	fail "repair after a stop: $(drfs snapshots "$PRIMARY")"
# the backups keep their folder names (docs/hosts.md): the repaired one
# took over the name of the one it replaces
[ "$(drfs snapshots "$PRIMARY" --json | python3 -c 'import json, sys
print(" ".join(s["folder"] for s in json.load(sys.stdin)))')" = "$old $new" ] ||
	fail "repair after a stop: folders $(drfs snapshots "$PRIMARY")"
run_nocrash "repair again" drfs repair snapshots "$PRIMARY"
grep -q '^no damaged snapshots' "$T/last.out" || fail "a second repair: $(cat "$T/last.out")"
info "repair snapshots: big keeps $size of $((20 << 20)) bytes; check is clean"

# ---- B: the tree of a directory the newest shares with the oldest ---------------
B=$(place repo-b)
CACHE=$T/cache-b
# the same directory twice, so that kept/ (ctimes included) is unchanged
mkdir -p "$T/b2/kept/deeper"
for i in 1 2; do seeded_bytes $((SEED + 20 + i)) 5000 >"$T/b2/kept/k$i"; done
echo deep >"$T/b2/kept/deeper/d"
drfs init "$B" >/dev/null
b_old=$(drfs backup "$B" "$T/b2" --time 2025-05-01T08:00:00Z -q)
first=$(REPO=$B obj_names data/)
[ "$(echo "$first" | wc -l)" = 1 ] || fail "B: want one pack per backup: $first"
mkdir "$T/b2/added"
seeded_bytes $((SEED + 30)) 9000 >"$T/b2/added/a1"
b_new=$(drfs backup "$B" "$T/b2" --time 2025-05-02T08:00:00Z -q)
REPO=$B obj_del "$first"
c=$(fresh_cache)
rm -rf "$T/rb"
run_nocrash "B: restore" "$DRFS" restore "$B" "$b_new" "$T/rb" --cache-dir "$c"
[ "$RC" = 3 ] || { cat "$T/last.err" >&2; fail "B: restore exited $RC, want 3"; }
grep -q 'kept.*cannot read directory' "$T/last.err" || fail "B: kept/ not named: $(cat "$T/last.err")"
diff -r "$T/b2/added" "$T/rb/added" || fail "B: added/ differs"
run_nocrash "B: repair" drfs repair snapshots "$B"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "B: repair failed"; }
grep -q '"kept/": directory lost' "$T/last.out" || fail "B: repair: $(cat "$T/last.out")"
grep -q '^repaired 2 of 2' "$T/last.out" || fail "B: repair: $(cat "$T/last.out")"
run_nocrash "B: check" "$DRFS" check "$B" --read-data --cache-dir "$(fresh_cache)"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "B: check after repair is not clean"; }
rm -rf "$T/rb"
"$DRFS" restore "$B" "$b_new" "$T/rb" --cache-dir "$(fresh_cache)" -q
[ -d "$T/rb/kept" ] && [ -z "$(ls -A "$T/rb/kept")" ] || fail "B: kept/ is not empty"
diff -r "$T/b2/added" "$T/rb/added" || fail "B: added/ differs after repair"
rm -rf "$T/rb-old"
"$DRFS" restore "$B" "$b_old" "$T/rb-old" --cache-dir "$(fresh_cache)" -q
[ -z "$(ls -A "$T/rb-old")" ] || fail "B: the oldest is not empty"
info "B: a lost tree becomes an empty directory"

# ---- C: a corrupted pack: only --read-data finds the data ------------------------
C=$(place repo-c)
CACHE=$T/cache-c
mkdir -p "$T/c1"
# below the smallest chunk (256 KiB): one blob each, whatever the
# repository's chunker key (300000 bytes were cut in two by some keys)
for f in one two; do seeded_bytes $((SEED + ${#f} * 40)) 200000 >"$T/c1/$f-x"; done
drfs init "$C" >/dev/null
c_snap=$(drfs backup "$C" "$T/c1" -q)
pack=$(REPO=$C obj_names data/)
REPO=$C obj_corrupt "$pack" # the middle of the pack: file data, not a tree
run_nocrash "C: repair" drfs repair snapshots "$C"
grep -q '^no damaged snapshots' "$T/last.out" || fail "C: repair without --read-data: $(cat "$T/last.out")"
# a held snapshot stays, with its name, next to its repaired copy, which
# gets a name of its own
drfs hold "$C" "$c_snap" >/dev/null
run_nocrash "C: repair --read-data" drfs repair snapshots "$C" --read-data
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "C: repair --read-data failed"; }
grep -q 'x": 200000 of 200000 bytes lost (blob .* does not read): cut out' "$T/last.out" ||
	fail "C: repair --read-data: $(cat "$T/last.out")"
grep -q "is held: kept next to its repaired copy" "$T/last.out" ||
	fail "C: the hold is not named: $(cat "$T/last.out")"
[ "$(drfs snapshots "$C" --json | python3 -c 'import json, sys
print(" ".join(sorted(s["folder"] + ("+held" if s["held"] else "")
                      for s in json.load(sys.stdin))))')" = "$c_snap+held $c_snap.1" ] ||
	fail "C: held and repaired: $(drfs snapshots "$C")"
run_nocrash "C: check" drfs check "$C"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "C: check after repair --read-data is not clean"; }
# the damaged bytes are still in the pack: check --read-data names it
run_nocrash "C: check --read-data" drfs check "$C" --read-data
[ "$RC" = 1 ] && grep -q "${pack##*/}" "$T/last.err" ||
	fail "C: check --read-data: exit $RC: $(cat "$T/last.err")"
info "C: repair --read-data cuts out what a corrupted pack lost"
echo "damage_pack: ok"
