"""p2ptest: helpers for the p2pd integration tests.

Each test starts its own p2pd in a fresh temp directory (state, downloads and
control socket inside it, peers on 127.0.0.1 only, no DHT, no LSD) and talks to
it over the Unix control socket with JSON-RPC (docs/control-api.md) or through
p2pctl. Binaries come from $P2PD and $P2PCTL (absolute paths, set by meson).

Every wait in here is bounded in time, every loop in count. A daemon's stderr
goes to a file that is printed when its test fails. Only processes started
here are ever signalled, by their pid.
"""

import base64
import hashlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

P2PD = os.environ.get('P2PD', '')
P2PCTL = os.environ.get('P2PCTL', '')

READY_TIMEOUT = 10.0     # daemon start until session.status answers
STOP_TIMEOUT = 2.0       # contract: exits within 2 s of SIGTERM
RPC_TIMEOUT = 20.0       # one request (some hash files)
CTL_TIMEOUT = 30.0       # one p2pctl run

# JSON-RPC and application error codes (docs/control-api.md).
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
NOT_FOUND = -32001
AMBIGUOUS = -32002
INVALID_TORRENT = -32003
EXISTS = -32004
IO_ERROR = -32005
BUSY = -32006
LIMIT = -32007
SHUTTING_DOWN = -32008

ALL_METHODS = [
    'system.methods', 'session.status', 'session.shutdown', 'torrent.share',
    'torrent.add', 'torrent.list', 'torrent.get', 'torrent.files', 'torrent.remove',
    'torrent.pause', 'torrent.resume', 'torrent.verify', 'torrent.export',
    'torrent.peers', 'peer.add', 'session.get', 'session.set', 'events.subscribe',
    'torrent.trackers', 'dht.status', 'search.start', 'search.results', 'search.get',
]
EVENT_TYPES = ['torrent.added', 'torrent.removed', 'torrent.state', 'hash.progress',
               'share.done', 'share.failed', 'piece.verified', 'piece.failed',
               'torrent.completed', 'peer.banned', 'search.result', 'search.done']

TORRENT_FIELDS = {
    'id': int, 'info_hash': str, 'name': str, 'state': str, 'size': int,
    'have_bytes': int, 'progress': (int, float), 'pieces': int, 'pieces_have': int,
    'piece_length': int, 'files': int, 'private': bool, 'origin': str, 'path': str,
    'added': int, 'completed': int, 'uploaded': int, 'downloaded': int,
}
STATES = ('checking', 'downloading', 'seeding', 'paused', 'error')

SANITIZER_MARKS = (b'AddressSanitizer', b'LeakSanitizer', b'runtime error:',
                   b'UndefinedBehaviorSanitizer')


# ---------------------------------------------------------------- bencode

class BencodeError(ValueError):
    pass


def _bdec(data, i, depth, spans, path):
    if depth > 64:
        raise BencodeError('nested too deep')
    if i >= len(data):
        raise BencodeError('truncated at %d' % i)
    c = data[i:i + 1]
    if c == b'i':
        j = data.index(b'e', i)
        s = data[i + 1:j]
        if s == b'' or s == b'-0' or (s.lstrip(b'-').startswith(b'0') and s not in (b'0',)):
            raise BencodeError('bad integer %r' % s)
        return int(s), j + 1
    if c == b'l':
        i += 1
        out = []
        while data[i:i + 1] != b'e':
            v, i = _bdec(data, i, depth + 1, spans, path + (len(out),))
            out.append(v)
        return out, i + 1
    if c == b'd':
        i += 1
        out = {}
        last = None
        while data[i:i + 1] != b'e':
            k, i = _bdec(data, i, depth + 1, None, ())
            if not isinstance(k, bytes):
                raise BencodeError('dict key is not a string')
            if last is not None and k <= last:
                raise BencodeError('dict keys not sorted or duplicated: %r' % k)
            last = k
            start = i
            v, i = _bdec(data, i, depth + 1, spans, path + (k,))
            if spans is not None:
                spans[path + (k,)] = (start, i)
            out[k] = v
        return out, i + 1
    if c.isdigit():
        j = data.index(b':', i)
        n = int(data[i:j])
        if data[i:j] != b'0' and data[i:i + 1] == b'0':
            raise BencodeError('bad string length')
        if j + 1 + n > len(data):
            raise BencodeError('string runs past the end')
        return data[j + 1:j + 1 + n], j + 1 + n
    raise BencodeError('unexpected byte %r at %d' % (c, i))


def bdecode(data):
    """Decodes one complete bencoded value (strings stay bytes)."""
    v, end = _bdec(bytes(data), 0, 0, None, ())
    if end != len(data):
        raise BencodeError('trailing bytes after value')
    return v


def bdecode_torrent(data):
    """Decodes a .torrent; returns (dict, raw bytes of the info dict)."""
    spans = {}
    v, end = _bdec(bytes(data), 0, 0, spans, ())
    if end != len(data):
        raise BencodeError('trailing bytes after value')
    if not isinstance(v, dict) or b'info' not in v:
        raise BencodeError('no info dict')
    a, b = spans[(b'info',)]
    return v, bytes(data[a:b])


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


# ---------------------------------------------------------------- torrents built here

def piece_hashes(data, piece_length):
    return b''.join(hashlib.sha1(data[i:i + piece_length]).digest()
                    for i in range(0, len(data), piece_length))


def piece_sizes(total, piece_length):
    return [min(piece_length, total - i) for i in range(0, total, piece_length)]


def make_torrent(name, content, piece_length=16384, private=False, trackers=(),
                 comment=None, created_by=None, creation_date=None):
    """Builds a .torrent in Python, independently of p2pd.

    content is bytes (single file) or a list of (relative path, bytes) for a
    multi-file torrent. Returns (torrent bytes, info-hash hex, info dict).
    """
    info = {'name': name, 'piece length': piece_length}
    if isinstance(content, (bytes, bytearray)):
        info['length'] = len(content)
        blob = bytes(content)
    else:
        info['files'] = [{'length': len(d), 'path': p.split('/')} for p, d in content]
        blob = b''.join(d for _, d in content)
    info['pieces'] = piece_hashes(blob, piece_length)
    if private:
        info['private'] = 1
    meta = {'info': info}
    if trackers:
        meta['announce'] = trackers[0]
        meta['announce-list'] = [[t] for t in trackers]
    if comment is not None:
        meta['comment'] = comment
    if created_by is not None:
        meta['created by'] = created_by
    if creation_date is not None:
        meta['creation date'] = creation_date
    raw_info = bencode(info)
    return bencode(meta), hashlib.sha1(raw_info).hexdigest(), info


def write_files(root, content):
    """Writes (relative path, bytes) pairs under root."""
    for rel, data in content:
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, 'wb') as f:
            f.write(data)


def write_file(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)


def read_file(path):
    with open(path, 'rb') as f:
        return f.read()


def rand_bytes(n, seed=None):
    """Pseudo-random bytes, reproducible per seed (fast for a few MiB)."""
    if seed is None:
        return os.urandom(n)
    out = bytearray()
    h = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < n:
        h = hashlib.sha512(h).digest()
        out += h
    return bytes(out[:n])


def flip_byte(path, offset):
    with open(path, 'r+b') as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xff]))


def magnet_hash(magnet):
    """Info-hash hex from a magnet link's xt=urn:btih:."""
    q = magnet.split('?', 1)[1]
    for part in q.split('&'):
        if part.lower().startswith('xt=urn:btih:'):
            return part[12:].lower()
    return None


def wait_until(fn, timeout, interval=0.05, what='condition'):
    """Calls fn until it returns a true value; bounded in time and count."""
    deadline = time.monotonic() + timeout
    last = None
    for _ in range(int(timeout / interval) + 10):
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            break
        time.sleep(interval)
    raise AssertionError('timed out after %.1f s waiting for %s (last: %r)'
                         % (timeout, what, last))


# ---------------------------------------------------------------- JSON-RPC client

class RpcError(Exception):
    def __init__(self, code, message, data=None, method=None):
        super().__init__('%s: error %s: %s' % (method, code, message))
        self.code = code
        self.message = message
        self.data = data


class Client:
    """One control connection: requests, responses by id, buffered events."""

    def __init__(self, path, timeout=5.0):
        self.path = path
        # A blocking client (p2pctl, socat) waits while the listen backlog is
        # full; a socket with a timeout gets EAGAIN instead, so retry (bounded).
        deadline = time.monotonic() + timeout
        for attempt in range(100000):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            try:
                self.sock.connect(path)
                break
            except BlockingIOError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise TimeoutError('listen backlog of %s stayed full for %.1f s'
                                       % (path, timeout))
                time.sleep(0.005)
            except Exception:
                self.sock.close()
                raise
        self.buf = b''
        self.eof = False
        self.events = []        # event params, in arrival order, not yet taken
        self.responses = {}     # id -> response, arrived out of turn
        self.next_id = 1

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def read_line(self, timeout=RPC_TIMEOUT):
        """One line without its newline; None at EOF. Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while b'\n' not in self.buf:
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError('no line from p2pd within %.1f s (have %d bytes: %r)'
                                   % (timeout, len(self.buf), self.buf[:200]))
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            try:
                chunk = self.sock.recv(1 << 16)
            except (ConnectionResetError, BrokenPipeError):
                chunk = b''
            if not chunk:
                self.eof = True
                if self.buf:
                    line, self.buf = self.buf, b''
                    raise AssertionError('connection closed mid-line: %r' % line[:200])
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b'\n', 1)
        return line

    def read_msg(self, timeout=RPC_TIMEOUT):
        """One JSON message; None at EOF."""
        line = self.read_line(timeout)
        if line is None:
            return None
        try:
            msg = json.loads(line)
        except ValueError as e:
            raise AssertionError('p2pd sent a line that is not JSON (%s): %r' % (e, line[:300]))
        if not isinstance(msg, dict):
            raise AssertionError('p2pd sent a non-object: %r' % line[:300])
        return msg

    def _dispatch(self, msg):
        if 'id' not in msg and msg.get('method') == 'event':
            params = msg.get('params')
            if not isinstance(params, dict) or 'type' not in params:
                raise AssertionError('malformed event notification: %r' % msg)
            if msg.get('jsonrpc') != '2.0':
                raise AssertionError('event without jsonrpc 2.0: %r' % msg)
            self.events.append(params)
            return None
        return msg

    def send_request(self, method, params=None, id=None):
        if id is None:
            id = self.next_id
            self.next_id += 1
        req = {'jsonrpc': '2.0', 'id': id, 'method': method}
        if params is not None:
            req['params'] = params
        self.send_raw(json.dumps(req).encode() + b'\n')
        return id

    def wait_response(self, id, timeout=RPC_TIMEOUT):
        """The response with this id; events and other responses are kept."""
        key = json.dumps(id)
        if key in self.responses:
            return self.responses.pop(key)
        deadline = time.monotonic() + timeout
        for _ in range(1000000):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            msg = self.read_msg(left)
            if msg is None:
                raise ConnectionError('p2pd closed the connection before answering id %r' % id)
            msg = self._dispatch(msg)
            if msg is None:
                continue
            if msg.get('jsonrpc') != '2.0':
                raise AssertionError('response without "jsonrpc":"2.0": %r' % msg)
            if ('result' in msg) == ('error' in msg):
                raise AssertionError('response must have exactly one of result/error: %r' % msg)
            if json.dumps(msg.get('id')) == key:
                return msg
            self.responses[json.dumps(msg.get('id'))] = msg
        raise TimeoutError('no response to id %r within %.1f s' % (id, timeout))

    def request(self, method, params=None, timeout=RPC_TIMEOUT):
        """Sends a request and returns the whole response object."""
        return self.wait_response(self.send_request(method, params), timeout)

    def call(self, method, params=None, timeout=RPC_TIMEOUT):
        """The result; raises RpcError for an error response."""
        resp = self.request(method, params, timeout)
        if 'error' in resp:
            e = resp['error']
            if not isinstance(e, dict):
                raise AssertionError('error member is not an object: %r' % resp)
            raise RpcError(e.get('code'), e.get('message'), e.get('data'), method)
        return resp['result']

    def error(self, method, params=None, timeout=RPC_TIMEOUT):
        """The error object of a request that must fail; checks its shape."""
        resp = self.request(method, params, timeout)
        if 'error' not in resp:
            raise AssertionError('%s %s succeeded, an error was expected: %r'
                                 % (method, json.dumps(params), resp.get('result')))
        e = resp['error']
        check_error_shape(e)
        return e

    def take_event(self, pred=None, timeout=10.0, what='event'):
        """Removes and returns the first buffered or arriving event matching pred."""
        deadline = time.monotonic() + timeout
        for _ in range(1000000):
            for i, ev in enumerate(self.events):
                if pred is None or pred(ev):
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                msg = self.read_msg(left)
            except TimeoutError:
                break
            if msg is None:
                raise ConnectionError('p2pd closed the connection while waiting for %s' % what)
            msg = self._dispatch(msg)
            if msg is not None:
                self.responses[json.dumps(msg.get('id'))] = msg
        raise AssertionError('no %s within %.1f s; events seen: %s'
                             % (what, timeout, json.dumps(self.events)[:2000]))

    def collect_events(self, duration):
        """Reads for `duration` seconds; returns (and clears) every event seen."""
        deadline = time.monotonic() + duration
        for _ in range(1000000):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                msg = self.read_msg(left)
            except TimeoutError:
                break
            if msg is None:
                break
            msg = self._dispatch(msg)
            if msg is not None:
                self.responses[json.dumps(msg.get('id'))] = msg
        out, self.events = self.events, []
        return out


def check_error_shape(e):
    if not isinstance(e, dict):
        raise AssertionError('error is not an object: %r' % (e,))
    if not isinstance(e.get('code'), int):
        raise AssertionError('error code is not an integer: %r' % (e,))
    if not isinstance(e.get('message'), str) or not e['message'].strip():
        raise AssertionError('error has no message a person can act on: %r' % (e,))


def connect_retry(path, timeout=READY_TIMEOUT):
    deadline = time.monotonic() + timeout
    last = None
    for _ in range(100000):
        try:
            return Client(path)
        except (FileNotFoundError, ConnectionRefusedError) as e:
            last = e
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    raise AssertionError('cannot connect to %s within %.1f s: %s' % (path, timeout, last))


# ---------------------------------------------------------------- daemon

def _short_tmp():
    base = tempfile.gettempdir()
    if len(base) > 40:      # sun_path holds 108 bytes
        base = '/tmp'
    return tempfile.mkdtemp(prefix='p2pit-', dir=base)


def clean_env(home):
    """The environment for p2pd and p2pctl: nothing from the user's setup."""
    env = dict(os.environ)
    for k in ('NOTIFY_SOCKET', 'LISTEN_PID', 'P2PCTL_SOCKET', 'LISTEN_FDS', 'LISTEN_FDNAMES',
              'STATE_DIRECTORY', 'RUNTIME_DIRECTORY', 'CONFIGURATION_DIRECTORY',
              'XDG_CONFIG_HOME', 'XDG_STATE_HOME', 'XDG_DATA_HOME', 'XDG_RUNTIME_DIR'):
        env.pop(k, None)
    env['HOME'] = home
    env['XDG_CONFIG_HOME'] = os.path.join(home, 'xdg-config')
    env['XDG_STATE_HOME'] = os.path.join(home, 'xdg-state')
    env['XDG_DATA_HOME'] = os.path.join(home, 'xdg-data')
    env['XDG_RUNTIME_DIR'] = os.path.join(home, 'xdg-run')
    env['LC_ALL'] = 'C'
    return env


class Daemon:
    """One p2pd in its own directory. start() may be called again after stop()."""

    count = 0

    def __init__(self, root=None, args=(), config=None, use_paths=True, env=None,
                 listen='127.0.0.1:0', lsd=False, dht=False):
        self.root = root or _short_tmp()
        self.owns_root = root is None
        self.state_dir = os.path.join(self.root, 'state')
        self.download_dir = os.path.join(self.root, 'downloads')
        self.socket = os.path.join(self.root, 'p2pd.sock')
        self.home = os.path.join(self.root, 'home')
        os.makedirs(self.home, exist_ok=True)
        self.config_path = None
        if config is not None:
            self.write_config(config)
        self.args = list(args)
        self.listen = listen
        self.lsd = lsd          # multicast discovery: only inside a private netns
        # the DHT: on loopback with no --dht-bootstrap it contacts nobody
        self.dht = dht
        self.use_paths = use_paths
        self.env = env
        self.proc = None
        self.logs = []          # stderr files, one per start
        self.returncodes = []
        self.clients = []
        self.checked_exit = True

    def write_config(self, text):
        self.config_path = os.path.join(self.root, 'p2pd.conf')
        with open(self.config_path, 'w') as f:
            f.write(text)

    def cmdline(self, extra=()):
        cmd = [P2PD]
        if self.config_path:
            cmd += ['-c', self.config_path]
        if self.use_paths:
            cmd += ['--state-dir', self.state_dir, '--download-dir', self.download_dir,
                    '--socket', self.socket]
        cmd += ['--listen', self.listen] + ([] if self.dht else ['--no-dht'])
        cmd += [] if self.lsd else ['--no-lsd']
        return cmd + self.args + list(extra)

    def environ(self):
        env = clean_env(self.home)
        if self.env:
            env.update(self.env)
        return env

    def start(self, wait=True, extra=(), env=None, popen_kw=None, cmd=None):
        assert self.proc is None or self.proc.poll() is not None, 'already running'
        Daemon.count += 1
        logpath = os.path.join(self.root, 'p2pd-%d.stderr' % (len(self.logs) + 1))
        self.logs.append(logpath)
        e = self.environ()
        if env:
            e.update(env)
        with open(logpath, 'wb') as log:
            self.proc = subprocess.Popen(cmd or self.cmdline(extra), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, env=e,
                                         **(popen_kw or {}))
        self.started = time.monotonic()
        self.checked_exit = False
        if wait:
            self.wait_ready()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=READY_TIMEOUT):
        """Until session.status answers on the socket; fails if p2pd exits."""
        deadline = time.monotonic() + timeout
        last = None
        for _ in range(100000):
            if self.proc.poll() is not None:
                raise AssertionError('p2pd exited with %s during start-up:\n%s'
                                     % (self.proc.returncode, self.log_tail()))
            try:
                with Client(self.socket, timeout=2.0) as c:
                    c.call('session.status', timeout=2.0)
                    return time.monotonic() - self.started
            except (OSError, TimeoutError, ConnectionError) as ex:
                last = ex
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        raise AssertionError('p2pd did not answer session.status within %.1f s (%s):\n%s'
                             % (timeout, last, self.log_tail()))

    def client(self, timeout=5.0):
        c = Client(self.socket, timeout)
        self.clients.append(c)
        return c

    def call(self, method, params=None, timeout=RPC_TIMEOUT):
        with Client(self.socket) as c:
            return c.call(method, params, timeout)

    def error(self, method, params=None, timeout=RPC_TIMEOUT):
        with Client(self.socket) as c:
            return c.error(method, params, timeout)

    def close_clients(self):
        for c in self.clients:
            c.close()
        self.clients = []

    def wait_exit(self, timeout):
        """Exit status, or None if still running after timeout (nothing killed)."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.returncodes.append(rc)
        self.checked_exit = True
        return self._unleak(rc)

    def _unleak(self, rc):
        """LeakSanitizer turns exit 0 into 1 (ASan's exitcode). The leak itself is
        reported once, by DaemonTest's end-of-test check; here an exit status of 1
        that comes with nothing but a leak report counts as the 0 it was."""
        if rc == 1:
            log = self.log_bytes()
            head = log.split(b'=================', 1)[0]
            if b'LeakSanitizer: detected memory leaks' in log and b'AddressSanitizer' not in head:
                return 0
        return rc

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signals our p2pd; returns (exit status, seconds). SIGKILLs it only if it hangs."""
        self.close_clients()
        if self.proc is None:
            return None, 0.0
        if self.proc.poll() is not None:
            rc = self.proc.returncode
            self.returncodes.append(rc)
            self.checked_exit = True
            return self._unleak(rc), 0.0
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        rc = self.wait_exit(timeout)
        took = time.monotonic() - t0
        if rc is None:
            self.proc.kill()
            self.proc.wait(10)
            self.returncodes.append('hung')
            self.checked_exit = True
            return 'hung after %.1f s' % timeout, took
        return rc, took

    def kill9(self):
        self.close_clients()
        self.proc.kill()
        self.proc.wait(10)
        self.returncodes.append(-9)
        self.checked_exit = True

    def log_bytes(self, index=-1):
        try:
            return read_file(self.logs[index])
        except (OSError, IndexError):
            return b''

    def log_text(self, index=-1):
        return self.log_bytes(index).decode('utf-8', 'replace')

    def all_logs(self):
        return b''.join(self.log_bytes(i) for i in range(len(self.logs)))

    def log_tail(self, n=60):
        lines = self.log_text().splitlines()
        return '\n'.join(lines[-n:])

    def sanitizer_report(self):
        data = self.all_logs()
        for m in SANITIZER_MARKS:
            if m in data:
                return data.decode('utf-8', 'replace')
        return None

    def dump_logs(self, out=sys.stderr):
        for i, p in enumerate(self.logs):
            out.write('\n----- p2pd stderr (%s, start %d, exits %s) -----\n'
                      % (self.root, i + 1, self.returncodes))
            out.write(self.log_text(i)[-20000:])
        out.write('\n----- end -----\n')

    def remove_dir(self):
        if self.owns_root:
            subprocess.run(['chmod', '-R', 'u+rwX', self.root], stderr=subprocess.DEVNULL)
            shutil.rmtree(self.root, ignore_errors=True)


class CtlResult:
    def __init__(self, args, rc, outb, errb, took):
        self.args = args
        self.rc = rc
        self.outb = outb
        self.out = outb.decode('utf-8', 'replace')
        self.err = errb.decode('utf-8', 'replace')
        self.took = took

    def __repr__(self):
        return ('p2pctl %s -> exit %s\nstdout: %s\nstderr: %s'
                % (' '.join(self.args), self.rc, self.out[:3000], self.err[:3000]))

    def json(self):
        lines = self.out.strip().splitlines()
        if len(lines) != 1:
            raise AssertionError('--json output is not exactly one line: %r' % self)
        return json.loads(lines[0])


def ctl(args, sock=None, timeout=CTL_TIMEOUT, env=None, home=None, cwd=None,
        leak_check=False):
    """Runs p2pctl (with -s sock when given); bounded by timeout.

    LeakSanitizer would replace p2pctl's exit status with 1, so leak checking
    is off here (all other sanitizer checks stay on); test_p2pctl checks
    p2pctl for leaks in a test of its own (leak_check=True)."""
    cmd = [P2PCTL] + (['-s', sock] if sock else []) + list(args)
    e = dict(env or clean_env(home or tempfile.gettempdir()))
    if not leak_check:
        e['ASAN_OPTIONS'] = ':'.join(x for x in (e.get('ASAN_OPTIONS'), 'detect_leaks=0') if x)
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=e, timeout=timeout, cwd=cwd)
    return CtlResult(list(args), p.returncode, p.stdout, p.stderr, time.monotonic() - t0)


# ---------------------------------------------------------------- test case base

class DaemonTest(unittest.TestCase):
    """Starts daemons on demand, stops them after the test (checking they exit 0
    without a sanitizer report), prints their stderr when the test fails."""

    maxDiff = 4000

    def run(self, result=None):
        self._daemons = []
        self._dirs = []
        if result is None:
            result = self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        t0 = time.monotonic()
        try:
            return super().run(result)
        finally:
            sys.stderr.write('[%s: %.1f s] ' % (self._testMethodName, time.monotonic() - t0))
            failed = len(result.failures) + len(result.errors) > before
            if failed:
                sys.stderr.write('\n===== %s failed after %.1f s =====\n'
                                 % (self.id(), time.monotonic() - t0))
                for d in self._daemons:
                    d.dump_logs()
            for d in self._daemons:
                if d.running():
                    d.proc.kill()
                    d.proc.wait(10)
                d.remove_dir()
            for p in self._dirs:
                shutil.rmtree(p, ignore_errors=True)

    def tmpdir(self):
        p = _short_tmp()
        self._dirs.append(p)
        return p

    def daemon(self, start=True, **kw):
        d = Daemon(**kw)
        self._daemons.append(d)
        self.addCleanup(self._finish_daemon, d)
        if start:
            d.start()
        return d

    def _finish_daemon(self, d):
        if d.proc is None:
            return
        was_running = d.running()
        rc, took = d.stop()
        rep = d.sanitizer_report()
        if rep:
            i = max(rep.find('==ERROR'), rep.find('runtime error:'), 0)
            self.fail('p2pd reported a sanitizer error (full stderr below):\n%s'
                      % rep[max(0, i - 200):i + 1500])
        if was_running and rc != 0:
            self.fail('p2pd exited with %s on SIGTERM at the end of the test (expected 0)' % rc)

    # ---- assertions users care about

    def assertTorrent(self, t, **expect):
        """Checks a torrent object's documented fields, then expected values."""
        self.assertIsInstance(t, dict, 'torrent object')
        for k, typ in TORRENT_FIELDS.items():
            self.assertIn(k, t, 'torrent object lacks %r: %r' % (k, t))
            self.assertIsInstance(t[k], typ, 'field %r has wrong type: %r' % (k, t[k]))
            if typ is int:
                self.assertNotIsInstance(t[k], bool, 'field %r is a bool' % k)
        self.assertRegex(t['info_hash'], r'^[0-9a-f]{40}$')
        self.assertIn(t['state'], STATES)
        if t['state'] == 'error':
            self.assertIsInstance(t.get('error'), str)
        if t['state'] == 'checking':
            self.assertIsInstance(t.get('check_progress'), (int, float))
        self.assertIn(t['origin'], ('shared', 'added', 'magnet'))
        if t['size'] > 0:
            self.assertAlmostEqual(t['progress'], t['have_bytes'] / t['size'], places=3)
        for k, v in expect.items():
            self.assertEqual(t.get(k), v, 'torrent field %r: %s' % (k, json.dumps(t)))
        return t

    def assertRpcError(self, err, code, *words):
        check_error_shape(err)
        self.assertEqual(err['code'], code, 'error code: %r' % (err,))
        for w in words:
            self.assertIn(w.lower(), err['message'].lower(), 'error message: %r' % (err,))
        return err

    def wait_state(self, d, tid, states, timeout=30.0):
        """Polls torrent.get until the state is in states; returns the torrent."""
        if isinstance(states, str):
            states = (states,)
        seen = []

        def check():
            t = d.call('torrent.get', {'id': tid})
            if not seen or seen[-1] != t['state']:
                seen.append(t['state'])
            return t if t['state'] in states else None
        try:
            return wait_until(check, timeout, 0.05, 'state %s of torrent %s' % (states, tid))
        except AssertionError:
            raise AssertionError('torrent %s never reached %s; states seen: %s'
                                 % (tid, states, seen))


def share(d, path, **params):
    p = {'path': path}
    p.update(params)
    return d.call('torrent.share', p, timeout=60)


def export_torrent(d, tid):
    """torrent.export decoded: (raw .torrent bytes, decoded dict, raw info, magnet)."""
    r = d.call('torrent.export', {'id': tid})
    raw = base64.b64decode(r['metainfo'], validate=True)
    meta, info = bdecode_torrent(raw)
    return raw, meta, info, r['magnet']


def main():
    if not (P2PD and os.path.isabs(P2PD) and os.access(P2PD, os.X_OK)):
        sys.exit('P2PD must name the p2pd binary (absolute path); got %r' % P2PD)
    if not (P2PCTL and os.path.isabs(P2PCTL) and os.access(P2PCTL, os.X_OK)):
        sys.exit('P2PCTL must name the p2pctl binary (absolute path); got %r' % P2PCTL)
    unittest.main(verbosity=2)
