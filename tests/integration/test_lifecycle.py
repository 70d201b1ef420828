#!/usr/bin/python3
"""p2pd as a process: SIGTERM/SIGINT, restart without re-hashing, kill -9,
SIGHUP reload, -n/-nv config checks, stale and contested sockets, socket mode,
sd_notify READY/STOPPING, socket activation, running with no config file, and
staying responsive while hashing a big file."""

import base64
import os
import re
import signal
import socket
import stat
import subprocess
import time

from p2ptest import (LIMIT, P2PD, Client, Daemon, DaemonTest, clean_env, ctl,
                     magnet_hash, main, make_torrent, rand_bytes, read_file, share,
                     wait_until, write_file, write_files)

PL = 16384
LOG_LINE = re.compile(rb'^<([0-7])>', re.M)


def levels(data):
    return [int(m.group(1)) for m in LOG_LINE.finditer(data)]


class ShutdownRestartTest(DaemonTest):

    def test_sigterm_then_restart_keeps_everything_without_rehash(self):
        d = self.daemon()
        big = os.path.join(d.root, 'big.bin')
        with open(big, 'wb') as f:          # sparse: a re-hash would show, no disk used
            f.truncate(512 << 20)
        t_big = share(d, big, piece_length=1 << 20)
        small_dir = os.path.join(d.root, 'docs')
        write_files(small_dir, [('a.txt', b'a' * 5000), ('b/c.txt', rand_bytes(70000, 'c'))])
        t_dir = share(d, small_dir, piece_length=PL)
        data = rand_bytes(10 * PL + 3, 'added')
        write_file(os.path.join(d.download_dir, 'added.bin'), data)
        tor, ih, _ = make_torrent('added.bin', data, PL)
        d.call('torrent.add', {'metainfo': base64.b64encode(tor).decode()})
        self.wait_state(d, ih, 'seeding')
        mag = d.call('torrent.add', {'magnet': 'magnet:?xt=urn:btih:%s&dn=later' % ('7' * 40)})
        paused = d.call('torrent.add', {'magnet': '8' * 40, 'paused': True})
        before = {t['info_hash']: t for t in d.call('torrent.list')['torrents']}
        self.assertEqual(len(before), 5)

        rc, took = d.stop(signal.SIGTERM)
        self.assertEqual(rc, 0, 'exit status on SIGTERM')
        self.assertLess(took, 2.0, 'SIGTERM must stop p2pd within 2 s')
        self.assertFalse(os.path.exists(d.socket) and self._answers(d.socket),
                         'socket still answers after exit')

        d.start(wait=False)
        c = connect_when_up(d)
        sub_resp = c.request('events.subscribe')
        self.assertIn('result', sub_resp)
        after = {t['info_hash']: t for t in c.call('torrent.list')['torrents']}
        self.assertEqual(set(after), set(before), 'torrents lost or gained over a restart')
        for h, t in before.items():
            a = after[h]
            for k in ('id', 'name', 'size', 'pieces', 'piece_length', 'files', 'origin',
                      'path', 'added', 'private'):
                self.assertEqual(a[k], t[k], '%s of %s changed over restart' % (k, t['name']))
        for t in (t_big, t_dir):
            a = after[t['info_hash']]
            self.assertEqual(a['state'], 'seeding',
                             '%s must seed right after restart, not re-check' % t['name'])
            self.assertEqual(a['pieces_have'], a['pieces'])
            self.assertNotIn('check_progress', a)
        self.assertEqual(after[ih]['state'], 'seeding')
        self.assertEqual(after[ih]['pieces_have'], 11)
        self.assertEqual(after[mag['info_hash']]['state'], 'downloading')
        self.assertEqual(after[mag['info_hash']]['name'], 'later')
        self.assertEqual(after[paused['info_hash']]['state'], 'paused')
        events = c.collect_events(1.0)
        rehash = [e for e in events if e['type'] == 'hash.progress'
                  or (e['type'] == 'torrent.state' and e.get('to') == 'checking')]
        self.assertEqual(rehash, [], 'complete torrents were re-hashed after a clean restart')
        st = c.call('session.status')
        self.assertEqual(st['torrents'], {'total': 5, 'checking': 0, 'downloading': 1,
                                          'seeding': 3, 'paused': 1, 'error': 0})
        # the shared file is still served from the same place, with the same metainfo
        ex = c.call('torrent.export', {'id': t_big['id']})
        self.assertEqual(magnet_hash(ex['magnet']), t_big['info_hash'])

    @staticmethod
    def _answers(path):
        try:
            with Client(path, timeout=1) as c:
                c.call('session.status', timeout=1)
            return True
        except (OSError, TimeoutError, ConnectionError):
            return False

    def test_sigint_exits_zero(self):
        d = self.daemon()
        d.call('torrent.add', {'magnet': '3' * 40})
        rc, took = d.stop(signal.SIGINT)
        self.assertEqual(rc, 0)
        self.assertLess(took, 2.0)
        d.start()
        self.assertEqual([t['info_hash'] for t in d.call('torrent.list')['torrents']], ['3' * 40])

    def test_sigterm_while_hashing(self):
        d = self.daemon()
        big = os.path.join(d.root, 'huge.bin')
        with open(big, 'wb') as f:
            f.truncate(4 << 30)
        c = d.client()
        c.call('events.subscribe', {'types': ['hash.progress']})
        job = c.call('torrent.share', {'path': big, 'wait': False})['job']
        c.take_event(lambda e: e.get('job') == job, timeout=20, what='hashing under way')
        rc, took = d.stop()
        self.assertEqual(rc, 0)
        self.assertLess(took, 2.0, 'SIGTERM during a share must still stop within 2 s')
        d.start()
        self.assertIsInstance(d.call('torrent.list')['torrents'], list)

    def test_kill9_then_restart_resumes_seeding(self):
        d = self.daemon()
        path = os.path.join(d.root, 'crash.bin')
        data = rand_bytes(40 * PL, 'crash')
        write_file(path, data)
        t = share(d, path, piece_length=PL)
        d.call('torrent.add', {'magnet': '4' * 40})
        d.kill9()
        d.start()
        g = self.wait_state(d, t['id'], ('seeding', 'downloading', 'error'), timeout=30)
        self.assertTorrent(g, state='seeding', pieces_have=40, info_hash=t['info_hash'])
        self.assertIn('4' * 40, [x['info_hash'] for x in d.call('torrent.list')['torrents']])
        self.assertEqual(read_file(path), data)

    def test_max_torrents_limit(self):
        d = self.daemon(config='max_torrents = 2\n')
        d.call('torrent.add', {'magnet': '1' * 40})
        d.call('torrent.add', {'magnet': '2' * 40})
        e = d.error('torrent.add', {'magnet': '3' * 40})
        self.assertRpcError(e, LIMIT)
        path = os.path.join(d.root, 'f.bin')
        write_file(path, b'f' * 1000)
        self.assertRpcError(d.error('torrent.share', {'path': path}), LIMIT)
        self.assertEqual(len(d.call('torrent.list')['torrents']), 2)
        d.call('torrent.remove', {'id': '1' * 40})
        d.call('torrent.add', {'magnet': '3' * 40})


def connect_when_up(d, timeout=10.0):
    """Connects as soon as the socket accepts (no status probe before)."""
    def attempt():
        if d.proc.poll() is not None:
            raise AssertionError('p2pd exited with %s:\n%s' % (d.proc.returncode, d.log_tail()))
        try:
            return d.client()
        except (FileNotFoundError, ConnectionRefusedError):
            return None
    return wait_until(attempt, timeout, 0.01, what='control socket')


class ConfigTest(DaemonTest):

    def config_text(self, d, **extra):
        lines = ['# p2pd test config', 'state_dir = ' + d.state_dir,
                 'download_dir = ' + d.download_dir, 'socket = ' + d.socket]
        lines += ['%s = %s' % kv for kv in extra.items()]
        return '\n'.join(lines) + '\n'

    def wait_log(self, d, pred, timeout, what, poke=True):
        """Pokes p2pd with client work until pred(new log bytes) holds."""
        start = len(d.log_bytes())

        def check():
            if poke:
                with Client(d.socket) as c:
                    c.call('session.status')
                    c.call('torrent.add', {'magnet': '6' * 40})
                    c.call('torrent.remove', {'id': '6' * 40})
            return pred(d.log_bytes()[start:])
        return wait_until(check, timeout, 0.1, what=what)

    def test_sighup_reloads_log_level(self):
        d = self.daemon(start=False)
        d.write_config(self.config_text(d, log_level='err'))
        d.start()
        for _ in range(3):
            with d.client() as c:
                c.call('torrent.add', {'magnet': '6' * 40})
                c.call('torrent.remove', {'id': '6' * 40})
        quiet = d.log_bytes()
        self.assertEqual([lv for lv in levels(quiet) if lv > 3], [],
                         'log_level = err, yet p2pd logged:\n%s' % quiet.decode(errors='replace'))

        d.write_config(self.config_text(d, log_level='debug'))
        d.proc.send_signal(signal.SIGHUP)
        self.wait_log(d, lambda b: any(lv >= 6 for lv in levels(b)), 10,
                      'info/debug lines after SIGHUP with log_level = debug')
        self.assertTrue(d.running())

        # a bad file is refused, logged, and the old config (debug) stays;
        # its first line alone would lower the level
        d.write_config(self.config_text(d) + 'log_level = err\nno_such_key = 1\n')
        mark = len(d.log_bytes())
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: re.search(rb'no_such_key|line \d+', d.log_bytes()[mark:]), 10,
                   what='a log line refusing the bad config')
        time.sleep(0.2)
        self.assertTrue(d.running(), 'p2pd died on a bad config at SIGHUP')
        self.wait_log(d, lambda b: any(lv >= 6 for lv in levels(b)), 10,
                      'info lines still logged: the old log_level must stay')
        st = d.call('session.status')
        self.assertEqual(os.path.realpath(st['config_file']), os.path.realpath(d.config_path))

        # and a good file again: back to err, quiet
        d.write_config(self.config_text(d, log_level='err'))
        d.proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        mark = len(d.log_bytes())
        for _ in range(3):
            with d.client() as c:
                c.call('session.status')
                c.call('torrent.add', {'magnet': '6' * 40})
                c.call('torrent.remove', {'id': '6' * 40})
        self.assertEqual([lv for lv in levels(d.log_bytes()[mark:]) if lv > 3], [],
                         'log_level = err after reload, yet p2pd logged more')

    def run_p2pd(self, args, home, timeout=10):
        p = subprocess.run([P2PD] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=clean_env(home), timeout=timeout)
        return p.returncode, p.stdout.decode(errors='replace'), p.stderr.decode(errors='replace')

    def test_check_config_n(self):
        root = self.tmpdir()
        d = Daemon(root=root)
        good = os.path.join(root, 'good.conf')
        write_file(good, self.config_text(d, workers=3, log_level='notice',
                                          max_torrents=77).encode())
        rc, out, err = self.run_p2pd(['-c', good, '-n'], d.home)
        self.assertEqual(rc, 0, err)
        self.assertFalse(os.path.exists(d.socket), '-n must not open the control socket')
        rc, out, err = self.run_p2pd(['-c', good, '-nv'], d.home)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r'(?m)^\s*workers\s*=\s*3\s*$')
        self.assertRegex(out, r'(?m)^\s*max_torrents\s*=\s*77\s*$')
        self.assertRegex(out, r'(?m)^\s*log_level\s*=\s*notice\s*$')
        self.assertRegex(out, r'(?m)^\s*state_dir\s*=\s*%s\s*$' % re.escape(d.state_dir))
        # the command line overrides the file
        rc, out, err = self.run_p2pd(['-c', good, '--workers', '5', '-n', '-v'], d.home)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r'(?m)^\s*workers\s*=\s*5\s*$')
        # what -nv prints is itself a valid config file
        printed = os.path.join(root, 'printed.conf')
        write_file(printed, out.encode())
        rc, out2, err = self.run_p2pd(['-c', printed, '-nv'], d.home)
        self.assertEqual(rc, 0, 'p2pd -nv output does not parse as a config: ' + err)
        self.assertEqual(out2, out)

        for text, word in (('workers = 2\nbogus_key = 1\n', 'bogus_key'),
                           ('workers = many\n', 'workers'),
                           ('log_level = loud\n', 'log_level'),
                           ('just some words\n', 'line 1')):
            bad = os.path.join(root, 'bad.conf')
            write_file(bad, text.encode())
            rc, out, err = self.run_p2pd(['-c', bad, '-n'], d.home)
            self.assertEqual(rc, 1, 'p2pd -n on a bad config (%r) must exit 1' % text)
            self.assertIn(word, err, 'the error must say what is wrong: %r' % err)
        rc, out, err = self.run_p2pd(['-c', os.path.join(root, 'missing.conf'), '-n'], d.home)
        self.assertEqual(rc, 1, 'a config file given with -c must exist')
        self.assertIn('missing.conf', err)
        # no config file at all: built-in defaults are fine
        rc, out, err = self.run_p2pd(['-n'], d.home)
        self.assertEqual(rc, 0, err)

    def test_command_line_usage(self):
        home = self.tmpdir()
        rc, out, err = self.run_p2pd(['--help'], home)
        self.assertEqual(rc, 0)
        for opt in ('--state-dir', '--socket', '--listen', '--no-dht', '--workers'):
            self.assertIn(opt, out + err)
        rc, out, err = self.run_p2pd(['--version'], home)
        self.assertEqual(rc, 0)
        self.assertRegex(out, r'\d+\.\d+\.\d+')
        rc, out, err = self.run_p2pd(['--no-such-option'], home)
        self.assertNotEqual(rc, 0)
        self.assertTrue(err.strip())
        rc, out, err = self.run_p2pd(['--workers', 'lots', '-n'], home)
        self.assertNotEqual(rc, 0)
        self.assertIn('workers', err)


class SocketTest(DaemonTest):

    def test_stale_socket_is_replaced(self):
        d = self.daemon(start=False)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(d.socket)
        s.close()               # the file stays, nobody listens
        self.assertTrue(stat.S_ISSOCK(os.lstat(d.socket).st_mode))
        d.start()
        self.assertEqual(d.call('session.status')['pid'], d.pid)

    def test_second_daemon_on_the_same_socket_is_refused(self):
        d1 = self.daemon()
        d1.call('torrent.add', {'magnet': '2' * 40})
        ino = os.stat(d1.socket).st_ino
        d2 = self.daemon(start=False)
        d2.socket = d1.socket
        d2.start(wait=False)
        rc = d2.wait_exit(10)
        self.assertEqual(rc, 1, 'second p2pd on a live socket must exit 1:\n' + d2.log_text())
        self.assertIn('already running', d2.log_text())
        self.assertEqual(os.stat(d1.socket).st_ino, ino, 'the second p2pd replaced the socket')
        st = d1.call('session.status')
        self.assertEqual(st['pid'], d1.pid)
        self.assertEqual(st['torrents']['total'], 1)

    def test_second_daemon_on_the_same_state_dir_is_refused(self):
        d1 = self.daemon()
        d1.call('torrent.add', {'magnet': '2' * 40})
        d2 = self.daemon(start=False)
        d2.state_dir = d1.state_dir
        d2.start(wait=False)
        rc = d2.wait_exit(10)
        self.assertIsNotNone(rc, 'a second p2pd on a database in use kept running')
        self.assertNotEqual(rc, 0)
        self.assertEqual(d1.call('session.status')['torrents']['total'], 1)
        self.assertEqual(d1.call('torrent.get', {'id': '2' * 40})['state'], 'downloading')

    def test_socket_mode_is_0660(self):
        for umask in (0o022, 0o002, 0o077):
            d = self.daemon(start=False)
            d.start(popen_kw={'umask': umask})
            mode = os.stat(d.socket).st_mode
            self.assertTrue(stat.S_ISSOCK(mode))
            self.assertEqual(stat.S_IMODE(mode), 0o660,
                             'socket mode %o under umask %03o' % (stat.S_IMODE(mode), umask))
            d.stop()

    def notify_test(self, abstract):
        d = self.daemon(start=False)
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(ns.close)
        if abstract:
            name = 'p2ptest-notify-%d-%d' % (os.getpid(), time.monotonic_ns())
            ns.bind('\0' + name)
            env = {'NOTIFY_SOCKET': '@' + name}
        else:
            path = os.path.join(d.root, 'notify.sock')
            ns.bind(path)
            env = {'NOTIFY_SOCKET': path}
        ns.settimeout(10)
        d.start(wait=False, env=env)
        msg = ns.recv(4096).decode()
        self.assertIn('READY=1', msg.split('\n'), msg)
        # READY=1 means the control socket listens: no retry needed
        with Client(d.socket) as c:
            self.assertEqual(c.call('session.status')['pid'], d.pid)
        d.proc.send_signal(signal.SIGTERM)
        msgs = []
        for _ in range(20):
            try:
                m = ns.recv(4096).decode()
            except socket.timeout:
                break
            msgs.append(m)
            if 'STOPPING=1' in m.split('\n'):
                break
        self.assertTrue(any('STOPPING=1' in m.split('\n') for m in msgs), msgs)
        self.assertEqual(d.wait_exit(5), 0)

    def test_notify_socket_path(self):
        self.notify_test(abstract=False)

    def test_notify_socket_abstract(self):
        self.notify_test(abstract=True)

    def test_socket_activation(self):
        d = self.daemon(start=False)
        path = os.path.join(d.root, 'activated.sock')
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(ls.close)
        ls.bind(path)
        os.chmod(path, 0o660)
        ls.listen(16)
        ino = os.stat(path).st_ino
        fd = ls.fileno()
        d.socket = path
        cmd = ['/bin/sh', '-c', 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"'] + d.cmdline()

        def to_fd3():
            if fd != 3:
                os.dup2(fd, 3)
            os.set_inheritable(3, True)
        d.start(cmd=cmd, popen_kw={'preexec_fn': to_fd3, 'close_fds': False})
        st = d.call('session.status')
        self.assertEqual(st['pid'], d.pid)
        self.assertEqual(os.stat(path).st_ino, ino,
                         'p2pd must use the socket it was given, not bind a new one')
        t = d.call('torrent.add', {'magnet': '5' * 40})
        self.assertEqual(t['info_hash'], '5' * 40)
        self.assertEqual(d.stop()[0], 0)

    def test_runs_with_no_config_file_at_all(self):
        d = self.daemon(start=False, use_paths=False)
        env = d.environ()
        for k in ('XDG_STATE_HOME', 'XDG_DATA_HOME', 'XDG_CONFIG_HOME'):
            os.makedirs(env[k], exist_ok=True)
        os.makedirs(env['XDG_RUNTIME_DIR'], mode=0o700, exist_ok=True)
        d.socket = os.path.join(env['XDG_RUNTIME_DIR'], 'p2pd', 'p2pd.sock')
        d.start()
        st = d.call('session.status')
        self.assertIsNone(st['config_file'])
        rp = os.path.realpath
        self.assertEqual(rp(st['socket']), rp(d.socket))
        self.assertEqual(rp(st['state_dir']), rp(os.path.join(env['XDG_STATE_HOME'], 'p2pd')))
        self.assertEqual(rp(st['download_dir']),
                         rp(os.path.join(env['XDG_DATA_HOME'], 'p2pd', 'downloads')))
        path = os.path.join(d.root, 'nocfg.bin')
        write_file(path, b'n' * 20000)
        t = share(d, path)
        self.assertTrue(os.path.exists(os.path.join(env['XDG_STATE_HOME'], 'p2pd', 'p2pd.db')))
        # p2pctl finds the same default socket with no -s
        r = ctl(['--json', 'status'], env=env)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json()['pid'], d.pid)
        r = ctl(['list'], env=env)
        self.assertEqual(r.rc, 0, r)
        self.assertIn('nocfg.bin', r.out)
        self.assertEqual(d.stop()[0], 0)
        d.start()
        self.assertEqual(d.call('torrent.get', {'id': t['id']})['state'], 'seeding')


class ResponsivenessTest(DaemonTest):

    def test_status_answers_fast_while_hashing_a_big_file(self):
        d = self.daemon()
        big = os.path.join(d.root, 'big.bin')
        size = 2 << 30
        with open(big, 'wb') as f:      # sparse
            f.truncate(size)
        sub = d.client()
        sub.call('events.subscribe', {'types': ['share.done', 'share.failed']})
        c = d.client()
        probe = d.client()
        job = c.call('torrent.share', {'path': big, 'wait': False})['job']
        latencies = []
        done = None
        deadline = time.monotonic() + 120
        for _ in range(100000):
            if time.monotonic() > deadline:
                break
            t0 = time.monotonic()
            probe.call('session.status', timeout=10)
            latencies.append(time.monotonic() - t0)
            probe.call('torrent.list', timeout=10)
            try:
                done = sub.take_event(lambda e: e.get('job') == job, timeout=0.01)
                break
            except AssertionError:
                pass
        self.assertIsNotNone(done, 'share of a 2 GiB file did not finish in 120 s')
        self.assertEqual(done['type'], 'share.done', done)
        self.assertGreaterEqual(len(latencies), 5, 'hashing finished too fast to measure')
        slow = sorted(latencies)[-5:]
        self.assertLess(max(latencies), 0.2,
                        'session.status took up to %.3f s while hashing (slowest: %s)'
                        % (max(latencies), slow))
        self.assertEqual(done['torrent']['pieces_have'], done['torrent']['pieces'])


if __name__ == '__main__':
    main()
