#!/usr/bin/python3
"""Resource limits (issue 6, item 4), each set small in a config file and then
exceeded: max_torrents, max_metadata_size (a .torrent file, base64 metainfo, and
an info dict offered by a peer for a magnet), max_files_per_torrent (added and
shared), max_open_files (max_connections lowered to fit; too small refused at
start-up; a flood of peers neither exhausts descriptors nor fails the seeding
torrent) and max_connections (the most peers at once). Every refusal must name
the key, so the user knows what to raise."""

import base64
import os
import subprocess
import socket
import time

from xfer import (KiB, MiB, XferTest, data_bytes, main, wait_until, write_file)
from p2ptest import INVALID_TORRENT, LIMIT, make_torrent

HANDSHAKE_LEN = 68


def handshake(ih_hex, n):
    pid = ('-PY0001-%012d' % n).encode()
    return bytes([19]) + b'BitTorrent protocol' + bytes(8) + bytes.fromhex(ih_hex) + pid


def open_peers(addr, ih, count, first_ip=20, timeout=5.0):
    """count handshaking TCP connections to addr from 127.0.0.first_ip.., kept open."""
    host, port = addr.rsplit(':', 1)
    socks = []
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.bind(('127.0.0.%d' % (first_ip + i % 200), 0))
        try:
            s.connect((host, int(port)))
            s.sendall(handshake(ih, i))
        except OSError:
            s.close()
            continue
        socks.append(s)
    return socks


class ResourceLimitTest(XferTest):

    def limited(self, n, text):
        d = self.daemon(start=False, listen='127.0.0.%d:0' % n, args=['--log-level', 'debug'],
                        config=text)
        d.ip = '127.0.0.%d' % n
        d.start()
        d.addr = self.listen_addr(d)
        return d

    def test_max_torrents(self):
        d = self.limited(2, 'max_torrents = 2\n')
        for i in range(2):
            d.call('torrent.add', {'magnet': ('%x' % (i + 1)) * 40})
        e = d.error('torrent.add', {'magnet': 'c' * 40})
        self.assertRpcError(e, LIMIT, 'max_torrents')

    def test_max_metadata_size(self):
        d = self.limited(2, 'max_metadata_size = 4K\n')
        # 400 pieces: 8000 bytes of hashes, so the .torrent is over 4 KiB
        big, _, _ = make_torrent('big.bin', b'b' * (400 * 16 * KiB))
        small, _, _ = make_torrent('small.bin', b's' * 50000)
        self.assertGreater(len(big), 4096)
        e = d.error('torrent.add', {'metainfo': base64.b64encode(big).decode()})
        self.assertRpcError(e, INVALID_TORRENT, 'max_metadata_size')
        p = os.path.join(d.root, 'big.torrent')
        write_file(p, big)
        e = d.error('torrent.add', {'path': p})
        self.assertRpcError(e, INVALID_TORRENT, 'max_metadata_size')
        d.call('torrent.add', {'metainfo': base64.b64encode(small).decode()})

    def test_max_metadata_size_from_peers(self):
        """A magnet whose info dict is bigger than the limit: the peer offering
        it is not asked, and nothing is allocated for it."""
        seeder = self.node(2)
        src = os.path.join(seeder.root, 'many.bin')
        write_file(src, data_bytes(8 * MiB, 'meta'))
        t, _ = self.seed(seeder, src, piece_length=16 * KiB)    # 512 pieces: > 10 KiB dict
        leecher = self.limited(3, 'max_metadata_size = 4K\n')
        tl = leecher.call('torrent.add', {'magnet': 'magnet:?xt=urn:btih:' + t['info_hash']})
        leecher.call('peer.add', {'id': tl['id'], 'address': seeder.addr})
        wait_until(lambda: 'not asking it (max_metadata_size 4096)' in leecher.log_text(),
                   15, what='the leecher to decline the oversized info dict')
        g = leecher.call('torrent.get', {'id': tl['id']})
        self.assertEqual(g['pieces'], 0, 'metadata was fetched past the limit: %r' % g)

    def test_max_files_per_torrent(self):
        d = self.limited(2, 'max_files_per_torrent = 3\n')
        four, _, _ = make_torrent('four', [('a', b'a' * 100), ('b', b'b' * 100),
                                           ('c', b'c' * 100), ('d', b'd' * 100)])
        three, _, _ = make_torrent('three', [('a', b'a' * 100), ('b', b'b' * 100),
                                             ('c', b'c' * 100)])
        e = d.error('torrent.add', {'metainfo': base64.b64encode(four).decode()})
        self.assertRpcError(e, INVALID_TORRENT, 'max_files_per_torrent')
        d.call('torrent.add', {'metainfo': base64.b64encode(three).decode()})
        src = os.path.join(d.root, 'dir4')
        for n in 'abcd':
            write_file(os.path.join(src, n), n.encode() * 1000)
        e = d.error('torrent.share', {'path': src}, timeout=60)
        self.assertIn('max_files_per_torrent', e['message'], e)

    def test_max_open_files_lowers_max_connections(self):
        d = self.limited(2, 'max_open_files = 100\ncontrol_max_clients = 10\n'
                            'max_connections_per_ip = 100\n')
        self.assertIn('max_connections lowered from 500 to 26', d.log_text())
        self.assertEqual(d.call('session.get', {'key': 'max_connections'})
                         ['settings']['max_connections'], 26)
        src = os.path.join(d.root, 'f.bin')
        data = data_bytes(2 * MiB, 'fds')
        write_file(src, data)
        t, meta = self.seed(d, src, piece_length=32 * KiB)
        socks = open_peers(d.addr, t['info_hash'], 60)
        self.addCleanup(lambda: [s.close() for s in socks])
        time.sleep(1.0)
        peers = d.call('torrent.peers', {'id': t['id']})['peers']
        print('%d connections opened, %d peers kept' % (len(socks), len(peers)))
        self.assertLessEqual(len(peers), 26)
        # descriptors never ran out: the seed serves a real leecher, no torrent failed
        leecher = self.node(3)
        for s in socks[:40]:
            s.close()
        tl = self.leech(leecher, meta, peers=[d.addr])
        self.wait_done(leecher, tl['id'], 60)
        self.assertSameBytes(os.path.join(leecher.download_dir, 'f.bin'), data)
        self.assertEqual(d.call('torrent.get', {'id': t['id']})['state'], 'seeding')
        self.assertNotIn('Too many open files', d.log_text())

    def test_out_of_descriptors_pauses_accepting(self):
        """The open-file limit cut under the daemon's feet (prlimit), so descriptors do
        run out. The daemon must not spin on its listening sockets (accept fails with
        EMFILE while the connection stays queued), and must answer again once
        descriptors are free. (max_connections itself can no longer be set past what
        max_open_files allows: session.set refuses it.)"""
        d = self.limited(2, 'max_open_files = 100\ncontrol_max_clients = 10\n'
                            'max_connections_per_ip = 1000\n')
        e = d.error('session.set', {'key': 'max_connections', 'value': 1000})
        self.assertIn('raise max_open_files', e['message'])
        d.call('torrent.add', {'magnet': 'd' * 40})
        open_now = len(os.listdir('/proc/%d/fd' % d.pid))
        subprocess.run(['prlimit', '--pid', str(d.pid), '--nofile=%d:%d' % (open_now + 4, 100)],
                       check=True, timeout=10)
        socks = open_peers(d.addr, 'd' * 40, 150)
        self.addCleanup(lambda: [s.close() for s in socks])
        wait_until(lambda: 'listener: out of file descriptors' in d.log_text(), 10,
                   what='the daemon to run out of descriptors')

        def cpu():
            with open('/proc/%d/stat' % d.pid) as f:
                v = f.read().rsplit(')', 1)[1].split()
            return (int(v[11]) + int(v[12])) / os.sysconf('SC_CLK_TCK')
        c0, t0 = cpu(), time.monotonic()
        time.sleep(2.0)
        used = (cpu() - c0) / (time.monotonic() - t0)
        print('CPU while out of descriptors: %.0f%%' % (100 * used))
        self.assertLess(used, 0.5, 'p2pd spins while out of file descriptors')
        for s in socks:
            s.close()
        socks.clear()
        wait_until(lambda: d.call('session.status')['pid'] == d.pid, 10,
                   what='the control socket to answer again')

    def test_max_open_files_too_small_is_refused(self):
        d = self.daemon(start=False, config='max_open_files = 50\ncontrol_max_clients = 10\n')
        d.start(wait=False)
        rc = d.wait_exit(10)
        self.assertIsNotNone(rc, 'p2pd started with 50 file descriptors for 10 clients')
        self.assertNotEqual(rc, 0)
        self.assertIn('max_open_files', d.log_text())
        self.assertIn('control_max_clients', d.log_text())

    def test_max_connections(self):
        d = self.limited(2, 'max_connections = 3\nmax_connections_per_ip = 100\n')
        src = os.path.join(d.root, 'g.bin')
        write_file(src, data_bytes(1 * MiB, 'peers'))
        t, _ = self.seed(d, src, piece_length=32 * KiB)
        socks = open_peers(d.addr, t['info_hash'], 8)
        self.addCleanup(lambda: [s.close() for s in socks])
        # the ones over the limit are closed by the daemon: they read EOF
        closed = 0
        for s in socks:
            s.settimeout(3)
            try:
                got = b''
                while len(got) < HANDSHAKE_LEN:
                    b = s.recv(4096)
                    if not b:
                        break
                    got += b
                closed += len(got) < HANDSHAKE_LEN
            except (socket.timeout, OSError):
                closed += 1
        peers = d.call('torrent.peers', {'id': t['id']})['peers']
        print('%d connections, %d peers kept, %d refused' % (len(socks), len(peers), closed))
        self.assertLessEqual(len(peers), 3)
        self.assertGreaterEqual(closed, len(socks) - 3)
        self.assertIn('max_connections (3) reached', d.log_text())


if __name__ == '__main__':
    main()
