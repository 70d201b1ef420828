#!/usr/bin/python3
"""Two p2pd on 127.0.0.1 exchanging a torrent (peer.add, torrent.peers, transfer
events, byte-identical result), a Python peer that sends bad data (blamed,
banned, never counted), and the run-time settings (session.get / session.set)."""

import base64
import hashlib
import os
import socket
import struct
import threading
import time

from p2ptest import (BUSY, INVALID_PARAMS, NOT_FOUND, DaemonTest, main, make_torrent,
                     rand_bytes, read_file, share, wait_until, write_file, write_files)

SETTINGS = {'upload_rate_limit': 0, 'download_rate_limit': 0, 'upload_slots': 4,
            'max_connections': 500, 'max_connections_per_torrent': 100,
            'max_connections_per_ip': 4}
PEER_FIELDS = {'address': str, 'client': str, 'direction': str, 'flags': str,
               'down_rate': int, 'up_rate': int, 'downloaded': int, 'uploaded': int,
               'progress': (int, float), 'pieces_from': int}


class TransferTest(DaemonTest):

    def check_peer(self, p):
        for k, typ in PEER_FIELDS.items():
            with self.subTest('torrent.peers field', field=k):
                self.assertIn(k, p, 'torrent.peers entry lacks %r: %r' % (k, p))
                self.assertIsInstance(p[k], typ, '%s: %r' % (k, p))
        self.assertIn(p['direction'], ('in', 'out'))
        self.assertRegex(p['flags'], r'^[IiCcFES]*$')

    def test_download_from_a_second_daemon(self):
        a = self.daemon()
        b = self.daemon()
        root = os.path.join(a.root, 'album')
        content = [('01.flac', rand_bytes(2 * 1024 * 1024 + 333, 't1')),
                   ('02.flac', rand_bytes(1500000, 't2')),
                   ('art/cover.jpg', rand_bytes(70000, 't3'))]
        write_files(root, content)
        t = share(a, root, piece_length=65536)
        size = t['size']
        # a slow seeder: the transfer takes a few seconds and obeys the limit
        limit = 1 << 20
        a.call('session.set', {'key': 'upload_rate_limit', 'value': '1M'})
        a_addr = a.call('session.status')['listen'][0]
        meta = a.call('torrent.export', {'id': t['id']})['metainfo']
        sub = b.client()
        sub.call('events.subscribe')
        tb = b.call('torrent.add', {'metainfo': meta})
        self.assertEqual((tb['state'], tb['pieces_have']), ('downloading', 0))
        t0 = time.monotonic()
        r = b.call('peer.add', {'id': tb['id'], 'address': a_addr})
        self.assertEqual(r, {'address': a_addr, 'queued': True})
        during = []     # (b's peers, b's status, a's peers) while downloading
        done = None
        for _ in range(2000):
            if time.monotonic() - t0 > 60:
                break
            try:
                done = sub.take_event(lambda e: e['type'] == 'torrent.completed', timeout=0.1)
                break
            except AssertionError:
                pass
            during.append((b.call('torrent.peers', {'id': tb['id']})['peers'],
                           b.call('session.status'),
                           a.call('torrent.peers', {'id': t['id']})['peers']))
        elapsed = time.monotonic() - t0
        self.assertIsNotNone(done, 'no torrent.completed within 60 s')
        self.assertEqual((done.get('id'), done.get('info_hash'), done.get('name')),
                         (tb['id'], t['info_hash'], 'album'))
        self.assertGreater(elapsed, 0.5 * size / limit,
                           '%d bytes in %.2f s with upload_rate_limit 1 MiB/s' % (size, elapsed))
        g = b.call('torrent.get', {'id': tb['id']})
        self.assertTorrent(g, state='seeding', pieces_have=t['pieces'], have_bytes=size)
        self.assertGreater(g['completed'], 0)
        self.assertGreaterEqual(g['downloaded'], size)
        for rel, data in content:
            self.assertEqual(read_file(os.path.join(b.download_dir, 'album', rel)), data,
                             '%s differs after download' % rel)
        # transfer events: every piece verified once, credited to a; the state change
        events = sub.collect_events(0.5)
        verified = [e for e in events if e['type'] == 'piece.verified']
        self.assertEqual(sorted(e['piece'] for e in verified), list(range(t['pieces'])))
        for e in verified:
            self.assertEqual(e['id'], tb['id'])
            self.assertEqual(e['peers'], [a_addr], e)
        self.assertTrue(any(e['type'] == 'torrent.state' and e['from'] == 'downloading'
                            and e['to'] == 'seeding' for e in events))
        self.assertFalse([e for e in events if e['type'] in ('piece.failed', 'peer.banned')])
        # while it ran, both sides saw the connection
        seen = [(pb, st, pa) for pb, st, pa in during if pb and pa]
        self.assertTrue(seen, 'torrent.peers never showed the connection during %.1f s '
                        '(%d samples)' % (elapsed, len(during)))
        pb, st, pa = seen[-1]
        self.assertEqual([p['address'] for p in pb], [a_addr])
        self.check_peer(pb[0])
        self.check_peer(pa[0])
        self.assertEqual(pb[0]['direction'], 'out')
        self.assertEqual(pa[0]['direction'], 'in')
        self.assertEqual(pb[0]['progress'], 1.0, 'a is a seed')
        self.assertGreater(pb[0]['downloaded'], 0)
        self.assertGreaterEqual(st['peers'], 1)
        self.assertTrue(any(s['down_rate'] > 0 for _, s, _ in seen), 'down_rate stayed 0')
        self.assertTrue(all(s['down_rate'] < 4 * limit for _, s, _ in seen),
                        'down_rate above the limit: %s' % [s['down_rate'] for _, s, _ in seen])
        with self.subTest('pieces_from counts the pieces a sent, and only grows'):
            pf = [x[0][0].get('pieces_from') for x in seen]
            self.assertNotIn(None, pf)
            self.assertEqual(pf, sorted(pf))
            self.assertTrue(0 < pf[-1] <= t['pieces'], pf)
        with self.subTest("the seeder sees the downloader's pieces grow (HAVE)"):
            views = [x[2][0]['progress'] for x in seen]
            self.assertGreater(max(views), 0.0,
                               "a's view of b's progress while b downloaded: %s" % views)
        wait_until(lambda: a.call('torrent.get', {'id': t['id']})['uploaded'] >= size, 10,
                   what="seeder's uploaded counter")

        def b_seen_complete():
            # a learns of b's pieces through HAVE; two seeds may then part ways
            peers = a.call('torrent.peers', {'id': t['id']})['peers']
            return not peers or peers[0]['progress'] == 1.0
        wait_until(b_seen_complete, 5, what="a's view of b's progress to reach 1.0")
        # the download survives a restart as a complete, seeding torrent
        self.assertEqual(b.stop()[0], 0)
        b.start()
        g = b.call('torrent.get', {'id': tb['id']})
        self.assertEqual((g['state'], g['pieces_have']), ('seeding', t['pieces']))
        self.assertGreaterEqual(g['downloaded'], size, 'downloaded is all time')

    def test_peer_add_errors(self):
        d = self.daemon()
        tor, ih, _ = make_torrent('x.bin', rand_bytes(50000, 'pa'), 16384)
        t = d.call('torrent.add', {'metainfo': base64.b64encode(tor).decode()})
        for addr in ('nonsense', '127.0.0.1', '127.0.0.1:99999', '127.0.0.1:0',
                     'localhost:6881', '[::1', '', '1.2.3:80'):
            with self.subTest(address=addr):
                self.assertRpcError(d.error('peer.add', {'id': t['id'], 'address': addr}),
                                    INVALID_PARAMS)
        self.assertRpcError(d.error('peer.add', {'id': t['id']}), INVALID_PARAMS)
        self.assertRpcError(d.error('peer.add', {'id': t['id'], 'address': 5}), INVALID_PARAMS)
        self.assertRpcError(d.error('peer.add', {'id': 99999, 'address': '127.0.0.1:1'}),
                            NOT_FOUND)
        self.assertRpcError(d.error('torrent.peers', {'id': 99999}), NOT_FOUND)
        self.assertEqual(d.call('torrent.peers', {'id': t['id']}), {'peers': []})
        d.call('torrent.pause', {'id': t['id']})
        self.assertRpcError(d.error('peer.add', {'id': t['id'], 'address': '127.0.0.1:1'}), BUSY)
        # a magnet without its info dict dials peers to fetch it (BEP 9)
        m = d.call('torrent.add', {'magnet': '4' * 40})
        self.assertEqual(d.call('peer.add', {'id': m['id'], 'address': '127.0.0.1:1'}).get('queued'),
                         True)
        # [IPv6]:port is accepted syntax
        d.call('torrent.resume', {'id': t['id']})
        r = d.call('peer.add', {'id': t['id'], 'address': '[::1]:1'})
        self.assertEqual(r.get('queued'), True)

    def test_bad_peer_is_blamed_banned_and_its_data_never_counts(self):
        # three loopback addresses, so that banning the bad one spares the others
        a = self.daemon(listen='127.0.0.2:0')
        b = self.daemon()
        data = rand_bytes(24 * 16384, 'badpeer')
        path = os.path.join(a.root, 'victim.bin')
        write_file(path, data)
        t = share(a, path, piece_length=16384)
        meta = a.call('torrent.export', {'id': t['id']})['metainfo']
        bad = BadSeeder(bytes.fromhex(t['info_hash']), 24, 16384, len(data), '127.0.0.3')
        self.addCleanup(bad.close)
        sub = b.client()
        sub.call('events.subscribe', {'types': ['piece.failed', 'peer.banned', 'piece.verified',
                                               'torrent.completed']})
        tb = b.call('torrent.add', {'metainfo': meta})
        b.call('peer.add', {'id': tb['id'], 'address': bad.address})
        failed = sub.take_event(lambda e: e['type'] == 'piece.failed', timeout=30,
                                what='piece.failed for data from the bad peer')
        self.assertEqual(failed['id'], tb['id'])
        self.assertIn(bad.address, failed['peers'], 'the peer that sent bad data is blamed')
        banned = sub.take_event(lambda e: e['type'] == 'peer.banned', timeout=30,
                                what='the peer that sent only bad data to be banned')
        self.assertEqual(banned['id'], tb['id'])
        self.assertIn(banned['address'], (bad.address, bad.host))
        self.assertIsInstance(banned.get('reason'), str)
        self.assertEqual([e for e in sub.events if e['type'] == 'piece.verified'], [],
                         'a piece was verified from bad data')
        g = b.call('torrent.get', {'id': tb['id']})
        self.assertEqual((g['pieces_have'], g['have_bytes']), (0, 0))
        self.assertGreaterEqual(b.call('session.status')['banned'], 1)
        # the good seeder completes the download; the result is exactly right
        a_addr = a.call('session.status')['listen'][0]
        self.assertTrue(a_addr.startswith('127.0.0.2:'), a_addr)
        b.call('peer.add', {'id': tb['id'], 'address': a_addr})
        sub.take_event(lambda e: e['type'] == 'torrent.completed', timeout=60,
                       what='completion from the good seeder')
        self.assertEqual(read_file(os.path.join(b.download_dir, 'victim.bin')), data)
        self.assertGreater(bad.pieces_sent, 0, 'the bad peer was never asked for data')


class BadSeeder:
    """A BitTorrent peer that has every piece and answers every request with
    wrong bytes. Plain BEP 3: handshake, bitfield, unchoke, piece."""

    def __init__(self, info_hash, npieces, piece_length, total, host):
        self.info_hash = info_hash
        self.npieces = npieces
        self.total = total
        self.pieces_sent = 0
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind((host, 0))
        self.lsock.listen(4)
        self.lsock.settimeout(0.2)
        self.host = host
        self.address = '%s:%d' % (host, self.lsock.getsockname()[1])
        self.stop = threading.Event()
        self.conns = []
        self.th = threading.Thread(target=self.accept_loop, daemon=True)
        self.th.start()

    def accept_loop(self):
        while not self.stop.is_set():
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    @staticmethod
    def recv_exact(c, n):
        buf = b''
        while len(buf) < n:
            chunk = c.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def serve(self, c):
        c.settimeout(30)
        try:
            hs = self.recv_exact(c, 68)
            if hs[0] != 19 or hs[1:20] != b'BitTorrent protocol' or hs[28:48] != self.info_hash:
                return
            c.sendall(b'\x13BitTorrent protocol' + bytes(8) + self.info_hash
                      + b'-PY0001-' + hashlib.sha1(b'bad').digest()[:12])
            nbytes = (self.npieces + 7) // 8
            bits = bytearray(b'\xff' * nbytes)
            if self.npieces % 8:
                bits[-1] = (0xff << (8 - self.npieces % 8)) & 0xff
            c.sendall(struct.pack('>IB', 1 + nbytes, 5) + bytes(bits))
            c.sendall(struct.pack('>IB', 1, 1))          # unchoke
            for _ in range(100000):
                if self.stop.is_set():
                    return
                (n,) = struct.unpack('>I', self.recv_exact(c, 4))
                if n == 0:
                    continue
                if n > 1 << 20:
                    return
                msg = self.recv_exact(c, n)
                if msg[0] == 6 and n == 13:              # request
                    index, begin, length = struct.unpack('>III', msg[1:])
                    junk = hashlib.sha256(b'%d:%d' % (index, begin)).digest()
                    block = (junk * (length // 32 + 1))[:length]
                    c.sendall(struct.pack('>IBII', 9 + length, 7, index, begin) + block)
                    self.pieces_sent += 1
        except (EOFError, OSError, struct.error):
            pass
        finally:
            c.close()

    def close(self):
        self.stop.set()
        self.lsock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.th.join(5)


class SettingsTest(DaemonTest):

    def test_session_get_and_set(self):
        d = self.daemon()
        self.assertEqual(d.call('session.get'), {'settings': SETTINGS})
        self.assertEqual(d.call('session.get', {'key': 'upload_slots'}),
                         {'settings': {'upload_slots': 4}})
        r = d.call('session.set', {'key': 'upload_rate_limit', 'value': '10M'})
        self.assertEqual(r['settings']['upload_rate_limit'], 10 << 20)
        r = d.call('session.set', {'key': 'download_rate_limit', 'value': '512K'})
        self.assertEqual(r['settings']['download_rate_limit'], 512 << 10)
        r = d.call('session.set', {'key': 'upload_slots', 'value': 8})
        self.assertEqual(r['settings']['upload_slots'], 8)
        expect = dict(SETTINGS, upload_rate_limit=10 << 20, download_rate_limit=512 << 10,
                      upload_slots=8)
        self.assertEqual(r, {'settings': expect})
        for params in ({'key': 'no_such_setting', 'value': 1},
                       {'key': 'upload_slots', 'value': -1},
                       {'key': 'upload_rate_limit', 'value': 'fast'},
                       {'key': 'upload_rate_limit', 'value': '10Q'},
                       {'key': 'max_connections', 'value': True},
                       {'key': 'upload_slots'},
                       {'value': 3},
                       {'key': 'upload_slots', 'value': 3, 'extra': 1}):
            with self.subTest(params=params):
                self.assertRpcError(d.error('session.set', params), INVALID_PARAMS)
        self.assertRpcError(d.error('session.get', {'key': 'no_such_setting'}), INVALID_PARAMS)
        self.assertEqual(d.call('session.get'), {'settings': expect},
                         'a refused set changed a setting')
        self.assertEqual(d.stop()[0], 0)
        d.start()
        self.assertEqual(d.call('session.get'), {'settings': expect},
                         'settings must survive a restart')


if __name__ == '__main__':
    main()
