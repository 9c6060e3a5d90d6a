#!/usr/bin/env python3
"""drfs-read.py — an independent reader of UNENCRYPTED drfs repositories,
written from docs/format.md alone (it shares no code with drfs).

Usage:
  drfs-read.py REPO snapshots            list snapshots: folder, id, time,
                                         host, path, files, tags
  drfs-read.py REPO restore SNAP DIR     restore a snapshot into DIR (which
                                         must be empty or absent); SNAP is a
                                         folder (YYYY-MM-DD/HHMMSS[.N]), an id
                                         or id prefix, or "latest"

REPO is a local repository directory (or file://path). Standard library
only; compressed blobs are decompressed with the `zstd` command-line tool.
Every object is verified as the spec says (names = SHA-256 of the bytes,
sealed-object checksums, blob ids = HMAC-SHA-256 with the id key); any
violation is an error. Exit 0 on success, 1 on errors, 2 on usage errors.
"""

import datetime
import hashlib
import hmac
import os
import stat
import struct
import subprocess
import sys

BLOB_MAX = 64 << 20
BLOB_STORED_MAX = BLOB_MAX + 4096
PACK_MAX = 256 << 20
PACK_MAX_BLOBS = 65536
SMALL_OBJECT_MAX = 1 << 20
INDEX_OBJECT_MAX = 64 << 20

KIND_CONFIG, KIND_TRAILER, KIND_INDEX, KIND_SNAPSHOT = 1, 2, 3, 4


class Corrupt(Exception):
    pass


def need(cond, what):
    if not cond:
        raise Corrupt(what)


class Reader:
    """Cursor over bytes; every read is bounds-checked."""

    def __init__(self, b, what):
        self.b, self.off, self.what = b, 0, what

    def left(self):
        return len(self.b) - self.off

    def raw(self, n):
        need(0 <= n <= self.left(), '%s: truncated' % self.what)
        v = self.b[self.off:self.off + n]
        self.off += n
        return v

    def u8(self):
        return self.raw(1)[0]

    def le32(self):
        return struct.unpack('<I', self.raw(4))[0]

    def uvarint(self):
        v = 0
        for i in range(10):
            c = self.u8()
            if i == 9:
                need(c <= 1, '%s: varint overflow' % self.what)
            v |= (c & 0x7f) << (7 * i)
            if not c & 0x80:
                return v
        raise Corrupt('%s: varint longer than 10 bytes' % self.what)

    def svarint(self):
        z = self.uvarint()
        return (z >> 1) ^ -(z & 1)

    def bytes(self, lo, hi):
        n = self.uvarint()
        need(lo <= n <= hi, '%s: length %d out of [%d, %d]' %
             (self.what, n, lo, hi))
        return self.raw(n)

    def end(self):
        need(self.left() == 0, '%s: trailing bytes' % self.what)


def read_file(path, limit):
    with open(path, 'rb') as f:
        b = f.read(limit + 1)
    need(len(b) <= limit, '%s: larger than %d bytes' % (path, limit))
    return b


def unseal(obj, kind, what):
    """Unencrypted sealed object: header | payload | SHA-256."""
    need(len(obj) >= 8 + 32, '%s: too short' % what)
    need(obj[:8] == b'DRFS' + bytes([kind, 1, 0, 0]),
         '%s: bad header %r (encrypted repository?)' % (what, obj[:8]))
    need(hashlib.sha256(obj[:-32]).digest() == obj[-32:],
         '%s: checksum mismatch' % what)
    return obj[8:-32]


class Repo:
    def __init__(self, root):
        if root.startswith('file://'):
            root = root[7:]
        self.root = root
        self.blobs = {}   # id -> (pack path, offset, stored, raw, type, flags)
        self._load_keys()
        self._load_config()

    def path(self, name):
        return os.path.join(self.root, name)

    def names(self, prefix):
        d = self.path(prefix)
        if not os.path.isdir(d):
            return []
        return sorted(n for n in os.listdir(d)
                      if not n.startswith('.tmp-'))

    def content_object(self, name, limit):
        b = read_file(self.path(name), limit)
        need(hashlib.sha256(b).hexdigest() == os.path.basename(name),
             '%s: name is not the SHA-256 of its bytes' % name)
        return b

    def _load_keys(self):
        for n in self.names('keys'):
            b = self.content_object('keys/' + n, 4096)
            need(len(b) >= 50 and b[:8] == b'DRFSKEY1',
                 'keys/%s: not a key file' % n)
            if b[8] == 1:
                raise Corrupt('keys/%s: encrypted repository (this reader '
                              'handles only --no-encryption)' % n)
            need(b[8] == 0 and len(b) == 114, 'keys/%s: bad key file' % n)
            self.data_key, self.id_key = b[50:82], b[82:114]
            return
        raise Corrupt('no key file under keys/')

    def _load_config(self):
        p = unseal(read_file(self.path('config'), SMALL_OBJECT_MAX),
                   KIND_CONFIG, 'config')
        r = Reader(p, 'config')
        version = r.le32()
        self.repo_id = r.raw(16)
        mn, avg, mx, norm = r.le32(), r.le32(), r.le32(), r.u8()
        level = r.svarint()
        target = r.le32()
        r.end()
        need(version == 1, 'config: unsupported version %d' % version)
        need(4096 <= mn < avg < mx <= 16 << 20 and avg & (avg - 1) == 0
             and norm <= 3, 'config: bad chunker parameters')
        need(-7 <= level <= 22, 'config: bad zstd level')
        need(1 << 20 <= target <= PACK_MAX // 2, 'config: bad pack target')

    # ---- snapshots ----

    def snapshots(self):
        out = []
        for n in self.names('snapshots'):
            b = self.content_object('snapshots/' + n, SMALL_OBJECT_MAX)
            s = decode_snapshot(unseal(b, KIND_SNAPSHOT, 'snapshots/' + n),
                                'snapshots/' + n)
            s['id'] = n
            out.append(s)
        out.sort(key=lambda s: (s['sec'], s['nsec'], bytes.fromhex(s['id'])))
        # folder names (format.md 8.1), one second at a time
        i = 0
        while i < len(out):
            j = i
            while j < len(out) and out[j]['sec'] == out[i]['sec']:
                j += 1
            name_second(out[i:j])
            i = j
        return out

    # ---- blobs ----

    def load_packs(self):
        for xx in self.names('data'):
            for n in self.names('data/' + xx):
                need(n[:2] == xx, 'data/%s/%s: wrong directory' % (xx, n))
                self._load_pack('data/%s/%s' % (xx, n))

    def _load_pack(self, name):
        path = self.path(name)
        size = os.path.getsize(path)
        need(12 <= size <= PACK_MAX, '%s: bad size' % name)
        with open(path, 'rb') as f:
            data = f.read()
        need(hashlib.sha256(data).hexdigest() == os.path.basename(name),
             '%s: name is not the SHA-256 of its bytes' % name)
        need(data[-8:] == b'DRFSPAK1', '%s: no pack magic' % name)
        tlen = struct.unpack('<I', data[-12:-8])[0]
        need(8 <= tlen <= size - 12, '%s: bad trailer length' % name)
        toff = size - 12 - tlen
        r = Reader(unseal(data[toff:toff + tlen], KIND_TRAILER, name), name)
        need(r.u8() == 1, '%s: trailer version' % name)
        n = r.le32()
        need(n <= PACK_MAX_BLOBS and r.left() == 46 * n,
             '%s: bad trailer count' % name)
        spans = []
        for _ in range(n):
            typ, flags = r.u8(), r.u8()
            bid = r.raw(32)
            off, stored, raw = r.le32(), r.le32(), r.le32()
            need(typ <= 1 and flags & ~1 == 0, '%s: bad type/flags' % name)
            need(raw <= BLOB_MAX and stored <= BLOB_STORED_MAX,
                 '%s: blob too large' % name)
            need(off + stored <= toff, '%s: blob past the trailer' % name)
            spans.append((off, stored))
            self.blobs.setdefault(bid, (path, off, stored, raw, typ, flags))
        spans.sort()
        for (a, al), (b, _) in zip(spans, spans[1:]):
            need(a + al <= b, '%s: overlapping blobs' % name)

    def blob(self, bid, want_type):
        need(bid in self.blobs, 'blob %s: not in any pack' % bid.hex())
        path, off, stored, raw, typ, flags = self.blobs[bid]
        need(typ == want_type, 'blob %s: type %d, want %d' %
             (bid.hex(), typ, want_type))
        with open(path, 'rb') as f:
            f.seek(off)
            z = f.read(stored)
        need(len(z) == stored, 'blob %s: short read' % bid.hex())
        if flags & 1:
            p = subprocess.run(['zstd', '-d', '-q', '-c', '--no-check'],
                               input=z, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
            need(p.returncode == 0, 'blob %s: zstd: %s' %
                 (bid.hex(), p.stderr.decode(errors='replace').strip()))
            z = p.stdout
        need(len(z) == raw, 'blob %s: %d bytes, want %d' %
             (bid.hex(), len(z), raw))
        need(hmac.new(self.id_key, z, hashlib.sha256).digest() == bid,
             'blob %s: content does not match its id' % bid.hex())
        return z


def folder_of(sec):
    t = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=sec)
    return t.strftime('%Y-%m-%d/%H%M%S')


def name_valid(name, sec):
    base = folder_of(sec)
    if len(base) != 17 or not name.startswith(base):
        return False
    rest = name[17:]
    return rest == '' or (rest[:1] == '.' and rest[1:].isdigit() and
                          rest[1] != '0' and int(rest[1:]) <= 9999 and
                          rest[1:].isascii())


def suffix(name):
    return int(name[18:]) if len(name) > 17 else 0


def name_second(snaps):
    """Folders of the snapshots of one second, oldest first."""
    taken = set()
    for s in snaps:             # recorded names first; the oldest keeps one
        if s['name'] is None:
            continue
        n = suffix(s['name'])
        if n in taken:
            s['folder'] = '%s~%s' % (s['name'], s['id'][:8])
        else:
            taken.add(n)
            s['folder'] = s['name']
    nxt = 0
    for s in snaps:             # then the others: lowest free suffix
        if s['name'] is not None:
            continue
        while nxt in taken:
            nxt += 1
        s['folder'] = folder_of(s['sec']) + ('.%d' % nxt if nxt else '')
        nxt += 1


def decode_snapshot(p, what):
    r = Reader(p, what)
    version = r.u8()
    need(version in (1, 2, 3), '%s: version' % what)
    s = {'sec': r.svarint(), 'nsec': r.uvarint()}
    need(s['nsec'] < 10**9, '%s: nsec' % what)
    s['root'], s['parent'], s['meta'] = r.raw(32), r.raw(32), r.raw(32)
    s['host'] = r.bytes(0, 255)
    s['path'] = r.bytes(0, 4096)
    need(b'\0' not in s['host'] + s['path'], '%s: NUL in a string' % what)
    nt = r.uvarint()
    need(nt <= 64, '%s: too many tags' % what)
    s['tags'], used = [], 0
    for _ in range(nt):
        t = r.bytes(1, 255)
        need(b'\0' not in t, '%s: NUL in a tag' % what)
        used += len(t) + 1
        need(used <= 2048, '%s: tags too long' % what)
        s['tags'].append(t)
    for k in ('files', 'dirs', 'bytes', 'added_bytes', 'added_blobs'):
        s[k] = r.uvarint()
    s['name'] = None
    s['duration_ms'] = None
    if version >= 2:
        name = r.bytes(0, 22)
        if version == 2 or name:
            need(name.isascii() and name_valid(name.decode(), s['sec']),
                 '%s: bad folder name %r' % (what, name))
            s['name'] = name.decode()
    if version == 3:
        s['duration_ms'] = r.uvarint()
        need(s['duration_ms'] >= 1, '%s: duration 0' % what)
    r.end()
    return s


S_TYPES = (stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK, stat.S_IFCHR,
           stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK)


def decode_tree(p, what):
    """List of entry dicts of a tree blob, fully validated."""
    r = Reader(p, what)
    need(r.u8() == 1, '%s: tree version' % what)
    out, last = [], None
    while r.left():
        e = {}
        name = r.bytes(1, 255)
        need(b'/' not in name and b'\0' not in name and
             name not in (b'.', b'..'), '%s: bad name %r' % (what, name))
        need(last is None or last < name, '%s: names not sorted' % what)
        last = name
        e['name'] = name
        e['mode'], e['uid'], e['gid'] = r.uvarint(), r.uvarint(), r.uvarint()
        for t in ('mtime', 'atime', 'ctime'):
            sec, ns = r.svarint(), r.uvarint()
            need(ns < 10**9, '%s: nsec' % what)
            e[t] = sec * 10**9 + ns
        e['size'], e['nlink'], e['ino'] = r.uvarint(), r.uvarint(), r.uvarint()
        need(max(e['mode'], e['uid'], e['gid'], e['nlink']) < 1 << 32,
             '%s: field over 32 bits' % what)
        fmt = stat.S_IFMT(e['mode'])
        need(fmt in S_TYPES and e['mode'] & ~0o177777 == 0,
             '%s: bad mode %o' % (what, e['mode']))
        if fmt == stat.S_IFLNK:
            e['target'] = r.bytes(1, 4096)
        elif fmt in (stat.S_IFCHR, stat.S_IFBLK):
            e['rdev'] = r.uvarint()
        elif fmt == stat.S_IFDIR:
            e['subtree'] = r.raw(32)
        elif fmt == stat.S_IFREG:
            n, end, ext = r.uvarint(), 0, []
            need(n <= r.left() // 34, '%s: extent count' % what)
            for _ in range(n):
                gap, ln, bid = r.uvarint(), r.uvarint(), r.raw(32)
                off = end + gap
                need(1 <= ln <= BLOB_MAX and off + ln <= e['size'],
                     '%s: bad extent' % what)
                ext.append((off, ln, bid))
                end = off + ln
            e['extents'] = ext
        nx = r.uvarint()
        need(nx <= 1024, '%s: too many xattrs' % what)
        e['xattrs'] = [(r.bytes(1, 255), r.bytes(0, 65536))
                       for _ in range(nx)]
        out.append(e)
    need(len(out) <= 1 << 22, '%s: too many entries' % what)
    return out


class Restorer:
    def __init__(self, repo):
        self.repo = repo
        self.links = {}     # ino -> first path (nlink > 1)
        self.dirs = []      # (path, entry): metadata applied last
        self.errors = 0

    def meta(self, path, e, is_link=False):
        try:
            os.lchown(path, e['uid'], e['gid'])
        except PermissionError:
            pass
        if not is_link:
            os.chmod(path, stat.S_IMODE(e['mode']))
        for k, v in e['xattrs']:
            os.setxattr(path, k, v, follow_symlinks=False)
        os.utime(path, ns=(e['atime'], e['mtime']), follow_symlinks=False)

    def file(self, path, e):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC |
                     os.O_NOFOLLOW, 0o600)
        try:
            os.ftruncate(fd, e['size'])
            for off, ln, bid in e['extents']:
                b = self.repo.blob(bid, 0)
                need(len(b) == ln, 'extent length mismatch')
                os.pwrite(fd, b, off)
        finally:
            os.close(fd)

    def tree(self, tid, dpath):
        for e in decode_tree(self.repo.blob(tid, 1), 'tree ' + tid.hex()):
            path = os.path.join(dpath, os.fsdecode(e['name']))
            fmt = stat.S_IFMT(e['mode'])
            if fmt != stat.S_IFDIR and e['nlink'] > 1:
                first = self.links.get(e['ino'])
                if first is not None:
                    os.link(first, path)
                    continue
                self.links[e['ino']] = path
            if fmt == stat.S_IFREG:
                self.file(path, e)
                self.meta(path, e)
            elif fmt == stat.S_IFDIR:
                os.mkdir(path, 0o700)
                self.tree(e['subtree'], path)
                self.dirs.append((path, e))
            elif fmt == stat.S_IFLNK:
                os.symlink(e['target'], os.fsencode(path))
                self.meta(path, e, is_link=True)
            else:
                os.mknod(path, fmt | 0o600, e.get('rdev', 0))
                self.meta(path, e)

    def run(self, snap, target):
        os.makedirs(target, exist_ok=True)
        need(not os.listdir(target), '%s: not empty' % target)
        self.tree(snap['root'], target)
        for path, e in reversed(self.dirs):
            self.meta(path, e)
        if snap['meta'] != bytes(32):
            ents = decode_tree(self.repo.blob(snap['meta'], 1), 'meta tree')
            root = [e for e in ents if e['name'] == b'root']
            need(len(root) == 1 and stat.S_ISDIR(root[0]['mode']),
                 'meta tree has no directory "root"')
            self.meta(target, root[0])


def pick(snaps, spec):
    if spec == 'latest':
        need(snaps, 'no snapshots')
        return snaps[-1]
    m = [s for s in snaps if s['folder'] == spec]
    if not m:
        m = [s for s in snaps if s['id'].startswith(spec.lower())]
    need(len(m) == 1, 'snapshot %r: %d matches' % (spec, len(m)))
    return m[0]


def main(argv):
    if len(argv) < 3 or argv[2] not in ('snapshots', 'restore') or \
            (argv[2] == 'restore' and len(argv) != 5):
        sys.stderr.write(__doc__)
        return 2
    try:
        repo = Repo(argv[1])
        snaps = repo.snapshots()
        if argv[2] == 'snapshots':
            for s in snaps:
                print('%s %s %d.%09d %s %s files=%d tags=%s' % (
                    s['folder'], s['id'], s['sec'], s['nsec'],
                    s['host'].decode(errors='replace'),
                    s['path'].decode(errors='replace'), s['files'],
                    ','.join(t.decode(errors='replace') for t in s['tags'])))
            return 0
        snap = pick(snaps, argv[3])
        repo.load_packs()
        Restorer(repo).run(snap, argv[4])
        return 0
    except (Corrupt, OSError) as e:
        print('drfs-read: %s' % e, file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
