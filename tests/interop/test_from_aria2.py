#!/usr/bin/python3
"""p2pd downloads from aria2: aria2c verifies and seeds a random file, p2pd adds
the .torrent and dials aria2's --listen-port with peer.add (aria2 cannot be told
to dial anyone); p2pd must end up seeding a byte-identical copy."""

import os
import time

from interop import (PIECE, SIZE, InteropTest, b64, info_hash_hex, lt_make_torrent, main,
                     rate_line, require, say, write_random_file)

require(libtorrent=True, binaries=('aria2c',))

NAME = 'from-aria2.bin'


class FromAria2(InteropTest):

    def test_p2pd_downloads_from_aria2(self):
        work = self.scratch()
        src = os.path.join(work, 'seed', NAME)
        write_random_file(src, SIZE)
        torrent = lt_make_torrent(src, PIECE)
        tpath = os.path.join(work, 'x.torrent')
        with open(tpath, 'wb') as f:
            f.write(torrent)

        a = self.aria2(os.path.join(work, 'aria2'), 'aria2-seeder')
        a.start(tpath, os.path.dirname(src), seed=True)
        a.wait_listening()

        d = self.daemon()
        t = d.call('torrent.add', {'metainfo': b64(torrent)})
        self.assertEqual(t['info_hash'], info_hash_hex(torrent))
        tid = t['id']
        self.wait_state(d, tid, 'downloading')

        ev = self.subscribe_transfer(d)
        t0 = time.monotonic()
        self.peer_add(d, tid, a.port)
        t = self.wait_p2pd_complete(d, tid, other=a.log_tail)
        dt = time.monotonic() - t0

        self.assertTorrent(t, state='seeding', have_bytes=SIZE, progress=1.0)
        self.assertSameFile(os.path.join(d.download_dir, NAME), src, 'p2pd download')
        self.check_transfer_events(ev, t, '127.0.0.1:%d' % a.port)
        say(rate_line('aria2 -> p2pd', SIZE, dt))
        self.assertIsNone(a.proc.poll(), 'aria2 exited while seeding:\n' + a.log_tail())


if __name__ == '__main__':
    main()
