#!/bin/sh
# bench/search-net.sh: network search among 13 p2pd daemons on 127.0.0.x.
#
# Starts NODES p2pd (default 13) with the DHT on 127.0.0.BASE.. (default
# 127.0.0.160-172), every one bootstrapping from the first and knowing nobody
# else. All but the last share 3 files each with realistic names (several words,
# some words in several names); once the routing tables settle and every word
# searched for is announced under its word key (checked with KRPC get_peers, as
# any DHT node would ask), the last daemon runs the searches: one word of each
# name, words in several names, two-word queries and words nobody has, each
# through one control connection subscribed to search.result and search.done,
# timing search.start to the first search.result event. Then a few
# `p2pctl search WORD` processes end to end, `p2pctl get N` to the completed
# download (compared byte for byte), and every daemon's RSS.
#
# Target (issue 5): first result under 1 s median.
#
# Environment:
#   BUILD    meson build dir with daemon/p2pd and cli/p2pctl (default: build-bench
#            in the source tree, set up as a release build with -Dtests=false)
#   NOBUILD  1: use the binaries in BUILD as they are, without compiling
#   NODES    daemons (default 13: 12 sharers and the searcher; 4..13)
#   BASE     first address 127.0.0.BASE (default 160)
#   TIMEOUT  seconds each search runs (search.start timeout, default 2)
#   SEED     seed of the order of the searches (default 1)
#   TMPDIR   where to work if /dev/shm has no room (default /tmp)
#   KEEP     1: keep the temp dir (every daemon's debug log) for a post-mortem
#
# Everything stays on 127.0.0.x. Only processes started here are stopped, by pid
# (the Python driver's children also die with it); the temp dir goes at exit.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
# shellcheck source=bench/lib/common.sh
. "$ROOT/bench/lib/common.sh"
NODES=${NODES:-13}
BASE=${BASE:-160}
TIMEOUT=${TIMEOUT:-2}
SEED=${SEED:-1}
[ $# -eq 0 ] || { echo "usage: [NODES=13] [BASE=160] [TIMEOUT=2] $0" >&2; exit 2; }
for v in "$NODES" "$BASE" "$TIMEOUT" "$SEED"; do
	case $v in '' | *[!0-9]*) echo "NODES, BASE, TIMEOUT and SEED must be integers" >&2; exit 2 ;; esac
done
if [ "$NODES" -lt 4 ] || [ "$NODES" -gt 13 ]; then
	echo "NODES: 4..13" >&2
	exit 2
fi
if [ "$BASE" -lt 2 ] || [ $((BASE + NODES)) -gt 250 ]; then
	echo "BASE: 127.0.0.BASE to BASE+NODES must lie within 127.0.0.2-250" >&2
	exit 2
fi
if [ "$TIMEOUT" -lt 1 ] || [ "$TIMEOUT" -gt 60 ]; then
	echo "TIMEOUT: 1..60 seconds" >&2
	exit 2
fi

if [ "${NOBUILD:-0}" != 1 ]; then
	bench_build p2pd p2pctl
fi
P2PD=$BUILD/daemon/p2pd
P2PCTL=$BUILD/cli/p2pctl
for b in "$P2PD" "$P2PCTL"; do
	[ -x "$b" ] || { echo "$b was not built" >&2; exit 1; }
done

# 36 small files and one of 16 MiB, state and debug logs: under 100 MiB.
WORK=$(bench_workdir 102400 p2pd-search-net "$NODES daemons") || exit 1
PY_PID=

trap bench_py_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bench_load_check

set +e
/usr/bin/python3 "$ROOT/bench/lib/search_net.py" --p2pd "$P2PD" --p2pctl "$P2PCTL" \
	--work "$WORK" --nodes "$NODES" --base "$BASE" --timeout "$TIMEOUT" --seed "$SEED" &
PY_PID=$!
wait "$PY_PID"
rc=$?
PY_PID=
set -e
echo "load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
