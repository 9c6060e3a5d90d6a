#!/bin/bash
# S3 Object Lock: backups work on a bucket created with Object Lock, and
# `drfs lock-extend --keep-within 30d` puts a governance retention on
# exactly the objects reachable from the snapshots inside the window, each
# until its planned time (checked with an independent client, boto3): the
# pack that only a snapshot outside the window uses gets none; a second run
# changes nothing and a shorter window never shortens a retention; prune
# names the removed packs that stay retained. On a bucket without Object
# Lock and on a local repository lock-extend fails clearly.
#
# local: skipped (a directory has no Object Lock); the s3 variant runs it.
source "$(dirname "$0")/lib.sh"
[ "$DRFS_TEST_BACKEND" = s3 ] || skip "Object Lock needs S3 (see the s3 variant)"
make_repo
PY=/usr/bin/python3
$PY -c 'import boto3' 2>/dev/null || skip "python3-boto3 is not installed"

BUCKET=drfs-test-lock-$(_rand_lower 10)
REPO=s3://$BUCKET/
s3py() { # python code with s3 = a boto3 client of the test server
	$PY -c "
import boto3, datetime, json, sys
s3 = boto3.client('s3', endpoint_url='$DRFS_TEST_S3_ENDPOINT', region_name='${AWS_REGION:-us-east-1}')
$1" "${@:2}"
}
s3py "s3.create_bucket(Bucket='$BUCKET', ObjectLockEnabledForBucket=True)"

# three snapshots: 60 days ago (outside a 30-day window), 5 days ago, now;
# each with data of its own, so each has a pack of its own
mkdir -p "$T/src"
day=86400
now=$(date +%s)
drfs init "$REPO" >/dev/null
seeded_bytes "$SEED" 300000 >"$T/src/old"
drfs backup "$REPO" "$T/src" --time "$(date -u -d "@$((now - 60 * day))" +%FT%TZ)" >/dev/null
seeded_bytes $((SEED + 1)) 300000 >"$T/src/mid"
rm "$T/src/old"
drfs backup "$REPO" "$T/src" --time "$(date -u -d "@$((now - 5 * day))" +%FT%TZ)" >/dev/null
seeded_bytes $((SEED + 2)) 300000 >"$T/src/new"
drfs backup "$REPO" "$T/src" >/dev/null
drfs restore "$REPO" latest "$T/out" -q
cmp "$T/src/new" "$T/out/new" || fail "restore from the Object Lock bucket differs"

drfs lock-extend "$REPO" --keep-within 30d --dry-run --json >"$T/plan.json" 2>"$T/plan.err" ||
	{ cat "$T/plan.err" >&2; fail "lock-extend --dry-run failed"; }
s3py "
plan = json.load(open(sys.argv[1]))
for o in plan:
    try:
        s3.get_object_retention(Bucket='$BUCKET', Key=o['object'])
        sys.exit('dry run set a retention on ' + o['object'])
    except s3.exceptions.ClientError:
        pass
" "$T/plan.json" || fail "the dry run changed something"

drfs lock-extend "$REPO" --keep-within 30d >"$T/apply.out" 2>"$T/apply.err" ||
	{ cat "$T/apply.err" >&2; fail "lock-extend failed"; }
info "$(tail -n 1 "$T/apply.err")"
s3py "
plan = {o['object']: o['retain_until'] for o in json.load(open(sys.argv[1]))}
assert 'config' in plan and any(k.startswith('keys/') for k in plan), plan
snaps = [k for k in plan if k.startswith('snapshots/')]
assert len(snaps) == 2, 'want the 2 snapshots inside the window: %r' % snaps
def until(k):
    r = s3.get_object_retention(Bucket='$BUCKET', Key=k)['Retention']
    assert r['Mode'] == 'GOVERNANCE', (k, r)
    return int(r['RetainUntilDate'].timestamp())
for k, t in plan.items():
    want = int(datetime.datetime.strptime(t, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc).timestamp())
    got = until(k)
    assert got == want, '%s: retained until %d, planned %d' % (k, got, want)
# everything else (the old snapshot and the pack only it uses, index/,
# locks/) has no retention
others = []
for page in s3.get_paginator('list_objects_v2').paginate(Bucket='$BUCKET'):
    others += [o['Key'] for o in page.get('Contents', []) if o['Key'] not in plan]
old = [k for k in others if k.startswith('snapshots/') or k.startswith('data/')]
assert len([k for k in old if k.startswith('snapshots/')]) == 1, old
assert any(k.startswith('data/') for k in old), 'no pack outside the window: %r' % old
for k in others:
    try:
        r = s3.get_object_retention(Bucket='$BUCKET', Key=k)
        sys.exit('%s is outside the window but retained: %r' % (k, r['Retention']))
    except s3.exceptions.ClientError:
        pass
print('%d objects retained as planned, %d left alone' % (len(plan), len(others)))
" "$T/plan.json" >"$T/verify.out" || fail "retention differs from the plan"
info "$(cat "$T/verify.out")"

# again: nothing to do; a shorter window never shortens
drfs lock-extend "$REPO" --keep-within 30d 2>"$T/again.err" >/dev/null ||
	{ cat "$T/again.err" >&2; fail "second lock-extend failed"; }
grep -q 'extended on 0,' "$T/again.err" || fail "second run extended something: $(cat "$T/again.err")"
drfs lock-extend "$REPO" --keep-within 1d 2>"$T/short.err" >/dev/null ||
	{ cat "$T/short.err" >&2; fail "lock-extend with a shorter window failed"; }
grep -q 'extended on 0,' "$T/short.err" || fail "a shorter window changed retention: $(cat "$T/short.err")"
cfg_until=$(s3py "print(int(s3.get_object_retention(Bucket='$BUCKET', Key='config')['Retention']['RetainUntilDate'].timestamp()))")
[ "$cfg_until" -ge $((now + 29 * day)) ] || fail "config's retention was shortened ($cfg_until)"

# prune on the Object Lock bucket: what it removes while retained is named
drfs lock-extend "$REPO" --keep-within 90d >/dev/null 2>"$T/l90.err" ||
	{ cat "$T/l90.err" >&2; fail "lock-extend --keep-within 90d failed"; }
drfs prune "$REPO" --keep-last 1 >"$T/prune.out" 2>&1 ||
	{ cat "$T/prune.out" >&2; fail "prune on the Object Lock bucket failed"; }
grep -q 'Object Lock: [1-9][0-9]* of the [1-9][0-9]* pack(s) removed are retained' "$T/prune.out" ||
	{ cat "$T/prune.out" >&2; fail "prune does not say which removed packs stay retained"; }
info "prune: $(grep 'Object Lock:' "$T/prune.out")"
drfs check "$REPO" --read-data >/dev/null 2>"$T/check.err" ||
	{ cat "$T/check.err" >&2; fail "check after prune on the Object Lock bucket"; }
# check reports which snapshots the lock protects
grep -q 'Object Lock: 1 of 1 snapshot(s) protected' "$T/check.err" ||
	fail "check does not count the protected snapshot: $(cat "$T/check.err")"

# governance -> compliance: converted by whom may bypass governance (the
# owner here), every object; a short window, for compliance cannot be
# lifted (not even to clean up after this test)
CB=drfs-test-lock-c-$(_rand_lower 8)
s3py "s3.create_bucket(Bucket='$CB', ObjectLockEnabledForBucket=True)"
CREPO=s3://$CB/
drfs init "$CREPO" --cache-dir "$T/cc" >/dev/null 2>&1
drfs backup "$CREPO" "$T/src" --cache-dir "$T/cc" >/dev/null
drfs backup "$CREPO" "$T/src" --cache-dir "$T/cc" --time "$(date -u -d "@$((now - 2 * day))" +%FT%TZ)" >/dev/null
drfs lock-extend "$CREPO" --cache-dir "$T/cc" --keep-within 2m >/dev/null 2>"$T/g.err" ||
	{ cat "$T/g.err" >&2; fail "lock-extend (governance) for the conversion"; }
grep -q 'governance mode: the bucket owner' "$T/g.err" ||
	fail "lock-extend in governance mode does not say who can lift it: $(cat "$T/g.err")"
drfs check "$CREPO" --cache-dir "$T/cc" >/dev/null 2>"$T/cc.err" || fail "check of the conversion repository"
grep -q 'Object Lock: 1 of 2 snapshot(s) protected' "$T/cc.err" &&
	grep -q 'snapshot(s) not protected; the oldest: ' "$T/cc.err" ||
	fail "check does not name the oldest snapshot the lock does not protect: $(cat "$T/cc.err")"
drfs lock-extend "$CREPO" --cache-dir "$T/cc" --keep-within 3m --compliance \
	>"$T/c.out" 2>"$T/c.err" || { cat "$T/c.err" >&2; fail "lock-extend --compliance over governance retention"; }
n_conv=$(grep -c ' converted$' "$T/c.out" || true)
[ "$n_conv" -ge 4 ] && [ "$n_conv" = "$(grep -c . "$T/c.out")" ] ||
	fail "not every object was converted: $(cat "$T/c.out")"
s3py "
for page in s3.get_paginator('list_objects_v2').paginate(Bucket='$CB'):
    for o in page.get('Contents', []):
        if o['Key'].split('/')[0] in ('snapshots', 'data', 'keys', 'config'):
            try:
                r = s3.get_object_retention(Bucket='$CB', Key=o['Key'])['Retention']
            except s3.exceptions.ClientError:
                continue  # outside the window
            assert r['Mode'] == 'COMPLIANCE', (o['Key'], r)" ||
	fail "a retention is still governance after --compliance"
info "governance to compliance: $n_conv objects converted"

# where retention cannot be set, the command says so
NOLOCK=s3://drfs-test-nolock-$(_rand_lower 10)/
# (each repository has its own cache directory: drfs refuses to use one
# cache for two repositories)
drfs init "$NOLOCK" >/dev/null
drfs backup "$NOLOCK" "$T/src" --cache-dir "$T/c-nolock" >/dev/null
expect_clean_failure "lock-extend on a bucket without Object Lock" \
	drfs lock-extend "$NOLOCK" --keep-within 30d --cache-dir "$T/c-nolock"
grep -q 'Object Lock' "$T/last.err" || fail "the missing Object Lock is not named"
drfs init "$T/localrepo" >/dev/null
drfs backup "$T/localrepo" "$T/src" --cache-dir "$T/c-local" >/dev/null
expect_clean_failure "lock-extend on a local repository" \
	drfs lock-extend "$T/localrepo" --keep-within 30d --cache-dir "$T/c-local"
grep -q 'Object Lock' "$T/last.err" || fail "local: the reason is not named"
info "ok"
