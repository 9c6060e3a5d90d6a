#!/bin/bash
# Snapshot facts as files (docs/mount.md, "info/"): MNT/info/DAY/TIME.json
# beside snapshots/, cross-checked field by field with drfs snapshots
# --json; hold state and a drill shown; never inside a snapshot's tree or a
# day folder; read-only; rmdir of a snapshot and of a day under snapshots/
# still works and takes the info entries with it; du -s of a snapshot
# folder is its logical size.
source "$(dirname "$0")/lib.sh"
make_repo
drfs init "$REPO" >/dev/null
M=$T/mnt

# three snapshots of a known tree: two on one day (tagged), one the next
src=$T/src
mkdir -p "$src/d/e"
seeded_bytes "$SEED" 300000 >"$src/a"
seeded_bytes "$((SEED + 1))" 70001 >"$src/d/b"
printf 'x' >"$src/d/e/c"
drfs backup "$REPO" "$src" --tag first --tag 'two words' \
	--time 2026-03-01T10:00:00Z >/dev/null
seeded_bytes "$((SEED + 2))" 4097 >"$src/d/new"
drfs backup "$REPO" "$src" --time 2026-03-01T11:00:00Z >/dev/null
drfs backup "$REPO" "$src" --time 2026-03-02T09:30:00Z >/dev/null

mount_repo "$M"
[ "$(ls "$M" | tr '\n' ' ')" = "info latest now snapshots " ] ||
	fail "the mount root lists: $(ls "$M" | tr '\n' ' ')"
[ "$(ls "$M/info" | tr '\n' ' ')" = "2026-03-01 2026-03-02 " ] ||
	fail "info/ lists: $(ls "$M/info" | tr '\n' ' ')"
[ "$(ls "$M/info/2026-03-01" | tr '\n' ' ')" = "100000.json 110000.json " ] ||
	fail "info/2026-03-01 lists: $(ls "$M/info/2026-03-01" | tr '\n' ' ')"
# day folders and snapshots hold only what they did
[ "$(ls -A "$M/snapshots/2026-03-01" | tr '\n' ' ')" = "100000 110000 " ] ||
	fail "a day folder lists: $(ls -A "$M/snapshots/2026-03-01")"
[ "$(ls -A "$M/snapshots/2026-03-01/100000" | tr '\n' ' ')" = "a d " ] ||
	fail "a snapshot lists: $(ls -A "$M/snapshots/2026-03-01/100000")"
[ "$(stat -c %F:%a "$M/info/2026-03-02/093000.json")" = "regular file:444" ] ||
	fail "an info file is $(stat -c %F:%a "$M/info/2026-03-02/093000.json")"

# check_info — every info file against drfs snapshots --json (same ids,
# every field equal, parent and drill as expected), sizes as stat says
check_info() {
	drfs snapshots "$REPO" --json >"$T/snaps.json"
	python3 - "$M" "$T/snaps.json" "$@" <<'PY' || fail "info files: see above"
import json, os, sys
mnt, snaps = sys.argv[1], json.load(open(sys.argv[2]))
want = dict(a.split("=", 1) for a in sys.argv[3:])
seen = set()
for day in sorted(os.listdir(mnt + "/info")):
    for name in sorted(os.listdir(mnt + "/info/" + day)):
        p = "%s/info/%s/%s" % (mnt, day, name)
        text = open(p, "rb").read()
        assert len(text) == os.stat(p).st_size, (p, len(text), os.stat(p).st_size)
        seen.add(day + "/" + name[:-5])
snap_folders = {s["folder"] for s in snaps}
assert seen == snap_folders, (seen, snap_folders)
for s in snaps:
    i = json.load(open("%s/info/%s.json" % (mnt, s["folder"])))
    for k, v in s.items():
        assert i[k] == v, (s["folder"], k, i[k], v)
    for k in ("id", "time", "folder", "held", "host", "path",
              "duration_seconds", "files", "dirs", "bytes", "added_bytes",
              "tags", "parent", "drill"):
        assert k in i, (s["folder"], k, i)
    assert i["duration_seconds"] is not None and i["duration_seconds"] >= 0, i
    held = want.get("held", "")
    assert i["held"] == (s["folder"] == held), (s["folder"], i["held"], held)
    d = want.get("drill", "")
    if s["folder"] == d:
        assert i["drill"] is not None and i["drill"]["ok"] is True, i
        assert i["drill"]["files"] == s["files"], i
        assert i["drill"]["restore_seconds"] >= 0, i
    else:
        assert i["drill"] is None, (s["folder"], i["drill"])
by = {s["folder"]: s for s in snaps}
if "2026-03-01/110000" in by:  # the known figures, before the rmdirs
    f1, f2 = by["2026-03-01/100000"], by["2026-03-01/110000"]
    assert f1["tags"] == ["first", "two words"], f1
    assert f1["files"] == 3 and f1["bytes"] == 370002, f1
    assert f2["files"] == 4 and f2["bytes"] == 374099, f2
    assert f2["parent"] == f1["id"], (f2["parent"], f1["id"])
    assert f1["parent"] is None, f1
print("info files: %d, every field as drfs snapshots --json" % len(snaps))
PY
}
check_info

# du -s of a snapshot folder: its logical size (st_blocks of its files)
du=$(du -sB1 "$M/snapshots/2026-03-01/110000" | cut -f1)
[ "$du" -ge 374099 ] && [ "$du" -le $((374099 + 512 * 7)) ] ||
	fail "du -s of a snapshot folder: $du bytes (logical: 374099)"

# hold state and a drill, each shown at once
id2=$(python3 -c 'import json, sys
print([s["id"] for s in json.load(open(sys.argv[1])) if s["folder"] == "2026-03-01/110000"][0])' "$T/snaps.json")
drfs hold "$REPO" "$id2" >/dev/null || fail "drfs hold failed"
drfs drill "$REPO" 2026-03-02/093000 >/dev/null 2>&1 || fail "drill failed"
check_info held=2026-03-01/110000 drill=2026-03-02/093000
drfs release "$REPO" "$id2" >/dev/null || fail "drfs release failed"

# read-only: nothing under info/ changes, and the snapshot stays
for op in "touch $M/info/x" "rm $M/info/2026-03-01/100000.json" \
	"rmdir $M/info/2026-03-01" "mkdir $M/info/d" \
	"cp /etc/hostname $M/info/2026-03-01/100000.json"; do
	$op 2>/dev/null && fail "'$op' succeeded"
done
[ -d "$M/snapshots/2026-03-01/100000" ] || fail "a snapshot went with info/"

# a snapshot through now/ has its info file at once
cp -a "$src/." "$M/now/"
folder=$(drfs snapshot "$M" --time 2026-03-03T08:00:00Z) ||
	fail "drfs snapshot failed"
[ "$folder" = "$M/snapshots/2026-03-03/080000" ] || fail "snapshot: $folder"
[ "$(ls "$M" | tr '\n' ' ')" = "info latest now snapshots " ] ||
	fail "the mount root lists: $(ls "$M" | tr '\n' ' ')"
check_info drill=2026-03-02/093000

# rmdir of one snapshot, then of a whole day: their info entries go too
rmdir "$M/snapshots/2026-03-01/110000" || fail "rmdir of a snapshot failed"
[ ! -e "$M/info/2026-03-01/110000.json" ] ||
	fail "the info file of a removed snapshot is still there"
[ "$(ls "$M/info/2026-03-01")" = 100000.json ] ||
	fail "info/2026-03-01 lists: $(ls "$M/info/2026-03-01")"
rmdir "$M/snapshots/2026-03-01" || fail "rmdir of a day failed"
[ ! -e "$M/info/2026-03-01" ] || fail "the info day of a removed day is there"
[ "$(ls "$M/info" | tr '\n' ' ')" = "2026-03-02 2026-03-03 " ] ||
	fail "info/ lists: $(ls "$M/info" | tr '\n' ' ')"
check_info drill=2026-03-02/093000
umount_repo "$M"

# after a remount with an empty cache (no drill recorded in it): the same
CACHE=$(fresh_cache)
mount_repo "$M"
check_info
umount_repo "$M"
info "ok"
