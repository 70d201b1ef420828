#!/usr/bin/python3
"""Ten daemons that know only the built-in tracker: one seeds a file with the
tracker's announce URL (HTTP in one test, UDP in the other), nine add the .torrent
and are told nothing else; all nine complete bit-identical, and torrent.trackers
shows the tracker working with the swarm's counts."""

import os
import socket
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

    def test_http_tracker(self):
        self.swarm('http')

    def test_udp_tracker(self):
        self.swarm('udp')


if __name__ == '__main__':
    main()
