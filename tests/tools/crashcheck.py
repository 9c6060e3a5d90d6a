#!/usr/bin/env python3
"""crashcheck.py — what now/ may look like after a kill -9 of the daemon.

  crashcheck.py check NOW PREV NEW --since NS [--settled] [--exclude REL]...
  crashcheck.py trees [--exclude REL]... A1 B1 [A2 B2]...
  crashcheck.py dirtimes FROM TO

check: NOW is now/ after a kill -9 and a remount; PREV is the tree now/
held (durably: a snapshot, nothing rewritten since) when the round began,
NEW the tree being copied into it (rsync) when the daemon was killed. PREV
and NEW share the inodes of unchanged entries (NEW is a `cp -al` of PREV
whose changed files were replaced, never modified in place). What
docs/now.md promises after a crash of the daemon, checked per path:

  - every path of NOW is in PREV or NEW (an rsync temp file ".NAME.XXXXXX"
    too, unless --settled: the copy had finished);
  - an entry unchanged between PREV and NEW is in NOW, exactly (type,
    mode, owner, size, mtime, content, target, xattrs): nothing durable
    is lost; with --settled every entry of NEW is in NOW;
  - any other non-directory equals its PREV or NEW version (only NEW with
    --settled), or is a regular file that lost its content: empty, with a
    mtime at or after --since (nanoseconds), mode and owner of a version;
  - directories: mode and owner of a version, except a directory only NEW
    has while the copy ran (rsync creates it 0700 and sets its mode at the
    end); with --settled also NEW's mtime.

Each violation is printed as "path: what"; the number of emptied files goes
to stderr. Exit 0 if all hold, 1 if not.

trees: treecmp.py --no-atime --ignore-root-times of each pair, in one
process (many snapshots are compared after each round); exit 1 if any
differs.

dirtimes: give each directory of TO the atime and mtime of the same path
in FROM (rsync does not restore the time of a directory in which it
renamed a file; the test records now/'s).
"""

import argparse
import os
import re
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import treecmp  # noqa: E402  (walk, xattrs, ftype, open_noatime, read_full)

TEMP = re.compile(rb'^\..+\.[A-Za-z0-9]{6}$')


def content(path):
    fd = treecmp.open_noatime(path)
    try:
        out, off = [], 0
        while True:
            b = os.pread(fd, 1 << 20, off)
            if not b:
                return b''.join(out)
            out.append(b)
            off += len(b)
    finally:
        os.close(fd)


def same(now, ver):
    """Why the entry at now differs from version ver, or None."""
    (sa, pa), (sb, pb) = now, ver
    ta, tb = treecmp.ftype(sa.st_mode), treecmp.ftype(sb.st_mode)
    if ta != tb:
        return 'type %s, not %s' % (ta, tb)
    for f in ('st_mode', 'st_uid', 'st_gid'):
        if getattr(sa, f) != getattr(sb, f):
            return '%s %o, not %o' % (f[3:], getattr(sa, f), getattr(sb, f))
    if ta == 'dir':
        return None
    if sa.st_size != sb.st_size:
        return 'size %d, not %d' % (sa.st_size, sb.st_size)
    if sa.st_mtime_ns != sb.st_mtime_ns:
        return 'mtime %d, not %d' % (sa.st_mtime_ns, sb.st_mtime_ns)
    if ta == 'symlink' and os.readlink(pa) != os.readlink(pb):
        return 'symlink target'
    if ta == 'file' and content(pa) != content(pb):
        return 'content'
    if treecmp.xattrs(pa) != treecmp.xattrs(pb):
        return 'xattrs'
    return None


def check(args):
    ex = [os.fsencode(x).rstrip(b'/') for x in args.exclude]

    def walk(root):
        return {k: v for k, v in treecmp.walk(root).items()
                if k != b'.' and not any(k == x or k.startswith(x + b'/')
                                         for x in ex)}

    now, prev, new = walk(args.now), walk(args.prev), walk(args.new)
    bad, lost = [], 0

    def unchanged(rel):
        return (rel in prev and rel in new and
                (stat.S_ISDIR(prev[rel][0].st_mode) and
                 stat.S_ISDIR(new[rel][0].st_mode) or
                 os.path.samestat(prev[rel][0], new[rel][0])))

    for rel in sorted(set(prev) | set(new)):
        must = rel in new if args.settled else unchanged(rel)
        if must and rel not in now:
            bad.append('%s: missing' % treecmp.esc(rel))
    for rel in sorted(now):
        st, path = now[rel]
        vers = [v for v in ((new.get(rel),) if args.settled else
                            (prev.get(rel), new.get(rel))) if v]
        if not vers:
            if not args.settled and TEMP.match(os.path.basename(rel)):
                continue
            bad.append('%s: should not exist' % treecmp.esc(rel))
            continue
        if unchanged(rel) and not stat.S_ISDIR(st.st_mode):
            vers = [new[rel]]
        if (not args.settled and rel not in prev and
                stat.S_ISDIR(st.st_mode) and stat.S_ISDIR(vers[0][0].st_mode)):
            continue  # being created by rsync: its mode comes last
        why = [same((st, path), v) for v in vers]
        if None in why:
            if (args.settled and stat.S_ISDIR(st.st_mode) and
                    st.st_mtime_ns != new[rel][0].st_mtime_ns):
                bad.append('%s: directory mtime %d, not %d' % (
                    treecmp.esc(rel), st.st_mtime_ns,
                    new[rel][0].st_mtime_ns))
            continue
        emptied = (stat.S_ISREG(st.st_mode) and st.st_size == 0 and
                   st.st_mtime_ns >= args.since and not unchanged(rel) and
                   any(stat.S_ISREG(v[0].st_mode) and
                       (st.st_mode, st.st_uid, st.st_gid) ==
                       (v[0].st_mode, v[0].st_uid, v[0].st_gid)
                       for v in vers))
        if emptied:
            lost += 1
            continue
        bad.append('%s: %s' % (treecmp.esc(rel), '; '.join(why)))
    for line in bad:
        print(line)
    print('crashcheck: %d entries, %d emptied (content not durable), '
          '%d violations' % (len(now), lost, len(bad)), file=sys.stderr)
    return 1 if bad else 0


def trees(args):
    if not args.pairs or len(args.pairs) % 2:
        print('crashcheck: trees needs pairs of trees', file=sys.stderr)
        return 2
    bad = 0
    for a, b in zip(args.pairs[::2], args.pairs[1::2]):
        lines = treecmp.compare(a, b, no_atime=True, ignore_root_times=True,
                                exclude=args.exclude, out=sys.stdout)
        if lines:
            print('crashcheck: %d difference(s) between %s and %s'
                  % (len(lines), a, b))
            bad += 1
    return 1 if bad else 0


def dirtimes(args):
    src = os.fsencode(args.src)
    for rel, (st, path) in treecmp.walk(args.dst).items():
        if not stat.S_ISDIR(st.st_mode):
            continue
        try:
            s = os.lstat(os.path.join(src, rel))
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(s.st_mode):
            os.utime(path, ns=(s.st_atime_ns, s.st_mtime_ns),
                     follow_symlinks=False)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    c = sub.add_parser('check')
    c.add_argument('now')
    c.add_argument('prev')
    c.add_argument('new')
    c.add_argument('--since', type=int, required=True)
    c.add_argument('--settled', action='store_true')
    c.add_argument('--exclude', action='append', default=[])
    t = sub.add_parser('trees')
    t.add_argument('--exclude', action='append', default=[])
    t.add_argument('pairs', nargs='*')
    d = sub.add_parser('dirtimes')
    d.add_argument('src')
    d.add_argument('dst')
    args = ap.parse_args()
    return {'check': check, 'trees': trees, 'dirtimes': dirtimes}[
        args.cmd](args)


if __name__ == '__main__':
    sys.exit(main())
