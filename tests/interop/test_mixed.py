#!/usr/bin/python3
"""p2pd with several reference clients at once.

- p2pd downloads one torrent from a libtorrent seeder and an aria2 seeder at the
  same time (peer.add to both); the copy must be byte-identical. How many pieces
  each sent (from the piece.verified events) is printed, not asserted.
- libtorrent, aria2 and Transmission download the same torrent from one p2pd at
  the same time (libtorrent dials p2pd; p2pd dials aria2 and Transmission); all
  three copies must be byte-identical.
"""

import base64
import os
import time

from interop import (PIECE, SIZE, TRANSFER_TIMEOUT, InteropTest, b64, lt_make_torrent, main,
                     p2pd_describe, p2pd_port, rate_line, require, say, write_random_file)

require(libtorrent=True, binaries=('aria2c', 'transmission-daemon'))


class Mixed(InteropTest):

    def test_p2pd_downloads_from_libtorrent_and_aria2_at_once(self):
        name = 'two-sources.bin'
        work = self.scratch()
        src = os.path.join(work, 'seed', name)
        write_random_file(src, SIZE)
        torrent = lt_make_torrent(src, PIECE)
        tpath = os.path.join(work, 'x.torrent')
        with open(tpath, 'wb') as f:
            f.write(torrent)

        lt = self.lt_session('libtorrent-seeder')
        h = lt.add(torrent, os.path.dirname(src), seed=True)
        a = self.aria2(os.path.join(work, 'aria2'), 'aria2-seeder')
        a.start(tpath, os.path.dirname(src), seed=True)
        a.wait_listening()

        d = self.daemon()
        t = d.call('torrent.add', {'metainfo': b64(torrent)})
        tid = t['id']
        self.wait_state(d, tid, 'downloading')
        ev = self.subscribe_transfer(d)
        t0 = time.monotonic()
        self.peer_add(d, tid, lt.port)
        self.peer_add(d, tid, a.port)
        t = self.wait_p2pd_complete(
            d, tid, other=lambda: lt.describe(h) + '\n' + a.log_tail())
        dt = time.monotonic() - t0
        self.assertSameFile(os.path.join(d.download_dir, name), src, 'p2pd download')
        self.check_transfer_events(ev, t)
        say(rate_line('libtorrent + aria2 -> p2pd', SIZE, dt))
        say('pieces per source (piece.verified peers): %s; libtorrent is port %d, aria2 %d'
            % (dict(self.last_sources), lt.port, a.port))

    def test_p2pd_downloads_from_two_slow_libtorrent_seeders(self):
        """Two libtorrent seeders, each held to 3 MiB/s, so that both serve the
        download to its end and p2pd's end game runs across both: p2pd must not
        drop either connection before it has the file (a cancelled request may be
        answered with a reject or with the block, BEP 6), and both must have sent
        pieces."""
        name = 'two-slow-seeders.bin'
        size = 16 << 20
        work = self.scratch()
        src = os.path.join(work, 'seed', name)
        write_random_file(src, size)
        torrent = lt_make_torrent(src, PIECE)
        seeders = []
        for i in range(2):
            lt = self.lt_session('libtorrent-seeder-%d' % i)
            # 127.0.0.1 is in libtorrent's "local" peer class, unlimited by default.
            cls = lt.ses.get_peer_class(lt.ses.local_peer_class_id)
            cls['upload_limit'] = 3 << 20
            lt.ses.set_peer_class(lt.ses.local_peer_class_id, cls)
            h = lt.add(torrent, os.path.dirname(src), seed=True)
            seeders.append((lt, h))

        d = self.daemon()
        t = d.call('torrent.add', {'metainfo': b64(torrent)})
        tid = t['id']
        self.wait_state(d, tid, 'downloading')
        ev = self.subscribe_transfer(d)
        t0 = time.monotonic()
        for lt, _ in seeders:
            self.peer_add(d, tid, lt.port)
        t = self.wait_p2pd_complete(
            d, tid, other=lambda: '\n'.join(lt.describe(h) for lt, h in seeders))
        t_done = time.monotonic()
        dt = t_done - t0
        self.assertSameFile(os.path.join(d.download_dir, name), src, 'p2pd download')
        self.check_transfer_events(ev, t)
        say(rate_line('2 x libtorrent (3 MiB/s each) -> p2pd', size, dt))
        say('pieces per source: %s' % self.last_sources)
        for lt, h in seeders:
            # Alerts are collected every 50 ms while waiting; a disconnect seen more
            # than 0.5 s before p2pd reported seeding happened mid-download (once
            # p2pd is a seed, libtorrent and p2pd close the connection, rightly).
            drops = ['%.2f s before the end: %s' % (t_done - when, msg)
                     for when, name, msg in lt.events
                     if name == 'peer_disconnected_alert' and when < t_done - 0.5]
            self.assertEqual(drops, [], '%s: the connection to p2pd ended before p2pd had '
                             'the file:\n%s\n%s' % (lt.name, lt.log_tail(),
                                                    p2pd_describe(d, tid)))
            self.assertIn('127.0.0.1:%d' % lt.port, self.last_sources,
                          '%s sent no piece' % lt.name)

    def test_three_clients_download_from_p2pd_at_once(self):
        name = 'three-leechers.bin'
        work = self.scratch()
        src = os.path.join(work, 'share', name)
        write_random_file(src, SIZE)
        d = self.daemon()
        t = d.call('torrent.share', {'path': src, 'piece_length': PIECE}, timeout=60)
        tid = t['id']
        torrent = base64.b64decode(d.call('torrent.export', {'id': tid})['metainfo'])
        tpath = os.path.join(work, 'x.torrent')
        with open(tpath, 'wb') as f:
            f.write(torrent)

        tr = self.transmission(os.path.join(work, 'tr'))
        tr.start()
        trid = tr.add(torrent)
        tr.wait_ready(trid)
        a = self.aria2(os.path.join(work, 'aria2'), 'aria2-leecher')
        adl = os.path.join(work, 'aria2', 'dl')
        a.start(tpath, adl, seed=False)
        a.wait_listening()
        lt = self.lt_session('libtorrent-leecher')
        ldl = os.path.join(work, 'lt')
        h = lt.add(torrent, ldl)

        t0 = time.monotonic()
        lt.connect(h, p2pd_port(d))
        self.peer_add(d, tid, a.port)
        self.peer_add(d, tid, tr.port)

        done = {}
        deadline = t0 + TRANSFER_TIMEOUT
        for _ in range(int(TRANSFER_TIMEOUT / 0.1) + 10):
            lt.pump()
            if 'libtorrent' not in done and h.status().is_finished:
                done['libtorrent'] = time.monotonic() - t0
            if 'aria2' not in done and a.proc.poll() is not None:
                done['aria2'] = time.monotonic() - t0
            if 'transmission' not in done and tr.get(trid)['leftUntilDone'] == 0:
                done['transmission'] = time.monotonic() - t0
            if len(done) == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if len(done) != 3:
            self.fail('not all done within %.0f s: %s\n%s\n%s\n%s\n%s'
                      % (TRANSFER_TIMEOUT, done, p2pd_describe(d, tid), lt.describe(h),
                         a.log_tail(), tr.describe(trid)))
        self.assertEqual(a.proc.returncode, 0, 'aria2 exit status\n' + a.log_tail())
        lt.flush(h)
        self.assertSameFile(os.path.join(ldl, name), src, 'libtorrent download')
        self.assertSameFile(os.path.join(adl, name), src, 'aria2 download')
        self.wait_same_file(os.path.join(tr.download_dir, name), src, 'Transmission download')
        for k, v in sorted(done.items()):
            say(rate_line('p2pd -> %s (3 at once)' % k, SIZE, v))


if __name__ == '__main__':
    main()
