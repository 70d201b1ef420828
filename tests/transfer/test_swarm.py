#!/usr/bin/python3
"""Swarms: three seeders feed one leecher (each of them sends pieces), and one
rate-limited seeder feeds five leechers at once that also trade among themselves
(all finish bit-identical; the seeder sends far less than five copies)."""

import os
import time

from xfer import MiB, XferTest, data_bytes, host_of, main, write_file


class SwarmTest(XferTest):

    def test_three_seeders_one_leecher(self):
        seeders = [self.node(n) for n in (2, 3, 4)]
        leecher = self.node(5)
        size = 24 * MiB
        data = data_bytes(size, 'swarm-3to1')
        src = os.path.join(seeders[0].root, 'big.iso')
        write_file(src, data)
        t0, meta = self.seed(seeders[0], src, piece_length=64 * 1024)
        ts = [t0] + [self.seed_copy(s, meta, src, 'big.iso')[0] for s in seeders[1:]]
        for t in ts:
            self.assertEqual(t['info_hash'], t0['info_hash'])
        # each seeder alone would need 6 s: the leecher has a reason to use all three
        for s in seeders:
            s.call('session.set', {'key': 'upload_rate_limit', 'value': '4M'})
        sub = self.subscribe(leecher, ['piece.verified', 'piece.failed', 'peer.banned'])
        tl = self.leech(leecher, meta, peers=[s.addr for s in seeders])
        seen = []       # (progress, addresses of the leecher's connections)

        def sample(t):
            if t['state'] == 'downloading':
                peers = leecher.call('torrent.peers', {'id': tl['id']})['peers']
                seen.append((t['progress'], sorted(p['address'] for p in peers)))
        g, took = self.wait_done(leecher, tl['id'], 60, sample)
        self.assertSameBytes(os.path.join(leecher.download_dir, 'big.iso'), data)
        events = sub.collect_events(1.0)
        verified = [e for e in events if e['type'] == 'piece.verified']
        self.assertEqual(sorted(e['piece'] for e in verified), list(range(g['pieces'])),
                         'piece.verified: every piece exactly once')
        per_seeder = {s.addr: 0 for s in seeders}
        for e in verified:
            for a in e['peers']:
                self.assertIn(a, per_seeder, 'piece %d credited to an unknown peer: %r'
                              % (e['piece'], e))
                per_seeder[a] += 1
        uploaded = {s.addr: s.call('torrent.get', {'id': t['id']})['uploaded']
                    for s, t in zip(seeders, ts)}
        print('3 -> 1: %d MiB in %.2f s; pieces with blocks from each seeder: %s; '
              'uploaded by each: %s' % (size // MiB, took, per_seeder, uploaded))
        for s in seeders:
            self.assertGreater(per_seeder[s.addr], 0, 'no piece came from seeder %s: %s'
                               % (s.addr, per_seeder))
            self.assertGreater(uploaded[s.addr], 0, 'seeder %s uploaded nothing: %s'
                               % (s.addr, uploaded))
        self.assertGreaterEqual(sum(uploaded.values()), size)
        # the leecher keeps its honest seeders while it needs them: once all three
        # are connected, each stays connected until 90 % are in
        all3 = sorted(s.addr for s in seeders)
        first = next((i for i, (_, a) in enumerate(seen) if a == all3), None)
        self.assertIsNotNone(first, 'torrent.peers never listed all three seeders: %s' % seen)
        for prog, addrs in seen[first:]:
            if prog < 0.9:
                self.assertEqual(addrs, all3, 'at %.0f%% the leecher was connected to %s only; '
                                 'its peer connections closed: %s'
                                 % (100 * prog, addrs, self.peer_closes(leecher)))
        # three equally fast seeders: each should carry about a third; none may be
        # left idle (e.g. because the leecher dropped its connection)
        for s in seeders:
            self.assertGreaterEqual(uploaded[s.addr], size / 4,
                                    'seeder %s sent only %.0f%% of the data (uploaded: %s); '
                                    "the leecher's peer connections closed: %s"
                                    % (s.addr, 100.0 * uploaded[s.addr] / size, uploaded,
                                       self.peer_closes(leecher)))
        self.assertEqual([e for e in events if e['type'] != 'piece.verified'], [],
                         'honest seeders: no piece may fail, no peer be banned')
        self.assertGreaterEqual(g['downloaded'], size)

    def test_one_seeder_five_leechers(self):
        seeder = self.node(2)
        leechers = [self.node(n) for n in range(3, 8)]
        size = 16 * MiB
        data = data_bytes(size, 'swarm-1to5')
        src = os.path.join(seeder.root, 'dist.tar')
        write_file(src, data)
        ts, meta = self.seed(seeder, src, piece_length=64 * 1024)
        # five copies from the seeder alone would take 10 s at 8 MiB/s
        seeder.call('session.set', {'key': 'upload_rate_limit', 'value': '8M'})
        tls = [self.leech(lc, meta) for lc in leechers]
        t0 = time.monotonic()
        for lc, tl in zip(leechers, tls):
            for a in [seeder.addr] + [x.addr for x in leechers if x is not lc]:
                r = lc.call('peer.add', {'id': tl['id'], 'address': a})
                self.assertEqual(r.get('queued'), True, r)
        done = {}
        last = {}
        for _ in range(1000):
            for lc, tl in zip(leechers, tls):
                if lc.addr in done:
                    continue
                g = last[lc.addr] = lc.call('torrent.get', {'id': tl['id']})
                self.assertNotEqual(g['state'], 'error', g)
                if g['state'] == 'seeding':
                    done[lc.addr] = (g, time.monotonic() - t0)
            if len(done) == len(leechers) or time.monotonic() - t0 > 60:
                break
            time.sleep(0.1)
        took = time.monotonic() - t0
        self.assertEqual(sorted(done), sorted(lc.addr for lc in leechers),
                         'leechers complete after %.0f s; the others:\n%s'
                         % (took, '\n'.join(self.stuck(lc, last[lc.addr]) for lc in leechers
                                            if lc.addr not in done)))
        for lc in leechers:
            self.assertSameBytes(os.path.join(lc.download_dir, 'dist.tar'), data,
                                 'the copy on %s' % lc.addr)
        up = seeder.call('torrent.get', {'id': ts['id']})['uploaded']
        from_peers = {}
        for lc, tl in zip(leechers, tls):
            g = lc.call('torrent.get', {'id': tl['id']})
            self.assertGreaterEqual(g['downloaded'], size, g)
            from_peers[lc.addr] = g['uploaded']
        print('1 -> 5: %d MiB to 5 leechers in %.2f s (last done); seeder uploaded %.2f '
              'copies; leechers uploaded: %s' % (size // MiB, took, up / size,
                                                 {host_of(a): v for a, v in from_peers.items()}))
        self.assertGreaterEqual(up, size, 'the seeder must have sent each piece once')
        self.assertLess(up, 4 * size, 'the seeder sent %.2f copies to 5 leechers: they did not '
                        'share among themselves' % (up / size))
        # and the swarm is faster than no swarm: the seeder alone, at its limit,
        # would need 10 s to send five copies
        self.assertLess(took, 5 * size / (8 * MiB),
                        'the five leechers took %.1f s, longer than the seeder alone would need '
                        "for five copies; the leechers' peer connections closed: %s"
                        % (took, {lc.ip: self.peer_closes(lc) for lc in leechers}))
        self.assertGreater(sum(from_peers.values()), size,
                           'leechers uploaded only %d bytes to each other'
                           % sum(from_peers.values()))


if __name__ == '__main__':
    main()
