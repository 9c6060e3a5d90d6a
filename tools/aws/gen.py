#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gen.py - write the CloudFormation templates of tools/aws/ from the
request sets drfs was recorded making (tools/aws/requests.json).

    python3 tools/aws/gen.py            rewrite drfs.json and drfs-replica.json
    python3 tools/aws/gen.py --check    exit 1 if they differ from what it
                                        would write (run by the test suite)
    python3 tools/aws/gen.py --table    the request table of
                                        docs/disaster-recovery.md (markdown)

drfs-replica.json: the replica bucket, deployed first, in a second region.
drfs.json: the primary bucket (replicated to the replica), one IAM role per
drfs role (writer, reader, pruner, mirror) whose policy grants exactly the
actions of the requests the role's commands make, on exactly the prefixes
they make them on, and a bucket policy that makes the writer and mirror
roles create-only. tools/aws/check.py checks the result independently.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def load_contract():
    return json.load(open(os.path.join(HERE, "requests.json")))


def role_classes(contract, role):
    """The request classes of a role's commands, less those refused."""
    r = contract["roles"][role]
    out = {}
    for spec in r["commands"]:
        cmd, _, side = spec.partition("/")
        c = contract["commands"][cmd]
        if side:
            c = c[side]
        for cls in c["required"] + c["optional"]:
            if cls not in r["refused"]:
                out.setdefault(side or "", set()).add(cls)
    return out


def grants(contract, classes):
    """(action, target) pairs for request classes."""
    out = set()
    for cls in classes:
        verb, target = cls.split(" ", 1)
        for a in contract["actions"][verb]:
            out.add((a, target))
    return out


def obj_arn(bucket_ref, target):
    """The ARN of a target's objects: "data/" -> .../PREFIXdata/*."""
    if target == "*":
        raise ValueError("objects have a name")
    suffix = target + "*" if target.endswith("/") else target
    return {"Fn::Sub": "arn:${AWS::Partition}:s3:::${%s}/${RepoPrefix}%s"
            % (bucket_ref, suffix)}


def bucket_arn(bucket_ref):
    return {"Fn::Sub": "arn:${AWS::Partition}:s3:::${%s}" % bucket_ref}


def statements(pairs, bucket_ref, sid):
    """Allow statements for (action, target) pairs on one bucket: one per
    action, its resources the targets' ARNs (ListBucket on the bucket).

    ListBucket is not limited to the repository's prefix (s3:prefix): S3
    answers a HEAD or GET of a missing object with 404 only to whom may
    list the bucket, and that check carries no prefix - with the condition
    every "not there yet" would be a 403."""
    by_action = {}
    for a, t in sorted(pairs):
        by_action.setdefault(a, []).append(t)
    out = []
    for a, targets in sorted(by_action.items()):
        name = sid + a.split(":")[1]
        if a == "s3:ListBucket":
            out.append({"Sid": name, "Effect": "Allow", "Action": a,
                        "Resource": bucket_arn(bucket_ref)})
        elif a == "s3:CreateBucket":
            continue  # the template creates the buckets
        else:
            out.append({"Sid": name, "Effect": "Allow", "Action": a,
                        "Resource": [obj_arn(bucket_ref, t)
                                     for t in sorted(set(targets))]})
    return out


def bucket_props(replica):
    p = {
        "VersioningConfiguration": {"Status": "Enabled"},
        "ObjectLockEnabled": True,
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
             "BucketKeyEnabled": True}]},
        "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True, "BlockPublicPolicy": True,
            "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
        "OwnershipControls": {"Rules": [
            {"ObjectOwnership": "BucketOwnerEnforced"}]},
        "LifecycleConfiguration": {"Rules": [
            {"Id": "drfs-noncurrent", "Status": "Enabled",
             "NoncurrentVersionExpiration": {
                 "NoncurrentDays": {"Ref": "NoncurrentDays"}},
             "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
            {"Id": "drfs-delete-markers", "Status": "Enabled",
             "ExpiredObjectDeleteMarker": True}]},
    }
    p["BucketName"] = {"Ref": "ReplicaBucketName" if replica
                       else "BucketName"}
    return p


def params(replica):
    p = {
        "NoncurrentDays": {
            "Type": "Number", "Default": 30, "MinValue": 1,
            "Description": "days a deleted or replaced version stays "
                           "(after its Object Lock retention)"},
    }
    if replica:
        p["ReplicaBucketName"] = {
            "Type": "String", "Description": "the replica bucket "
            "(in another region than the primary)"}
        return p
    p.update({
        "BucketName": {"Type": "String",
                       "Description": "the primary bucket"},
        "RepoPrefix": {"Type": "String", "Default": "",
                       "AllowedPattern": "^$|^[A-Za-z0-9._/-]*/$",
                       "Description": "the repository's prefix with a "
                       "trailing slash (s3://BUCKET/host1 -> host1/), or "
                       "empty"},
        "ReplicaBucketArn": {"Type": "String",
                             "Description": "Outputs.ReplicaBucketArn of "
                             "the drfs-replica stack"},
        "MirrorBucketName": {"Type": "String", "Default": "",
                             "Description": "a bucket drfs mirror keeps "
                             "(empty: no mirror role)"},
        "TrustedPrincipal": {"Type": "String", "Default": "",
                             "Description": "an IAM principal ARN allowed "
                             "to assume the roles besides EC2 instances "
                             "(empty: EC2 only)"},
    })
    return p


def role(name, about, policy_statements, cond=None):
    r = {"Type": "AWS::IAM::Role", "Properties": {
        "Description": "drfs %s: %s" % (name, about),
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow",
                 "Principal": {"Service": "ec2.amazonaws.com"},
                 "Action": "sts:AssumeRole"},
                {"Fn::If": ["HasTrustedPrincipal",
                            {"Effect": "Allow",
                             "Principal": {"AWS": {"Ref": "TrustedPrincipal"}},
                             "Action": "sts:AssumeRole"},
                            {"Ref": "AWS::NoValue"}]}]},
        "Policies": [{"PolicyName": "drfs-" + name, "PolicyDocument": {
            "Version": "2012-10-17", "Statement": policy_statements}}]}}
    if cond:
        r["Condition"] = cond
    return r


def primary(contract):
    res = {
        "PrimaryBucket": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain",
                          "UpdateReplacePolicy": "Retain",
                          "Properties": bucket_props(False)},
        "ReplicationRole": {"Type": "AWS::IAM::Role", "Properties": {
            "Description": "S3 replication of the drfs bucket",
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                 "Action": "sts:AssumeRole"}]},
            "Policies": [{"PolicyName": "drfs-replication", "PolicyDocument": {
                "Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow",
                     "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                     "Resource": bucket_arn("BucketName")},
                    {"Effect": "Allow",
                     "Action": ["s3:GetObjectVersionForReplication",
                                "s3:GetObjectVersionAcl",
                                "s3:GetObjectVersionTagging",
                                "s3:GetObjectRetention", "s3:GetObjectLegalHold"],
                     "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${BucketName}/*"}},
                    {"Effect": "Allow",
                     "Action": ["s3:ReplicateObject", "s3:ReplicateDelete",
                                "s3:ReplicateTags"],
                     "Resource": {"Fn::Sub": "${ReplicaBucketArn}/*"}}]}}]}},
    }
    res["PrimaryBucket"]["Properties"]["ReplicationConfiguration"] = {
        "Role": {"Fn::GetAtt": ["ReplicationRole", "Arn"]},
        "Rules": [{"Id": "drfs-replica", "Status": "Enabled", "Priority": 1,
                   "Filter": {"Prefix": ""},
                   "DeleteMarkerReplication": {"Status": "Enabled"},
                   "Destination": {"Bucket": {"Ref": "ReplicaBucketArn"}}}]}
    names = {"writer": "WriterRole", "reader": "ReaderRole",
             "pruner": "PrunerRole", "mirror": "MirrorRole"}
    for r, logical in names.items():
        cls = role_classes(contract, r)
        if r == "mirror":
            st = statements(grants(contract, cls["src"]), "BucketName", "Source")
            st += statements(grants(contract, cls["dst"]), "MirrorBucketName",
                             "Mirror")
        else:
            st = statements(grants(contract, set().union(*cls.values())),
                            "BucketName", "Repo")
        res[logical] = role(r, contract["roles"][r]["about"], st,
                            "HasMirror" if r == "mirror" else None)
        prof = {"Type": "AWS::IAM::InstanceProfile",
                "Properties": {"Roles": [{"Ref": logical}]}}
        if r == "mirror":
            prof["Condition"] = "HasMirror"
        res[logical.replace("Role", "InstanceProfile")] = prof
    # create-only for the roles that write: a PUT (or a multipart
    # completion) without If-None-Match is refused; the roles that do not
    # prune never delete, never touch retention or the bucket's settings
    create_only = [{"Fn::GetAtt": ["WriterRole", "Arn"]},
                   {"Fn::If": ["HasMirror", {"Fn::GetAtt": ["MirrorRole", "Arn"]},
                               {"Ref": "AWS::NoValue"}]}]
    never = [{"Fn::GetAtt": ["WriterRole", "Arn"]},
             {"Fn::GetAtt": ["ReaderRole", "Arn"]}]
    res["PrimaryBucketPolicy"] = {"Type": "AWS::S3::BucketPolicy", "Properties": {
        "Bucket": {"Ref": "PrimaryBucket"},
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Sid": "CreateOnly", "Effect": "Deny",
             "Principal": {"AWS": create_only}, "Action": "s3:PutObject",
             "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${BucketName}/*"},
             "Condition": {"Null": {"s3:if-none-match": "true"},
                           "Bool": {"s3:ObjectCreationOperation": "true"}}},
            {"Sid": "NeverDestroy", "Effect": "Deny", "Principal": {"AWS": never},
             "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion",
                        "s3:PutObjectRetention", "s3:BypassGovernanceRetention",
                        "s3:PutBucketPolicy", "s3:PutLifecycleConfiguration",
                        "s3:PutBucketVersioning", "s3:PutBucketObjectLockConfiguration"],
             "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:s3:::${BucketName}"},
                          {"Fn::Sub": "arn:${AWS::Partition}:s3:::${BucketName}/*"}]},
            {"Sid": "TLSOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:s3:::${BucketName}"},
                          {"Fn::Sub": "arn:${AWS::Partition}:s3:::${BucketName}/*"}],
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}}}
    outputs = {"BucketName": {"Value": {"Ref": "PrimaryBucket"}}}
    for r, logical in names.items():
        o = {"Value": {"Fn::GetAtt": [logical, "Arn"]}}
        if r == "mirror":
            o["Condition"] = "HasMirror"
        outputs[logical + "Arn"] = o
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "drfs: the primary backup bucket (versioned, Object "
                       "Lock, replicated) and one least-privilege IAM role "
                       "per drfs role, derived from tools/aws/requests.json "
                       "by tools/aws/gen.py (do not edit by hand)",
        "Parameters": params(False),
        "Conditions": {
            "HasMirror": {"Fn::Not": [{"Fn::Equals": [{"Ref": "MirrorBucketName"}, ""]}]},
            "HasTrustedPrincipal": {"Fn::Not": [{"Fn::Equals": [{"Ref": "TrustedPrincipal"}, ""]}]}},
        "Resources": res,
        "Outputs": outputs,
    }


def replica():
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "drfs: the replica bucket, in a second region "
                       "(deploy it before drfs.json), by tools/aws/gen.py",
        "Parameters": params(True),
        "Resources": {"ReplicaBucket": {
            "Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain", "Properties": bucket_props(True)}},
        "Outputs": {"ReplicaBucketArn": {
            "Value": {"Fn::GetAtt": ["ReplicaBucket", "Arn"]}}},
    }


def table(contract):
    """The request sets as a markdown table: one row per command (side)."""
    cols = (("LIST", ("LIST",)), ("GET, HEAD", ("GET", "HEAD")),
            ("PUT with If-None-Match", ("PUT+INM", "MPU-COMPLETE+INM")),
            ("other", None), ("DELETE", ("DELETE",)))
    rows = ["| command | " + " | ".join(c for c, _ in cols) + " |",
            "|---" * (len(cols) + 1) + "|"]

    def fmt(targets):
        return " ".join("`%s`" % t for t in sorted(targets)) or "-"

    for cmd, c in contract["commands"].items():
        for side, e in ([("", c)] if "required" in c else sorted(c.items())):
            classes = e["required"] + e["optional"]
            cells = []
            for _, verbs in cols:
                if verbs is None:
                    other = sorted({x for x in classes
                                    if x.split(" ")[0] not in
                                    ("LIST", "GET", "HEAD", "PUT+INM",
                                     "DELETE", "MPU-COMPLETE+INM",
                                     "MPU-CREATE", "MPU-PART", "MPU-ABORT")})
                    cells.append(" ".join("`%s`" % x for x in other) or "-")
                    continue
                cells.append(fmt({x.split(" ", 1)[1] for x in classes
                                  if x.split(" ")[0] in verbs}))
            name = cmd + (" (%s)" % side if side else "")
            rows.append("| %s | %s |" % (name, " | ".join(cells)))
    return "\n".join(rows) + "\n"


def main(argv):
    contract = load_contract()
    if argv[:1] == ["--table"]:
        sys.stdout.write(table(contract))
        return 0
    out = {"drfs.json": primary(contract), "drfs-replica.json": replica()}
    bad = 0
    for name, t in out.items():
        text = json.dumps(t, indent=1) + "\n"
        path = os.path.join(HERE, name)
        if argv[:1] == ["--check"]:
            if not os.path.exists(path) or open(path).read() != text:
                print("%s is not what gen.py writes from requests.json "
                      "(run python3 tools/aws/gen.py)" % path)
                bad = 1
        else:
            open(path, "w").write(text)
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
