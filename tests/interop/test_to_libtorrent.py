#!/usr/bin/python3
"""libtorrent downloads from p2pd: p2pd shares a random file, torrent.export gives
the .torrent, a libtorrent session adds it and dials p2pd's listen port
(connect_peer); once libtorrent is finished and its cache flushed, its copy must
equal the original."""

import base64
import os
import time

from interop import (PIECE, SIZE, InteropTest, main, p2pd_describe, p2pd_port, rate_line, require, say,
                     write_random_file)

require(libtorrent=True)

NAME = 'to-libtorrent.bin'


class ToLibtorrent(InteropTest):

    def test_libtorrent_downloads_from_p2pd(self):
        work = self.scratch()
        src = os.path.join(work, 'share', NAME)
        write_random_file(src, SIZE)

        d = self.daemon()
        t = d.call('torrent.share', {'path': src, 'piece_length': PIECE}, timeout=60)
        self.assertTorrent(t, state='seeding', size=SIZE)
        tid = t['id']
        torrent = base64.b64decode(d.call('torrent.export', {'id': tid})['metainfo'])
        port = p2pd_port(d)

        lt = self.lt_session('libtorrent-leecher')
        dl = os.path.join(work, 'lt')
        h = lt.add(torrent, dl)
        self.assertEqual(str(h.info_hash()), t['info_hash'])
        t0 = time.monotonic()
        lt.connect(h, port)
        err = None
        try:
            lt.wait_finished(h)
        except AssertionError as e:
            err = str(e)
        if err:
            self.fail('%s\n%s' % (err, p2pd_describe(d, tid)))
        dt = time.monotonic() - t0
        lt.flush(h)
        self.assertSameFile(os.path.join(dl, NAME), src, 'libtorrent download')
        say(rate_line('p2pd -> libtorrent', SIZE, dt))
        self.wait_counter(d, tid, 'uploaded', SIZE)


if __name__ == '__main__':
    main()
