#!/usr/bin/python3
"""Controlling a running download: pause and resume (nothing arrives while
paused, then it completes), remove with delete_data (files gone, the seeder
unaffected), and a clean restart of the leecher in the middle (no piece lost,
none invented, the download completes bit-identical)."""

import os
import signal
import time

from xfer import (BUSY, NOT_FOUND, MiB, XferTest, data_bytes, good_pieces, main, tree,
                  wait_until, write_file)


class ControlTest(XferTest):

    def setup_pair(self, size, rate, name='data.bin', plen=64 * 1024, seed='ctl'):
        seeder = self.node(2)
        leecher = self.node(3)
        data = data_bytes(size, seed)
        src = os.path.join(seeder.root, name)
        write_file(src, data)
        ts, meta = self.seed(seeder, src, piece_length=plen)
        seeder.call('session.set', {'key': 'upload_rate_limit', 'value': rate})
        return seeder, leecher, data, ts, meta

    def wait_progress(self, d, tid, fraction, timeout=60):
        return wait_until(lambda: (lambda g: g if g['progress'] >= fraction else None)(
            d.call('torrent.get', {'id': tid})), timeout, 0.05,
            'progress %.0f%% of torrent %s' % (100 * fraction, tid))

    def test_pause_and_resume(self):
        size = 24 * MiB
        seeder, leecher, data, ts, meta = self.setup_pair(size, '4M', seed='pause')
        tl = self.leech(leecher, meta, peers=[seeder.addr])
        self.wait_progress(leecher, tl['id'], 0.15)
        p = leecher.call('torrent.pause', {'id': tl['id']})
        self.assertEqual(p['state'], 'paused', p)
        # blocks already in flight may still land for a moment; then nothing
        time.sleep(0.7)
        a = leecher.call('torrent.get', {'id': tl['id']})
        samples = []
        for _ in range(25):
            time.sleep(0.1)
            samples.append(leecher.call('torrent.get', {'id': tl['id']}))
        b = samples[-1]
        self.assertEqual(b['state'], 'paused', b)
        self.assertLess(a['pieces_have'], a['pieces'], 'finished before the pause took hold')
        self.assertEqual([(g['pieces_have'], g['have_bytes']) for g in samples],
                         [(a['pieces_have'], a['have_bytes'])] * len(samples),
                         'progress went on while paused')
        self.assertEqual(b['downloaded'], a['downloaded'],
                         'bytes still arrived 0.7-3.2 s after the pause: %d -> %d'
                         % (a['downloaded'], b['downloaded']))
        st = leecher.call('session.status')
        self.assertEqual(st['down_rate'], 0, 'down_rate while paused: %r' % st)
        self.assertRpcError(leecher.error('peer.add', {'id': tl['id'], 'address': seeder.addr}),
                            BUSY)
        r = leecher.call('torrent.resume', {'id': tl['id']})
        self.assertEqual(r['state'], 'downloading', r)
        self.assertGreaterEqual(r['pieces_have'], a['pieces_have'], 'resume lost pieces')
        leecher.call('peer.add', {'id': tl['id'], 'address': seeder.addr})
        g, took = self.wait_done(leecher, tl['id'], 60, what='download after resume')
        print('resume: completed %.1f s after resume (%d of %d pieces were had at the pause)'
              % (took, a['pieces_have'], a['pieces']))
        self.assertSameBytes(os.path.join(leecher.download_dir, 'data.bin'), data)

    def test_remove_with_delete_data_during_download(self):
        seeder = self.node(2)
        leecher = self.node(3)
        root = os.path.join(seeder.root, 'show')
        content = [('s01/e01.mkv', data_bytes(6 * MiB + 11, 'r1')),
                   ('s01/e02.mkv', data_bytes(6 * MiB - 5, 'r2')),
                   ('s02/extra/notes.txt', b'notes\n' * 1000),
                   ('cover.jpg', data_bytes(300000, 'r3'))]
        for rel, d in content:
            write_file(os.path.join(root, rel), d)
        ts, meta = self.seed(seeder, root, piece_length=64 * 1024)
        seeder.call('session.set', {'key': 'upload_rate_limit', 'value': '4M'})
        tl = self.leech(leecher, meta, peers=[seeder.addr])
        self.wait_progress(leecher, tl['id'], 0.3)
        path = os.path.join(leecher.download_dir, 'show')
        self.assertTrue(os.path.isdir(path), 'no download folder while downloading')
        r = leecher.call('torrent.remove', {'id': tl['id'], 'delete_data': True})
        self.assertEqual(r.get('info_hash'), ts['info_hash'], r)
        self.assertRpcError(leecher.error('torrent.get', {'id': tl['id']}), NOT_FOUND)
        self.assertEqual(leecher.call('torrent.list')['torrents'], [])
        # the data is gone and stays gone (no late write recreates it)
        time.sleep(1.0)
        self.assertFalse(os.path.exists(path), 'files left after remove with delete_data: %s'
                         % (sorted(tree(path)) if os.path.isdir(path) else path))
        self.assertEqual(os.listdir(leecher.download_dir), [],
                         'the download folder is not empty after the removal')
        # the seeder lost a peer, nothing else: still seeding its original files
        self.assertTrue(seeder.running())
        s = seeder.call('torrent.get', {'id': ts['id']})
        self.assertEqual((s['state'], s['pieces_have']), ('seeding', ts['pieces']), s)
        wait_until(lambda: seeder.call('torrent.peers', {'id': ts['id']})['peers'] == [], 10,
                   0.1, "the seeder to drop the removed torrent's connection")
        self.assertEqual(tree(root), dict(content), "the seeder's files changed")
        # and it still serves: the same torrent added again downloads completely
        tl2 = self.leech(leecher, meta, peers=[seeder.addr])
        self.assertEqual(tl2['pieces_have'], 0, tl2)
        seeder.call('session.set', {'key': 'upload_rate_limit', 'value': 0})
        self.wait_done(leecher, tl2['id'], 60, what='download after remove and re-add')
        self.assertEqual(tree(path), dict(content))

    def test_clean_restart_mid_download(self):
        size = 24 * MiB
        plen = 64 * 1024
        seeder, leecher, data, ts, meta = self.setup_pair(size, '4M', plen=plen, seed='restart')
        tl = self.leech(leecher, meta, peers=[seeder.addr])
        self.wait_progress(leecher, tl['id'], 0.35)
        before = leecher.call('torrent.get', {'id': tl['id']})
        rc, took = leecher.stop(signal.SIGTERM)
        self.assertEqual(rc, 0, 'p2pd exit status on SIGTERM mid-download')
        self.assertLess(took, 2.0, 'SIGTERM took %.1f s' % took)
        path = os.path.join(leecher.download_dir, 'data.bin')
        on_disk = len(good_pieces(path, data, plen))
        self.restart(leecher)
        after = leecher.call('torrent.get', {'id': tl['id']})
        print('restart: %d pieces reported before SIGTERM, %d correct on disk while down, '
              '%d reported after restart (of %d)' % (before['pieces_have'], on_disk,
                                                     after['pieces_have'], after['pieces']))
        self.assertIn(after['state'], ('downloading', 'checking'), after)
        self.assertGreaterEqual(after['pieces_have'], before['pieces_have'],
                                'a clean shutdown lost pieces')
        self.assertLessEqual(after['pieces_have'], on_disk,
                             'the restarted daemon claims more pieces than the file has right')
        self.assertLess(after['pieces_have'], after['pieces'])
        self.assertGreaterEqual(after['downloaded'], before['downloaded'],
                                'the all-time downloaded counter went back')
        self.wait_state(leecher, tl['id'], 'downloading')
        leecher.call('peer.add', {'id': tl['id'], 'address': seeder.addr})
        g, took = self.wait_done(leecher, tl['id'], 60, what='download after the restart')
        self.assertSameBytes(path, data)
        v = leecher.call('torrent.verify', {'id': tl['id'], 'wait': True}, timeout=120)
        self.assertEqual((v['state'], v['pieces_have']), ('seeding', v['pieces']),
                         'torrent.verify found bad pieces after the restart: %r' % v)


if __name__ == '__main__':
    main()
