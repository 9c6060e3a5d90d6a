#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""layercheck.py - the layer order of docs/architecture.md, in the code.

Every `#include "drfs/X.h"` of a source file under src/ or a header under
include/drfs/ must name a header of a layer above the includer's (a lower
number) or of its own room (or an edge of EDGES: chunk uses codec);
`fs` and `ops` (both layer 7) never include each other. A room's private
header (fsint.h, repoint.h, ...) lives beside its code and is included as
"name.h" only by the files beside it. Exit 1 with one line per offending
include, 0 when all hold.

Usage: tools/layercheck.py [SOURCE_ROOT]    (default: the parent of tools/)
       tools/layercheck.py --self-test      (the check can fail)
"""
import os
import re
import sys
import tempfile

# room: (layer, directory under src/, public headers, private headers)
ROOMS = {
    'base': (1, 'base', ['base.h', 'buf.h', 'stack.h', 'limits.h',
                         'log.h', 'pattern.h', 'testhook.h'], []),
    'codec': (2, 'codec', ['crypto.h', 'compress.h'], []),
    'chunk': (2, 'chunk', ['chunker.h'], []),
    'backend': (3, 'backend', ['backend.h', 's3.h', 'replica.h'], []),
    'format': (4, 'format', ['format.h'], []),
    'index': (5, 'index', ['index.h'], []),
    'store': (6, 'store', ['repo.h', 'lock.h', 'known.h', 'facts.h'], []),
    'ops': (7, 'ops', ['ops.h', 'prune.h', 'dr.h', 'repair.h', 'ondisk.h'],
            []),
    'fs': (7, 'fs', ['fs.h', 'now.h'], []),
    'cli': (8, 'cli', ['cli.h'], ['cliint.h']),
}

# Includes between two rooms of one layer that the order allows, and why.
EDGES = {
    ('chunk', 'codec'): 'the gear table is derived with HMAC-SHA-256',
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"drfs/([^"]+)"')
# a room's private header ("fsint.h", "now/nowint.h" from its own files)
LOCAL = re.compile(r'^\s*#\s*include\s+"([^"/]+)"')


def header_room(name):
    for room, (_, _, pub, priv) in ROOMS.items():
        if name in pub or name in priv:
            return room
    return None


def dir_room(d):
    for room, (_, sub, _, _) in ROOMS.items():
        if sub == d:
            return room
    return None


def check_file(path, room, problems):
    layer = ROOMS[room][0]
    with open(path, encoding='utf-8', errors='replace') as f:
        for no, line in enumerate(f, 1):
            lm = LOCAL.match(line)
            if lm:
                beside = os.path.join(os.path.dirname(path), lm.group(1))
                if not os.path.exists(beside) or path.startswith(
                        os.path.join(os.path.dirname(os.path.dirname(
                            os.path.abspath(path))), 'include')):
                    problems.append('%s:%d: "%s" is not a header beside '
                                    'it (private headers live beside their '
                                    'code; public ones are "drfs/...")' %
                                    (path, no, lm.group(1)))
                continue
            m = INCLUDE.match(line)
            if not m:
                continue
            name = m.group(1)
            hr = header_room(name)
            where = '%s:%d' % (path, no)
            if hr is None:
                problems.append('%s: drfs/%s belongs to no room of '
                                'tools/layercheck.py (add it there and to '
                                'docs/architecture.md)' % (where, name))
                continue
            if hr == room or (room, hr) in EDGES:
                continue
            if name in ROOMS[hr][3]:
                problems.append('%s: drfs/%s is private to %s' %
                                (where, name, hr))
                continue
            hl = ROOMS[hr][0]
            if hl > layer or (hl == layer and hr != room):
                problems.append('%s: %s (layer %d) includes drfs/%s of %s '
                                '(layer %d): against the layer order of '
                                'docs/architecture.md' %
                                (where, room, layer, name, hr, hl))


def check(root):
    problems = []
    src = os.path.join(root, 'src')
    for d in sorted(os.listdir(src)):
        room = dir_room(d)
        full = os.path.join(src, d)
        if not os.path.isdir(full):
            continue
        if room is None:
            problems.append('src/%s: a directory of no room' % d)
            continue
        for dp, _, files in os.walk(full):
            for fn in sorted(files):
                if fn.endswith(('.c', '.h')):
                    p = os.path.join(dp, fn)
                    if room == 'cli' and fn == 'main.c':
                        continue  # the program: it may use anything
                    check_file(p, room, problems)
    inc = os.path.join(root, 'include', 'drfs')
    for fn in sorted(os.listdir(inc)):
        if not fn.endswith('.h'):
            continue
        room = header_room(fn)
        p = os.path.join(inc, fn)
        if room is None:
            problems.append('%s: a header of no room' % p)
            continue
        check_file(p, room, problems)
    return problems


def self_test(root):
    """A wrong include must be found; the tree as it is must pass."""
    ok = True
    with tempfile.TemporaryDirectory() as t:
        for sub in ('src/store', 'src/fs', 'src/ops', 'include/drfs'):
            os.makedirs(os.path.join(t, sub))

        def put(path, text):
            with open(os.path.join(t, path), 'w') as f:
                f.write(text)
        for h in ('repo.h', 'fs.h', 'dr.h', 'index.h', 'base.h'):
            put('include/drfs/' + h, '#include "drfs/base.h"\n')
        put('src/fs/fsint.h', '#include "drfs/repo.h"\n')
        os.makedirs(os.path.join(t, 'src/index'))
        os.makedirs(os.path.join(t, 'src/base'))
        cases = [
            ('src/store/a.c', '#include "drfs/fs.h"\n', 'layer 7'),
            ('src/fs/b.c', '#include "drfs/dr.h"\n', 'of ops'),
            ('src/ops/c.c', '#include "drfs/fsint.h"\n', 'no room'),
            ('src/index/d.c', '  #  include "drfs/repo.h"\n', 'layer 6'),
            ('src/ops/f.c', '#include "fsint.h"\n', 'not a header beside'),
        ]
        for path, text, want in cases:
            put(path, text)
            got = check(t)
            hit = [p for p in got if want in p and path in p]
            if not hit:
                print('self-test: %s with %r not reported (got %r)' %
                      (path, text, got))
                ok = False
            os.unlink(os.path.join(t, path))
        put('src/fs/e.c', '#include "drfs/repo.h"\n#include "fsint.h"\n')
        if check(t):
            print('self-test: an allowed include reported: %r' % check(t))
            ok = False
    return ok


def main():
    args = sys.argv[1:]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if args and args[0] == '--self-test':
        if not self_test(root):
            return 1
        print('layercheck: self-test passed')
        return 0
    if args:
        root = args[0]
    problems = check(root)
    for p in problems:
        print(p)
    if problems:
        print('layercheck: %d include(s) against the layer order' %
              len(problems))
        return 1
    print('layercheck: the layer order holds')
    return 0


if __name__ == '__main__':
    sys.exit(main())
