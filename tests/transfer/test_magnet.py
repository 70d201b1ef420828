#!/usr/bin/python3
"""A magnet link is enough: a leecher that knows only the info-hash and one
peer's address fetches the info dict from it (BEP 9 ut_metadata), checks it against
the info-hash, records it (name, size and files survive a restart), then downloads
the multi-file data bit-identical; peers it was given are dialled again after a
restart without another peer.add."""

import os

from xfer import MiB, XferTest, data_bytes, main, write_file  # sets up the path to p2ptest
from p2ptest import wait_until  # noqa: E402
from rawpeer import FakePeer, bencode, bdecode  # noqa: E402


class MagnetTest(XferTest):

    def test_magnet_download(self):
        seeder = self.node(2)
        leecher = self.node(3)
        content = [('one.bin', data_bytes(3 * MiB + 17, 'mag1')),
                   ('sub/two.bin', data_bytes(2 * MiB, 'mag2'))]
        root = os.path.join(seeder.root, 'set')
        for rel, d in content:
            write_file(os.path.join(root, rel), d)
        size = sum(len(d) for _, d in content)
        ts, meta = self.seed(seeder, root, piece_length=64 * 1024)
        ih = ts['info_hash']
        seeder.call('session.set', {'key': 'upload_rate_limit', 'value': '2M'})

        t = leecher.call('torrent.add', {'magnet': 'magnet:?xt=urn:btih:' + ih})
        self.assertEqual((t['state'], t['size'], t['pieces'], t['origin']),
                         ('downloading', 0, 0, 'magnet'), t)
        leecher.call('peer.add', {'id': t['id'], 'address': seeder.addr})

        # the info dict comes first: name and size appear while data still flows
        def has_meta():
            g = leecher.call('torrent.get', {'id': t['id']})
            return g if g['size'] == size else None
        g = wait_until(has_meta, 20, 0.05, "the info dict to arrive")
        self.assertEqual((g['name'], g['files']), ('set', 2), g)

        # a restart keeps it, and the known peer is dialled again by itself
        leecher.stop()
        self.restart(leecher)
        g = leecher.call('torrent.get', {'id': t['id']})
        self.assertEqual((g['name'], g['size'], g['info_hash']), ('set', size, ih), g)
        seeder.call('session.set', {'key': 'upload_rate_limit', 'value': 0})
        g, took = self.wait_done(leecher, t['id'], 60)
        print('magnet: %d bytes in %.2f s after the restart' % (size, took))
        for rel, d in content:
            self.assertSameBytes(os.path.join(leecher.download_dir, 'set', rel), d, rel)

    def test_bad_metadata_refused(self):
        """Peers that offer an oversized info dict, or one that does not hash to the
        info-hash, are refused with a logged reason; the real one still comes."""
        seeder = self.node(2, debug=False)
        leecher = self.node(3)
        src = os.path.join(seeder.root, 'real.bin')
        data = data_bytes(MiB, 'realmeta')
        write_file(src, data)
        ts, _ = self.seed(seeder, src, piece_length=16 * 1024)
        ih = bytes.fromhex(ts['info_hash'])
        huge = MetadataLiar('127.0.0.40', ih, size=100 * MiB)
        wrong = MetadataLiar('127.0.0.41', ih, size=40000)
        self.addCleanup(huge.close)
        self.addCleanup(wrong.close)
        t = leecher.call('torrent.add', {'magnet': 'magnet:?xt=urn:btih:' + ts['info_hash']})
        for liar in (huge, wrong):
            leecher.call('peer.add', {'id': t['id'], 'address': '%s:%d' % (liar.ip, liar.port)})
        wait_until(lambda: wrong.served >= 3, 20, 0.1, 'the liar to be asked for its dict')
        log = lambda: leecher.all_logs().decode('utf-8', 'replace')  # noqa: E731
        wait_until(lambda: 'does not match the info-hash' in log(), 10, 0.1,
                   'the bad dict to be refused')
        self.assertIn('offers metadata of %d bytes; not asking it' % (100 * MiB), log())
        self.assertEqual(huge.served, 0, 'an oversized dict was requested')
        g = leecher.call('torrent.get', {'id': t['id']})
        self.assertEqual((g['size'], g['pieces']), (0, 0), 'metadata accepted from a liar')
        self.assertTrue(any('bad-metadata' in line for line in self.peer_closes(leecher)))
        leecher.call('peer.add', {'id': t['id'], 'address': seeder.addr})
        self.wait_done(leecher, t['id'], 30, what='download after the liars')
        self.assertSameBytes(os.path.join(leecher.download_dir, 'real.bin'), data)


class MetadataLiar(FakePeer):
    """A peer that offers an info dict of the given size and serves random bytes."""

    def __init__(self, ip, ih, size):
        self.ih, self.size, self.served = ih, size, 0
        super().__init__(ip)

    def handle(self, c):
        self.handshake(c, self.ih)
        self.send_ext(c, 0, bencode({'m': {'ut_metadata': 2}, 'metadata_size': self.size}))
        their = None
        for mid, body in self.read_msgs(c):
            if mid != 20:
                continue
            msg = bdecode(body[1:])
            if body[0] == 0:
                their = msg[b'm'].get(b'ut_metadata')
            elif msg.get(b'msg_type') == 0 and their:
                piece = msg[b'piece']
                chunk = os.urandom(min(16384, self.size - piece * 16384))
                self.send_ext(c, their, bencode({'msg_type': 1, 'piece': piece,
                                                 'total_size': self.size}), chunk)
                self.served += 1


if __name__ == '__main__':
    main()
