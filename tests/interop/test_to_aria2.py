#!/usr/bin/python3
"""aria2 downloads from p2pd: p2pd shares a random file; aria2c starts on the
exported .torrent with no peer to dial (it has no such option, and no tracker
here); p2pd dials aria2's --listen-port with peer.add and aria2 downloads over
that incoming connection, then exits (--seed-time=0). Its copy must equal the
original."""

import base64
import os
import time

from interop import (PIECE, SIZE, TRANSFER_TIMEOUT, InteropTest, main, p2pd_describe,
                     rate_line, require, say, write_random_file)

require(binaries=('aria2c',))

NAME = 'to-aria2.bin'


class ToAria2(InteropTest):

    def test_aria2_downloads_from_p2pd(self):
        work = self.scratch()
        src = os.path.join(work, 'share', NAME)
        write_random_file(src, SIZE)

        d = self.daemon()
        t = d.call('torrent.share', {'path': src, 'piece_length': PIECE}, timeout=60)
        tid = t['id']
        torrent = base64.b64decode(d.call('torrent.export', {'id': tid})['metainfo'])
        tpath = os.path.join(work, 'x.torrent')
        with open(tpath, 'wb') as f:
            f.write(torrent)

        a = self.aria2(os.path.join(work, 'aria2'), 'aria2-leecher')
        dl = os.path.join(work, 'aria2', 'dl')
        a.start(tpath, dl, seed=False)
        a.wait_listening()

        t0 = time.monotonic()
        self.peer_add(d, tid, a.port)
        rc = a.wait_exit(TRANSFER_TIMEOUT)
        dt = time.monotonic() - t0
        if rc != 0:
            self.fail('aria2 %s (exit status %s)\n%s\n%s'
                      % ('did not finish within %.0f s' % TRANSFER_TIMEOUT if rc is None
                         else 'failed', rc, p2pd_describe(d, tid), a.log_tail()))
        self.assertSameFile(os.path.join(dl, NAME), src, 'aria2 download')
        say(rate_line('p2pd -> aria2', SIZE, dt))
        self.wait_counter(d, tid, 'uploaded', SIZE)


if __name__ == '__main__':
    main()
