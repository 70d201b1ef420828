#!/usr/bin/python3
"""Rate limits hold on a real transfer (download limit on the leecher, upload limit
on the seeder: the transfer takes as long as the limit says and the reported rate
stays near it), and peer.add refuses what it must (bad address, paused torrent)."""

import os
import statistics
import time

from xfer import (BUSY, INVALID_PARAMS, MiB, XferTest, data_bytes, main, write_file)

LIMIT = 2 * MiB
SIZE = 8 * MiB


class LimitsTest(XferTest):

    def limited_transfer(self, who, key):
        """Sets key to 2M on the seeder or the leecher, downloads 8 MiB; returns
        (seconds, [(seconds since start, rate) samples of the limited side])."""
        seeder = self.node(2)
        leecher = self.node(3)
        data = data_bytes(SIZE, key)
        src = os.path.join(seeder.root, 'limited.bin')
        write_file(src, data)
        ts, meta = self.seed(seeder, src, piece_length=64 * 1024)
        limited = seeder if who == 'seeder' else leecher
        r = limited.call('session.set', {'key': key, 'value': '2M'})
        self.assertEqual(r['settings'][key], LIMIT)
        field = 'up_rate' if key == 'upload_rate_limit' else 'down_rate'
        samples = []
        t0 = time.monotonic()
        tl = self.leech(leecher, meta, peers=[seeder.addr])

        def sample(g):
            samples.append((time.monotonic() - t0, limited.call('session.status')[field]))
        g, took = self.wait_done(leecher, tl['id'], 60, sample, interval=0.2)
        self.assertSameBytes(os.path.join(leecher.download_dir, 'limited.bin'), data)
        mid = [r for t, r in samples if 1.0 <= t <= took - 0.5]
        print('%s %s: %d MiB in %.2f s (%.2f MiB/s); %s samples (MiB/s): %s'
              % (who, key, SIZE // MiB, took, SIZE / took / MiB, field,
                 ' '.join('%.2f' % (r / MiB) for r in mid)))
        # 8 MiB at 2 MiB/s is 4 s; allow a burst at the start, not more
        self.assertGreaterEqual(took, 3.0, '%d MiB arrived in %.2f s with %s = 2 MiB/s'
                                % (SIZE // MiB, took, key))
        # and the limit is a limit, not a brake: at least half of it is used
        self.assertLessEqual(took, 8.5, '%d MiB took %.2f s with %s = 2 MiB/s'
                             % (SIZE // MiB, took, key))
        self.assertGreaterEqual(len(mid), 5, 'too few rate samples: %r' % samples)
        self.assertLessEqual(max(mid), 1.5 * LIMIT, 'reported %s above the limit: %s'
                             % (field, mid))
        med = statistics.median(mid)
        self.assertGreaterEqual(med, 0.6 * LIMIT, 'reported %s far below the limit: %s'
                                % (field, mid))
        return took, samples

    def test_download_rate_limit(self):
        self.limited_transfer('leecher', 'download_rate_limit')

    def test_upload_rate_limit(self):
        self.limited_transfer('seeder', 'upload_rate_limit')

    def test_peer_add_refusals(self):
        seeder = self.node(2)
        leecher = self.node(3)
        src = os.path.join(seeder.root, 'small.bin')
        write_file(src, data_bytes(MiB, 'small'))
        ts, meta = self.seed(seeder, src, piece_length=64 * 1024)
        tl = self.leech(leecher, meta, paused=True)
        self.assertEqual(tl['state'], 'paused', tl)
        err = leecher.error('peer.add', {'id': tl['id'], 'address': seeder.addr})
        self.assertRpcError(err, BUSY)
        self.assertEqual(leecher.call('torrent.peers', {'id': tl['id']})['peers'], [])
        leecher.call('torrent.resume', {'id': tl['id']})
        for addr in ('127.0.0.2', '127.0.0.2:', ':6881', '127.0.0.2:65536', '127.0.0.2:-1',
                     '127.0.0.256:6881', '127.0.0.2:6881x', 'seeder.example:6881',
                     '[127.0.0.2]:6881x', '[::1:6881', '127.0.0.2:6881 ', ' 127.0.0.2:6881',
                     '127.0.0.2:6881\n', '127.0.0.2:6881,127.0.0.3:6881'):
            with self.subTest(address=addr):
                self.assertRpcError(leecher.error('peer.add', {'id': tl['id'], 'address': addr}),
                                    INVALID_PARAMS)
        # none of that started a connection; the right address still works
        self.assertEqual(leecher.call('torrent.peers', {'id': tl['id']})['peers'], [])
        leecher.call('peer.add', {'id': tl['id'], 'address': seeder.addr})
        self.wait_done(leecher, tl['id'], 30)


if __name__ == '__main__':
    main()
