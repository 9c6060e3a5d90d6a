#!/bin/bash
# Edge-case tree (tests/tools/mkedge.sh) -> backup -> restore -> identical:
# hard links, sparse files over 4 GiB, specials, modes, owners, xattrs, ACLs,
# odd names, deep paths, nanosecond times. Also checks the snapshot listing
# (--json fields, --time, --tag) and restore by folder, id, id prefix and
# "latest".
source "$(dirname "$0")/lib.sh"
need_root
make_repo

drfs init "$REPO"
mkedge "$T/src"

snap=$(drfs backup "$REPO" "$T/src" --time 2026-01-02T03:04:05Z --tag edge | tail -n 1)
[ "$snap" = 2026-01-02/030405 ] ||
	fail "backup --time 2026-01-02T03:04:05Z printed '$snap', want 2026-01-02/030405"
snap2=$(drfs backup "$REPO" "$T/src" | tail -n 1)
[[ "$snap2" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}/[0-9]{6}$ ]] ||
	fail "backup printed '$snap2', not a YYYY-MM-DD/HHMMSS folder"

drfs snapshots "$REPO" --json >"$T/snaps.json"
python3 - "$T/snaps.json" "$snap" "$snap2" "$T/src" >"$T/ids" <<'PY' ||
import json, re, sys
path, folder1, folder2, src = sys.argv[1:5]
snaps = json.load(open(path))
assert isinstance(snaps, list) and len(snaps) == 2, "want 2 snapshots: %r" % snaps
keys = {"id", "time", "folder", "host", "path", "files", "bytes",
        "added_bytes", "tags"}
for s in snaps:
    missing = keys - set(s)
    assert not missing, "snapshot lacks %s: %r" % (sorted(missing), s)
    assert re.fullmatch(r"[0-9a-f]{16,}", s["id"]), "id %r" % s["id"]
    assert s["path"].rstrip("/") == src.rstrip("/"), "path %r" % s["path"]
    assert s["files"] > 50, "files %r" % s["files"]
    assert s["bytes"] > 7 << 30, "bytes %r (sparse sizes count)" % s["bytes"]
by = {s["folder"]: s for s in snaps}
assert set(by) == {folder1, folder2}, "folders %r" % sorted(by)
s1 = by[folder1]
assert re.fullmatch(r"2026-01-02T03:04:05(\.0+)?(Z|\+00:00)", s1["time"]), \
    "time %r" % s1["time"]
assert s1["tags"] == ["edge"], "tags %r" % s1["tags"]
assert by[folder2]["added_bytes"] < 1 << 20, \
    "unchanged re-backup added %r bytes" % by[folder2]["added_bytes"]
print(s1["id"], by[folder2]["id"])
PY
	fail "snapshots --json: $(cat "$T/snaps.json")"
read -r id1 id2 <"$T/ids"

# every way of naming a snapshot restores the same tree
drfs restore "$REPO" "$snap" "$T/by-folder"
treecmp --sparse --ignore-root-times "$T/src" "$T/by-folder" ||
	fail "restore by folder differs"
drfs restore "$REPO" latest "$T/latest"
treecmp --sparse --ignore-root-times "$T/src" "$T/latest" ||
	fail "restore of latest differs"
drfs restore "$REPO" "$id1" "$T/by-id"
treecmp --sparse --ignore-root-times "$T/src" "$T/by-id" ||
	fail "restore by id differs"
drfs restore "$REPO" "${id2:0:8}" "$T/by-prefix"
treecmp --sparse --ignore-root-times "$T/src" "$T/by-prefix" ||
	fail "restore by id prefix differs"

expect_clean_failure "restore of an unknown snapshot" \
	drfs restore "$REPO" 1999-01-01/000000 "$T/nothing"

drfs check "$REPO"
drfs check "$REPO" --read-data
info "ok: $snap $snap2"
