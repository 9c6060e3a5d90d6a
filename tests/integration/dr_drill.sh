#!/bin/bash
# Restore drill and spread verification: `drfs drill` passes on a healthy
# repository (full and --sample, text and --json) and fails, naming the
# file, once a pack is corrupted; `drfs check --read-data-subset N/M` passes
# on every subset of a healthy repository and, in three runs, one finds the
# damage and every later one again (the rotation of docs/verification.md).
source "$(dirname "$0")/lib.sh"
make_repo
drfs init "$REPO" >/dev/null

s3_req() { # METHOD URL [CURL ARGS...]
	local m=$1 u=$2
	shift 2
	curl -sS -f --aws-sigv4 "aws:amz:${AWS_REGION:-us-east-1}:s3" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -X "$m" "$u" "$@"
}
bucket_of() { local b=${1#s3://}; echo "${b%%/*}"; }
flip() { python3 -c 'import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[len(b) // 2] ^= 0x5a
open(sys.argv[1], "wb").write(b)' "$1"; }
# largest_pack — name of the largest object under data/
largest_pack() {
	case $REPO in
	s3://*)
		s3_req GET "$DRFS_TEST_S3_ENDPOINT/$(bucket_of "$REPO")?list-type=2&prefix=data%2F" |
			python3 -c 'import re, sys
x = sys.stdin.read()
c = re.findall(r"<Key>([^<]*)</Key>.*?<Size>(\d+)</Size>", x, re.S)
print(max(c, key=lambda kv: int(kv[1]))[0])'
		;;
	*) (cd "$REPO" && ls -S data/*/* | head -n 1) ;;
	esac
}
corrupt() {
	case $REPO in
	s3://*)
		local u="$DRFS_TEST_S3_ENDPOINT/$(bucket_of "$REPO")/$1"
		s3_req GET "$u" -o "$T/obj"
		flip "$T/obj"
		s3_req PUT "$u" --data-binary @"$T/obj" >/dev/null
		;;
	*) flip "$REPO/$1" ;;
	esac
}

SRC=$T/src
mkdir -p "$SRC/a/b" "$SRC/c"
seeded_bytes "$SEED" $((6 << 20)) >"$SRC/a/bigfile"
for i in $(seq 1 40); do
	seeded_bytes $((SEED + i)) $((i * 997)) >"$SRC/c/f$i"
done
ln -s ../a/bigfile "$SRC/c/link"
ln "$SRC/c/f1" "$SRC/a/b/hardlink"
setfattr -n user.drill -v yes "$SRC/c/f2" 2>/dev/null || true
truncate -s 3M "$SRC/a/sparse"
printf 'tail' >>"$SRC/a/sparse"
if [ "$(id -u)" = 0 ]; then
	mkedge "$SRC/edge"
fi
drfs backup "$REPO" "$SRC" >/dev/null

# ---- healthy: full drill, text and json ---------------------------------
drfs drill "$REPO" >"$T/drill.txt" || fail "drill of a healthy repository failed"
grep -q '^result: *ok' "$T/drill.txt" || fail "drill did not report ok: $(cat "$T/drill.txt")"
grep -q '^time-to-restore:' "$T/drill.txt" || fail "drill reports no time-to-restore"
drfs drill "$REPO" latest --json >"$T/drill.json"
python3 - "$T/drill.json" <<'PY' || fail "drill --json: $(cat "$T/drill.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ok"] is True and d["mismatches"] == 0 and d["restore_errors"] == 0, d
assert d["files"] == d["files_total"] and d["files"] >= 44, d
assert d["bytes"] >= 6 << 20, d
for k in ("restore_seconds", "verify_seconds", "throughput_mib_s", "snapshot"):
    assert k in d, k
PY
info "full drill: $(grep time-to-restore "$T/drill.txt")"

# ---- healthy: a 25 % sample ----------------------------------------------
drfs drill "$REPO" --sample 25 --seed 11 --json >"$T/sample.json" ||
	fail "sampled drill failed: $(cat "$T/sample.json")"
python3 - "$T/sample.json" <<'PY' || fail "drill --sample: $(cat "$T/sample.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ok"] is True and d["sample_percent"] == 25, d
assert 0 < d["files"] < d["files_total"], d
PY
expect_clean_failure "drill --sample 0" drfs drill "$REPO" --sample 0
[ "$RC" = 2 ] || fail "drill --sample 0: exit $RC, want 2 (usage)"

# ---- a sample's restore and verification, measured apart -------------------
# (local: 144 MiB in a repository of its own.) Each phase is timed on its
# own: together they fit in the command's wall time, which they did not
# when the verification was counted in the time-to-restore too.
if [ "$DRFS_TEST_BACKEND" = local ]; then
	mkdir -p "$T/big"
	for i in $(seq 1 48); do
		seeded_bytes $((SEED + 500 + i)) $((3 << 20)) >"$T/big/f$i"
	done
	drfs init "$T/repo-big" >/dev/null 2>&1
	drfs backup "$T/repo-big" "$T/big" --cache-dir "$T/cache-big" >/dev/null 2>&1
	t0=$(date +%s.%N)
	drfs drill "$T/repo-big" --cache-dir "$T/cache-big" --sample 50 --seed 7 --json \
		>"$T/timed.json" || fail "sampled drill of 144 MiB failed"
	t1=$(date +%s.%N)
	python3 - "$T/timed.json" "$t0" "$t1" <<'PY' || fail "drill --sample timing: $(cat "$T/timed.json")"
import json, sys
d = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
r, v = d["restore_seconds"], d["verify_seconds"]
assert r > 0 and v > 0, d
assert r + v <= wall, "restore %.3f + verify %.3f > %.3f s of wall time" % (r, v, wall)
est = d.get("restore_seconds_full_estimate")
assert est is not None and est >= r, d
print("sample: restore %.2f s, verify %.2f s (wall %.2f s), all: about %.2f s" % (r, v, wall, est))
PY
	drfs drill "$T/repo-big" --cache-dir "$T/cache-big" --sample 50 --seed 7 >"$T/timed.txt"
	grep -qE '^time-to-restore: [0-9.]+s for the sample .*; all .*: about [0-9.]+s$' "$T/timed.txt" ||
		fail "the sampled drill's text does not tell the sample's time from the estimate: $(cat "$T/timed.txt")"
fi

# ---- check --read-data-subset ----------------------------------------------
for i in 1 2 3; do
	drfs check "$REPO" --read-data-subset "$i/3" -q ||
		fail "check --read-data-subset $i/3 failed on a healthy repository"
done
expect_clean_failure "check --read-data-subset 0/3" drfs check "$REPO" --read-data-subset 0/3
expect_clean_failure "check --read-data-subset 4/3" drfs check "$REPO" --read-data-subset 4/3

# ---- lock-extend: the objects reachable from the retention window ---------
drfs lock-extend "$REPO" --keep-within 30d --dry-run --json >"$T/retain.json"
python3 - "$T/retain.json" <<'PY' || fail "lock-extend --dry-run: $(head -c 400 "$T/retain.json")"
import json, sys
v = json.load(open(sys.argv[1]))
names = [o["object"] for o in v]
assert "config" in names and any(n.startswith("keys/") for n in names), names
assert sum(n.startswith("snapshots/") for n in names) == 1, names
assert any(n.startswith("data/") for n in names), names
assert len(set(names)) == len(names), "an object listed twice"
assert all(o["retain_until"].endswith("Z") for o in v), v
PY
expect_clean_failure "lock-extend without a backend operation" \
	drfs lock-extend "$REPO" --keep-within 30d
expect_clean_failure "lock-extend without a window" drfs lock-extend "$REPO"

# ---- a corrupted pack -------------------------------------------------------
pack=$(largest_pack)
[ -n "$pack" ] || fail "no pack found"
corrupt "$pack"
info "corrupted $pack"
run_nocrash "drill of a corrupted repository" drfs drill "$REPO"
[ "$RC" != 0 ] || fail "drill passed although $pack is corrupted"
grep -E 'drill: "[^"/][^"]*":' "$T/last.err" >/dev/null ||
	{ cat "$T/last.err" >&2; fail "drill did not name the damaged file"; }
info "drill named: $(grep -m1 -E 'drill: "' "$T/last.err")"
grep -q 'FAILED' "$T/last.out" || fail "drill output does not say FAILED"
run_nocrash "drill --json of a corrupted repository" drfs drill "$REPO" --json
[ "$RC" != 0 ] || fail "drill --json passed although $pack is corrupted"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["ok"] is False and d["mismatches"] > 0, d' "$T/last.out" ||
	fail "drill --json: $(cat "$T/last.out")"

# the rotation (docs/verification.md): a run reads the third of the packs
# verified longest ago; a pack with a problem keeps its old time, so once a
# run found it every later run finds it again
found=0
for i in 1 2 3; do
	run_nocrash "check --read-data-subset $i/3" drfs check "$REPO" --read-data-subset "$i/3"
	if [ "$RC" != 0 ]; then
		found=$((found + 1))
	elif [ "$found" != 0 ]; then
		fail "run $i of --read-data-subset passed after one found the corrupted pack"
	fi
done
[ "$found" -ge 1 ] || fail "3 runs of --read-data-subset 1/3 did not find the corrupted pack"
run_nocrash "check --read-data" drfs check "$REPO" --read-data
[ "$RC" != 0 ] || fail "check --read-data passed although $pack is corrupted"
echo "dr_drill: ok"
