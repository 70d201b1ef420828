#!/usr/bin/python3
"""libtorrent's DHT and p2pd's DHT answer each other's get_peers (BEP 5).

A small DHT of p2pd nodes on 127.0.0.x (the first one the bootstrap node of all
the others) plus libtorrent sessions whose only bootstrap node is that first
p2pd; nothing else is known to anyone, no tracker and no peer address is given:

- libtorrent seeds and announces itself through p2pd's nodes; a p2pd that has
  only the magnet link finds libtorrent with get_peers and downloads the file;
- p2pd seeds and announces itself; libtorrent, given only the magnet link, finds
  p2pd with its own get_peers lookup and downloads the file;
- libtorrent's session-level dht_get_peers against p2pd's nodes names p2pd's
  seeder; libtorrent's announce_peer for a download is stored by p2pd and served
  back to a p2pd lookup; p2pd's dht.status counts libtorrent's queries.

Unlike the other interop tests libtorrent runs with its DHT on; its restrictions
that would drop our nodes (several on one /24, loopback, node ids not derived
from the address) are relaxed, LSD, UPnP and NAT-PMP stay off, and it listens on
its own 127.0.0.x. Every wait is bounded; only processes started here are
stopped, by pid (p2ptest.Daemon).
"""

import hashlib
import json
import os
import re
import time

from interop import (PIECE, InteropTest, LT_ALERTS, info_hash_hex, lt_make_torrent, main,
                     p2pd_describe, rate_line, require, say, write_random_file)
from p2ptest import wait_until

require(libtorrent=True)

SIZE = 8 << 20          # small: the test is about finding the peer, not the transfer
P2PD_NODES = 4          # p2pd nodes in the DHT (the first one bootstraps the others)
BASE = 150              # p2pd nodes on 127.0.0.150..; libtorrent sessions on 127.0.0.170..
LT_BASE = 170
JOIN_TIMEOUT = 30.0     # routing tables filled
FIND_TIMEOUT = 45.0     # a lookup (every 15 s while a p2pd download has no peer) finds it


def ip(n):
    return '127.0.0.%d' % n


def dht_stat(d):
    return d.call('dht.status', timeout=5.0)


class DhtLibtorrent(InteropTest):

    # ------------------------------------------------------------ the network

    def p2pd_dht(self, n=P2PD_NODES):
        """n p2pd nodes with the DHT on 127.0.0.BASE+i, all bootstrapping from the
        first; returns them once every table holds the n-1 others."""
        boot = self.daemon(listen='%s:0' % ip(BASE), dht=True)
        boot.udp = dht_stat(boot)['listen'][0]
        nodes = [boot]
        for i in range(1, n):
            d = self.daemon(listen='%s:0' % ip(BASE + i), dht=True,
                            args=['--dht-bootstrap', boot.udp])
            d.udp = dht_stat(d)['listen'][0]
            nodes.append(d)
        for d in nodes:
            self.assertTrue(d.udp.startswith('127.0.0.'), d.udp)

        def joined():
            return all(dht_stat(d)['good']['ipv4'] >= n - 1 for d in nodes)
        try:
            wait_until(joined, JOIN_TIMEOUT, 0.2, 'p2pd routing tables to hold each other')
        except AssertionError:
            self.fail('p2pd nodes did not find each other: %s'
                      % [dht_stat(d) for d in nodes])
        return nodes

    def lt_dht(self, name, n, bootstrap):
        """A libtorrent session on 127.0.0.n with its DHT on, knowing only the p2pd
        node `bootstrap` (host:port); returns once its routing table holds a node
        (libtorrent never puts a bootstrap "router" into its table, so this means it
        learned another p2pd node from the bootstrap node's replies)."""
        lt_mod = __import__('libtorrent')
        mask = 0
        for c in LT_ALERTS + ('dht', 'dht_operation', 'dht_log', 'tracker'):
            mask |= int(getattr(lt_mod.alert_category, c))
        lt = self.lt_session(name, **{
            'listen_interfaces': '%s:0' % ip(n),
            'enable_dht': True,
            'dht_bootstrap_nodes': bootstrap,
            # BEP 42 and the anti-Sybil rules would drop nodes that are all on
            # 127.0.0.0/24, loopback and with ids not derived from their address.
            'dht_restrict_routing_ips': False,
            'dht_restrict_search_ips': False,
            'dht_ignore_dark_internet': False,
            'dht_enforce_node_id': False,
            'dht_prefer_verified_node_ids': False,
            'alert_mask': mask,
        })
        lt.ip = ip(n)
        lt.ses.add_extension('ut_metadata')
        self.assertTrue(lt.ses.is_dht_running(), '%s: DHT not running' % name)

        seen = {}

        def table():
            lt.ses.post_dht_stats()
            for a in lt.pump():
                if type(a).__name__ == 'dht_stats_alert':
                    seen['nodes'] = sum(b['num_nodes'] for b in a.routing_table)
            return seen.get('nodes', 0) >= 1
        try:
            wait_until(table, JOIN_TIMEOUT, 0.2, '%s DHT routing table' % name)
        except AssertionError:
            self.fail('%s learned no DHT node from p2pd at %s\n%s'
                      % (name, bootstrap, lt.log_tail(120)))
        return lt

    def stored(self, nodes):
        """Peers stored by the p2pd nodes, summed (announce_peer that arrived)."""
        return sum(dht_stat(d)['stored']['peers'] for d in nodes)

    def wait_stored(self, nodes, at_least, what, other=None, nudge=None):
        """Until the p2pd nodes store at_least peers in all, and that sum has not
        changed for 0.5 s (an announce reaches several nodes; the next wait must not
        count the stragglers of this one). nudge() is called once if nothing has
        arrived after 10 s (libtorrent announces a new torrent at once by itself)."""
        t0 = time.monotonic()
        last = {'n': -1, 'since': 0.0, 'nudged': nudge is None}

        def settled():
            n = self.stored(nodes)
            now = time.monotonic()
            if n != last['n']:
                last['n'], last['since'] = n, now
            if n < at_least and not last['nudged'] and now - t0 > 10.0:
                say('%s: nothing after 10 s, forcing an announce' % what)
                last['nudged'] = True
                nudge()
            return n >= at_least and now - last['since'] >= 0.5
        try:
            wait_until(settled, FIND_TIMEOUT, 0.1, what)
        except AssertionError:
            self.fail('%s: p2pd nodes store %d peers, want %d\n%s\n%s'
                      % (what, self.stored(nodes), at_least,
                         json.dumps([dht_stat(d) for d in nodes]),
                         other() if other else ''))

    def check_answered(self, lt, nodes):
        """From libtorrent's packet log: every KRPC query it sent to a p2pd node got
        a reply with the same transaction id, none an error. Returns the counts."""
        p2pd = {d.udp for d in nodes}
        pkt = re.compile(r"dht_pkt_alert: (==>|<==) \[([0-9.]+:[0-9]+)\] (.*)$")
        asked, answered, errors = {}, set(), []
        for line in lt.log:
            m = pkt.search(line)
            if not m or m.group(2) not in p2pd:
                continue
            body = m.group(3)
            t = re.search(r"'t': '([0-9a-f]*)'", body)
            y = re.search(r"'y': '(.)'", body)
            if not t or not y:
                continue
            key = (m.group(2), t.group(1))
            if m.group(1) == '==>' and y.group(1) == 'q':
                q = re.search(r"'q': '([a-z_]+)'", body)
                asked[key] = q.group(1) if q else '?'
            elif m.group(1) == '<==' and y.group(1) == 'r':
                answered.add(key)
            elif m.group(1) == '<==' and y.group(1) == 'e':
                errors.append(line)
        missing = [(k, v) for k, v in asked.items() if k not in answered]
        methods = sorted(set(asked.values()))
        limited = sum(dht_stat(d)['traffic']['rate_limited'] for d in nodes)
        say('%s sent %d queries (%s) to p2pd nodes: %d answered, %d errors, %d unanswered%s; '
            'p2pd rate-limited %d datagrams'
            % (lt.name, len(asked), ', '.join(methods), len(asked) - len(missing),
               len(errors), len(missing), ' %s' % missing if missing else '', limited))
        self.assertEqual(errors, [], 'p2pd answered libtorrent with KRPC errors')
        # Unanswered: those p2pd's per-address rate limit dropped (5/s, burst 10:
        # right after bootstrap libtorrent refreshes its buckets with a burst of
        # get_peers, which in a 4-node DHT all go to the same few nodes), plus the
        # last one or two, which may still be in flight.
        self.assertLessEqual(len(missing), limited + 2,
                             'libtorrent queries p2pd left unanswered: %s\n%s'
                             % (missing, lt.log_tail(200)))
        self.assertIn('get_peers', methods)
        return len(asked)

    # ------------------------------------------------------------ the cases

    def test_a_p2pd_finds_libtorrent_seeder(self):
        """libtorrent seeds and announces only through p2pd's nodes; p2pd gets the
        magnet link alone and downloads from it."""
        nodes = self.p2pd_dht()
        work = self.scratch()
        src = os.path.join(work, 'seed', 'dht-from-libtorrent.bin')
        write_random_file(src, SIZE)
        torrent = lt_make_torrent(src, PIECE)
        ih = info_hash_hex(torrent)

        lt = self.lt_dht('libtorrent-seeder', LT_BASE, nodes[0].udp)
        before = self.stored(nodes)
        # libtorrent announces a torrent as soon as it starts (and when forced).
        h = lt.add(torrent, os.path.dirname(src), seed=True)
        self.wait_stored(nodes, before + 1, 'libtorrent announce_peer stored by p2pd',
                         lambda: lt.log_tail(120), nudge=h.force_dht_announce)

        leecher = nodes[-1]
        c = self.subscribe_transfer(leecher)
        found0 = dht_stat(leecher)['traffic']['peers_found']
        magnet = 'magnet:?xt=urn:btih:' + ih
        t0 = time.monotonic()
        t = leecher.call('torrent.add', {'magnet': magnet})
        tid = t['id']
        self.assertEqual(t['state'], 'downloading', t)
        try:
            wait_until(lambda: dht_stat(leecher)['traffic']['peers_found'] > found0,
                       FIND_TIMEOUT, 0.02, 'p2pd to find a peer through the DHT')
        except AssertionError:
            self.fail('p2pd found no peer through the DHT within %.0f s\n%s\n%s'
                      % (FIND_TIMEOUT, p2pd_describe(leecher, tid), lt.describe(h)))
        t_found = time.monotonic() - t0
        self.wait_p2pd_complete(leecher, tid, other=lambda: lt.describe(h), timeout=60)
        dt = time.monotonic() - t0
        say('p2pd found libtorrent through the DHT %.2f s after torrent.add (lookups start '
            'on a 1 s tick), had the file %.2f s later' % (t_found, dt - t_found))
        g = leecher.call('torrent.get', {'id': tid})
        self.assertEqual((g['name'], g['size'], g['info_hash']),
                         ('dht-from-libtorrent.bin', SIZE, ih), g)
        self.assertSameFile(os.path.join(leecher.download_dir, g['name']), src,
                            'p2pd download of a magnet found through the DHT')
        self.check_transfer_events(c, g, peer_addr='%s:%d' % (lt.ip, lt.port))
        st = dht_stat(leecher)
        self.assertGreater(st['traffic']['peers_found'], found0, st)
        lt.pump()
        self.check_answered(lt, nodes)
        say(rate_line('libtorrent -> p2pd (magnet, peer from the DHT)', SIZE, dt))

    def test_b_libtorrent_finds_p2pd_seeder(self):
        """p2pd seeds and announces; libtorrent gets the magnet link alone, finds
        p2pd with its own get_peers and downloads from it."""
        nodes = self.p2pd_dht()
        work = self.scratch()
        seeder = nodes[1]
        src = os.path.join(work, 'share', 'dht-to-libtorrent.bin')
        write_random_file(src, SIZE)
        before = self.stored(nodes)
        t = seeder.call('torrent.share', {'path': src, 'piece_length': PIECE}, timeout=60)
        magnet = seeder.call('torrent.export', {'id': t['id']})['magnet']
        self.assertNotIn('tr=', magnet)
        self.assertNotIn('x.pe=', magnet)
        self.wait_stored(nodes, before + 1, 'p2pd seeder announce stored',
                         lambda: p2pd_describe(seeder, t['id']))

        lt = self.lt_dht('libtorrent-leecher', LT_BASE + 1, nodes[0].udp)
        atp = lt.lt.parse_magnet_uri(magnet)
        dl = os.path.join(work, 'lt')
        atp.save_path = dl
        atp.flags &= ~(lt.lt.torrent_flags.auto_managed | lt.lt.torrent_flags.paused)
        t0 = time.monotonic()
        h = lt.ses.add_torrent(atp)
        self.assertEqual(str(h.info_hash()), t['info_hash'])
        err = None
        try:
            lt.wait_finished(h, timeout=FIND_TIMEOUT + 30, stall=FIND_TIMEOUT)
        except AssertionError as e:
            err = str(e)
        if err:
            self.fail('%s\n%s\n%s' % (err, p2pd_describe(seeder, t['id']), lt.log_tail(200)))
        dt = time.monotonic() - t0
        lt.flush(h)
        self.assertSameFile(os.path.join(dl, 'dht-to-libtorrent.bin'), src,
                            'libtorrent download of a magnet found through the DHT')
        # The p2pd seeder was the only source (libtorrent drops it once both seed).
        self.wait_counter(seeder, t['id'], 'uploaded', SIZE)
        self.check_answered(lt, nodes)
        say(rate_line('p2pd -> libtorrent (magnet, peer from the DHT)', SIZE, dt))

    def test_c_libtorrent_dht_calls(self):
        """libtorrent's session-level dht_get_peers against p2pd's nodes: the reply
        names the p2pd seeder; libtorrent's announce is stored by p2pd and a p2pd
        lookup finds it; p2pd counts libtorrent's queries."""
        nodes = self.p2pd_dht()
        work = self.scratch()
        seeder = nodes[2]
        src = os.path.join(work, 'share', 'dht-get-peers.bin')
        write_random_file(src, 1 << 20)
        before = self.stored(nodes)
        t = seeder.call('torrent.share', {'path': src, 'piece_length': PIECE}, timeout=60)
        self.wait_stored(nodes, before + 1, 'p2pd seeder announce stored')
        queries0 = sum(dht_stat(d)['traffic']['queries_in'] for d in nodes)

        lt = self.lt_dht('libtorrent-dht', LT_BASE + 2, nodes[0].udp)
        sha1 = lt.lt.sha1_hash(bytes.fromhex(t['info_hash']))
        seeder_addr = (seeder.listen.split(':')[0], int(seeder.udp.rsplit(':', 1)[1]))

        # get_peers: one lookup may end before the announce reached every node; retry.
        got = []
        for attempt in range(3):
            lt.ses.dht_get_peers(sha1)
            reply = self.lt_wait_alert(lt, 'dht_get_peers_reply_alert',
                                       lambda a: str(a.info_hash) == t['info_hash'], 20.0)
            got = [tuple(p) for p in reply.peers()]
            if seeder_addr in got:
                break
        self.assertIn(seeder_addr, got, 'libtorrent dht_get_peers did not return the p2pd '
                      'seeder\n%s' % lt.log_tail(200))

        # announce_peer from a libtorrent download (not a seed): a made-up info-hash
        # nobody has. (Session.dht_announce cannot be called from Python 2.0.8: its
        # flags type has no converter.) p2pd stores it and serves it back to a
        # p2pd lookup; nothing is to be had from libtorrent, only the finding counts.
        ih2 = hashlib.sha1(os.urandom(20)).digest()
        before = self.stored(nodes)
        atp = lt.lt.add_torrent_params()
        atp.info_hashes = lt.lt.info_hash_t(lt.lt.sha1_hash(ih2))
        atp.save_path = os.path.join(work, 'lt')
        atp.flags &= ~(lt.lt.torrent_flags.auto_managed | lt.lt.torrent_flags.paused)
        h2 = lt.ses.add_torrent(atp)
        self.wait_stored(nodes, before + 1, 'libtorrent announce_peer stored by p2pd',
                         lambda: lt.log_tail(200), nudge=h2.force_dht_announce)
        leecher = nodes[3]
        found0 = dht_stat(leecher)['traffic']['peers_found']
        leecher.call('torrent.add', {'magnet': 'magnet:?xt=urn:btih:' + ih2.hex()})
        try:
            wait_until(lambda: dht_stat(leecher)['traffic']['peers_found'] > found0,
                       FIND_TIMEOUT, 0.1, 'p2pd lookup to find libtorrent\'s announce')
        except AssertionError:
            self.fail('p2pd found no peer for the info-hash libtorrent announced\n%s\n%s'
                      % (json.dumps([dht_stat(d) for d in nodes]), lt.log_tail(200)))
        lt.pump()
        queries = sum(dht_stat(d)['traffic']['queries_in'] for d in nodes) - queries0
        lt_queries = self.check_answered(lt, nodes)
        say('the p2pd nodes counted %d incoming queries meanwhile (libtorrent\'s and '
            'their own)' % queries)
        self.assertGreaterEqual(queries, lt_queries, 'p2pd dht.status queries_in')

    def lt_wait_alert(self, lt, name, pred, timeout):
        box = []

        def check():
            for a in lt.pump():
                if type(a).__name__ == name and pred(a):
                    box.append(a)
            return bool(box)
        try:
            wait_until(check, timeout, 0.05, '%s %s' % (lt.name, name))
        except AssertionError:
            self.fail('%s: no %s within %.0f s\n%s' % (lt.name, name, timeout, lt.log_tail(200)))
        return box[0]


if __name__ == '__main__':
    main()
