# bench/lib/common.sh: what the benchmark scripts share: sizes, the build, the scratch dir.
# Sourced (not run) by bench/*.sh, which set ROOT and BUILD first.

# "512M" -> bytes (binary multiples); fails on anything else.
to_bytes() {
	case $1 in
	*[Kk]) n=${1%?}; m=1024 ;;
	*[Mm]) n=${1%?}; m=1048576 ;;
	*[Gg]) n=${1%?}; m=1073741824 ;;
	*) n=$1; m=1 ;;
	esac
	case $n in
	'' | *[!0-9]*) return 1 ;;
	esac
	echo $((n * m))
}

# Release build of the given targets (none: everything) in $BUILD.
# -Dwerror=false: a new compiler warning in a release build must not stop a benchmark.
bench_build() {
	if [ ! -f "$BUILD/build.ninja" ]; then
		echo "setting up a release build in $BUILD" >&2
		meson setup "$BUILD" "$ROOT" --buildtype=release -Dtests=false -Dwerror=false >/dev/null
	fi
	blog=${TMPDIR:-/tmp}/p2pd-bench-build.$$.log
	if ! meson compile -C "$BUILD" "$@" >"$blog" 2>&1; then
		cat "$blog" >&2
		rm -f "$blog"
		echo "build in $BUILD failed" >&2
		exit 1
	fi
	rm -f "$blog"
}

avail_kib() { df -Pk "$1" 2>/dev/null | awk 'NR == 2 { print $4 }'; }

# A scratch dir named PREFIX.XXXXXX, in tmpfs when it has NEED_KIB free (so the
# disk is not what gets measured), else in $TMPDIR; exits if neither has room.
bench_workdir() {	# need_kib prefix what
	base=${TMPDIR:-/tmp}
	if [ -d /dev/shm ] && [ -w /dev/shm ] && [ "$(avail_kib /dev/shm || echo 0)" -gt "$1" ]; then
		base=/dev/shm
	fi
	if [ "$(avail_kib "$base" || echo 0)" -le "$1" ]; then
		echo "not enough room in $base for $3" >&2
		exit 1
	fi
	mktemp -d "$base/$2.XXXXXX"
}

# Prints the load average and warns when other work will skew the figures.
bench_load_check() {
	LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
	CORES=$(nproc)
	if awk -v l="${LOAD0%% *}" -v c="$CORES" 'BEGIN { exit !(l > c / 4) }'; then
		echo "warning: load average $LOAD0 on $CORES cores: figures will be noisy" >&2
	fi
}

# EXIT trap of the scripts driving a Python harness: stop it (by its pid, $PY_PID),
# then remove $WORK unless KEEP=1.
# shellcheck disable=SC2317  # called by the EXIT trap
bench_py_cleanup() {
	if [ -n "${PY_PID:-}" ] && kill -0 "$PY_PID" 2>/dev/null; then
		kill -TERM "$PY_PID" 2>/dev/null || true
		wait "$PY_PID" 2>/dev/null || true
	fi
	if [ "${KEEP:-0}" = 1 ]; then
		echo "KEEP=1: left $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}

# Writes SIZE random bytes to DIR/data.bin and prints its path.
bench_random_file() {	# dir size
	echo "writing $2 random bytes to $1/data.bin" >&2
	head -c "$2" /dev/urandom >"$1/data.bin"
	echo "$1/data.bin"
}
