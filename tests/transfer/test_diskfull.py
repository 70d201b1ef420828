#!/usr/bin/python3
"""A full disk and a read-only download folder (issue 6, item 5), with real data
from a real seeder. The test moves itself into a private mount namespace
(unshare(CLONE_NEWNS), as `unshare -m` does) and mounts there a small tmpfs and a
read-only bind mount, so nothing outside this process tree sees them. Where that
is not permitted (not root, or a container without CAP_SYS_ADMIN) the whole file
exits 77, which meson reports as SKIP.

What must hold: the torrent goes to the error state with the system's reason in
its message; every piece it claims is right on disk; the daemon keeps answering
and finishing other torrents; once space is freed (or the folder writable again)
`p2pctl resume` continues to a bit-identical file."""

import ctypes
import os
import subprocess
import sys
import tempfile

from xfer import (KiB, MiB, XferTest, data_bytes, good_pieces, main, p2ptest, write_file)

CLONE_NEWNS = 0x00020000
SKIP = 77


def private_mount_namespace():
    """Moves this process into a mount namespace of its own; None or the reason not."""
    if os.geteuid() != 0:
        return 'not root'
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        return 'unshare(CLONE_NEWNS): %s' % os.strerror(ctypes.get_errno())
    # mounts made here must not propagate back to the host's namespace
    r = subprocess.run(['mount', '--make-rprivate', '/'], stderr=subprocess.PIPE, timeout=20)
    if r.returncode != 0:
        return 'mount --make-rprivate /: %s' % r.stderr.decode().strip()
    # a namespace is not enough: mounting needs CAP_SYS_ADMIN in it
    probe = tempfile.mkdtemp(prefix='p2p-mntprobe-')
    try:
        r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'p2ptest-probe', probe],
                           stderr=subprocess.PIPE, timeout=20)
        if r.returncode != 0:
            return 'mount -t tmpfs: %s' % r.stderr.decode().strip()
        subprocess.run(['umount', probe], timeout=20)
    finally:
        os.rmdir(probe)
    return None


def mount(*args):
    r = subprocess.run(['mount'] + list(args), stderr=subprocess.PIPE, timeout=20)
    if r.returncode != 0:
        raise OSError('mount %s: %s' % (' '.join(args), r.stderr.decode().strip()))


def umount(path):
    subprocess.run(['umount', '-l', path], stderr=subprocess.DEVNULL, timeout=20)


class DiskFaultTest(XferTest):

    def claimed_pieces_are_right(self, d, tid, path, data, plen):
        g = d.call('torrent.get', {'id': tid})
        good = len(good_pieces(path, data, plen))
        self.assertLessEqual(g['pieces_have'], good,
                             'claims %d pieces, only %d are right on disk: %r'
                             % (g['pieces_have'], good, g))
        return g

    def two_torrents(self, seeder, size):
        """The seeder shares big.bin (size bytes) and other.bin (1 MiB)."""
        plen = 64 * KiB
        big = data_bytes(size, 'big')
        other = data_bytes(1 * MiB, 'other')
        p1 = os.path.join(seeder.root, 'big.bin')
        p2 = os.path.join(seeder.root, 'other.bin')
        write_file(p1, big)
        write_file(p2, other)
        _, m1 = self.seed(seeder, p1, piece_length=plen)
        _, m2 = self.seed(seeder, p2, piece_length=plen)
        return plen, big, m1, other, m2

    def add_in(self, d, meta, folder, peers):
        t = d.call('torrent.add', {'metainfo': meta, 'dir': folder})
        for a in peers:
            d.call('peer.add', {'id': t['id'], 'address': a})
        return t

    def test_disk_full(self):
        seeder, leecher = self.node(2), self.node(3)
        # slow the seeder so the other torrent is still running when the disk fills
        seeder.call('session.set', {'key': 'upload_rate_limit', 'value': '4M'})
        plen, big, m1, other, m2 = self.two_torrents(seeder, 6 * MiB)
        mnt = os.path.join(leecher.root, 'small')
        os.makedirs(mnt)
        mount('-t', 'tmpfs', '-o', 'size=8m,mode=0755', 'p2ptest-full', mnt)
        self.addCleanup(umount, mnt)
        filler = os.path.join(mnt, 'filler')
        write_file(filler, b'\xaa' * (4 * MiB))
        outside_before = sorted(os.listdir(leecher.root))
        tb = self.add_in(leecher, m1, mnt, [seeder.addr])
        to = leecher.call('torrent.add', {'metainfo': m2})
        leecher.call('peer.add', {'id': to['id'], 'address': seeder.addr})
        g = self.wait_state(leecher, tb['id'], 'error', timeout=60)
        print('on a full disk: %r' % g['error'])
        self.assertIn('No space left on device', g['error'])
        dst = os.path.join(mnt, 'big.bin')
        self.claimed_pieces_are_right(leecher, tb['id'], dst, big, plen)
        # the daemon keeps serving: the control socket, and the other torrent finishes
        self.assertEqual(leecher.call('session.status')['pid'], leecher.pid)
        self.wait_done(leecher, to['id'], 60, what='the other torrent')
        self.assertSameBytes(os.path.join(leecher.download_dir, 'other.bin'), other)
        self.assertEqual(sorted(os.listdir(leecher.root)), outside_before)
        # a restart keeps the error and never claims a wrong piece
        self.assertEqual(leecher.stop()[0], 0)
        self.restart(leecher)
        g = self.claimed_pieces_are_right(leecher, tb['id'], dst, big, plen)
        self.assertEqual(g['state'], 'error', g)
        # free the space; resume re-checks and finishes
        os.unlink(filler)
        r = p2ptest.ctl(['resume', str(tb['id'])], sock=leecher.socket)
        self.assertEqual(r.rc, 0, r)
        self.wait_state(leecher, tb['id'], ('downloading', 'seeding'), timeout=60)
        leecher.call('peer.add', {'id': tb['id'], 'address': seeder.addr})
        self.wait_done(leecher, tb['id'], 60)
        self.assertSameBytes(dst, big)

    def test_read_only_download_folder(self):
        seeder, leecher = self.node(2), self.node(3)
        plen, big, m1, other, m2 = self.two_torrents(seeder, 2 * MiB)
        ro = os.path.join(leecher.root, 'ro')
        os.makedirs(ro)
        mount('--bind', ro, ro)
        self.addCleanup(umount, ro)
        mount('-o', 'remount,bind,ro', ro)
        tb = self.add_in(leecher, m1, ro, [seeder.addr])
        to = leecher.call('torrent.add', {'metainfo': m2})
        leecher.call('peer.add', {'id': to['id'], 'address': seeder.addr})
        g = self.wait_state(leecher, tb['id'], 'error', timeout=60)
        print('in a read-only folder: %r' % g['error'])
        self.assertIn('Read-only file system', g['error'])
        self.assertEqual(os.listdir(ro), [])
        self.wait_done(leecher, to['id'], 60, what='the other torrent')
        self.assertSameBytes(os.path.join(leecher.download_dir, 'other.bin'), other)
        mount('-o', 'remount,bind,rw', ro)
        r = p2ptest.ctl(['resume', str(tb['id'])], sock=leecher.socket)
        self.assertEqual(r.rc, 0, r)
        self.wait_state(leecher, tb['id'], ('downloading', 'seeding'), timeout=60)
        leecher.call('peer.add', {'id': tb['id'], 'address': seeder.addr})
        self.wait_done(leecher, tb['id'], 60)
        self.assertSameBytes(os.path.join(ro, 'big.bin'), big)


if __name__ == '__main__':
    why = private_mount_namespace()
    if why is not None:
        print('SKIP: test_diskfull needs a private mount namespace with tmpfs mounts '
              '(root with CAP_SYS_ADMIN): %s' % why)
        sys.exit(SKIP)
    main()
