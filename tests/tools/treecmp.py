#!/usr/bin/env python3
"""treecmp.py A B — compare two directory trees exactly.

Per relative path (bytes, so any name works): type, full st_mode, uid, gid,
size, mtime_ns, atime_ns (not for directories; --no-atime skips all), rdev of
devices, symlink target, file content, every xattr (system.posix_acl_* too)
and the hard-link structure (which paths share an inode). With --sparse,
holes of A must be holes in B and B may not allocate more than A + 64 KiB.

Every difference is printed as one line `path: field: A vs B` (non-printable
bytes escaped as \\xNN), then a summary. Exit 0 if identical, 1 if not,
2 on usage errors. `--self-test` checks that each kind of difference is
detected.

Metadata is collected with lstat before any file is read, and files are
opened with O_NOATIME, so comparing does not change the atimes it compares.
Reading a symlink does update its atime (relatime: when the atime is older
than a day or not newer than mtime): to compare one tree several times,
put it on a noatime mount (tests/integration/lib.sh does).
"""

import argparse
import errno
import os
import stat
import sys
import tempfile

BLOCK = 1 << 20
SLACK = 64 << 10


def esc(b):
    """Printable, single-line form of a bytes path or value."""
    if isinstance(b, str):
        b = os.fsencode(b)
    out = []
    for c in b:
        if c == 0x5C:
            out.append('\\\\')
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            out.append('\\x%02x' % c)
    return ''.join(out)


def ftype(m):
    for name, test in (('dir', stat.S_ISDIR), ('file', stat.S_ISREG),
                       ('symlink', stat.S_ISLNK), ('fifo', stat.S_ISFIFO),
                       ('chr', stat.S_ISCHR), ('blk', stat.S_ISBLK),
                       ('socket', stat.S_ISSOCK)):
        if test(m):
            return name
    return 'unknown'


def xattrs(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return {}
        raise
    out = {}
    for n in names:
        try:
            out[n] = os.getxattr(path, n, follow_symlinks=False)
        except OSError as e:
            out[n] = ('<error %s>' % errno.errorcode.get(e.errno, e.errno))
    return out


def walk(root):
    """Return {relpath(bytes): (stat_result, abspath)} including b'.'."""
    root = os.fsencode(root)
    entries = {b'.': (os.lstat(root), root)}
    stack = [(root, b'')]
    while stack:
        absdir, rel = stack.pop()
        with os.scandir(absdir) as it:
            for de in it:
                r = de.name if not rel else rel + b'/' + de.name
                st = os.lstat(de.path)
                entries[r] = (st, de.path)
                if stat.S_ISDIR(st.st_mode):
                    stack.append((de.path, r))
    return entries


def data_map(fd, size):
    """List of (start, end) data regions, or None if unsupported."""
    regions = []
    off = 0
    try:
        while off < size:
            try:
                s = os.lseek(fd, off, os.SEEK_DATA)
            except OSError as e:
                if e.errno == errno.ENXIO:
                    break
                raise
            e_ = os.lseek(fd, s, os.SEEK_HOLE)
            regions.append((s, min(e_, size)))
            off = e_
    except OSError as e:
        if e.errno in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            return None
        raise
    return regions


def union(a, b, size):
    if a is None or b is None:
        return [(0, size)] if size else []
    ivs = sorted(a + b)
    out = []
    for s, e in ivs:
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def open_noatime(path):
    flags = os.O_RDONLY | getattr(os, 'O_NOATIME', 0)
    try:
        return os.open(path, flags)
    except PermissionError:
        return os.open(path, os.O_RDONLY)


def read_full(fd, off, n):
    parts = []
    while n > 0:
        b = os.pread(fd, n, off)
        if not b:
            break
        parts.append(b)
        off += len(b)
        n -= len(b)
    return b''.join(parts)


def compare_content(pa, pb, size, sparse, rel, diff, sta, stb):
    try:
        fa = open_noatime(pa)
    except OSError as e:
        diff(rel, 'content', 'open failed: %s' % e.strerror, '')
        return
    try:
        try:
            fb = open_noatime(pb)
        except OSError as e:
            diff(rel, 'content', '', 'open failed: %s' % e.strerror)
            return
        try:
            ma = data_map(fa, size)
            mb = data_map(fb, size)
            for s, e in union(ma, mb, size):
                off = s
                while off < e:
                    n = min(BLOCK, e - off)
                    ba = read_full(fa, off, n)
                    bb = read_full(fb, off, n)
                    if ba != bb:
                        i = 0
                        lim = min(len(ba), len(bb))
                        while i < lim and ba[i] == bb[i]:
                            i += 1
                        diff(rel, 'content', 'differs at byte %d' % (off + i),
                             '(%d vs %d bytes read)' % (len(ba), len(bb)))
                        return
                    off += n
            if sparse and ma is not None and mb is not None:
                if stb.st_blocks * 512 > sta.st_blocks * 512 + SLACK:
                    diff(rel, 'allocated', str(sta.st_blocks * 512),
                         str(stb.st_blocks * 512))
                # every hole of A (minus slack at both ends) is a hole in B
                prev = 0
                for s, e in ma + [(size, size)]:
                    hs, he = prev + SLACK, s - SLACK
                    if he > hs:
                        try:
                            d = os.lseek(fb, hs, os.SEEK_DATA)
                        except OSError:
                            d = size
                        if d < he:
                            diff(rel, 'hole', 'hole at %d..%d' % (prev, s),
                                 'data at %d' % d)
                    prev = e
        finally:
            os.close(fb)
    finally:
        os.close(fa)


def compare(a, b, no_atime=False, ignore_root_times=False, sparse=False,
            exclude=(), out=None, ignore_times=()):
    """Compare trees; return the list of difference lines."""
    lines = []

    def diff(rel, field, va, vb):
        lines.append('%s: %s: %s vs %s' % (esc(rel), field, va, vb))
        if out is not None:
            print(lines[-1], file=out)

    ex = [os.fsencode(x).rstrip(b'/') for x in exclude]
    no_times = {os.fsencode(x).rstrip(b'/') or b'.' for x in ignore_times}

    def excluded(rel):
        return any(rel == x or rel.startswith(x + b'/') for x in ex)

    ea = {k: v for k, v in walk(a).items() if not excluded(k)}
    eb = {k: v for k, v in walk(b).items() if not excluded(k)}

    for rel in sorted(set(ea) | set(eb)):
        if rel not in eb:
            diff(rel, 'exists', 'present', 'missing')
            continue
        if rel not in ea:
            diff(rel, 'exists', 'missing', 'present')
            continue
        sa, pa = ea[rel]
        sb, pb = eb[rel]
        ta, tb = ftype(sa.st_mode), ftype(sb.st_mode)
        if ta != tb:
            diff(rel, 'type', ta, tb)
            continue
        if sa.st_mode != sb.st_mode:
            diff(rel, 'mode', '%07o' % sa.st_mode, '%07o' % sb.st_mode)
        if sa.st_uid != sb.st_uid:
            diff(rel, 'uid', sa.st_uid, sb.st_uid)
        if sa.st_gid != sb.st_gid:
            diff(rel, 'gid', sa.st_gid, sb.st_gid)
        if ta != 'dir' and sa.st_size != sb.st_size:
            diff(rel, 'size', sa.st_size, sb.st_size)
        times = not ((rel == b'.' and ignore_root_times) or rel in no_times)
        if times and sa.st_mtime_ns != sb.st_mtime_ns:
            diff(rel, 'mtime_ns', sa.st_mtime_ns, sb.st_mtime_ns)
        if (times and not no_atime and ta != 'dir'
                and sa.st_atime_ns != sb.st_atime_ns):
            diff(rel, 'atime_ns', sa.st_atime_ns, sb.st_atime_ns)
        if ta in ('chr', 'blk') and sa.st_rdev != sb.st_rdev:
            diff(rel, 'rdev', '%d,%d' % (os.major(sa.st_rdev),
                                         os.minor(sa.st_rdev)),
                 '%d,%d' % (os.major(sb.st_rdev), os.minor(sb.st_rdev)))
        if ta == 'symlink':
            la, lb = os.readlink(pa), os.readlink(pb)
            if la != lb:
                diff(rel, 'target', esc(la), esc(lb))
        xa, xb = xattrs(pa), xattrs(pb)
        for n in sorted(set(xa) | set(xb)):
            va, vb = xa.get(n), xb.get(n)
            if va != vb:
                fmt = (lambda v: 'absent' if v is None else
                       v if isinstance(v, str) else
                       '0x' + v.hex() if len(v) <= 64 else
                       '%d bytes 0x%s...' % (len(v), v[:32].hex()))
                diff(rel, 'xattr ' + esc(n), fmt(va), fmt(vb))
        if ta == 'file' and sa.st_size == sb.st_size:
            compare_content(pa, pb, sa.st_size, sparse, rel, diff, sa, sb)

    # hard links: the partition of non-directories into inodes must match
    def groups(entries):
        by_ino = {}
        for rel, (st, _) in entries.items():
            if not stat.S_ISDIR(st.st_mode):
                by_ino.setdefault((st.st_dev, st.st_ino), []).append(rel)
        g = {}
        for rels in by_ino.values():
            fs = frozenset(rels)
            for r in rels:
                g[r] = fs
        return g

    ga, gb = groups(ea), groups(eb)
    for rel in sorted(set(ga) & set(gb)):
        if ga[rel] != gb[rel]:
            fmt = (lambda s: '{' + ', '.join(esc(x) for x in sorted(s)) + '}')
            diff(rel, 'hardlinks', fmt(ga[rel]), fmt(gb[rel]))
    return lines


def self_test():
    """Build pairs of tiny trees that differ in one way each; assert that
    identical pairs compare equal and each difference is reported."""
    import shutil

    def build(d, mut):
        os.makedirs(os.path.join(d, 'sub'))
        f = os.path.join(d, 'sub', 'file')
        with open(f, 'wb') as fp:
            fp.write(b'hello world' if mut != 'content' else b'hello World')
        os.chmod(f, 0o640 if mut != 'mode' else 0o644)
        os.setxattr(f, 'user.k', b'v\0x' if mut != 'xattr' else b'v\0y')
        h = os.path.join(d, 'hard')
        if mut == 'hardlinks':
            shutil.copyfile(f, h)
            os.chmod(h, 0o640)
            os.setxattr(h, 'user.k', b'v\0x')
        else:
            os.link(f, h)
        os.symlink('sub/file' if mut != 'target' else 'sub/fil',
                   os.path.join(d, 'link'))
        fn = os.path.join(d, b'bad\xffname\n'.decode('utf-8',
                                                      'surrogateescape'))
        with open(fn, 'wb') as fp:
            fp.write(b'x')
        if mut == 'missing':
            os.unlink(fn)
        sp = os.path.join(d, 'sparse')
        with open(sp, 'wb') as fp:
            if mut == 'sparse':
                fp.write(bytes(4 << 20))
            else:
                fp.truncate(4 << 20)
        if mut == 'type':
            os.mkfifo(os.path.join(d, 'special'))
        else:
            with open(os.path.join(d, 'special'), 'wb'):
                pass
        for p in (f, h, fn, sp, os.path.join(d, 'special')):
            if os.path.exists(p):
                mt = 1234567890123456789 + (1 if mut == 'mtime' and
                                            p.endswith('special') else 0)
                at = 1000000000000000001 + (1 if mut == 'atime' and p == sp
                                            else 0)
                os.utime(p, ns=(at, mt))
        # readlink updates a symlink's atime under relatime unless the atime
        # is recent and newer than mtime/ctime: keep it so across compares
        os.utime(os.path.join(d, 'link'), ns=(now, 6), follow_symlinks=False)
        os.utime(os.path.join(d, 'sub'), ns=(7, 8))
        os.utime(d, ns=(9, 10))

    cases = [('content', 'sub/file: content'), ('mode', 'sub/file: mode'),
             ('mtime', 'special: mtime_ns'), ('atime', 'sparse: atime_ns'),
             ('xattr', 'sub/file: xattr user.k'),
             ('hardlinks', 'hard: hardlinks'), ('target', 'link: target'),
             ('missing', 'bad\\xffname\\x0a: exists'),
             ('type', 'special: type'), ('sparse', 'sparse: allocated')]
    import time
    now = time.time_ns() + 10**9
    failures = 0
    with tempfile.TemporaryDirectory(prefix='treecmp-self.') as tmp:
        base = os.path.join(tmp, 'base')
        build(base, None)
        twin = os.path.join(tmp, 'twin')
        build(twin, None)
        got = compare(base, twin, sparse=True)
        if got:
            print('self-test: identical trees reported different: %s' % got)
            failures += 1
        for mut, want in cases:
            d = os.path.join(tmp, mut)
            build(d, mut)
            got = compare(base, d, sparse=True)
            if not any(line.startswith(want) for line in got):
                print('self-test: %s not detected (got %s)' % (mut, got))
                failures += 1
            # the other direction too
            got = compare(d, base, sparse=(mut != 'sparse'))
            if mut != 'sparse' and not any(line.startswith(want)
                                           for line in got):
                print('self-test: %s not detected reversed' % mut)
                failures += 1
        # options really switch things off
        if compare(base, os.path.join(tmp, 'atime'), no_atime=True):
            print('self-test: --no-atime still compares atime')
            failures += 1
        if compare(base, os.path.join(tmp, 'sparse')):
            print('self-test: allocation compared without --sparse')
            failures += 1
        bad = b'bad\xffname\n'.decode('utf-8', 'surrogateescape')
        if compare(base, os.path.join(tmp, 'missing'), exclude=[bad]):
            print('self-test: --exclude does not exclude')
            failures += 1
    print('treecmp self-test: %d of %d cases failed' % (failures,
                                                        len(cases) + 4))
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('a', nargs='?')
    ap.add_argument('b', nargs='?')
    ap.add_argument('--no-atime', action='store_true',
                    help='do not compare atimes')
    ap.add_argument('--ignore-root-times', action='store_true',
                    help="do not compare the top directories' own times")
    ap.add_argument('--sparse', action='store_true',
                    help='holes of A must be holes in B; B allocates at '
                         'most A + 64 KiB')
    ap.add_argument('--exclude', action='append', default=[],
                    metavar='RELPATH', help='skip this path and below')
    ap.add_argument('--ignore-times', action='append', default=[],
                    metavar='RELPATH', help="skip this path's own times")
    ap.add_argument('--self-test', action='store_true')
    o = ap.parse_args()
    if o.self_test:
        return self_test()
    if not o.a or not o.b:
        ap.error('two directories needed')
    for d in (o.a, o.b):
        if not os.path.isdir(d):
            print('treecmp: %s: not a directory' % d, file=sys.stderr)
            return 2
    lines = compare(o.a, o.b, o.no_atime, o.ignore_root_times, o.sparse,
                    o.exclude, out=sys.stdout, ignore_times=o.ignore_times)
    if lines:
        print('treecmp: %d difference(s) between %s and %s'
              % (len(lines), o.a, o.b))
        return 1
    print('treecmp: identical: %s and %s' % (o.a, o.b))
    return 0


if __name__ == '__main__':
    sys.exit(main())
