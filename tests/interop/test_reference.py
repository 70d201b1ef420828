#!/usr/bin/python3
"""The reference clients among themselves, with the same harness the p2pd tests
use: libtorrent -> aria2, aria2 -> libtorrent, libtorrent -> Transmission. No
p2pd involved. When a p2pd interop test fails and this one passes, the harness
and the reference clients are fine and the fault is on p2pd's side.

libtorrent plays p2pd's part: it dials aria2 and Transmission (which never dial
127.x themselves) exactly as p2pd does with peer.add.
"""

import os
import time

from interop import (PIECE, SIZE, InteropTest, lt_make_torrent, main, rate_line, require,
                     say, write_random_file)

require(libtorrent=True, binaries=('aria2c', 'transmission-daemon'))

NAME = 'reference.bin'


class Reference(InteropTest):

    def setUp(self):
        self.work = self.scratch()
        self.src = os.path.join(self.work, 'seed', NAME)
        write_random_file(self.src, SIZE)
        self.torrent = lt_make_torrent(self.src, PIECE)
        self.tpath = os.path.join(self.work, 'x.torrent')
        with open(self.tpath, 'wb') as f:
            f.write(self.torrent)

    def test_libtorrent_to_aria2(self):
        lt = self.lt_session('libtorrent-seeder')
        h = lt.add(self.torrent, os.path.dirname(self.src), seed=True)
        a = self.aria2(os.path.join(self.work, 'aria2'))
        dl = os.path.join(self.work, 'aria2', 'dl')
        a.start(self.tpath, dl, seed=False)
        a.wait_listening()
        t0 = time.monotonic()
        lt.connect(h, a.port)
        rc = a.wait_exit(60)
        dt = time.monotonic() - t0
        self.assertEqual(rc, 0, 'aria2 exit status %s\n%s\n%s' % (rc, a.log_tail(),
                                                                lt.describe(h)))
        self.assertSameFile(os.path.join(dl, NAME), self.src, 'aria2 download')
        say(rate_line('libtorrent -> aria2 (reference)', SIZE, dt))

    def test_aria2_to_libtorrent(self):
        a = self.aria2(os.path.join(self.work, 'aria2'))
        a.start(self.tpath, os.path.dirname(self.src), seed=True)
        a.wait_listening()
        lt = self.lt_session('libtorrent-leecher')
        dl = os.path.join(self.work, 'lt')
        h = lt.add(self.torrent, dl)
        t0 = time.monotonic()
        lt.connect(h, a.port)
        lt.wait_finished(h)
        dt = time.monotonic() - t0
        lt.flush(h)
        self.assertSameFile(os.path.join(dl, NAME), self.src, 'libtorrent download')
        say(rate_line('aria2 -> libtorrent (reference)', SIZE, dt))

    def test_libtorrent_to_transmission(self):
        lt = self.lt_session('libtorrent-seeder')
        h = lt.add(self.torrent, os.path.dirname(self.src), seed=True)
        tr = self.transmission(os.path.join(self.work, 'tr'))
        tr.start()
        tid = tr.add(self.torrent)
        tr.wait_ready(tid)
        t0 = time.monotonic()
        lt.connect(h, tr.port)
        tr.wait_complete(tid)
        dt = time.monotonic() - t0
        self.wait_same_file(os.path.join(tr.download_dir, NAME), self.src,
                            'Transmission download')
        say(rate_line('libtorrent -> Transmission (reference)', SIZE, dt))


if __name__ == '__main__':
    main()
