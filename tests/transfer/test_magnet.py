#!/usr/bin/python3
"""A magnet link is enough: a leecher that knows only the info-hash and one
peer's address fetches the info dict from it (BEP 9 ut_metadata), checks it against
the info-hash, records it (name, size and files survive a restart), then downloads
the multi-file data bit-identical; peers it was given are dialled again after a
restart without another peer.add."""

import os
from xfer import MiB, XferTest, data_bytes, main, write_file  # sets up the path to p2ptest
from p2ptest import wait_until  # noqa: E402


class MagnetTest(XferTest):

    def test_magnet_download(self):
        seeder = self.node(2)
        leecher = self.node(3)
        content = [('one.bin', data_bytes(3 * MiB + 17, 'mag1')),
                   ('sub/two.bin', data_bytes(2 * MiB, 'mag2'))]
        root = os.path.join(seeder.root, 'set')
        for rel, d in content:
            write_file(os.path.join(root, rel), d)
        size = sum(len(d) for _, d in content)
        ts, meta = self.seed(seeder, root, piece_length=64 * 1024)
        ih = ts['info_hash']
        seeder.call('session.set', {'key': 'upload_rate_limit', 'value': '2M'})

        t = leecher.call('torrent.add', {'magnet': 'magnet:?xt=urn:btih:' + ih})
        self.assertEqual((t['state'], t['size'], t['pieces'], t['origin']),
                         ('downloading', 0, 0, 'magnet'), t)
        leecher.call('peer.add', {'id': t['id'], 'address': seeder.addr})

        # the info dict comes first: name and size appear while data still flows
        def has_meta():
            g = leecher.call('torrent.get', {'id': t['id']})
            return g if g['size'] == size else None
        g = wait_until(has_meta, 20, 0.05, "the info dict to arrive")
        self.assertEqual((g['name'], g['files']), ('set', 2), g)

        # a restart keeps it, and the known peer is dialled again by itself
        leecher.stop()
        self.restart(leecher)
        g = leecher.call('torrent.get', {'id': t['id']})
        self.assertEqual((g['name'], g['size'], g['info_hash']), ('set', size, ih), g)
        seeder.call('session.set', {'key': 'upload_rate_limit', 'value': 0})
        g, took = self.wait_done(leecher, t['id'], 60)
        print('magnet: %d bytes in %.2f s after the restart' % (size, took))
        for rel, d in content:
            self.assertSameBytes(os.path.join(leecher.download_dir, 'set', rel), d, rel)


if __name__ == '__main__':
    main()
