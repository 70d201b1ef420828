#!/usr/bin/python3
"""Peer exchange (BEP 11): a seeder and two leechers know each other; a third
leecher is told only the first leecher's address, learns the seeder and the other
leecher from it over ut_pex, connects to them and completes. With --no-pex on the
newcomer, it learns nobody."""

import os
import time

from xfer import MiB, XferTest, data_bytes, main, write_file  # sets up the path to p2ptest
from p2ptest import wait_until  # noqa: E402


class PexTest(XferTest):

    def setup_swarm(self, newcomer_args=()):
        seeder = self.node(2, debug=False)
        l1 = self.node(3, debug=False)
        l2 = self.node(4, debug=False)
        l3 = self.node(5, debug=False, args=list(newcomer_args))
        size = 16 * MiB
        data = data_bytes(size, 'pex')
        src = os.path.join(seeder.root, 'shared.bin')
        write_file(src, data)
        ts, meta = self.seed(seeder, src, piece_length=64 * 1024)
        # slow enough that the swarm is still busy when the newcomer arrives
        seeder.call('session.set', {'key': 'upload_rate_limit', 'value': '2M'})
        t1 = self.leech(l1, meta, peers=[seeder.addr])
        self.leech(l2, meta, peers=[seeder.addr, l1.addr])
        t3 = self.leech(l3, meta, peers=[l1.addr])
        return seeder, l1, l2, l3, t3, data

    def test_newcomer_learns_the_swarm(self):
        seeder, l1, l2, l3, t3, data = self.setup_swarm()

        def knows_all():
            got = {p['address'].rsplit(':', 1)[0]
                   for p in l3.call('torrent.peers', {'id': t3['id']})['peers']}
            return got >= {seeder.ip, l1.ip, l2.ip} and got
        got = wait_until(knows_all, 20, 0.2, 'the newcomer to connect to the whole swarm')
        print('newcomer connected to', sorted(got))
        seeder.call('session.set', {'key': 'upload_rate_limit', 'value': 0})
        self.wait_done(l3, t3['id'], 60)
        self.assertSameBytes(os.path.join(l3.download_dir, 'shared.bin'), data)

    def test_no_pex_learns_nobody(self):
        seeder, l1, l2, l3, t3, data = self.setup_swarm(['--no-pex'])
        wait_until(lambda: l3.call('torrent.peers', {'id': t3['id']})['peers'], 10, 0.1,
                   'the newcomer to connect to its one peer')
        time.sleep(4)  # two PEX rounds would have come by now
        # others may learn of it and dial in; it must not dial anyone it wasn't told of
        out = {p['address'].rsplit(':', 1)[0]
               for p in l3.call('torrent.peers', {'id': t3['id']})['peers']
               if p['direction'] == 'out'}
        self.assertEqual(out, {l1.ip}, 'dialled peers learned with --no-pex: %s' % out)


if __name__ == '__main__':
    main()
