#!/usr/bin/python3
"""The DHT (BEP 5) between real daemons on 127.0.0.x: twenty daemons that know
only one bootstrap node find each other, and a magnet link completes with no
tracker and no address given; the routing table survives a restart; hostile
KRPC datagrams are answered with errors or dropped while the node keeps working."""

import os
import socket
import time

from xfer import MiB, XferTest, data_bytes, main, write_file, host_of  # sets up the path
from p2ptest import bencode, bdecode, wait_until  # noqa: E402


def udp_port(d):
    return int(d.addr.rsplit(':', 1)[1])


class DhtTest(XferTest):

    def dht_node(self, n, bootstrap=None, **kw):
        args = ['--dht-bootstrap', bootstrap] if bootstrap else []
        return self.node(n, debug=False, dht=True, args=args, **kw)

    def table_size(self, d):
        st = d.call('dht.status')
        return st['nodes']['ipv4'] + st['nodes']['ipv6']

    def test_twenty_daemons_magnet_over_dht(self):
        boot = self.dht_node(2)
        nodes = [boot] + [self.dht_node(n, bootstrap=boot.addr) for n in range(3, 22)]
        self.assertEqual(len(nodes), 20)
        # Everyone learns more than the one address they were given.
        wait_until(lambda: all(self.table_size(d) >= 5 for d in nodes), 30, 0.5,
                   'every DHT routing table to hold 5 nodes')
        print('table sizes:', [self.table_size(d) for d in nodes])
        seeder, leecher = nodes[9], nodes[17]
        data = data_bytes(4 * MiB, 'dht')
        src = os.path.join(seeder.root, 'over-dht.bin')
        write_file(src, data)
        t, _meta = self.seed(seeder, src, piece_length=64 * 1024)
        magnet = seeder.call('torrent.export', {'id': t['id']})['magnet']
        self.assertNotIn('tr=', magnet)
        started = time.monotonic()
        lt = leecher.call('torrent.add', {'magnet': magnet})
        self.wait_done(leecher, lt['id'], 90, what='magnet download found through the DHT')
        print('magnet over DHT completed in %.1f s' % (time.monotonic() - started))
        self.assertSameBytes(os.path.join(leecher.download_dir, 'over-dht.bin'), data)
        st = leecher.call('dht.status')
        self.assertGreaterEqual(st['traffic']['peers_found'], 1, st)
        status = leecher.call('session.status')['dht']
        self.assertTrue(status['enabled'])
        self.assertEqual(status['node_id'], st['node_id'])

    def test_table_and_id_survive_restart(self):
        boot = self.dht_node(2)
        other = self.dht_node(3, bootstrap=boot.addr)
        wait_until(lambda: other.call('dht.status')['good']['ipv4'] >= 1, 20, 0.2,
                   'the node to join through its bootstrap node')
        before = other.call('dht.status')['node_id']
        other.stop()
        # No bootstrap this time: only the saved table can bring it back.
        other.args = [a for a in other.args if a != '--dht-bootstrap' and a != boot.addr]
        self.restart(other)
        st = wait_until(lambda: (lambda s: s['good']['ipv4'] >= 1 and s)(
            other.call('dht.status')), 20, 0.2, 'the restarted node to rejoin from its saved table')
        self.assertEqual(st['node_id'], before, 'the node id changed across a restart')

    def test_ipv6_magnet(self):
        """BEP 32: nodes on [::1] only, an IPv6 routing table, a magnet over it."""
        def v6node(bootstrap=None):
            d = self.daemon(listen='[::1]:0', dht=True,
                            args=['--dht-bootstrap', bootstrap] if bootstrap else [])
            d.addr = d.call('session.status')['listen'][0]
            return d
        boot = v6node()
        nodes = [boot] + [v6node(boot.addr) for _ in range(4)]
        wait_until(lambda: all(d.call('dht.status')['nodes']['ipv6'] >= 3 for d in nodes), 30,
                   0.5, 'IPv6 routing tables to fill')
        self.assertEqual(nodes[1].call('dht.status')['nodes']['ipv4'], 0)
        data = data_bytes(MiB, 'dht6')
        src = os.path.join(nodes[2].root, 'over-v6.bin')
        write_file(src, data)
        t, _ = self.seed(nodes[2], src)
        magnet = nodes[2].call('torrent.export', {'id': t['id']})['magnet']
        lt = nodes[4].call('torrent.add', {'magnet': magnet})
        self.wait_done(nodes[4], lt['id'], 60, what='magnet over the IPv6 DHT')
        self.assertSameBytes(os.path.join(nodes[4].download_dir, 'over-v6.bin'), data)

    def test_port_message_joins(self):
        """BEP 5 PORT: two nodes with no bootstrap at all meet through a torrent
        connection, and each puts the other's DHT node in its table."""
        a = self.dht_node(2)
        b = self.dht_node(3)
        src = os.path.join(a.root, 'port.bin')
        write_file(src, data_bytes(200000, 'port'))
        _, meta = self.seed(a, src)
        self.leech(b, meta, peers=[a.addr])
        for d in (a, b):
            wait_until(lambda: d.call('dht.status')['good']['ipv4'] >= 1, 10, 0.1,
                       'the PORT message to add a node to the routing table')

    def test_dht_off(self):
        d = self.node(2, debug=False)
        st = d.call('dht.status')
        self.assertFalse(st['enabled'])
        self.assertFalse(d.call('session.status')['dht']['enabled'])

    def test_hostile_krpc(self):
        d = self.dht_node(2)
        addr = (host_of(d.addr), udp_port(d))
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(('127.0.0.9', 0))
        s.settimeout(0.5)
        self.addCleanup(s.close)

        def ask(msg):
            """Sends msg, returns the answer with its transaction id (the node's own
            queries to us, such as a ping to check our address, are skipped)."""
            tid = bdecode(msg).get(b't') if msg.startswith(b'd') else None
            s.sendto(msg, addr)
            for _ in range(10):
                try:
                    r = bdecode(s.recvfrom(65536)[0])
                except socket.timeout:
                    break
                if r.get(b't') == tid:
                    return r
            self.fail('no answer to %r' % msg[:60])

        myid = b'\x11' * 20
        junk = [b'', b'x', b'd', b'de', b'i1e', b'l' * 10000, b'd1:y1:qe',
                b'5:abc', b'd1:t2:aa1:y1:r1:rd2:id3:abcee', os.urandom(9000),
                b'd1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe']
        for j in junk[:-1]:
            s.sendto(j, addr)
        # A query with a 3-byte node id is refused with an error (BEP 5: 203).
        r = ask(junk[-1])
        self.assertEqual(r[b'y'], b'e')
        self.assertEqual(r[b'e'][0], 203)
        # A good ping still works, and names our address (BEP 42 "ip").
        r = ask(bencode({'t': 'p1', 'y': 'q', 'q': 'ping', 'a': {'id': myid}}))
        self.assertEqual(r[b'y'], b'r')
        self.assertEqual(len(r[b'r'][b'id']), 20)
        # Unknown method: 204.
        r = ask(bencode({'t': 'u1', 'y': 'q', 'q': 'vote', 'a': {'id': myid}}))
        self.assertEqual((r[b'y'], r[b'e'][0]), (b'e', 204))
        # announce_peer with a made-up token: 203, and nothing is stored.
        ih = os.urandom(20)
        r = ask(bencode({'t': 'a1', 'y': 'q', 'q': 'announce_peer',
                         'a': {'id': myid, 'info_hash': ih, 'port': 4000, 'token': 'forged!!'}}))
        self.assertEqual((r[b'y'], r[b'e'][0]), (b'e', 203))
        # With the token get_peers gave, the announce is stored and served.
        r = ask(bencode({'t': 'g1', 'y': 'q', 'q': 'get_peers',
                         'a': {'id': myid, 'info_hash': ih}}))
        tok = r[b'r'][b'token']
        r = ask(bencode({'t': 'a2', 'y': 'q', 'q': 'announce_peer',
                         'a': {'id': myid, 'info_hash': ih, 'port': 4000, 'token': tok}}))
        self.assertEqual(r[b'y'], b'r')
        time.sleep(0.5)  # stay inside the per-address rate limit
        r = ask(bencode({'t': 'g2', 'y': 'q', 'q': 'get_peers',
                         'a': {'id': myid, 'info_hash': ih}}))
        self.assertEqual(r[b'r'][b'values'], [socket.inet_aton('127.0.0.9') + b'\x0f\xa0'])
        # A flood from one address is cut to the rate limit, not answered 300 times.
        ping = bencode({'t': 'fl', 'y': 'q', 'q': 'ping', 'a': {'id': myid}})
        for _ in range(300):
            s.sendto(ping, addr)
        answers = 0
        for _ in range(300):
            try:
                r, _ = s.recvfrom(65536)
            except socket.timeout:
                break
            answers += bdecode(r).get(b't') == b'fl'
        self.assertLessEqual(answers, 20, 'a ping flood was answered %d times' % answers)
        st = d.call('dht.status')
        print('after the hostile datagrams:', st['traffic'])
        self.assertGreaterEqual(st['traffic']['malformed'], 8)
        self.assertGreater(st['traffic']['rate_limited'], 150)
        self.assertGreaterEqual(st['traffic']['oversize'], 1)
        self.assertTrue(d.running())


if __name__ == '__main__':
    main()
