"""benchlib: shared pieces of the transfer and swarm benchmarks (bench/transfer.sh,
bench/swarm.sh): starting and stopping p2pd, aria2c and libtorrent peers on
127.0.0.1, a JSON-RPC client for p2pd's control socket, .torrent building, and
per-process CPU time and peak RSS from /proc.

Every client runs with DHT, LSD, PEX, UPnP, NAT-PMP and uTP off, bound to
127.0.0.1; nothing leaves the machine. Every child gets PR_SET_PDEATHSIG, so it
dies with the benchmark; children are stopped by their pid, never by name. Every
wait is bounded in time and count.
"""

import ctypes
import hashlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf('SC_CLK_TCK')

# ---------------------------------------------------------------- processes

_children = []          # every Popen started here, for stop_all()


def _pdeathsig():
    try:
        libc = ctypes.CDLL('libc.so.6', use_errno=True)
        libc.prctl(1, signal.SIGTERM)       # PR_SET_PDEATHSIG
    except OSError:
        pass


def spawn(cmd, log=None, stdin=subprocess.DEVNULL, stdout=None, cwd=None, env=None):
    """Starts cmd; stderr (and stdout unless given) go to the file `log`."""
    out = open(log, 'ab') if log else subprocess.DEVNULL
    try:
        p = subprocess.Popen(cmd, stdin=stdin, stdout=stdout if stdout is not None else out,
                             stderr=out, cwd=cwd, env=env, preexec_fn=_pdeathsig)
    finally:
        if log:
            out.close()
    _children.append(p)
    return p


def stop(p, timeout=10.0):
    """SIGTERM to our child p, SIGKILL if it is still there after timeout; reaps it."""
    if p is None:
        return None
    if p.poll() is None:
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            sys.stderr.write('pid %d ignored SIGTERM for %.0f s; killing it\n' % (p.pid, timeout))
            p.kill()
            p.wait(10)
    if p in _children:
        _children.remove(p)
    return p.returncode


def stop_all():
    for p in list(_children):
        stop(p, 5.0)


def install_signal_handlers():
    """SIGTERM/SIGINT/SIGHUP end the benchmark through its finally blocks."""
    def handler(sig, frame):
        raise SystemExit(128 + sig)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, handler)


def proc_cpu(pid):
    """User + system CPU seconds of a live process (all its threads)."""
    with open('/proc/%d/stat' % pid) as f:
        s = f.read()
    fields = s[s.rindex(')') + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK     # utime, stime


def proc_hwm_kib(pid):
    """Peak resident set size (VmHWM) of a live process, in KiB."""
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    return 0


def wait4(p, timeout):
    """Waits (bounded) for our child p to exit; returns (status, cpu s, maxrss KiB)
    or None on timeout. Uses wait4 so the rusage is the child's own."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.005) + 10):
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            if p in _children:
                _children.remove(p)
            return p.returncode, ru.ru_utime + ru.ru_stime, ru.ru_maxrss
        if time.monotonic() > deadline:
            return None
        time.sleep(0.005)
    return None


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
    finally:
        s.close()


def port_listening(port):
    """Reads /proc/net/tcp{,6}: no probe connection (aria2 bans who connects and
    says nothing)."""
    for path in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(path) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[3] == '0A' and \
                    int(parts[1].rsplit(':', 1)[1], 16) == port:
                return True
    return False


def wait_for(fn, timeout, interval, what):
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 10):
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            break
        time.sleep(interval)
    raise BenchError('timed out after %.0f s waiting for %s' % (timeout, what))


class BenchError(Exception):
    pass


def tail(path, n=40):
    try:
        with open(path, 'rb') as f:
            lines = f.read().decode('utf-8', 'replace').splitlines()
    except OSError:
        return '(no %s)' % path
    lines = [x for x in lines if 'ctl: client' not in x]     # p2pd control-socket noise
    return '----- %s (last %d of %d lines) -----\n%s' % (
        path, min(n, len(lines)), len(lines), '\n'.join(lines[-n:]))


def same_file(a, b):
    """cmp -s (memcmp speed); True if equal."""
    return subprocess.run(['cmp', '-s', a, b]).returncode == 0


def rm(path):
    if os.environ.get('KEEP') == '1':      # keep every log and copy, to study a failure
        return
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.unlink(path)


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


# ---------------------------------------------------------------- torrents

def bencode(v):
    if isinstance(v, bool):
        v = int(v)
    if isinstance(v, int):
        return b'i%de' % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, (bytes, bytearray)):
        return b'%d:%s' % (len(v), bytes(v))
    if isinstance(v, (list, tuple)):
        return b'l' + b''.join(bencode(x) for x in v) + b'e'
    if isinstance(v, dict):
        items = sorted(((k.encode() if isinstance(k, str) else k), x) for k, x in v.items())
        return b'd' + b''.join(bencode(k) + bencode(x) for k, x in items) + b'e'
    raise TypeError(type(v))


def piece_hashes(path, piece):
    out = []
    with open(path, 'rb') as f:
        for _ in range(os.path.getsize(path) // piece + 2):
            b = f.read(piece)
            if not b:
                break
            out.append(hashlib.sha1(b).digest())
    return b''.join(out)


def make_torrent(path, piece, pieces=None, trackers=()):
    """Single-file v1 .torrent for path; returns (bytes, info-hash bytes)."""
    info = {'name': os.path.basename(path), 'length': os.path.getsize(path),
            'piece length': piece, 'pieces': pieces or piece_hashes(path, piece)}
    meta = {'info': info, 'created by': 'p2pd bench'}
    if trackers:
        meta['announce'] = trackers[0]
        meta['announce-list'] = [[t] for t in trackers]
    return bencode(meta), hashlib.sha1(bencode(info)).digest()


# ---------------------------------------------------------------- p2pd

class P2pd:
    """One p2pd with its state, downloads and socket in `root`."""

    def __init__(self, binary, root):
        self.binary = binary
        self.root = root
        self.dl = os.path.join(root, 'dl')
        self.sock = os.path.join(root, 'sock')
        self.log = os.path.join(root, 'p2pd.log')
        os.makedirs(self.dl, exist_ok=True)
        self.proc = None
        self.next_id = 1

    def start(self):
        env = dict(os.environ)
        for k in ('NOTIFY_SOCKET', 'LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'):
            env.pop(k, None)
        env['HOME'] = self.root
        env['XDG_CONFIG_HOME'] = os.path.join(self.root, 'config')
        cmd = [self.binary, '--state-dir', self.root, '--download-dir', self.dl,
               '--socket', self.sock, '--listen', '127.0.0.1:0', '--no-dht', '--no-lsd']
        if os.environ.get('P2PD_LOG_LEVEL'):      # e.g. debug, to study a failure
            cmd += ['--log-level', os.environ['P2PD_LOG_LEVEL']]
        self.proc = spawn(cmd, log=self.log, env=env)

        def up():
            if self.proc.poll() is not None:
                raise BenchError('p2pd exited with %s at start\n%s'
                                 % (self.proc.returncode, tail(self.log)))
            try:
                self.call('session.status', timeout=2.0)
                return True
            except OSError:
                return False
        wait_for(up, 10.0, 0.02, 'p2pd to answer on %s' % self.sock)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def connect(self, timeout=30.0):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(self.sock)
        return Rpc(s)

    def call(self, method, params=None, timeout=30.0):
        with self.connect(timeout) as c:
            return c.call(method, params, timeout)

    def port(self):
        for a in self.call('session.status').get('listen') or []:
            if a.startswith('127.0.0.1:') and not a.endswith(':0'):
                return int(a.rsplit(':', 1)[1])
        raise BenchError('p2pd reports no 127.0.0.1 listen port')

    def stop(self):
        rc = stop(self.proc)
        if rc not in (0, None):
            sys.stderr.write('p2pd in %s exited with %s\n%s\n' % (self.root, rc, tail(self.log)))
        return rc


class Rpc:
    """JSON-RPC over one control connection; events are queued."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b''
        self.events = []
        self.next_id = 1

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def close(self):
        self.sock.close()

    def fileno(self):
        return self.sock.fileno()

    def _read_lines(self, timeout):
        r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not r:
            return []
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise BenchError('p2pd closed the control connection')
        self.buf += chunk
        *lines, self.buf = self.buf.split(b'\n')
        return [json.loads(x) for x in lines if x.strip()]

    def call(self, method, params=None, timeout=30.0):
        rid = self.next_id
        self.next_id += 1
        req = {'jsonrpc': '2.0', 'id': rid, 'method': method}
        if params is not None:
            req['params'] = params
        self.sock.sendall(json.dumps(req).encode() + b'\n')
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            answer = None
            for m in self._read_lines(left):
                if answer is None and m.get('id') == rid:
                    answer = m
                elif m.get('method') == 'event':
                    # Also those read in the same chunk after the answer: kept, not lost.
                    self.events.append(m['params'])
            if answer is not None:
                if 'error' in answer:
                    raise BenchError('%s: %s' % (method, answer['error']))
                return answer['result']
        raise BenchError('%s: no answer within %.0f s' % (method, timeout))

    def poll_events(self, timeout):
        """Events that arrive within timeout (and those already queued)."""
        if not self.events:
            for m in self._read_lines(timeout):
                if m.get('method') == 'event':
                    self.events.append(m['params'])
        out, self.events = self.events, []
        return out


def p2pd_wait_seeding(d, conn, tid, timeout, stall=30.0):
    """Until torrent tid of p2pd d is seeding: state events on conn (subscribed),
    and torrent.get once a second. Returns time.monotonic() when seen; raises
    BenchError on error state, stall or timeout."""
    deadline = time.monotonic() + timeout
    last_poll = 0.0
    last_have, last_change = -1, time.monotonic()
    for _ in range(int(timeout / 0.01) + 100):
        for ev in conn.poll_events(0.05):
            if ev.get('type') == 'torrent.completed' or \
                    (ev.get('type') == 'torrent.state' and ev.get('to') == 'seeding'):
                return time.monotonic()
        now = time.monotonic()
        if now - last_poll >= 1.0:
            last_poll = now
            t = conn.call('torrent.get', {'id': tid})
            if t['state'] == 'seeding':
                return time.monotonic()
            if t['state'] == 'error':
                raise BenchError('p2pd torrent error: %s' % t.get('error'))
            if t['have_bytes'] != last_have:
                last_have, last_change = t['have_bytes'], now
            if now - last_change > stall:
                raise BenchError('p2pd made no progress for %.0f s (%d of %d bytes)\n'
                                 'peers: %s' % (stall, t['have_bytes'], t['size'],
                                                json.dumps(conn.call('torrent.peers',
                                                                     {'id': tid}))))
        if d.proc.poll() is not None:
            raise BenchError('p2pd exited with %s' % d.proc.returncode)
        if now > deadline:
            raise BenchError('p2pd not done within %.0f s' % timeout)
    raise BenchError('p2pd not done (loop bound)')


# ---------------------------------------------------------------- aria2

ARIA2_COMMON = [
    '--no-conf', '--enable-color=false', '--summary-interval=0', '--quiet=true',
    '--interface=127.0.0.1', '--disable-ipv6=true',
    '--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false',
    '--enable-peer-exchange=false', '--file-allocation=none',
    '--auto-save-interval=0', '--bt-stop-timeout=0', '--log-level=notice',
    '--bt-max-peers=0',
]


def aria2_cmd(torrent, data_dir, port, log, seed, seed_minutes=60, extra=()):
    cmd = ['aria2c'] + ARIA2_COMMON + [
        '--dir=%s' % data_dir, '--listen-port=%d' % port, '--log=%s' % log,
        '--stop-with-process=%d' % os.getpid()]
    if seed:
        cmd += ['--seed-ratio=0.0', '--seed-time=%g' % seed_minutes, '--check-integrity=true',
                '--bt-seed-unverified=true', '--bt-hash-check-seed=true']
    return cmd + list(extra) + [torrent]


# ---------------------------------------------------------------- libtorrent peers

class LtPeer:
    """bench/lib/ltpeer.py in its own process, driven over stdin/stdout."""

    def __init__(self, mode, torrent, data_dir, log):
        self.log = log
        self.proc = spawn(['/usr/bin/python3', os.path.join(HERE, 'ltpeer.py'), mode, torrent,
                           data_dir], log=log, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.buf = b''
        self.port = self.expect('listening', 20.0)['port']

    def expect(self, event, timeout):
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            if b'\n' in self.buf:
                line, self.buf = self.buf.split(b'\n', 1)
                m = json.loads(line)
                if m.get('event') == 'error':
                    raise BenchError('ltpeer: %s\n%s' % (m.get('message'), tail(self.log)))
                if m.get('event') == event:
                    return m
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise BenchError('ltpeer exited (%s) before %r\n%s'
                                     % (self.proc.wait(5), event, tail(self.log)))
                self.buf += chunk
        raise BenchError('ltpeer: no %r within %.0f s\n%s' % (event, timeout, tail(self.log)))

    def send(self, line):
        self.proc.stdin.write(line.encode() + b'\n')
        self.proc.stdin.flush()

    def stop(self):
        try:
            self.send('quit')
            self.proc.stdin.close()
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        stop(self.proc)
