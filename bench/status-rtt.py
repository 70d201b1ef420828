#!/usr/bin/python3
"""bench/status-rtt.py: control-socket latency of p2pd.

Starts a fresh p2pd in a temporary directory, then measures
  1. the round trip of session.status over one connection (send a line, read
     the answer line), N times in a row (default 2000), and
  2. the wall time of `p2pctl status` as a fresh process, M times (default 200),
and prints the median, p90, p99 and max of each. See bench/README.md.

Environment: BUILD (meson build dir with daemon/p2pd and cli/p2pctl; default
build-bench in the source tree, set up as a release build if absent);
NOBUILD=1 uses the binaries in BUILD as they are, without compiling.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_MEDIAN_MS = 2.0


def build(build_dir):
    """Sets up a release build if there is none, then brings it up to date."""
    # -Dwerror=false: a new compiler warning in a release build must not stop a benchmark.
    if os.environ.get("NOBUILD") != "1" and \
            not os.path.exists(os.path.join(build_dir, "build.ninja")):
        print(f"setting up a release build in {build_dir}", file=sys.stderr)
        subprocess.run(["meson", "setup", build_dir, ROOT, "--buildtype=release",
                        "-Dtests=false", "-Dwerror=false"], check=True, stdout=subprocess.DEVNULL)
    if os.environ.get("NOBUILD") != "1":
        r = subprocess.run(["meson", "compile", "-C", build_dir],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            sys.stderr.write(r.stdout)
            sys.exit(f"build in {build_dir} failed")
    p2pd = os.path.join(build_dir, "daemon", "p2pd")
    p2pctl = os.path.join(build_dir, "cli", "p2pctl")
    for b in (p2pd, p2pctl):
        if not os.access(b, os.X_OK):
            sys.exit(f"{b} was not built")
    return p2pd, p2pctl


class Daemon:
    """One p2pd with its own state dir; stopped by its own PID only."""

    def __init__(self, p2pd, workdir):
        self.sock = os.path.join(workdir, "p2pd.sock")
        self.log_path = os.path.join(workdir, "p2pd.log")
        dl = os.path.join(workdir, "dl")
        os.mkdir(dl)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [p2pd, "--state-dir", workdir, "--download-dir", dl, "--socket", self.sock,
             "--listen", "127.0.0.1:0", "--no-dht", "--no-lsd"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)

    def wait_ready(self, timeout=10.0):
        """Waits until the socket accepts a connection; bounded by timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.sock)
                return s
            except OSError:
                s.close()
                time.sleep(0.05)
        self.fail("p2pd did not come up")

    def fail(self, why):
        self.stop()
        with open(self.log_path, "rb") as f:
            sys.stderr.write(f.read().decode(errors="replace"))
        sys.exit(why)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                print(f"p2pd (pid {self.proc.pid}) ignored SIGTERM for 10 s; killing it",
                      file=sys.stderr)
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


class LineConn:
    """A JSON-RPC connection: one request line out, one response line back."""

    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(10)
        self.buf = b""

    def readline(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("p2pd closed the control connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def call(self, req_id, method):
        """Returns (round-trip seconds, decoded response)."""
        line = json.dumps({"jsonrpc": "2.0", "id": req_id, "method": method},
                          separators=(",", ":")).encode() + b"\n"
        t0 = time.perf_counter()
        self.sock.sendall(line)
        resp = self.readline()
        t1 = time.perf_counter()
        return t1 - t0, resp


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list, p in (0, 100]."""
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100 * len(sorted_values))) - 1))
    return sorted_values[k]


def summary(name, seconds):
    ms = sorted(s * 1000 for s in seconds)
    return (f"{name:<34} {len(ms):6d} {statistics.median(ms):9.3f} "
            f"{percentile(ms, 90):9.3f} {percentile(ms, 99):9.3f} {ms[-1]:9.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--requests", type=int, default=2000,
                    help="session.status requests over one connection (default 2000)")
    ap.add_argument("-m", "--processes", type=int, default=200,
                    help="p2pctl status processes (default 200)")
    ap.add_argument("--warmup", type=int, default=20,
                    help="untimed requests before the timed ones (default 20)")
    args = ap.parse_args()
    if args.requests < 1 or args.processes < 1 or args.warmup < 0:
        ap.error("counts must be positive")

    build_dir = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build-bench")))
    p2pd, p2pctl = build(build_dir)

    work = tempfile.mkdtemp(prefix="p2pd-rtt.")
    daemon = None
    try:
        daemon = Daemon(p2pd, work)
        conn = LineConn(daemon.wait_ready())

        # Check the answer once: a benchmark of error replies would be worthless.
        _, resp = conn.call(0, "session.status")
        msg = json.loads(resp)
        if "result" not in msg or msg.get("id") != 0:
            daemon.fail(f"unexpected answer to session.status: {resp[:200]!r}")
        api = msg["result"].get("api_version")

        for i in range(args.warmup):
            conn.call(1 + i, "session.status")
        rtt = []
        base = 1 + args.warmup
        for i in range(args.requests):
            dt, resp = conn.call(base + i, "session.status")
            if b'"result"' not in resp:
                daemon.fail(f"error answer to request {base + i}: {resp[:200]!r}")
            rtt.append(dt)
        conn.sock.close()

        procs = []
        env = dict(os.environ, LC_ALL="C")
        for _ in range(args.processes):
            t0 = time.perf_counter()
            r = subprocess.run([p2pctl, "-s", daemon.sock, "status"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            t1 = time.perf_counter()
            if r.returncode != 0:
                daemon.fail(f"p2pctl status exited {r.returncode}: "
                            f"{r.stderr.decode(errors='replace').strip()}")
            procs.append(t1 - t0)
    finally:
        if daemon is not None:
            daemon.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(f"p2pd: {p2pd} (api_version {api}), {os.cpu_count()} cores")
    print(f"{'latency, ms':<34} {'count':>6} {'median':>9} {'p90':>9} {'p99':>9} {'max':>9}")
    print(summary("session.status socket round trip", rtt))
    print(summary("p2pctl status (new process)", procs))
    med = statistics.median(rtt) * 1000
    print(f"socket round trip median {med:.3f} ms "
          f"(target < {TARGET_MEDIAN_MS} ms: {'met' if med < TARGET_MEDIAN_MS else 'NOT met'})")


if __name__ == "__main__":
    main()
