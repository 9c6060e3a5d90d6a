#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check.py - check the CloudFormation templates of tools/aws/ offline.

    python3 tools/aws/check.py [DIR]   (DIR: where the templates and
                                       requests.json are; default: here)

1. Both templates parse; every resource has a known type; every Ref,
   Fn::GetAtt, Fn::Sub variable and condition names a parameter, a
   resource, a condition or a pseudo parameter.
2. The buckets are what docs/disaster-recovery.md promises: versioned,
   Object Lock on, noncurrent versions expire, public access blocked,
   encrypted at rest, ACLs off; the primary replicates to the replica.
3. The IAM policies against the request sets drfs was recorded making
   (tools/aws/requests.json): for each role, every action its policy
   grants, on each prefix, is one its commands use there, and every
   action they use is granted - except the requests the role is meant to
   have refused, which must be refused (the create-only bucket policy).
Prints what differs; exit 1 if anything does.
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
KNOWN_TYPES = {"AWS::S3::Bucket", "AWS::S3::BucketPolicy", "AWS::IAM::Role",
               "AWS::IAM::InstanceProfile"}
PSEUDO = {"AWS::Partition", "AWS::Region", "AWS::AccountId",
          "AWS::StackName", "AWS::NoValue", "AWS::URLSuffix"}
PROBLEMS = []


def problem(msg):
    PROBLEMS.append(msg)


def walk(node, fn):
    fn(node)
    if isinstance(node, dict):
        for v in node.values():
            walk(v, fn)
    elif isinstance(node, list):
        for v in node:
            walk(v, fn)


def check_refs(name, t):
    params = set(t.get("Parameters", {}))
    res = set(t.get("Resources", {}))
    conds = set(t.get("Conditions", {}))
    for r, body in t["Resources"].items():
        if body.get("Type") not in KNOWN_TYPES:
            problem("%s: %s has type %r" % (name, r, body.get("Type")))
        if "Condition" in body and body["Condition"] not in conds:
            problem("%s: %s: unknown condition %s" % (name, r, body["Condition"]))

    def fn(node):
        if not isinstance(node, dict):
            return
        if "Ref" in node and node["Ref"] not in params | res | PSEUDO:
            problem("%s: Ref to unknown %r" % (name, node["Ref"]))
        if "Fn::GetAtt" in node and node["Fn::GetAtt"][0] not in res:
            problem("%s: GetAtt of unknown %r" % (name, node["Fn::GetAtt"][0]))
        if "Fn::Sub" in node:
            for v in re.findall(r"\$\{([^}!]+)\}", node["Fn::Sub"]):
                if v not in params | res | PSEUDO:
                    problem("%s: Fn::Sub of unknown ${%s}" % (name, v))
        if "Fn::If" in node and node["Fn::If"][0] not in conds:
            problem("%s: Fn::If on unknown condition %r" % (name, node["Fn::If"][0]))
    walk(t, fn)


def check_bucket(name, p):
    def need(cond, what):
        if not cond:
            problem("%s: the bucket is not %s" % (name, what))
    need(p.get("VersioningConfiguration", {}).get("Status") == "Enabled",
         "versioned")
    need(p.get("ObjectLockEnabled") is True, "created with Object Lock")
    rules = p.get("LifecycleConfiguration", {}).get("Rules", [])
    need(any(r.get("Status") == "Enabled" and "NoncurrentVersionExpiration" in r
             for r in rules), "expiring noncurrent versions")
    pab = p.get("PublicAccessBlockConfiguration", {})
    need(all(pab.get(k) is True for k in ("BlockPublicAcls", "BlockPublicPolicy",
                                            "IgnorePublicAcls",
                                            "RestrictPublicBuckets")),
         "blocking public access")
    enc = p.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    need(any(e.get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm")
             for e in enc), "encrypted at rest")
    own = p.get("OwnershipControls", {}).get("Rules", [])
    need(any(o.get("ObjectOwnership") == "BucketOwnerEnforced" for o in own),
         "owner of every object (BucketOwnerEnforced)")


def sub_text(v, values):
    """A string or Fn::Sub with ${...} replaced from values."""
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and "Fn::Sub" in v:
        return re.sub(r"\$\{([^}]+)\}", lambda m: values.get(m.group(1), "?"),
                      v["Fn::Sub"])
    return None


def granted(statements, bucket, prefix, values):
    """(action, target) pairs Allowed on bucket/prefix."""
    out = set()
    for st in statements:
        if st.get("Effect") != "Allow":
            continue
        acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        ress = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        for r in ress:
            arn = sub_text(r, values)
            base = "arn:aws:s3:::" + bucket
            if arn == base:
                for a in acts:
                    out.add((a, "*"))
            elif arn and arn.startswith(base + "/" + prefix):
                rest = arn[len(base + "/" + prefix):]
                if rest == "*":
                    target = "**"  # everything: never least privilege
                elif rest.endswith("/*"):
                    target = rest[:-1]
                else:
                    target = rest
                for a in acts:
                    out.add((a, target))
            else:
                problem("a resource outside the repository: %s" % arn)
    return out


def needed(contract, role, side):
    r = contract["roles"][role]
    use, refused = set(), set()
    for spec in r["commands"]:
        cmd, _, s = spec.partition("/")
        if s != side and side is not None:
            continue
        c = contract["commands"][cmd]
        if s:
            c = c[s]
        for cls in c["required"] + c["optional"]:
            verb, target = cls.split(" ", 1)
            acts = contract["actions"][verb]
            for a in acts:
                (refused if cls in r["refused"] else use).add(
                    (a, target if a != "s3:ListBucket" else "*"))
    # CreateBucket: the template creates the buckets
    use = {u for u in use if u[0] != "s3:CreateBucket"}
    return use, refused


def check_role(name, role, statements, contract, side, bucket, values):
    got = granted(statements, bucket, values["RepoPrefix"], values)
    use, refused = needed(contract, role, side)
    where = role + (" (%s)" % side if side else "")
    for a, t in sorted(got - use):
        if (a, t) in refused:
            continue  # granted, refused by the bucket policy (checked below)
        problem("%s: the policy grants %s on %s, which its commands never use"
                % (where, a, t))
    for a, t in sorted(use - got):
        problem("%s: its commands use %s on %s, which the policy does not grant"
                % (where, a, t))
    return got


def check_create_only(t, roles):
    pol = t["Resources"]["PrimaryBucketPolicy"]["Properties"]["PolicyDocument"]
    deny = [s for s in pol["Statement"] if s.get("Effect") == "Deny" and
            s.get("Action") == "s3:PutObject" and
            s.get("Condition", {}).get("Null", {}).get("s3:if-none-match") == "true"]
    if not deny:
        problem("drfs.json: no bucket statement refuses a PUT without If-None-Match")
        return
    principals = json.dumps(deny[0]["Principal"])
    for r in roles:
        if r not in principals:
            problem("drfs.json: %s is not create-only (bucket policy)" % r)


def main(argv):
    d = argv[0] if argv else HERE
    contract = json.load(open(os.path.join(d, "requests.json")))
    prim = json.load(open(os.path.join(d, "drfs.json")))
    rep = json.load(open(os.path.join(d, "drfs-replica.json")))
    for name, t in (("drfs.json", prim), ("drfs-replica.json", rep)):
        if t.get("AWSTemplateFormatVersion") != "2010-09-09":
            problem("%s: not a CloudFormation template" % name)
        check_refs(name, t)
    check_bucket("drfs.json PrimaryBucket",
                 prim["Resources"]["PrimaryBucket"]["Properties"])
    check_bucket("drfs-replica.json ReplicaBucket",
                 rep["Resources"]["ReplicaBucket"]["Properties"])
    rc = prim["Resources"]["PrimaryBucket"]["Properties"].get(
        "ReplicationConfiguration", {})
    if not any(r.get("Status") == "Enabled" and
               r.get("Destination", {}).get("Bucket") == {"Ref": "ReplicaBucketArn"}
               for r in rc.get("Rules", [])):
        problem("drfs.json: the primary bucket does not replicate to the replica")
    values = {"AWS::Partition": "aws", "BucketName": "BUCKET",
              "MirrorBucketName": "MIRROR", "RepoPrefix": "host1/"}
    roles = {"writer": "WriterRole", "reader": "ReaderRole",
             "pruner": "PrunerRole", "mirror": "MirrorRole"}
    for role, logical in roles.items():
        if role not in contract["roles"]:
            problem("requests.json has no role %s" % role)
            continue
        st = prim["Resources"][logical]["Properties"]["Policies"][0][
            "PolicyDocument"]["Statement"]
        if role == "mirror":
            src = [s for s in st if s.get("Sid", "").startswith("Source")]
            dst = [s for s in st if s.get("Sid", "").startswith("Mirror")]
            check_role("drfs.json", role, src, contract, "src", "BUCKET", values)
            check_role("drfs.json", role, dst, contract, "dst", "MIRROR", values)
        else:
            check_role("drfs.json", role, st, contract, None, "BUCKET", values)
    check_create_only(prim, ["WriterRole", "MirrorRole"])
    for p in PROBLEMS:
        print(p)
    if not PROBLEMS:
        print("tools/aws: templates parse, buckets as documented, each "
              "role's policy grants exactly what its commands use")
    return 1 if PROBLEMS else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
