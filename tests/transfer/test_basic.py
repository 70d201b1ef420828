#!/usr/bin/python3
"""One seeder (127.0.0.2) -> one leecher (127.0.0.3): a single 24 MiB file and a
multi-file directory (nested folders, an empty file, sizes that are not multiples
of the piece size) arrive bit-identical; torrent.peers shows the seeder while the
download runs; the byte counters on both sides add up."""

import os
from xfer import MiB, XferTest, data_bytes, main, tree, write_file


class BasicTransferTest(XferTest):

    def transfer(self, seeder, leecher, meta, size, rate):
        """Starts the download, samples both sides until done. Returns (leecher
        torrent, seconds, samples of (leecher torrent, leecher peers, seeder peers))."""
        seeder.call('session.set', {'key': 'upload_rate_limit', 'value': rate})
        tl = self.leech(leecher, meta, peers=[seeder.addr])
        self.assertEqual((tl['state'], tl['pieces_have'], tl['have_bytes']),
                         ('downloading', 0, 0), tl)
        samples = []

        def sample(g):
            if g['state'] == 'downloading':
                samples.append((g, leecher.call('torrent.peers', {'id': tl['id']})['peers']))
        g, took = self.wait_done(leecher, tl['id'], 60, sample)
        return tl, g, took, samples

    def check_counters(self, seeder, ts, leecher, g, size):
        self.assertEqual((g['pieces_have'], g['have_bytes'], g['progress']),
                         (g['pieces'], size, 1.0), g)
        self.assertGreater(g['completed'], 0, 'completed time not set: %r' % g)
        self.assertGreaterEqual(g['downloaded'], size, "leecher's downloaded counter: %r" % g)
        # endgame may fetch a few blocks twice, but not much more than the torrent
        self.assertLessEqual(g['downloaded'], size * 1.05 + 4 * g['piece_length'],
                             "leecher's downloaded counter far above the size: %r" % g)
        self.assertEqual(g['uploaded'], 0, 'the leecher uploaded to nobody: %r' % g)
        s = self.wait_state(seeder, ts['id'], 'seeding')
        self.assertGreaterEqual(s['uploaded'], size, "seeder's uploaded counter: %r" % s)
        self.assertLessEqual(s['uploaded'], size * 1.05 + 4 * g['piece_length'],
                             "seeder's uploaded counter far above the size: %r" % s)
        self.assertEqual(s['downloaded'], 0, 'the seeder downloaded from nobody: %r' % s)

    def check_peer_view(self, samples, seeder, took):
        with_peer = [(g, peers) for g, peers in samples
                     if any(p['address'] == seeder.addr for p in peers)]
        self.assertTrue(with_peer, 'torrent.peers never showed the seeder %s during the %.1f s '
                        'download (%d samples: %r)' % (seeder.addr, took, len(samples),
                                                       samples[-3:]))
        for g, peers in with_peer:
            self.assertEqual([p['address'] for p in peers], [seeder.addr],
                             'the leecher knows only the seeder: %r' % peers)
            p = peers[0]
            self.assertEqual(p['direction'], 'out', p)
            self.assertEqual(p['progress'], 1.0, 'the seeder has every piece: %r' % p)
        # the connection's counter grows as the download goes
        got = [peers[0]['downloaded'] for _, peers in with_peer]
        self.assertEqual(got, sorted(got), 'per-connection downloaded went down: %s' % got)
        self.assertGreater(got[-1], 0, 'nothing received from the seeder while downloading')

    def test_single_file(self):
        seeder = self.node(2)
        leecher = self.node(3)
        size = 24 * MiB
        data = data_bytes(size, 'basic-single')
        src = os.path.join(seeder.root, 'movie.bin')
        write_file(src, data)
        ts, meta = self.seed(seeder, src, piece_length=256 * 1024)
        self.assertEqual(ts['size'], size)
        # 12 MiB/s: about 2 s, long enough to watch the connection
        tl, g, took, samples = self.transfer(seeder, leecher, meta, size, '12M')
        print('single file: %d MiB in %.2f s' % (size // MiB, took))
        self.assertSameBytes(os.path.join(leecher.download_dir, 'movie.bin'), data)
        self.check_counters(seeder, ts, leecher, g, size)
        self.check_peer_view(samples, seeder, took)
        files = leecher.call('torrent.files', {'id': tl['id']})['files']
        self.assertEqual([(f['path'], f['size'], f['have_bytes']) for f in files],
                         [('movie.bin', size, size)])

    def test_multi_file(self):
        seeder = self.node(2)
        leecher = self.node(3)
        plen = 64 * 1024
        content = [
            ('a-first.bin', data_bytes(3 * plen + 1, 'm1')),
            ('docs/readme.txt', b'hello from the seeder\n' * 37),
            ('docs/empty.txt', b''),
            ('music/cd1/01 track.flac', data_bytes(5 * MiB - 12345, 'm2')),
            ('music/cd1/02 track.flac', data_bytes(plen - 1, 'm3')),
            ('music/cd2/deep/nested/03.flac', data_bytes(2 * MiB + 77, 'm4')),
            ('z-last.bin', data_bytes(1, 'm5')),
        ]
        root = os.path.join(seeder.root, 'album')
        for rel, d in content:
            write_file(os.path.join(root, rel), d)
        size = sum(len(d) for _, d in content)
        ts, meta = self.seed(seeder, root, piece_length=plen)
        self.assertEqual((ts['size'], ts['files']), (size, len(content)), ts)
        # about 2 s at 4 MiB/s
        tl, g, took, samples = self.transfer(seeder, leecher, meta, size, '4M')
        print('multi-file: %d bytes in %d files in %.2f s' % (size, len(content), took))
        got_root = os.path.join(leecher.download_dir, 'album')
        for rel, d in content:
            if d:
                self.assertSameBytes(os.path.join(got_root, rel), d, rel)
        self.check_counters(seeder, ts, leecher, g, size)
        self.check_peer_view(samples, seeder, took)
        files = leecher.call('torrent.files', {'id': tl['id']})['files']
        self.assertEqual(sorted((f['path'], f['size'], f['have_bytes']) for f in files),
                         sorted((rel, len(d), len(d)) for rel, d in content))
        # a complete download has every file of the torrent, the empty one too,
        # and nothing else
        self.assertTrue(os.path.isfile(os.path.join(got_root, 'docs', 'empty.txt')),
                        'the empty file docs/empty.txt of the completed download was not '
                        'created; the download folder has: %s' % sorted(tree(got_root)))
        self.assertSameTree(got_root, root)


if __name__ == '__main__':
    main()
