#!/usr/bin/python3
"""The control socket and the service (issue 6, item 6): modes of the socket, its
directory and the state directory; a socket path that is a symbolic link is
refused; no confused deputy (torrent.share and torrent.add of a path succeed only
where the requesting user could read it themselves, checked with a real second
user); the systemd watchdog pinged from the event loop (fake $NOTIFY_SOCKET); the
unit passes `systemd-analyze verify` and scores at most 1.5 under
`systemd-analyze security --offline=true`."""

import base64
import json
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys
import time

from p2ptest import (P2PCTL, DaemonTest, clean_env, main, make_torrent, share,
                     write_file)

HERE = os.path.dirname(os.path.abspath(__file__))
UNIT_DIR = os.path.join(HERE, '..', '..', 'systemd')
DENIED = -32009
TEST_USER = 'p2pd-test-other'
MAX_EXPOSURE = 1.5

# Run as the other user: one request on the socket, the answer printed as JSON.
CLIENT = r'''
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
s.connect(sys.argv[1])
s.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": sys.argv[2],
                      "params": json.loads(sys.argv[3])}).encode() + b"\n")
buf = b""
while not buf.endswith(b"\n"):
    b = s.recv(65536)
    if not b:
        break
    buf += b
sys.stdout.write(buf.decode())
'''


def other_user():
    """(uid, gid) of a test user, created here if absent; None if impossible."""
    try:
        pw = pwd.getpwnam(TEST_USER)
        return pw.pw_uid, pw.pw_gid, False
    except KeyError:
        pass
    if os.geteuid() != 0 or not shutil.which('useradd'):
        return None
    r = subprocess.run(['useradd', '--system', '--no-create-home', '--user-group',
                        '--shell', '/usr/sbin/nologin', TEST_USER],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)
    if r.returncode != 0:
        return None
    pw = pwd.getpwnam(TEST_USER)
    return pw.pw_uid, pw.pw_gid, True


class SocketAndDirsTest(DaemonTest):

    def test_modes_of_socket_and_directories(self):
        d = self.daemon(start=False)
        d.socket = os.path.join(d.root, 'run', 'sub', 'p2pd.sock')
        d.state_dir = os.path.join(d.root, 'newstate', 'db')
        d.start(popen_kw={'umask': 0o022})
        self.assertEqual(stat.S_IMODE(os.stat(d.socket).st_mode), 0o660)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(d.socket)).st_mode), 0o750)
        self.assertEqual(stat.S_IMODE(os.stat(d.state_dir).st_mode), 0o700)
        # the database and its WAL are the daemon's alone, whatever the umask
        for name in ('p2pd.db', 'p2pd.db-wal'):
            p = os.path.join(d.state_dir, name)
            if os.path.exists(p):
                self.assertEqual(stat.S_IMODE(os.stat(p).st_mode) & 0o077, 0,
                                 '%s is open to others: %o' % (name, os.stat(p).st_mode))

    def test_open_state_directory_is_reported(self):
        d = self.daemon(start=False)
        os.makedirs(d.state_dir)
        os.chmod(d.state_dir, 0o755)
        d.start()
        self.assertIn('state directory %s is open to other users (mode 755)' % d.state_dir,
                      d.log_text())

    def test_socket_path_that_is_a_symlink_is_refused(self):
        d = self.daemon(start=False)
        target = os.path.join(d.root, 'elsewhere.sock')
        os.symlink(target, d.socket)
        d.start(wait=False)
        rc = d.wait_exit(10)
        self.assertIsNotNone(rc, 'p2pd kept running on a symlinked socket path')
        self.assertNotEqual(rc, 0)
        self.assertIn('symbolic link', d.log_text())
        self.assertFalse(os.path.exists(target), 'p2pd created the socket through the link')
        self.assertTrue(os.path.islink(d.socket))

    def test_client_credentials_are_logged(self):
        d = self.daemon()
        d.call('session.status')
        self.assertRegex(d.log_text(), r'ctl: client \d+ connected pid=%d uid=0 gid=0'
                         % os.getpid())


class ConfusedDeputyTest(DaemonTest):

    def setUp(self):
        u = other_user()
        if u is None:
            self.skipTest('cannot create the test user %s (needs root and useradd)'
                          % TEST_USER)
        self.uid, self.gid, created = u
        if created:
            self.addCleanup(subprocess.run, ['userdel', TEST_USER], stderr=subprocess.DEVNULL,
                            timeout=30)

    def as_other(self, d, method, params):
        r = subprocess.run([sys.executable, '-c', CLIENT, d.socket, method, json.dumps(params)],
                           user=self.uid, group=self.gid, extra_groups=[],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                           env={'PATH': '/usr/bin:/bin'})
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return json.loads(r.stdout)

    def ctl_as_other(self, d, args):
        env = clean_env(d.home)
        env['ASAN_OPTIONS'] = 'detect_leaks=0'
        return subprocess.run([P2PCTL, '-s', d.socket] + args, user=self.uid, group=self.gid,
                              extra_groups=[], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=60, env=env)

    def test_share_and_add_only_what_the_client_could_read(self):
        d = self.daemon()
        # the other user reaches the socket through its group, like the group p2pd
        os.chmod(d.root, 0o755)
        os.chown(d.socket, 0, self.gid)
        pub = os.path.join(d.root, 'pub')
        os.makedirs(pub)
        os.chmod(pub, 0o755)
        files = {
            'pub/readable.bin': (0o644, 0, True),
            'private.bin': (0o600, 0, False),
            'group.bin': (0o640, self.gid, True),
            'owner-only-of-group.bin': (0o604, self.gid, False),  # group bits 0: no read
        }
        for rel, (mode, gid, _) in files.items():
            p = os.path.join(d.root, rel)
            write_file(p, (rel * 1000).encode())
            os.chown(p, 0, gid)
            os.chmod(p, mode)
        hidden = os.path.join(d.root, 'hidden')
        os.makedirs(hidden)
        os.chmod(hidden, 0o700)
        write_file(os.path.join(hidden, 'world.bin'), b'w' * 5000)
        os.chmod(os.path.join(hidden, 'world.bin'), 0o644)
        mixed = os.path.join(d.root, 'mixed')
        os.makedirs(mixed)
        os.chmod(mixed, 0o755)
        write_file(os.path.join(mixed, 'a.bin'), b'a' * 5000)
        os.chmod(os.path.join(mixed, 'a.bin'), 0o644)
        write_file(os.path.join(mixed, 'secret.bin'), b's' * 5000)
        os.chmod(os.path.join(mixed, 'secret.bin'), 0o600)
        cases = [(os.path.join(d.root, rel), ok) for rel, (_, _, ok) in files.items()]
        cases += [(os.path.join(hidden, 'world.bin'), False), (mixed, False)]
        for path, ok in cases:
            with self.subTest(share=os.path.relpath(path, d.root), allowed=ok):
                r = self.as_other(d, 'torrent.share', {'path': path})
                if ok:
                    self.assertIn('result', r, r)
                else:
                    self.assertIn('error', r, r)
                    self.assertEqual(r['error']['code'], DENIED, r)
                    self.assertIn('permission denied', r['error']['message'])
        # the message names what stopped it
        r = self.as_other(d, 'torrent.share', {'path': mixed})
        self.assertIn('secret.bin', r['error']['message'])
        # torrent.add of a .torrent file: same rule
        blob, _, _ = make_torrent('t.bin', b't' * 20000)
        for name, mode, ok in (('priv.torrent', 0o600, False), ('pub.torrent', 0o644, True)):
            p = os.path.join(d.root, name)
            write_file(p, blob if ok else make_torrent('u.bin', b'u' * 20000)[0])
            os.chmod(p, mode)
            with self.subTest(add=name):
                r = self.as_other(d, 'torrent.add', {'path': p})
                if ok:
                    self.assertIn('result', r, r)
                else:
                    self.assertEqual(r['error']['code'], DENIED, r)
        # torrent.add's "dir": the daemon writes only where the client could
        os.makedirs(d.download_dir, exist_ok=True)
        os.chmod(d.download_dir, 0o755)
        sub = os.path.join(d.download_dir, 'sub')
        os.makedirs(sub)
        theirs = os.path.join(d.root, 'theirs')
        os.makedirs(theirs)
        os.chown(theirs, self.uid, self.gid)
        for i, (where, ok) in enumerate(((d.state_dir, False), (d.root, False),
                                         (sub, True), (theirs, True))):
            blob_i, _, _ = make_torrent('d%d.bin' % i, bytes([i]) * 20000)
            with self.subTest(dir=os.path.relpath(where, d.root), allowed=ok):
                r = self.as_other(d, 'torrent.add', {
                    'metainfo': base64.b64encode(blob_i).decode(), 'dir': where})
                if ok:
                    self.assertIn('result', r, r)
                else:
                    self.assertEqual(r['error']['code'], DENIED, r)
                    self.assertIn('cannot create files', r['error']['message'])
        # p2pctl shows the message and exits 1
        r = self.ctl_as_other(d, ['share', os.path.join(d.root, 'private.bin')])
        self.assertEqual(r.returncode, 1, r)
        self.assertIn(b'permission denied', r.stderr)
        # root (and the daemon's own user) are not restricted
        t = share(d, os.path.join(d.root, 'private.bin'))
        self.assertEqual(t['name'], 'private.bin')
        self.assertIn('refusing torrent.add of', d.log_text())


class WatchdogTest(DaemonTest):

    def watch(self, env, seconds):
        d = self.daemon(start=False)
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(ns.close)
        path = os.path.join(d.root, 'notify.sock')
        ns.bind(path)
        ns.settimeout(0.2)
        e = {'NOTIFY_SOCKET': path}
        e.update(env)
        d.start(env=e)
        msgs = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                msgs.append(ns.recv(4096).decode())
            except socket.timeout:
                pass
        self.ns = ns
        return d, [m for m in msgs if 'WATCHDOG=1' in m.split('\n')]

    def test_pings_the_watchdog_from_the_loop(self):
        d, pings = self.watch({'WATCHDOG_USEC': '400000'}, 2.5)
        # every 0.2 s: about 12 in 2.5 s; allow for a slow ASan start
        self.assertGreaterEqual(len(pings), 6, 'only %d WATCHDOG=1 in 2.5 s' % len(pings))
        self.assertIn('watchdog ping every 0.2 s', d.log_text())
        # a stalled loop stops the pings (here the whole process is stopped)
        os.kill(d.pid, 19)      # SIGSTOP
        try:
            time.sleep(0.3)
            self.ns.setblocking(False)
            try:
                while self.ns.recv(4096):      # what was sent before the stop
                    pass
            except BlockingIOError:
                pass
            time.sleep(0.6)
            try:
                late = self.ns.recv(4096)
            except BlockingIOError:
                late = None
            self.assertIsNone(late, 'a ping while the daemon was stopped')
        finally:
            os.kill(d.pid, 18)  # SIGCONT
        self.ns.settimeout(3)
        self.assertIn('WATCHDOG=1', self.ns.recv(4096).decode(), 'no ping after SIGCONT')
        self.assertEqual(d.stop()[0], 0)

    def test_no_pings_without_watchdog_or_for_another_pid(self):
        for env in ({}, {'WATCHDOG_USEC': '400000', 'WATCHDOG_PID': '1'}):
            with self.subTest(env=env):
                d, pings = self.watch(env, 1.0)
                self.assertEqual(pings, [])
                self.assertEqual(d.stop()[0], 0)


class UnitTest(DaemonTest):

    def analyze(self):
        sa = shutil.which('systemd-analyze')
        if sa is None:
            self.skipTest('systemd-analyze is not installed (package systemd; scripts/setup)')
        return sa

    def unit_copy(self):
        """The unit with ExecStart pointed at an existing binary, since p2pd is not
        installed where the unit expects it on a build machine."""
        tmp = self.tmpdir()
        text = open(os.path.join(UNIT_DIR, 'p2pd.service')).read()
        self.assertIn('ExecStart=/usr/sbin/p2pd\n', text)
        text = text.replace('ExecStart=/usr/sbin/p2pd\n', 'ExecStart=%s\n' % os.environ['P2PD'])
        for name in ('p2pd.service', 'p2pd.socket'):
            src = os.path.join(UNIT_DIR, name)
            write_file(os.path.join(tmp, name),
                       (text if name == 'p2pd.service' else open(src).read()).encode())
        return tmp

    def test_systemd_analyze_verify(self):
        sa = self.analyze()
        tmp = self.unit_copy()
        r = subprocess.run([sa, 'verify', '--man=no', os.path.join(tmp, 'p2pd.service'),
                            os.path.join(tmp, 'p2pd.socket')], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        out = r.stdout.decode()
        # verify also lints units it pulls in from the host; only ours must be clean
        ours = [ln for ln in out.splitlines() if 'p2pd.' in ln]
        self.assertEqual(ours, [], out)
        self.assertEqual(r.returncode, 0, out)

    def test_systemd_analyze_security_score(self):
        sa = self.analyze()
        r = subprocess.run([sa, 'security', '--offline=true',
                            os.path.join(UNIT_DIR, 'p2pd.service')],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        out = r.stdout.decode()
        m = re.search(r'Overall exposure level for p2pd\.service: ([0-9.]+)', out)
        self.assertIsNotNone(m, out)
        score = float(m.group(1))
        print('systemd-analyze security: %.1f (at most %.1f allowed)' % (score, MAX_EXPOSURE))
        self.assertLessEqual(score, MAX_EXPOSURE, out)

    def test_unit_asks_for_the_watchdog(self):
        text = open(os.path.join(UNIT_DIR, 'p2pd.service')).read()
        self.assertRegex(text, r'(?m)^WatchdogSec=\d+')
        self.assertRegex(text, r'(?m)^Type=notify$')


if __name__ == '__main__':
    main()
