#!/bin/sh
# bench/swarm.sh [SIZE] [LEECHERS]: 1 seeder + LEECHERS leechers of each client
# (p2pd, aria2, libtorrent), all on 127.0.0.1, one client at a time: the time
# from the start until every leecher has the whole file, with ratios to p2pd.
# Every copy is compared with the original afterwards.
#
# SIZE: bytes with an optional K, M or G suffix (powers of 1024); default 512M.
# LEECHERS: default 8.
# Environment:
#   BUILD    meson build dir with daemon/p2pd (default: build-bench in the source
#            tree, set up as a release build with -Dtests=false if missing)
#   PIECE    piece length in bytes (default 1048576)
#   RUNS     runs per client, median reported (default 1)
#   CLIENTS  which of "p2pd aria2 libtorrent" to run (default: all)
#   TMPDIR   where to work if /dev/shm has no room (default /tmp)
#   P2PD_LOG_LEVEL  passed to p2pd --log-level (e.g. debug; logs show on failure)
#   KEEP     1: keep the temp dir (logs, copies) for a post-mortem
#
# How peers meet: p2pd has no tracker client yet, so each p2pd leecher gets the
# seeder and every other leecher by peer.add (and max_connections_per_ip is
# raised on every daemon, all peers being 127.0.0.1); aria2 uses the minimal
# HTTP tracker bench/lib/tracker.py (127.0.0.1 only); libtorrent gets the same
# full mesh as p2pd through connect_peer. DHT, LSD, PEX, UPnP, NAT-PMP and uTP
# are off everywhere. Only processes started here are stopped, by pid; the temp
# dir goes at exit.
set -eu

usage() {
	echo "usage: $0 [SIZE [LEECHERS]]   (defaults 512M 8)" >&2
	exit 2
}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
# shellcheck source=bench/lib/common.sh
. "$ROOT/bench/lib/common.sh"
RUNS=${RUNS:-1}
PIECE=${PIECE:-1048576}
CLIENTS=${CLIENTS:-p2pd aria2 libtorrent}
[ $# -le 2 ] || usage

SIZE=$(to_bytes "${1:-512M}") || usage
LEECHERS=${2:-8}
[ "$SIZE" -gt 0 ] || usage
case $LEECHERS in '' | *[!0-9]* | 0) echo "LEECHERS must be a positive integer" >&2; exit 2 ;; esac
[ "$LEECHERS" -le 64 ] || { echo "LEECHERS: at most 64" >&2; exit 2; }
case $RUNS in '' | *[!0-9]* | 0) echo "RUNS must be a positive integer" >&2; exit 2 ;; esac
PIECE=$(to_bytes "$PIECE") || usage

for c in $CLIENTS; do
	case $c in
	p2pd) ;;
	aria2) command -v aria2c >/dev/null 2>&1 || { echo "aria2c not found (apt-get install aria2)" >&2; exit 1; } ;;
	libtorrent) /usr/bin/python3 -c 'import libtorrent' 2>/dev/null ||
		{ echo "python3-libtorrent not found for /usr/bin/python3" >&2; exit 1; } ;;
	*) echo "unknown client $c in CLIENTS (p2pd aria2 libtorrent)" >&2; exit 2 ;;
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

# The original plus one copy per leecher, in tmpfs when there is room.
need_kib=$((SIZE * (LEECHERS + 1) / 1024 + 262144))
WORK=$(bench_workdir "$need_kib" p2pd-swarm "$((LEECHERS + 1)) copies of $SIZE bytes") || exit 1
PY_PID=

trap bench_py_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bench_load_check
FILE=$(bench_random_file "$WORK" "$SIZE")

set +e
/usr/bin/python3 "$ROOT/bench/lib/swarm.py" --file "$FILE" --piece "$PIECE" --work "$WORK" \
	--leechers "$LEECHERS" --runs "$RUNS" --clients "$CLIENTS" ${P2PD:+--p2pd "$P2PD"} &
PY_PID=$!
wait "$PY_PID"
rc=$?
PY_PID=
set -e
echo "load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
