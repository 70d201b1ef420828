#!/usr/bin/python3
"""Faults under real daemons (issue 6, item 5), except the full and the read-only
disk, which need a private mount namespace (test_diskfull.py):

- an fsync that fails (LD_PRELOAD shim failsync.so): the torrent goes to the error
  state, and after a restart no piece whose sync failed counts as had;
- a seeded file deleted or truncated underneath the seeder: it goes to the error
  state naming the file, never serves wrong bytes, and a verify recovers;
- a peer that vanishes in the middle of a block, in both directions;
- the SQLite file corrupt or locked at start-up: a clear message, a non-zero
  exit, and the file left exactly as it was (no silent reset).

Only processes started here are signalled, by pid; all waits are bounded."""

import os
import shutil
import socket
import sqlite3
import struct
import subprocess
import time

from xfer import (KiB, MiB, XferTest, data_bytes, good_pieces, main, read_file, wait_until,
                  write_file)

HERE = os.path.dirname(os.path.abspath(__file__))


def failsync_so():
    return os.environ.get('FAILSYNC_SO', '')


def asan_runtime(binary):
    """The ASan runtime p2pd links to, or None: a preloaded shim must come after it."""
    try:
        out = subprocess.run(['ldd', binary], stdout=subprocess.PIPE, timeout=20,
                             check=False).stdout.decode()
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.splitlines():
        if 'libasan' in line and '=>' in line:
            return line.split('=>')[1].split('(')[0].strip()
    return None


# ---------------------------------------------------------------- a scripted peer

HANDSHAKE_LEN = 68


def handshake(ih_hex, peer_id=b'-PY0001-faultspeer00'):
    return (bytes([19]) + b'BitTorrent protocol' + bytes(8) + bytes.fromhex(ih_hex) + peer_id)


def msg(mid, payload=b''):
    return struct.pack('>IB', 1 + len(payload), mid) + payload


def recv_exact(s, n, deadline):
    out = b''
    while len(out) < n:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        b = s.recv(n - len(out))
        if not b:
            raise ConnectionError('peer closed after %d of %d bytes' % (len(out), n))
        out += b
    return out


def read_msgs(s, want_id, deadline):
    """Reads messages until one of type want_id; returns its payload."""
    while time.monotonic() < deadline:
        (n,) = struct.unpack('>I', recv_exact(s, 4, deadline))
        if n == 0:
            continue
        assert n < (1 << 20), 'message of %d bytes' % n
        body = recv_exact(s, n, deadline)
        if body[0] == want_id:
            return body[1:]
    raise TimeoutError('no message of type %d' % want_id)


def bitfield_all(npieces):
    b = bytearray((npieces + 7) // 8)
    for i in range(npieces):
        b[i // 8] |= 0x80 >> (i % 8)
    return bytes(b)


def connect_peer(addr, ih, timeout=10.0):
    host, port = addr.rsplit(':', 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.sendall(handshake(ih))
    hs = recv_exact(s, HANDSHAKE_LEN, time.monotonic() + timeout)
    assert hs[28:48] == bytes.fromhex(ih), 'handshake for another torrent'
    return s


def vanish(s, reset):
    """Closes s; with reset, by RST (SO_LINGER 0) as a crashed host would."""
    if reset:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    s.close()


class FaultTest(XferTest):

    def shimmed_node(self, n, after, faillog):
        """A p2pd on 127.0.0.n whose syncs of downloaded data fail after `after`."""
        d = self.daemon(start=False, listen='127.0.0.%d:0' % n, args=['--log-level', 'debug'])
        rt = asan_runtime(os.environ['P2PD'])
        d.env = {'LD_PRELOAD': ':'.join(x for x in (rt, failsync_so()) if x),
                 'FAILSYNC_MATCH': d.download_dir, 'FAILSYNC_AFTER': str(after),
                 'FAILSYNC_LOG': faillog}
        d.ip = '127.0.0.%d' % n
        d.start()
        d.addr = self.listen_addr(d)
        return d

    def claimed_pieces_are_right(self, d, tid, path, data, plen):
        """Every piece d claims to have is byte-identical on disk."""
        g = d.call('torrent.get', {'id': tid})
        good = set(good_pieces(path, data, plen))
        self.assertLessEqual(g['pieces_have'], len(good),
                             'claims %d pieces, only %d are right on disk: %r'
                             % (g['pieces_have'], len(good), g))
        return g

    # ------------------------------------------------------------ fsync fails

    def test_failed_sync_is_never_recorded(self):
        so = failsync_so()
        if not so or not os.path.exists(so):
            self.skipTest('failsync.so not built (FAILSYNC_SO unset)')
        seeder = self.node(2)
        plen = 64 * KiB
        size = 6 * MiB
        data = data_bytes(size, 'failsync')
        src = os.path.join(seeder.root, 'synced.bin')
        write_file(src, data)
        t, meta = self.seed(seeder, src, piece_length=plen)
        faillog = os.path.join(seeder.root, 'failsync.log')
        leecher = self.shimmed_node(3, 0, faillog)
        tl = self.leech(leecher, meta, peers=[seeder.addr])
        g = self.wait_state(leecher, tl['id'], 'error', timeout=60)
        print('torrent after the failed sync: %r' % g)
        self.assertTrue(os.path.exists(faillog), 'the shim never failed a sync')
        self.assertIn('sync', g['error'])
        self.assertIn('Input/output error', g['error'])
        # the control socket and other torrents go on
        self.assertEqual(leecher.call('session.status')['pid'], leecher.pid)
        # whatever the daemon announced in memory, the database holds nothing unsynced
        leecher.kill9()
        leecher.env = None
        self.restart(leecher)
        g = leecher.call('torrent.get', {'id': tl['id']})
        print('after kill -9 and a restart without the shim: %r' % g)
        self.assertEqual(g['pieces_have'], 0,
                         'pieces whose sync failed are counted as had after a restart: %r' % g)
        self.assertEqual(g['completed'], 0, g)
        self.assertNotEqual(g['state'], 'seeding', g)
        # resuming re-checks what is on disk, then finishes from the seeder
        leecher.call('torrent.resume', {'id': tl['id']})
        self.wait_state(leecher, tl['id'], ('downloading', 'seeding'), timeout=60)
        leecher.call('peer.add', {'id': tl['id'], 'address': seeder.addr})
        self.wait_done(leecher, tl['id'], 60)
        self.assertSameBytes(os.path.join(leecher.download_dir, 'synced.bin'), data)

    def test_failed_sync_after_some_good_ones(self):
        """Syncs succeed for a while, then fail: only what was synced before counts."""
        so = failsync_so()
        if not so or not os.path.exists(so):
            self.skipTest('failsync.so not built (FAILSYNC_SO unset)')
        seeder = self.node(2)
        plen = 16 * KiB
        size = 24 * MiB
        data = data_bytes(size, 'failsync2')
        src = os.path.join(seeder.root, 'partly.bin')
        write_file(src, data)
        t, meta = self.seed(seeder, src, piece_length=plen)
        # a slow seeder, so the leecher's 2-second sync batches see a few pieces each
        seeder.call('session.set', {'key': 'upload_rate_limit', 'value': '2M'})
        faillog = os.path.join(seeder.root, 'failsync.log')
        leecher = self.shimmed_node(3, 2, faillog)
        tl = self.leech(leecher, meta, peers=[seeder.addr])
        g = self.wait_state(leecher, tl['id'], 'error', timeout=90)
        self.assertTrue(os.path.exists(faillog), 'the shim never failed a sync')
        had = g['pieces_have']
        leecher.stop()
        leecher.env = None
        self.restart(leecher)
        g2 = leecher.call('torrent.get', {'id': tl['id']})
        print('in memory at the error: %d pieces; recorded after restart: %d'
              % (had, g2['pieces_have']))
        self.assertLess(g2['pieces_have'], g2['pieces'], g2)
        self.assertEqual(g2['completed'], 0, g2)
        self.claimed_pieces_are_right(leecher, tl['id'],
                                      os.path.join(leecher.download_dir, 'partly.bin'),
                                      data, plen)

    # ------------------------------------------------------------ seeded data vanishes

    def test_seeded_file_deleted(self):
        seeder, leecher = self.node(2), self.node(3)
        plen = 32 * KiB
        data = data_bytes(2 * MiB, 'deleted')
        src = os.path.join(seeder.root, 'gone.bin')
        write_file(src, data)
        t, meta = self.seed(seeder, src, piece_length=plen)
        os.unlink(src)
        tl = self.leech(leecher, meta, peers=[seeder.addr])
        g = self.wait_state(seeder, t['id'], 'error', timeout=30)
        print('seeder after its file was deleted: %r' % g['error'])
        self.assertIn('missing', g['error'])
        self.assertEqual(seeder.call('session.status')['pid'], seeder.pid)
        gl = leecher.call('torrent.get', {'id': tl['id']})
        self.assertEqual(gl['pieces_have'], 0, gl)
        self.assertFalse(os.path.exists(os.path.join(leecher.download_dir, 'gone.bin'))
                         and read_file(os.path.join(leecher.download_dir, 'gone.bin')).strip(b'\0'),
                         'the leecher wrote bytes it could not have received')
        # put it back: resume re-checks, then serves again
        write_file(src, data)
        seeder.call('torrent.resume', {'id': t['id']})
        self.wait_state(seeder, t['id'], 'seeding', timeout=30)
        leecher.call('peer.add', {'id': tl['id'], 'address': seeder.addr})
        self.wait_done(leecher, tl['id'], 60)
        self.assertSameBytes(os.path.join(leecher.download_dir, 'gone.bin'), data)

    def test_seeded_file_truncated(self):
        seeder, leecher = self.node(2), self.node(3)
        plen = 32 * KiB
        data = data_bytes(4 * MiB, 'truncated')
        src = os.path.join(seeder.root, 'short.bin')
        write_file(src, data)
        t, meta = self.seed(seeder, src, piece_length=plen)
        cut = len(data) // 2 + 1000     # in the middle of a piece
        os.truncate(src, cut)
        tl = self.leech(leecher, meta, peers=[seeder.addr])
        g = self.wait_state(seeder, t['id'], 'error', timeout=30)
        print('seeder after truncation: %r' % g['error'])
        self.assertIn('missing', g['error'])
        self.assertIn('truncated', g['error'])
        dst = os.path.join(leecher.download_dir, 'short.bin')
        gl = self.claimed_pieces_are_right(leecher, tl['id'], dst, data, plen)
        self.assertLessEqual(gl['pieces_have'], cut // plen,
                             'the leecher has pieces from past the cut: %r' % gl)
        # verify finds exactly the pieces still whole
        v = seeder.call('torrent.verify', {'id': t['id'], 'wait': True}, timeout=60)
        self.assertEqual(v['pieces_have'], cut // plen, v)
        self.assertEqual(v['state'], 'downloading', v)
        # restore the file: a verify makes it a seed again and the leecher finishes
        write_file(src, data)
        v = seeder.call('torrent.verify', {'id': t['id'], 'wait': True}, timeout=60)
        self.assertEqual(v['state'], 'seeding', v)
        leecher.call('peer.add', {'id': tl['id'], 'address': seeder.addr})
        self.wait_done(leecher, tl['id'], 60)
        self.assertSameBytes(dst, data)

    # ------------------------------------------------------------ a peer vanishes

    def test_seeding_peer_vanishes_mid_block(self):
        """A scripted seeder sends half a block, then disappears (FIN, then RST):
        the leecher drops it, re-asks the block elsewhere and finishes intact."""
        seeder, leecher = self.node(2), self.node(3)
        plen = 32 * KiB
        data = data_bytes(1 * MiB, 'vanish')
        src = os.path.join(seeder.root, 'v.bin')
        write_file(src, data)
        t, meta = self.seed(seeder, src, piece_length=plen)
        tl = self.leech(leecher, meta)
        for reset in (False, True):
            with self.subTest(reset=reset):
                s = connect_peer(leecher.addr, t['info_hash'])
                s.sendall(msg(5, bitfield_all(t['pieces'])) + msg(1))
                req = read_msgs(s, 6, time.monotonic() + 15)
                index, begin, length = struct.unpack('>III', req)
                self.assertLessEqual(length, 16 * KiB)
                off = index * plen + begin
                block = data[off:off + length]
                s.sendall(struct.pack('>IBII', 9 + length, 7, index, begin)
                          + block[:length // 2])
                time.sleep(0.2)
                vanish(s, reset)
                wait_until(lambda: not leecher.call('torrent.peers', {'id': tl['id']})['peers'],
                           10, what='the leecher to drop the vanished peer')
                self.assertEqual(leecher.call('torrent.get', {'id': tl['id']})['pieces_have'], 0)
        leecher.call('peer.add', {'id': tl['id'], 'address': seeder.addr})
        self.wait_done(leecher, tl['id'], 60)
        self.assertSameBytes(os.path.join(leecher.download_dir, 'v.bin'), data)

    def test_leeching_peer_vanishes_mid_block(self):
        """A scripted leecher asks for many blocks, reads part of one and
        disappears: the seeder frees the connection and goes on serving."""
        seeder, leecher = self.node(2), self.node(3)
        plen = 32 * KiB
        data = data_bytes(4 * MiB, 'vanish2')
        src = os.path.join(seeder.root, 'w.bin')
        write_file(src, data)
        t, meta = self.seed(seeder, src, piece_length=plen)
        for reset in (False, True):
            with self.subTest(reset=reset):
                s = connect_peer(seeder.addr, t['info_hash'])
                s.sendall(msg(2))
                read_msgs(s, 1, time.monotonic() + 15)      # unchoke
                reqs = b''.join(msg(6, struct.pack('>III', i, b, 16 * KiB))
                                for i in range(8) for b in (0, 16 * KiB))
                s.sendall(reqs)
                (n,) = struct.unpack('>I', recv_exact(s, 4, time.monotonic() + 15))
                recv_exact(s, 5000, time.monotonic() + 15)    # part of a piece message
                vanish(s, reset)
                wait_until(lambda: not seeder.call('torrent.peers', {'id': t['id']})['peers'],
                           10, what='the seeder to drop the vanished peer')
        self.assertEqual(seeder.call('torrent.get', {'id': t['id']})['state'], 'seeding')
        tl = self.leech(leecher, meta, peers=[seeder.addr])
        self.wait_done(leecher, tl['id'], 60)
        self.assertSameBytes(os.path.join(leecher.download_dir, 'w.bin'), data)

    # ------------------------------------------------------------ the database

    def prepared_db(self):
        """A stopped daemon whose database holds one shared torrent."""
        d = self.daemon(start=True)
        p = os.path.join(d.root, 'db.bin')
        write_file(p, b'd' * 50000)
        d.call('torrent.share', {'path': p})
        self.assertEqual(d.stop()[0], 0)
        return d, os.path.join(d.state_dir, 'p2pd.db')

    def assertRefusedStart(self, d, *words):
        d.start(wait=False)
        rc = d.wait_exit(20)
        self.assertIsNotNone(rc, 'p2pd kept running on a bad database')
        self.assertNotEqual(rc, 0)
        log = d.log_text()
        print('start-up refusal: %s' % log.strip().splitlines()[-1:])
        for w in words:
            self.assertIn(w, log)
        self.assertIn('p2pd.db', log)

    def test_corrupt_database_at_start_up(self):
        d, db = self.prepared_db()
        good = read_file(db)
        self.assertGreater(len(good), 8192, 'a database of at least two pages')
        # a file that is not a database at all, then one with a damaged page
        for what, spoil, words in (
                ('header', lambda b: b'this is not sqlite!!' + b[20:], ('not a database',)),
                ('page 2', lambda b: b[:4096] + bytes([0x0d]) + b'\xff' * 4095 + b[8192:],
                 ('corrupt',))):
            with self.subTest(damage=what):
                bad = spoil(good)
                write_file(db, bad)
                for side in ('-wal', '-shm'):
                    if os.path.exists(db + side):
                        os.unlink(db + side)
                self.assertRefusedStart(d, *words)
                self.assertEqual(read_file(db), bad, 'p2pd changed or reset a corrupt database')
        write_file(db, good)
        d.start()
        self.assertEqual(len(d.call('torrent.list')['torrents']), 1)

    def test_locked_database_at_start_up(self):
        d, db = self.prepared_db()
        before = read_file(db)
        con = sqlite3.connect(db, timeout=1, isolation_level=None)
        try:
            con.execute('PRAGMA locking_mode = EXCLUSIVE')
            con.execute('BEGIN EXCLUSIVE')
            con.execute('UPDATE torrents SET name = name')
            self.assertRefusedStart(d, 'locked')
        finally:
            con.execute('ROLLBACK')
            con.close()
        self.assertEqual(read_file(db), before, 'p2pd changed a locked database')
        d.start()
        self.assertEqual(len(d.call('torrent.list')['torrents']), 1)


if __name__ == '__main__':
    main()
