#!/usr/bin/python3
"""The tracker client against real and hostile trackers: "stopped" on pause,
remove and exit (the built-in tracker drops us), scrape counts in
torrent.trackers, BEP 12 tiers, HTTPS with a private CA, and fake trackers
that answer garbage over HTTP and UDP while another torrent keeps downloading."""

import base64
import os
import select
import socket
import ssl
import struct
import subprocess
import threading
import time
import urllib.parse

from xfer import MiB, XferTest, data_bytes, ip, main, wait_until, write_file  # sets sys.path
from p2ptest import bdecode, bencode, ctl, make_torrent  # noqa: E402


def free_port(host):
    """A port free for both TCP and UDP on host (the tracker binds both)."""
    for _ in range(50):
        with socket.socket() as t, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            t.bind((host, 0))
            port = t.getsockname()[1]
            try:
                u.bind((host, port))
            except OSError:
                continue
            return port
    raise AssertionError('no free port on %s' % host)


def http_get(host, port, path, timeout=5.0):
    """GET path; returns the body (read by Content-Length or to the close)."""
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout=timeout) as c:
        c.sendall(('GET %s HTTP/1.0\r\nHost: t\r\n\r\n' % path).encode())
        data = b''
        for _ in range(10000):
            head, sep, body = data.partition(b'\r\n\r\n')
            if sep:
                for line in head.split(b'\r\n'):
                    k, _, v = line.partition(b':')
                    if k.strip().lower() == b'content-length' and len(body) >= int(v):
                        return body[:int(v)]
            if time.monotonic() > deadline:
                raise AssertionError('no whole answer from %s:%d' % (host, port))
            chunk = c.recv(65536)
            if not chunk:
                return body
            data += chunk
    raise AssertionError('answer from %s:%d never ended' % (host, port))


def scrape(host, port, ih_hex):
    """(seeders, leechers, downloaded) of a torrent per the built-in tracker."""
    ih = bytes.fromhex(ih_hex)
    body = http_get(host, port, '/scrape?info_hash=' + urllib.parse.quote_from_bytes(ih))
    e = bdecode(body)[b'files'].get(ih)
    return (e[b'complete'], e[b'incomplete'], e[b'downloaded']) if e else (0, 0, 0)


def trackers(d, tid):
    return d.call('torrent.trackers', {'id': tid})['trackers']


def by_url(d, tid):
    return {t['url']: t for t in trackers(d, tid)}


def torrent_b64(name, data, tiers):
    """A .torrent with the announce-list given tier by tier (BEP 12)."""
    _, ih, info = make_torrent(name, data, piece_length=16384)
    meta = {'info': info, 'announce': tiers[0][0], 'announce-list': tiers}
    return base64.b64encode(bencode(meta)).decode(), ih


class FakeTCP(threading.Thread):
    """A hostile HTTP(S) tracker: handler(path, conn) answers each request."""

    def __init__(self, host, handler, tls=None):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.tls = tls
        self.stopping = threading.Event()
        self.paths = []
        self.tls_errors = []

    def run(self):
        for _ in range(100000):
            if self.stopping.is_set():
                break
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        try:
            c.settimeout(10)
            if self.tls:
                try:
                    c = self.tls.wrap_socket(c, server_side=True)
                except (ssl.SSLError, OSError) as e:
                    self.tls_errors.append(str(e))
                    return
            data = b''
            for _ in range(1000):
                if b'\r\n\r\n' in data or len(data) > 65536:
                    break
                chunk = c.recv(4096)
                if not chunk:
                    return
                data += chunk
            path = data.split(b'\r\n', 1)[0].decode('latin-1').split(' ')[1]
            self.paths.append(path)
            self.handler(path, c, self)
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.stopping.set()
        self.join(5)
        self.sock.close()


def ok_head(n, extra=''):
    return ('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n%sContent-Length: %d\r\n\r\n'
            % (extra, n)).encode()


def hostile_http(path, c, srv):
    case = path.split('/')[1]
    body = {
        'nonbencode': b'<html><body>Tracker offline</body></html>',
        'notdict': b'li1ei2ee',
        'failure': b'd14:failure reason11:go away nowe',
        'truncpeers': b'd8:intervali60e5:peers7:\x7f\x00\x00\x01\x1a\xe1\x7fe',
    }.get(case)
    if case == 'garbage':
        c.sendall(b'\x00\xffSSH-2.0-nothing like HTTP\r\n\r\n\x01\x02')
    elif body is not None:
        c.sendall(ok_head(len(body)) + body)
    elif case == 'oversized':
        big = b'd5:peers' + b'%d:' % (3 * MiB) + b'\x01' * (3 * MiB) + b'e'
        c.sendall(ok_head(len(big)) + big)
    elif case == 'hugelen':
        c.sendall(ok_head(10 ** 9) + b'd8:interval')
        srv.stopping.wait(30)       # and never the rest
    elif case == 'cutshort':
        c.sendall(ok_head(500) + b'd8:intervali60e')
    elif case == 'redirect':
        c.sendall(('HTTP/1.0 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n'
                   % path).encode())


class FakeUDP(threading.Thread):
    """A hostile UDP tracker: one socket per case, answers per BEP 15 gone wrong."""

    def __init__(self, host, cases):
        super().__init__(daemon=True)
        self.socks = {}
        for name in cases:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((host, 0))
            self.socks[s] = name
        self.ports = {name: s.getsockname()[1] for s, name in self.socks.items()}
        self.stopping = threading.Event()
        self.seen = {name: 0 for name in cases}

    def run(self):
        for _ in range(1000000):
            if self.stopping.is_set():
                break
            r, _, _ = select.select(list(self.socks), [], [], 0.2)
            for s in r:
                try:
                    data, addr = s.recvfrom(4096)
                except OSError:
                    continue
                name = self.socks[s]
                self.seen[name] += 1
                reply = self.answer(name, data)
                if reply is not None:
                    s.sendto(reply, addr)

    def answer(self, name, data):
        if len(data) < 16:
            return None
        _, action, tid = struct.unpack('>QII', data[:16])
        if name == 'short':
            return b'\x00\x00\x00\x00\x01'
        if name == 'wrongtid':
            return struct.pack('>IIQ', 0, tid ^ 0x5A5A5A5A, 1234)
        if name == 'wrongaction':
            return struct.pack('>IIQ', 2, tid, 1234)
        if name == 'error':
            return struct.pack('>II', 3, tid) + b'denied by the fake tracker'
        if name == 'truncpeers':
            if action == 0:
                return struct.pack('>IIQ', 0, tid, 99)
            return struct.pack('>IIIII', 1, tid, 60, 0, 1) + b'\x7f\x00\x00'
        return None                 # silent: the connect is never answered

    def stop(self):
        self.stopping.set()
        self.join(5)
        for s in self.socks:
            s.close()


class TrackerClientTest(XferTest):

    def tracker_node(self, n=2):
        port = free_port(ip(n))
        t = self.node(n, debug=False, args=['--tracker-listen', '%s:%d' % (ip(n), port)])
        t.tport = port
        return t

    def test_stopped_on_pause_remove_and_exit(self):
        t = self.tracker_node(2)
        http_url = 'http://%s:%d/announce' % (t.ip, t.tport)
        udp_url = 'udp://%s:%d' % (t.ip, t.tport)
        s = self.node(3, config='default_tracker = %s\n' % udp_url)
        src1 = os.path.join(s.root, 'over-http.bin')
        src2 = os.path.join(s.root, 'over-udp.bin')
        write_file(src1, data_bytes(300000, 'stop-http'))
        write_file(src2, data_bytes(300000, 'stop-udp'))
        # p2pctl share --tracker URL, and share with the config's default_tracker
        r = ctl(['--json', 'share', '--tracker', http_url, src1], sock=s.socket, timeout=60)
        self.assertEqual(r.rc, 0, r)
        ih1 = r.json().get('info_hash') or r.json()['torrent']['info_hash']
        r = ctl(['--json', 'share', src2], sock=s.socket, timeout=60)
        self.assertEqual(r.rc, 0, r)
        ih2 = r.json().get('info_hash') or r.json()['torrent']['info_hash']
        self.assertEqual([x['url'] for x in trackers(s, ih1)], [http_url])
        self.assertEqual([x['url'] for x in trackers(s, ih2)], [udp_url],
                         'a share without --tracker takes default_tracker')

        def counts(ih, want):
            return wait_until(lambda: scrape(t.ip, t.tport, ih)[0] == want, 10, 0.1,
                              'tracker to count %d seeders of %s' % (want, ih))
        counts(ih1, 1)
        counts(ih2, 1)
        for ih in (ih1, ih2):
            with self.subTest('pause says stopped', ih=ih):
                s.call('torrent.pause', {'id': ih})
                counts(ih, 0)
                self.assertEqual({x['status'] for x in trackers(s, ih)}, {'stopped'})
                s.call('torrent.resume', {'id': ih})
                counts(ih, 1)
        with self.subTest('exit says stopped, within about a second'):
            rc, took = s.stop()
            self.assertEqual(rc, 0)
            self.assertLess(took, 5.0, 'shutdown took %.1f s' % took)
            self.assertEqual(scrape(t.ip, t.tport, ih1)[0], 0)
            self.assertEqual(scrape(t.ip, t.tport, ih2)[0], 0)
            log = s.log_text()
            self.assertIn('tracker %s: "stopped": sent' % http_url, log)
            self.assertIn('tracker %s: "stopped": sent' % udp_url, log)
        with self.subTest('remove says stopped'):
            self.restart(s)
            counts(ih1, 1)
            s.call('torrent.remove', {'id': ih1})
            counts(ih1, 0)
        with self.subTest('a tracker that never answers "stopped" holds up exit ~1 s'):
            def mute_on_stop(path, c, srv):
                if 'event=stopped' in path:
                    srv.stopping.wait(30)
                    return
                body = b'd8:intervali60e5:peers0:e'
                c.sendall(ok_head(len(body)) + body)
            mute = FakeTCP('127.0.0.3', mute_on_stop)
            mute.start()
            self.addCleanup(mute.stop)
            mute_url = 'http://127.0.0.3:%d/announce' % mute.port
            src3 = os.path.join(s.root, 'mute.bin')
            write_file(src3, data_bytes(100000, 'mute'))
            r3 = s.call('torrent.share', {'path': src3, 'trackers': [mute_url]}, timeout=60)
            ih3 = r3.get('info_hash') or r3['torrent']['info_hash']
            wait_until(lambda: trackers(s, ih3)[0]['status'] == 'working', 10, 0.1,
                       'the mute tracker in use')
            rc, took = s.stop()
            self.assertEqual(rc, 0)
            self.assertLess(took, 5.0, 'shutdown took %.1f s' % took)
            self.assertIn('tracker %s: "stopped": no time left' % mute_url, s.log_text())
            self.assertTrue(any('event=stopped' in x for x in mute.paths), mute.paths)

    def test_scrape_counts(self):
        t = self.tracker_node(2)
        http_url = 'http://%s:%d/announce' % (t.ip, t.tport)
        udp_url = 'udp://%s:%d' % (t.ip, t.tport)
        s = self.node(3, debug=False)
        l1 = self.node(4, debug=False)
        l2 = self.node(5)
        for url, name in ((http_url, 'scr-http.bin'), (udp_url, 'scr-udp.bin')):
            with self.subTest(url=url):
                src = os.path.join(s.root, name)
                write_file(src, data_bytes(2 * MiB, name))
                ts, meta = self.seed(s, src, piece_length=64 * 1024, trackers=[url])
                a = self.leech(l1, meta)
                self.wait_done(l1, a['id'], 60)
                # l1 said "completed": the tracker counts one download
                wait_until(lambda: scrape(t.ip, t.tport, ts['info_hash'])[2] == 1, 10, 0.1,
                           'downloaded count 1')
                b = self.leech(l2, meta)

                def scraped():
                    tr = trackers(l2, b['id'])
                    return len(tr) == 1 and 'downloaded' in tr[0] and tr[0]
                tr = wait_until(scraped, 20, 0.2, 'a scrape shown in torrent.trackers')
                self.assertEqual(tr['url'], url)
                self.assertIn(tr['downloaded'], (1, 2), tr)   # 2 once l2 is done too
                self.assertGreaterEqual(tr['seeders'], 2, tr)
                self.assertIn('leechers', tr)
                self.assertNotIn('scrape_error', tr)
                self.wait_done(l2, b['id'], 60)
                r = ctl(['trackers', str(b['id'])], sock=l2.socket)
                self.assertEqual(r.rc, 0, r)
                head = r.out.splitlines()[0].split()
                for col in ('TIER', 'STATUS', 'SEEDS', 'LEECHES', 'DONE', 'NEXT', 'URL',
                            'LAST', 'ERROR'):
                    self.assertIn(col, head, r.out)
                self.assertIn(url, r.out)
                self.assertIn('working', r.out)
        log = l2.log_text()
        self.assertIn('scrape:', log)

    def test_magnet_keeps_its_tracker(self):
        """A magnet's metadata transfer hands its tracker to the real transfer
        without a "stopped" (which could overtake the new "started")."""
        t = self.tracker_node(2)
        url = 'http://%s:%d/announce' % (t.ip, t.tport)
        s = self.node(3, debug=False)
        d = self.node(4)
        src = os.path.join(s.root, 'magnet.bin')
        data = data_bytes(1 * MiB, 'magnet-tracker')
        write_file(src, data)
        ts, _ = self.seed(s, src, piece_length=32 * 1024, trackers=[url])
        ih = ts['info_hash']
        m = 'magnet:?xt=urn:btih:%s&tr=%s' % (ih, urllib.parse.quote(url, safe=''))
        tid = d.call('torrent.add', {'magnet': m})['id']
        self.wait_done(d, tid, 60, what='magnet download through the tracker')
        self.assertSameBytes(os.path.join(d.download_dir, 'magnet.bin'), data)
        wait_until(lambda: scrape(t.ip, t.tport, ih)[0] == 2, 10, 0.1, 'two seeders')
        self.assertNotIn('"stopped"', d.log_text())

    def test_tiers(self):
        t = self.tracker_node(2)
        http_url = 'http://%s:%d/announce' % (t.ip, t.tport)
        udp_url = 'udp://%s:%d' % (t.ip, t.tport)
        dead = free_port('127.0.0.2')
        dead_http = 'http://127.0.0.2:%d/announce' % dead
        dead_udp = 'udp://127.0.0.2:%d' % dead
        d = self.node(3)
        with self.subTest('a tier is left only when all of it failed'):
            meta, ih = torrent_b64('tiers-a.bin', data_bytes(50000, 'ta'),
                                   [[dead_http, dead_udp], [http_url], [udp_url]])
            tid = d.call('torrent.add', {'metainfo': meta})['id']

            def settled():
                m = by_url(d, tid)
                return m[http_url]['status'] == 'working' and m
            m = wait_until(settled, 20, 0.1, 'tier 2 in use')
            self.assertEqual(m[dead_http]['status'], 'error', m)
            self.assertEqual(m[dead_udp]['status'], 'error', m)
            self.assertIn('refused', m[dead_http]['last_error'])
            self.assertIn('refused', m[dead_udp]['last_error'])
            self.assertTrue(m[http_url]['active'])
            self.assertEqual(m[udp_url]['status'], 'standby', m)
            self.assertFalse(m[udp_url]['active'])
            self.assertEqual([x['tier'] for x in trackers(d, tid)], [0, 0, 1, 2])
            self.assertNotIn('tracker %s: ' % udp_url, d.log_text(),
                             'a tracker of a later tier was contacted')
        with self.subTest('one tracker of a tier is used, and moves to its front'):
            meta, ih = torrent_b64('tiers-b.bin', data_bytes(50000, 'tb'),
                                   [[http_url, udp_url]])
            tid = d.call('torrent.add', {'metainfo': meta})['id']

            def one_working():
                tr = trackers(d, tid)
                return [x['status'] for x in tr] == ['working', 'standby'] and tr
            tr = wait_until(one_working, 20, 0.1, 'one working, one on standby')
            self.assertTrue(tr[0]['active'])
            self.assertFalse(tr[1]['active'])

    def hostile_run(self, cases, make_url, fakes):
        """Adds one torrent per case to a daemon with a 2 s tracker timeout while
        another torrent downloads; each case must end in its error."""
        seeder = self.node(3, debug=False)
        d = self.node(4, config='tracker_timeout = 2\n')
        src = os.path.join(seeder.root, 'keeps-going.bin')
        data = data_bytes(8 * MiB, 'keeps-going')
        write_file(src, data)
        _, meta = self.seed(seeder, src, piece_length=64 * 1024)
        ids = {}
        for name, want in cases:
            m, ih = torrent_b64('hostile-%s.bin' % name, data_bytes(40000, name),
                                [[make_url(name)]])
            ids[name] = d.call('torrent.add', {'metainfo': m})['id']
        good = self.leech(d, meta, peers=[seeder.addr])
        for name, want in cases:
            with self.subTest(case=name):
                url = make_url(name)

                def failed():
                    tr = trackers(d, ids[name])
                    return tr[0].get('last_error') and tr[0]
                tr = wait_until(failed, 20, 0.1, 'an error for %s' % name)
                if os.environ.get('SHOW_ERRORS'):
                    print('%s: %s' % (name, tr['last_error']))
                self.assertEqual(tr['status'], 'error', tr)
                self.assertIn(want, tr['last_error'])
                self.assertIn('tracker %s: announce failed: %s' % (url, tr['last_error']),
                              d.log_text())
                self.assertEqual(d.call('session.status')['api_version'], 1)
        self.wait_done(d, good['id'], 120, what='the download next to hostile trackers')
        self.assertSameBytes(os.path.join(d.download_dir, 'keeps-going.bin'), data)
        self.assertTrue(d.running())
        return d

    def test_hostile_http(self):
        srv = FakeTCP('127.0.0.20', hostile_http)
        srv.start()
        self.addCleanup(srv.stop)
        cases = [('garbage', 'not an HTTP answer'), ('nonbencode', 'bad answer: '),
                 ('notdict', 'bad answer: '), ('failure', 'tracker says: go away now'),
                 ('oversized', 'larger than'), ('hugelen', 'timed out'),
                 ('cutshort', 'cut short'), ('truncpeers', 'multiple of 6'),
                 ('redirect', 'HTTP status 302 (redirects are not followed)')]
        self.hostile_run(cases, lambda n: 'http://127.0.0.20:%d/%s/announce' % (srv.port, n),
                         srv)
        for name, _ in cases:
            self.assertTrue(any(x.startswith('/%s/announce?info_hash=' % name)
                                for x in srv.paths), 'no announce reached %s' % name)

    def test_hostile_udp(self):
        names = ['short', 'wrongtid', 'wrongaction', 'error', 'silent', 'truncpeers']
        srv = FakeUDP('127.0.0.21', names)
        srv.start()
        self.addCleanup(srv.stop)
        cases = [('short', 'a 5-byte datagram (too short)'), ('wrongtid', '(not ours)'),
                 ('wrongaction', 'action 2 to a request with action 0'),
                 ('error', 'tracker says: denied by the fake tracker'),
                 ('silent', 'no answer to the connect after 3 tries'),
                 ('truncpeers', 'bad answer: ')]
        self.hostile_run(cases, lambda n: 'udp://127.0.0.21:%d' % srv.ports[n], srv)
        for n in names:
            self.assertGreater(srv.seen[n], 0, 'no datagram reached %s' % n)

    def test_https_tracker(self):
        host = '127.0.0.22'
        tmp = self.tmpdir()
        key, cert = os.path.join(tmp, 'key.pem'), os.path.join(tmp, 'cert.pem')
        p = subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
                            '-keyout', key, '-out', cert, '-days', '2',
                            '-subj', '/CN=p2pd test tracker',
                            '-addext', 'subjectAltName=IP:%s' % host],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout)
        seeder = self.node(3, debug=False)
        src = os.path.join(seeder.root, 'over-tls.bin')
        data = data_bytes(2 * MiB, 'over-tls')
        write_file(src, data)
        peer = seeder.addr.rsplit(':', 1)
        compact = socket.inet_aton(peer[0]) + struct.pack('>H', int(peer[1]))
        answers = []

        def announce(path, c, srv):
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
            answers.append(q.get('event', [''])[0])
            body = bencode({'interval': 60, 'complete': 1, 'incomplete': 0,
                            'peers': compact})
            c.sendall(ok_head(len(body)) + body)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        srv = FakeTCP(host, announce, tls=ctx)
        srv.start()
        self.addCleanup(srv.stop)
        url = 'https://%s:%d/announce' % (host, srv.port)
        _, meta = self.seed(seeder, src, piece_length=64 * 1024, trackers=[url])
        with self.subTest('trusted through tracker_ca_file: peers flow'):
            d = self.node(4, config='tracker_ca_file = %s\n' % cert)
            tid = self.leech(d, meta)['id']
            self.wait_done(d, tid, 60, what='download with peers from an HTTPS tracker')
            self.assertSameBytes(os.path.join(d.download_dir, 'over-tls.bin'), data)
            # completion sends "completed": wait for that announce to be answered too
            tr = wait_until(lambda: (lambda t: t[0]['status'] == 'working' and t)(
                trackers(d, tid)), 15, 0.1, 'the HTTPS tracker to be working')
            self.assertEqual(tr[0]['url'], url, tr)
            self.assertIn('started', answers)
        with self.subTest('without the CA: refused, clearly'):
            d2 = self.node(5, config='tracker_timeout = 3\n')
            tid2 = self.leech(d2, meta)['id']
            tr = wait_until(lambda: trackers(d2, tid2)[0].get('last_error') and
                            trackers(d2, tid2)[0], 20, 0.1, 'a TLS error')
            self.assertIn('certificate verify failed', tr['last_error'])
            self.assertIn('self', tr['last_error'])
            self.assertEqual(tr['status'], 'error')
        with self.subTest('a CA file that is not there'):
            d3 = self.node(6, config='tracker_ca_file = %s\n' % os.path.join(tmp, 'nope.pem'))
            tid3 = self.leech(d3, meta)['id']
            tr = wait_until(lambda: trackers(d3, tid3)[0].get('last_error') and
                            trackers(d3, tid3)[0], 20, 0.1, 'a CA file error')
            self.assertIn('cannot load tracker_ca_file', tr['last_error'])
        with self.subTest('pause says stopped over TLS'):
            n = len(answers)
            d.call('torrent.pause', {'id': tid})
            wait_until(lambda: 'stopped' in answers[n:], 10, 0.1, 'a stopped announce')


if __name__ == '__main__':
    main()
