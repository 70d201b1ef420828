#!/bin/sh
# bench/dht.sh: DHT lookup latency among NODES p2pd daemons on 127.0.0.x.
#
# Starts NODES p2pd (default 50) with the DHT on 127.0.0.BASE.. (default
# 127.0.0.100-149), every one bootstrapping from the first, waits until the
# routing tables stop growing, then LOOKUPS times (default 30): one node shares a
# fresh 64 KiB file, and once its announce is out another node adds the magnet
# link (no tracker, no address) and the time from torrent.add to the first peer
# found by the DHT (dht.status traffic.peers_found) is taken. Prints median and
# p90 against the target (median under 1 s), the daemon's own lookup time (debug
# log), DHT packets per lookup, and every daemon's RSS. With python3-libtorrent a
# libtorrent session joins the same DHT (its only bootstrap node is the first
# p2pd) and looks up the same info-hashes with dht_get_peers: the reference.
#
# Environment:
#   BUILD    meson build dir with daemon/p2pd (default: build-bench in the source
#            tree, set up as a release build with -Dtests=false if missing)
#   NOBUILD  1: use the binaries in BUILD as they are, without compiling
#   NODES    daemons (default 50, at most 100)
#   LOOKUPS  lookups measured (default 30)
#   BASE     first address 127.0.0.BASE (default 100)
#   LIBTORRENT  0: no libtorrent reference (default 1 when the module is there)
#   TMPDIR   where to work if /dev/shm has no room (default /tmp)
#   KEEP     1: keep the temp dir (every daemon's debug log) for a post-mortem
#
# Everything stays on 127.0.0.x (with --dht-bootstrap given and every socket on
# loopback p2pd contacts no public router). Only processes started here are
# stopped, by pid (the Python driver's children also die with it); the temp dir
# goes at exit.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
# shellcheck source=bench/lib/common.sh
. "$ROOT/bench/lib/common.sh"
NODES=${NODES:-50}
LOOKUPS=${LOOKUPS:-30}
BASE=${BASE:-100}
LIBTORRENT=${LIBTORRENT:-1}
[ $# -eq 0 ] || { echo "usage: [NODES=50] [LOOKUPS=30] $0" >&2; exit 2; }
for v in "$NODES" "$LOOKUPS" "$BASE"; do
	case $v in '' | *[!0-9]*) echo "NODES, LOOKUPS and BASE must be integers" >&2; exit 2 ;; esac
done
if [ "$NODES" -lt 2 ] || [ "$NODES" -gt 100 ]; then
	echo "NODES: 2..100" >&2
	exit 2
fi
[ "$LOOKUPS" -ge 1 ] || { echo "LOOKUPS: at least 1" >&2; exit 2; }
if [ "$BASE" -lt 2 ] || [ $((BASE + NODES)) -gt 250 ]; then
	echo "BASE: 127.0.0.BASE to BASE+NODES must lie within 127.0.0.2-250" >&2
	exit 2
fi
if [ "$LIBTORRENT" = 1 ] && ! /usr/bin/python3 -c 'import libtorrent' 2>/dev/null; then
	echo "python3-libtorrent not found for /usr/bin/python3: no reference figure" >&2
	LIBTORRENT=0
fi

if [ "${NOBUILD:-0}" != 1 ]; then
	bench_build p2pd
fi
P2PD=$BUILD/daemon/p2pd
[ -x "$P2PD" ] || { echo "$P2PD was not built" >&2; exit 1; }

# State, logs and 64 KiB files per daemon: a few MiB each.
WORK=$(bench_workdir $((NODES * 8192 + 65536)) p2pd-dht "$NODES daemons") || exit 1
PY_PID=

trap bench_py_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bench_load_check

set +e
/usr/bin/python3 "$ROOT/bench/lib/dht.py" --p2pd "$P2PD" --work "$WORK" --nodes "$NODES" \
	--lookups "$LOOKUPS" --base "$BASE" --libtorrent "$LIBTORRENT" &
PY_PID=$!
wait "$PY_PID"
rc=$?
PY_PID=
set -e
echo "load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
