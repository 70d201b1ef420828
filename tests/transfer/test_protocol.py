#!/usr/bin/python3
"""Hostile peers: a Python peer on a raw socket connects to a seeding p2pd and
breaks the wire protocol in one way per case (wrong info-hash, a 4 GiB length
prefix, a bitfield of the wrong length, a request for a piece that does not
exist, a 1 MiB request). Each time p2pd must drop the connection; afterwards it
still answers session.status and a normal leecher still downloads from it. A
well-behaved raw peer, with the same code, is served correctly: so a drop means
the bad message was noticed, not that the raw peer is broken. And the other way
round: a peer that follows BEP 6 must keep its connection, whether it answers
p2pd's cancels with rejects or with the blocks it was already sending."""

import hashlib
import os
import socket
import struct
import threading
import time

from xfer import (MiB, XferTest, data_bytes, host_of, ip, main, wait_until, write_file)

PLEN = 2 * MiB
SIZE = 3 * PLEN - 12345     # 3 pieces, the last one short
CLOSE_TIMEOUT = 5.0


class RawPeer:
    """A plain BEP 3 peer (no extension bits) bound to its own 127.0.0.x."""

    def __init__(self, src, addr):
        host, port = addr.rsplit(':', 1)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(CLOSE_TIMEOUT)
        self.sock.bind((src, 0))
        self.sock.connect((host, int(port)))
        self.buf = b''

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def handshake(self, info_hash):
        self.send(b'\x13BitTorrent protocol' + bytes(8) + info_hash
                  + b'-PY0001-' + hashlib.sha1(os.urandom(8)).digest()[:12])

    def recv_exact(self, n, timeout=CLOSE_TIMEOUT):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError('waited %.1f s for %d bytes' % (timeout, n))
            self.sock.settimeout(left)
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError('connection closed by p2pd')
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_handshake(self):
        hs = self.recv_exact(68)
        assert hs[:20] == b'\x13BitTorrent protocol', hs
        return hs[28:48]

    def read_msg(self):
        """(id, payload) of the next message; (None, b'') for a keep-alive."""
        (n,) = struct.unpack('>I', self.recv_exact(4))
        if n == 0:
            return None, b''
        m = self.recv_exact(n)
        return m[0], m[1:]

    def msg(self, mid, payload=b''):
        self.send(struct.pack('>IB', 1 + len(payload), mid) + payload)

    def closed_within(self, timeout=CLOSE_TIMEOUT):
        """True once p2pd closes the connection (what it sends first is discarded);
        False if it is still open after timeout."""
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not chunk:
                return True
        return False


class HoardingFastSeeder:
    """A BEP 6 (Fast extension) peer that has every piece but the last, unchokes,
    and sits on every request until it is cancelled; a cancel it answers with a
    reject, as BEP 6 says it should. It sends no data, so the requester gets the
    blocks it asked of it from somebody else and must cancel them here."""

    def __init__(self, host, info_hash, npieces):
        self.info_hash = info_hash
        self.npieces = npieces
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind((host, 0))
        self.lsock.listen(4)
        self.lsock.settimeout(0.2)
        self.address = '%s:%d' % (host, self.lsock.getsockname()[1])
        self.requests = 0
        self.cancels = 0
        self.rejects = 0
        self.closed_by_peer = None      # seconds after start when p2pd closed it
        self.connections = 0
        self.conn = None
        self.stop = threading.Event()
        self.t0 = time.monotonic()
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        for _ in range(100000):
            if self.stop.is_set():
                return
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            self.conn = c
            self.serve(c)

    def serve(self, c):
        p = RawPeer.__new__(RawPeer)
        p.sock, p.buf = c, b''
        pending = set()
        try:
            hs = p.recv_exact(68)
            if hs[28:48] != self.info_hash or not hs[27] & 0x04:
                return
            c.sendall(b'\x13BitTorrent protocol' + bytes(7) + b'\x04' + self.info_hash
                      + b'-PY0001-' + b'h' * 12)
            bits = bytearray((self.npieces + 7) // 8)
            for i in range(self.npieces - 1):
                bits[i // 8] |= 0x80 >> (i % 8)
            p.msg(5, bytes(bits))
            p.msg(1)                                    # unchoke
            for _ in range(1000000):
                if self.stop.is_set():
                    return
                try:
                    mid, payload = p.read_msg()
                except TimeoutError:
                    c.sendall(bytes(4))                 # keep-alive
                    continue
                if mid == 6:
                    pending.add(payload)
                    self.requests += 1
                elif mid == 8:
                    self.cancels += 1
                    if payload in pending:
                        pending.discard(payload)
                        p.msg(16, payload)              # reject the cancelled request
                        self.rejects += 1
        except (EOFError, ConnectionError, OSError):
            if self.closed_by_peer is None and not self.stop.is_set():
                self.closed_by_peer = time.monotonic() - self.t0
        finally:
            c.close()

    def close(self):
        self.stop.set()
        self.lsock.close()
        if self.conn is not None:
            try:
                self.conn.shutdown(socket.SHUT_RDWR)    # wakes the serving thread
            except OSError:
                pass
        self.th.join(10)


class StallingFastSeeder(HoardingFastSeeder):
    """A BEP 6 peer with real data and every piece but the last: it serves the
    first `serve` blocks asked of it at once, then holds every further request
    and, when one is cancelled, sends the piece anyway ("requests that are being
    processed are allowed to complete", BEP 6)."""

    def __init__(self, host, info_hash, npieces, data, plen, serve):
        self.data = data
        self.plen = plen
        self.serve_first = serve
        self.served = 0
        self.late = 0           # blocks sent in answer to a cancel
        self.max_held = 0
        super().__init__(host, info_hash, npieces)

    def serve(self, c):
        p = RawPeer.__new__(RawPeer)
        p.sock, p.buf = c, b''
        held = set()
        try:
            hs = p.recv_exact(68)
            if hs[28:48] != self.info_hash or not hs[27] & 0x04:
                return
            c.sendall(b'\x13BitTorrent protocol' + bytes(7) + b'\x04' + self.info_hash
                      + b'-PY0001-' + b's' * 12)
            bits = bytearray((self.npieces + 7) // 8)
            for i in range(self.npieces - 1):
                bits[i // 8] |= 0x80 >> (i % 8)
            p.msg(5, bytes(bits))
            p.msg(1)
            for _ in range(10000000):
                if self.stop.is_set():
                    return
                try:
                    mid, payload = p.read_msg()
                except TimeoutError:
                    c.sendall(bytes(4))
                    continue
                if mid == 6:
                    self.requests += 1
                    if self.served < self.serve_first:
                        self.send_block(p, payload)
                        self.served += 1
                    else:
                        held.add(payload)
                        self.max_held = max(self.max_held, len(held))
                elif mid == 8:
                    self.cancels += 1
                    if payload in held:
                        held.discard(payload)
                        self.send_block(p, payload)
                        self.late += 1
        except (EOFError, ConnectionError, OSError):
            if self.closed_by_peer is None and not self.stop.is_set():
                self.closed_by_peer = time.monotonic() - self.t0
        finally:
            c.close()

    def send_block(self, p, req):
        index, begin, length = struct.unpack('>III', req)
        off = index * self.plen + begin
        p.msg(7, req[:8] + self.data[off:off + length])


class HostilePeerTest(XferTest):

    def setUp(self):
        self.seeder = self.node(2)
        self.leecher = self.node(3)
        self.data = data_bytes(SIZE, 'protocol')
        src = os.path.join(self.seeder.root, 'target.bin')
        write_file(src, self.data)
        self.ts, self.meta = self.seed(self.seeder, src, piece_length=PLEN)
        self.assertEqual(self.ts['pieces'], 3)
        self.ih = bytes.fromhex(self.ts['info_hash'])
        self.next_ip = 10

    def raw(self):
        """A raw peer from a fresh address (bans and per-IP limits go by IP)."""
        src = ip(self.next_ip)
        self.next_ip += 1
        p = RawPeer(src, self.seeder.addr)
        self.addCleanup(p.close)
        return p

    def open_session(self):
        """Handshake done, p2pd's handshake and bitfield read."""
        p = self.raw()
        p.handshake(self.ih)
        self.assertEqual(p.read_handshake(), self.ih)
        mid, payload = p.read_msg()
        self.assertEqual((mid, payload), (5, b'\xe0'), 'a seed of 3 pieces sends bitfield 111')
        return p

    def still_fine(self, p, what):
        """p2pd closed p (within 5 s), still answers, still serves a leecher."""
        self.assertTrue(p.closed_within(), 'p2pd kept the connection open %.0f s after %s'
                        % (CLOSE_TIMEOUT, what))
        self.assertTrue(self.seeder.running(), 'p2pd exited after %s' % what)
        st = self.seeder.call('session.status', timeout=5)
        self.assertEqual(st['torrents']['seeding'], 1, st)
        src_ip = p.sock.getsockname()[0]
        wait_until(lambda: all(host_of(x['address']) != src_ip for x in self.seeder.call(
            'torrent.peers', {'id': self.ts['id']})['peers']), 5, 0.05,
            'the seeder to forget the hostile connection from %s' % src_ip)
        tl = self.leech(self.leecher, self.meta, peers=[self.seeder.addr])
        self.wait_done(self.leecher, tl['id'], 60, what='a normal download after %s' % what)
        self.assertSameBytes(os.path.join(self.leecher.download_dir, 'target.bin'), self.data)
        self.leecher.call('torrent.remove', {'id': tl['id'], 'delete_data': True})

    def test_well_behaved_raw_peer_is_served(self):
        p = self.open_session()
        p.msg(2)                                    # interested
        for _ in range(100):
            mid, _ = p.read_msg()
            if mid == 1:                            # unchoke
                break
        self.assertEqual(mid, 1, 'no unchoke for an interested peer')
        p.msg(6, struct.pack('>III', 2, 16384, 16384))
        for _ in range(100):
            mid, payload = p.read_msg()
            if mid == 7:
                break
        self.assertEqual(mid, 7, 'no piece message for a valid request')
        self.assertEqual(payload[:8], struct.pack('>II', 2, 16384))
        self.assertEqual(payload[8:], self.data[2 * PLEN + 16384:2 * PLEN + 32768])
        self.assertFalse(p.closed_within(1.0), 'p2pd closed a well-behaved peer')

    def test_reject_after_cancel_keeps_the_connection(self):
        """BEP 6: a cancel is answered with a reject (or the piece). The requester
        must take that reject (it asked for it) and keep a peer that follows the
        protocol; and the blocks that peer sits on must not stall the download."""
        plen = 64 * 1024
        data = data_bytes(16 * plen, 'hoard')
        src = os.path.join(self.seeder.root, 'hoarded.bin')
        write_file(src, data)
        ts, meta = self.seed(self.seeder, src, piece_length=plen)
        hoarder = HoardingFastSeeder(ip(20), bytes.fromhex(ts['info_hash']), ts['pieces'])
        self.addCleanup(hoarder.close)
        # the hoarder first, so that it gets requests before the real seeder answers
        tl = self.leech(self.leecher, meta, peers=[hoarder.address])
        wait_until(lambda: hoarder.requests > 0, 10, 0.05, 'requests to the hoarding peer')
        self.leecher.call('peer.add', {'id': tl['id'], 'address': self.seeder.addr})
        g, took = self.wait_done(self.leecher, tl['id'], 30,
                                 what='a download next to a peer that holds its requests')
        time.sleep(1.0)
        print('hoarder: %d requests, %d cancels, %d rejects sent; closed by p2pd after %s s; '
              'download took %.1f s' % (hoarder.requests, hoarder.cancels, hoarder.rejects,
                                         hoarder.closed_by_peer, took))
        self.assertSameBytes(os.path.join(self.leecher.download_dir, 'hoarded.bin'), data)
        self.assertGreater(hoarder.cancels, 0, 'the leecher never cancelled the requests it '
                           'got answered elsewhere')
        self.assertIsNone(hoarder.closed_by_peer,
                          'p2pd closed a peer that answered its cancels with rejects (BEP 6) '
                          '%.1f s after the start; its closes: %s'
                          % (hoarder.closed_by_peer or 0, self.peer_closes(self.leecher)))

    def test_piece_after_cancel_keeps_the_connection(self):
        """BEP 6 lets a peer send a block it was already sending when the cancel
        came. A peer that does so for every cancelled request is following the
        protocol and must keep its connection, however many requests were
        cancelled (endgame with a deep pipeline cancels many)."""
        plen = 256 * 1024
        data = data_bytes(64 * plen, 'stall')
        src = os.path.join(self.seeder.root, 'stalled.bin')
        write_file(src, data)
        ts, meta = self.seed(self.seeder, src, piece_length=plen)
        staller = StallingFastSeeder(ip(21), bytes.fromhex(ts['info_hash']), ts['pieces'],
                                     data, plen, serve=256)
        self.addCleanup(staller.close)
        tl = self.leech(self.leecher, meta, peers=[staller.address])
        wait_until(lambda: staller.served >= 256 and staller.max_held > 0, 20, 0.05,
                   'the stalling peer to serve its first blocks')
        time.sleep(0.5)         # let the leecher fill its pipeline to it
        held = staller.max_held
        self.leecher.call('peer.add', {'id': tl['id'], 'address': self.seeder.addr})
        g, took = self.wait_done(self.leecher, tl['id'], 30,
                                 what='a download next to a peer that stalls')
        time.sleep(1.0)
        print('staller: served %d blocks at once, then held up to %d requests; %d cancels, '
              '%d blocks sent after their cancel; closed by p2pd: %s; download %.1f s'
              % (staller.served, held, staller.cancels, staller.late,
                 staller.closed_by_peer, took))
        self.assertSameBytes(os.path.join(self.leecher.download_dir, 'stalled.bin'), data)
        self.assertIsNone(staller.closed_by_peer,
                          'p2pd closed a peer that sent %d requested blocks after their '
                          'cancel (allowed by BEP 6); its closes: %s'
                          % (staller.late, self.peer_closes(self.leecher)))

    def test_wrong_info_hash(self):
        p = self.raw()
        p.handshake(hashlib.sha1(b'no such torrent').digest())
        self.still_fine(p, 'a handshake for an unknown info-hash')

    def test_4gib_length_prefix(self):
        p = self.open_session()
        p.send(b'\xff\xff\xff\xff' + b'\x07' + bytes(4096))
        self.still_fine(p, 'a message length prefix of 4 GiB - 1')

    def test_bitfield_of_wrong_length(self):
        p = self.open_session()
        p.msg(5, b'\xe0\x00\x00\x00')               # 4 bytes for 3 pieces
        self.still_fine(p, 'a bitfield of 4 bytes for 3 pieces')

    def test_request_out_of_range(self):
        p = self.open_session()
        p.msg(2)
        p.msg(6, struct.pack('>III', 3, 0, 16384))  # pieces are 0..2
        self.still_fine(p, 'a request for piece 3 of 3')

    def test_request_of_1mib(self):
        p = self.open_session()
        p.msg(2)
        p.msg(6, struct.pack('>III', 0, 0, MiB))    # inside the 2 MiB piece, but 1 MiB
        self.still_fine(p, 'a request of 1 MiB')


if __name__ == '__main__':
    main()
