#!/usr/bin/env python3
"""memscan.py PID - search a running process's memory for a secret.

The secret comes from the environment variable MEMSCAN_NEEDLE (not argv,
where any user could read it). Every readable mapping of /proc/PID/maps up
to 1 GiB is read through /proc/PID/mem (root, or the process's owner when
it is dumpable) — what gcore would write, and also the pages a process
excluded from core dumps. Larger mappings are address-space reservations
(ASan's shadow, LMDB's map of the cache file) and are skipped.

Prints one line per copy found (address, mapping); exit 1 if any, 0 if
none, 2 if the memory could not be read at all.
"""
import os
import sys

LIMIT = 1 << 30


def main():
    pid = int(sys.argv[1])
    needle = os.environb[b'MEMSCAN_NEEDLE']
    assert len(needle) >= 8, 'MEMSCAN_NEEDLE is too short to mean anything'
    hits, scanned = [], 0
    with open('/proc/%d/maps' % pid) as maps, \
            open('/proc/%d/mem' % pid, 'rb', 0) as mem:
        for line in maps:
            f = line.split()
            lo, hi = (int(x, 16) for x in f[0].split('-'))
            name = f[5] if len(f) > 5 else ''
            if f[1][0] != 'r' or hi - lo > LIMIT or name == '[vvar]':
                continue
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except OSError:
                continue
            scanned += len(data)
            i = data.find(needle)
            while i >= 0:
                hits.append('%x %s' % (lo + i, name or '[anon]'))
                i = data.find(needle, i + 1)
    for h in hits:
        print(h)
    print('memscan: %d copies in %d MiB of pid %d' %
          (len(hits), scanned >> 20, pid), file=sys.stderr)
    if scanned == 0:
        sys.exit(2)
    sys.exit(1 if hits else 0)


if __name__ == '__main__':
    main()
