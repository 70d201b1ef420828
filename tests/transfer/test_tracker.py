#!/usr/bin/python3
"""Ten daemons that know only the built-in tracker: one seeds a file with the
tracker's announce URL (HTTP in one test, UDP in the other), nine add the .torrent
and are told nothing else; all nine complete bit-identical, and torrent.trackers
shows the tracker working with the swarm's counts."""

import os
import socket
import struct
import urllib.parse
from xfer import MiB, XferTest, data_bytes, main, write_file


def free_port(host):
    """A port free for both TCP and UDP on host (the tracker binds both)."""
    for _ in range(50):
        with socket.socket() as t, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            t.bind((host, 0))
            port = t.getsockname()[1]
            try:
                u.bind((host, port))
            except OSError:
                continue
            return port
    raise AssertionError('no free port on %s' % host)


class TrackerSwarmTest(XferTest):

    def swarm(self, scheme):
        addr = '127.0.0.2:%d' % free_port('127.0.0.2')
        seeder = self.node(2, debug=False, args=['--tracker-listen', addr])
        leechers = [self.node(3 + i, debug=False) for i in range(9)]
        size = 4 * MiB
        data = data_bytes(size, 'tracker-' + scheme)
        src = os.path.join(seeder.root, 'tracked.bin')
        write_file(src, data)
        url = 'http://%s/announce' % addr if scheme == 'http' else 'udp://%s' % addr
        ts, meta = self.seed(seeder, src, piece_length=64 * 1024, trackers=[url])
        ids = [self.leech(l, meta)['id'] for l in leechers]
        for l, tid in zip(leechers, ids):
            g, took = self.wait_done(l, tid, 120)
            self.assertSameBytes(os.path.join(l.download_dir, 'tracked.bin'), data)
        tr = leechers[0].call('torrent.trackers', {'id': ids[0]})['trackers']
        self.assertEqual([(t['url'], t['status']) for t in tr], [(url, 'working')], tr)
        st = seeder.call('session.status')['tracker']
        self.assertEqual(st['swarms'], 1, st)
        self.assertGreaterEqual(st['peers'], 10, st)

    def test_keep_alive_pipelining_and_forged_udp(self):
        addr_port = free_port('127.0.0.2')
        d = self.node(2, debug=False, args=['--tracker-listen', '127.0.0.2:%d' % addr_port])
        ih = urllib.parse.quote_from_bytes(bytes(range(20)))

        def req(port):
            return ('GET /announce?info_hash=%s&peer_id=%s&port=%d&uploaded=0&downloaded=0'
                    '&left=5&compact=1 HTTP/1.1\r\nHost: t\r\n\r\n' % (ih, ih, port)).encode()
        with socket.create_connection(('127.0.0.2', addr_port), timeout=5) as c:
            c.sendall(req(1111) + req(2222) + req(3333))
            data = b''
            while data.count(b'HTTP/1.1 200') < 3:
                chunk = c.recv(65536)
                self.assertTrue(chunk, 'tracker closed a keep-alive connection: %r' % data)
                data += chunk
        self.assertIn(b'5:peers', data)
        # UDP: garbage gets no answer; an announce with a made-up connection id is refused
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.settimeout(1.0)
            u.sendto(b'garbage' * 3, ('127.0.0.2', addr_port))
            with self.assertRaises(socket.timeout):
                u.recv(2048)
            pkt = (struct.pack('>QII', 0x1234567890ABCDEF, 1, 77) + bytes(range(20)) * 2 +
                   struct.pack('>QQQIIIiH', 0, 5, 0, 0, 0, 0, -1, 6881))
            u.sendto(pkt, ('127.0.0.2', addr_port))
            resp = u.recv(2048)
            action, tid = struct.unpack('>II', resp[:8])
            self.assertEqual((action, tid), (3, 77), resp)
        self.assertEqual(d.call('session.status')['tracker']['peers'], 3)

    def test_http_tracker(self):
        self.swarm('http')

    def test_udp_tracker(self):
        self.swarm('udp')


if __name__ == '__main__':
    main()
