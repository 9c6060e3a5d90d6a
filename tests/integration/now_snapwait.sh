#!/bin/bash
# While a snapshot waits for its uploads, now/ goes on (docs/now.md,
# "Snapshots"): the uploads are slowed (DRFS_TEST_UPLOAD_SLEEP=3 s per
# pack, a slow S3) and `drfs snapshot` runs while a driver changes now/
# every 0.25 s (each followed by an `ls` of the mount root and `drfs
# status`): a file in a directory the snapshot marks clean, a write
# through a descriptor opened before the snapshot, a file deep under
# clean directories, chmod, rename across directories, unlink, rmdir of a
# directory the snapshot holds, mkdir, a hard link, an xattr, truncate, a
# symlink, rsync's write-then-rename. The same changes go to a shadow tree
# on local disk, whose state is kept after each one. Then:
#  - the snapshot equals the shadow after some prefix of the changes
#    (a point in time, nothing of what came after);
#  - at least 3 changes after that point (with their ls and status)
#    completed while the snapshot still ran: they used to wait for the
#    uploads (a stat in now/ took the whole upload time; the ls, also
#    while the kernel held the root's inode lock through the snapshot's
#    setxattr; the background chunker held now/'s lock while it waited
#    for the flush);
#  - the next snapshot equals the shadow after all changes (what changed
#    while the first waited stays dirty, parents included);
#  - once more with the root dirty at the build and, while the snapshot
#    waits, changes only deep under a directory clean at the build,
#    nothing after: the next snapshot has them (a build that noted only
#    the changed inode, not the parents it dirtied, left that directory
#    dirty under a clean root: lost for every later snapshot);
#  - now/ and latest/ after a remount equal the shadow.
source "$(dirname "$0")/lib.sh"
need_root
make_repo
MNT=$T/mnt
SHADOW=$T/shadow
drfs init "$REPO" >/dev/null

# the starting tree: directories d0..d9, some deep, files of a few KiB
python3 - "$SHADOW" "$SEED" <<'PY'
import os, random, sys
root, rnd = sys.argv[1], random.Random(int(sys.argv[2]))
for d in range(10):
    os.makedirs(f"{root}/d{d}/e/f", exist_ok=True)
    for i in range(5):
        with open(f"{root}/d{d}/file{i}", "wb") as fh:
            fh.write(rnd.randbytes(rnd.randint(100, 9000)))
    with open(f"{root}/d{d}/e/f/deep.txt", "wb") as fh:
        fh.write(rnd.randbytes(3000))
with open(f"{root}/d2/big", "wb") as fh:
    fh.write(rnd.randbytes(200000))
PY
DRFS_TEST_UPLOAD_SLEEP=3 mount_repo "$MNT"
cp -a "$SHADOW/." "$MNT/now/"
drfs snapshot "$MNT" >/dev/null || fail "the first snapshot failed"

# the driver: changes to now/ and the shadow, manifests, checks
cat >"$T/snapwait.py" <<'PY'
import hashlib, json, os, stat, subprocess, sys, time
sys.path.insert(0, os.environ["TOOLS"])
from treecmp import walk, xattrs

def manifest(root):
    """{path: [type, mode, nlink, sha256 or target, user xattrs]}"""
    out = {}
    for rel, (st, p) in walk(root).items():
        if rel == b".":
            continue
        if stat.S_ISLNK(st.st_mode):
            what = os.readlink(p).decode()
        elif stat.S_ISREG(st.st_mode):
            with open(p, "rb") as fh:
                what = hashlib.sha256(fh.read()).hexdigest()
        else:
            what = ""
        nlink = 0 if stat.S_ISDIR(st.st_mode) else st.st_nlink
        xs = sorted([k, v.hex()] for k, v in xattrs(p).items()
                    if k.startswith("user.") and
                    not k.startswith("user.drfs."))
        out[rel.decode()] = [stat.S_IFMT(st.st_mode),
                             oct(stat.S_IMODE(st.st_mode)), nlink, what, xs]
    return out

def check(mnt, want_json):
    want, bad = json.load(open(want_json)), 0
    for where in ("now", "latest"):
        got = manifest(f"{mnt}/{where}")
        diff = sorted(k for k in set(got) | set(want)
                      if got.get(k) != want.get(k))
        if diff:
            print(f"{where}/ differs from the shadow: {diff[:8]}")
            bad = 1
    sys.exit(bad)

def drive(mnt, shadow, drfs, cache):
    now = f"{mnt}/now"
    def both(fn):
        for root in (now, shadow):
            fn(root)

    def write(path, data, mode="wb"):
        def f(root):
            with open(f"{root}/{path}", mode) as fh:
                fh.write(data)
        return f

    def rsync_like(path, data):
        def f(root):
            tmp = f"{root}/{os.path.dirname(path)}/.tmp.{os.getpid()}"
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.rename(tmp, f"{root}/{path}")
        return f

    def mkdir_with(path):
        def f(root):
            os.mkdir(f"{root}/{path}")
            with open(f"{root}/{path}/inside", "wb") as fh:
                fh.write(b"inside " + path.encode())
        return f

    # before the snapshot: d1 and d6 changed (the snapshot marks them clean)
    # and d2/held written through a descriptor kept open across it
    both(write("d1/file0", b"changed before the snapshot"))
    both(lambda r: os.mkdir(f"{r}/d6/empty"))
    held = {r: open(f"{r}/d2/held", "wb") for r in (now, shadow)}
    for fh in held.values():
        fh.write(b"part one|")
        fh.flush()

    def held_write(root):
        held[root].write(b"part two, while the snapshot waited|")
        held[root].flush()

    changes = [
        write("d1/new1", b"a new file in a directory the snapshot holds"),
        held_write,
        write("d3/e/f/deep.txt", b"deep under clean directories", "ab"),
        lambda r: os.chmod(f"{r}/d4", 0o700),
        lambda r: os.rename(f"{r}/d1/file1", f"{r}/d3/moved"),
        lambda r: os.unlink(f"{r}/d5/file2"),
        lambda r: os.rmdir(f"{r}/d6/empty"),
        mkdir_with("d7/newdir"),
        lambda r: os.link(f"{r}/d3/e/f/deep.txt", f"{r}/d8/link"),
        lambda r: os.setxattr(f"{r}/d1/file2", "user.k", b"v"),
        lambda r: os.truncate(f"{r}/d2/big", 1000),
        lambda r: os.symlink("../d0/file0", f"{r}/d9/sl"),
        write("d1/file3", b" appended", "ab"),
        rsync_like("d5/file3", b"replaced by rename"),
        write("d0/e/new2", b"second round"),
        held_write,
        lambda r: os.chmod(f"{r}/d4/file4", 0o600),
        mkdir_with("d9/e/f/nd"),
        lambda r: os.rename(f"{r}/d7/newdir", f"{r}/d0/newdir"),
        write("d8/e/f/deep.txt", b"x" * 5000),
    ]
    states = [manifest(shadow)]
    proc = subprocess.Popen([drfs, "snapshot", "--cache-dir", cache, mnt],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    alive = []
    for ch in changes:
        time.sleep(0.25)
        both(ch)
        # and what waited on the mount root: ls of it, drfs status
        os.listdir(mnt)
        subprocess.run([drfs, "status", mnt], check=True,
                       stdout=subprocess.DEVNULL)
        alive.append(proc.poll() is None)
        states.append(manifest(shadow))
    out, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"drfs snapshot exited {proc.returncode}: {err.decode()}")
    for fh in held.values():
        fh.close()
    snap = out.decode().strip()
    got = manifest(snap)
    match = [i for i, s in enumerate(states) if s == got]
    if not match:
        def ndiff(st):
            return sorted(k for k in set(st) | set(got)
                          if st.get(k) != got.get(k))
        best = min(range(len(states)), key=lambda i: len(ndiff(states[i])))
        sys.exit(f"the snapshot is no point in time (nearest: after {best} "
                 f"changes; differing: {ndiff(states[best])[:6]})")
    j = match[0]
    during = sum(1 for i in range(j, len(changes)) if alive[i])
    print(f"snapshot = after {j} of {len(changes)} changes; "
          f"{during} changes after it done while it still ran")
    if during < 3:
        sys.exit(f"only {during} changes after the snapshot's point in time "
                 "completed while it ran: now/ waited for its uploads")
    r = subprocess.run([drfs, "snapshot", "--cache-dir", cache, mnt],
                       capture_output=True)
    if r.returncode != 0:
        sys.exit(f"the second snapshot failed: {r.stderr.decode()}")
    got2 = manifest(r.stdout.decode().strip())
    if got2 != states[-1]:
        diff = sorted(k for k in set(got2) | set(states[-1])
                      if got2.get(k) != states[-1].get(k))
        sys.exit(f"the next snapshot lost changes made while the first "
                 f"waited: {diff[:8]}")
    print("the next snapshot holds every change")

    # Once more with nothing changed after the wait: the root dirty at
    # the build (a new top-level file), then changes only two and more
    # levels under d5, clean at the build, while the snapshot waits. The
    # snapshot clears the root; d5, dirtied meanwhile, must not be left
    # dirty under a clean root (nothing below it would reach a snapshot).
    both(write("top2", b"a new top-level file"))
    proc = subprocess.Popen([drfs, "snapshot", "--cache-dir", cache, mnt],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)
    both(lambda r: os.chmod(f"{r}/d5/e/f", 0o750))
    both(write("d5/e/f/deep.txt", b" and deeper", "ab"))
    if proc.poll() is not None:
        sys.exit("the third snapshot ended before the changes: too fast "
                 "to test the wait")
    out, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"the third snapshot failed: {err.decode()}")
    r = subprocess.run([drfs, "snapshot", "--cache-dir", cache, mnt],
                       capture_output=True)
    if r.returncode != 0:
        sys.exit(f"the fourth snapshot failed: {r.stderr.decode()}")
    want, got4 = manifest(shadow), manifest(r.stdout.decode().strip())
    if got4 != want:
        diff = sorted(k for k in set(got4) | set(want)
                      if got4.get(k) != want.get(k))
        sys.exit(f"changes under a directory clean at the build, made "
                 f"while the snapshot waited, are lost: {diff[:8]}")
    json.dump(want, open(f"{shadow}.final.json", "w"))
    print("and so does the one after changes only deep under a clean one")

if sys.argv[1] == "check":
    check(*sys.argv[2:4])
drive(*sys.argv[2:6])
PY
TOOLS=$TOOLS python3 "$T/snapwait.py" drive "$MNT" "$SHADOW" "$DRFS" "$CACHE" >"$T/driver.out" 2>&1 ||
	{ cat "$T/driver.out" >&2; fail "$(tail -n 1 "$T/driver.out")"; }
info "$(cat "$T/driver.out" | tr '\n' ';')"

# ---- after a remount, now/ and latest/ hold every change ----------------------
umount_repo "$MNT"
mount_repo "$MNT"
TOOLS=$TOOLS python3 "$T/snapwait.py" check "$MNT" "$SHADOW.final.json" >&2 ||
	fail "after a remount, now/ or latest/ lost changes (above)"
umount_repo "$MNT"
check_repo "after the snapshots"
info "now/ went on while a snapshot waited; both snapshots exact"
