#!/bin/bash
# SPDX-License-Identifier: MIT
# start-rgw.sh - a single-node Ceph RadosGW (one monitor, one in-memory
# memstore OSD, the gateway; no mgr, no cephx) on 127.0.0.1, for tests.
#
# Needs: apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd \
#        uuid-runtime
#
# Usage:
#   start-rgw.sh DIR PORT [ACCESS SECRET]   start; PORT 0 picks a free one.
#                                           Prints "rgw ready on URL" and
#                                           writes DIR/endpoint; the daemons'
#                                           PIDs are in DIR/run/*.pid.
#   start-rgw.sh --stop DIR                 stop exactly those PIDs.
#
# The monitor listens on PORT+1. Nothing is ever killed by name: only the PIDs
# this script started (recorded in DIR/run) are signalled.
set -euo pipefail

stop_dir() {
	local d=$1 f pid pids=()
	for f in "$d"/run/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f" 2>/dev/null || true)
		case $pid in '' | *[!0-9]*) continue ;; esac
		kill "$pid" 2>/dev/null && pids+=("$pid") || true
	done
	# Wait up to ~15 s, then SIGKILL the same PIDs.
	for _ in $(seq 1 60); do
		local alive=0
		for pid in "${pids[@]}"; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		[ $alive = 0 ] && return 0
		sleep 0.25
	done
	for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
}

if [ "${1:-}" = "--stop" ]; then
	stop_dir "${2:?dir}"
	exit 0
fi

D=${1:?dir}; PORT=${2:?port}; AK=${3:-drfstest}; SK=${4:-drfstestsecret}

port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
if [ "$PORT" = 0 ]; then
	for _ in $(seq 1 50); do
		PORT=$((17480 + RANDOM % 20000))
		port_free "$PORT" && port_free $((PORT + 1)) && break
	done
fi
MONPORT=$((PORT + 1))
port_free "$PORT" || { echo "start-rgw: port $PORT is in use" >&2; exit 1; }
port_free "$MONPORT" || { echo "start-rgw: port $MONPORT is in use" >&2; exit 1; }

rm -rf "$D"; mkdir -p "$D"/{run,log,mon/ceph-a,osd/ceph-0}
D=$(cd "$D" && pwd)
trap 'echo "start-rgw: failed; stopping what was started (logs in $D/log)" >&2; stop_dir "$D"' ERR

FSID=$(uuidgen)
cat > "$D/ceph.conf" <<CONF
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$MONPORT
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc secure
ms client mode = crc secure
ms service mode = crc secure
ms cluster mode = crc secure
ms mon service mode = crc secure
ms mon cluster mode = crc secure
ms bind ipv6 = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon max pg per osd = 1000
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = 4294967296
run dir = $D/run
log file = $D/log/\$name.log
admin socket = $D/run/\$name.asok
pid file = $D/run/\$name.pid
mon data = $D/mon/\$cluster-\$id
osd data = $D/osd/\$cluster-\$id
keyring = $D/keyring
client mount timeout = 30
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$PORT tcp_nodelay=1
rgw dns name = s3.localhost
# Free deleted objects within seconds: memstore is RAM, and the default
# (2 h) fills it after a few GiB of put+delete cycles ("osd full", hangs).
rgw gc obj min wait = 2
rgw gc processor period = 5
rgw gc processor max time = 5
CONF
C="-c $D/ceph.conf"
ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. \
	--cap mon 'allow *' >/dev/null
monmaptool --create --addv a "[v2:127.0.0.1:$MONPORT]" --fsid "$FSID" \
	"$D/monmap" >/dev/null
ceph-mon $C --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring"
ceph-mon $C -i a
U=$(uuidgen); ID=$(timeout 60 ceph $C osd new "$U")
ceph-osd $C -i "$ID" --mkfs --osd-uuid "$U" 2>/dev/null
ceph-osd $C -i "$ID" 2>/dev/null
radosgw $C -n client.rgw.a
ok=0
for _ in $(seq 1 240); do
	if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then ok=1; break; fi
	sleep 0.25
done
[ $ok = 1 ] || { echo "start-rgw: gateway did not answer" >&2; false; }
timeout 60 radosgw-admin $C user create --uid=test --display-name=test \
	--access-key="$AK" --secret="$SK" >/dev/null
echo "http://127.0.0.1:$PORT" > "$D/endpoint"
trap - ERR
echo "rgw ready on http://127.0.0.1:$PORT (pids: $(cat "$D"/run/*.pid | tr '\n' ' '))"
