#!/usr/bin/python3
"""p2pctl against a real p2pd (and a fake one): exit codes 0/1/2/3, --json
output, tables, share/add/export/magnet/raw/watch/shutdown, --help, --version."""

import base64
import json
import os
import re
import signal
import socket
import subprocess
import threading

from p2ptest import (P2PCTL, DaemonTest, clean_env, ctl, flip_byte, magnet_hash, main,
                     make_torrent, rand_bytes, read_file, share, wait_until, write_file,
                     write_files)

COMMANDS = ['status', 'share', 'add', 'list', 'ls', 'info', 'files', 'pause', 'resume',
            'verify', 'remove', 'export', 'magnet', 'watch', 'raw', 'shutdown']
HASH_RE = re.compile(r'\b[0-9a-f]{40}\b')


class CtlTest(DaemonTest):

    def ctl(self, d, *args, **kw):
        return ctl(list(args), sock=d.socket, home=d.home, **kw)

    def assertCtl(self, r, rc=0):
        self.assertEqual(r.rc, rc, repr(r))
        if rc == 0:
            self.assertEqual(r.err.strip(), '', 'success with noise on stderr: %r' % r)
        else:
            self.assertTrue(r.err.strip(), 'exit %d without a message on stderr: %r' % (rc, r))
        return r


class HelpTest(CtlTest):

    def test_version_and_help(self):
        d = self.daemon()
        r = self.assertCtl(ctl(['--version'], home=d.home))
        self.assertIn(d.call('session.status')['version'], r.out)
        r = self.assertCtl(ctl(['--help'], home=d.home))
        for c in COMMANDS:
            self.assertRegex(r.out, r'(?m)^\s+%s\b|\|\s*%s\b' % (c, c), 'help lacks ' + c)
        # help needs no daemon
        for c in COMMANDS:
            r = ctl([c, '--help'], sock='/nonexistent/p2pd.sock', home=d.home)
            self.assertEqual(r.rc, 0, repr(r))
            self.assertIn('usage', r.out.lower(), repr(r))
            self.assertIn(c if c != 'ls' else 'list', r.out)
        r = ctl(['share', '--help'], home=d.home)
        for opt in ('--name', '--piece-size', '--private', '--tracker', '--no-wait'):
            self.assertIn(opt, r.out)
        r = ctl(['add', '--help'], home=d.home)
        for opt in ('--dir', '--paused'):
            self.assertIn(opt, r.out)
        self.assertIn('--delete-data', ctl(['remove', '--help'], home=d.home).out)
        self.assertIn('-o', ctl(['export', '--help'], home=d.home).out)

    def test_usage_errors_exit_2(self):
        d = self.daemon()
        for args in ([], ['frobnicate'], ['info'], ['add'], ['share'], ['pause'],
                     ['--bogus', 'status'], ['status', '--bogus'], ['raw'],
                     ['share', '/tmp', '--piece-size', 'banana'],
                     ['remove', '1', '--bogus'], ['list', 'extra-arg'], ['info', '1', '2']):
            r = self.ctl(d, *args)
            self.assertEqual(r.rc, 2, repr(r))
            self.assertTrue(r.err.strip(), 'usage error without a message: %r' % r)
        self.assertEqual(d.call('torrent.list')['torrents'], [], 'a usage error reached p2pd')

    def test_unreachable_exit_3(self):
        root = self.tmpdir()
        stale = os.path.join(root, 'stale.sock')
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(stale)
        s.close()
        for sock in (os.path.join(root, 'missing.sock'), stale):
            for args in (['status'], ['list'], ['--json', 'info', '1'],
                         ['share', os.path.join(root, 'x')]):
                r = ctl(args, sock=sock, home=root)
                self.assertEqual(r.rc, 3, repr(r))
                self.assertIn('p2pd', r.err, 'no hint on how to start p2pd: %r' % r)
                self.assertEqual(r.out, '')


class CommandsTest(CtlTest):

    def test_status(self):
        d = self.daemon()
        st = d.call('session.status')
        r = self.assertCtl(self.ctl(d, 'status'))
        self.assertIn(st['version'], r.out)
        for addr in st['listen']:
            self.assertIn(addr, r.out, 'status must report the listen address')
        j = self.assertCtl(self.ctl(d, '--json', 'status')).json()
        for k in ('api_version', 'pid', 'version', 'state_dir', 'download_dir', 'socket',
                  'listen', 'workers', 'torrents'):
            self.assertEqual(j.get(k), st[k], k)
        self.assertEqual(self.ctl(d, '--socket', d.socket, 'status').rc, 0)
        env = clean_env(d.home)
        env['P2PCTL_SOCKET'] = d.socket
        r = ctl(['--json', 'status'], env=env)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertEqual(r.json()['pid'], d.pid)

    def test_share_prints_hash_and_magnet(self):
        d = self.daemon()
        path = os.path.join(d.root, 'to share.bin')
        data = rand_bytes(300000, 'ctl-share')
        write_file(path, data)
        r = self.assertCtl(self.ctl(d, 'share', path))
        hashes = HASH_RE.findall(r.out)
        self.assertTrue(hashes, 'share printed no info-hash: %r' % r)
        ih = hashes[0]
        m = re.search(r'magnet:\?\S+', r.out)
        self.assertIsNotNone(m, 'share printed no magnet: %r' % r)
        self.assertEqual(magnet_hash(m.group(0)), ih)
        t = d.call('torrent.get', {'id': ih})
        self.assertEqual((t['name'], t['state'], t['size']), ('to share.bin', 'seeding', len(data)))

        # options
        sub = os.path.join(d.root, 'dir')
        write_files(sub, [('a', rand_bytes(70000, 'o1')), ('b/c', b'c' * 100)])
        r = self.assertCtl(self.ctl(d, '--json', 'share', sub, '--name', 'Renamed',
                                    '--piece-size', '32K', '--private',
                                    '--tracker', 'http://127.0.0.1:9/a',
                                    '--tracker', 'udp://127.0.0.1:9/b'))
        j = r.json()
        with self.subTest('--json share prints the torrent.share result: torrent + magnet'):
            self.assertIn('info_hash', j, 'not the torrent.share result: %s' % r.out[:300])
            self.assertEqual(magnet_hash(j['magnet']), j['info_hash'])
        ih2 = j.get('info_hash') or j.get('torrent', {}).get('info_hash')
        g = d.call('torrent.get', {'id': ih2})
        self.assertEqual((g['name'], g['piece_length'], g['private'], g['files']),
                         ('Renamed', 32768, True, 2))
        self.assertEqual([x['url'] for x in g['trackers']],
                         ['http://127.0.0.1:9/a', 'udp://127.0.0.1:9/b'])

        # a relative path is made absolute by p2pctl
        write_file(os.path.join(d.root, 'rel.bin'), rand_bytes(5000, 'rel'))
        r = ctl(['-s', d.socket, 'share', 'rel.bin'], home=d.home, cwd=d.root)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertEqual(d.call('torrent.get', {'id': HASH_RE.findall(r.out)[0]})['path'],
                         os.path.join(d.root, 'rel.bin'))

        # --no-wait returns a job; the torrent appears once hashed
        write_file(os.path.join(d.root, 'later.bin'), rand_bytes(100000, 'later'))
        r = self.assertCtl(self.ctl(d, 'share', os.path.join(d.root, 'later.bin'), '--no-wait'))
        self.assertRegex(r.out, r'\d')
        wait_until(lambda: [t for t in d.call('torrent.list')['torrents']
                            if t['name'] == 'later.bin' and t['state'] == 'seeding'],
                   30, what='--no-wait share to finish')

        # errors from p2pd: exit 1 with its message
        missing = os.path.join(d.root, 'missing.bin')
        r = self.assertCtl(self.ctl(d, 'share', missing), 1)
        self.assertIn(missing, r.err)
        r = self.assertCtl(self.ctl(d, 'share', path), 1)      # exists

    def test_add_list_info_files(self):
        d = self.daemon()
        src = self.tmpdir()
        content = [('one.txt', b'1' * 20000), ('sub/two.txt', rand_bytes(50000, 'two'))]
        tor, ih, _ = make_torrent('bundle', content, 16384)
        tpath = os.path.join(src, 'bundle.torrent')
        write_file(tpath, tor)
        r = self.assertCtl(self.ctl(d, 'add', tpath))
        self.assertIn(ih, r.out + self.ctl(d, 'list').out)
        self.assertEqual(d.call('torrent.get', {'id': ih})['state'], 'downloading')
        h2 = '1234567890' * 4
        self.assertCtl(self.ctl(d, 'add', 'magnet:?xt=urn:btih:%s&dn=Magnet%%20Two' % h2))
        h3 = 'abcdefabcd' * 4
        other = os.path.join(src, 'other')
        os.makedirs(other)
        self.assertCtl(self.ctl(d, 'add', h3, '--paused', '--dir', other))
        g3 = d.call('torrent.get', {'id': h3})
        self.assertEqual(g3['state'], 'paused')
        self.assertEqual(os.path.dirname(g3['path']), other)
        path = os.path.join(d.root, 'seed.bin')
        write_file(path, rand_bytes(40000, 'seed'))
        t4 = share(d, path)

        rows = {}
        r = self.assertCtl(self.ctl(d, 'list'))
        self.assertEqual(self.ctl(d, 'ls').out, r.out, 'ls and list differ')
        for name, state in (('bundle', 'downloading'), ('Magnet Two', 'downloading'),
                            (h3, 'paused'), ('seed.bin', 'seeding')):
            line = [ln for ln in r.out.splitlines() if name in ln]
            self.assertEqual(len(line), 1, 'list shows %r once: %s' % (name, r.out))
            self.assertIn(state, line[0])
            rows[name] = line[0]
        j = self.assertCtl(self.ctl(d, '--json', 'list')).json()
        self.assertEqual(j, d.call('torrent.list'))

        r = self.assertCtl(self.ctl(d, 'info', ih[:8]))
        for s in ('bundle', ih, 'downloading'):
            self.assertIn(s, r.out)
        j = self.assertCtl(self.ctl(d, '--json', 'info', str(t4['id']))).json()
        g = d.call('torrent.get', {'id': t4['id']})
        for k in ('id', 'info_hash', 'name', 'state', 'size', 'pieces_have', 'magnet'):
            self.assertEqual(j[k], g[k], k)
        r = self.assertCtl(self.ctl(d, 'files', ih))
        self.assertIn('one.txt', r.out)
        self.assertIn('sub/two.txt', r.out)
        j = self.assertCtl(self.ctl(d, '--json', 'files', ih)).json()
        self.assertEqual(j, d.call('torrent.files', {'id': ih}))

        # errors: exit 1 with the daemon's message
        r = self.assertCtl(self.ctl(d, 'add', tpath), 1)                 # exists
        bad = os.path.join(src, 'bad.torrent')
        write_file(bad, b'not a torrent')
        self.assertCtl(self.ctl(d, 'add', bad), 1)
        self.assertCtl(self.ctl(d, 'info', '99999'), 1)
        self.assertCtl(self.ctl(d, 'files', 'ffffffffff'), 1)
        self.assertEqual(len(d.call('torrent.list')['torrents']), 4)

    def test_pause_resume_verify_remove(self):
        d = self.daemon()
        path = os.path.join(d.root, 'ctl.bin')
        write_file(path, rand_bytes(10 * 65536, 'ctl'))
        t = share(d, path, piece_length=65536)
        tid = str(t['id'])
        self.assertCtl(self.ctl(d, 'pause', tid))
        self.assertEqual(d.call('torrent.get', {'id': t['id']})['state'], 'paused')
        j = self.assertCtl(self.ctl(d, '--json', 'resume', t['info_hash'][:6])).json()
        self.assertEqual(j['state'], 'seeding')
        self.assertEqual(d.call('torrent.get', {'id': t['id']})['state'], 'seeding')
        flip_byte(path, 3 * 65536 + 5)
        self.assertCtl(self.ctl(d, 'verify', tid))
        g = d.call('torrent.get', {'id': t['id']})
        self.assertEqual((g['pieces_have'], g['state']), (9, 'downloading'))
        self.assertCtl(self.ctl(d, 'pause', '99999'), 1)

        # ambiguous prefix: exit 1, and p2pd's message reaches the user
        d.call('torrent.add', {'magnet': 'abcdef' + '0' * 34})
        d.call('torrent.add', {'magnet': 'abcdef' + '1' * 34})
        err = d.error('torrent.pause', {'id': 'abcdef'})
        r = self.assertCtl(self.ctl(d, 'pause', 'abcdef'), 1)
        self.assertIn(err['message'], r.err)

        # remove a shared torrent: data kept; --delete-data needs --force
        self.assertCtl(self.ctl(d, 'remove', tid, '--delete-data'), 1)
        self.assertTrue(os.path.exists(path))
        self.assertCtl(self.ctl(d, 'remove', tid))
        self.assertTrue(os.path.exists(path))
        self.assertEqual(len(d.call('torrent.list')['torrents']), 2)
        # remove --delete-data of an added torrent with its data in place
        content = [('x.bin', rand_bytes(30000, 'x'))]
        write_files(os.path.join(d.download_dir, 'deldir'), content)
        tor, ih, _ = make_torrent('deldir', content, 16384)
        tf = os.path.join(d.root, 'deldir.torrent')
        write_file(tf, tor)
        self.assertCtl(self.ctl(d, 'add', tf))
        self.wait_state(d, ih, 'seeding')
        self.assertCtl(self.ctl(d, 'remove', ih, '--delete-data'))
        self.assertFalse(os.path.exists(os.path.join(d.download_dir, 'deldir', 'x.bin')))
        self.assertNotIn(ih, [x['info_hash'] for x in d.call('torrent.list')['torrents']])

    def test_export_and_magnet(self):
        d = self.daemon()
        path = os.path.join(d.root, 'exp.bin')
        write_file(path, rand_bytes(123456, 'exp'))
        t = share(d, path)
        ex = d.call('torrent.export', {'id': t['id']})
        raw = base64.b64decode(ex['metainfo'])
        out = os.path.join(d.root, 'out.torrent')
        self.assertCtl(self.ctl(d, 'export', str(t['id']), '-o', out))
        self.assertEqual(read_file(out), raw, 'export -o must write the exact .torrent bytes')
        r = self.ctl(d, 'export', t['info_hash'])
        self.assertEqual(r.rc, 0, repr(r))
        self.assertEqual(r.outb, raw, 'export to a non-terminal stdout writes the .torrent')
        r = self.assertCtl(self.ctl(d, 'magnet', t['info_hash'][:10]))
        self.assertEqual(r.out.strip(), ex['magnet'])
        # the exported file adds cleanly to a second daemon
        d2 = self.daemon()
        r = self.assertCtl(self.ctl(d2, 'add', out, '--dir', d.root))
        self.assertEqual(self.wait_state(d2, t['info_hash'], 'seeding')['pieces_have'],
                         t['pieces'])
        self.assertCtl(self.ctl(d, 'export', '99999', '-o', os.path.join(d.root, 'no')), 1)
        self.assertFalse(os.path.exists(os.path.join(d.root, 'no')))

    def test_raw(self):
        d = self.daemon()
        r = self.assertCtl(self.ctl(d, 'raw', 'session.status'))
        lines = r.out.strip().splitlines()
        self.assertEqual(len(lines), 1, repr(r))
        resp = json.loads(lines[0])
        self.assertEqual(resp.get('jsonrpc'), '2.0')
        self.assertEqual(resp['result']['pid'], d.pid)
        r = self.assertCtl(self.ctl(d, 'raw', 'torrent.add', json.dumps({'magnet': '9' * 40})))
        self.assertEqual(json.loads(r.out)['result']['info_hash'], '9' * 40)
        r = self.ctl(d, 'raw', 'torrent.get', '{"id": 99999}')
        self.assertEqual(r.rc, 1, repr(r))
        self.assertEqual(json.loads(r.out.strip())['error']['code'], -32001)
        r = self.ctl(d, 'raw', 'no.such.method')
        self.assertEqual(r.rc, 1, repr(r))
        self.assertEqual(json.loads(r.out.strip())['error']['code'], -32601)

    def test_watch_and_shutdown(self):
        d = self.daemon()
        proc = subprocess.Popen([P2PCTL, '-s', d.socket, '--json', 'watch'],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=clean_env(d.home))
        lines = []

        def reader():
            for line in proc.stdout:
                lines.append(line)
        th = threading.Thread(target=reader, daemon=True)
        th.start()
        try:
            h = 'feed' * 10

            def seen():
                # watch subscribes asynchronously: keep making events until one shows
                d.call('torrent.add', {'magnet': h})
                d.call('torrent.remove', {'id': h})
                return [x for x in lines if h.encode() in x]
            wait_until(seen, 10, 0.2, what='p2pctl watch to print an event')
            wait_until(lambda: {'torrent.added', 'torrent.removed'} <=
                       {json.loads(x).get('type') for x in list(lines)}, 5,
                       what='torrent.added and torrent.removed from p2pctl --json watch')
            for x in list(lines):
                ev = json.loads(x)
                self.assertIn('type', ev, x)
                self.assertIn('time', ev, x)
            # p2pctl shutdown: exit 0; p2pd exits 0; watch ends with 0
            r = self.assertCtl(self.ctl(d, 'shutdown'))
            self.assertEqual(d.wait_exit(5), 0, 'p2pd must exit 0 after p2pctl shutdown')
            try:
                rc = proc.wait(5)
            except subprocess.TimeoutExpired:
                rc = None
            self.assertEqual(rc, 0, 'p2pctl watch must exit 0 when p2pd shuts down')
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            proc.stdout.close()
            proc.stderr.close()
            th.join(5)


class LeakTest(CtlTest):

    def test_p2pctl_does_not_leak(self):
        d = self.daemon()
        d.call('torrent.add', {'magnet': '2' * 40})
        path = os.path.join(d.root, 'leak.bin')
        write_file(path, b'l' * 30000)
        missing = os.path.join(d.root, 'missing.sock')
        runs = [(['status'], d.socket), (['--json', 'status'], d.socket), (['list'], d.socket),
                (['--json', 'list'], d.socket), (['info', '2' * 40], d.socket),
                (['files', '2' * 40], d.socket), (['share', path], d.socket),
                (['magnet', '2' * 40], d.socket), (['info', '99999'], d.socket),
                (['raw', 'session.status'], d.socket), (['bogus'], d.socket),
                (['--help'], d.socket), (['status'], missing),
                (['--json', 'info', '1'], missing)]
        leaky = []
        for args, sock in runs:
            r = ctl(args, sock=sock, home=d.home, leak_check=True)
            if 'Sanitizer' in r.err or 'runtime error:' in r.err:
                i = r.err.find('==')
                leaky.append('p2pctl %s:\n%s' % (' '.join(args), r.err[i:i + 1200]))
        self.assertEqual(leaky, [], 'p2pctl sanitizer reports:\n' + '\n'.join(leaky))


class FakeDaemon:
    """A Python stand-in for p2pd: records requests, answers from a table."""

    def __init__(self, path, answers):
        self.path = path
        self.answers = answers
        self.requests = []
        self.errors = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(5)
            buf = b''
            try:
                for _ in range(1000):
                    while b'\n' not in buf:
                        chunk = c.recv(65536)
                        if not chunk:
                            raise EOFError
                        buf += chunk
                    line, buf = buf.split(b'\n', 1)
                    req = json.loads(line)
                    self.requests.append(req)
                    if (req.get('jsonrpc') != '2.0' or not isinstance(req.get('method'), str)
                            or not isinstance(req.get('params', {}), dict)):
                        self.errors.append(req)
                    if 'id' not in req:
                        continue
                    result = self.answers.get(req['method'], {})
                    c.sendall(json.dumps({'jsonrpc': '2.0', 'id': req['id'],
                                          'result': result}).encode() + b'\n')
            except (EOFError, OSError, ValueError):
                pass
            finally:
                c.close()

    def close(self):
        self.stop.set()
        self.sock.close()
        self.th.join(5)


class FakeDaemonTest(CtlTest):

    def test_requests_are_json_rpc_and_api_version_is_checked(self):
        root = self.tmpdir()
        path = os.path.join(root, 'fake.sock')
        status = {'version': '0.1.0', 'api_version': 1, 'pid': 1, 'uptime': 1,
                  'state_dir': root, 'download_dir': root, 'socket': path,
                  'config_file': None, 'listen': ['127.0.0.1:6881'], 'workers': 1,
                  'clients': 1, 'torrents': {'total': 0, 'checking': 0, 'downloading': 0,
                                             'seeding': 0, 'paused': 0, 'error': 0}}
        fake = FakeDaemon(path, {'session.status': status, 'torrent.list': {'torrents': []}})
        self.addCleanup(fake.close)
        r = ctl(['status'], sock=path, home=root)
        self.assertEqual(r.rc, 0, repr(r))
        r = ctl(['--json', 'list'], sock=path, home=root)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertEqual(r.json(), {'torrents': []})
        self.assertTrue(fake.requests)
        self.assertEqual(fake.errors, [], 'p2pctl sent requests that are not JSON-RPC 2.0')
        self.assertIn('torrent.list', [q['method'] for q in fake.requests])
        # a daemon speaking another api_version is refused, saying so
        status['api_version'] = 999
        r = ctl(['status'], sock=path, home=root)
        self.assertNotEqual(r.rc, 0, 'p2pctl accepted a daemon with api_version 999: %r' % r)
        self.assertRegex(r.err.lower(), r'api|version', repr(r))


if __name__ == '__main__':
    main()
