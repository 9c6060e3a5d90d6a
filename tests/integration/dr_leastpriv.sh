#!/bin/bash
# Least privilege on RadosGW, with real users (radosgw-admin) and the bucket
# policy tools/aws/rgw-policy.py derives from the same role policies as the
# AWS template:
#  - the writer inits, backs up (twice) and reads; prune is refused with a
#    clear message; init and check say the server lets it overwrite (RadosGW
#    accepts the create-only statement but never applies it);
#  - the reader restores, drills and checks (check says it cannot
#    overwrite); its backup is refused clearly;
#  - the bucket owner cannot read what the writer wrote until the policy
#    allows it (RadosGW gives objects to their writer), then can;
#  - the pruner forgets and prunes what the writer wrote; beside a mount
#    running with the writer's keys, the pruner's prune (its own cache)
#    defers the deletion, and its next run after the mount ended deletes;
#  - the attack the versioned bucket answers: the writer overwrites config
#    with garbage (allowed on RadosGW), the repository no longer opens, the
#    owner puts the previous version back, it opens again;
#  - Object Lock: the pruner's lock-extend extends governance retention;
#    with --compliance, the conversion it may not make (the governance
#    bypass is denied) is reported for each object, the run goes on, the
#    retention stays governance and extended, exit 3; the owner converts;
#    check counts the protected snapshots.
#
# local: skipped (S3 users); the s3 variant runs it (needs radosgw-admin on
# the test server: DRFS_TEST_RGW_CONF).
source "$(dirname "$0")/lib.sh"
[ "$DRFS_TEST_BACKEND" = s3 ] || skip "users and bucket policies are S3's (see the s3 variant)"
make_repo
need_rgw_admin
python3 -c 'import boto3' 2>/dev/null || skip "python3-boto3 is not installed"
SRCDIR=${DRFS_SRC:-$LIB_DIR/../..}
OWNER_UID=$(rgw_admin user info --access-key="$AWS_ACCESS_KEY_ID" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["user_id"])')
rgw_user writer; W_UID=$RGW_UID W_AK=$RGW_AK W_SK=$RGW_SK
rgw_user reader; R_UID=$RGW_UID R_AK=$RGW_AK R_SK=$RGW_SK
rgw_user pruner; P_UID=$RGW_UID P_AK=$RGW_AK P_SK=$RGW_SK

# as WHO CMD... — CMD with that user's keys and cache
as() {
	local who=$1
	shift
	case $who in
	writer) AWS_ACCESS_KEY_ID=$W_AK AWS_SECRET_ACCESS_KEY=$W_SK "$@" ;;
	reader) AWS_ACCESS_KEY_ID=$R_AK AWS_SECRET_ACCESS_KEY=$R_SK "$@" ;;
	pruner) AWS_ACCESS_KEY_ID=$P_AK AWS_SECRET_ACCESS_KEY=$P_SK "$@" ;;
	owner) "$@" ;;
	esac
}
# dr WHO CMD ARGS... — drfs CMD with WHO's keys and its own cache (one per
# repository: $CS names the repository's)
CS=
dr() {
	local who=$1 cmd=$2
	shift 2
	as "$who" "$DRFS" "$cmd" --cache-dir "$T/cache-$who$CS" "$@"
}
# policy BUCKET [--owner] — the bucket policy of the drfs roles on BUCKET
policy() {
	local b=$1
	shift
	python3 "$SRCDIR/tools/aws/rgw-policy.py" --bucket "$b" --prefix host1/ \
		--writer "$W_UID" --reader "$R_UID" --pruner "$P_UID" "$@" >"$T/policy.json"
	s3py "s3.put_bucket_policy(Bucket='$b', Policy=open(sys.argv[1]).read())" "$T/policy.json"
}

B=drfs-test-lp-$(_rand_lower 10)
REPO=s3://$B/host1/ # the trailing / for lib.sh's obj_put
s3py "s3.create_bucket(Bucket='$B')
s3.put_bucket_versioning(Bucket='$B', VersioningConfiguration={'Status': 'Enabled'})"
policy "$B"

SRC=$T/src
mkdir -p "$SRC/d"
seeded_bytes "$SEED" $((2 << 20)) >"$SRC/big"
echo one >"$SRC/d/small"

# ---- the writer ---------------------------------------------------------------
run_nocrash "init as the writer" dr writer init "$REPO"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "init as the writer failed"; }
grep -q 'can overwrite objects' "$T/last.err" ||
	fail "init did not say the credentials can overwrite (RadosGW ignores the create-only statement): $(cat "$T/last.err")"
dr writer backup "$REPO" "$SRC" -q >/dev/null || fail "backup 1 as the writer"
echo two >"$SRC/d/small"
dr writer backup "$REPO" "$SRC" -q >/dev/null || fail "backup 2 as the writer"
expect_clean_failure "prune as the writer" dr writer prune "$REPO" --keep-last 1
grep -qiE 'denied|permission|refused|forbidden' "$T/last.err" ||
	fail "the writer's refused prune is not explained: $(cat "$T/last.err")"

# ---- the reader ---------------------------------------------------------------
dr reader restore "$REPO" latest "$T/out" -q || fail "restore as the reader"
treecmp "$SRC" "$T/out" >/dev/null || fail "the reader's restore differs"
dr reader drill "$REPO" >/dev/null || fail "drill as the reader"
run_nocrash "check as the reader" dr reader check "$REPO"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "check as the reader failed"; }
grep -q 'cannot overwrite objects' "$T/last.err" ||
	fail "check as the reader did not report it cannot overwrite: $(cat "$T/last.err")"
echo three >"$SRC/d/small"
expect_clean_failure "backup as the reader" dr reader backup "$REPO" "$SRC"

# ---- the owner: objects belong to their writer on RadosGW -----------------------
expect_clean_failure "the owner without an Allow" dr owner snapshots "$REPO"
grep -qiE '403|access ?denied' "$T/last.err" ||
	fail "the owner's refusal is not a 403: $(cat "$T/last.err")"
policy "$B" --owner "$OWNER_UID"
dr owner snapshots "$REPO" >/dev/null || fail "the owner cannot list snapshots with the Allow"

# ---- the pruner -------------------------------------------------------------------
dr pruner prune "$REPO" --keep-last 1 >/dev/null 2>"$T/prune.err" ||
	{ cat "$T/prune.err" >&2; fail "prune as the pruner"; }
n=$(dr reader snapshots "$REPO" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = 1 ] || fail "the pruner's prune left $n snapshots, want 1"

# ---- the prune timer beside a least-privilege mount ----------------------------
# The mount runs with the writer's keys (it cannot delete); the pruner runs
# from its own cache (not handed to the mount): the deletion is deferred
# while the mount lives, and the pruner's next run after it ended deletes.
echo four >"$SRC/d/small"
dr writer backup "$REPO" "$SRC" -q >/dev/null || fail "backup 3 as the writer"
# the pack only the snapshot to forget uses (backup 2's) must be older
# than the mount's watermark less prune's 5 s slack (gc.c, RECENT_SLACK),
# else prune keeps it as a live writer's and there is nothing to defer
sleep 6
AWS_ACCESS_KEY_ID=$W_AK AWS_SECRET_ACCESS_KEY=$W_SK CACHE=$T/cache-writer-mount \
	mount_repo "$T/mnt" --no-snapshot-on-unmount
dr pruner prune "$REPO" --keep-last 1 >"$T/dprune.out" 2>&1 ||
	{ cat "$T/dprune.out" >&2; fail "prune as the pruner beside the writer's mount"; }
grep -q 'deletion deferred' "$T/dprune.out" ||
	fail "the pruner's prune beside a live mount did not defer: $(cat "$T/dprune.out")"
[ -f "$T/mnt/latest/d/small" ] || fail "the mount lost its latest snapshot"
mpid=$(daemon_pid "$T/mnt") || fail "cannot read the mount's pid"
umount_repo "$T/mnt"
# its lock object stays (the writer cannot delete it); it ends with its
# process
for _ in $(seq 1 100); do kill -0 "$mpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$mpid" 2>/dev/null && fail "the mount's daemon did not exit"
dr pruner prune "$REPO" --keep-last 1 >"$T/dprune2.out" 2>&1 ||
	{ cat "$T/dprune2.out" >&2; fail "the pruner's prune after the mount ended"; }
grep -q 'finished 1 earlier deletion record' "$T/dprune2.out" ||
	fail "the deferred deletion was not finished after the mount ended: $(cat "$T/dprune2.out")"

# ---- an overwrite the server allows, undone from the versioned bucket -------------
printf 'garbage' >"$T/garbage"
AWS_ACCESS_KEY_ID=$W_AK AWS_SECRET_ACCESS_KEY=$W_SK obj_put config "$T/garbage" ||
	fail "the writer could not overwrite config (did RadosGW start applying create-only? update docs/disaster-recovery.md)"
expect_clean_failure "open after config was overwritten" dr reader snapshots "$REPO" --cache-dir "$T/fresh"
s3py "
v = s3.list_object_versions(Bucket='$B', Prefix='host1/config')['Versions']
v = sorted(v, key=lambda x: x['LastModified'])
assert len(v) >= 2, v
old = s3.get_object(Bucket='$B', Key='host1/config', VersionId=v[-2]['VersionId'])['Body'].read()
s3.put_object(Bucket='$B', Key='host1/config', Body=old)"
dr reader snapshots "$REPO" >/dev/null || fail "the repository does not open after the owner put config back"

# ---- Object Lock: conversion refused per object, the run goes on -------------------
B2=drfs-test-lp-lock-$(_rand_lower 8)
REPO2=s3://$B2/host1
CS=-lock
s3py "s3.create_bucket(Bucket='$B2', ObjectLockEnabledForBucket=True)"
policy "$B2" --owner "$OWNER_UID"
dr writer init "$REPO2" >/dev/null 2>&1 || fail "init of the Object Lock repository"
dr writer backup "$REPO2" "$SRC" -q >/dev/null || fail "backup to the Object Lock bucket"
dr pruner lock-extend "$REPO2" --keep-within 2m >"$T/le1.out" 2>"$T/le1.err" ||
	{ cat "$T/le1.err" >&2; fail "lock-extend (governance) as the pruner"; }
n_obj=$(grep -c ' extended$' "$T/le1.out" || true)
[ "$n_obj" -ge 4 ] || fail "lock-extend extended $n_obj objects: $(cat "$T/le1.out")"
run_nocrash "lock-extend --compliance as the pruner" dr pruner lock-extend "$REPO2" \
	--keep-within 3m --compliance
[ "$RC" = 3 ] || { cat "$T/last.err" >&2; fail "lock-extend --compliance without the bypass: exit $RC, want 3"; }
n_nc=$(grep -c 'could not be converted to compliance' "$T/last.err" || true)
[ "$n_nc" = "$n_obj" ] ||
	fail "want each of the $n_obj objects reported not converted, got $n_nc: $(cat "$T/last.err")"
grep -c ' not-converted$' "$T/last.out" | grep -qx "$n_obj" ||
	fail "the run did not go on over every object: $(cat "$T/last.out")"
s3py "
import datetime
for o in s3.list_objects_v2(Bucket='$B2', Prefix='host1/snapshots/')['Contents']:
    r = s3.get_object_retention(Bucket='$B2', Key=o['Key'])['Retention']
    left = (r['RetainUntilDate'] - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    assert r['Mode'] == 'GOVERNANCE', r
    assert left > 120, 'not extended to the 3 minute window: %r' % r" ||
	fail "the snapshot's retention is not governance extended to the new window"
# the owner may bypass governance: it converts
dr owner lock-extend "$REPO2" --keep-within 3m --compliance >"$T/le3.out" 2>"$T/le3.err" ||
	{ cat "$T/le3.err" >&2; fail "lock-extend --compliance as the owner"; }
grep -q ' converted$' "$T/le3.out" || fail "the owner converted nothing: $(cat "$T/le3.out")"
s3py "
for o in s3.list_objects_v2(Bucket='$B2', Prefix='host1/snapshots/')['Contents']:
    r = s3.get_object_retention(Bucket='$B2', Key=o['Key'])['Retention']
    assert r['Mode'] == 'COMPLIANCE', r" || fail "the owner's conversion did not make compliance"
dr owner check "$REPO2" >/dev/null 2>"$T/check2.err" || { cat "$T/check2.err" >&2; fail "check of the locked repository"; }
grep -q 'Object Lock: 1 of 1 snapshot(s) protected' "$T/check2.err" ||
	fail "check did not report the protected snapshot: $(cat "$T/check2.err")"
info "writer, reader, pruner and owner as documented; $n_obj objects not converted without the bypass, each reported"
echo "dr_leastpriv: ok"
