#!/usr/bin/python3
"""p2pd's built-in tracker (--tracker-listen) serves real clients: an aria2 seeder
and a libtorrent leecher that know nothing but the tracker URL in the .torrent find
each other through it and the download completes (HTTP announce); then two
libtorrent sessions do the same over the UDP tracker (BEP 15). The tracker's
counters in session.status show the swarm."""

import os
import time

from interop import (PIECE, InteropTest, free_port, lt_make_torrent, main, rate_line,
                     require, say, write_random_file)

require(libtorrent=True, binaries=('aria2c',))

SIZE = 8 << 20


class BuiltinTracker(InteropTest):

    def tracker(self):
        port = free_port()
        d = self.daemon(args=['--tracker-listen', '127.0.0.1:%d' % port])
        st = d.call('session.status')
        self.assertEqual(st['tracker']['listen'], '127.0.0.1:%d' % port, st)
        return d, port

    def wait_lt_done(self, lt, h, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lt.pump()
            if h.status().is_seeding:
                return
            time.sleep(0.1)
        self.fail('libtorrent did not finish through the tracker:\n%s\n%s'
                  % (lt.describe(h), lt.log_tail()))

    def test_aria2_and_libtorrent_meet_through_http_tracker(self):
        d, port = self.tracker()
        work = self.scratch()
        name = 'via-http-tracker.bin'
        src = os.path.join(work, 'seed', name)
        write_random_file(src, SIZE)
        torrent = lt_make_torrent(src, PIECE, trackers=['http://127.0.0.1:%d/announce' % port])
        tpath = os.path.join(work, 'x.torrent')
        with open(tpath, 'wb') as f:
            f.write(torrent)

        a = self.aria2(os.path.join(work, 'aria2'), 'aria2-seeder')
        a.start(tpath, os.path.dirname(src), seed=True)
        a.wait_listening()

        lt = self.lt_session('libtorrent-leecher')
        dl = os.path.join(work, 'lt')
        t0 = time.monotonic()
        h = lt.add(torrent, dl)
        self.wait_lt_done(lt, h)
        say(rate_line('aria2 -> libtorrent via the p2pd tracker', SIZE, time.monotonic() - t0))
        lt.flush(h)
        self.assertSameFile(os.path.join(dl, name), src, 'libtorrent download')
        tr = d.call('session.status')['tracker']
        self.assertGreaterEqual(tr['announces'], 2, tr)
        self.assertEqual(tr['swarms'], 1, tr)

    def test_libtorrent_pair_over_udp_tracker(self):
        d, port = self.tracker()
        work = self.scratch()
        name = 'via-udp-tracker.bin'
        src = os.path.join(work, 'seed', name)
        write_random_file(src, SIZE)
        torrent = lt_make_torrent(src, PIECE, trackers=['udp://127.0.0.1:%d' % port])
        seeder = self.lt_session('libtorrent-seeder')
        seeder.add(torrent, os.path.dirname(src), seed=True)
        leecher = self.lt_session('libtorrent-leecher')
        dl = os.path.join(work, 'lt')
        h = leecher.add(torrent, dl)
        self.wait_lt_done(leecher, h)
        leecher.flush(h)
        self.assertSameFile(os.path.join(dl, name), src, 'libtorrent download over UDP tracker')
        tr = d.call('session.status')['tracker']
        self.assertGreaterEqual(tr['peers'], 2, tr)


if __name__ == '__main__':
    main()
