#!/bin/sh
# bench/transfer.sh [SIZE] [PIECE]: one seeder to one leecher over loopback, for
# p2pd -> p2pd, aria2 -> aria2 and libtorrent -> libtorrent (TCP; uTP off), with
# the same file and piece length, plus a socat file -> TCP -> file copy of the
# same file as the ceiling. Prints the median of RUNS runs: wall time, MB/s,
# leecher CPU seconds (user+sys), leecher peak RSS, and the speed ratios
# p2pd/aria2, p2pd/libtorrent and p2pd/socat. Every leecher's copy is compared
# with the original after its clock stops.
#
# SIZE, PIECE: bytes with an optional K, M or G suffix (powers of 1024);
# defaults 1G and 1M.
# Environment:
#   BUILD    meson build dir with daemon/p2pd (default: build-bench in the source
#            tree, set up as a release build with -Dtests=false if missing)
#   RUNS     runs per client; the median is reported (default 3)
#   CLIENTS  which of "p2pd aria2 libtorrent socat" to run (default: all)
#   TMPDIR   where to work if /dev/shm has no room (default /tmp)
#   P2PD_LOG_LEVEL  passed to p2pd --log-level (e.g. debug; logs show on failure)
#   KEEP     1: keep the temp dir (logs, copies) for a post-mortem
#
# Timing, per client: p2pd from peer.add on the leecher until it reports the
# torrent seeding; aria2 (which finds the seeder through bench/lib/tracker.py,
# on 127.0.0.1) from starting the leecher process until it exits after the
# download (--seed-time=0); libtorrent from connect_peer until finished and
# flush_cache is done; socat from starting the sender until the receiver exits.
# Seeders are started, and have verified their data, before the clock starts.
# Everything listens on 127.0.0.1 with DHT, LSD, PEX, UPnP, NAT-PMP off. Only
# processes started here are stopped, by pid; the temp dir goes at exit.
set -eu

usage() {
	echo "usage: $0 [SIZE [PIECE]]   (like 1G 1M; defaults 1G 1M)" >&2
	exit 2
}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
# shellcheck source=bench/lib/common.sh
. "$ROOT/bench/lib/common.sh"
RUNS=${RUNS:-3}
CLIENTS=${CLIENTS:-p2pd aria2 libtorrent socat}
[ $# -le 2 ] || usage

SIZE=$(to_bytes "${1:-1G}") || usage
PIECE=$(to_bytes "${2:-1M}") || usage
[ "$SIZE" -gt 0 ] || usage
case $RUNS in '' | *[!0-9]* | 0) echo "RUNS must be a positive integer" >&2; exit 2 ;; esac
p=$PIECE
while [ "$p" -gt 1 ]; do
	[ $((p % 2)) -eq 0 ] || { echo "PIECE=$PIECE is not a power of two" >&2; exit 2; }
	p=$((p / 2))
done
if [ "$PIECE" -lt 16384 ] || [ "$PIECE" -gt 67108864 ]; then
	echo "PIECE must be 16 KiB to 64 MiB" >&2
	exit 2
fi

for c in $CLIENTS; do
	case $c in
	p2pd) ;;
	aria2) command -v aria2c >/dev/null 2>&1 || { echo "aria2c not found (apt-get install aria2)" >&2; exit 1; } ;;
	libtorrent) /usr/bin/python3 -c 'import libtorrent' 2>/dev/null ||
		{ echo "python3-libtorrent not found for /usr/bin/python3" >&2; exit 1; } ;;
	socat) command -v socat >/dev/null 2>&1 || { echo "socat not found (apt-get install socat)" >&2; exit 1; } ;;
	*) echo "unknown client $c in CLIENTS (p2pd aria2 libtorrent socat)" >&2; exit 2 ;;
	esac
done

# --- build ---------------------------------------------------------------------

P2PD=
case " $CLIENTS " in
*" p2pd "*)
	bench_build p2pd
	P2PD=$BUILD/daemon/p2pd
	[ -x "$P2PD" ] || { echo "$P2PD was not built" >&2; exit 1; }
	;;
esac

# --- scratch dir and cleanup ---------------------------------------------------

# tmpfs when it holds the file and two copies (leecher, socat) with room to spare.
need_kib=$((SIZE * 3 / 1024 + 131072))
WORK=$(bench_workdir "$need_kib" p2pd-xfer "$SIZE bytes three times") || exit 1
PY_PID=

trap bench_py_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bench_load_check
FILE=$(bench_random_file "$WORK" "$SIZE")

# The Python driver stops its own children (by pid) when it ends or is signalled;
# they also get PR_SET_PDEATHSIG, so none outlives it.
set +e
/usr/bin/python3 "$ROOT/bench/lib/transfer.py" --file "$FILE" --piece "$PIECE" \
	--work "$WORK" --runs "$RUNS" --clients "$CLIENTS" ${P2PD:+--p2pd "$P2PD"} &
PY_PID=$!
wait "$PY_PID"
rc=$?
PY_PID=
set -e
echo "load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
