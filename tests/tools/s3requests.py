#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""s3requests.py - the S3 requests drfs makes, as request classes.

A request class is "VERB TARGET": the verb with what distinguishes it for a
policy (If-None-Match, the query that names the operation), the target the
first component of the object's name inside the repository ("data/",
"snapshots/", ... or "config", "policy", ".drfs-inm-probe"), or for a
listing the prefix listed ("*" for the whole repository).

    classify LOG BUCKET PREFIX      the classes of LOG (tests/s3/faultproxy.js
                                    FI_LOG) for BUCKET/PREFIX, one a line
    check CONTRACT COMMAND LOG BUCKET PREFIX [SIDE]
                                    compare them with the contract
                                    (tools/aws/requests.json): every class
                                    recorded is listed for COMMAND (SIDE
                                    "src"/"dst" for mirror), every required
                                    one was recorded; exit 1 naming the
                                    difference
Used by tests/integration/dr_requests.sh and tools/aws/check.py.
"""
import json
import sys

DIRS = ("data/", "index/", "snapshots/", "keys/", "locks/", "holds/",
        "forgotten/", "names/", "deletions/")


def target(name):
    for d in DIRS:
        if name.startswith(d):
            return d
    return name if name else "*"


def classes(log, bucket, prefix):
    """The set of request classes of bucket/prefix in the FI_LOG file."""
    out = set()
    for line in open(log):
        r = json.loads(line)
        if r["bucket"] != bucket:
            continue
        q, m, key = r["q"], r["m"], r["key"]
        if key and not key.startswith(prefix):
            continue
        name = key[len(prefix):] if key else ""
        if not key:  # the bucket itself
            if m == "GET" and "list-type" in q:
                lp = r.get("prefix") or ""
                if lp.startswith(prefix):  # else another repository's
                    out.add("LIST " + target(lp[len(prefix):]))
            elif m == "PUT" and not q:
                out.add("CREATE-BUCKET *")
            elif m == "POST" and "delete" in q:
                for k in r["deletes"]:
                    out.add("DELETE " + target(k[len(prefix):]))
            else:
                out.add("%s?%s *" % (m, "&".join(sorted(q))))
            continue
        t = target(name)
        if m == "PUT" and "retention" in q:
            out.add("PUT?retention%s %s" % ("+bypass" if r["bypass"] else "", t))
        elif m == "GET" and "retention" in q:
            out.add("GET?retention " + t)
        elif m == "PUT" and "partNumber" in q:
            out.add("MPU-PART " + t)
        elif m == "POST" and "uploads" in q:
            out.add("MPU-CREATE " + t)
        elif m == "POST" and "uploadId" in q:
            out.add("MPU-COMPLETE%s %s" % ("+INM" if r["inm"] else "", t))
        elif m == "DELETE" and "uploadId" in q:
            out.add("MPU-ABORT " + t)
        elif m == "PUT" and not q:
            out.add(("PUT+INM " if r["inm"] else "PUT " ) + t)
        elif m in ("GET", "HEAD", "DELETE") and not q:
            out.add("%s %s" % (m, t))
        else:
            out.add("%s?%s %s" % (m, "&".join(sorted(q)), t))
    return out


def contract_for(contract, command, side=None):
    c = contract["commands"][command]
    if side:
        c = c[side]
    return set(c.get("required", [])), set(c.get("optional", []))


def main(argv):
    if len(argv) >= 4 and argv[0] == "classify":
        for c in sorted(classes(argv[1], argv[2], argv[3])):
            print(c)
        return 0
    if len(argv) in (6, 7) and argv[0] == "check":
        contract = json.load(open(argv[1]))
        command = argv[2]
        got = classes(argv[3], argv[4], argv[5])
        side = argv[6] if len(argv) == 7 else None
        req, opt = contract_for(contract, command, side)
        what = command + (" (%s)" % side if side else "")
        bad = 0
        for c in sorted(got - req - opt):
            print("%s: made %s, not in tools/aws/requests.json" % (what, c))
            bad = 1
        for c in sorted(req - got):
            print("%s: never made %s, listed as required" % (what, c))
            bad = 1
        return bad
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
