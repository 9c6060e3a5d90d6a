#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""s3purge.py ENDPOINT TOKENFILE — delete the test S3 buckets whose names
end with one of the random tokens listed in TOKENFILE (one per line), with
every object version in them (Object Lock governance retention bypassed;
compliance-locked objects stay, and so does their bucket). Called by
lib.sh's cleanup so that a suite run does not fill the test server's
in-memory OSD. Errors are ignored: cleanup must never fail a test."""
import sys

try:
    import boto3
    from botocore.config import Config
except ImportError:
    sys.exit(0)


def main():
    endpoint, tokfile = sys.argv[1], sys.argv[2]
    try:
        tokens = [t.strip() for t in open(tokfile) if len(t.strip()) >= 6]
    except OSError:
        return
    if not tokens:
        return
    s3 = boto3.client("s3", endpoint_url=endpoint,
                      config=Config(s3={"addressing_style": "path"},
                                    retries={"max_attempts": 1},
                                    connect_timeout=5, read_timeout=30))
    try:
        buckets = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    except Exception:
        return
    for b in buckets:
        if not b.startswith("drfs-") or not any(b.endswith(t) for t in tokens):
            continue
        try:
            pages = s3.get_paginator("list_object_versions").paginate(Bucket=b)
            for page in pages:
                objs = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                        for v in page.get("Versions", []) +
                        page.get("DeleteMarkers", [])]
                if objs:
                    s3.delete_objects(Bucket=b, Delete={"Objects": objs,
                                                        "Quiet": True},
                                      BypassGovernanceRetention=True)
            s3.delete_bucket(Bucket=b)
        except Exception:
            pass


main()
