#!/usr/bin/python3
"""Protocol conformance with raw peers: a well-behaved raw peer (hostile_peer.RawPeer
from tests/hostile, no extension bits) is served correctly by a seeding p2pd, and
peers that follow BEP 6 keep their connection whether they answer p2pd's cancels
with rejects or with the blocks they were already sending. The peers that break
the protocol on purpose are in tests/hostile/test_hostile.py, which attacks a
daemon busy with real transfers."""

import os
import socket
import struct
import sys
import threading
import time

from xfer import (MiB, XferTest, data_bytes, ip, main, wait_until, write_file)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'hostile'))
from hostile_peer import RawPeer  # noqa: E402

PLEN = 2 * MiB
SIZE = 3 * PLEN - 12345     # 3 pieces, the last one short


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


class RawPeerTest(XferTest):

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


if __name__ == '__main__':
    main()
