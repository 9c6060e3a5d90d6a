#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""rgw-policy.py - the bucket policy for drfs on Ceph RadosGW (or MinIO),
from the same role policies as the AWS template (tools/aws/drfs.json).

    python3 tools/aws/rgw-policy.py --bucket B [--prefix host1/]
        [--writer UID] [--reader UID] [--pruner UID] [--mirror-dst UID]
        [--owner UID] [--tenant T] > policy.json
    aws --endpoint-url URL s3api put-bucket-policy --bucket B \\
        --policy file://policy.json

RadosGW has no IAM roles for S3 users: each drfs role is a user
(radosgw-admin user create --uid UID --max-buckets=-1), and the bucket
owner grants it the role's actions in the bucket policy. What differs from
AWS, and what this script adds (docs/disaster-recovery.md, "RadosGW"):

 - objects belong to the user who wrote them: the bucket owner (--owner)
   cannot read what the writer wrote unless the policy allows it;
 - the create-only statement (a PUT without If-None-Match refused) is
   accepted but never applies: RadosGW does not know the condition keys.
   Keep it (it costs nothing), and version the bucket (or create it with
   Object Lock) so an overwrite leaves the old version for the owner to
   put back;
 - s3:BypassGovernanceRetention is not needed to bypass governance
   retention: anyone allowed s3:PutObjectRetention can. It is denied
   explicitly to every drfs user here;
 - a DeleteObjects (the batch delete prune uses) is authorized as
   s3:DeleteObject on the bucket, not on each key: the roles that delete
   are allowed that too.
"""
import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def resolve(v, values):
    if isinstance(v, dict) and "Fn::Sub" in v:
        return re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)],
                      v["Fn::Sub"])
    if isinstance(v, list):
        return [resolve(x, values) for x in v]
    if isinstance(v, dict):
        return {k: resolve(x, values) for k, x in v.items()}
    return v


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--prefix", default="")
    ap.add_argument("--tenant", default="")
    for r in ("writer", "reader", "pruner", "mirror-dst", "owner"):
        ap.add_argument("--" + r)
    a = ap.parse_args(argv)
    t = json.load(open(os.path.join(HERE, "drfs.json")))
    values = {"AWS::Partition": "aws", "BucketName": a.bucket,
              "MirrorBucketName": a.bucket, "RepoPrefix": a.prefix}
    bucket = "arn:aws:s3:::" + a.bucket
    objs = bucket + "/" + a.prefix + "*"

    def principal(uid):
        return {"AWS": ["arn:aws:iam::%s:user/%s" % (a.tenant, uid)]}

    out = []
    roles = (("writer", "WriterRole", a.writer), ("reader", "ReaderRole", a.reader),
             ("pruner", "PrunerRole", a.pruner),
             ("mirror-dst", "MirrorRole", getattr(a, "mirror_dst")))
    for name, logical, uid in roles:
        if not uid:
            continue
        for st in t["Resources"][logical]["Properties"]["Policies"][0][
                "PolicyDocument"]["Statement"]:
            if name == "mirror-dst" and not st["Sid"].startswith("Mirror"):
                continue
            s = resolve(st, values)
            s["Sid"] = name.replace("-", "") + s["Sid"]
            s["Principal"] = principal(uid)
            out.append(s)
            if s["Action"] == "s3:DeleteObject":
                out.append({"Sid": s["Sid"] + "Batch", "Effect": "Allow",
                            "Principal": principal(uid),
                            "Action": "s3:DeleteObject",
                            "Resource": bucket})
    writers = [u for u in (a.writer, getattr(a, "mirror_dst")) if u]
    if writers:
        # as on AWS; accepted by RadosGW but never applied (see above)
        out.append({"Sid": "CreateOnly", "Effect": "Deny",
                    "Principal": {"AWS": sum((principal(u)["AWS"]
                                              for u in writers), [])},
                    "Action": "s3:PutObject", "Resource": objs,
                    "Condition": {"Null": {"s3:if-none-match": "true"},
                                  "Bool": {"s3:ObjectCreationOperation": "true"}}})
    keep = [u for u in (a.writer, a.reader) if u]
    if keep:
        out.append({"Sid": "NeverDestroy", "Effect": "Deny",
                    "Principal": {"AWS": sum((principal(u)["AWS"]
                                              for u in keep), [])},
                    "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion",
                               "s3:PutObjectRetention",
                               "s3:PutBucketPolicy",
                               "s3:PutLifecycleConfiguration",
                               "s3:PutBucketVersioning"],
                    "Resource": [bucket, bucket + "/*"]})
    users = [u for _, _, u in roles if u]
    if users:
        out.append({"Sid": "NoGovernanceBypass", "Effect": "Deny",
                    "Principal": {"AWS": sum((principal(u)["AWS"]
                                              for u in users), [])},
                    "Action": ["s3:BypassGovernanceRetention"],
                    "Resource": [bucket + "/*"]})
    if a.owner:
        out.append({"Sid": "OwnerReadsWhatOthersWrote", "Effect": "Allow",
                    "Principal": principal(a.owner),
                    "Action": ["s3:GetObject", "s3:GetObjectVersion",
                               "s3:DeleteObject", "s3:DeleteObjectVersion",
                               "s3:GetObjectRetention",
                               "s3:PutObjectRetention",
                               "s3:BypassGovernanceRetention"],
                    "Resource": [bucket + "/*"]})
    json.dump({"Version": "2012-10-17", "Statement": out}, sys.stdout,
              indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
