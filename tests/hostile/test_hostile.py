#!/usr/bin/python3
"""Hostile peers against a live p2pd that is busy with real transfers (issue 6).

The daemon under attack, X (127.0.0.2), seeds torrent T1 to daemon Y
(127.0.0.3) and downloads torrent T2 from daemon Z (127.0.0.4); both transfers
are rate-limited so they run through every attack. A scripted peer
(hostile_peer.RawPeer, each attack from a fresh address) then sends, one kind
per test: a wrong info-hash; a 4 GiB length prefix; bitfields of the wrong
length and with spare bits set; have, request and cancel out of range;
requests over 128 KiB; unrequested and corrupt piece data; request floods;
1000 connections at once; a handshake dribbled one byte per second.

After each attack: X still answers session.status within CONTROL_BOUND; both
transfers still move bytes; X's RSS (printed before and after) stays within
RSS_GROWTH of what it was at the start; and the hostile peer was dropped for
the right reason (X's log), or banned when it sent corrupt data (session.status
"banned", and a new connection from its address is refused). The last test
lifts the rate limits and checks both transfers complete bit-identical.

The tests share the daemons and run in name order (test_01 .. test_99).
Standard library only; every wait is bounded; only our own daemons are stopped.
"""

import base64
import hashlib
import os
import re
import socket
import struct
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'transfer'))
sys.path.insert(0, os.path.join(HERE, '..', 'integration'))

import p2ptest  # noqa: E402
from p2ptest import Daemon, make_torrent, read_file, share, wait_until  # noqa: E402
from xfer import KiB, data_bytes, host_of, ip  # noqa: E402
from hostile_peer import (BITFIELD, CANCEL, HAVE, INTERESTED, PIECE, REQUEST,  # noqa: E402
                          RESERVED_FAST, UNCHOKE, RawPeer, handshake_bytes, open_fds,
                          raise_nofile, rss_kib)

PLEN = 256 * KiB
T1_SIZE = 121 * PLEN - 1000     # 121 pieces: the bitfield has 7 spare bits
T2_SIZE = 40 * PLEN + 777
RATE = '96K'                    # each background transfer: lasts through the attacks
CONTROL_BOUND = 3.0             # seconds for session.status during and after an attack
RSS_GROWTH = 64 * 1024          # KiB over the starting RSS: generous (ASan, buffers)
FLOW_WAIT = 20.0                # seconds a background transfer may stall after an attack
STORM = 1000                    # connections at once
STORM_IPS = 250                 # their addresses (max_connections_per_ip is 4)


class Env:
    """The three daemons and two transfers every test shares."""

    def __init__(self):
        self.daemons = []
        self.next_src = 10

    def daemon(self, n):
        # A small ASan quarantine, so that RSS shows what p2pd holds rather than
        # freed memory ASan keeps back (256 MB by default).
        asan = ':'.join(x for x in (os.environ.get('ASAN_OPTIONS'), 'quarantine_size_mb=16') if x)
        d = Daemon(listen='%s:0' % ip(n), args=['--log-level', 'debug'],
                   env={'ASAN_OPTIONS': asan})
        self.daemons.append(d)
        d.start()
        d.ip = ip(n)
        d.addr = d.call('session.status')['listen'][0]
        return d

    def src(self):
        """A fresh 127.0.0.N for the next hostile peer (bans go by address)."""
        self.next_src += 1
        assert self.next_src < 250
        return ip(self.next_src)


def wait_seeding(d, tid, timeout):
    def done():
        t = d.call('torrent.get', {'id': tid})
        assert t['state'] != 'error', t
        return t if t['state'] == 'seeding' else None
    return wait_until(done, timeout, 0.1, 'torrent %s on %s to complete' % (tid, d.ip))


class HostilePeers(unittest.TestCase):

    env = None

    @classmethod
    def setUpClass(cls):
        raise_nofile(8192)
        e = cls.env = Env()
        try:
            e.x, e.y, e.z = e.daemon(2), e.daemon(3), e.daemon(4)
            # T1: X seeds to Y.
            e.t1_data = data_bytes(T1_SIZE, 'hostile-t1')
            p = os.path.join(e.x.root, 't1.bin')
            p2ptest.write_file(p, e.t1_data)
            e.t1 = share(e.x, p, piece_length=PLEN)
            assert e.t1['state'] == 'seeding' and e.t1['pieces'] == 121, e.t1
            e.ih1 = bytes.fromhex(e.t1['info_hash'])
            meta1 = e.x.call('torrent.export', {'id': e.t1['id']})['metainfo']
            # T2: Z seeds to X, so X also downloads while it is attacked.
            e.t2_data = data_bytes(T2_SIZE, 'hostile-t2')
            p = os.path.join(e.z.root, 't2.bin')
            p2ptest.write_file(p, e.t2_data)
            t2z = share(e.z, p, piece_length=PLEN)
            meta2 = e.z.call('torrent.export', {'id': t2z['id']})['metainfo']
            e.y.call('session.set', {'key': 'download_rate_limit', 'value': RATE})
            e.z.call('session.set', {'key': 'upload_rate_limit', 'value': RATE})
            e.y1 = e.y.call('torrent.add', {'metainfo': meta1})
            e.y.call('peer.add', {'id': e.y1['id'], 'address': e.x.addr})
            e.x2 = e.x.call('torrent.add', {'metainfo': meta2})
            e.x.call('peer.add', {'id': e.x2['id'], 'address': e.z.addr})
            wait_until(lambda: e.y.call('torrent.get', {'id': e.y1['id']})['have_bytes'] > 0
                       and e.x.call('torrent.get', {'id': e.x2['id']})['have_bytes'] > 0,
                       30, 0.1, 'both background transfers to start')
            e.rss0 = rss_kib(e.x.pid)
            e.fds0 = open_fds(e.x.pid)
            print('\nX (pid %d): RSS %d KiB, %d fds at the start' % (e.x.pid, e.rss0, e.fds0))
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        e = cls.env
        problems = []
        for d in e.daemons:
            if d.proc is None:
                continue
            was_running = d.running()
            rc, _ = d.stop()
            rep = d.sanitizer_report()
            if rep or (was_running and rc != 0):
                d.dump_logs()
                problems.append('%s exited %s%s' % (d.ip, rc, ' with a sanitizer report'
                                                    if rep else ''))
            d.remove_dir()
        if problems:
            raise AssertionError('; '.join(problems))

    def run(self, result=None):
        if result is None:
            result = self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        t0 = time.monotonic()
        try:
            return super().run(result)
        finally:
            sys.stderr.write('[%s: %.1f s] ' % (self._testMethodName, time.monotonic() - t0))
            if len(result.failures) + len(result.errors) > before and self.env:
                for d in self.env.daemons:
                    sys.stderr.write('\n--- %s log tail ---\n%s\n' % (d.ip, d.log_tail(80)))

    # ---------------------------------------------------------------- helpers

    def raw(self, timeout=5.0, rcvbuf=None):
        p = RawPeer(self.env.src(), self.env.x.addr, timeout, rcvbuf)
        self.addCleanup(p.close)
        return p

    def session(self, fast=False, rcvbuf=None):
        """A raw peer past the handshake for T1, X's bitfield read."""
        p = self.raw(rcvbuf=rcvbuf)
        p.handshake(self.env.ih1, RESERVED_FAST if fast else bytes(8))
        self.assertEqual(p.read_handshake(), self.env.ih1)
        mid, payload = p.read_msg()
        if fast:
            self.assertEqual(mid, 0x0e, 'a seed sends have_all to a Fast peer')
        else:
            self.assertEqual(mid, BITFIELD)
            self.assertEqual(len(payload), 16)
        return p

    def control_time(self):
        t0 = time.monotonic()
        st = self.env.x.call('session.status', timeout=CONTROL_BOUND + 5)
        took = time.monotonic() - t0
        self.assertLess(took, CONTROL_BOUND, 'session.status took %.2f s' % took)
        return st

    def progress(self):
        e = self.env
        return (e.y.call('torrent.get', {'id': e.y1['id']}),
                e.x.call('torrent.get', {'id': e.x2['id']}))

    def close_reasons(self, local):
        """Reasons X logged for closing the connection from local ('ip:port')."""
        pat = re.compile(r'peer %s #\d+ closed reason=(\S+)' % re.escape(local))
        return pat.findall(self.env.x.log_text())

    def snapshot(self):
        e = self.env
        y1, x2 = self.progress()
        st = self.control_time()
        return {'rss': rss_kib(e.x.pid), 'y': y1['have_bytes'], 'x': x2['have_bytes'],
                'banned': st['banned'], 'peers': st['peers']}

    def after(self, what, before, peers=(), reasons=None, banned=False):
        """The checks every attack ends with (see the module docstring)."""
        e = self.env
        self.assertTrue(e.x.running(), 'X exited after %s' % what)
        st = self.control_time()
        for p in peers:
            self.assertTrue(p.closed_within(), 'X kept the connection from %s open after %s'
                            % (p.local, what))
        srcs = {host_of(p.local) for p in peers}
        if srcs:
            wait_until(lambda: not any(host_of(x['address']) in srcs for x in e.x.call(
                'torrent.peers', {'id': e.t1['id']})['peers']), 10, 0.1,
                'X to forget the connections of %s' % what)
        if reasons is not None:
            for p in peers:
                got = wait_until(lambda: self.close_reasons(p.local), 5, 0.1,
                                 'X to log why it closed %s' % p.local)
                self.assertIn(got[-1], reasons, 'X closed %s after %s for another reason'
                              % (p.local, what))
        st = self.control_time()
        if banned:
            self.assertGreater(st['banned'], before['banned'], 'nobody banned after %s' % what)
        else:
            self.assertEqual(st['banned'], before['banned'], 'a ban after %s' % what)

        # Both background transfers keep moving (or are done).
        def moving():
            y1, x2 = self.progress()
            return ((y1['have_bytes'] > before['y'] or y1['state'] == 'seeding') and
                    (x2['have_bytes'] > before['x'] or x2['state'] == 'seeding'))
        wait_until(moving, FLOW_WAIT, 0.2, 'the background transfers to go on after %s' % what)
        rss = rss_kib(e.x.pid)
        print('%s: X RSS %d KiB before, %d KiB after (start %d KiB), %d fds'
              % (what, before['rss'], rss, e.rss0, open_fds(e.x.pid)))
        self.assertLess(rss, e.rss0 + RSS_GROWTH, 'X grew by %d KiB since the start'
                        % (rss - e.rss0))
        return st

    # ---------------------------------------------------------------- attacks

    def test_01_wrong_info_hash(self):
        b = self.snapshot()
        p = self.raw()
        p.handshake(hashlib.sha1(b'no such torrent').digest())
        self.after('a wrong info-hash', b, [p], ('unknown-info-hash',))

    def test_02_4gib_length_prefix(self):
        b = self.snapshot()
        p = self.session()
        p.send(b'\xff\xff\xff\xff' + bytes([PIECE]) + bytes(4096))
        self.after('a 4 GiB length prefix', b, [p], ('protocol-error',))

    def test_03_bitfield_wrong_length(self):
        b = self.snapshot()
        short, long_ = self.session(), self.session()
        short.msg(BITFIELD, b'\xff' * 15)
        long_.msg(BITFIELD, b'\xff' * 15 + b'\x80' + b'\x00')
        self.after('bitfields of 15 and 17 bytes for 121 pieces', b, [short, long_],
                   ('bad-bitfield',))

    def test_04_bitfield_spare_bits(self):
        b = self.snapshot()
        p = self.session()
        p.msg(BITFIELD, b'\xff' * 15 + b'\x81')    # piece 121 (a spare bit) set
        self.after('a bitfield with a spare bit set', b, [p], ('bad-bitfield',))

    def test_05_have_out_of_range(self):
        b = self.snapshot()
        p, q = self.session(), self.session()
        p.msg(HAVE, struct.pack('>I', 121))
        q.msg(HAVE, struct.pack('>I', 0xffffffff))
        self.after('have 121 and have 2^32-1 of 121 pieces', b, [p, q],
                   ('piece-index-out-of-range',))

    def test_06_request_out_of_range(self):
        b = self.snapshot()
        peers = [self.session() for _ in range(3)]
        for p in peers:
            p.msg(INTERESTED)
        peers[0].msg(REQUEST, struct.pack('>III', 121, 0, 16 * KiB))
        peers[1].msg(REQUEST, struct.pack('>III', 0, PLEN - 8 * KiB, 16 * KiB))
        last = T1_SIZE - 120 * PLEN             # the short last piece
        peers[2].msg(REQUEST, struct.pack('>III', 120, last - 100, 16 * KiB))
        self.after('requests past the last piece and past a piece end', b, peers,
                   ('piece-index-out-of-range', 'request-out-of-range'))

    def test_07_cancel_out_of_range(self):
        b = self.snapshot()
        p = self.session()
        p.msg(CANCEL, struct.pack('>III', 4000000, 0, 16 * KiB))
        self.after('a cancel for piece 4000000', b, [p], ('piece-index-out-of-range',))

    def test_08_request_over_128k(self):
        b = self.snapshot()
        p, q = self.session(), self.session()
        p.msg(INTERESTED)
        p.msg(REQUEST, struct.pack('>III', 0, 0, 128 * KiB + 1))
        q.msg(REQUEST, struct.pack('>III', 0, 0, 0xffffffff))
        self.after('requests of 128 KiB + 1 and 4 GiB - 1', b, [p, q], ('protocol-error',))

    def test_09_unrequested_piece_data(self):
        b = self.snapshot()
        p = self.session()
        block = os.urandom(16 * KiB)
        try:
            for i in range(200):                # X tolerates 64, then drops
                p.msg(PIECE, struct.pack('>II', i % 121, 0) + block)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        self.after('200 blocks nobody asked for', b, [p], ('unrequested-data',))

    def test_10_corrupt_piece_data(self):
        """X downloads T3 from the hostile peer alone, which answers every request
        with garbage: after its second failed piece X bans it (smart ban)."""
        e = self.env
        b = self.snapshot()
        content = data_bytes(8 * 64 * KiB, 'hostile-t3')
        raw, ih_hex, _ = make_torrent('t3.bin', content, piece_length=64 * KiB)
        t3 = e.x.call('torrent.add', {'metainfo': base64.b64encode(raw).decode()})
        self.addCleanup(lambda: e.x.call('torrent.remove', {'id': t3['id'],
                                                           'delete_data': True}))
        ih = bytes.fromhex(ih_hex)
        p = self.raw()
        p.handshake(ih)
        self.assertEqual(p.read_handshake(), ih)
        p.msg(BITFIELD, b'\xff')
        p.msg(UNCHOKE)
        served = 0
        deadline = time.monotonic() + 30
        try:
            for _ in range(10000):
                if time.monotonic() > deadline:
                    break
                mid, payload = p.read_msg(timeout=max(0.1, deadline - time.monotonic()))
                if mid == REQUEST:
                    index, begin, length = struct.unpack('>III', payload)
                    p.msg(PIECE, payload[:8] + bytes([0x5a]) * length)
                    served += 1
        except (EOFError, ConnectionError, TimeoutError, socket.timeout):
            pass
        print('corrupt peer: %d garbage blocks sent before X closed it' % served)
        st = self.after('corrupt piece data', b, [p], ('banned',), banned=True)
        failed = e.x.call('torrent.get', {'id': t3['id']})
        self.assertEqual(failed['pieces_have'], 0, failed)
        print('X after the corrupt peer: banned=%d' % st['banned'])
        # Banned: a new connection from that address is refused before any handshake.
        again = RawPeer(host_of(p.local), e.x.addr)
        self.addCleanup(again.close)
        try:
            again.handshake(ih)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.assertTrue(again.closed_within(), 'X took a connection from a banned address')

    def test_11_request_flood_unchoked(self):
        """An unchoked peer that asks for thousands of blocks without reading what
        it gets: X drops it when its upload queue passes the reqq it advertised."""
        b = self.snapshot()
        p = self.session()
        p.msg(INTERESTED)
        deadline = time.monotonic() + 30
        unchoked = False
        for _ in range(1000):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                mid, _ = p.read_msg(timeout=left)
            except TimeoutError:
                break
            if mid == UNCHOKE:
                unchoked = True
                break
        self.assertTrue(unchoked, 'X never unchoked an interested peer (upload_slots 4)')
        # Valid blocks only (pieces 0..119 are whole), so the queue is what trips.
        reqs = b''.join(struct.pack('>IBIII', 13, REQUEST, i % 120, (i // 120) % 16 * 16 * KiB,
                                    16 * KiB) for i in range(5000))
        try:
            p.send(reqs)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        self.after('a flood of 5000 requests', b, [p], ('request-flood',))

    def test_12_request_flood_choked(self):
        """A Fast peer X never unchoked sends 2 million requests (34 MB) and reads
        nothing: X rejects each (BEP 6), and once 64 KiB of rejects sit unsent it
        drops the peer as a flood (so 500 such peers can't hold 8 MiB each)."""
        b = self.snapshot()
        p = self.session(fast=True, rcvbuf=4096)
        one = b''.join(struct.pack('>IBIII', 13, REQUEST, i, 0, 16 * KiB) for i in range(120))
        p.sock.settimeout(60)
        t0 = time.monotonic()
        sent = 0
        try:
            for _ in range(2000000 // 120):
                p.send(one)
                sent += 120
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        print('choked flood: %d requests sent in %.1f s' % (sent, time.monotonic() - t0))
        self.after('a flood of %d requests while choked' % sent, b, [p], ('request-flood',))

    def storm(self, hs):
        """STORM non-blocking connections to X from STORM_IPS addresses, each
        sending hs (if any) once connected. Returns the sockets."""
        e = self.env
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        host, port = e.x.addr.rsplit(':', 1)
        for i in range(STORM):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.bind(('127.77.0.%d' % (i % STORM_IPS + 1), 0))
            s.connect_ex((host, int(port)))
            socks.append(s)
        if hs:
            pending = set(range(STORM))
            deadline = time.monotonic() + 30
            for _ in range(10000):
                if not pending or time.monotonic() > deadline:
                    break
                for i in list(pending):
                    try:
                        socks[i].send(hs)
                        pending.discard(i)
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        pending.discard(i)      # refused or reset: counted later
                time.sleep(0.05)
        return socks

    def outcome(self, socks, undecided, timeout):
        """Waits up to timeout for each socket in undecided to get data (answered)
        or its end (closed by X); returns (answered, closed) and shrinks undecided."""
        answered = closed = 0
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            if not undecided or time.monotonic() > deadline:
                break
            for i in list(undecided):
                try:
                    data = socks[i].recv(1 << 16)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b''
                if data:
                    answered += 1
                else:
                    closed += 1
                undecided.discard(i)
            time.sleep(0.05)
        return answered, closed

    def test_13_thousand_silent_connections(self):
        """1000 connections at once that never send a byte: X takes them up to
        max_connections (500), closes the rest at once, and drops the ones it took
        at its 10 s handshake timeout."""
        e = self.env
        b = self.snapshot()
        t0 = time.monotonic()
        socks = self.storm(None)
        time.sleep(2)
        st = self.control_time()
        print('silent storm: X reports %d peers, %d fds, RSS %d KiB after 2 s'
              % (st['peers'], open_fds(e.x.pid), rss_kib(e.x.pid)))
        self.assertLessEqual(st['peers'], 500, 'more peers than max_connections')
        # How many reach X at once depends on the listen backlog and the machine's
        # load (SYN cookies, handshake timeouts freeing slots): the limit is what is
        # asserted; a refusal is only reported.
        print('silent storm: X %s refused some' % ('has' if 'max_connections (500) reached'
                                                  in e.x.log_text() else 'never'))
        # X's side: every connection it took is gone after its handshake timeout.
        wait_until(lambda: e.x.call('session.status')['peers'] <= b['peers'], 30, 0.2,
                   'X to drop the silent connections')
        took = time.monotonic() - t0
        self.assertIn('closed reason=handshake-timeout', e.x.log_text())
        undecided = set(range(STORM))
        _, closed = self.outcome(socks, undecided, 2.0)
        # The rest never reached X: a burst over the listen backlog (128) is
        # answered with SYN cookies, and a client that then sends nothing is
        # never told its connection was dropped. Nothing of it is held in X.
        print('silent storm: X back to %d peers after %.1f s; %d connections closed by X, '
              '%d left half-open on our side by the kernel'
              % (b['peers'], took, closed, len(undecided)))
        for s in socks:
            s.close()
        self.after('1000 silent connections at once', b, [])

    def test_14_thousand_handshakes(self):
        """1000 connections at once from 250 addresses, each sending a handshake
        for T1: X takes what max_connections_per_torrent (100) allows, refuses the
        rest cleanly, and keeps answering and transferring."""
        e = self.env
        b = self.snapshot()
        socks = self.storm(handshake_bytes(e.ih1))
        st = self.control_time()
        print('storm: %d connections open, X reports %d peers, %d fds (RSS %d KiB)'
              % (STORM, st['peers'], open_fds(e.x.pid), rss_kib(e.x.pid)))
        self.assertLessEqual(st['peers'], 500, 'more peers than max_connections')
        undecided = set(range(STORM))
        answered, closed = self.outcome(socks, undecided, 15.0)
        print('storm: %d answered, %d closed by X, %d neither within 15 s'
              % (answered, closed, len(undecided)))
        self.assertLessEqual(answered, 100, 'more than max_connections_per_torrent')
        self.assertGreater(closed, 0, 'X refused none of 1000 connections')
        peers = e.x.call('torrent.peers', {'id': e.t1['id']})['peers']
        self.assertLessEqual(len(peers), 100)
        for s in socks:
            s.close()
        wait_until(lambda: e.x.call('session.status')['peers'] <= b['peers'], 30,
                   0.2, 'X to let go of the storm connections')
        self.after('1000 connections at once', b, [])
        fds = open_fds(e.x.pid)
        self.assertLess(fds, e.fds0 + 20, 'X holds %d fds after the storm (%d before)'
                        % (fds, e.fds0))

    def test_15_dribbled_handshake(self):
        """One byte a second: X must drop it at its 10 s handshake timeout."""
        b = self.snapshot()
        p = self.raw(timeout=2.0)
        sent, took = p.dribble(handshake_bytes(self.env.ih1), 1.0, 40)
        print('dribble: %d bytes sent, closed by X after %s s' % (sent, took and round(took, 1)))
        self.assertIsNotNone(took, 'X kept a handshake dribbled over %d s' % sent)
        self.assertLess(took, 10 + 5, 'X dropped the dribbling peer only after %.1f s' % took)
        self.assertGreater(took, 5, 'X dropped a slow handshake after %.1f s' % took)
        self.after('a handshake dribbled one byte a second', b, [p], ('handshake-timeout',))

    def test_99_transfers_complete(self):
        e = self.env
        for d, key in ((e.y, 'download_rate_limit'), (e.z, 'upload_rate_limit')):
            d.call('session.set', {'key': key, 'value': 0})
        wait_seeding(e.y, e.y1['id'], 120)
        wait_seeding(e.x, e.x2['id'], 120)
        got1 = read_file(os.path.join(e.y.download_dir, 't1.bin'))
        got2 = read_file(os.path.join(e.x.download_dir, 't2.bin'))
        self.assertTrue(got1 == e.t1_data, 'T1 on Y differs from what X seeded')
        self.assertTrue(got2 == e.t2_data, 'T2 on X differs from what Z seeded')
        print('end: X RSS %d KiB (start %d KiB), %d fds (start %d)'
              % (rss_kib(e.x.pid), e.rss0, open_fds(e.x.pid), e.fds0))


if __name__ == '__main__':
    p2ptest.main()
