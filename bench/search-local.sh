#!/bin/sh
# bench/search-local.sh: local search over a million indexed names (issue 5): fills a
# state database with realistic torrent names, file paths and seen results
# (bench/lib/searchgen.py, through the store's own schema and triggers), then times
# store_search_hits with bench/searchbench.c, linked here against the release build's
# static libraries. Prints p50/p99/max per query class and overall, the slowest
# queries, and PASS or MISS for "p99 under 10 ms".
#
# Environment:
#   BUILD     meson build dir (default: build-bench, set up as a release build if
#             missing; NOBUILD=1 uses its libraries without compiling)
#   NAMES     index rows to create (1000000), of which SEEN seen results (50000)
#   NQUERIES  queries timed (400), each once after an untimed warm-up pass
#   LIMIT     hits asked per query (50)
#   DB        an already filled database to reuse (skips the fill; kept)
#   KEEP      1: keep the temp dir (database, queries)
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
# shellcheck source=bench/lib/common.sh
. "$ROOT/bench/lib/common.sh"
NAMES=${NAMES:-1000000}
SEEN=${SEEN:-50000}
NQUERIES=${NQUERIES:-400}
LIMIT=${LIMIT:-50}
[ $# -eq 0 ] || { echo "usage: $0   (settings in the environment; see the header)" >&2; exit 2; }
command -v cc >/dev/null 2>&1 || { echo "cc not found" >&2; exit 1; }

if [ "${NOBUILD:-0}" != 1 ]; then
	bench_build p2pdcore p2pcommon
fi
bench_load_check

# About 600 bytes of database per index row.
WORK=$(bench_workdir $((NAMES * 6 / 10 + 65536)) p2pd-search "the search database")
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
	if [ "${KEEP:-0}" = 1 ]; then echo "KEEP=1: left $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

SB=$WORK/searchbench
# shellcheck disable=SC2046  # pkg-config prints several flags
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -I"$ROOT/daemon" -I"$ROOT/common" \
	-o "$SB" "$ROOT/bench/searchbench.c" "$BUILD/daemon/libp2pdcore.a" \
	"$BUILD/common/libp2pcommon.a" $(pkg-config --libs sqlite3) -lm

if [ -n "${DB:-}" ]; then
	db=$DB
	[ -f "$db.queries" ] || { echo "no $db.queries next to DB" >&2; exit 1; }
	queries=$db.queries
else
	db=$WORK/p2pd.db
	queries=$WORK/queries
	"$SB" init "$db"
	t0=$(date +%s)
	python3 "$ROOT/bench/lib/searchgen.py" --names "$NAMES" --seen "$SEEN" \
		--nqueries "$NQUERIES" "$db" "$queries"
	echo "filled in $(($(date +%s) - t0)) s; database $(du -m "$db" | cut -f1) MiB" >&2
fi
echo "load before: $LOAD0"
"$SB" run "$db" "$queries" "$LIMIT"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
