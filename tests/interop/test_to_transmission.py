#!/usr/bin/python3
"""Transmission downloads from p2pd: p2pd shares a random file; transmission-daemon
(its own config dir, RPC and peers on 127.0.0.1, no auth, DHT/LPD/PEX/uTP off)
adds the exported .torrent. Transmission never dials 127.x, so p2pd dials its peer
port with peer.add and Transmission downloads over that incoming connection. Its
copy must equal the original."""

import base64
import os
import time

from interop import (PIECE, SIZE, InteropTest, main, p2pd_describe, rate_line, require, say,
                     write_random_file)

require(binaries=('transmission-daemon',))

NAME = 'to-transmission.bin'


class ToTransmission(InteropTest):

    def test_transmission_downloads_from_p2pd(self):
        work = self.scratch()
        src = os.path.join(work, 'share', NAME)
        write_random_file(src, SIZE)

        d = self.daemon()
        t = d.call('torrent.share', {'path': src, 'piece_length': PIECE}, timeout=60)
        tid = t['id']
        torrent = base64.b64decode(d.call('torrent.export', {'id': tid})['metainfo'])

        tr = self.transmission(os.path.join(work, 'tr'))
        tr.start()
        trid = tr.add(torrent)
        tr.wait_ready(trid)

        t0 = time.monotonic()
        self.peer_add(d, tid, tr.port)
        err = None
        try:
            tr.wait_complete(trid)
        except AssertionError as e:
            err = str(e)
        if err:
            self.fail('%s\n%s' % (err, p2pd_describe(d, tid)))
        dt = time.monotonic() - t0
        self.wait_same_file(os.path.join(tr.download_dir, NAME), src, 'Transmission download')
        say(rate_line('p2pd -> Transmission', SIZE, dt))
        self.wait_counter(d, tid, 'uploaded', SIZE)


if __name__ == '__main__':
    main()
