#!/bin/bash
# Several repositories in one mount (docs/mount.md): `drfs mount A B C MNT`
# and `drfs mount --config FILE MNT` serve each at MNT/NAME from one daemon.
# Three repositories, one of them unavailable (a missing directory; on S3
# also an endpoint where nothing listens): the other two mount, rsync into
# each now/, a snapshot of one and of all, copy out and compare; status
# names the dead one's error; the dead one comes up once it exists (the
# background retry); umount snapshots each and unmounts everything; a
# remount through a config file shows the snapshots; kill -9 of the daemon
# leaves nothing `drfs umount` cannot clean; malformed config files are
# refused naming file and line; a single repository keeps today's shape.
source "$(dirname "$0")/lib.sh"
need_root
fuse_ok || skip "no FUSE"

make_two_repos
drfs init "$RA" >/dev/null
drfs init "$RB" >/dev/null
RC=$T/repo-c # does not exist yet

# name_of URL — the folder drfs gives a repository named on the command line
name_of() {
	local u=${1#s3://}
	u=${u%/}
	case "$1" in
	s3://*) printf '%s' "${u//\//-}" ;;
	*) basename "$u" ;;
	esac
}
NA=$(name_of "$RA")
NB=$(name_of "$RB")
NC=$(name_of "$RC")
M=$T/mnt
mkdir -p "$M"

TC() { treecmp --no-atime --sparse --ignore-root-times "$@"; }
# alive PID — the process runs (a zombie does not)
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*[ZX]' "/proc/$1/status" 2>/dev/null; }
# latest DIR — the snapshot folder DIR/latest points at
latest() { printf '%s/%s' "$1" "$(readlink "$1/latest")"; }

# mount_wait ARGS... — drfs mount ARGS; wait until $M is mounted
mount_wait() {
	local rc=0
	"$DRFS" mount "$@" >"$T/mount.out" 2>"$T/mount.err" || rc=$?
	[ "$rc" = 0 ] || { cat "$T/mount.err" >&2; fail "drfs mount $* exited $rc"; }
	mountpoint -q "$M" || fail "drfs mount returned but $M is not mounted"
}

# nothing_mounted — no mount left under $M
nothing_mounted() {
	[ -z "$(_mounts_under "$M")" ] ||
		fail "still mounted after $1: $(_mounts_under "$M" | tr '\n' ' ')"
}

mkdir -p "$T/src-a" "$T/src-b" "$T/src-c"
mkedge "$T/src-a" >/dev/null
RT=$(realtree)
mapfile -t ENTS < <(ls "$RT")
for e in "${ENTS[@]:0:60}"; do cp -a "$RT/$e" "$T/src-b/"; done
seeded_bytes "$SEED" 300000 >"$T/src-b/seeded"
echo "third" >"$T/src-c/file"

info "three repositories on the command line, one missing"
mount_wait "$RA" "$RB" "$RC" "$M" --cache-dir "$CACHE" --retry-every 2s
grep -q "$NC: not available" "$T/mount.err" ||
	fail "the missing repository was not reported: $(cat "$T/mount.err")"
[ "$(ls "$M" | sort | tr '\n' ' ')" = "$(printf '%s\n' "$NA" "$NB" "$NC" | sort | tr '\n' ' ')" ] ||
	fail "folders of $M: $(ls "$M")"
[ -d "$M/$NA/now" ] && [ -d "$M/$NB/snapshots" ] || fail "$NA or $NB not mounted"
[ -z "$(ls -A "$M/$NC")" ] || fail "the missing repository's folder is not empty"
# the default cache directories are DIR/NAME of the one --cache-dir
[ -d "$CACHE/$NA" ] && [ -d "$CACHE/$NB" ] || fail "no cache dir per repository"
PID=$(daemon_pid "$M")
[ "$(daemon_pid "$M/$NA")" = "$PID" ] && [ "$(daemon_pid "$M/$NB")" = "$PID" ] ||
	fail "not one daemon: $PID, $(daemon_pid "$M/$NA"), $(daemon_pid "$M/$NB")"

edge_rsync -aHAXS "$T/src-a/" "$M/$NA/now/"
rsync -aHAXS "$T/src-b/" "$M/$NB/now/"

# one repository's snapshot
F=$(drfs snapshot "$M/$NA")
case "$F" in "$M/$NA/snapshots/"*) ;; *) fail "snapshot of $NA printed '$F'" ;; esac
[ -d "$F" ] || fail "$F missing"
[ -z "$(ls "$M/$NB/snapshots")" ] || fail "$NB got a snapshot it was not asked for"

# all at once: the dead one is named, the others are snapshotted
rc=0
drfs snapshot "$M" >"$T/snap.out" 2>"$T/snap.err" || rc=$?
[ "$rc" = 1 ] || fail "snapshot of all with one unavailable: exit $rc"
grep -q "^$M/$NA/snapshots/" "$T/snap.out" && grep -q "^$M/$NB/snapshots/" "$T/snap.out" ||
	fail "snapshot of all printed: $(cat "$T/snap.out")"
grep -q "$NC: not snapshotted: the repository is unavailable" "$T/snap.err" ||
	fail "snapshot of all did not name $NC: $(cat "$T/snap.err")"
[ "$(ls "$M/$NA/snapshots/"*/ | grep -c .)" = 2 ] || fail "$NA: not two snapshots"

# copy out and compare, through the mount
TC "$T/src-a" "$(latest "$M/$NA")" || fail "$NA latest differs"
TC "$T/src-b" "$(latest "$M/$NB")" || fail "$NB latest differs"
# both at once: one daemon, two sessions, two chunk caches
cp -a "$(latest "$M/$NA")/." "$T/out-a" &
cpa=$!
cp -a "$M/$NB/latest/." "$T/out-b"
wait "$cpa" || fail "copy out of $NA failed"
TC "$T/src-a" "$T/out-a" || fail "copy out of $NA differs"
TC "$T/src-b" "$T/out-b" || fail "copy out of $NB differs"

# status: a section per repository, the dead one's error, exit 1
rc=0
drfs status "$M" >"$T/status.out" 2>"$T/status.err" || rc=$?
[ "$rc" = 1 ] || fail "status with one unavailable: exit $rc"
grep -q "^\[$NA\] serving" "$T/status.out" && grep -q "^\[$NB\] serving" "$T/status.out" ||
	fail "status: $(cat "$T/status.out")"
grep -q "^\[$NC\] unavailable: .*$RC.*no such directory" "$T/status.out" ||
	fail "status does not show $NC's error: $(cat "$T/status.out")"
grep -q "^last snapshot: " "$T/status.out" || fail "no per-repository status"
rc=0
drfs status "$M/$NC" 2>"$T/status.err" || rc=$?
[ "$rc" = 1 ] && grep -q "repository $NC is unavailable" "$T/status.err" ||
	fail "status of the dead folder: exit $rc: $(cat "$T/status.err")"

info "the missing repository appears: the daemon mounts it in the background"
"$DRFS" init "$RC" --cache-dir "$T/cache-c-init" >/dev/null
for _ in $(seq 1 100); do
	[ -d "$M/$NC/now" ] && break
	sleep 0.1
done
[ -d "$M/$NC/now" ] || fail "$NC not mounted after it was created: $(drfs status "$M" || true)"
cp -a "$T/src-c/." "$M/$NC/now/"
drfs status "$M" >"$T/status.out"
grep -q "^\[$NC\] serving" "$T/status.out" || fail "status: $(cat "$T/status.out")"

info "umount: a final snapshot of each changed now/, everything unmounted"
echo "after the snapshot" >"$M/$NA/now/late"
"$DRFS" umount "$M" 2>"$T/umount.err" || fail "umount: $(cat "$T/umount.err")"
for n in "$NA" "$NB" "$NC"; do
	grep -q "$n: unmounted" "$T/umount.err" || fail "umount did not report $n: $(cat "$T/umount.err")"
done
nothing_mounted "drfs umount"
alive "$PID" && fail "the daemon is still running"
[ "$("$DRFS" snapshots "$RC" --cache-dir "$T/cache-c-init" | grep -c '^20')" = 1 ] ||
	fail "$NC: no snapshot at unmount"

info "a config file: names, a password file, a cache dir each; a dead one"
printf '%s\n' "$DRFS_PASSWORD" >"$T/b.pass"
chmod 600 "$T/b.pass"
DEAD="repository = $T/nowhere"
if [ "$DRFS_TEST_BACKEND" = s3 ]; then
	DEAD="repository = s3://drfs-test-nothing/x
endpoint = http://127.0.0.1:$(free_port)"
fi
cat >"$T/mounts.conf" <<EOF
# three repositories
[web]
repository = $RA
cache-dir = $T/cache-web
keep-last = 10

[db]
repository = $RB
password-file = $T/b.pass
cache-dir = $T/cache-db
snapshot-on-unmount = no

[dead]
$DEAD
EOF
chmod 600 "$T/mounts.conf"
mount_wait --config "$T/mounts.conf" "$M" --retry-every 1h
[ "$(ls "$M" | tr '\n' ' ')" = "db dead web " ] || fail "folders: $(ls "$M")"
grep -q "warning" "$T/mount.err" && grep -q "dead: not available" "$T/mount.err" ||
	fail "the dead one was not reported: $(cat "$T/mount.err")"
grep -q "can be written by others" "$T/mount.err" && fail "a 0600 config file was warned about"
# the snapshots of before (fresh cache directories)
[ "$(ls "$M/web/snapshots/"*/ | grep -c .)" = 3 ] || fail "web: $(ls -R "$M/web/snapshots")"
TC "$T/src-b" "$(latest "$M/db")" || fail "db latest differs after remount"
cmp "$M/web/latest/late" - <<<"after the snapshot" || fail "web: the file of the final snapshot"
drfs status "$M" >"$T/status.out" 2>/dev/null || true
grep -q "^\[dead\] unavailable: " "$T/status.out" || fail "status: $(cat "$T/status.out")"
# drfs snapshot of one folder of the config mount
F=$(drfs snapshot "$M/db")
[ -d "$F" ] || fail "snapshot of db: '$F'"
# drfs umount of one folder: that repository ends, the daemon serves on
timeout 120 "$DRFS" umount "$M/db" 2>"$T/umount.err" ||
	fail "umount of one folder: $(cat "$T/umount.err")"
[ -z "$(ls -A "$M/db")" ] || fail "db still mounted after its umount"
[ -d "$M/web/now" ] || fail "web went with db"
drfs status "$M" >"$T/status.out" 2>/dev/null || true
grep -q "^\[db\] ended" "$T/status.out" || fail "status after umount of db: $(cat "$T/status.out")"

info "kill -9 of the daemon: drfs umount cleans up every mount"
PID=$(daemon_pid "$M")
kill -9 "$PID"
for _ in $(seq 1 50); do alive "$PID" || break; sleep 0.1; done
"$DRFS" umount "$M" 2>"$T/umount.err" || fail "umount after kill -9: $(cat "$T/umount.err")"
nothing_mounted "kill -9 and drfs umount"
# and mounts again
mount_wait --config "$T/mounts.conf" "$M"
[ -d "$M/web/now" ] || fail "no remount after kill -9"
PID=$(daemon_pid "$M")
kill -TERM "$PID"
for _ in $(seq 1 300); do alive "$PID" || break; sleep 0.1; done
alive "$PID" && fail "the daemon ignored SIGTERM"
nothing_mounted "SIGTERM"

info "malformed config files: file and line named, exit 2, nothing mounted"
# bad_conf WHAT EXPECTED-MESSAGE — the config text on stdin
bad_conf() {
	local f=$T/bad.conf rc=0
	cat >"$f"
	chmod 600 "$f"
	"$DRFS" mount --config "$f" "$M" 2>"$T/bad.err" || rc=$?
	[ "$rc" = 2 ] || fail "$1: exit $rc: $(cat "$T/bad.err")"
	grep -qF "$f$2" "$T/bad.err" || fail "$1: $(cat "$T/bad.err")"
	nothing_mounted "$1"
}
printf '[a]\nrepository = %s\ncolour = blue\n' "$RA" |
	bad_conf "unknown key" ':3: unknown key "colour"'
printf '[a]\nrepository = %s\n[a]\nrepository = %s\n' "$RA" "$RB" |
	bad_conf "duplicate name" ':3: [a] again (first on line 1)'
printf '# none\n[a]\ncache-dir = /x\n' | bad_conf "no repository" ':2: [a] has no "repository'
printf '[a]\nrepository = %s\npassword = secret\n' "$RA" |
	bad_conf "a passphrase" ':3: a passphrase never goes in the config file'
printf '[../x]\nrepository = %s\n' "$RA" | bad_conf "bad name" ':1: "../x" is not a valid folder name'
printf 'repository = %s\n' "$RA" | bad_conf "outside a section" ':1: "repository" outside a [NAME] section'
printf '[a]\nrepository = %s\nkeep-daily = lots\n' "$RA" | bad_conf "bad value" ':3: invalid keep-daily "lots"'
printf '[a]\nrepository = %s\nrepository = %s\n' "$RA" "$RB" |
	bad_conf "key twice" ':3: "repository" again in [a] (first on line 2)'
printf '[a]\nrepository = %s\nhello\n' "$RA" | bad_conf "no key" ':3: neither'
printf '\n' | bad_conf "empty" ': no [NAME] section'
rc=0
"$DRFS" mount --config "$T/absent.conf" "$M" 2>"$T/bad.err" || rc=$?
[ "$rc" = 2 ] && grep -q "absent.conf" "$T/bad.err" || fail "missing config: exit $rc"
# the same repository twice would share its default cache directory
printf '[x]\nrepository = %s\n[y]\nrepository = %s\n' "$RA" "$RA" >"$T/twice.conf"
rc=0
"$DRFS" mount --config "$T/twice.conf" "$M" 2>"$T/bad.err" || rc=$?
[ "$rc" = 2 ] && grep -q '"x" and "y" would share the cache directory' "$T/bad.err" ||
	fail "the same repository twice: exit $rc: $(cat "$T/bad.err")"
nothing_mounted "the same repository twice"
# a config file others can write: a warning, and it mounts
chmod 666 "$T/mounts.conf"
mount_wait --config "$T/mounts.conf" "$M"
grep -q "can be written by others" "$T/mount.err" || fail "no warning for mode 0666"
umount_repo "$M"
nothing_mounted "umount"

info "one repository: MNT/{now,snapshots,latest} as before"
REPO=$RA
mount_repo "$M"
[ -d "$M/now" ] && [ -L "$M/latest" ] || fail "single mount: $(ls "$M")"
umount_repo "$M"
info "ok"
