#!/usr/bin/env python3
"""fanblock.py FILE READY -- CMD... — run CMD while a process opening FILE
waits for it.

Marks FILE with fanotify FAN_OPEN_PERM (root only). The first open of FILE,
by any process, is held until CMD has run; then it and every later open
are let through. READY is written (empty) once the mark is in place, and
READY.done with CMD's exit status once CMD has run. Runs until killed
(SIGTERM); if it dies, the kernel lets every held open through.

This makes a race deterministic: "this directory is renamed exactly while
drfs backup is reading that file" (tests/integration/backup_moved.sh).
"""

import ctypes
import os
import struct
import subprocess
import sys

FAN_CLOEXEC = 0x1
FAN_CLASS_CONTENT = 0x4
FAN_MARK_ADD = 0x1
FAN_OPEN_PERM = 0x10000
FAN_ALLOW = 0x1
AT_FDCWD = -100
META = struct.Struct("=IBBHQii")  # struct fanotify_event_metadata


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.exit("usage: fanblock.py FILE READY -- CMD...")
    path, ready, cmd = sys.argv[1], sys.argv[2], sys.argv[4:]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint,
                                   ctypes.c_uint64, ctypes.c_int,
                                   ctypes.c_char_p]
    fd = libc.fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC,
                            os.O_RDONLY | os.O_LARGEFILE)
    if fd < 0:
        sys.exit("fanotify_init: " + os.strerror(ctypes.get_errno()))
    if libc.fanotify_mark(fd, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD,
                          os.fsencode(path)) < 0:
        sys.exit("fanotify_mark: " + os.strerror(ctypes.get_errno()))
    open(ready, "w").close()
    ran = False
    while True:
        buf = os.read(fd, 4096)
        off = 0
        while off + META.size <= len(buf):
            ev_len, _, _, _, mask, efd, _ = META.unpack_from(buf, off)
            if mask & FAN_OPEN_PERM:
                if not ran:
                    ran = True
                    rc = subprocess.run(cmd).returncode
                    with open(ready + ".done", "w") as f:
                        f.write("%d\n" % rc)
                os.write(fd, struct.pack("=iI", efd, FAN_ALLOW))
            if efd >= 0:
                os.close(efd)
            off += ev_len


if __name__ == "__main__":
    main()
