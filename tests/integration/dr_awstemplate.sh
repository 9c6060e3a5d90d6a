#!/bin/bash
# The AWS side as code, checked offline (no network, no AWS account):
# tools/aws/drfs.json and drfs-replica.json are what tools/aws/gen.py
# derives from the recorded request sets (tools/aws/requests.json, kept
# true by dr_requests), and tools/aws/check.py passes: the templates parse
# and every reference resolves, the buckets are versioned, Object Lock,
# expiring noncurrent versions, public access blocked, encrypted, and the
# primary replicates; each role's policy grants exactly the actions its
# commands use, on exactly their prefixes, and the writer and mirror roles
# are create-only. Then the checker is shown to catch each kind of drift
# (an action too many, one missing, a whole-bucket resource, versioning
# off, a dangling Ref, create-only dropped) - a check that cannot fail
# proves nothing.
#
# Runs once (the local variant); the s3 variant skips (no S3 involved).
source "$(dirname "$0")/lib.sh"
[ "$DRFS_TEST_BACKEND" = local ] || skip "offline: the local variant runs it"
SRCDIR=${DRFS_SRC:-$LIB_DIR/../..}
AWS=$SRCDIR/tools/aws

python3 "$AWS/gen.py" --check || fail "the templates are not what gen.py derives from requests.json"
python3 "$AWS/check.py" >"$T/check.out" || { cat "$T/check.out" >&2; fail "tools/aws/check.py"; }
info "$(cat "$T/check.out")"

# mutate NAME PYTHON — a copy of tools/aws with PYTHON applied to t (the
# primary template) and r (the replica's); check.py must fail naming it
mutate() {
	local name=$1 code=$2 d=$T/mut-$1
	mkdir -p "$d"
	cp "$AWS"/requests.json "$AWS"/drfs.json "$AWS"/drfs-replica.json "$d/"
	python3 - "$d" <<PY
import json, sys
d = sys.argv[1]
t = json.load(open(d + "/drfs.json"))
r = json.load(open(d + "/drfs-replica.json"))
def stmts(role):
    return t["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
$code
json.dump(t, open(d + "/drfs.json", "w"))
json.dump(r, open(d + "/drfs-replica.json", "w"))
PY
	if python3 "$AWS/check.py" "$d" >"$T/mut.out"; then
		fail "check.py accepted the template with $name"
	fi
	info "$name: $(head -n 1 "$T/mut.out")"
}
mutate extra-action 'stmts("WriterRole").append({"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${BucketName}/${RepoPrefix}data/*"}})'
mutate missing-action 'st = stmts("ReaderRole"); st[:] = [s for s in st if s["Action"] != "s3:GetObject"]'
mutate whole-bucket 'stmts("PrunerRole").append({"Effect": "Allow", "Action": "s3:GetObject", "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${BucketName}/${RepoPrefix}*"}})'
mutate unversioned 'r["Resources"]["ReplicaBucket"]["Properties"]["VersioningConfiguration"]["Status"] = "Suspended"'
mutate dangling-ref 't["Resources"]["PrimaryBucketPolicy"]["Properties"]["Bucket"] = {"Ref": "NoSuchBucket"}'
mutate not-create-only 'p = t["Resources"]["PrimaryBucketPolicy"]["Properties"]["PolicyDocument"]; p["Statement"] = [s for s in p["Statement"] if s.get("Sid") != "CreateOnly"]'
mutate public 't["Resources"]["PrimaryBucket"]["Properties"]["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] = False'
mutate no-replication 'del t["Resources"]["PrimaryBucket"]["Properties"]["ReplicationConfiguration"]'
echo "dr_awstemplate: ok"
