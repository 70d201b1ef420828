#!/usr/bin/python3
"""p2pd downloads from libtorrent: a libtorrent session seeds a random file (its
.torrent made by libtorrent's create_torrent), p2pd adds the .torrent and dials
libtorrent's listen port with peer.add; p2pd must end up seeding a byte-identical
copy in its download dir."""

import os
import time

from interop import (PIECE, SIZE, InteropTest, b64, info_hash_hex, lt_make_torrent, main,
                     p2pd_port, rate_line, require, say, write_random_file)

require(libtorrent=True)

NAME = 'from-libtorrent.bin'


class FromLibtorrent(InteropTest):

    def test_p2pd_downloads_from_libtorrent(self):
        work = self.scratch()
        src = os.path.join(work, 'seed', NAME)
        write_random_file(src, SIZE)
        torrent = lt_make_torrent(src, PIECE)

        lt = self.lt_session('libtorrent-seeder')
        h = lt.add(torrent, os.path.dirname(src), seed=True)

        d = self.daemon()
        t = d.call('torrent.add', {'metainfo': b64(torrent)})
        self.assertEqual(t['info_hash'], info_hash_hex(torrent))
        self.assertEqual((t['size'], t['piece_length']), (SIZE, PIECE))
        tid = t['id']
        self.wait_state(d, tid, 'downloading')

        ev = self.subscribe_transfer(d)
        t0 = time.monotonic()
        self.peer_add(d, tid, lt.port)
        t = self.wait_p2pd_complete(d, tid, other=lambda: lt.describe(h))
        dt = time.monotonic() - t0

        self.assertTorrent(t, state='seeding', have_bytes=SIZE, progress=1.0)
        self.assertSameFile(os.path.join(d.download_dir, NAME), src, 'p2pd download')
        self.check_transfer_events(ev, t, '127.0.0.1:%d' % lt.port)
        say(rate_line('libtorrent -> p2pd', SIZE, dt))
        self.wait_counter(d, tid, 'downloaded', SIZE)

    def test_p2pd_downloads_from_libtorrent_dialing_in(self):
        """The other direction of connection: libtorrent dials p2pd (connect_peer),
        and p2pd downloads over the incoming connection."""
        work = self.scratch()
        src = os.path.join(work, 'seed', NAME)
        write_random_file(src, SIZE)
        torrent = lt_make_torrent(src, PIECE)

        lt = self.lt_session('libtorrent-seeder')
        h = lt.add(torrent, os.path.dirname(src), seed=True)

        d = self.daemon()
        tid = d.call('torrent.add', {'metainfo': b64(torrent)})['id']
        self.wait_state(d, tid, 'downloading')
        port = p2pd_port(d)

        t0 = time.monotonic()
        lt.connect(h, port)
        t = self.wait_p2pd_complete(d, tid, other=lambda: lt.describe(h))
        dt = time.monotonic() - t0

        self.assertTorrent(t, state='seeding', have_bytes=SIZE, progress=1.0)
        self.assertSameFile(os.path.join(d.download_dir, NAME), src, 'p2pd download')
        say(rate_line('libtorrent -> p2pd (libtorrent dialed)', SIZE, dt))


if __name__ == '__main__':
    main()
