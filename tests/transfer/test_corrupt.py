#!/usr/bin/python3
"""A corrupting seeder among honest ones: p2pd on 127.0.0.4 seeds a file whose
bytes were changed on disk after it was checked (it serves from disk without
re-checking, so it really sends bad data). The leecher must still finish
bit-identical, ban that seeder (peer.banned naming it), drop its connection and
refuse to connect to it again; the honest seeders are never banned."""

import os

from xfer import (LIMIT, MiB, XferTest, data_bytes, host_of, main, wait_until,
                  write_file)


class CorruptSeederTest(XferTest):

    def test_corrupting_seeder_is_banned(self):
        honest = [self.node(2), self.node(3)]
        bad = self.node(4)
        leecher = self.node(5)
        plen = 64 * 1024
        size = 16 * MiB
        data = data_bytes(size, 'corrupt')
        src = os.path.join(honest[0].root, 'image.bin')
        write_file(src, data)
        t0, meta = self.seed(honest[0], src, piece_length=plen)
        self.seed_copy(honest[1], meta, src, 'image.bin')
        tb, bad_path = self.seed_copy(bad, meta, src, 'image.bin')
        # now spoil a byte in every 4th piece of the bad seeder's copy
        spoiled = list(range(1, t0['pieces'], 4))
        with open(bad_path, 'r+b') as f:
            for i in spoiled:
                off = i * plen + (i * 7919) % plen
                f.seek(off)
                f.write(bytes([data[off] ^ 0x5a]))
            f.flush()
            os.fsync(f.fileno())
        # the honest seeders are slower, so the bad one gets a large share of requests
        for s in honest:
            s.call('session.set', {'key': 'upload_rate_limit', 'value': '2M'})
        sub = self.subscribe(leecher)
        tl = self.leech(leecher, meta, peers=[s.addr for s in honest + [bad]])
        g, took = self.wait_done(leecher, tl['id'], 60)
        self.assertSameBytes(os.path.join(leecher.download_dir, 'image.bin'), data,
                             'the file downloaded next to a corrupting seeder')
        banned = sub.take_event(lambda e: e['type'] == 'peer.banned', timeout=10,
                                what='peer.banned for the corrupting seeder %s' % bad.addr)
        events = sub.collect_events(1.0)
        failed = [e for e in sub.events + events if e['type'] == 'piece.failed']
        print('%d MiB in %.1f s; banned: %r; pieces failed: %d (%s)'
              % (size // MiB, took, banned, len(failed), sorted(e['piece'] for e in failed)[:20]))
        self.assertEqual(banned['id'], tl['id'], banned)
        self.assertIn(banned['address'], (bad.addr, bad.ip),
                      'peer.banned names another peer than the corrupting seeder %s' % bad.addr)
        self.assertIsInstance(banned.get('reason'), str)
        self.assertTrue(banned['reason'].strip(), banned)
        more = [e for e in sub.events + events if e['type'] == 'peer.banned']
        self.assertEqual([e for e in more if host_of(e['address']) != bad.ip], [],
                         'an honest seeder was banned')
        with self.subTest('one ban, one peer.banned event'):
            self.assertEqual(more, [], 'the ban of %s was announced %d times'
                             % (bad.addr, 1 + len(more)))
        for e in failed:
            self.assertIn(e['piece'], spoiled, 'piece %d failed but only %s were spoiled'
                          % (e['piece'], spoiled))
        # its connection is gone and it cannot come back
        wait_until(lambda: all(host_of(p['address']) != bad.ip for p in
                               leecher.call('torrent.peers', {'id': tl['id']})['peers']),
                   5, 0.1, 'the banned peer to be disconnected')
        err = leecher.error('peer.add', {'id': tl['id'], 'address': bad.addr})
        self.assertRpcError(err, LIMIT, 'banned')
        self.assertGreaterEqual(leecher.call('session.status')['banned'], 1)
        # the honest seeders may still be connected and were credited with pieces
        g = leecher.call('torrent.get', {'id': tl['id']})
        self.assertEqual((g['state'], g['pieces_have']), ('seeding', g['pieces']), g)
        for s in honest:
            r = leecher.call('peer.add', {'id': tl['id'], 'address': s.addr})
            self.assertEqual(r.get('queued'), True, 'an honest seeder refused: %r' % r)


if __name__ == '__main__':
    main()
