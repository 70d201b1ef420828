#!/usr/bin/python3
"""Path safety (issue 6, item 3): nothing a torrent says can make p2pd read or
write outside the download folder.

The .torrent files are built here by hand (p2ptest's own bencoder), so the
hostile ones are exactly what a stranger could publish: names and paths with
"..", ".", absolute paths, empty components, '/' or '\\' inside a component,
NUL and control characters, components over 255 bytes, relative paths over
4096 bytes. All are refused with INVALID_TORRENT (p2pd refuses rather than
renames: a renamed file would no longer be the one the torrent's other users
see, see docs/security.md).

Then real downloads from a real seeder into a download folder where symbolic
links point outside: a directory link named like the torrent, a file link
named like a single-file torrent, and a link one level down. Canary files
outside are compared byte for byte and by mtime before and after, and the
outside folder must gain no file; `remove --delete-data` must not delete
through a link either."""

import base64
import os

from xfer import (KiB, MiB, XferTest, data_bytes, main, p2ptest, read_file, write_file)
from p2ptest import EXISTS, INVALID_TORRENT, bencode, make_torrent, piece_hashes

PL = 16 * KiB


def raw_torrent(name, files=None, length=None, content=b'x' * 100):
    """A .torrent with exactly the given name and path lists (bytes or str)."""
    info = {'name': name, 'piece length': PL}
    if files is not None:
        info['files'] = [{'length': len(content) if i == 0 else 0, 'path': p}
                         for i, p in enumerate(files)]
    else:
        info['length'] = length if length is not None else len(content)
    info['pieces'] = piece_hashes(content, PL)
    return bencode({'info': info})


def snapshot(root):
    """{relative path: (bytes or link target, mtime_ns)} of everything under root."""
    out = {}
    for d, dirs, files in os.walk(root):
        for f in files + dirs:
            p = os.path.join(d, f)
            st = os.lstat(p)
            if os.path.islink(p):
                out[os.path.relpath(p, root)] = ('link', os.readlink(p), st.st_mtime_ns)
            elif os.path.isfile(p):
                out[os.path.relpath(p, root)] = ('file', read_file(p), st.st_mtime_ns)
            else:
                out[os.path.relpath(p, root)] = ('dir', None, None)
    return out


class PathSafetyTest(XferTest):

    def b64(self, blob):
        return base64.b64encode(blob).decode()

    def test_hostile_names_and_paths_are_refused(self):
        d = self.node(2)
        long_comp = 'n' * 256
        long_path = ['p' * 250] * 17          # 17 * 251 > 4096
        single = {
            'dot-dot': '..', 'dot': '.', 'empty': '', 'slash': '../../etc/passwd',
            'absolute': '/etc/passwd', 'backslash': '..\\..\\x', 'nul': 'a\0b',
            'newline': 'a\nb', 'escape': 'a\x1b[31mred', 'del': 'a\x7f',
            'too long': long_comp,
        }
        multi = {
            'dot-dot': [['..', '..', 'evil']], 'dot-dot last': [['a', '..']],
            'dot': [['a', '.', 'b']], 'absolute': [['/etc', 'passwd']],
            'empty component': [['', 'x']], 'empty list': [[]],
            'slash inside': [['a/b']], 'backslash': [['a\\b']], 'nul': [['a\0']],
            'control': [['x\x01']], 'too long component': [[long_comp]],
            'too long path': [long_path], 'duplicate': [['a'], ['a']],
            'file and directory': [['a'], ['a', 'b']],
        }
        c = d.client()
        for what, name in single.items():
            with self.subTest(name=what):
                e = c.error('torrent.add', {'metainfo': self.b64(raw_torrent(name))})
                self.assertRpcError(e, INVALID_TORRENT)
        for what, paths in multi.items():
            with self.subTest(path=what):
                e = c.error('torrent.add', {'metainfo': self.b64(raw_torrent('ok', files=paths))})
                self.assertRpcError(e, INVALID_TORRENT)
            with self.subTest(path=what, name='unsafe too'):
                e = c.error('torrent.add', {'metainfo': self.b64(raw_torrent('..', files=paths))})
                self.assertRpcError(e, INVALID_TORRENT)
        # the same refusal for a .torrent given by path
        p = os.path.join(d.root, 'evil.torrent')
        write_file(p, raw_torrent('ok', files=[['..', 'x']]))
        self.assertRpcError(c.error('torrent.add', {'path': p}), INVALID_TORRENT)
        self.assertEqual(c.call('torrent.list')['torrents'], [])
        # and a sane one still goes in: the checks are not blanket refusals
        ok = c.call('torrent.add', {'metainfo': self.b64(raw_torrent(
            'fine name (1).bin'))})
        self.assertEqual(ok['name'], 'fine name (1).bin')

    def test_two_torrents_never_share_a_path(self):
        """A second torrent whose data would land on (or inside, or around) the
        data of one already present is refused: it would overwrite verified data,
        or a shared original."""
        d = self.node(2)
        orig = data_bytes(100 * KiB, 'orig')
        src = os.path.join(d.root, 'mine.bin')
        write_file(src, orig)
        p2ptest.share(d, src)
        a, _, _ = make_torrent('pack', [('a.bin', b'a' * 40000), ('b.bin', b'b' * 40000)])
        d.call('torrent.add', {'metainfo': self.b64(a)})
        cases = {
            'same name as a shared file, same folder': (raw_torrent('mine.bin'), d.root),
            'same name as a downloaded directory': (raw_torrent('pack'), None),
            'inside a downloaded directory': (raw_torrent('a.bin'),
                                              os.path.join(d.download_dir, 'pack')),
        }
        os.makedirs(os.path.join(d.download_dir, 'pack'), exist_ok=True)
        for what, (blob, where) in cases.items():
            with self.subTest(what):
                params = {'metainfo': self.b64(blob)}
                if where:
                    params['dir'] = where
                e = d.error('torrent.add', params)
                self.assertRpcError(e, EXISTS, 'already uses')
        self.assertSameBytes(src, orig, 'the shared original')
        self.assertEqual(len(d.call('torrent.list')['torrents']), 2)
        # the same torrent elsewhere is fine
        other = os.path.join(d.root, 'elsewhere')
        os.makedirs(other)
        d.call('torrent.add', {'metainfo': self.b64(raw_torrent('mine.bin')), 'dir': other})

    def test_magnet_landing_on_a_used_path_is_refused(self):
        """The same rule once a magnet's metadata names its file."""
        seeder, leecher = self.node(2), self.node(3)
        theirs = data_bytes(200 * KiB, 'theirs')
        src = os.path.join(seeder.root, 'coll.bin')
        write_file(src, theirs)
        t, _ = self.seed(seeder, src)
        mine = data_bytes(150 * KiB, 'mine')
        os.makedirs(leecher.download_dir, exist_ok=True)
        dst = os.path.join(leecher.download_dir, 'coll.bin')
        write_file(dst, mine)
        p2ptest.share(leecher, dst)
        tl = leecher.call('torrent.add', {'magnet': 'magnet:?xt=urn:btih:' + t['info_hash']})
        leecher.call('peer.add', {'id': tl['id'], 'address': seeder.addr})
        g = self.wait_state(leecher, tl['id'], 'error', timeout=30)
        self.assertIn('already uses', g['error'])
        self.assertSameBytes(dst, mine, 'the file of the torrent already there')

    def outside_with_canaries(self, d):
        out = os.path.join(d.root, 'outside')
        os.makedirs(os.path.join(out, 'sub'))
        write_file(os.path.join(out, 'canary.txt'), b'canary: must never change\n')
        write_file(os.path.join(out, 'target.bin'), b'target: must never change\n')
        write_file(os.path.join(out, 'sub', 'f.bin'), b'deep canary\n')
        return out

    def test_symlinks_in_the_download_folder(self):
        seeder, leecher = self.node(2), self.node(3)
        # what the seeder shares: a directory "evil", a file "link.bin", a
        # directory "safe" with a subdirectory "sub"
        src = os.path.join(seeder.root, 'src')
        files = {'evil/canary.txt': data_bytes(300 * KiB, 'c'),
                 'evil/new.bin': data_bytes(200 * KiB, 'n'),
                 'link.bin': data_bytes(256 * KiB, 'l'),
                 'safe/top.bin': data_bytes(64 * KiB, 't'),
                 'safe/sub/f.bin': data_bytes(128 * KiB, 'f')}
        for rel, b in files.items():
            write_file(os.path.join(src, rel), b)
        metas = {}
        for name in ('evil', 'link.bin', 'safe'):
            _, metas[name] = self.seed(seeder, os.path.join(src, name), piece_length=PL)
        out = self.outside_with_canaries(leecher)
        dl = leecher.download_dir
        os.makedirs(dl, exist_ok=True)
        os.symlink(out, os.path.join(dl, 'evil'))                       # dir -> outside
        os.symlink(os.path.join(out, 'target.bin'), os.path.join(dl, 'link.bin'))
        os.makedirs(os.path.join(dl, 'safe'))
        os.symlink(os.path.join(out, 'sub'), os.path.join(dl, 'safe', 'sub'))
        before = snapshot(out)
        ids = {}
        for name, meta in metas.items():
            t = leecher.call('torrent.add', {'metainfo': meta})
            ids[name] = t['id']
            # a link where the data goes looks like data: a check runs first
            t = self.wait_state(leecher, t['id'], ('downloading', 'error'), timeout=30)
            if t['state'] == 'downloading':
                leecher.call('peer.add', {'id': t['id'], 'address': seeder.addr})
        for name, tid in ids.items():
            with self.subTest(torrent=name):
                g = self.wait_state(leecher, tid, 'error', timeout=60)
                print('%s: %s' % (name, g['error']))
                self.assertTrue('symbolic link' in g['error'], g['error'])
                if name != 'safe':      # safe/top.bin is a real file and may arrive
                    self.assertEqual(g['pieces_have'], 0, g)
        self.assertEqual(snapshot(out), before, 'something outside the download folder changed')
        # a verify must not hash the outside files either (the link is not followed)
        g = leecher.call('torrent.verify', {'id': ids['evil'], 'wait': True}, timeout=60)
        self.assertEqual(g['pieces_have'], 0, g)
        # remove --delete-data deletes nothing through a link
        for name, tid in ids.items():
            r = p2ptest.ctl(['remove', str(tid), '--delete-data'], sock=leecher.socket)
            self.assertIn(r.rc, (0, 1), r)
        self.assertEqual(snapshot(out), before, 'remove --delete-data reached outside')
        self.assertTrue(os.path.islink(os.path.join(dl, 'evil')))
        # the same torrents into a clean folder work: the refusals were the links
        clean = os.path.join(leecher.root, 'clean')
        os.makedirs(clean)
        for name, meta in metas.items():
            t = leecher.call('torrent.add', {'metainfo': meta, 'dir': clean})
            leecher.call('peer.add', {'id': t['id'], 'address': seeder.addr})
            self.wait_done(leecher, t['id'], 60, what=name)
        for rel, b in files.items():
            self.assertSameBytes(os.path.join(clean, rel), b)
        self.assertEqual(snapshot(out), before)


if __name__ == '__main__':
    main()
