#!/bin/bash
# The comparator every round-trip test relies on must be able to fail:
# tests/tools/treecmp.py --self-test builds trees that differ in one way each
# (content, mode, mtime ns, atime, xattr, hard links, symlink target, type,
# a missing odd name, allocation) and asserts each is reported.
source "$(dirname "$0")/lib.sh"
treecmp --self-test
