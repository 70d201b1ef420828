#!/usr/bin/python3
"""Hostile and broken control clients: garbage, invalid JSON, invalid requests,
bad params, notifications, over-long lines, many clients, a client that never
reads while events flood, half-written lines. After each, p2pd still answers."""

import base64
import json
import os
import select
import socket
import threading
import time

from p2ptest import (INVALID_PARAMS, INVALID_REQUEST, INVALID_TORRENT, IO_ERROR, LIMIT,
                     METHOD_NOT_FOUND, NOT_FOUND, PARSE_ERROR, Client, DaemonTest,
                     bencode, check_error_shape, main, wait_until, write_file)

MIB = 1 << 20


class BadInputTest(DaemonTest):

    def setUp(self):
        self.d = self.daemon()

    def assertAlive(self):
        self.assertTrue(self.d.running(), 'p2pd died:\n' + self.d.log_tail())
        with Client(self.d.socket) as c:
            st = c.call('session.status', timeout=10)
        self.assertEqual(st['pid'], self.d.pid)

    def line_error(self, c, raw, code, want_id=None, what=None):
        """Sends one raw line, expects one error response with that code."""
        c.send_raw(raw + b'\n')
        msg = c.read_msg(10)
        self.assertIsNotNone(msg, 'connection closed after %r' % (what or raw[:80]))
        self.assertEqual(msg.get('jsonrpc'), '2.0', msg)
        self.assertNotIn('result', msg, 'a bad request got a result: %r -> %r' % (raw[:80], msg))
        self.assertIn('error', msg, msg)
        check_error_shape(msg['error'])
        self.assertEqual(msg['error']['code'], code, 'for %r: %r' % (what or raw[:100], msg))
        self.assertIn('id', msg, 'an error response carries id (null if unknown)')
        self.assertEqual(msg['id'], want_id, 'id for %r' % raw[:100])
        return msg['error']

    def test_parse_errors(self):
        c = self.d.client()
        for raw in (b'\x00\xff\xfe\x80 garbage \x01\x02',
                    b'{"jsonrpc":"2.0","id":1,"method":',
                    b'{,}',
                    b'nul',
                    b"{'jsonrpc':'2.0','id':1,'method':'session.status'}",
                    b'{"jsonrpc":"2.0","id":1,"method":"session.status"}}',
                    b'{"jsonrpc":"2.0","id":1,"method":"session.status"} {"x":1}',
                    b'{"jsonrpc":"2.0","id":1,"method":"session.status\xff\xfe"}',
                    b'{"jsonrpc":"2.0","id":1,"method":"session.status"}\x00',
                    b'\xef\xbb\xbf\xef\xbb\xbf{}'):
            with self.subTest(line=raw[:60]):
                self.line_error(c, raw, PARSE_ERROR)
        # the same connection still works afterwards
        self.assertEqual(c.call('session.status')['pid'], self.d.pid)
        self.assertAlive()

    def test_invalid_requests(self):
        c = self.d.client()
        for raw, want_id in (
                (b'[1,2]', None), (b'[]', None), (b'42', None), (b'"str"', None),
                (b'null', None), (b'true', None),
                (b'{"jsonrpc":"1.0","id":1,"method":"session.status"}', 1),
                (b'{"id":2,"method":"session.status"}', 2),
                (b'{"jsonrpc":2.0,"id":3,"method":"session.status"}', 3),
                (b'{"jsonrpc":"2.0","id":4}', 4),
                (b'{"jsonrpc":"2.0","id":5,"method":5}', 5),
                (b'{"jsonrpc":"2.0","id":6,"method":null}', 6),
                (b'{"jsonrpc":"2.0","id":7,"method":"session.status","params":[]}', 7),
                (b'{"jsonrpc":"2.0","id":8,"method":"torrent.get","params":[1]}', 8),
                (b'{"jsonrpc":"2.0","id":9,"method":"session.status","params":"x"}', 9),
                (b'{"jsonrpc":"2.0","id":10,"method":"session.status","params":7}', 10),
                (b'{"jsonrpc":"2.0","id":{"a":1},"method":"session.status"}', None),
                (b'{"jsonrpc":"2.0","id":[1],"method":"session.status"}', None),
                (b'{"jsonrpc":"2.0","id":true,"method":"session.status"}', None)):
            with self.subTest(line=raw[:70]):
                self.line_error(c, raw, INVALID_REQUEST, want_id)
        self.assertEqual(c.call('session.status')['pid'], self.d.pid)
        self.assertAlive()

    def test_unknown_methods(self):
        c = self.d.client()
        for m in ('no.such.method', 'session.Status', 'SESSION.STATUS', 'torrent',
                  'session.status ', 'x' * 5000):
            raw = json.dumps({'jsonrpc': '2.0', 'id': 'm-1', 'method': m}).encode()
            self.line_error(c, raw, METHOD_NOT_FOUND, 'm-1', what=m[:40])
        raw = b'{"jsonrpc":"2.0","id":11,"method":"session.status\\u0000junk"}'
        c.send_raw(raw + b'\n')
        msg = c.read_msg(10)
        self.assertIn('error', msg, 'a method name with NUL must not run session.status')
        self.assertIn(msg['error']['code'], (PARSE_ERROR, METHOD_NOT_FOUND), msg)
        self.assertAlive()

    def test_invalid_params(self):
        c = self.d.client()
        path = os.path.join(self.d.root, 'p.bin')
        write_file(path, b'p' * 1000)
        # a real torrent, so that a well-typed id would name something
        t = c.call('torrent.add', {'magnet': '5' * 40})
        tid = t['id']
        cases = [
            ('torrent.get', {'id': True}), ('torrent.get', {'id': [1]}),
            ('torrent.get', {'id': None}), ('torrent.get', {'id': 1.5}),
            ('torrent.get', {'id': {'x': 1}}), ('torrent.get', {}),
            ('torrent.get', {'id': tid, 'extra': 2}),
            ('torrent.files', {}), ('torrent.pause', {'id': False}),
            ('torrent.resume', {'idd': tid}), ('torrent.export', {'id': []}),
            ('torrent.list', {'verbose': True}),
            ('session.status', {'bogus_param': 1}),
            ('system.methods', {'x': 1}),
            ('events.subscribe', {'types': 'torrent.added'}),
            ('events.subscribe', {'types': [1]}),
            ('torrent.remove', {'id': tid, 'delete_data': 'yes'}),
            ('torrent.remove', {'id': tid, 'force': 1}),
            ('torrent.verify', {'id': tid, 'wait': 'no'}),
            ('torrent.share', {'path': ['a']}),
            ('torrent.share', {'path': path, 'piece_length': 1 << 40}),
            ('torrent.share', {'path': path, 'piece_length': -16384}),
            ('torrent.share', {'path': path, 'trackers': [1, 2]}),
            ('torrent.share', {'path': path, 'name': 5}),
            ('torrent.add', {'metainfo': 12}),
        ]
        for method, params in cases:
            with self.subTest(method=method, params=json.dumps(params)[:60]):
                self.assertRpcError(c.error(method, params), INVALID_PARAMS)
        e = c.error('session.status', {'bogus_param': 1})
        self.assertIn('bogus_param', e['message'], 'name the unknown parameter: %r' % e)
        lst = c.call('torrent.list')['torrents']
        self.assertEqual([(x['id'], x['state']) for x in lst], [(tid, 'downloading')],
                         'a refused request changed the torrent')
        self.assertAlive()

    def test_big_numbers_and_strings(self):
        c = self.d.client()
        self.assertRpcError(c.error('torrent.get', {'id': 1 << 62}), NOT_FOUND)
        c.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"torrent.get",'
                   b'"params":{"id":123456789012345678901234567890}}\n')
        msg = c.read_msg(10)
        self.assertIn('error', msg)
        self.assertIn(msg['error']['code'], (PARSE_ERROR, INVALID_PARAMS, NOT_FOUND), msg)
        c.send_raw(b'{"jsonrpc":"2.0","id":1e400,"method":"session.status"}\n')
        msg = c.read_msg(10)
        self.assertIn('error', msg)
        e = c.error('torrent.share', {'path': '/' + 'a' * 200000})
        self.assertIn(e['code'], (IO_ERROR, INVALID_PARAMS), e)
        e = c.error('torrent.get', {'id': 'f' * 200000})
        self.assertIn(e['code'], (NOT_FOUND, INVALID_PARAMS), e)
        self.assertAlive()

    def test_hostile_metainfo(self):
        c = self.d.client()
        bomb = b'l' * 200000 + b'e' * 200000
        deep_info = b'd4:info' + b'l' * 100000 + b'e' * 100000 + b'e'
        odd_plen = bencode({'info': {'name': 'odd', 'piece length': 16385, 'length': 10,
                                     'pieces': b'\0' * 20}})
        for blob in (bomb, deep_info, b'd' * 1000, b'i' + b'9' * 5000 + b'e',
                     b'd4:infod6:lengthi-5e4:name1:x12:piece lengthi16384e6:pieces20:'
                     + b'\0' * 20 + b'ee', odd_plen):
            with self.subTest(metainfo=blob[:40]):
                e = c.error('torrent.add', {'metainfo': base64.b64encode(blob).decode()})
                self.assertRpcError(e, INVALID_TORRENT)
        # a huge file that is not a torrent is refused without reading it all into memory
        huge = os.path.join(self.d.root, 'huge.torrent')
        with open(huge, 'wb') as f:
            f.truncate(200 << 20)
        with self.subTest('200 MiB file that is not a .torrent'):
            self.assertRpcError(c.error('torrent.add', {'path': huge}), INVALID_TORRENT)
        self.assertEqual(c.call('torrent.list')['torrents'], [])
        self.assertAlive()

    def test_notifications_get_no_answer(self):
        c = self.d.client()
        h = 'c0ffee' + '0' * 34
        c.send_raw(b'{"jsonrpc":"2.0","method":"session.status"}\n'
                   b'{"jsonrpc":"2.0","method":"no.such.method"}\n'
                   b'{"jsonrpc":"2.0","method":"torrent.get","params":{"id":999}}\n'
                   b'{"jsonrpc":"2.0","method":"session.status","params":{"bad":1}}\n'
                   + json.dumps({'jsonrpc': '2.0', 'method': 'torrent.add',
                                 'params': {'magnet': h}}).encode() + b'\n'
                   b'{"jsonrpc":"2.0","id":77,"method":"torrent.list"}\n')
        msg = c.read_msg(10)
        self.assertEqual(msg.get('id'), 77, 'a notification was answered: %r' % msg)
        self.assertEqual([t['info_hash'] for t in msg['result']['torrents']], [h],
                         'a notification is carried out')
        c.send_raw(b'{"jsonrpc":"2.0","id":78,"method":"session.status"}\n')
        self.assertEqual(c.read_msg(10).get('id'), 78)

    def test_ids_pipelining_and_framing(self):
        c = self.d.client()
        # string and large ids are echoed exactly
        for rid in ('abc-1', '', 2 ** 53, 0, -5):
            c.send_raw(json.dumps({'jsonrpc': '2.0', 'id': rid,
                                   'method': 'session.status'}).encode() + b'\n')
            msg = c.read_msg(10)
            self.assertEqual(msg.get('id'), rid)
            self.assertIn('result', msg)
        # 100 requests in one write: 100 answers, in order
        batch = b''.join(json.dumps({'jsonrpc': '2.0', 'id': i, 'method':
                                     'torrent.list' if i % 2 else 'session.status'}).encode()
                         + b'\n' for i in range(1, 101))
        c.send_raw(batch)
        got = [c.read_msg(20).get('id') for _ in range(100)]
        self.assertEqual(got, list(range(1, 101)))
        # one request split over several writes, with pauses
        req = b'{"jsonrpc":"2.0","id":500,"method":"session.status"}\n'
        for i in range(0, len(req), 7):
            c.send_raw(req[i:i + 7])
            time.sleep(0.01)
        self.assertEqual(c.read_msg(10).get('id'), 500)
        # CRLF line end, whitespace around the object
        c.send_raw(b'  {"jsonrpc":"2.0","id":501,"method":"session.status"}  \r\n')
        msg = c.read_msg(10)
        self.assertEqual((msg.get('id'), 'result' in msg), (501, True), msg)
        # an empty line gets at most an error, never a hang or a crash
        c.send_raw(b'\n{"jsonrpc":"2.0","id":502,"method":"session.status"}\n')
        msg = c.read_msg(10)
        if msg.get('id') != 502:
            self.assertIn('error', msg)
            msg = c.read_msg(10)
        self.assertEqual(msg.get('id'), 502)
        self.assertAlive()

    def test_line_length_limit(self):
        head = b'{"jsonrpc":"2.0","id":1,"method":"session.status"'
        exact = head + b' ' * (MIB - len(head) - 1) + b'}'
        self.assertEqual(len(exact), MIB)
        c = self.d.client()
        c.send_raw(exact + b'\n')
        msg = c.read_msg(20)
        self.assertEqual(msg.get('id'), 1)
        self.assertIn('result', msg, 'a line of exactly 1 MiB is allowed: %r' % msg)
        self.assertEqual(msg['result']['pid'], self.d.pid)
        for size in (MIB + 1, 2 * MIB):
            line = head + b' ' * (size - len(head) - 1) + b'}'
            self.assertEqual(len(line), size)
            c = Client(self.d.socket, timeout=20)
            try:
                sender = threading.Thread(target=self._send_ignoring_close, args=(c, line + b'\n'))
                sender.start()
                msg = c.read_msg(20)
                sender.join(20)
                self.assertFalse(sender.is_alive(), 'p2pd neither read nor closed')
                self.assertIsNotNone(msg, 'closed without the -32600 error line (size %d)' % size)
                self.assertIn('error', msg)
                self.assertEqual(msg['error']['code'], INVALID_REQUEST, msg)
                check_error_shape(msg['error'])
                rest = c.read_line(10)
                self.assertIsNone(rest, 'connection must be closed after an over-long line, '
                                  'got %r' % (rest or b'')[:200])
            finally:
                c.close()
        self.assertAlive()

    @staticmethod
    def _send_ignoring_close(c, data):
        try:
            c.sock.sendall(data)
        except OSError:
            pass

    def test_many_clients_at_once(self):
        clients = []
        try:
            for i in range(200):
                clients.append(Client(self.d.socket, timeout=20))
            for i, c in enumerate(clients):
                c.send_raw(json.dumps({'jsonrpc': '2.0', 'id': i,
                                       'method': 'session.status'}).encode() + b'\n')
            for i, c in enumerate(clients):
                msg = c.read_msg(20)
                self.assertIsNotNone(msg, 'client %d got no answer' % i)
                self.assertEqual(msg.get('id'), i)
                self.assertEqual(msg['result']['pid'], self.d.pid)
            with Client(self.d.socket) as extra:
                st = extra.call('session.status')
            self.assertGreaterEqual(st['clients'], 201)
        finally:
            for c in clients:
                c.close()
        # once they are gone the count drops again
        wait_until(lambda: self.d.call('session.status')['clients'] <= 2, 10,
                   what='client count back to ~1')
        self.assertAlive()

    def test_broken_clients(self):
        # connect and close at once
        for _ in range(50):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.d.socket)
            s.close()
        # half a line, then close
        for _ in range(20):
            with Client(self.d.socket) as c:
                c.send_raw(b'{"jsonrpc":"2.0","id":1,"meth')
        # requests, then close before reading the answers (p2pd must survive EPIPE)
        for _ in range(20):
            with Client(self.d.socket) as c:
                c.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"system.methods"}\n' * 50)
        # shut down writing only: the answer still arrives
        with Client(self.d.socket) as c:
            c.send_raw(b'{"jsonrpc":"2.0","id":9,"method":"session.status"}\n')
            c.sock.shutdown(socket.SHUT_WR)
            msg = c.read_msg(10)
            self.assertIsNotNone(msg, 'no answer after the client shut down its write side')
            self.assertEqual(msg.get('id'), 9)
        # a half-written line on one connection does not block another
        slow = self.d.client()
        slow.send_raw(b'{"jsonrpc":"2.0","id":3,"method":"sess')
        t0 = time.monotonic()
        self.assertEqual(self.d.call('session.status', timeout=5)['pid'], self.d.pid)
        self.assertLess(time.monotonic() - t0, 2.0)
        slow.send_raw(b'ion.status"}\n')
        self.assertEqual(slow.read_msg(10).get('id'), 3)
        self.assertAlive()

    def test_client_limit(self):
        d = self.daemon(config='control_max_clients = 4\n')

        def try_new():
            c = None
            try:
                c = Client(d.socket, timeout=5)
                c.call('session.status', timeout=5)
                return c
            except (ConnectionError, OSError, TimeoutError):
                if c:
                    c.close()
                return None
        # earlier connections (start-up probe) may take a moment to be reaped
        held = [wait_until(try_new, 10, 0.1, what='client slot %d of 4' % (i + 1))
                for i in range(4)]
        d.clients.extend(held)
        extra = Client(d.socket, timeout=10)
        try:
            msg = extra.read_msg(10)
            self.assertIsNotNone(msg, 'the client over the limit must get an error line first')
            self.assertIn('error', msg, msg)
            self.assertEqual(msg['error']['code'], LIMIT, msg)
            self.assertIsNone(extra.read_line(10), 'the client over the limit must be closed')
        finally:
            extra.close()
        for c in held:
            c.call('session.status')
        held[0].close()
        wait_until(try_new, 10, 0.1, what='a free client slot after one client left').close()

    def test_subscriber_that_never_reads_is_dropped_and_stalls_nobody(self):
        d = self.d
        slow = d.client()
        slow.call('events.subscribe')
        # from here on `slow` never reads
        good = d.client()
        good.call('events.subscribe')
        counted = {'bytes': len(good.buf), 'eof': False}
        stop = threading.Event()

        def reader():
            s = good.sock
            s.settimeout(0.2)
            while not stop.is_set():
                try:
                    chunk = s.recv(1 << 16)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not chunk:
                    counted['eof'] = True
                    break
                counted['bytes'] += len(chunk)
        th = threading.Thread(target=reader, daemon=True)
        th.start()
        worker = d.client(timeout=30)
        probe = d.client()
        # share.done events carry the magnet with every tracker: big events, cheaply
        path = os.path.join(d.root, 'tiny.bin')
        write_file(path, b'tiny' * 100)
        trackers = ['http://127.0.0.1:9/%s/%d' % ('t' * 3000, i) for i in range(16)]
        latencies = []
        hup_at = None
        before_hup = 0
        poller = select.poll()
        poller.register(slow.sock, select.POLLHUP | select.POLLRDHUP)
        deadline = time.monotonic() + 60
        for n in range(2000):
            if time.monotonic() > deadline:
                break
            t = worker.call('torrent.share', {'path': path, 'name': 'flood-%d' % n,
                                              'trackers': trackers}, timeout=30)
            worker.call('torrent.remove', {'id': t['id']})
            t0 = time.monotonic()
            probe.call('session.status', timeout=10)
            latencies.append(time.monotonic() - t0)
            if any(ev & (select.POLLHUP | select.POLLRDHUP) for _, ev in poller.poll(0)):
                # let the reading subscriber catch up: it was sent what slow was sent
                last = -1
                for _ in range(50):
                    if counted['bytes'] == last:
                        break
                    last = counted['bytes']
                    time.sleep(0.2)
                hup_at = counted['bytes']
                break
            before_hup = counted['bytes']
            if counted['bytes'] > 12 * MIB:
                break
        stop.set()
        th.join(5)
        self.assertLess(max(latencies), 1.0,
                        'other clients stalled while one did not read: %s' % latencies[-20:])
        self.assertFalse(counted['eof'], 'the subscriber that reads was dropped')
        if hup_at is None:
            got = self.drain(slow)
            self.fail('the subscriber that never reads was not disconnected after %.1f MiB '
                      'of events (contract: at 4 MiB queued); once it read %d bytes it saw %s'
                      % (counted['bytes'] / MIB, got,
                         'EOF' if slow.eof or got < 8 * MIB else 'more data'))
        self.assertGreaterEqual(hup_at, 4 * MIB * 0.98,
                                'dropped before 4 MiB of output were queued (%d bytes)' % hup_at)
        self.assertLess(before_hup, 6 * MIB,
                        'still connected after %d bytes of events' % before_hup)
        # what it can still read is bounded: the kernel buffer, not the daemon's queue
        got = self.drain(slow)
        self.assertLess(got, 6 * MIB)
        self.assertAlive()

    def test_client_that_never_reads_responses_is_dropped(self):
        d = self.d
        c = d.client()
        for i in range(100):
            c.call('torrent.add', {'magnet': '%040x' % (i + 1)})
        size = len(json.dumps(c.request('torrent.list')))
        self.assertGreater(size, 20000)
        n = (16 * MIB) // size + 1
        slow = d.client()
        req = b'{"jsonrpc":"2.0","id":1,"method":"torrent.list"}\n'
        sender = threading.Thread(target=self._send_ignoring_close, args=(slow, req * n))
        sender.start()
        poller = select.poll()
        poller.register(slow.sock, select.POLLHUP | select.POLLRDHUP)
        latencies = []
        hup = False
        deadline = time.monotonic() + 60
        for _ in range(10000):
            if time.monotonic() > deadline:
                break
            t0 = time.monotonic()
            c.call('session.status', timeout=10)
            latencies.append(time.monotonic() - t0)
            if any(ev & (select.POLLHUP | select.POLLRDHUP) for _, ev in poller.poll(0)):
                hup = True
                break
            time.sleep(0.05)
        sender.join(30)
        self.assertLess(max(latencies), 1.0, 'stalled: %s' % latencies[-20:])
        self.assertTrue(hup, 'a client that sent %d requests (%.0f MiB of answers) and never '
                        'read was not disconnected' % (n, n * size / MIB))
        self.assertLess(self.drain(slow), 6 * MIB)
        self.assertAlive()

    @staticmethod
    def drain(c):
        """Reads until EOF (sets c.eof) or 5 s of silence; returns the byte count."""
        got = len(c.buf)
        c.sock.settimeout(5)
        for _ in range(100000):
            try:
                chunk = c.sock.recv(1 << 16)
            except (socket.timeout, OSError):
                break
            if not chunk:
                c.eof = True
                break
            got += len(chunk)
        return got


if __name__ == '__main__':
    main()
