#!/usr/bin/python3
"""libtorrent starts from p2pd's magnet link alone: it fetches the info dict from
p2pd with ut_metadata (BEP 9), checks it against the info-hash, then downloads the
data; its copy must equal the original."""

import os
import time

from interop import (PIECE, SIZE, InteropTest, main, p2pd_describe, p2pd_port, rate_line,
                     require, say, write_random_file)

require(libtorrent=True)

NAME = 'magnet-to-libtorrent.bin'


class MagnetToLibtorrent(InteropTest):

    def test_libtorrent_fetches_metadata_from_p2pd(self):
        work = self.scratch()
        src = os.path.join(work, 'share', NAME)
        write_random_file(src, SIZE)

        d = self.daemon()
        t = d.call('torrent.share', {'path': src, 'piece_length': PIECE}, timeout=60)
        tid = t['id']
        magnet = d.call('torrent.export', {'id': tid})['magnet']
        port = p2pd_port(d)

        lt = self.lt_session('libtorrent-magnet')
        lt.ses.add_extension('ut_metadata')
        atp = lt.lt.parse_magnet_uri(magnet)
        dl = os.path.join(work, 'lt')
        atp.save_path = dl
        atp.flags &= ~(lt.lt.torrent_flags.auto_managed | lt.lt.torrent_flags.paused)
        h = lt.ses.add_torrent(atp)
        self.assertEqual(str(h.info_hash()), t['info_hash'])
        t0 = time.monotonic()
        lt.connect(h, port)
        err = None
        try:
            lt.wait_finished(h)
        except AssertionError as e:
            err = str(e)
        if err:
            self.fail('%s\n%s\n%s' % (err, p2pd_describe(d, tid), lt.log_tail()))
        dt = time.monotonic() - t0
        self.assertTrue(any('metadata_received_alert' in x for x in lt.log),
                        'libtorrent never reported receiving the metadata')
        lt.flush(h)
        self.assertSameFile(os.path.join(dl, NAME), src, 'libtorrent download from a magnet')
        say(rate_line('p2pd -> libtorrent (magnet)', SIZE, dt))


if __name__ == '__main__':
    main()
