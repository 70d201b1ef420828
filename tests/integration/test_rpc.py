#!/usr/bin/python3
"""Control API methods against a real p2pd: system.methods, session.status,
torrent.share (file, directory, options, errors, wait:false), events, and how
torrents are named (number, hash, prefix, ambiguous, unknown)."""

import hashlib
import json
import os
import socket
import subprocess
import time

from p2ptest import (ALL_METHODS, AMBIGUOUS, EVENT_TYPES, EXISTS, INVALID_PARAMS, IO_ERROR,
                     NOT_FOUND, P2PD, DaemonTest, bencode, export_torrent, magnet_hash, main,
                     piece_hashes, rand_bytes, share, wait_until, write_file)


class MethodsTest(DaemonTest):

    def test_system_methods_lists_every_documented_method(self):
        d = self.daemon()
        r = d.call('system.methods')
        self.assertIsInstance(r.get('methods'), list)
        by_name = {}
        for m in r['methods']:
            self.assertIsInstance(m, dict)
            self.assertIsInstance(m.get('name'), str)
            self.assertIsInstance(m.get('params'), dict, 'params of %s' % m.get('name'))
            self.assertIsInstance(m.get('description'), str)
            self.assertTrue(m['description'].strip(), 'empty description for %s' % m['name'])
            self.assertNotIn(m['name'], by_name, 'listed twice')
            by_name[m['name']] = m
        missing = [n for n in ALL_METHODS if n not in by_name]
        self.assertEqual(missing, [], 'documented methods missing from system.methods')
        self.assertLessEqual({'path', 'metainfo', 'magnet', 'dir', 'paused'},
                             set(by_name['torrent.add']['params']))
        self.assertLessEqual({'path', 'name', 'piece_length', 'private', 'trackers', 'wait'},
                             set(by_name['torrent.share']['params']))
        self.assertLessEqual({'id', 'delete_data'}, set(by_name['torrent.remove']['params']))
        self.assertLessEqual({'id', 'wait'}, set(by_name['torrent.verify']['params']))
        self.assertIn('types', by_name['events.subscribe']['params'])
        self.assertLessEqual({'id', 'address'}, set(by_name['peer.add']['params']))
        self.assertLessEqual({'key', 'value'}, set(by_name['session.set']['params']))
        self.assertIn('key', by_name['session.get']['params'])
        for n in ('torrent.get', 'torrent.files', 'torrent.pause', 'torrent.resume',
                  'torrent.export', 'torrent.peers'):
            self.assertIn('id', by_name[n]['params'], n)
        # Every method listed is really there (not "method not found").
        c = d.client()
        for n in by_name:
            if n == 'session.shutdown':
                continue
            resp = c.request(n, {'definitely_not_a_param': 1})
            self.assertIn('error', resp, '%s accepted an unknown parameter' % n)
            self.assertEqual(resp['error']['code'], INVALID_PARAMS,
                             '%s with an unknown parameter: %r' % (n, resp['error']))

    def test_session_status_fields(self):
        d = self.daemon(args=['--workers', '3'])
        with d.client() as c, d.client():
            st = c.call('session.status')
        self.assertEqual(st.get('api_version'), 1)
        self.assertNotIsInstance(st.get('api_version'), bool)
        self.assertRegex(st.get('version', ''), r'^\d+\.\d+\.\d+')
        self.assertEqual(st.get('pid'), d.pid)
        self.assertIsInstance(st.get('uptime'), int)
        self.assertTrue(0 <= st['uptime'] <= 30, st['uptime'])
        self.assertEqual(os.path.realpath(st.get('state_dir')), os.path.realpath(d.state_dir))
        self.assertEqual(os.path.realpath(st.get('download_dir')),
                         os.path.realpath(d.download_dir))
        self.assertEqual(os.path.realpath(st.get('socket')), os.path.realpath(d.socket))
        self.assertIn('config_file', st)
        self.assertIsNone(st['config_file'], 'no -c given and no default config file exists')
        self.assertEqual(st.get('workers'), 3)
        self.assertIsInstance(st.get('clients'), int)
        self.assertGreaterEqual(st['clients'], 2, 'two clients were connected')
        self.assertEqual(st.get('torrents'), {'total': 0, 'checking': 0, 'downloading': 0,
                                              'seeding': 0, 'paused': 0, 'error': 0})
        for k in ('peers', 'down_rate', 'up_rate'):
            self.assertEqual(st.get(k), 0, k)
        self.assertIn('banned', st)
        self.assertIn(st['banned'], (0, []), 'nobody is banned yet')
        # --listen 127.0.0.1:0 picked a real port that accepts peer connections.
        self.assertIsInstance(st.get('listen'), list)
        self.assertEqual(len(st['listen']), 1, st['listen'])
        host, port = st['listen'][0].rsplit(':', 1)
        self.assertEqual(host, '127.0.0.1')
        self.assertNotEqual(int(port), 0, 'the port actually bound must be reported')
        s = socket.create_connection(('127.0.0.1', int(port)), timeout=5)
        s.close()
        # The version is the one p2pd --version prints.
        out = subprocess.run([P2PD, '--version'], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=10)
        self.assertEqual(out.returncode, 0)
        self.assertIn(st['version'], out.stdout.decode())

    def test_session_status_counts_torrents_by_state(self):
        d = self.daemon()
        p = os.path.join(d.root, 'one.bin')
        write_file(p, rand_bytes(40000, 1))
        t = share(d, p)
        d.call('torrent.add', {'magnet': 'a' * 40})
        d.call('torrent.add', {'magnet': 'b' * 40, 'paused': True})
        st = d.call('session.status')
        self.assertEqual(st['torrents'], {'total': 3, 'checking': 0, 'downloading': 1,
                                          'seeding': 1, 'paused': 1, 'error': 0})
        d.call('torrent.pause', {'id': t['id']})
        st = d.call('session.status')
        self.assertEqual(st['torrents']['paused'], 2)
        self.assertEqual(st['torrents']['seeding'], 0)

    def test_session_shutdown(self):
        d = self.daemon()
        c = d.client()
        r = c.call('session.shutdown')
        self.assertEqual(r, {})
        rc = d.wait_exit(5)
        self.assertEqual(rc, 0, 'p2pd must exit 0 after session.shutdown')


class ShareTest(DaemonTest):

    def check_single_file_torrent(self, d, t, path, data, name):
        size = len(data)
        pl = t['piece_length']
        npieces = (size + pl - 1) // pl
        self.assertTorrent(t, name=name, state='seeding', size=size, have_bytes=size,
                           pieces=npieces, pieces_have=npieces, files=1, private=False,
                           origin='shared')
        self.assertEqual(t['progress'], 1.0)
        self.assertEqual(os.path.realpath(t['path']), os.path.realpath(path))
        self.assertTrue(abs(t['added'] - time.time()) < 120, t['added'])
        self.assertGreater(t['completed'], 0, 'a shared torrent is complete')
        raw, meta, info_raw, magnet = export_torrent(d, t['id'])
        info = meta[b'info']
        self.assertEqual(hashlib.sha1(info_raw).hexdigest(), t['info_hash'],
                         'info_hash must be the SHA-1 of the raw info dict')
        self.assertEqual(bencode(info), info_raw, 'info dict is not canonical bencode')
        self.assertEqual(info[b'name'], name.encode())
        self.assertEqual(info[b'length'], size)
        self.assertNotIn(b'files', info)
        self.assertEqual(info[b'piece length'], pl)
        self.assertEqual(info[b'pieces'], piece_hashes(data, pl),
                         'piece hashes differ from SHA-1 of the file pieces')
        self.assertEqual(info.get(b'private', 0), 0)
        self.assertTrue(magnet.startswith('magnet:?'), magnet)
        self.assertEqual(magnet_hash(magnet), t['info_hash'])
        return info

    def test_share_file_metainfo_matches_content(self):
        d = self.daemon()
        path = os.path.join(d.root, 'data', 'payload.bin')
        data = rand_bytes((1 << 20) + 12345, 'share-file')
        write_file(path, data)
        t = share(d, path, piece_length=65536)
        self.assertEqual(t['piece_length'], 65536)
        self.check_single_file_torrent(d, t, path, data, 'payload.bin')
        self.assertEqual(magnet_hash(t['magnet']), t['info_hash'])
        # the user's file is untouched
        with open(path, 'rb') as f:
            self.assertEqual(f.read(), data)
        # get and list agree with the share result
        g = d.call('torrent.get', {'id': t['id']})
        self.assertEqual(g['info_hash'], t['info_hash'])
        self.assertEqual(magnet_hash(g['magnet']), t['info_hash'])
        lst = d.call('torrent.list')['torrents']
        self.assertEqual([x['info_hash'] for x in lst], [t['info_hash']])
        files = d.call('torrent.files', {'id': t['id']})['files']
        self.assertEqual(files, [{'index': 0, 'path': 'payload.bin', 'size': len(data),
                                  'have_bytes': len(data), 'progress': 1.0}])

    def test_share_automatic_piece_length(self):
        d = self.daemon()
        path = os.path.join(d.root, 'auto.bin')
        data = rand_bytes(3 * 1000 * 1000 + 7, 'auto')
        write_file(path, data)
        t = share(d, path)
        pl = t['piece_length']
        self.assertTrue(16384 <= pl <= 64 << 20 and pl & (pl - 1) == 0,
                        'automatic piece length %d is not a power of two in range' % pl)
        self.check_single_file_torrent(d, t, path, data, 'auto.bin')

    def test_share_directory(self):
        d = self.daemon()
        root = os.path.join(d.root, 'album')
        content = [('alpha.txt', rand_bytes(3000, 'a')),
                   ('beta/one.bin', rand_bytes(70000, 'b1')),
                   ('beta/two.bin', b'12345'),
                   ('beta/zeta/deep.dat', rand_bytes(40000, 'z')),
                   ('gamma.bin', rand_bytes(100000, 'g'))]
        for rel, data in content:
            write_file(os.path.join(root, rel), data)
        os.makedirs(os.path.join(root, 'empty', 'deeper'))
        os.symlink('alpha.txt', os.path.join(root, 'link-to-file'))
        os.symlink('/etc', os.path.join(root, 'link-to-etc'))
        os.mkfifo(os.path.join(root, 'fifo'))
        t = share(d, root, piece_length=16384)
        total = sum(len(x) for _, x in content)
        blob = b''.join(x for _, x in content)
        self.assertTorrent(t, name='album', state='seeding', size=total, have_bytes=total,
                           files=len(content), origin='shared', piece_length=16384,
                           pieces=(total + 16383) // 16384)
        self.assertEqual(os.path.realpath(t['path']), os.path.realpath(root))
        raw, meta, info_raw, magnet = export_torrent(d, t['id'])
        info = meta[b'info']
        self.assertEqual(hashlib.sha1(info_raw).hexdigest(), t['info_hash'])
        self.assertEqual(bencode(info), info_raw)
        self.assertEqual(info[b'name'], b'album')
        self.assertNotIn(b'length', info)
        self.assertEqual(info[b'files'],
                         [{b'length': len(x), b'path': [c.encode() for c in rel.split('/')]}
                          for rel, x in content],
                         'files must be the regular files in sorted order, no links/fifos')
        self.assertEqual(info[b'pieces'], piece_hashes(blob, 16384))
        files = d.call('torrent.files', {'id': t['id']})['files']
        self.assertEqual(files, [{'index': i, 'path': rel, 'size': len(x),
                                  'have_bytes': len(x), 'progress': 1.0}
                                 for i, (rel, x) in enumerate(content)])

    def test_share_options(self):
        d = self.daemon()
        path = os.path.join(d.root, 'opts.bin')
        data = rand_bytes(200000, 'opts')
        write_file(path, data)
        trackers = ['http://127.0.0.1:9/announce', 'udp://127.0.0.1:9/announce']
        t = share(d, path, name='Custom Name', piece_length=32768, private=True,
                  trackers=trackers)
        self.assertTorrent(t, name='Custom Name', piece_length=32768, private=True,
                           pieces=7, state='seeding')
        raw, meta, info_raw, magnet = export_torrent(d, t['id'])
        info = meta[b'info']
        self.assertEqual(info[b'name'], b'Custom Name')
        self.assertEqual(info[b'private'], 1)
        self.assertEqual(info[b'pieces'], piece_hashes(data, 32768))
        self.assertEqual(meta.get(b'announce'), trackers[0].encode())
        self.assertEqual(meta.get(b'announce-list'), [[trackers[0].encode()],
                                                      [trackers[1].encode()]])
        g = d.call('torrent.get', {'id': t['id']})
        self.assertEqual([x['url'] for x in g['trackers']], trackers)
        self.assertLess(g['trackers'][0]['tier'], g['trackers'][1]['tier'],
                        'one tier per tracker, in order')

    def test_share_errors(self):
        d = self.daemon()
        missing = os.path.join(d.root, 'no-such-file')
        e = d.error('torrent.share', {'path': missing})
        self.assertRpcError(e, IO_ERROR, missing)
        empty = os.path.join(d.root, 'emptydir')
        os.makedirs(os.path.join(empty, 'sub'))
        self.assertRpcError(d.error('torrent.share', {'path': empty}), IO_ERROR)
        path = os.path.join(d.root, 'x.bin')
        write_file(path, rand_bytes(50000, 'x'))
        for bad in ({'path': path, 'piece_length': 1000},
                    {'path': path, 'piece_length': 8192},
                    {'path': path, 'piece_length': 128 << 20},
                    {'path': path, 'piece_length': '65536'},
                    {'path': 42},
                    {},
                    {'path': path, 'private': 'yes'},
                    {'path': path, 'trackers': 'http://x/announce'},
                    {'path': path, 'wait': 1},
                    {'path': path, 'nmae': 'typo'}):
            self.assertRpcError(d.error('torrent.share', bad), INVALID_PARAMS)
        self.assertEqual(d.call('torrent.list')['torrents'], [],
                         'a refused share must not leave a torrent behind')
        t = share(d, path)
        e = d.error('torrent.share', {'path': path})
        self.assertRpcError(e, EXISTS)
        self.assertIsInstance(e.get('data'), dict, 'exists carries data')
        self.assertEqual(e['data'].get('id'), t['id'])
        self.assertEqual(e['data'].get('info_hash'), t['info_hash'])
        self.assertEqual(len(d.call('torrent.list')['torrents']), 1)

    def test_share_path_through_a_file(self):
        d = self.daemon()
        path = os.path.join(d.root, 'plain.bin')
        write_file(path, b'x' * 1000)
        bad = os.path.join(path, 'child')          # ENOTDIR
        self.assertRpcError(d.error('torrent.share', {'path': bad}), IO_ERROR)
        self.assertEqual(d.call('torrent.list')['torrents'], [])

    def test_share_nowait_job_and_events(self):
        d = self.daemon()
        path = os.path.join(d.root, 'big.bin')
        size = 1 << 30          # sparse: hashing takes a while, costs no disk
        with open(path, 'wb') as f:
            f.truncate(size)
        sub = d.client()
        self.assertEqual(sorted(sub.call('events.subscribe')['subscribed']),
                         sorted(EVENT_TYPES), 'no types: all documented event types')
        c = d.client()
        t0 = time.monotonic()
        r = c.call('torrent.share', {'path': path, 'wait': False, 'piece_length': 1 << 20})
        self.assertLess(time.monotonic() - t0, 1.0, 'wait:false must answer at once')
        self.assertIsInstance(r.get('job'), int)
        self.assertNotIsInstance(r['job'], bool)
        self.assertEqual(os.path.realpath(r.get('path')), os.path.realpath(path))
        job = r['job']
        done = sub.take_event(lambda e: e['type'] == 'share.done' and e.get('job') == job,
                              timeout=120, what='share.done for job %d' % job)
        elapsed = time.monotonic() - t0
        t = self.assertTorrent(done.get('torrent'), state='seeding', size=size,
                               pieces=1024, pieces_have=1024, origin='shared')
        self.assertEqual(magnet_hash(done.get('magnet')), t['info_hash'])
        self.assertTrue(abs(done.get('time', 0) - time.time()) < 120, done)
        raw, meta, info_raw, magnet = export_torrent(d, t['id'])
        self.assertEqual(hashlib.sha1(info_raw).hexdigest(), t['info_hash'])
        self.assertEqual(meta[b'info'][b'pieces'],
                         hashlib.sha1(bytes(1 << 20)).digest() * 1024)
        # hash.progress reported the job, in bytes, never going backwards,
        # at most 4 per second
        events = sub.collect_events(0.3)
        prog = [e for e in events if e['type'] == 'hash.progress' and e.get('job') == job]
        self.assertTrue(prog, 'no hash.progress event for the share job (%.2f s of hashing); '
                        'events: %s' % (elapsed, json.dumps(events)[:1500]))
        for e in prog:
            self.assertEqual(e.get('total'), size, e)
            self.assertTrue(0 <= e['done'] <= e['total'], e)
        dones = [e['done'] for e in prog]
        self.assertEqual(dones, sorted(dones), 'hash.progress went backwards')
        self.assertLessEqual(len(prog), 4 * (elapsed + 1) + 1,
                             '%d hash.progress events in %.2f s' % (len(prog), elapsed))
        added = [e for e in events if e['type'] == 'torrent.added']
        self.assertEqual([e['torrent']['info_hash'] for e in added], [t['info_hash']])
        # events go to subscribers only
        c.call('session.status')
        self.assertEqual(c.events, [], 'a connection that did not subscribe got events')
        self.assertEqual(d.call('torrent.get', {'id': t['id']})['pieces_have'], 1024)

    def test_share_nowait_missing_path_fails(self):
        d = self.daemon()
        sub = d.client()
        sub.call('events.subscribe')
        missing = os.path.join(d.root, 'gone')
        resp = sub.request('torrent.share', {'path': missing, 'wait': False})
        if 'error' in resp:
            self.assertRpcError(resp['error'], IO_ERROR)
        else:
            job = resp['result']['job']
            ev = sub.take_event(lambda e: e['type'] == 'share.failed' and e.get('job') == job,
                                timeout=20, what='share.failed')
            self.assertEqual(os.path.realpath(ev.get('path')), os.path.realpath(missing))
            self.assertIsInstance(ev.get('error'), str)
            self.assertTrue(ev['error'].strip())
        self.assertEqual(d.call('torrent.list')['torrents'], [])


class EventsTest(DaemonTest):

    def test_events_follow_a_torrent_life(self):
        d = self.daemon()
        sub = d.client()
        sub.call('events.subscribe')
        path = os.path.join(d.root, 'life.bin')
        write_file(path, rand_bytes(300000, 'life'))
        c = d.client()
        t = c.call('torrent.share', {'path': path}, timeout=60)
        tid, ih = t['id'], t['info_hash']
        ev = sub.take_event(lambda e: e['type'] == 'torrent.added', what='torrent.added')
        self.assertEqual(ev['torrent']['info_hash'], ih)
        self.assertEqual(ev['torrent']['id'], tid)
        self.assertIsInstance(ev.get('time'), int)

        c.call('torrent.pause', {'id': tid})
        ev = sub.take_event(lambda e: e['type'] == 'torrent.state', what='torrent.state (pause)')
        self.assertEqual((ev.get('id'), ev.get('info_hash'), ev.get('from'), ev.get('to')),
                         (tid, ih, 'seeding', 'paused'))
        c.call('torrent.resume', {'id': tid})
        ev = sub.take_event(lambda e: e['type'] == 'torrent.state', what='torrent.state (resume)')
        self.assertEqual((ev['id'], ev['from']), (tid, 'paused'))
        if ev['to'] != 'seeding':
            sub.take_event(lambda e: e['type'] == 'torrent.state' and e['to'] == 'seeding',
                           what='back to seeding')

        c.call('torrent.verify', {'id': tid})
        ev = sub.take_event(lambda e: e['type'] == 'torrent.state', what='checking on verify')
        self.assertEqual((ev['from'], ev['to']), ('seeding', 'checking'))
        ev = sub.take_event(lambda e: e['type'] == 'torrent.state', what='seeding after verify')
        self.assertEqual((ev['from'], ev['to']), ('checking', 'seeding'))

        r = c.call('torrent.remove', {'id': tid})
        self.assertEqual(r, {'id': tid, 'info_hash': ih})
        ev = sub.take_event(lambda e: e['type'] == 'torrent.removed', what='torrent.removed')
        self.assertEqual((ev.get('id'), ev.get('info_hash')), (tid, ih))
        self.assertTrue(os.path.exists(path), 'remove without delete_data deleted the file')

    def test_events_type_filter(self):
        d = self.daemon()
        sub = d.client()
        r = sub.call('events.subscribe', {'types': ['torrent.removed', 'torrent.state']})
        self.assertEqual(sorted(r.get('subscribed', [])), ['torrent.removed', 'torrent.state'])
        path = os.path.join(d.root, 'f.bin')
        write_file(path, rand_bytes(100000, 'filter'))
        c = d.client()
        job = c.call('torrent.share', {'path': path, 'wait': False})['job']
        lst = wait_until(lambda: [x for x in c.call('torrent.list')['torrents']
                                  if x['state'] == 'seeding'], 30, what='shared torrent')
        tid = lst[0]['id']
        c.call('torrent.pause', {'id': tid})
        c.call('torrent.remove', {'id': tid})
        sub.take_event(lambda e: e['type'] == 'torrent.removed', what='torrent.removed')
        sub.call('session.status')
        events = sub.collect_events(0.3)
        types = {e['type'] for e in events}
        self.assertLessEqual(types, {'torrent.removed', 'torrent.state'},
                             'filtered subscriber got other types: %s' % json.dumps(events)[:1500])
        self.assertTrue(any(e['type'] == 'torrent.state' and e.get('to') == 'paused'
                            for e in events), json.dumps(events)[:1500])
        self.assertFalse([e for e in events if e.get('job') == job])


class NamingTest(DaemonTest):

    def test_torrent_ids_hashes_and_prefixes(self):
        d = self.daemon()
        path = os.path.join(d.root, 'named.bin')
        write_file(path, rand_bytes(50000, 'named'))
        t = share(d, path)
        ih = t['info_hash']
        for ref in (t['id'], str(t['id']), ih, ih[:6], ih[:11]):
            g = d.call('torrent.get', {'id': ref})
            self.assertEqual((g['id'], g['info_hash']), (t['id'], ih), 'id %r' % (ref,))
        # the same naming works for the other per-torrent methods
        self.assertEqual(d.call('torrent.pause', {'id': ih[:6]})['state'], 'paused')
        self.assertEqual(d.call('torrent.resume', {'id': str(t['id'])})['state'], 'seeding')
        self.assertEqual(len(d.call('torrent.files', {'id': ih})['files']), 1)

        h1 = 'abcdef' + '0' * 33 + '1'
        h2 = 'abcdef' + '0' * 33 + '2'
        m1 = d.call('torrent.add', {'magnet': h1})
        m2 = d.call('torrent.add', {'magnet': 'magnet:?xt=urn:btih:' + h2})
        self.assertNotEqual(m1['id'], m2['id'])
        self.assertNotIn(m1['id'], (t['id'],))
        for ref in ('abcdef', 'abcdef000', h1[:39][:-1]):
            self.assertRpcError(d.error('torrent.get', {'id': ref}), AMBIGUOUS)
            self.assertRpcError(d.error('torrent.pause', {'id': ref}), AMBIGUOUS)
        self.assertEqual(d.call('torrent.get', {'id': h1})['id'], m1['id'])
        self.assertEqual(d.call('torrent.get', {'id': h2[:40]})['id'], m2['id'])
        self.assertEqual(d.call('torrent.get', {'id': h2})['info_hash'], h2)
        # unknown ids
        unknown_prefix = next(p for p in ('ffffff', 'eeeeee', 'dddddd')
                              if not ih.startswith(p))
        for ref in (99999, '99999', unknown_prefix, 'f' * 40 if not ih.startswith('f')
                    else 'e' * 40):
            self.assertRpcError(d.error('torrent.get', {'id': ref}), NOT_FOUND)
            self.assertRpcError(d.error('torrent.remove', {'id': ref}), NOT_FOUND)
        # ids are stable: removing one does not renumber the others
        d.call('torrent.remove', {'id': m1['id']})
        self.assertEqual(d.call('torrent.get', {'id': m2['id']})['info_hash'], h2)
        self.assertEqual(d.call('torrent.get', {'id': 'abcdef'})['info_hash'], h2,
                         'prefix is unique again after removing the other torrent')
        self.assertRpcError(d.error('torrent.get', {'id': m1['id']}), NOT_FOUND)


if __name__ == '__main__':
    main()
