#!/usr/bin/python3
"""p2pd starts from a magnet link alone: libtorrent seeds, p2pd adds the magnet,
is told libtorrent's address with peer.add, fetches the info dict over ut_metadata
(BEP 9), checks it against the info-hash, then downloads; the copy must equal the
original and the torrent must know its real name and size."""

import os
import time

from interop import (PIECE, SIZE, InteropTest, info_hash_hex, lt_make_torrent, main,
                     p2pd_describe, rate_line, require, say, write_random_file)

require(libtorrent=True)

NAME = 'magnet-from-libtorrent.bin'


class MagnetFromLibtorrent(InteropTest):

    def test_p2pd_fetches_metadata_then_data(self):
        work = self.scratch()
        src = os.path.join(work, 'seed', NAME)
        write_random_file(src, SIZE)
        torrent = lt_make_torrent(src, PIECE)
        ih = info_hash_hex(torrent)

        lt = self.lt_session('libtorrent-seeder')
        lt.ses.add_extension('ut_metadata')
        h = lt.add(torrent, os.path.dirname(src), seed=True)

        d = self.daemon()
        t = d.call('torrent.add', {'magnet': 'magnet:?xt=urn:btih:' + ih})
        tid = t['id']
        self.assertEqual((t['state'], t['size'], t['name']), ('downloading', 0, ih), t)
        t0 = time.monotonic()
        d.call('peer.add', {'id': tid, 'address': '127.0.0.1:%d' % lt.port})
        deadline = time.monotonic() + 60
        g = None
        while time.monotonic() < deadline:
            lt.pump()
            g = d.call('torrent.get', {'id': tid})
            if g['state'] in ('seeding', 'error'):
                break
            time.sleep(0.1)
        if g is None or g['state'] != 'seeding':
            self.fail('p2pd did not complete the magnet download: %s\n%s\n%s'
                      % (g, p2pd_describe(d, tid), lt.describe(h)))
        dt = time.monotonic() - t0
        self.assertEqual((g['name'], g['size'], g['info_hash']), (NAME, SIZE, ih), g)
        self.assertSameFile(os.path.join(d.download_dir, NAME), src, 'p2pd download from a magnet')
        say(rate_line('libtorrent -> p2pd (magnet)', SIZE, dt))


if __name__ == '__main__':
    main()
