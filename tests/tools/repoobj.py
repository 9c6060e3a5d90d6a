#!/usr/bin/env python3
"""repoobj.py - the objects of a drfs repository, handled without drfs, the
way someone with write access to the directory or bucket could.

  repoobj.py list URL              object names, one a line, sorted
  repoobj.py mirror SRC DST        make DST hold exactly SRC's objects
  repoobj.py forge-id URL HEX      rewrite the config of an UNENCRYPTED
                                   repository to carry repository id HEX
                                   (its checksum recomputed: unencrypted
                                   objects are only checksummed)

URL is a local directory or s3://bucket[/prefix]; S3 goes to
$DRFS_TEST_S3_ENDPOINT with the AWS_* credentials (boto3). Files named
.tmp-* in a local repository are uploads in progress, not objects.
"""
import hashlib
import os
import sys


class Local:
    def __init__(self, root):
        self.root = root

    def names(self):
        out = []
        for d, _, files in os.walk(self.root):
            for f in files:
                if f.startswith('.tmp-'):
                    continue
                out.append(os.path.relpath(os.path.join(d, f), self.root))
        return sorted(out)

    def get(self, name):
        with open(os.path.join(self.root, name), 'rb') as f:
            return f.read()

    def put(self, name, data):
        p = os.path.join(self.root, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, 'wb') as f:
            f.write(data)

    def delete(self, name):
        os.unlink(os.path.join(self.root, name))


class S3:
    def __init__(self, url):
        import boto3
        rest = url[len('s3://'):]
        self.bucket, _, prefix = rest.partition('/')
        self.prefix = prefix.strip('/') + '/' if prefix.strip('/') else ''
        self.s3 = boto3.client(
            's3', endpoint_url=os.environ['DRFS_TEST_S3_ENDPOINT'],
            region_name=os.environ.get('AWS_REGION', 'us-east-1'))

    def names(self):
        out = []
        pages = self.s3.get_paginator('list_objects_v2').paginate(
            Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:
            for o in page.get('Contents', []):
                out.append(o['Key'][len(self.prefix):])
        return sorted(out)

    def get(self, name):
        r = self.s3.get_object(Bucket=self.bucket, Key=self.prefix + name)
        return r['Body'].read()

    def put(self, name, data):
        self.s3.put_object(Bucket=self.bucket, Key=self.prefix + name,
                           Body=data)

    def delete(self, name):
        self.s3.delete_object(Bucket=self.bucket, Key=self.prefix + name)


def repo(url):
    return S3(url) if url.startswith('s3://') else Local(url)


def is_object(name):
    # the S3 backend's conditional-write probe is not repository content
    return name != '.drfs-inm-probe'


def main(argv):
    if len(argv) == 3 and argv[1] == 'list':
        for n in repo(argv[2]).names():
            if is_object(n):
                print(n)
    elif len(argv) == 4 and argv[1] == 'mirror':
        src, dst = repo(argv[2]), repo(argv[3])
        want = [n for n in src.names() if is_object(n)]
        for n in dst.names():
            if is_object(n) and n not in want:
                dst.delete(n)
        for n in want:
            dst.put(n, src.get(n))
    elif len(argv) == 4 and argv[1] == 'forge-id':
        r = repo(argv[2])
        c = bytearray(r.get('config'))
        if c[:4] != b'DRFS' or c[4] != 1 or c[6] != 0:
            sys.exit('repoobj.py: config is not an unencrypted config')
        body = c[8:-32]
        body[4:20] = bytes.fromhex(argv[3])
        obj = bytes(c[:8]) + bytes(body)
        r.put('config', obj + hashlib.sha256(obj).digest())
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main(sys.argv)
