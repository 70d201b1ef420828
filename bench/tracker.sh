#!/bin/sh
# bench/tracker.sh: p2pd's built-in tracker against opentracker, in the same run:
# UDP announces (BEP 15), HTTP announces with a new connection each, HTTP with
# keep-alive, and memory per peer with a million peers. Both trackers run pinned
# to CPU 0 and the load generator (bench/trackerload.c, built here with cc -O2)
# to CPU 1, on loopback only. Prints the median of RUNS runs of each mode per
# tracker, the ratios p2pd/opentracker, and PASS or MISS per target:
#   UDP announces/s            p2pd >= opentracker
#   HTTP keep-alive announces/s  p2pd >= 2 x opentracker's HTTP (a new connection
#                              each: opentracker closes after every answer)
#   memory per peer            p2pd <= 2 x opentracker
#   latency p99                printed for every mode
#
# Environment:
#   BUILD     meson build dir with daemon/p2pd (default: build-bench, set up as a
#             release build if missing; NOBUILD=1 uses it without compiling)
#   RUNS      runs per mode and tracker, interleaved; the median is printed (3)
#   SECS      measured seconds per run, after 1 s of warm-up (5)
#   INFLIGHT  UDP requests in flight, and HTTP connections (64)
#   PEERS     peers in the rate runs' population (100000); SWARMS swarms (1000)
#   MEMPEERS  peers added for the memory figure (1000000), over SWARMS swarms
#   KEEP      1: keep the temp dir (logs, raw result lines)
#
# opentracker comes from Debian (apt-get install -y opentracker, done here when
# missing and root). Its package is built with a whitelist (access.whitelist),
# so the info-hashes the load generator uses are written to one. Only the
# processes started here are stopped, by pid; the temp dir goes at exit.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
# shellcheck source=bench/lib/common.sh
. "$ROOT/bench/lib/common.sh"
RUNS=${RUNS:-3}
SECS=${SECS:-5}
INFLIGHT=${INFLIGHT:-64}
PEERS=${PEERS:-100000}
SWARMS=${SWARMS:-1000}
MEMPEERS=${MEMPEERS:-1000000}
positive() {	# name value
	case $2 in '' | *[!0-9]* | 0) echo "$1 must be a positive integer" >&2; exit 2 ;; esac
}
positive RUNS "$RUNS"
positive INFLIGHT "$INFLIGHT"
positive PEERS "$PEERS"
positive SWARMS "$SWARMS"
positive MEMPEERS "$MEMPEERS"
[ $# -eq 0 ] || { echo "usage: $0   (settings in the environment; see the header)" >&2; exit 2; }
[ "$(nproc)" -ge 2 ] || { echo "needs 2 CPUs: the tracker on one, the load on the other" >&2; exit 1; }

if ! command -v opentracker >/dev/null 2>&1; then
	[ "$(id -u)" = 0 ] || { echo "opentracker not found (apt-get install opentracker)" >&2; exit 1; }
	echo "installing opentracker (Debian package)" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y opentracker >/dev/null
fi
command -v taskset >/dev/null 2>&1 || { echo "taskset not found (util-linux)" >&2; exit 1; }
command -v cc >/dev/null 2>&1 || { echo "cc not found" >&2; exit 1; }

if [ "${NOBUILD:-0}" != 1 ]; then
	bench_build p2pd p2pctl
fi
P2PD=$BUILD/daemon/p2pd
[ -x "$P2PD" ] || { echo "$P2PD was not built" >&2; exit 1; }

# --- scratch dir, cleanup -------------------------------------------------------

WORK=$(bench_workdir 65536 p2pd-tracker "the tracker bench") || exit 1
OT_PID=
P2PD_PID=

stop_pid() {	# pid
	if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
		kill -TERM "$1" 2>/dev/null || true
		wait "$1" 2>/dev/null || true
	fi
}

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
	stop_pid "$OT_PID"
	stop_pid "$P2PD_PID"
	if [ "${KEEP:-0}" = 1 ]; then
		echo "KEEP=1: left $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

LOADGEN=$WORK/trackerload
cc -O2 -std=c11 -Wall -Wextra -o "$LOADGEN" "$ROOT/bench/trackerload.c"

# opentracker chroots into its directory and reads the whitelist as nobody.
chmod 711 "$WORK"
mkdir -m 755 "$WORK/ot"
"$LOADGEN" hashes -s "$SWARMS" >"$WORK/ot/whitelist.txt"
chmod 644 "$WORK/ot/whitelist.txt"

# Ports of our own on addresses of our own: 127.0.0.5 (opentracker), 127.0.0.6 (p2pd).
PORT=$((20000 + $$ % 20000))
OT_ADDR=127.0.0.5:$PORT
P2_ADDR=127.0.0.6:$PORT

wait_listening() {	# addr pid log
	i=0
	while ! ss -Hltn "src $1" 2>/dev/null | grep -q .; do
		kill -0 "$2" 2>/dev/null || { echo "tracker exited at start:" >&2; cat "$3" >&2; exit 1; }
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "nothing listens on $1" >&2; cat "$3" >&2; exit 1; }
		sleep 0.1
	done
}

start_ot() {
	stop_pid "$OT_PID"
	set -- -i 127.0.0.5 -p "$PORT" -P "$PORT" -w /whitelist.txt -d "$WORK/ot"
	[ "$(id -u)" != 0 ] || set -- "$@" -u nobody
	taskset -c 0 opentracker "$@" >"$WORK/opentracker.log" 2>&1 &
	OT_PID=$!
	wait_listening "$OT_ADDR" "$OT_PID" "$WORK/opentracker.log"
}

P2_N=0
start_p2pd() {
	stop_pid "$P2PD_PID"
	P2_N=$((P2_N + 1))
	d=$WORK/p2pd-$P2_N
	mkdir -p "$d/dl" "$d/config"
	HOME=$d XDG_CONFIG_HOME=$d/config taskset -c 0 "$P2PD" --state-dir "$d" \
		--download-dir "$d/dl" --socket "$d/sock" --listen 127.0.0.1:0 --no-dht --no-lsd \
		--workers 1 --tracker-listen "$P2_ADDR" >"$d/p2pd.log" 2>&1 &
	P2PD_PID=$!
	wait_listening "$P2_ADDR" "$P2PD_PID" "$d/p2pd.log"
}

RES=$WORK/results.txt
: >"$RES"

load() {	# label mode addr pid
	taskset -c 1 "$LOADGEN" "$2" -t "$3" -l "$1" -P "$4" -n "$INFLIGHT" -d "$SECS" -N "$PEERS" \
		-s "$SWARMS" | tee -a "$RES"
}

bench_load_check
echo "opentracker $(dpkg-query -W -f '${Version}' opentracker 2>/dev/null || echo '?') on $OT_ADDR," \
	"p2pd $P2PD on $P2_ADDR; tracker on CPU 0, load on CPU 1"
echo "rates: $RUNS runs of ${SECS}s per mode, $INFLIGHT in flight, $PEERS peers in $SWARMS swarms"

# --- announces per second ----------------------------------------------------------

start_ot
start_p2pd
r=1
while [ $r -le "$RUNS" ]; do
	for mode in udp http keepalive; do
		load opentracker "$mode" "$OT_ADDR" "$OT_PID"
		load p2pd "$mode" "$P2_ADDR" "$P2PD_PID"
	done
	r=$((r + 1))
done

# --- memory per peer: fresh trackers, MEMPEERS new peers, VmRSS before and after ---

echo "memory: $MEMPEERS peers (distinct ip:port) in $SWARMS swarms, into fresh trackers"
start_ot
taskset -c 1 "$LOADGEN" fill -t "$OT_ADDR" -l opentracker -P "$OT_PID" -N "$MEMPEERS" \
	-s "$SWARMS" -n "$INFLIGHT" | tee -a "$RES"
stop_pid "$OT_PID"
OT_PID=
start_p2pd
taskset -c 1 "$LOADGEN" fill -t "$P2_ADDR" -l p2pd -P "$P2PD_PID" -N "$MEMPEERS" \
	-s "$SWARMS" -n "$INFLIGHT" | tee -a "$RES"
# The tracker's own count, to see that every peer was kept.
if [ -x "$BUILD/cli/p2pctl" ]; then
	echo "p2pd session.status: $("$BUILD/cli/p2pctl" --socket "$WORK/p2pd-$P2_N/sock" --json \
		status 2>/dev/null | tr -d ' \n' | grep -o '"tracker":{[^}]*}')"
fi
stop_pid "$P2PD_PID"
P2PD_PID=

# --- the table ---------------------------------------------------------------------

# The value of KEY= in the lines of LABEL and MODE, one a line.
values() {	# label mode key
	grep "^$1 mode=$2 " "$RES" | tr ' ' '\n' | sed -n "s/^$3=//p"
}
median() {
	sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan";
		else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
med() { values "$1" "$2" "$3" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "nan"; else printf "%.2f", a / b }'; }
verdict() {	# value op limit
	awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
		ok = (op == ">=") ? (v + 0 >= l + 0) : (v + 0 <= l + 0)
		print (v == "nan" ? "MISS" : ok ? "PASS" : "MISS") }'
}

echo
echo "medians of $RUNS runs (announces/s; latency in ms from send to whole answer, for a"
echo "new HTTP connection from connect; tracker CPU: user + system time per answer)"
printf '| %-11s | %-24s | %12s | %8s | %8s | %10s | %7s | %10s |\n' tracker mode "announces/s" \
	"p50 ms" "p99 ms" "CPU us/ann" errors reconnects
printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' -------------  -------------------------- -------------- \
	---------- ---------- ------------ --------- ------------
for t in opentracker p2pd; do
	for m in udp http keepalive; do
		case $m in
		udp) what="UDP, $INFLIGHT in flight" ;;
		http) what="HTTP, new connection" ;;
		keepalive) what="HTTP keep-alive, $INFLIGHT conn" ;;
		esac
		printf '| %-11s | %-24s | %12.0f | %8.3f | %8.3f | %10.1f | %7s | %10s |\n' "$t" "$what" \
			"$(med "$t" "$m" rate)" "$(awk -v u="$(med "$t" "$m" p50_us)" 'BEGIN { print u / 1000 }')" \
			"$(awk -v u="$(med "$t" "$m" p99_us)" 'BEGIN { print u / 1000 }')" \
			"$(med "$t" "$m" cpu_us)" "$(med "$t" "$m" errors)" "$(med "$t" "$m" reconnects)"
	done
done
echo
printf '| %-11s | %9s | %12s | %12s | %14s |\n' tracker peers "RSS before" "RSS after" "bytes/peer"
printf '|%s|%s|%s|%s|%s|\n' ------------- ----------- -------------- -------------- ----------------
for t in opentracker p2pd; do
	printf '| %-11s | %9s | %9s KiB | %9s KiB | %14s |\n' "$t" "$(med "$t" fill peers)" \
		"$(med "$t" fill rss_before_kib)" "$(med "$t" fill rss_after_kib)" \
		"$(med "$t" fill bytes_per_peer)"
done

udp=$(ratio "$(med p2pd udp rate)" "$(med opentracker udp rate)")
ka=$(ratio "$(med p2pd keepalive rate)" "$(med opentracker http rate)")
http=$(ratio "$(med p2pd http rate)" "$(med opentracker http rate)")
mem=$(ratio "$(med p2pd fill bytes_per_peer)" "$(med opentracker fill bytes_per_peer)")
# CPU per announce does not depend on who else had the cores: the ratio to trust when busy.
cpu_udp=$(ratio "$(med opentracker udp cpu_us)" "$(med p2pd udp cpu_us)")
cpu_ka=$(ratio "$(med opentracker http cpu_us)" "$(med p2pd keepalive cpu_us)")
echo
echo "p2pd/opentracker:"
echo "  UDP announces/s                        $udp  (target >= 1)  $(verdict "$udp" '>=' 1)"
echo "  HTTP keep-alive vs its HTTP announces/s $ka  (target >= 2)  $(verdict "$ka" '>=' 2)"
echo "  HTTP, both a new connection each        $http  (no target)"
echo "  memory per peer                        $mem  (target <= 2)  $(verdict "$mem" '<=' 2)"
echo "  announces per CPU second, UDP           $cpu_udp  (opentracker CPU/announce over p2pd's)"
echo "  the same, keep-alive vs its HTTP        $cpu_ka"
echo "  p99 latency                            printed above  PASS"
echo "load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
