#!/usr/bin/python3
"""session.set rate limits against a real client: with upload_rate_limit (p2pd
seeding to libtorrent) or download_rate_limit (p2pd downloading from libtorrent)
set to LIMIT bytes/s, a transfer of SIZE bytes must take about SIZE/LIMIT
seconds: not much less (the limit holds, give or take a one-second burst) and
not far more (the limit does not starve the transfer). Bytes must be equal."""

import base64
import os
import time

from interop import (InteropTest, b64, lt_make_torrent, main, p2pd_describe, p2pd_port,
                     rate_line, require, say, write_random_file)

require(libtorrent=True)

SIZE = 12 << 20
PIECE = 256 << 10
LIMIT = 2 << 20          # bytes/s
IDEAL = SIZE / LIMIT     # 6 s


class RateLimit(InteropTest):

    def check_time(self, dt, what):
        say(rate_line(what, SIZE, dt) + ' (limit %d bytes/s, ideal %.1f s)' % (LIMIT, IDEAL))
        self.assertGreaterEqual(dt, IDEAL - 1.5,
                                '%s: %d bytes in %.2f s, faster than the limit of %d bytes/s '
                                'allows' % (what, SIZE, dt, LIMIT))
        self.assertLessEqual(dt, IDEAL * 2.5,
                             '%s: %d bytes in %.2f s, far below the limit of %d bytes/s'
                             % (what, SIZE, dt, LIMIT))

    def test_upload_rate_limit_to_libtorrent(self):
        work = self.scratch()
        src = os.path.join(work, 'share', 'up-limited.bin')
        write_random_file(src, SIZE)
        d = self.daemon()
        r = d.call('session.set', {'key': 'upload_rate_limit', 'value': LIMIT})
        self.assertEqual(r['settings']['upload_rate_limit'], LIMIT)
        t = d.call('torrent.share', {'path': src, 'piece_length': PIECE}, timeout=60)
        torrent = base64.b64decode(d.call('torrent.export', {'id': t['id']})['metainfo'])

        lt = self.lt_session('libtorrent-leecher')
        dl = os.path.join(work, 'lt')
        h = lt.add(torrent, dl)
        t0 = time.monotonic()
        lt.connect(h, p2pd_port(d))
        err = None
        try:
            lt.wait_finished(h, timeout=IDEAL * 3)
        except AssertionError as e:
            err = str(e)
        if err:
            self.fail('%s\n%s' % (err, p2pd_describe(d, t['id'])))
        dt = time.monotonic() - t0
        lt.flush(h)
        self.assertSameFile(os.path.join(dl, 'up-limited.bin'), src, 'libtorrent download')
        self.check_time(dt, 'p2pd -> libtorrent, upload_rate_limit')

    def test_download_rate_limit_from_libtorrent(self):
        work = self.scratch()
        src = os.path.join(work, 'seed', 'down-limited.bin')
        write_random_file(src, SIZE)
        torrent = lt_make_torrent(src, PIECE)
        lt = self.lt_session('libtorrent-seeder')
        h = lt.add(torrent, os.path.dirname(src), seed=True)

        d = self.daemon()
        r = d.call('session.set', {'key': 'download_rate_limit', 'value': LIMIT})
        self.assertEqual(r['settings']['download_rate_limit'], LIMIT)
        tid = d.call('torrent.add', {'metainfo': b64(torrent)})['id']
        self.wait_state(d, tid, 'downloading')
        t0 = time.monotonic()
        self.peer_add(d, tid, lt.port)
        self.wait_p2pd_complete(d, tid, other=lambda: lt.describe(h), timeout=IDEAL * 3)
        dt = time.monotonic() - t0
        self.assertSameFile(os.path.join(d.download_dir, 'down-limited.bin'), src,
                            'p2pd download')
        self.check_time(dt, 'libtorrent -> p2pd, download_rate_limit')


if __name__ == '__main__':
    main()
