#!/usr/bin/python3
"""Local Service Discovery (BEP 14): two p2pd with nothing configured (no tracker,
no peer.add, no DHT) find each other by multicast and move a file bit-identical,
from a magnet. --no-lsd and `lsd = no` really stop it; a private torrent is never
announced; an interface without MULTICAST turns LSD off without stopping p2pd.

Multicast must never leave this machine and the host's loopback has no MULTICAST
flag, so the test re-executes itself in a network namespace of its own
(`unshare -n`, needs root) holding nothing but a loopback, which it sets up for
multicast. Without that permission the test is skipped (exit 77). A sniffer socket
in the namespace sees every announce, so "never announced" is checked on the wire.
"""

import base64
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time

NETNS_MARK = 'P2P_LSD_TEST_NETNS'
GROUP = '239.192.152.143'
PORT = 6771
SKIP = 77
V6 = ('fd00:14::2', 'fd00:14::3')     # unique local addresses, on our veth pair only
LT_IP = '127.0.0.9'                     # libtorrent's, apart from the daemons' 127.0.0.2-4


def skip(why):
    sys.stderr.write('SKIP: %s\n' % why)
    sys.exit(SKIP)


def run(cmd):
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=30)


def enter_netns():
    """Re-executes this file under `unshare -n` (once); inside, readies lo."""
    if os.environ.get(NETNS_MARK) != '1':
        if os.geteuid() != 0:
            skip('needs root for a private network namespace (unshare -n)')
        try:
            probe = run(['unshare', '-n', 'true'])
        except (OSError, subprocess.SubprocessError) as e:
            skip('cannot run unshare: %s' % e)
        if probe.returncode != 0:
            skip('unshare -n is not permitted here: %s' % probe.stdout.decode().strip())
        env = dict(os.environ)
        env[NETNS_MARK] = '1'
        os.execvpe('unshare', ['unshare', '-n', sys.executable, os.path.abspath(__file__)]
                   + sys.argv[1:], env)
    # Safety: multicast goes only where nothing but our loopback exists.
    links = run(['ip', '-o', 'link', 'show']).stdout.decode()
    names = [ln.split(':')[1].strip().split('@')[0] for ln in links.splitlines() if ':' in ln]
    if names != ['lo']:
        sys.exit('refusing to run: the namespace has interfaces other than lo: %s' % names)
    # IPv4 on lo; IPv6 multicast does not loop back on lo, so a veth pair (both
    # ends in this namespace) is the "LAN" of the IPv6 test.
    for cmd in (['ip', 'link', 'set', 'lo', 'up'], ['ip', 'link', 'set', 'lo', 'multicast', 'on'],
                ['ip', 'route', 'add', '224.0.0.0/4', 'dev', 'lo'],
                ['ip', 'link', 'add', 'lsd0', 'type', 'veth', 'peer', 'name', 'lsd1'],
                ['ip', 'link', 'set', 'lsd0', 'up'], ['ip', 'link', 'set', 'lsd1', 'up'],
                ['ip', '-6', 'addr', 'add', V6[0] + '/64', 'dev', 'lsd0', 'nodad'],
                ['ip', '-6', 'addr', 'add', V6[1] + '/64', 'dev', 'lsd1', 'nodad']):
        r = run(cmd)
        if r.returncode != 0:
            sys.exit('cannot set up the namespace: %s: %s' % (' '.join(cmd), r.stdout.decode()))


if __name__ == '__main__':
    enter_netns()

from xfer import MiB, XferTest, data_bytes, main, write_file  # noqa: E402
from p2ptest import make_torrent, wait_until  # noqa: E402


class Sniffer:
    """Every datagram sent to the IPv4 group, with its source, seen from lo."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((GROUP, PORT))
        mreq = struct.pack('4s4s', socket.inet_aton(GROUP), socket.inet_aton('127.0.0.1'))
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        self.sock.settimeout(0.1)
        self.got = []
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        for _ in range(10 ** 7):
            if self.stopping:
                return
            try:
                data, src = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.got.append((src[0], data))

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()

    def announces(self, src_ip=None):
        """[(source ip, port, [hashes lower-case], cookie)] of the announces seen."""
        out = []
        with self.lock:
            got = list(self.got)
        for ip, data in got:
            if src_ip is not None and ip != src_ip:
                continue
            text = data.decode('ascii', 'replace')
            port = re.search(r'(?im)^port:\s*(\d+)', text)
            cookie = re.search(r'(?im)^cookie:\s*(\S+)', text)
            hashes = [h.lower() for h in re.findall(r'(?im)^infohash:\s*([0-9a-f]{40})', text)]
            out.append((ip, int(port.group(1)) if port else None, hashes,
                        cookie.group(1) if cookie else None))
        return out

    def hashes_from(self, src_ip=None):
        return {h for _, _, hs, _ in self.announces(src_ip) for h in hs}


def magnet(ih):
    return 'magnet:?xt=urn:btih:' + ih


class LsdTest(XferTest):

    def sniffer(self):
        s = Sniffer()
        self.addCleanup(s.stop)
        return s

    def lsd_node(self, n, **kw):
        return self.node(n, lsd=True, **kw)

    def prepared(self, d, name, data, private=False, piece_length=64 * 1024):
        """A torrent built here (so its info-hash is known before anyone has it) and
        its data in d's folder. Returns (info-hash, base64 metainfo, data dir)."""
        raw, ih, _ = make_torrent(name, data, piece_length=piece_length, private=private)
        base = os.path.join(d.root, 'seeddata')
        write_file(os.path.join(base, name), data)
        return ih, base64.b64encode(raw).decode(), base

    def start_seeding(self, d, meta, base):
        t = d.call('torrent.add', {'metainfo': meta, 'dir': base})
        t = self.wait_state(d, t['id'], ('seeding', 'error'), timeout=60)
        self.assertEqual(t['state'], 'seeding', 'the data did not check: %r' % t)
        return t

    def peers_of(self, d, tid):
        return d.call('torrent.peers', {'id': tid})['peers']

    def lsd_status(self, d):
        st = d.call('session.status')
        self.assertIn('lsd', st, 'session.status has no lsd object: %r' % st)
        lsd = st['lsd']
        for k, typ in (('enabled', bool), ('groups', list), ('announces_sent', int),
                       ('announces_received', int), ('peers_found', int)):
            self.assertIsInstance(lsd.get(k), typ, 'lsd.%s: %r' % (k, lsd))
        self.assertIn('last_error', lsd)
        return lsd

    def test_magnet_found_by_lsd(self):
        """Nothing configured: the leecher hears the seeder's announce and downloads."""
        sniff = self.sniffer()
        seeder = self.lsd_node(2)
        leecher = self.lsd_node(3)
        for d in (seeder, leecher):
            lsd = self.lsd_status(d)
            self.assertTrue(lsd['enabled'], 'LSD is not on by default: %r' % lsd)
            self.assertEqual(lsd['groups'], ['%s:%d' % (GROUP, PORT)], lsd)
            self.assertIsNone(lsd['last_error'], lsd)
        data = data_bytes(3 * MiB + 1234, 'lsd')
        ih, meta, base = self.prepared(seeder, 'lsd.bin', data)
        t = leecher.call('torrent.add', {'magnet': magnet(ih)})
        self.start_seeding(seeder, meta, base)
        g, took = self.wait_done(leecher, t['id'], 60, what='download found by LSD')
        print('found by LSD and downloaded %d bytes in %.1f s' % (len(data), took))
        self.assertSameBytes(os.path.join(leecher.download_dir, 'lsd.bin'), data)
        got = {p['address'].rsplit(':', 1)[0] for p in self.peers_of(leecher, t['id'])}
        self.assertLessEqual(got, {seeder.ip}, 'connected to strangers: %s' % got)
        ls, ll = self.lsd_status(seeder), self.lsd_status(leecher)
        self.assertGreaterEqual(ls['announces_sent'], 1, ls)
        self.assertGreaterEqual(ll['announces_received'], 1, ll)
        self.assertGreaterEqual(ll['peers_found'], 1, ll)
        # On the wire: BEP 14 announces from each listen address, with its port.
        seen = sniff.announces(seeder.ip)
        self.assertTrue(any(ih in hs for _, _, hs, _ in seen), 'no announce of %s: %r'
                        % (ih, seen))
        self.assertEqual({p for _, p, _, _ in seen}, {int(seeder.addr.rsplit(':', 1)[1])})
        self.assertEqual(len({c for _, _, _, c in seen}), 1, 'one cookie per daemon: %r'
                         % seen)
        # The leecher announces the torrent too (a fast download can beat its first
        # announce, at most one datagram a second).
        wait_until(lambda: ih in sniff.hashes_from(leecher.ip), 10, 0.1,
                   "the leecher's own announce")
        # Its own announces came back to each daemon too, and were not taken for a peer.
        for d in (seeder, leecher):
            self.assertNotIn('found peer %s' % d.addr, d.all_logs().decode('utf-8', 'replace'))

    def test_late_joiner_answered(self):
        """The seeder announced before the leecher existed; the newcomer's announce
        makes it announce again within BEP 14's minute instead of five."""
        seeder = self.lsd_node(2, debug=False)
        data = data_bytes(1 * MiB, 'late')
        ih, meta, base = self.prepared(seeder, 'late.bin', data)
        self.start_seeding(seeder, meta, base)
        wait_until(lambda: self.lsd_status(seeder)['announces_sent'] >= 1, 10, 0.1,
                   'the seeder to announce')
        leecher = self.lsd_node(3, debug=False)
        t = leecher.call('torrent.add', {'magnet': magnet(ih)})
        g, took = self.wait_done(leecher, t['id'], 100, interval=0.5,
                                 what='download by a late joiner')
        print('late joiner done %.1f s after adding the magnet' % took)
        self.assertSameBytes(os.path.join(leecher.download_dir, 'late.bin'), data)
        self.assertGreaterEqual(self.lsd_status(seeder)['announces_sent'], 2)

    def test_lsd_off_is_not_found(self):
        """--no-lsd and `lsd = no`: never announced, so never found."""
        sniff = self.sniffer()
        flag_off = self.node(2, debug=False)                       # --no-lsd (the default here)
        conf_off = self.node(4, debug=False, lsd=True, config='lsd = no\n')
        leecher = self.lsd_node(3)
        for d in (flag_off, conf_off):
            lsd = self.lsd_status(d)
            self.assertFalse(lsd['enabled'], lsd)
            self.assertEqual(lsd['groups'], [], lsd)
        ids = {}
        for d, name in ((flag_off, 'a.bin'), (conf_off, 'b.bin')):
            ih, meta, base = self.prepared(d, name, data_bytes(256 * 1024, name))
            ids[ih] = leecher.call('torrent.add', {'magnet': magnet(ih)})['id']
            self.start_seeding(d, meta, base)
        # The leecher's own announces reach the wire (the set-up works)...
        wait_until(lambda: sniff.hashes_from(leecher.ip) >= set(ids), 10, 0.1,
                   "the leecher's announces")
        # ...and within several announce ticks nobody else has said anything.
        time.sleep(5)
        for ih, tid in ids.items():
            self.assertEqual(self.peers_of(leecher, tid), [], 'found a peer for %s' % ih)
            g = leecher.call('torrent.get', {'id': tid})
            self.assertEqual((g['state'], g['size']), ('downloading', 0), g)
        for d in (flag_off, conf_off):
            self.assertEqual(sniff.announces(d.ip), [], 'a daemon with LSD off announced')
            self.assertEqual(self.lsd_status(d)['announces_sent'], 0)
        self.assertEqual(self.lsd_status(leecher)['peers_found'], 0)

    def test_private_never_announced(self):
        """BEP 27: a private torrent is not announced, nor given LSD peers; a public
        one on the same daemons is."""
        sniff = self.sniffer()
        seeder = self.lsd_node(2)
        leecher = self.lsd_node(3)
        pub_data = data_bytes(512 * 1024, 'pub')
        priv_data = data_bytes(512 * 1024, 'priv')
        pub, pub_meta, base = self.prepared(seeder, 'pub.bin', pub_data)
        priv, priv_meta, _ = self.prepared(seeder, 'priv.bin', priv_data, private=True)
        tp = leecher.call('torrent.add', {'magnet': magnet(pub)})
        tq = leecher.call('torrent.add', {'metainfo': priv_meta})
        self.assertTrue(tq['private'], tq)
        self.start_seeding(seeder, pub_meta, base)
        sq = self.start_seeding(seeder, priv_meta, base)
        self.assertTrue(sq['private'], sq)
        self.wait_done(leecher, tp['id'], 60, what='the public torrent')
        time.sleep(3)   # a few more announce ticks for the private one to (not) show up
        self.assertIn(pub, sniff.hashes_from(seeder.ip))
        self.assertNotIn(priv, sniff.hashes_from(), 'the private torrent was announced')
        self.assertEqual(self.peers_of(leecher, tq['id']), [],
                         'the private torrent got a peer without being told of one')
        self.assertEqual(leecher.call('torrent.get', {'id': tq['id']})['pieces_have'], 0)

    def v6_node(self, addr):
        d = self.daemon(listen='[%s]:0' % addr, lsd=True, args=['--log-level', 'debug'])
        d.ip = addr
        d.addr = self.listen_addr(d)
        return d

    def test_ipv6(self):
        """The same over IPv6: [ff15::efc0:988f]:6771 out of the listen address's interface."""
        seeder = self.v6_node(V6[0])
        leecher = self.v6_node(V6[1])
        for d in (seeder, leecher):
            lsd = self.lsd_status(d)
            self.assertEqual((lsd['enabled'], lsd['groups']), (True, ['[ff15::efc0:988f]:6771']),
                             lsd)
        data = data_bytes(1 * MiB + 77, 'lsd6')
        ih, meta, base = self.prepared(seeder, 'six.bin', data)
        t = leecher.call('torrent.add', {'magnet': magnet(ih)})
        self.start_seeding(seeder, meta, base)
        self.wait_done(leecher, t['id'], 60, what='download found by LSD over IPv6')
        self.assertSameBytes(os.path.join(leecher.download_dir, 'six.bin'), data)
        self.assertIn('found peer %s' % seeder.addr, leecher.all_logs().decode())

    def test_libtorrent(self):
        """libtorrent (enable_lsd) and p2pd find each other, both ways, by LSD alone."""
        try:
            import libtorrent as lt
        except ModuleNotFoundError:
            self.skipTest('python3-libtorrent is not installed')
        d = self.lsd_node(2)
        work = self.tmpdir()
        ses = lt.session({'listen_interfaces': LT_IP + ':0', 'enable_lsd': True,
                          'enable_dht': False, 'enable_upnp': False, 'enable_natpmp': False,
                          'enable_incoming_utp': False, 'enable_outgoing_utp': False,
                          'alert_mask': lt.alert.category_t.error_notification
                          | lt.alert.category_t.peer_notification
                          | lt.alert.category_t.status_notification
                          | lt.alert.category_t.storage_notification})
        log = []

        def stop_lt():
            # Quiet at once: the session object may outlive the test in Python.
            ses.apply_settings({'enable_lsd': False})
            for h in ses.get_torrents():
                ses.remove_torrent(h)
            ses.pause()
        self.addCleanup(stop_lt)

        def pump():
            for a in ses.pop_alerts():
                log.append('%s: %s' % (type(a).__name__, a.message()))

        def lt_done(h, what):
            def check():
                pump()
                return h.status().is_seeding
            try:
                wait_until(check, 60, 0.1, what)
            except AssertionError as e:
                self.fail('%s\nlibtorrent: %s' % (e, '\n'.join(log[-30:])))

        # libtorrent seeds, p2pd downloads from a magnet.
        a_data = data_bytes(1 * MiB + 5, 'lt-a')
        write_file(os.path.join(work, 'lt', 'from_lt.bin'), a_data)
        fs = lt.file_storage()
        lt.add_files(fs, os.path.join(work, 'lt', 'from_lt.bin'))
        ct = lt.create_torrent(fs, 64 * 1024, lt.create_torrent.v1_only)
        lt.set_piece_hashes(ct, os.path.join(work, 'lt'))
        ti = lt.torrent_info(lt.bencode(ct.generate()))
        a_ih = str(ti.info_hashes().v1)
        t = d.call('torrent.add', {'magnet': magnet(a_ih)})
        ha = ses.add_torrent({'ti': ti, 'save_path': os.path.join(work, 'lt')})
        lt_done(ha, 'libtorrent to check its own data')
        self.wait_done(d, t['id'], 60, what='p2pd download from libtorrent found by LSD')
        self.assertSameBytes(os.path.join(d.download_dir, 'from_lt.bin'), a_data)
        self.assertIn('found peer %s:' % LT_IP, d.all_logs().decode())

        # p2pd seeds, libtorrent downloads from a magnet.
        b_data = data_bytes(1 * MiB + 9, 'lt-b')
        b_ih, b_meta, base = self.prepared(d, 'to_lt.bin', b_data)
        atp = lt.parse_magnet_uri(magnet(b_ih))
        atp.save_path = os.path.join(work, 'lt-dl')
        hb = ses.add_torrent(atp)
        pump()
        self.start_seeding(d, b_meta, base)
        lt_done(hb, 'libtorrent download from p2pd found by LSD')
        # libtorrent calls a torrent finished before its blocks reach the disk.
        hb.flush_cache()
        wait_until(lambda: pump() or any(x.startswith('cache_flushed_alert') for x in log),
                   10, 0.1, 'libtorrent to write its download')
        self.assertSameBytes(os.path.join(work, 'lt-dl', 'to_lt.bin'), b_data)

    def test_no_multicast_interface(self):
        """An interface without MULTICAST: one clear log line, LSD off, p2pd runs on."""
        r = run(['ip', 'link', 'set', 'lo', 'multicast', 'off'])
        self.assertEqual(r.returncode, 0, r.stdout)
        self.addCleanup(run, ['ip', 'link', 'set', 'lo', 'multicast', 'on'])
        d = self.lsd_node(2, debug=False)
        lsd = self.lsd_status(d)
        self.assertFalse(lsd['enabled'], lsd)
        self.assertIn('MULTICAST', lsd['last_error'] or '', lsd)
        lines = [ln for ln in d.log_text().splitlines() if 'lsd:' in ln]
        self.assertEqual(len(lines), 1, 'want one log line about LSD: %s' % lines)
        self.assertIn('off', lines[0])
        # Still a working daemon.
        t = d.call('torrent.add', {'magnet': magnet('ab' * 20)})
        self.assertEqual(t['state'], 'downloading', t)


if __name__ == '__main__':
    main()
