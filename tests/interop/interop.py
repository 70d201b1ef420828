"""interop: helpers for the interoperability tests, p2pd against real clients.

The reference clients are the Debian 12 packages: python3-libtorrent 2.0.8 (the
`libtorrent` module of /usr/bin/python3), aria2 1.36 (`aria2c`) and Transmission
3.00 (`transmission-daemon`). See ../../../shared/design/REFERENCE-CLIENTS.md for
their quirks; the ones that shape this file:

- every client runs with DHT, LSD, PEX, UPnP, NAT-PMP and uTP off and listens on
  127.0.0.1 only; nothing is ever sent outside 127.0.0.0/8;
- Transmission never dials 127.x, and aria2 has no "connect to this peer" option:
  p2pd dials *them* (peer.add) when they download;
- aria2 bans an IP after a connection error, so it is never probed with a bare TCP
  connect (listening ports are read from /proc/net/tcp) and each test starts a fresh
  aria2;
- libtorrent reports "finished" before its blocks reach the disk: flush_cache() and
  cache_flushed_alert come before any file comparison.

p2pd is started through p2ptest.Daemon (../integration/p2ptest.py). Every wait here
is bounded in time and count; only processes started here are signalled, by pid.
A test that fails prints the daemon's stderr and the other client's log.
"""

import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'integration'))

import p2ptest  # noqa: E402
from p2ptest import DaemonTest, read_file, wait_until  # noqa: E402

SKIP = 77               # meson: the test was skipped

SIZE = 32 << 20         # the file each test moves
PIECE = 256 << 10       # its piece length
TRANSFER_TIMEOUT = 60.0  # one transfer of SIZE, start to end
STALL_TIMEOUT = 20.0    # no progress at all for this long fails the test early
CLIENT_START = 20.0     # a reference client is up and listening


# ---------------------------------------------------------------- skipping

def require(libtorrent=False, binaries=()):
    """Exits 77 (meson: skipped) when a reference client is not installed at all.

    Only a client that is genuinely absent skips: a module that is there but fails
    to import, or a binary that is there but does not run, is a failure."""
    missing = []
    if libtorrent:
        try:
            import libtorrent  # noqa: F401
        except ModuleNotFoundError:
            missing.append('python3-libtorrent (module libtorrent for %s)' % sys.executable)
    for b in binaries:
        if shutil.which(b) is None:
            missing.append(b)
    if missing:
        print('SKIP: reference client not installed: %s (scripts/setup installs them)'
              % ', '.join(missing))
        sys.exit(SKIP)


def main():
    if not (p2ptest.P2PD and os.path.isabs(p2ptest.P2PD) and os.access(p2ptest.P2PD, os.X_OK)):
        sys.exit('P2PD must name the p2pd binary (absolute path); got %r' % p2ptest.P2PD)
    unittest.main(verbosity=2)


# ---------------------------------------------------------------- small things

def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (for clients that need
    a fixed --listen-port). The caller binds it soon after."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _listening_ports():
    ports = set()
    for path in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(path) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[3] == '0A':      # TCP_LISTEN
                ports.add(int(parts[1].rsplit(':', 1)[1], 16))
    return ports


def port_listening(port):
    """True if some socket listens on TCP port (read from /proc, no connection made:
    aria2 bans an address that connects and says nothing)."""
    return port in _listening_ports()


def write_random_file(path, size, seed=None):
    """size random bytes in path; returns the SHA-256 hex of the content."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    h = hashlib.sha256()
    chunk = 1 << 20
    with open(path, 'wb') as f:
        left = size
        for _ in range(size // chunk + 2):
            if left <= 0:
                break
            b = os.urandom(min(chunk, left))
            f.write(b)
            h.update(b)
            left -= len(b)
    return h.hexdigest()


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for _ in range(1 << 20):
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def first_difference(a, b, piece):
    """Describes where two files differ: size, or the first differing piece."""
    sa, sb = os.path.getsize(a), os.path.getsize(b)
    out = []
    if sa != sb:
        out.append('sizes differ: %d vs %d' % (sa, sb))
    bad = []
    with open(a, 'rb') as fa, open(b, 'rb') as fb:
        for i in range(max(sa, sb) // piece + 2):
            x, y = fa.read(piece), fb.read(piece)
            if not x and not y:
                break
            if x != y:
                bad.append(i)
    if bad:
        out.append('%d pieces differ, first %s' % (len(bad), bad[:10]))
    return '; '.join(out) or 'files equal'


def rate_line(what, size, seconds):
    mbs = size / seconds / 1e6 if seconds > 0 else float('inf')
    return 'THROUGHPUT %s: %d bytes in %.2f s = %.1f MB/s' % (what, size, seconds, mbs)


def b64(data):
    return base64.b64encode(data).decode('ascii')


# ---------------------------------------------------------------- libtorrent

LT_ALERTS = ('error', 'peer', 'storage', 'status', 'connect', 'performance_warning')


def lt_make_torrent(path, piece_length, trackers=()):
    """A v1 .torrent for one file made by libtorrent's create_torrent (bytes)."""
    import libtorrent as lt
    fs = lt.file_storage()
    lt.add_files(fs, path)
    ct = lt.create_torrent(fs, piece_length, lt.create_torrent.v1_only)
    for i, t in enumerate(trackers):
        ct.add_tracker(t, i)
    ct.set_creator('p2pd interop test')
    lt.set_piece_hashes(ct, os.path.dirname(path))
    return lt.bencode(ct.generate())


def info_hash_hex(torrent_bytes):
    _, info = p2ptest.bdecode_torrent(torrent_bytes)
    return hashlib.sha1(info).hexdigest()


class LtSession:
    """One libtorrent session on 127.0.0.1 (TCP only, no DHT/LSD/UPnP/NAT-PMP/uTP,
    no default plugins, hence no PEX). Keeps every alert message for the report."""

    def __init__(self, name='libtorrent', settings=None):
        import libtorrent as lt
        self.lt = lt
        self.name = name
        mask = 0
        for c in LT_ALERTS:
            mask |= int(getattr(lt.alert_category, c))
        if os.environ.get('INTEROP_LT_PEERLOG'):
            mask |= int(lt.alert_category.peer_log)
        s = {
            'listen_interfaces': '127.0.0.1:0',
            'enable_dht': False, 'enable_lsd': False,
            'enable_upnp': False, 'enable_natpmp': False,
            'enable_outgoing_utp': False, 'enable_incoming_utp': False,
            'enable_outgoing_tcp': True, 'enable_incoming_tcp': True,
            'dht_bootstrap_nodes': '',
            'allow_multiple_connections_per_ip': True,
            'alert_mask': mask,
            'alert_queue_size': 100000,
        }
        if settings:
            s.update(settings)
        # flags=0: neither the default plugins (ut_pex, ut_metadata, smart_ban) nor
        # the default features (DHT, LSD, UPnP, NAT-PMP) are started.
        self.ses = lt.session(s, 0)
        self.log = []           # alert lines for the report
        self.events = []        # (time.monotonic() when seen, alert name, message)
        self.t0 = time.monotonic()
        self.port = self._wait_listen()

    def _wait_listen(self):
        def check():
            self.pump()
            p = self.ses.listen_port()
            return p if p else None
        return wait_until(check, CLIENT_START, 0.02, '%s listening' % self.name)

    def pump(self):
        """Collects pending alerts into self.log; returns them."""
        got = self.ses.pop_alerts()
        now = time.monotonic()
        for a in got:
            self.log.append('%7.3f %s: %s' % (now - self.t0, type(a).__name__, a.message()))
            self.events.append((now, type(a).__name__, a.message()))
        return got

    def add(self, torrent_bytes, save_path, seed=False):
        lt = self.lt
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(lt.bdecode(torrent_bytes))
        atp.save_path = save_path
        atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        h = self.ses.add_torrent(atp)
        if seed:
            self.wait_state(h, ('seeding',), CLIENT_START)
        return h

    def state(self, h):
        return str(h.status().state)

    def wait_state(self, h, states, timeout):
        def check():
            self.pump()
            st = h.status()
            if st.errc.value():
                raise AssertionError('%s torrent error: %s' % (self.name, st.errc.message()))
            return str(st.state) in states
        wait_until(check, timeout, 0.02, '%s state %s (now %s)\n%s'
                   % (self.name, states, self.state(h), self.log_tail()))

    def connect(self, h, port, host='127.0.0.1'):
        h.connect_peer((host, port))

    def wait_finished(self, h, timeout=TRANSFER_TIMEOUT, stall=STALL_TIMEOUT):
        """Until the torrent is finished (all wanted pieces verified); bounded, and
        fails early when no byte arrives for `stall` seconds."""
        deadline = time.monotonic() + timeout
        last_done, last_change = -1, time.monotonic()
        for _ in range(int(timeout / 0.02) + 10):
            self.pump()
            st = h.status()
            if st.errc.value():
                raise AssertionError('%s torrent error: %s\n%s'
                                     % (self.name, st.errc.message(), self.describe(h)))
            if st.is_finished:
                return st
            if st.total_wanted_done != last_done:
                last_done, last_change = st.total_wanted_done, time.monotonic()
            now = time.monotonic()
            if now - last_change > stall:
                raise AssertionError('%s: no progress for %.0f s\n%s'
                                     % (self.name, stall, self.describe(h)))
            if now > deadline:
                break
            time.sleep(0.02)
        raise AssertionError('%s not finished within %.0f s\n%s'
                             % (self.name, timeout, self.describe(h)))

    def flush(self, h, timeout=20.0):
        """flush_cache and wait for its cache_flushed_alert (data on disk)."""
        h.flush_cache()
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / 0.02) + 10):
            for a in self.pump():
                if type(a).__name__ == 'cache_flushed_alert' and a.handle == h:
                    return
            if time.monotonic() > deadline:
                break
            self.ses.wait_for_alert(20)
        raise AssertionError('%s: no cache_flushed_alert within %.0f s' % (self.name, timeout))

    def peers(self, h):
        out = []
        for p in h.get_peer_info():
            out.append({'ip': '%s:%d' % tuple(p.ip), 'client': p.client.decode('utf-8', 'replace')
                        if isinstance(p.client, bytes) else p.client,
                        'flags': int(p.flags), 'down': p.total_download, 'up': p.total_upload,
                        'progress': p.progress})
        return out

    def describe(self, h):
        st = h.status()
        return ('%s status: state=%s progress=%.3f done=%d/%d down=%d up=%d peers=%d '
                'seeds=%d\n%s peers: %s\n%s'
                % (self.name, st.state, st.progress, st.total_wanted_done, st.total_wanted,
                   st.total_payload_download, st.total_payload_upload, st.num_peers,
                   st.num_seeds, self.name, json.dumps(self.peers(h)), self.log_tail()))

    def log_tail(self, n=60):
        return '----- %s alerts (last %d of %d) -----\n%s' % (
            self.name, min(n, len(self.log)), len(self.log), '\n'.join(self.log[-n:]))

    def close(self):
        if self.ses is not None:
            self.pump()
            self.ses.pause()
            self.ses = None


# ---------------------------------------------------------------- aria2

ARIA2_COMMON = [
    '--no-conf', '--enable-color=false', '--summary-interval=0',
    '--interface=127.0.0.1', '--disable-ipv6=true',
    '--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false',
    '--enable-peer-exchange=false', '--file-allocation=none',
    '--auto-save-interval=0', '--bt-stop-timeout=0',
    '--console-log-level=notice', '--log-level=info',
]


class Aria2:
    """One aria2c process on one torrent, listening on 127.0.0.1:port."""

    def __init__(self, workdir, name='aria2'):
        self.dir = workdir
        self.name = name
        os.makedirs(workdir, exist_ok=True)
        self.port = free_port()
        self.log = os.path.join(workdir, '%s.log' % name)
        self.out = os.path.join(workdir, '%s.out' % name)
        self.proc = None

    def start(self, torrent_path, data_dir, seed, seed_minutes=2.0, extra=()):
        """seed: verify the data in data_dir and seed it for seed_minutes;
        else download into data_dir and exit once complete (--seed-time=0)."""
        cmd = ['aria2c'] + ARIA2_COMMON + [
            '--dir=%s' % data_dir, '--listen-port=%d' % self.port,
            '--log=%s' % self.log, '--stop-with-process=%d' % os.getpid(),
        ]
        if seed:
            cmd += ['--seed-ratio=0.0', '--seed-time=%g' % seed_minutes,
                    '--check-integrity=true', '--bt-seed-unverified=true',
                    '--bt-hash-check-seed=true']
        else:
            cmd += ['--seed-time=0']
        cmd += list(extra) + [torrent_path]
        self.cmd = cmd
        with open(self.out, 'wb') as out:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, cwd=self.dir)
        self.started = time.monotonic()
        return self

    def wait_listening(self, timeout=CLIENT_START):
        def check():
            if self.proc.poll() is not None:
                raise AssertionError('%s exited with %s before listening\n%s'
                                     % (self.name, self.proc.returncode, self.log_tail()))
            return port_listening(self.port)
        wait_until(check, timeout, 0.02, '%s listening on port %d' % (self.name, self.port))

    def wait_log(self, text, timeout=CLIENT_START):
        def check():
            if self.proc.poll() is not None:
                raise AssertionError('%s exited with %s while waiting for %r\n%s'
                                     % (self.name, self.proc.returncode, text, self.log_tail()))
            try:
                return text in read_file(self.log).decode('utf-8', 'replace')
            except OSError:
                return False
        wait_until(check, timeout, 0.02, '%s to log %r' % (self.name, text))

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        if self.wait_exit(5) is None:
            self.proc.send_signal(signal.SIGINT)       # aria2: a second signal forces
            if self.wait_exit(5) is None:
                self.proc.kill()
                self.proc.wait(10)

    def log_tail(self, n=60):
        out = []
        for p in (self.out, self.log):
            try:
                lines = read_file(p).decode('utf-8', 'replace').splitlines()
            except OSError:
                lines = ['(none)']
            out.append('----- %s %s (last %d of %d lines) -----\n%s'
                       % (self.name, os.path.basename(p), min(n, len(lines)), len(lines),
                          '\n'.join(lines[-n:])))
        return '\n'.join(out)

    def close(self):
        self.stop()


# ---------------------------------------------------------------- Transmission

class TransmissionError(Exception):
    pass


class Transmission:
    """transmission-daemon in the foreground with its own config dir; RPC and peers
    on 127.0.0.1 only, no auth, DHT/LPD/PEX/uTP/port mapping off."""

    def __init__(self, workdir, name='transmission'):
        self.dir = workdir
        self.name = name
        self.conf = os.path.join(workdir, 'config')
        self.download_dir = os.path.join(workdir, 'downloads')
        os.makedirs(self.conf, exist_ok=True)
        os.makedirs(self.download_dir, exist_ok=True)
        self.rpc_port = free_port()
        self.port = free_port()
        while self.port == self.rpc_port:
            self.port = free_port()
        self.log = os.path.join(workdir, '%s.log' % name)
        self.proc = None
        self.session_id = ''
        # Never a proxy: the RPC goes to 127.0.0.1 and nowhere else.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def start(self):
        settings = {
            'bind-address-ipv4': '127.0.0.1', 'bind-address-ipv6': '::1',
            'peer-port': self.port, 'peer-port-random-on-start': False,
            'port-forwarding-enabled': False,
            'dht-enabled': False, 'lpd-enabled': False, 'pex-enabled': False,
            'utp-enabled': False, 'blocklist-enabled': False,
            'rpc-enabled': True, 'rpc-bind-address': '127.0.0.1', 'rpc-port': self.rpc_port,
            'rpc-authentication-required': False, 'rpc-whitelist-enabled': True,
            'rpc-whitelist': '127.0.0.1', 'rpc-host-whitelist-enabled': False,
            'download-dir': self.download_dir, 'incomplete-dir-enabled': False,
            'rename-partial-files': False, 'start-added-torrents': True,
            'watch-dir-enabled': False, 'speed-limit-down-enabled': False,
            'speed-limit-up-enabled': False, 'alt-speed-enabled': False,
            'ratio-limit-enabled': False, 'idle-seeding-limit-enabled': False,
            'download-queue-enabled': False, 'seed-queue-enabled': False,
            'queue-stalled-enabled': False, 'message-level': 2,
        }
        with open(os.path.join(self.conf, 'settings.json'), 'w') as f:
            json.dump(settings, f, indent=1)
        cmd = ['transmission-daemon', '-f', '-g', self.conf, '--log-info',
               '-p', str(self.rpc_port), '-r', '127.0.0.1', '-T', '-a', '127.0.0.1',
               '-P', str(self.port), '-i', '127.0.0.1', '-O', '-Y', '-M', '--no-utp',
               '-w', self.download_dir]
        with open(self.log, 'wb') as out:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, cwd=self.dir)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError('%s exited with %s during start-up\n%s'
                                     % (self.name, self.proc.returncode, self.log_tail()))
            try:
                self.rpc('session-get', timeout=2.0)
            except (OSError, TransmissionError):
                return False
            return port_listening(self.port)
        wait_until(up, CLIENT_START, 0.05, '%s RPC and peer port up' % self.name)
        return self

    def rpc(self, method, arguments=None, timeout=10.0):
        body = json.dumps({'method': method, 'arguments': arguments or {}}).encode()
        url = 'http://127.0.0.1:%d/transmission/rpc' % self.rpc_port
        for _ in range(3):     # 409 hands out the session id once
            req = urllib.request.Request(url, data=body, method='POST', headers={
                'Content-Type': 'application/json',
                'X-Transmission-Session-Id': self.session_id})
            try:
                with self.opener.open(req, timeout=timeout) as r:
                    resp = json.loads(r.read())
            except urllib.error.HTTPError as e:
                if e.code == 409:
                    self.session_id = e.headers.get('X-Transmission-Session-Id', '')
                    continue
                raise TransmissionError('%s: HTTP %d' % (method, e.code))
            if resp.get('result') != 'success':
                raise TransmissionError('%s: %s' % (method, resp.get('result')))
            return resp.get('arguments', {})
        raise TransmissionError('%s: no session id accepted' % method)

    def add(self, torrent_bytes):
        r = self.rpc('torrent-add', {'metainfo': b64(torrent_bytes),
                                     'download-dir': self.download_dir, 'paused': False})
        t = r.get('torrent-added') or r.get('torrent-duplicate')
        if not t:
            raise TransmissionError('torrent-add: %r' % r)
        return t['id']

    FIELDS = ['id', 'name', 'status', 'percentDone', 'leftUntilDone', 'haveValid',
              'sizeWhenDone', 'error', 'errorString', 'peersConnected', 'rateDownload',
              'downloadedEver', 'uploadedEver', 'corruptEver', 'recheckProgress']

    def get(self, tid, fields=None):
        r = self.rpc('torrent-get', {'ids': [tid], 'fields': fields or self.FIELDS})
        ts = r.get('torrents') or []
        if not ts:
            raise TransmissionError('torrent %s not found' % tid)
        return ts[0]

    def peers(self, tid):
        return self.get(tid, ['peers'])['peers']

    def wait_ready(self, tid, timeout=CLIENT_START):
        """Until the torrent is no longer checking (status 1/2: check wait/check)."""
        def check():
            t = self.get(tid)
            if t['error']:
                raise AssertionError('%s torrent error: %s' % (self.name, t['errorString']))
            return t['status'] not in (1, 2)
        wait_until(check, timeout, 0.05, '%s torrent %s checked' % (self.name, tid))

    def wait_complete(self, tid, timeout=TRANSFER_TIMEOUT, stall=STALL_TIMEOUT):
        deadline = time.monotonic() + timeout
        last, last_change = -1, time.monotonic()
        t = None
        for _ in range(int(timeout / 0.05) + 10):
            t = self.get(tid)
            if t['error']:
                raise AssertionError('%s torrent error %s: %s\n%s'
                                     % (self.name, t['error'], t['errorString'],
                                        self.describe(tid)))
            if t['leftUntilDone'] == 0 and t['percentDone'] >= 1.0 and t['sizeWhenDone'] > 0:
                return t
            if t['haveValid'] != last:
                last, last_change = t['haveValid'], time.monotonic()
            now = time.monotonic()
            if now - last_change > stall:
                raise AssertionError('%s: no progress for %.0f s\n%s'
                                     % (self.name, stall, self.describe(tid)))
            if now > deadline:
                break
            time.sleep(0.05)
        raise AssertionError('%s not complete within %.0f s\n%s'
                             % (self.name, timeout, self.describe(tid)))

    def describe(self, tid):
        try:
            return '%s torrent: %s\n%s peers: %s\n%s' % (
                self.name, json.dumps(self.get(tid)), self.name,
                json.dumps(self.peers(tid)), self.log_tail())
        except Exception as e:     # the report must not hide the failure
            return '%s: cannot describe torrent %s (%s)\n%s' % (self.name, tid, e,
                                                                self.log_tail())

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, n=60):
        try:
            lines = read_file(self.log).decode('utf-8', 'replace').splitlines()
        except OSError:
            lines = ['(none)']
        return '----- %s log (last %d of %d lines) -----\n%s' % (
            self.name, min(n, len(lines)), len(lines), '\n'.join(lines[-n:]))

    def close(self):
        self.stop()


# ---------------------------------------------------------------- p2pd side

def p2pd_port(d):
    """The TCP port p2pd listens on for peers (session.status `listen`)."""
    st = d.call('session.status')
    listen = st.get('listen')
    if isinstance(listen, str):
        listen = [listen]
    for a in listen or []:
        if a.startswith('127.0.0.1:'):
            port = int(a.rsplit(':', 1)[1])
            if port > 0:
                return port
    raise AssertionError('session.status reports no bound 127.0.0.1 port: listen=%r' % listen)


def p2pd_describe(d, tid):
    out = []
    for m in ('torrent.get', 'torrent.peers'):
        try:
            out.append('%s: %s' % (m, json.dumps(d.call(m, {'id': tid}, timeout=5.0))))
        except Exception as e:
            out.append('%s failed: %s' % (m, e))
    try:
        st = d.call('session.status', timeout=5.0)
        out.append('session.status: %s' % json.dumps(st))
    except Exception as e:
        out.append('session.status failed: %s' % e)
    lines = [x for x in d.log_text().splitlines() if 'ctl: client' not in x]
    out.append('----- p2pd stderr without control-client lines (last 60 of %d) -----\n%s'
               % (len(lines), '\n'.join(lines[-60:])))
    return '\n'.join(out)


class InteropTest(DaemonTest):
    """DaemonTest plus the reference clients: each is closed after the test, and its
    log is printed (after the daemon's) when the test fails."""

    def run(self, result=None):
        self._peers = []
        self._scratch = []
        if result is None:
            result = self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        try:
            return super().run(result)
        finally:
            failed = len(result.failures) + len(result.errors) > before
            for p in self._peers:
                try:
                    p.close()
                except Exception as e:      # a cleanup error must not mask the result
                    sys.stderr.write('closing %s: %s\n' % (p.name, e))
                if failed:
                    sys.stderr.write('\n' + p.log_tail(200) + '\n')
            for s in self._scratch:
                if failed and os.environ.get('INTEROP_KEEP'):
                    sys.stderr.write('INTEROP_KEEP: left %s\n' % s)
                    continue
                shutil.rmtree(s, ignore_errors=True)

    def scratch(self):
        p = tempfile.mkdtemp(prefix='p2pinterop-')
        self._scratch.append(p)
        return p

    def daemon(self, start=True, **kw):
        """p2pd at log level $INTEROP_LOG_LEVEL (default info; debug adds each
        peer connection's state changes to the log printed on failure)."""
        level = os.environ.get('INTEROP_LOG_LEVEL', 'info')
        kw['args'] = ['--log-level', level] + list(kw.get('args', ()))
        return super().daemon(start=start, **kw)

    def lt_session(self, name='libtorrent', **settings):
        s = LtSession(name, settings or None)
        self._peers.append(s)
        return s

    def aria2(self, workdir, name='aria2'):
        a = Aria2(workdir, name)
        self._peers.append(a)
        return a

    def transmission(self, workdir, name='transmission'):
        t = Transmission(workdir, name)
        self._peers.append(t)
        return t

    def peer_add(self, d, tid, port):
        addr = '127.0.0.1:%d' % port
        r = d.call('peer.add', {'id': tid, 'address': addr})
        self.assertIsInstance(r, dict, 'peer.add result')
        return r

    def wait_p2pd_complete(self, d, tid, other='', timeout=TRANSFER_TIMEOUT,
                           stall=STALL_TIMEOUT):
        """Polls torrent.get until p2pd seeds the torrent; fails on `error`, on no
        progress for `stall` s, or after `timeout` s, with p2pd's and the other
        client's view. `other` is a callable returning the other side's report."""
        deadline = time.monotonic() + timeout
        last, last_change = -1, time.monotonic()
        states = []
        why = None
        c = d.client(timeout=10.0)     # one connection, not one per poll
        for _ in range(int(timeout / 0.05) + 10):
            for p in self._peers:      # libtorrent alerts get their time as they come
                if isinstance(p, LtSession) and p.ses is not None:
                    p.pump()
            t = c.call('torrent.get', {'id': tid})
            if not states or states[-1] != t['state']:
                states.append(t['state'])
            if t['state'] == 'seeding':
                return t
            if t['state'] == 'error':
                why = 'p2pd torrent in state error: %s' % t.get('error')
                break
            if not d.running():
                why = 'p2pd exited with %s' % d.proc.returncode
                break
            if t['have_bytes'] != last:
                last, last_change = t['have_bytes'], time.monotonic()
            now = time.monotonic()
            if now - last_change > stall:
                why = 'p2pd made no progress for %.0f s (have %d of %d bytes)' % (
                    stall, t['have_bytes'], t['size'])
                break
            if now > deadline:
                why = 'p2pd did not complete within %.0f s' % timeout
                break
            time.sleep(0.05)
        report = why + '; states seen: %s\n' % states
        if d.running():
            report += p2pd_describe(d, tid)
        if other:
            report += '\n' + other()
        self.fail(report)

    def subscribe_transfer(self, d):
        """A control connection subscribed to the transfer events."""
        c = d.client(timeout=10.0)
        c.call('events.subscribe', {'types': ['piece.verified', 'piece.failed',
                                              'torrent.completed']})
        return c

    def check_transfer_events(self, c, t, peer_addr=None):
        """After a complete download: one piece.verified per piece, no piece.failed,
        one torrent.completed; when peer_addr is given (p2pd dialed the only
        source), every piece.verified names it among its peers."""
        evs = c.collect_events(0.5)
        verified = [e for e in evs if e['type'] == 'piece.verified' and e.get('id') == t['id']]
        failed = [e for e in evs if e['type'] == 'piece.failed']
        completed = [e for e in evs if e['type'] == 'torrent.completed']
        self.last_sources = {}
        for e in verified:
            for a in e.get('peers') or []:
                self.last_sources[a] = self.last_sources.get(a, 0) + 1
        self.assertEqual(failed, [], 'piece.failed events with a well-behaved peer')
        pieces = sorted(e['piece'] for e in verified)
        self.assertEqual(pieces, list(range(t['pieces'])),
                         'piece.verified events: one per piece (%d events)' % len(verified))
        self.assertEqual(len(completed), 1, 'torrent.completed events: %r' % completed)
        self.assertEqual((completed[0]['id'], completed[0]['info_hash']),
                         (t['id'], t['info_hash']))
        if peer_addr:
            without = [e for e in verified if peer_addr not in (e.get('peers') or [])]
            self.assertEqual(without[:3], [], 'piece.verified events must name the peer %s '
                             'that sent the blocks' % peer_addr)

    def assertSameFile(self, got, want, what):
        self.assertTrue(os.path.exists(got), '%s: %s does not exist' % (what, got))
        if file_sha256(got) != file_sha256(want):
            self.fail('%s: %s differs from the original: %s'
                      % (what, got, first_difference(got, want, PIECE)))

    def wait_same_file(self, got, want, what, timeout=10.0):
        """For clients that write through a cache after reporting completion."""
        def check():
            return (os.path.exists(got) and os.path.getsize(got) == os.path.getsize(want)
                    and file_sha256(got) == file_sha256(want))
        try:
            wait_until(check, timeout, 0.2, what)
        except AssertionError:
            self.assertSameFile(got, want, what)
            raise

    def wait_counter(self, d, tid, field, at_least, timeout=5.0):
        """torrent.get field reaches at_least (counters may be updated in batches)."""
        seen = []
        c = d.client(timeout=10.0)

        def check():
            v = c.call('torrent.get', {'id': tid})[field]
            seen.append(v)
            return v >= at_least
        try:
            wait_until(check, timeout, 0.1, field)
        except AssertionError:
            self.fail('p2pd torrent.get %r stayed below %d (last %r)'
                      % (field, at_least, seen[-1:]))


def say(line):
    """A line for the test log (meson keeps stdout)."""
    print(line, flush=True)
