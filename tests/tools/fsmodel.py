#!/usr/bin/env python3
"""fsmodel.py — random file-system operations on two trees, compared.

    fsmodel.py run REF DUT --seed S --ops N
    fsmodel.py settle REF DUT
    fsmodel.py compare REF DUT

`run` applies N random operations (seeded: the same seed gives the same
operations on the same starting tree) to REF, a directory on a local file
system that serves as the model, and to DUT, the same tree in the file
system under test (now/ of a drfs mount), one operation at a time: create,
write at any offset (holes, some of tens of MiB), O_APPEND writes, stores
through a shared writable mmap, copy_file_range, truncate, fallocate (punch
hole, zero range), fsync, mkdir, rmdir, rename (replacing, RENAME_NOREPLACE,
RENAME_EXCHANGE, directories too), unlink, link, symlink, mkfifo, chmod,
chown, utimens, setxattr, removexattr, and writes through descriptors held
open across renames and unlinks. An operation that fails must fail the same
way (errno) on both. Every 100 operations a random file is read back whole
from both, and every 400 the two trees are compared (names, types, modes,
owners, sizes, content, symlink targets, xattrs, hard links; not times,
which the two file systems set at slightly different instants).

`settle` gives every entry of both trees the same deterministic mtime and
atime, deepest first (run has closed its descriptors by then), so
that `compare` (tests/tools/treecmp.py, atimes excluded, root times too) can
then demand identical trees, across a remount or in a snapshot. After a
crash, `compare --no-times` leaves mtimes out (nothing was settled), and
`--lost-ok` accepts regular files that are empty under test: now/'s
documented outcome for data written, never fsync'd and not yet flushed
when the daemon was killed; everything else must still agree.

On a difference or a mismatched error: the operation, the last 40 before
it, and the seed on stderr; exit 1. Exit 0 when all agree. FSMODEL_TRACE=1
prints each operation as it starts and, at the end, how many of each kind
succeeded or failed with which errno.
"""

import argparse
import ctypes
import errno
import hashlib
import mmap
import os
import random
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import treecmp  # noqa: E402

NAMES = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']
DIRS_DEPTH = 3
MAX_SIZE = 3 << 20  # past now/'s 1 MiB memory-staging limit
HELD_MAX = 4

libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long,
                           ctypes.c_long]
libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                           ctypes.c_char_p, ctypes.c_uint]
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
AT_FDCWD = -100
TRACE = os.environ.get('FSMODEL_TRACE') == '1'
# a FIFO where a file is expected fails instead of blocking; symlinks are
# not followed (a relative target may point out of the tree)
NB = os.O_NONBLOCK | os.O_NOFOLLOW


class Mismatch(Exception):
    pass


def c_call(fn, *args):
    r = fn(*args)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def fallocate(fd, mode, off, length):
    c_call(libc.fallocate, fd, mode, off, length)


def renameat2(old, new, flags):
    c_call(libc.renameat2, AT_FDCWD, os.fsencode(old), AT_FDCWD,
           os.fsencode(new), flags)


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def with_fd(path, flags, fn):
    """fn(fd) on path opened with flags (and NB); the fd is closed."""
    fd = os.open(path, flags | NB, 0o644)
    try:
        return fn(fd)
    finally:
        os.close(fd)


def read_all(path):
    fd = os.open(path, os.O_RDONLY | NB)
    with open(fd, 'rb') as fh:
        return fh.read()


class Model:
    def __init__(self, ref, dut, seed):
        self.ref, self.dut = ref, dut
        self.rnd = random.Random(seed)
        self.seed = seed
        self.log = []
        self.held = []  # [rel, ref_fd, dut_fd]
        self.n = 0
        self.stats = {}  # (operation, 'ok' or errno name) -> count

    # -- helpers ---------------------------------------------------------
    def both(self, rel):
        return os.path.join(self.ref, rel), os.path.join(self.dut, rel)

    def entries(self):
        """Relative paths of the model tree, directories and the rest."""
        dirs, other = [''], []
        for top, ds, fs in os.walk(self.ref):
            r = os.path.relpath(top, self.ref)
            r = '' if r == '.' else r
            for d in ds:
                p = os.path.join(r, d)
                if os.path.islink(os.path.join(self.ref, p)):
                    other.append(p)
                else:
                    dirs.append(p)
            other.extend(os.path.join(r, f) for f in fs)
        return sorted(dirs), sorted(other)

    def files(self):
        _, other = self.entries()
        return [p for p in other
                if stat.S_ISREG(os.lstat(os.path.join(self.ref, p)).st_mode)]

    def new_path(self, must_not_exist=False):
        dirs, _ = self.entries()
        dirs = [d for d in dirs if d.count('/') < DIRS_DEPTH - 1]
        for _ in range(20):
            p = os.path.join(self.rnd.choice(dirs), self.rnd.choice(NAMES))
            if not must_not_exist or not os.path.lexists(
                    os.path.join(self.ref, p)):
                return p
        return None

    def pick_file(self, nonempty=False):
        """A regular file of the model and its size, or (None, 0)."""
        fs = self.files()
        if not fs:
            return None, 0
        p = self.rnd.choice(fs)
        sz = os.lstat(os.path.join(self.ref, p)).st_size
        return (None, 0) if nonempty and sz == 0 else (p, sz)

    def any_path(self):
        dirs, other = self.entries()
        pool = dirs[1:] + other
        return self.rnd.choice(pool) if pool else None

    def data(self, n):
        return self.rnd.randbytes(n)

    def size(self):
        r = self.rnd.random()
        if r < 0.1:
            return 0
        if r < 0.5:
            return self.rnd.randint(1, 4096)
        if r < 0.8:
            return self.rnd.randint(4097, 256 << 10)
        if r < 0.95:
            return self.rnd.randint(256 << 10, 3 << 19)
        return self.rnd.randint(3 << 19, MAX_SIZE)

    def same(self, what, fn_ref, fn_dut):
        """Run fn on both sides; results and errnos must agree."""
        self.log.append(what)
        if TRACE:
            print('fsmodel: %d: %s' % (self.n, what), file=sys.stderr)
        er = ed = None
        rr = rd = None
        try:
            rr = fn_ref()
        except OSError as e:
            er = e.errno
        try:
            rd = fn_dut()
        except OSError as e:
            ed = e.errno
        if er != ed:
            raise Mismatch('%s: model %s, under test %s' % (
                what, errno.errorcode.get(er, er) if er else 'ok',
                errno.errorcode.get(ed, ed) if ed else 'ok'))
        if rr != rd:
            raise Mismatch('%s: model returned %r, under test %r' % (
                what, rr, rd))
        k = (what.split(' ')[0], errno.errorcode.get(er, er) if er else 'ok')
        self.stats[k] = self.stats.get(k, 0) + 1
        return er is None

    def on_paths(self, what, fn, *rels):
        a = [os.path.join(self.ref, r) for r in rels]
        b = [os.path.join(self.dut, r) for r in rels]
        return self.same(what, lambda: fn(*a), lambda: fn(*b))

    # -- operations ------------------------------------------------------
    def op_create(self):
        p = self.new_path()
        if p is None:
            return
        d = self.data(self.size())

        self.on_paths('create %s (%d bytes)' % (p, len(d)),
                      lambda x: with_fd(x, os.O_WRONLY | os.O_CREAT |
                                        os.O_TRUNC, lambda fd:
                                        write_all(fd, d)), p)

    def op_pwrite(self):
        p, sz = self.pick_file()
        if p is None:
            return
        off = self.rnd.randint(0, min(sz + (64 << 10), MAX_SIZE))
        d = self.data(min(self.size(), MAX_SIZE - off + 1))
        self.pwrite(p, off, d)

    def pwrite(self, p, off, d, what='pwrite'):
        self.on_paths('%s %s at %d (%d bytes)' % (what, p, off, len(d)),
                      lambda x: with_fd(x, os.O_WRONLY, lambda fd:
                                        os.pwrite(fd, d, off)), p)

    def op_append(self):
        p, _ = self.pick_file()
        if p is None:
            return
        d = self.data(self.rnd.randint(1, 70000))
        self.on_paths('append %s (%d bytes)' % (p, len(d)),
                      lambda x: with_fd(x, os.O_WRONLY | os.O_APPEND,
                                        lambda fd: os.write(fd, d)), p)

    def op_far_write(self):
        """A write far past the end: a hole of up to 48 MiB."""
        p, _ = self.pick_file()
        if p is None:
            return
        off = self.rnd.randint(4 << 20, 48 << 20)
        self.pwrite(p, off, self.data(self.rnd.randint(1, 100000)),
                    'far-pwrite')

    def op_mmap_write(self):
        """Store into a shared writable mapping, unmap, close."""
        p, sz = self.pick_file(nonempty=True)
        if p is None:
            return
        off = self.rnd.randint(0, sz - 1)
        d = self.data(self.rnd.randint(1, min(sz - off, 300000)))
        sync = self.rnd.random() < 0.5

        def w(fd):
            m = mmap.mmap(fd, sz, mmap.MAP_SHARED,
                          mmap.PROT_READ | mmap.PROT_WRITE)
            m[off:off + len(d)] = d
            if sync:
                m.flush()
            m.close()
        self.on_paths('mmap-write %s at %d (%d bytes%s)' % (
            p, off, len(d), ', msync' if sync else ''),
            lambda x: with_fd(x, os.O_RDWR, w), p)

    def op_copy_range(self):
        """copy_file_range between two files of the tree."""
        fs = self.files()
        if len(fs) < 2:
            return
        a, b = self.rnd.sample(fs, 2)
        sa = os.lstat(os.path.join(self.ref, a)).st_size
        off_in = self.rnd.randint(0, sa)
        n = self.rnd.randint(0, 1 << 20)
        off_out = self.rnd.randint(0, MAX_SIZE - n)

        def c(fa, fb):
            done = 0
            while done < n:
                k = os.copy_file_range(fa, fb, n - done, off_in + done,
                                       off_out + done)
                if k == 0:
                    break
                done += k
            return done
        self.on_paths('copy_file_range %s+%d -> %s+%d (%d bytes)' % (
            a, off_in, b, off_out, n),
            lambda x, y: with_fd(x, os.O_RDONLY, lambda fa: with_fd(
                y, os.O_WRONLY, lambda fb: c(fa, fb))), a, b)

    def op_truncate(self):
        p, _ = self.pick_file()
        if p is None:
            return
        n = self.rnd.randint(0, MAX_SIZE)
        self.on_paths('truncate %s to %d' % (p, n),
                      lambda x: os.truncate(x, n), p)

    def op_fallocate(self):
        p, sz = self.pick_file(nonempty=True)
        if p is None:
            return
        off = self.rnd.randint(0, sz - 1)
        ln = self.rnd.randint(1, sz - off)
        mode = self.rnd.choice([FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                FALLOC_FL_ZERO_RANGE,
                                FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE])

        def f(path):
            with_fd(path, os.O_WRONLY, lambda fd: fallocate(fd, mode, off, ln))
        err = None
        try:  # what the model's file system cannot do is not asked
            f(os.path.join(self.ref, p))
        except OSError as e:
            if e.errno == errno.EOPNOTSUPP:
                return
            err = e

        def model():
            if err:
                raise err
        self.same('fallocate %s mode %#x %d+%d' % (p, mode, off, ln),
                  model, lambda: f(os.path.join(self.dut, p)))

    def op_fsync(self):
        p, _ = self.pick_file()
        if p is not None:
            self.on_paths('fsync %s' % p,
                          lambda x: with_fd(x, os.O_RDONLY, os.fsync), p)

    def op_mkdir(self):
        p = self.new_path()
        if p is not None:
            self.on_paths('mkdir %s' % p, lambda x: os.mkdir(x, 0o755), p)

    def op_rmdir(self):
        dirs, _ = self.entries()
        if len(dirs) > 1:
            p = self.rnd.choice(dirs[1:])
            self.on_paths('rmdir %s' % p, os.rmdir, p)

    def op_rename(self):
        a = self.any_path()
        b = self.new_path()
        if a is None or b is None:
            return
        how = self.rnd.random()
        if how < 0.6:
            self.on_paths('rename %s %s' % (a, b), os.rename, a, b)
        elif how < 0.8:
            self.on_paths('rename noreplace %s %s' % (a, b),
                          lambda x, y: renameat2(x, y, RENAME_NOREPLACE),
                          a, b)
        else:
            self.on_paths('rename exchange %s %s' % (a, b),
                          lambda x, y: renameat2(x, y, RENAME_EXCHANGE),
                          a, b)

    def op_unlink(self):
        _, other = self.entries()
        if other:
            p = self.rnd.choice(other)
            self.on_paths('unlink %s' % p, os.unlink, p)

    def op_link(self):
        fs = self.files()
        b = self.new_path()
        if fs and b:
            a = self.rnd.choice(fs)
            self.on_paths('link %s %s' % (a, b), os.link, a, b)

    def op_symlink(self):
        p = self.new_path()
        if p is not None:
            t = self.rnd.choice(['../' * self.rnd.randint(0, 2) +
                                 self.rnd.choice(NAMES), '/nonexistent',
                                 'x' * self.rnd.randint(1, 300)])
            self.on_paths('symlink %s -> %s' % (p, t),
                          lambda x: os.symlink(t, x), p)

    def op_mkfifo(self):
        p = self.new_path()
        if p is not None:
            self.on_paths('mkfifo %s' % p, lambda x: os.mkfifo(x, 0o640), p)

    def op_chmod(self):
        p = self.any_path()
        if p is None or os.path.islink(os.path.join(self.ref, p)):
            return
        m = self.rnd.choice([0o644, 0o600, 0o755, 0o4755, 0o2750, 0o1777,
                             0o000, 0o444])
        self.on_paths('chmod %s %o' % (p, m), lambda x: os.chmod(x, m), p)

    def op_chown(self):
        p = self.any_path()
        if p is None:
            return
        u, g = self.rnd.choice([0, 1, 1000, 65534]), \
            self.rnd.choice([0, 1, 1000, 65534])
        self.on_paths('chown %s %d:%d' % (p, u, g),
                      lambda x: os.chown(x, u, g, follow_symlinks=False), p)

    def op_utime(self):
        p = self.any_path()
        if p is None:
            return
        ns = (self.rnd.randint(0, 2 << 30) * 1000000000 +
              self.rnd.randint(0, 999999999))
        self.on_paths('utime %s %d' % (p, ns),
                      lambda x: os.utime(x, ns=(ns, ns),
                                         follow_symlinks=False), p)

    def op_setxattr(self):
        p = self.any_path()
        if p is None or os.path.islink(os.path.join(self.ref, p)):
            return
        k = 'user.' + self.rnd.choice(NAMES)
        v = self.data(self.rnd.randint(0, 300))
        self.on_paths('setxattr %s %s (%d bytes)' % (p, k, len(v)),
                      lambda x: os.setxattr(x, k, v), p)

    def op_removexattr(self):
        p = self.any_path()
        if p is None or os.path.islink(os.path.join(self.ref, p)):
            return
        k = 'user.' + self.rnd.choice(NAMES)
        self.on_paths('removexattr %s %s' % (p, k),
                      lambda x: os.removexattr(x, k), p)

    def op_hold(self):
        fs = self.files()
        if not fs or len(self.held) >= HELD_MAX:
            return
        p = self.rnd.choice(fs)
        a, b = self.both(p)
        fds = []
        ok = self.same('open-hold %s' % p,
                       lambda: fds.append(os.open(a, os.O_RDWR | NB)),
                       lambda: fds.append(os.open(b, os.O_RDWR | NB)))
        if ok:
            self.held.append([p, fds[0], fds[1]])
        else:
            for fd in fds:
                os.close(fd)

    def op_held_write(self):
        if not self.held:
            return
        h = self.rnd.choice(self.held)
        off = self.rnd.randint(0, MAX_SIZE - (256 << 10))
        d = self.data(self.rnd.randint(1, 256 << 10))
        self.same('held-write %s at %d (%d bytes)' % (h[0], off, len(d)),
                  lambda: os.pwrite(h[1], d, off),
                  lambda: os.pwrite(h[2], d, off))
        if self.rnd.random() < 0.3:
            n = self.rnd.randint(0, MAX_SIZE)
            self.same('held-ftruncate %s %d' % (h[0], n),
                      lambda: os.ftruncate(h[1], n),
                      lambda: os.ftruncate(h[2], n))

    def op_held_read(self):
        if not self.held:
            return
        h = self.rnd.choice(self.held)
        off = self.rnd.randint(0, MAX_SIZE)
        n = self.rnd.randint(1, 1 << 20)
        self.same('held-read %s at %d (%d bytes)' % (h[0], off, n),
                  lambda: hashlib.sha256(os.pread(h[1], n, off)).hexdigest(),
                  lambda: hashlib.sha256(os.pread(h[2], n, off)).hexdigest())

    def op_held_close(self):
        if self.held:
            h = self.held.pop(self.rnd.randrange(len(self.held)))
            self.log.append('close-held %s' % h[0])
            os.close(h[1])
            os.close(h[2])

    OPS = [(op_create, 12), (op_pwrite, 12), (op_append, 5),
           (op_far_write, 1), (op_mmap_write, 3), (op_copy_range, 3),
           (op_truncate, 5), (op_fallocate, 4), (op_fsync, 2),
           (op_mkdir, 6), (op_rmdir, 3), (op_rename, 10), (op_unlink, 6),
           (op_link, 4), (op_symlink, 3), (op_mkfifo, 1), (op_chmod, 4),
           (op_chown, 3), (op_utime, 4), (op_setxattr, 3),
           (op_removexattr, 2), (op_hold, 3), (op_held_write, 4),
           (op_held_read, 3), (op_held_close, 2)]

    # -- checks ----------------------------------------------------------
    def check_file(self):
        fs = self.files()
        if fs:
            p = self.rnd.choice(fs)
            a, b = self.both(p)
            self.log.append('read-back %s' % p)
            if read_all(a) != read_all(b):
                raise Mismatch('read-back %s: content differs' % p)

    def check_tree(self):
        self.log.append('compare trees')
        # times are set at different instants on the two sides: compare
        # everything else
        lines = treecmp.compare(self.ref, self.dut, no_atime=True,
                                ignore_root_times=True,
                                ignore_times=all_rels(self.ref))
        if lines:
            raise Mismatch('trees differ:\n  ' + '\n  '.join(lines[:40]))

    def run(self, ops):
        names = [f for f, _ in self.OPS]
        weights = [w for _, w in self.OPS]
        try:
            for i in range(ops):
                self.n = i
                self.rnd.choices(names, weights)[0](self)
                if i % 100 == 99:
                    self.check_file()
                if i % 400 == 399:
                    self.check_tree()
            while self.held:
                self.op_held_close()
            self.check_tree()
            if TRACE:
                for (op, res), c in sorted(self.stats.items()):
                    print('fsmodel: %s %s: %d' % (op, res, c),
                          file=sys.stderr)
        except Mismatch as e:
            print('fsmodel: seed %d, operation %d: %s' % (
                self.seed, self.n, e), file=sys.stderr)
            print('fsmodel: the operations before it:', file=sys.stderr)
            for line in self.log[-41:-1]:
                print('  ' + line, file=sys.stderr)
            return 1
        return 0


def settle(ref, dut):
    """Same mtime/atime for every entry of both trees, deepest first."""
    rels = []
    for top, ds, fs in os.walk(ref):
        for n in ds + fs:
            rels.append(os.path.relpath(os.path.join(top, n), ref))
    rels.sort(key=lambda r: (-r.count('/'), r))
    for i, r in enumerate(rels):
        ns = 1500000000 * 1000000000 + i * 1000001
        for root in (ref, dut):
            os.utime(os.path.join(root, r), ns=(ns, ns),
                     follow_symlinks=False)


def all_rels(root):
    return [os.path.relpath(os.path.join(top, n), root)
            for top, ds, fs in os.walk(root) for n in ds + fs]


def compare(ref, dut, times=True, lost_ok=False):
    """treecmp of the two trees, atimes and root times excluded; times=False
    leaves out mtimes too; lost_ok accepts a regular file that is empty
    under test (content lost in a crash: the documented outcome for data
    never fsync'd). Prints the differences; returns their number."""
    lost = set()
    if lost_ok:
        for r in all_rels(ref):
            try:
                sa = os.lstat(os.path.join(ref, r))
                sb = os.lstat(os.path.join(dut, r))
            except FileNotFoundError:
                continue
            if (stat.S_ISREG(sa.st_mode) and stat.S_ISREG(sb.st_mode)
                    and sa.st_size > 0 and sb.st_size == 0):
                lost.add('%s: size: %d vs 0' % (treecmp.esc(r), sa.st_size))
    lines = treecmp.compare(ref, dut, no_atime=True, ignore_root_times=True,
                            ignore_times=() if times else all_rels(ref))
    bad = [line for line in lines if line not in lost]
    for line in bad:
        print(line, file=sys.stderr)
    if lost_ok:
        print('fsmodel: %d files lost their content' % (
            len(lines) - len(bad)), file=sys.stderr)
    return len(bad)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('cmd', choices=['run', 'settle', 'compare'])
    ap.add_argument('ref')
    ap.add_argument('dut')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--ops', type=int, default=1000)
    ap.add_argument('--no-times', action='store_true',
                    help='compare: leave out mtimes (no settle before)')
    ap.add_argument('--lost-ok', action='store_true',
                    help='compare: a file empty under test is accepted')
    a = ap.parse_args()
    if a.cmd == 'run':
        print('fsmodel: seed %d, %d operations' % (a.seed, a.ops),
              file=sys.stderr)
        return Model(a.ref, a.dut, a.seed).run(a.ops)
    if a.cmd == 'settle':
        settle(a.ref, a.dut)
        return 0
    return 1 if compare(a.ref, a.dut, not a.no_times, a.lost_ok) else 0


if __name__ == '__main__':
    sys.exit(main())
