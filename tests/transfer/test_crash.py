#!/usr/bin/python3
"""kill -9 of a downloading p2pd, ten times at random moments of one download.

After each crash the leecher restarts on the same folders and the test checks the
crash rule of ARCHITECTURE.md: the daemon never claims a piece whose bytes on disk
are wrong (its pieces_have never exceeds the number of pieces of the file that
really equal the original, counted here in Python), it loses at most the last few
seconds of progress, and the download goes on to a bit-identical end that
torrent.verify confirms. XFER_SEED=N replays one sequence of kill moments."""

import os
import random
import time

from xfer import KiB, MiB, XferTest, data_bytes, good_pieces, main, write_file

KILLS = 10
SIZE = 64 * MiB
PLEN = 16 * KiB
RATE = 2 * MiB          # the seeder's upload limit: about 32 s of transfer in all
DURABLE_AFTER = 3.0     # pieces reported this long before a kill must survive it


class CrashTest(XferTest):

    def test_kill9_ten_times_during_one_download(self):
        seed = int(os.environ.get('XFER_SEED') or time.time())
        rng = random.Random(seed)
        print('kill moments from XFER_SEED=%d' % seed)
        seeder = self.node(2)
        leecher = self.node(3)
        data = data_bytes(SIZE, 'crash')
        src = os.path.join(seeder.root, 'disk.img')
        write_file(src, data)
        ts, meta = self.seed(seeder, src, piece_length=PLEN)
        npieces = ts['pieces']
        seeder.call('session.set', {'key': 'upload_rate_limit', 'value': RATE})
        tl = self.leech(leecher, meta, peers=[seeder.addr])
        tid = tl['id']
        path = os.path.join(leecher.download_dir, 'disk.img')
        report = []
        start_have = 0          # pieces_have reported right after the last (re)start
        for k in range(KILLS):
            delay = rng.uniform(0.3, 4.0)
            life = []           # (time, pieces_have) while this instance ran
            t0 = time.monotonic()
            for _ in range(1000):
                g = leecher.call('torrent.get', {'id': tid})
                life.append((time.monotonic(), g['pieces_have']))
                self.assertNotEqual(g['state'], 'error', g)
                self.assertNotEqual(g['state'], 'seeding',
                                    'the download finished after only %d of %d kills; '
                                    'the seeder upload limit of %d B/s did not hold it back'
                                    % (k, KILLS, RATE))
                if time.monotonic() - t0 >= delay:
                    break
                time.sleep(min(0.05, max(0.0, delay - (time.monotonic() - t0))))
            leecher.kill9()
            t_kill = time.monotonic()
            last = life[-1][1]
            durable = [h for t, h in life if t <= t_kill - DURABLE_AFTER]
            ref = max(durable) if durable else start_have
            on_disk = len(good_pieces(path, data, PLEN))
            self.restart(leecher)
            # stop it from changing the file, then compare its claim with the file
            g = leecher.call('torrent.pause', {'id': tid})
            time.sleep(0.2)
            g = leecher.call('torrent.get', {'id': tid})
            on_disk_now = len(good_pieces(path, data, PLEN))
            report.append((k + 1, round(delay, 2), last, on_disk, g['pieces_have'], ref))
            print('kill %2d after %.2f s: reported %4d before, %4d right on disk, '
                  '%4d claimed after restart (%4d reported %.0f s before the kill)'
                  % (k + 1, delay, last, on_disk, g['pieces_have'], ref, DURABLE_AFTER))
            self.assertLessEqual(g['pieces_have'], on_disk_now,
                                 'kill %d: the restarted daemon claims %d pieces but only %d '
                                 'pieces of %s are correct' % (k + 1, g['pieces_have'],
                                                               on_disk_now, path))
            self.assertGreaterEqual(g['pieces_have'], ref,
                                    'kill %d: pieces reported %.0f s before the kill were '
                                    'lost (history %s)' % (k + 1, DURABLE_AFTER, report))
            self.assertGreaterEqual(g['pieces_have'], start_have,
                                    'kill %d: fewer pieces than after the previous restart'
                                    % (k + 1))
            self.assertLess(g['pieces_have'], npieces)
            start_have = g['pieces_have']
            r = leecher.call('torrent.resume', {'id': tid})
            self.assertEqual(r['state'], 'downloading', r)
            leecher.call('peer.add', {'id': tid, 'address': seeder.addr})
        lost = [max(0, last - after) for _, _, last, _, after, _ in report]
        print('pieces lost per crash: %s (%.1f s of transfer at most)'
              % (lost, max(lost) * PLEN / RATE))
        seeder.call('session.set', {'key': 'upload_rate_limit', 'value': 0})
        g, took = self.wait_done(leecher, tid, 60, what='download after %d crashes' % KILLS)
        self.assertSameBytes(path, data, 'the file after %d crashes' % KILLS)
        # a crash of the finished download, a few seconds after it completed: the
        # restart seeds at once, all pieces had, nothing to re-hash
        time.sleep(DURABLE_AFTER)
        leecher.kill9()
        self.restart(leecher)
        g = leecher.call('torrent.get', {'id': tid})
        self.assertEqual((g['state'], g['pieces_have']), ('seeding', npieces),
                         'after a kill -9 %.0f s after completion: %r' % (DURABLE_AFTER, g))
        self.assertGreater(g['completed'], 0, g)
        v = leecher.call('torrent.verify', {'id': tid, 'wait': True}, timeout=120)
        self.assertEqual((v['state'], v['pieces_have']), ('seeding', npieces), v)
        # a crash never loses more than a few seconds of transfer
        self.assertLessEqual(max(lost) * PLEN, 8 * RATE,
                             'a crash lost %d pieces: %s' % (max(lost), report))


if __name__ == '__main__':
    main()
