#!/bin/sh
# bench/share.sh [SIZE]: how fast does `p2pctl share` hash a file, next to
# mktorrent, transmission-create and the raw OpenSSL SHA-1 speed, all in one run
# on the same file (hot in the page cache). See bench/README.md.
#
# SIZE: bytes with an optional K, M or G suffix (powers of 1024); default 1G.
# Environment:
#   BUILD   meson build dir with daemon/p2pd and cli/p2pctl (default: build-bench
#           in the source tree, set up as a release build if it does not exist)
#   NOBUILD set to 1: use the binaries in BUILD as they are, without compiling
#   PIECE   piece length in bytes, a power of two (default 1048576)
#   RUNS    timed runs per tool; the median is reported (default 3)
#   TMPDIR  where to put the test file if /dev/shm has no room (default /tmp)
set -eu

usage() {
	echo "usage: $0 [SIZE]   (SIZE like 1G, 512M; default 1G)" >&2
	exit 2
}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
# shellcheck source=bench/lib/common.sh
. "$ROOT/bench/lib/common.sh"
PIECE=${PIECE:-1048576}
RUNS=${RUNS:-3}
SIZE_ARG=${1:-1G}
[ $# -le 1 ] || usage

# --- arguments -----------------------------------------------------------------

SIZE=$(to_bytes "$SIZE_ARG") || usage
[ "$SIZE" -gt 0 ] || usage
case $RUNS in '' | *[!0-9]* | 0) echo "RUNS must be a positive integer" >&2; exit 2 ;; esac

# log2 of the piece length, for mktorrent -l; refuse what is not a power of two.
LOG2=0
p=$PIECE
while [ "$p" -gt 1 ]; do
	if [ $((p % 2)) -ne 0 ]; then
		echo "PIECE=$PIECE is not a power of two" >&2
		exit 2
	fi
	p=$((p / 2))
	LOG2=$((LOG2 + 1))
done
if [ "$LOG2" -lt 14 ] || [ "$LOG2" -gt 26 ]; then
	echo "PIECE must be 16 KiB to 64 MiB" >&2
	exit 2
fi
CORES=$(nproc)

for tool in mktorrent transmission-create openssl; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "$tool not found (apt-get install mktorrent transmission-cli openssl)" >&2
		exit 1
	}
done

# --- build ---------------------------------------------------------------------

if [ "${NOBUILD:-0}" != 1 ]; then
	bench_build
fi
P2PD=$BUILD/daemon/p2pd
P2PCTL=$BUILD/cli/p2pctl
for b in "$P2PD" "$P2PCTL"; do
	[ -x "$b" ] || { echo "$b was not built" >&2; exit 1; }
done

# --- scratch dir and cleanup ---------------------------------------------------

# tmpfs when it holds the file with room to spare, so the disk is not measured.
need_kib=$((SIZE / 1024 + 65536))
WORK=$(bench_workdir "$need_kib" p2pd-bench "$SIZE bytes") || exit 1
DAEMON_PID=

stop_daemon() {
	[ -n "$DAEMON_PID" ] || return 0
	if kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -TERM "$DAEMON_PID" 2>/dev/null || true
		i=0
		while kill -0 "$DAEMON_PID" 2>/dev/null && [ $i -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		if kill -0 "$DAEMON_PID" 2>/dev/null; then
			echo "p2pd (pid $DAEMON_PID) ignored SIGTERM for 10 s; killing it" >&2
			kill -KILL "$DAEMON_PID" 2>/dev/null || true
		fi
	fi
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
}

cleanup() {
	stop_daemon
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers -------------------------------------------------------------------

now() { date +%s.%N; }
elapsed() { echo "$1 $2" | awk '{ printf "%.3f\n", $2 - $1 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Starts a fresh p2pd with its own state in $WORK/run$1 and waits (at most 10 s)
# until it answers on its control socket.
start_daemon() {
	d=$WORK/run$1
	mkdir -p "$d/dl"
	SOCK=$d/p2pd.sock
	"$P2PD" --state-dir "$d" --download-dir "$d/dl" --socket "$SOCK" \
		--listen 127.0.0.1:0 --no-dht --no-lsd 2>"$d/p2pd.log" &
	DAEMON_PID=$!
	i=0
	until [ -S "$SOCK" ] && "$P2PCTL" -s "$SOCK" status >/dev/null 2>&1; do
		if ! kill -0 "$DAEMON_PID" 2>/dev/null || [ $i -ge 100 ]; then
			echo "p2pd did not come up; its log:" >&2
			cat "$d/p2pd.log" >&2
			exit 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
}

# Prints the SHA-1 of the info dictionary's "pieces" string of a .torrent file, so
# that the pieces p2pd computed can be compared with mktorrent's byte for byte.
pieces_digest() {
	/usr/bin/python3 - "$1" <<'EOF'
import hashlib, sys

def walk(b, i):
    """Decodes the bencoded value at b[i:]; returns (value, next index)."""
    c = b[i:i + 1]
    if c == b"i":
        j = b.index(b"e", i)
        return int(b[i + 1:j]), j + 1
    if c == b"l":
        out, i = [], i + 1
        while b[i:i + 1] != b"e":
            v, i = walk(b, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        out, i = {}, i + 1
        while b[i:i + 1] != b"e":
            k, i = walk(b, i)
            out[k], i = walk(b, i)
        return out, i + 1
    j = b.index(b":", i)
    n = int(b[i:j])
    return b[j + 1:j + 1 + n], j + 1 + n

meta, _ = walk(open(sys.argv[1], "rb").read(), 0)
print(hashlib.sha1(meta[b"info"][b"pieces"]).hexdigest())
EOF
}

# --- the test file -------------------------------------------------------------

FILE=$WORK/data.bin
echo "writing $SIZE random bytes to $FILE" >&2
head -c "$SIZE" /dev/urandom >"$FILE"
cat "$FILE" >/dev/null	# page cache (a no-op on tmpfs, where the file is in RAM)

# --- timed runs ----------------------------------------------------------------

# Other work on the machine skews every figure; say so rather than hide it.
bench_load_check

: >"$WORK/t.p2pd"
: >"$WORK/t.mktorrent"
: >"$WORK/t.transmission"
r=1
while [ $r -le "$RUNS" ]; do
	echo "run $r of $RUNS" >&2

	start_daemon "$r"
	t0=$(now)
	if ! hash=$("$P2PCTL" -s "$SOCK" share "$FILE" --piece-size "$PIECE"); then
		echo "p2pctl share failed; the daemon's log:" >&2
		cat "$WORK/run$r/p2pd.log" >&2
		exit 1
	fi
	t1=$(now)
	elapsed "$t0" "$t1" >>"$WORK/t.p2pd"
	P2PD_HASH=$(echo "$hash" | grep -Eo '[0-9a-f]{40}' | head -n 1) || true
	if [ -n "$P2PD_HASH" ]; then
		"$P2PCTL" -s "$SOCK" export "$P2PD_HASH" -o "$WORK/p2pd.torrent" >/dev/null || true
	fi
	"$P2PCTL" -s "$SOCK" shutdown >/dev/null 2>&1 || true
	stop_daemon

	rm -f "$WORK/mk.torrent"
	t0=$(now)
	mktorrent -l "$LOG2" -t "$CORES" -o "$WORK/mk.torrent" "$FILE" >/dev/null
	t1=$(now)
	elapsed "$t0" "$t1" >>"$WORK/t.mktorrent"

	rm -f "$WORK/tr.torrent"
	t0=$(now)
	transmission-create -s $((PIECE / 1024)) -o "$WORK/tr.torrent" "$FILE" >/dev/null 2>&1
	t1=$(now)
	elapsed "$t0" "$t1" >>"$WORK/t.transmission"

	r=$((r + 1))
done

# OpenSSL's own SHA-1 speed on 1 MiB buffers: the ceiling for hashing, one core
# and all cores. The figures are in units of 1000 bytes per second.
ssl_rate() {
	openssl speed "$@" -evp sha1 -bytes 1048576 -seconds 3 2>/dev/null |
		awk '$1 == "sha1" { v = $NF } END { sub(/k$/, "", v); printf "%.0f", v * 1000 }'
}
SSL1=$(ssl_rate)
SSLN=$SSL1
[ "$CORES" -le 1 ] || SSLN=$(ssl_rate -multi "$CORES")

# --- report --------------------------------------------------------------------

T_P2PD=$(median <"$WORK/t.p2pd")
T_MK=$(median <"$WORK/t.mktorrent")
T_TR=$(median <"$WORK/t.transmission")

check=skipped
if [ -s "$WORK/p2pd.torrent" ] && [ -x /usr/bin/python3 ]; then
	if [ "$(pieces_digest "$WORK/p2pd.torrent")" = "$(pieces_digest "$WORK/mk.torrent")" ]; then
		check="p2pd's piece hashes equal mktorrent's"
	else
		check="MISMATCH: p2pd's piece hashes differ from mktorrent's"
	fi
fi

row() {	# name seconds
	awk -v name="$1" -v t="$2" -v size="$SIZE" 'BEGIN {
		printf "%-28s %9.3f %9.3f %9.0f\n", name, t, t * 1073741824 / size, size / t / 1e6 }'
}
rate_row() {	# name bytes/s
	awk -v name="$1" -v r="$2" -v size="$SIZE" 'BEGIN {
		printf "%-28s %9.3f %9.3f %9.0f\n", name, size / r, 1073741824 / r, r / 1e6 }'
}

echo
echo "load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "file: $SIZE bytes in $(dirname "$WORK"), piece length $PIECE, $CORES cores, median of $RUNS runs"
echo "p2pd: $P2PD"
printf "%-28s %9s %9s %9s\n" "tool" "seconds" "s/GiB" "MB/s"
row "p2pctl share (p2pd)" "$T_P2PD"
row "mktorrent -t $CORES" "$T_MK"
row "transmission-create" "$T_TR"
rate_row "openssl sha1, 1 core" "$SSL1"
rate_row "openssl sha1, $CORES cores" "$SSLN"
echo
awk -v p="$T_P2PD" -v m="$T_MK" -v t="$T_TR" 'BEGIN {
	r = m / p
	verdict = (r >= 1.4) ? "met" : "NOT met"
	printf "speed p2pd/mktorrent: %.2f (target >= 1.4: %s)\n", r, verdict
	printf "speed p2pd/transmission-create: %.2f (its time is rounded up to 0.5 s steps)\n", t / p }'
echo "check: $check"
echo "runs (s): p2pd $(tr '\n' ' ' <"$WORK/t.p2pd")| mktorrent $(tr '\n' ' ' <"$WORK/t.mktorrent")| transmission-create $(tr '\n' ' ' <"$WORK/t.transmission")"
