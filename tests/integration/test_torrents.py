#!/usr/bin/python3
"""torrent.add (path, metainfo, magnet, data already on disk, half-corrupt data),
torrent.get/list/files, pause/resume across restarts, verify after corruption,
remove with and without delete_data, export and re-add to a second daemon."""

import base64
import hashlib
import os
import time

from p2ptest import (BUSY, EXISTS, INVALID_PARAMS, INVALID_TORRENT, IO_ERROR, NOT_FOUND,
                     DaemonTest, bencode, export_torrent, flip_byte, magnet_hash, main,
                     make_torrent, piece_sizes, rand_bytes, read_file, share, write_file,
                     write_files)

PL = 16384


class AddTest(DaemonTest):

    def test_add_from_path_metainfo_and_magnet(self):
        d = self.daemon()
        src = self.tmpdir()
        data1 = rand_bytes(5 * PL + 100, 'add1')
        tor1, ih1, _ = make_torrent('first.bin', data1, PL)
        tpath = os.path.join(src, 'first.torrent')
        write_file(tpath, tor1)
        content2 = [('x/a.txt', rand_bytes(20000, 'a2')), ('b.txt', rand_bytes(30000, 'b2'))]
        tor2, ih2, _ = make_torrent('second', content2, PL)

        t1 = d.call('torrent.add', {'path': tpath})
        self.assertTorrent(t1, info_hash=ih1, name='first.bin', state='downloading',
                           size=len(data1), have_bytes=0, pieces=6, pieces_have=0,
                           piece_length=PL, files=1, origin='added', private=False,
                           completed=0, progress=0)
        self.assertEqual(os.path.realpath(t1['path']),
                         os.path.realpath(os.path.join(d.download_dir, 'first.bin')))
        self.assertTrue(abs(t1['added'] - time.time()) < 120)

        t2 = d.call('torrent.add', {'metainfo': base64.b64encode(tor2).decode()})
        self.assertTorrent(t2, info_hash=ih2, name='second', state='downloading',
                           size=50000, pieces=4, pieces_have=0, files=2, origin='added')
        self.assertEqual(os.path.realpath(t2['path']),
                         os.path.realpath(os.path.join(d.download_dir, 'second')))
        files = d.call('torrent.files', {'id': t2['id']})['files']
        self.assertEqual(files, [
            {'index': 0, 'path': 'x/a.txt', 'size': 20000, 'have_bytes': 0, 'progress': 0},
            {'index': 1, 'path': 'b.txt', 'size': 30000, 'have_bytes': 0, 'progress': 0}])

        h3 = hashlib.sha1(b'magnet three').hexdigest()
        t3 = d.call('torrent.add', {'magnet': 'magnet:?xt=urn:btih:%s&dn=Three%%20Things' % h3})
        self.assertTorrent(t3, info_hash=h3, name='Three Things', state='downloading',
                           size=0, have_bytes=0, origin='magnet')
        h4 = hashlib.sha1(b'bare four').hexdigest()
        t4 = d.call('torrent.add', {'magnet': h4})
        self.assertTorrent(t4, info_hash=h4, name=h4, state='downloading', size=0,
                           origin='magnet')
        ex = d.call('torrent.export', {'id': t3['id']})
        self.assertIsNone(ex['metainfo'], 'no metadata yet for a magnet')
        self.assertEqual(magnet_hash(ex['magnet']), h3)
        self.assertEqual(magnet_hash(d.call('torrent.get', {'id': t4['id']})['magnet']), h4)

        ids = [t['id'] for t in (t1, t2, t3, t4)]
        self.assertEqual(len(set(ids)), 4)
        lst = d.call('torrent.list')['torrents']
        self.assertEqual([t['id'] for t in lst], sorted(ids), 'list is by id')
        self.assertEqual([t['info_hash'] for t in lst],
                         [t['info_hash'] for t in sorted((t1, t2, t3, t4),
                                                         key=lambda t: t['id'])])
        for t in lst:
            self.assertTorrent(t)

        # the same torrent again, any way, is refused and names the existing one
        for params in ({'path': tpath}, {'metainfo': base64.b64encode(tor1).decode()},
                       {'magnet': ih1}, {'magnet': 'magnet:?xt=urn:btih:' + ih1}):
            e = self.assertRpcError(d.error('torrent.add', params), EXISTS)
            self.assertEqual(e.get('data', {}).get('id'), t1['id'], params)
            self.assertEqual(e.get('data', {}).get('info_hash'), ih1)
        self.assertEqual(len(d.call('torrent.list')['torrents']), 4)

    def test_add_options_dir_and_paused(self):
        d = self.daemon()
        other = os.path.join(self.tmpdir(), 'elsewhere')
        os.makedirs(other)
        tor, ih, _ = make_torrent('dirtest.bin', rand_bytes(40000, 'dir'), PL)
        t = d.call('torrent.add', {'metainfo': base64.b64encode(tor).decode(),
                                   'dir': other, 'paused': True})
        self.assertTorrent(t, info_hash=ih, state='paused')
        self.assertEqual(os.path.realpath(t['path']),
                         os.path.realpath(os.path.join(other, 'dirtest.bin')))
        self.assertEqual(d.call('torrent.get', {'id': ih})['state'], 'paused')
        r = d.call('torrent.resume', {'id': ih})
        self.assertEqual(r['state'], 'downloading')

    def test_add_errors(self):
        d = self.daemon()
        src = self.tmpdir()
        tor, ih, _ = make_torrent('ok.bin', rand_bytes(20000, 'ok'), PL)
        b64 = base64.b64encode(tor).decode()
        # malformed or unsafe metainfo
        evil = bencode({'info': {'name': 'evil', 'piece length': PL,
                                 'pieces': hashlib.sha1(b'x' * 10).digest(),
                                 'files': [{'length': 10, 'path': ['..', 'escaped.txt']}]}})
        abs_path = bencode({'info': {'name': 'evil2', 'piece length': PL,
                                     'pieces': hashlib.sha1(b'x' * 10).digest(),
                                     'files': [{'length': 10, 'path': ['/tmp', 'x']}]}})
        bad_pieces = bencode({'info': {'name': 'short', 'piece length': PL, 'length': 100000,
                                       'pieces': hashlib.sha1(b'').digest()}})
        bad_plen = bencode({'info': {'name': 'plen', 'piece length': 1000, 'length': 10,
                                     'pieces': hashlib.sha1(b'').digest()}})
        for blob in (b'this is not bencode', b'd4:infoi3ee', evil, abs_path, bad_pieces,
                     bad_plen, tor[:-1], b''):
            e = d.error('torrent.add', {'metainfo': base64.b64encode(blob).decode()})
            self.assertRpcError(e, INVALID_TORRENT)
        self.assertFalse(os.path.exists(os.path.join(d.root, 'escaped.txt')))
        garbage = os.path.join(src, 'garbage.torrent')
        write_file(garbage, b'd8:announce')
        self.assertRpcError(d.error('torrent.add', {'path': garbage}), INVALID_TORRENT)
        for m in ('magnet:?xt=urn:btih:xyz', 'magnet:?dn=noxt', 'abc', 'g' * 40,
                  'http://example.com/x.torrent'):
            self.assertRpcError(d.error('torrent.add', {'magnet': m}), INVALID_TORRENT)
        missing = os.path.join(src, 'missing.torrent')
        self.assertRpcError(d.error('torrent.add', {'path': missing}), IO_ERROR)
        # exactly one source, typed params, no unknown params
        for params in ({}, {'path': garbage, 'magnet': ih}, {'metainfo': b64, 'magnet': ih},
                       {'magnet': 5}, {'metainfo': b64, 'paused': 'no'},
                       {'metainfo': b64, 'dir': 7}, {'metainfo': b64, 'pasued': True}):
            self.assertRpcError(d.error('torrent.add', params), INVALID_PARAMS)
        self.assertEqual(d.call('torrent.list')['torrents'], [],
                         'a refused add must not leave a torrent behind')
        # after all that, a good add still works
        self.assertEqual(d.call('torrent.add', {'metainfo': b64})['info_hash'], ih)

    def test_add_with_data_on_disk_checks_then_seeds(self):
        d = self.daemon()
        sub = d.client()
        sub.call('events.subscribe', {'types': ['torrent.state']})
        data = rand_bytes(40 * PL + 5, 'ondisk')
        write_file(os.path.join(d.download_dir, 'ondisk.bin'), data)
        tor, ih, _ = make_torrent('ondisk.bin', data, PL)
        content = [('d1/a.bin', rand_bytes(3 * PL + 10, 'ma')), ('b.bin', rand_bytes(PL, 'mb')),
                   ('d1/d2/c.bin', rand_bytes(70000, 'mc'))]
        write_files(os.path.join(d.download_dir, 'multi'), content)
        tor2, ih2, _ = make_torrent('multi', content, PL)

        for blob, h, size, nfiles in ((tor, ih, len(data), 1),
                                      (tor2, ih2, sum(len(x) for _, x in content), 3)):
            t = d.call('torrent.add', {'metainfo': base64.b64encode(blob).decode()})
            self.assertEqual(t['info_hash'], h)
            self.assertEqual(t['state'], 'checking',
                             'data already on disk: the torrent starts in checking')
            ev = sub.take_event(lambda e: e.get('info_hash') == h and e['to'] == 'seeding',
                                timeout=30, what='seeding after check')
            self.assertEqual(ev['from'], 'checking')
            g = d.call('torrent.get', {'id': h})
            self.assertTorrent(g, state='seeding', size=size, have_bytes=size,
                               pieces_have=g['pieces'], files=nfiles, progress=1.0)
            self.assertGreater(g['completed'], 0)
        files = d.call('torrent.files', {'id': ih2})['files']
        self.assertEqual([(f['path'], f['size'], f['have_bytes'], f['progress']) for f in files],
                         [(p, len(x), len(x), 1.0) for p, x in content])
        self.assertEqual(read_file(os.path.join(d.download_dir, 'ondisk.bin')), data,
                         'checking must not change the data')

    def test_add_half_corrupt_keeps_exactly_the_good_pieces(self):
        d = self.daemon()
        # single file: every even piece corrupted (33 pieces, the last one short)
        data = rand_bytes(32 * PL + 1000, 'half')
        tor, ih, _ = make_torrent('half.bin', data, PL)
        path = os.path.join(d.download_dir, 'half.bin')
        write_file(path, data)
        sizes = piece_sizes(len(data), PL)
        for i in range(0, len(sizes), 2):
            flip_byte(path, i * PL + (i * 37) % sizes[i])
        t = d.call('torrent.add', {'metainfo': base64.b64encode(tor).decode()})
        self.assertEqual(t['state'], 'checking')
        g = self.wait_state(d, ih, ('downloading', 'seeding', 'error'))
        good = [i for i in range(len(sizes)) if i % 2 == 1]
        self.assertTorrent(g, state='downloading', pieces=33, pieces_have=len(good),
                           have_bytes=sum(sizes[i] for i in good))

        # multi-file: a good, b corrupt, c good, d absent (files piece-aligned)
        content = [('a.bin', rand_bytes(4 * PL, 'fa')), ('b.bin', rand_bytes(4 * PL, 'fb')),
                   ('c.bin', rand_bytes(3 * PL, 'fc')), ('d.bin', rand_bytes(PL + 3616, 'fd'))]
        tor2, ih2, _ = make_torrent('mixed', content, PL)
        root = os.path.join(d.download_dir, 'mixed')
        write_files(root, content[:3])
        for k in range(4):
            flip_byte(os.path.join(root, 'b.bin'), k * PL + 1000 + k)
        t = d.call('torrent.add', {'metainfo': base64.b64encode(tor2).decode()})
        self.assertEqual(t['state'], 'checking')
        g = self.wait_state(d, ih2, ('downloading', 'seeding', 'error'))
        self.assertTorrent(g, state='downloading', pieces=13, pieces_have=7,
                           have_bytes=7 * PL)
        files = d.call('torrent.files', {'id': ih2})['files']
        self.assertEqual([(f['path'], f['have_bytes'], f['progress']) for f in files],
                         [('a.bin', 4 * PL, 1.0), ('b.bin', 0, 0), ('c.bin', 3 * PL, 1.0),
                          ('d.bin', 0, 0)])
        self.assertEqual(read_file(os.path.join(root, 'a.bin')), content[0][1])
        self.assertEqual(read_file(os.path.join(root, 'c.bin')), content[2][1])


class GetListFilesTest(DaemonTest):

    def test_get_extra_fields(self):
        d = self.daemon()
        trackers = ['http://127.0.0.1:9/announce', 'udp://127.0.0.1:9/announce']
        tor, ih, _ = make_torrent('extras', [('one', b'1' * 100), ('two/three', b'3' * 200)],
                                  PL, private=True, trackers=trackers, comment='a comment',
                                  created_by='p2ptest 1.0', creation_date=1700000000)
        t = d.call('torrent.add', {'metainfo': base64.b64encode(tor).decode(), 'paused': True})
        g = d.call('torrent.get', {'id': t['id']})
        self.assertTorrent(g, info_hash=ih, private=True, files=2, size=300, state='paused')
        self.assertEqual(g.get('comment'), 'a comment')
        self.assertEqual(g.get('created_by'), 'p2ptest 1.0')
        self.assertEqual(g.get('creation_date'), 1700000000)
        self.assertEqual([x['url'] for x in g.get('trackers', [])], trackers)
        self.assertLess(g['trackers'][0]['tier'], g['trackers'][1]['tier'])
        self.assertEqual(magnet_hash(g.get('magnet', '')), ih)
        files = d.call('torrent.files', {'id': t['id']})['files']
        self.assertEqual([(f['index'], f['path'], f['size']) for f in files],
                         [(0, 'one', 100), (1, 'two/three', 200)])
        # export gives back the very .torrent we added (at least its info dict)
        raw, meta, info_raw, magnet = export_torrent(d, t['id'])
        self.assertEqual(hashlib.sha1(info_raw).hexdigest(), ih)
        self.assertEqual(meta[b'info'][b'private'], 1)
        self.assertEqual(magnet_hash(magnet), ih)


class PauseVerifyTest(DaemonTest):

    def test_pause_resume_survive_restart(self):
        d = self.daemon()
        path = os.path.join(d.root, 'p.bin')
        write_file(path, rand_bytes(200000, 'pause'))
        t = share(d, path)
        self.assertEqual(d.call('torrent.pause', {'id': t['id']})['state'], 'paused')
        self.assertEqual(d.call('torrent.pause', {'id': t['id']})['state'], 'paused',
                         'pausing a paused torrent is not an error')
        self.assertEqual([x['state'] for x in d.call('torrent.list')['torrents']], ['paused'])
        rc, took = d.stop()
        self.assertEqual(rc, 0)
        d.start()
        g = d.call('torrent.get', {'id': t['id']})
        self.assertTorrent(g, info_hash=t['info_hash'], state='paused', id=t['id'])
        r = d.call('torrent.resume', {'id': t['id']})
        self.assertEqual(r['state'], 'seeding')
        self.assertEqual(d.call('torrent.resume', {'id': t['id']})['state'], 'seeding',
                         'resuming a running torrent is not an error')
        rc, took = d.stop()
        self.assertEqual(rc, 0)
        d.start()
        g = d.call('torrent.get', {'id': t['id']})
        self.assertTorrent(g, state='seeding', pieces_have=g['pieces'])

    def test_verify_finds_a_corrupted_piece(self):
        d = self.daemon()
        path = os.path.join(d.root, 'v.bin')
        data = rand_bytes(16 * 65536 + 999, 'verify')
        write_file(path, data)
        t = share(d, path, piece_length=65536)
        self.assertEqual(t['pieces'], 17)
        flip_byte(path, 5 * 65536 + 100)
        r = d.call('torrent.verify', {'id': t['id']}, timeout=60)
        self.assertTorrent(r, state='downloading', pieces_have=16,
                           have_bytes=len(data) - 65536)
        self.assertNotIn(r['state'], ('seeding',))
        flip_byte(path, 5 * 65536 + 100)   # restore
        r = d.call('torrent.verify', {'id': t['id'], 'wait': True}, timeout=60)
        self.assertTorrent(r, state='seeding', pieces_have=17, have_bytes=len(data))
        # a corrupted last (short) piece
        flip_byte(path, len(data) - 1)
        r = d.call('torrent.verify', {'id': t['id']}, timeout=60)
        self.assertTorrent(r, pieces_have=16, have_bytes=16 * 65536)

    def test_verify_nowait_and_busy(self):
        d = self.daemon()
        path = os.path.join(d.root, 'busy.bin')
        with open(path, 'wb') as f:
            f.truncate(256 << 20)
        t = share(d, path, piece_length=1 << 20)
        sub = d.client()
        sub.call('events.subscribe', {'types': ['torrent.state']})
        c = d.client()
        # both requests in one write: the second finds the torrent checking
        i1 = c.send_request('torrent.verify', {'id': t['id'], 'wait': False})
        i2 = c.send_request('torrent.verify', {'id': t['id']})
        r1 = c.wait_response(i1, timeout=5)
        self.assertIn('result', r1, r1)
        r2 = c.wait_response(i2, timeout=60)
        self.assertIn('error', r2, 'verify while checking must be refused: %r' % r2)
        self.assertRpcError(r2['error'], BUSY)
        ev = sub.take_event(lambda e: e['to'] == 'checking', what='checking')
        self.assertEqual(ev['from'], 'seeding')
        ev = sub.take_event(lambda e: e['from'] == 'checking', timeout=60, what='check end')
        self.assertEqual(ev['to'], 'seeding')
        self.assertTorrent(d.call('torrent.get', {'id': t['id']}), state='seeding',
                           pieces_have=256)


class RemoveTest(DaemonTest):

    def add_on_disk(self, d, name, content):
        write_files(os.path.join(d.download_dir, name), content)
        tor, ih, _ = make_torrent(name, content, PL)
        d.call('torrent.add', {'metainfo': base64.b64encode(tor).decode()})
        self.wait_state(d, ih, 'seeding')
        return ih

    def test_remove_keeps_or_deletes_data(self):
        d = self.daemon()
        content = [('top.bin', rand_bytes(30000, 'r1')), ('sub/inner.bin', rand_bytes(20000, 'r2'))]
        sibling = os.path.join(d.download_dir, 'not-mine.txt')
        write_file(sibling, b'keep me')

        ih = self.add_on_disk(d, 'keepdata', content)
        r = d.call('torrent.remove', {'id': ih})
        self.assertEqual(r['info_hash'], ih)
        self.assertIsInstance(r['id'], int)
        for rel, x in content:
            self.assertEqual(read_file(os.path.join(d.download_dir, 'keepdata', rel)), x,
                             'remove without delete_data must keep the data')
        self.assertRpcError(d.error('torrent.get', {'id': ih}), NOT_FOUND)
        self.assertEqual(d.call('torrent.list')['torrents'], [])

        ih = self.add_on_disk(d, 'dropdata', content)
        root = os.path.join(d.download_dir, 'dropdata')
        write_file(os.path.join(root, 'sub', 'user-note.txt'), b'not part of the torrent')
        r = d.call('torrent.remove', {'id': ih, 'delete_data': True})
        self.assertEqual(r['info_hash'], ih)
        self.assertFalse(os.path.exists(os.path.join(root, 'top.bin')), 'data not deleted')
        self.assertFalse(os.path.exists(os.path.join(root, 'sub', 'inner.bin')),
                         'data not deleted')
        self.assertEqual(read_file(os.path.join(root, 'sub', 'user-note.txt')),
                         b'not part of the torrent', 'a file the torrent does not list was touched')
        self.assertEqual(read_file(sibling), b'keep me')
        self.assertEqual(d.call('torrent.list')['torrents'], [])

        # single-file torrent with delete_data
        data = rand_bytes(50000, 'single')
        write_file(os.path.join(d.download_dir, 'single.bin'), data)
        tor, ih, _ = make_torrent('single.bin', data, PL)
        d.call('torrent.add', {'metainfo': base64.b64encode(tor).decode()})
        self.wait_state(d, ih, 'seeding')
        d.call('torrent.remove', {'id': ih, 'delete_data': True})
        self.assertFalse(os.path.exists(os.path.join(d.download_dir, 'single.bin')))
        self.assertEqual(read_file(sibling), b'keep me')
        self.assertTrue(os.path.isdir(d.download_dir), 'the download dir itself is not removed')

    def test_remove_shared_delete_data_needs_force(self):
        d = self.daemon()
        path = os.path.join(d.root, 'mine.bin')
        data = rand_bytes(30000, 'mine')
        write_file(path, data)
        t = share(d, path)
        e = d.error('torrent.remove', {'id': t['id'], 'delete_data': True})
        self.assertRpcError(e, INVALID_PARAMS)
        self.assertEqual(read_file(path), data, 'refused remove deleted the original')
        self.assertEqual(d.call('torrent.get', {'id': t['id']})['state'], 'seeding')
        d.call('torrent.remove', {'id': t['id'], 'delete_data': True, 'force': True})
        self.assertFalse(os.path.exists(path), 'force + delete_data must delete the file')
        self.assertRpcError(d.error('torrent.get', {'id': t['id']}), NOT_FOUND)
        self.assertRpcError(d.error('torrent.remove', {'id': t['id']}), NOT_FOUND)

    def test_remove_is_committed_before_the_answer(self):
        d = self.daemon()
        hashes = [hashlib.sha1(b'commit %d' % i).hexdigest() for i in range(3)]
        for h in hashes:
            d.call('torrent.add', {'magnet': h})
        self.assertEqual(d.stop()[0], 0)
        d.start()
        self.assertEqual(sorted(t['info_hash'] for t in d.call('torrent.list')['torrents']),
                         sorted(hashes))
        d.call('torrent.remove', {'id': hashes[1]})
        d.kill9()
        d.start()
        self.assertEqual(sorted(t['info_hash'] for t in d.call('torrent.list')['torrents']),
                         sorted([hashes[0], hashes[2]]),
                         'a removal answered before kill -9 came back after restart')


class ExportTest(DaemonTest):

    def test_export_and_add_to_a_second_daemon(self):
        a = self.daemon()
        b = self.daemon()
        root = os.path.join(a.root, 'share', 'photos')
        content = [('2024/a.jpg', rand_bytes(100000, 'e1')), ('2024/b.jpg', rand_bytes(5000, 'e2')),
                   ('readme.txt', b'hello\n')]
        write_files(root, content)
        t = share(a, root, piece_length=32768)
        raw, meta, info_raw, magnet = export_torrent(a, t['id'])
        self.assertEqual(hashlib.sha1(info_raw).hexdigest(), t['info_hash'])

        # b has the data (it lives in a's share dir): checking, then seeding
        tb = b.call('torrent.add', {'metainfo': base64.b64encode(raw).decode(),
                                    'dir': os.path.dirname(root)})
        self.assertEqual(tb['info_hash'], t['info_hash'])
        g = self.wait_state(b, tb['id'], ('seeding', 'downloading', 'error'))
        self.assertTorrent(g, state='seeding', size=t['size'], pieces_have=t['pieces'],
                           files=3, name='photos', origin='added')
        raw_b, meta_b, info_b, magnet_b = export_torrent(b, tb['id'])
        self.assertEqual(info_b, info_raw, 'the info dict must survive export/add byte for byte')
        self.assertEqual(magnet_hash(magnet_b), t['info_hash'])

        # again from a .torrent file on disk, into b's empty download dir: nothing there yet
        b.call('torrent.remove', {'id': tb['id']})
        for rel, x in content:
            self.assertEqual(read_file(os.path.join(root, rel)), x)
        tfile = os.path.join(b.root, 'photos.torrent')
        write_file(tfile, raw)
        tb = b.call('torrent.add', {'path': tfile})
        self.assertTorrent(tb, info_hash=t['info_hash'], state='downloading', pieces_have=0,
                           have_bytes=0, size=t['size'])
        self.assertEqual(os.path.realpath(tb['path']),
                         os.path.realpath(os.path.join(b.download_dir, 'photos')))


if __name__ == '__main__':
    main()
