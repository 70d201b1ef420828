"""xfer: helpers for the transfer tests (tests/transfer).

Builds on tests/integration/p2ptest.py (daemons in temp dirs, JSON-RPC client,
DaemonTest). Every daemon here gets its own loopback address 127.0.0.N, since
bans and per-IP connection limits go by IP, and runs with --log-level debug so
that a failure comes with a useful log (printed by DaemonTest; with
XFER_KEEP_LOGS=DIR every daemon's full stderr is also copied to DIR/<test>/).

Every wait is bounded in time and count; only processes started here are
signalled, by pid; every temp dir is removed at the end of its test.
"""

import hashlib
import os
import random
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'integration'))

import p2ptest  # noqa: E402
from p2ptest import (BUSY, INVALID_PARAMS, LIMIT, NOT_FOUND, Client, DaemonTest,  # noqa: E402,F401
                     RpcError, read_file, share, wait_until, write_file)

MiB = 1 << 20
KiB = 1 << 10

TRANSFER_EVENTS = ['piece.verified', 'piece.failed', 'torrent.completed', 'peer.banned',
                   'torrent.state']


def ip(n):
    return '127.0.0.%d' % n


def host_of(addr):
    """'127.0.0.2:6881' -> '127.0.0.2'; '[::1]:1' -> '::1'."""
    h = addr.rsplit(':', 1)[0]
    return h[1:-1] if h.startswith('[') else h


def data_bytes(n, seed):
    """n pseudo-random bytes, reproducible per seed, fast for hundreds of MiB."""
    return random.Random(seed).randbytes(n)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for _ in range(1 << 20):
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def good_pieces(path, original, piece_length):
    """Indices of the pieces whose bytes in the file at path equal original's.
    A missing or short file simply has fewer good pieces."""
    good = []
    try:
        f = open(path, 'rb')
    except FileNotFoundError:
        return good
    with f:
        for i, off in enumerate(range(0, len(original), piece_length)):
            want = original[off:off + piece_length]
            if f.read(len(want)) == want:
                good.append(i)
    return good


def first_difference(got, want):
    n = min(len(got), len(want))
    for off in range(0, n, 1 << 16):
        if got[off:off + (1 << 16)] != want[off:off + (1 << 16)]:
            for j in range(off, min(off + (1 << 16), n)):
                if got[j] != want[j]:
                    return j
    return n if len(got) != len(want) else None


def tree(root):
    """{relative path: bytes} of every regular file under root."""
    out = {}
    for d, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = read_file(p)
    return out


class XferTest(DaemonTest):
    """DaemonTest with per-address daemons and transfer helpers."""

    def run(self, result=None):
        self._keep_logs = os.environ.get('XFER_KEEP_LOGS')
        return super().run(result)

    def node(self, n, debug=True, args=(), **kw):
        """A started p2pd listening on 127.0.0.n (port picked by the system)."""
        extra = (['--log-level', 'debug'] if debug else []) + list(args)
        d = self.daemon(listen='%s:0' % ip(n), args=extra, **kw)
        if self._keep_logs:
            self.addCleanup(self._copy_logs, d)
        d.ip = ip(n)
        d.addr = self.listen_addr(d)
        return d

    def _copy_logs(self, d):
        dst = os.path.join(self._keep_logs, self.id())
        os.makedirs(dst, exist_ok=True)
        for i, p in enumerate(d.logs):
            try:
                shutil.copy(p, os.path.join(dst, '%s-%d.stderr' % (d.ip, i + 1)))
            except OSError:
                pass

    def restart(self, d):
        """Starts d again (same dirs, same IP, new port); refreshes d.addr."""
        d.start()
        d.addr = self.listen_addr(d)
        return d

    def peer_closes(self, d):
        """The 'peer ... closed reason=...' lines of d's logs (for failure messages)."""
        out = []
        for line in d.all_logs().decode('utf-8', 'replace').splitlines():
            if line.startswith('<6>peer ') and ' closed reason=' in line:
                out.append(line[3:])
        return out

    def listen_addr(self, d):
        st = d.call('session.status')
        self.assertTrue(st['listen'], 'session.status lists no listen address: %r' % st)
        a = st['listen'][0]
        self.assertEqual(host_of(a), d.ip if hasattr(d, 'ip') else host_of(a),
                         'listening on another address than asked: %r' % st['listen'])
        return a

    def subscribe(self, d, types=None):
        c = d.client(timeout=10.0)
        c.call('events.subscribe', {'types': types or TRANSFER_EVENTS})
        return c

    def seed(self, d, path, **params):
        """Shares path on d; returns (torrent, base64 metainfo)."""
        t = share(d, path, **params)
        self.assertEqual(t['state'], 'seeding', 'a fresh share should seed: %r' % t)
        meta = d.call('torrent.export', {'id': t['id']})['metainfo']
        return t, meta

    def seed_copy(self, d, meta, src, name):
        """A second seeder for the same torrent: copies src (file or directory)
        to d's folder as name, adds the metainfo with that dir and waits until the
        check finds everything there."""
        base = os.path.join(d.root, 'seeddata')
        dst = os.path.join(base, name)
        if os.path.isdir(src):
            shutil.copytree(src, dst)
        else:
            os.makedirs(base, exist_ok=True)
            shutil.copyfile(src, dst)
        t = d.call('torrent.add', {'metainfo': meta, 'dir': base})
        t = self.wait_state(d, t['id'], ('seeding', 'error'), timeout=120)
        self.assertEqual(t['state'], 'seeding', 'a copy of the data did not check: %r' % t)
        return t, dst

    def leech(self, d, meta, peers=(), paused=False):
        t = d.call('torrent.add', {'metainfo': meta, 'paused': paused})
        for a in peers:
            r = d.call('peer.add', {'id': t['id'], 'address': a})
            self.assertEqual(r.get('queued'), True, 'peer.add %s: %r' % (a, r))
        return t

    def wait_done(self, d, tid, timeout, sample=None, interval=0.1, what='download'):
        """Polls torrent.get until seeding; sample(torrent) is called on every poll.
        Returns (torrent, seconds). Fails on the error state or timeout."""
        t0 = time.monotonic()
        g = None
        for _ in range(int(timeout / interval) + 100):
            g = d.call('torrent.get', {'id': tid})
            if sample:
                sample(g)
            if g['state'] == 'seeding':
                return g, time.monotonic() - t0
            self.assertNotEqual(g['state'], 'error', '%s failed: %r' % (what, g))
            if time.monotonic() - t0 > timeout:
                break
            time.sleep(interval)
        self.fail('%s not complete after %.0f s: %s' % (what, timeout, self.stuck(d, g)))

    def stuck(self, d, g):
        """What a stalled download looks like: the torrent, its connections, and how
        the daemon's last peer connections ended."""
        peers = d.call('torrent.peers', {'id': g['id']})['peers']
        return ('%s at %.1f%% (%d of %d pieces, state %s); connections now: %s; '
                'last peer closes: %s'
                % (d.ip, 100 * g['progress'], g['pieces_have'], g['pieces'], g['state'],
                   [(p['address'], p['flags']) for p in peers], self.peer_closes(d)[-10:]))

    def assertSameBytes(self, path, want, what=None):
        self.assertTrue(os.path.isfile(path), '%s is missing' % path)
        got = read_file(path)
        if got != want:
            off = first_difference(got, want)
            self.fail('%s differs from the original (%d bytes, want %d); first difference at '
                      'byte %s' % (what or path, len(got), len(want), off))

    def assertSameTree(self, got_root, want_root):
        got, want = tree(got_root), tree(want_root)
        self.assertEqual(sorted(got), sorted(want), 'the downloaded files are not the shared ones')
        for rel in sorted(want):
            if got[rel] != want[rel]:
                self.fail('%s differs (%d bytes, want %d; first difference at byte %s)'
                          % (rel, len(got[rel]), len(want[rel]),
                             first_difference(got[rel], want[rel])))


def main():
    p2ptest.main()
