#!/usr/bin/python3
"""Search (issue 5) between real daemons on 127.0.0.x joined only through the DHT:
twelve daemons share different files; a thirteenth finds one by a word of its name
within 5 s and downloads it with `p2pctl get`, bit-identical; exact matches rank
first; a lying peer's answers (malformed, oversized, results that do not match the
query) are dropped without harm; `--local` and `search_answer = no` behave."""

import hashlib
import json
import os
import socket
import struct
import subprocess
import time

from xfer import XferTest, data_bytes, main, write_file, host_of  # sets up the path
from p2ptest import P2PCTL, wait_until  # noqa: E402
from rawpeer import FakePeer, bencode, bdecode  # noqa: E402

NAMES = [
    'Big Buck Bunny 1080p.mkv', 'Sintel Trailer Dolby.mp4', 'Elephants Dream Soundtrack.flac',
    'Tears of Steel Subtitles.srt', 'Cosmos Laundromat', 'Cosmos Laundromat Making Of',
    'Debian Installer Notes.txt', 'Caminandes Llamigos.webm', 'Spring Opening Night.ogg',
    'Agent Kumquat Sketches.zip', 'Glass Half Storyboard.pdf', 'Wing It Production Diary.epub',
]


def word_key(w):
    return hashlib.sha1(b'p2pd-search-v1:' + w.encode()).digest()


class SearchTest(XferTest):

    def network(self, n, answer_off=()):
        boot = self.node(2, debug=False, dht=True)
        nodes = [boot]
        for i in range(1, n):
            conf = 'search_answer = no\n' if i in answer_off else None
            nodes.append(self.node(2 + i, debug=False, dht=True, config=conf,
                                   args=['--dht-bootstrap', boot.addr]))
        wait_until(lambda: all(d.call('dht.status')['nodes']['ipv4'] >= min(5, n - 1)
                               for d in nodes), 30, 0.5, 'DHT routing tables to fill')
        return nodes

    def share_all(self, nodes, names):
        datas = {}
        for d, name in zip(nodes, names):
            data = data_bytes(256 * 1024 + len(name), name)
            src = os.path.join(d.root, name)
            write_file(src, data)
            self.seed(d, src, piece_length=64 * 1024)
            datas[name] = data
        return datas

    def wait_announced(self, nodes, words, peers=1):
        """Until DHT nodes hold that many peers under each word's key."""
        wait_until(lambda: all(len(dht_values(nodes, word_key(w))) >= peers for w in words),
                   30, 1.0,
                   'the words %s to be announced on the DHT' % (words,))

    def search(self, d, query, timeout=5, local=False):
        args = [P2PCTL, '-s', d.socket, '--json', 'search', '--timeout', str(timeout)]
        args += ['--local'] if local else []
        started = time.monotonic()
        out = subprocess.run(args + query.split(), capture_output=True, timeout=timeout + 20)
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        return json.loads(out.stdout), time.monotonic() - started

    def test_find_and_get_over_the_dht(self):
        nodes = self.network(13)
        searcher, sharers = nodes[12], nodes[:12]
        datas = self.share_all(sharers, NAMES)
        self.wait_announced(nodes, ['llamigos', 'laundromat', 'sintel'])
        # Time to the first result, through the event stream as a user sees it.
        c = searcher.client(timeout=10.0)
        c.call('events.subscribe', {'types': ['search.result', 'search.done']})
        started = time.monotonic()
        r = c.call('search.start', {'query': 'Llamigos', 'timeout': 5})
        c.take_event(lambda e: e['type'] == 'search.result', timeout=5,
                     what='a network result within 5 s')
        first = time.monotonic() - started
        c.take_event(lambda e: e['type'] == 'search.done', timeout=10,
                     what='the end of the search')
        self.assertLess(first, 5.0)
        print('first network result after %.2f s' % first)
        res = searcher.call('search.results', {'search': r['search']})['results']
        self.assertEqual([h['name'] for h in res], ['Caminandes Llamigos.webm'])
        self.assertEqual(res[0]['sources'], 1)
        # get N --wait downloads it, bit-identical, and exits 0 when complete.
        out = subprocess.run([P2PCTL, '-s', searcher.socket, 'get', '--wait',
                              str(res[0]['number'])], capture_output=True, timeout=90)
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        self.assertIn(b'complete', out.stdout)
        self.assertSameBytes(os.path.join(searcher.download_dir, 'Caminandes Llamigos.webm'),
                             datas['Caminandes Llamigos.webm'])
        # Exact name first, then the longer one; accents and case do not matter.
        res, took = self.search(searcher, 'cósmos LAUNDROMAT')
        names = [h['name'] for h in res['results']]
        self.assertEqual(names[:2], ['Cosmos Laundromat', 'Cosmos Laundromat Making Of'], names)
        # What the network answered is now in the local index, marked as seen.
        res, _ = self.search(searcher, 'sintel', local=True)
        self.assertNotIn('Sintel Trailer Dolby.mp4', [h['name'] for h in res['results']])
        self.search(searcher, 'sintel')
        res, _ = self.search(searcher, 'sintel', local=True)
        got = {h['name']: h['origin'] for h in res['results']}
        self.assertEqual(got.get('Sintel Trailer Dolby.mp4'), 'seen', got)

    def test_two_nodes(self):
        """The searcher's own DHT node holds the sharer's announce (a lookup reports
        it before it even sends a query): still found."""
        a, b = self.network(2)
        self.share_all([a], ['Solitary Walrus Sketchbook.pdf'])
        self.wait_announced([a, b], ['walrus'])
        res, _ = self.search(b, 'walrus', timeout=2)
        self.assertEqual([h['name'] for h in res['results']], ['Solitary Walrus Sketchbook.pdf'])

    def test_answer_off_and_private(self):
        nodes = self.network(4, answer_off=(1,))
        quiet, open_, searcher = nodes[1], nodes[2], nodes[3]
        self.share_all([quiet], ['Quietly Shared Archive.tar'])
        d = open_
        src = os.path.join(d.root, 'Private Haystack Notes.txt')
        write_file(src, data_bytes(100000, 'priv'))
        self.seed(d, src, private=True)
        src = os.path.join(d.root, 'Hidden Pickle Jar.txt')
        write_file(src, data_bytes(100000, 'pickle'))
        self.seed(d, src, searchable=False)
        # The words of the public torrent of a daemon that answers are announced...
        self.share_all([open_], ['Openly Shared Lemonade.txt'])
        self.wait_announced(nodes, ['lemonade'])
        # ... but not those of a daemon with search_answer = no, a private torrent's, nor
        # those of a torrent shared with --no-search.
        self.assertEqual(dht_values(nodes, word_key('quietly')), set())
        self.assertEqual(dht_values(nodes, word_key('haystack')), set())
        self.assertEqual(dht_values(nodes, word_key('pickle')), set())
        res, _ = self.search(searcher, 'pickle', timeout=3)
        self.assertEqual(res['results'], [])
        res, _ = self.search(searcher, 'quietly', timeout=3)
        self.assertEqual(res['results'], [])
        res, _ = self.search(searcher, 'haystack', timeout=3)
        self.assertEqual(res['results'], [])
        res, _ = self.search(searcher, 'lemonade', timeout=3)
        self.assertEqual([h['name'] for h in res['results']], ['Openly Shared Lemonade.txt'])

    def test_lying_peer(self):
        nodes = self.network(3)
        searcher = nodes[2]
        self.share_all([nodes[1]], ['Honest Marmalade Recipe.txt'])
        liar = LyingPeer('127.0.0.30')
        self.addCleanup(liar.close)
        # The liar announces itself under the word key, as a sharer would.
        liar.announce(nodes, 'marmalade')
        self.wait_announced(nodes, ['marmalade'], peers=2)
        for mode in ('fake', 'malformed', 'oversized'):
            liar.mode = mode
            res, _ = self.search(searcher, 'marmalade', timeout=3)
            names = sorted(h['name'] for h in res['results'])
            self.assertEqual(names, ['Honest Marmalade Recipe.txt'], (mode, names))
        self.assertGreaterEqual(liar.asked, 3, 'the liar was never asked')
        self.assertTrue(searcher.running())
        searcher.call('session.status')


def dht_values(nodes, key):
    """Peers any of the nodes stores under key, asked over KRPC like any DHT node would."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.0.29', 0))
    s.settimeout(0.5)
    found = set()
    try:
        for i, d in enumerate(nodes):
            addr = (host_of(d.addr), int(d.addr.rsplit(':', 1)[1]))
            tid = b'v%d' % i
            s.sendto(bencode({'t': tid, 'y': 'q', 'q': 'get_peers',
                              'a': {'id': b'\x42' * 20, 'info_hash': key}}), addr)
            for _ in range(5):
                try:
                    r = bdecode(s.recvfrom(65536)[0])
                except socket.timeout:
                    break
                if r.get(b't') == tid:
                    found.update(r.get(b'r', {}).get(b'values', []))
                    break
    finally:
        s.close()
    return found


class ConnectedTest(XferTest):
    """No DHT at all: peers connected for one torrent search each other over it."""

    def test_search_over_a_torrent_connection(self):
        a = self.node(2, debug=False)
        b = self.node(3, debug=False)
        common = os.path.join(a.root, 'common.bin')
        write_file(common, data_bytes(300000, 'common'))
        _, meta = self.seed(a, common)
        other = os.path.join(a.root, 'Gazpacho Field Recordings.ogg')
        write_file(other, data_bytes(200000, 'gazpacho'))
        self.seed(a, other)
        # Slow, so the two are still connected (two seeds part) while b searches.
        a.call('session.set', {'key': 'upload_rate_limit', 'value': '16K'})
        t = self.leech(b, meta, peers=[a.addr])
        wait_until(lambda: b.call('torrent.peers', {'id': t['id']})['peers'], 10, 0.1,
                   'the two daemons to connect')
        time.sleep(0.5)  # the extension handshakes
        r = b.call('search.start', {'query': 'gazpacho field', 'timeout': 2})
        res = wait_until(lambda: b.call('search.results', {'search': r['search']})['results'],
                         5, 0.1, 'an answer over the torrent connection')
        self.assertEqual([h['name'] for h in res], ['Gazpacho Field Recordings.ogg'])
        self.assertEqual(res[0]['exact'], 1)

    def test_flooding_peer_is_dropped(self):
        a = self.node(2, debug=False)
        src = os.path.join(a.root, 'flood.bin')
        write_file(src, data_bytes(100000, 'flood'))
        t, _ = self.seed(a, src)
        ih = bytes.fromhex(t['info_hash'])
        c = socket.create_connection((host_of(a.addr), int(a.addr.rsplit(':', 1)[1])), 5)
        self.addCleanup(c.close)
        reserved = bytearray(8)
        reserved[5] |= 0x10
        c.sendall(bytes([19]) + b'BitTorrent protocol' + bytes(reserved) + ih +
                  b'-XX0001-' + os.urandom(12))
        ext = bencode({'m': {'p2p_search': 9}})
        c.sendall(struct.pack('>IBB', len(ext) + 2, 20, 0) + ext)
        q = bencode({'q': 'flood', 't': 1})
        closed_after = None
        for i in range(40):
            try:
                c.sendall(struct.pack('>IBB', len(q) + 2, 20, 3) + q)
            except OSError:
                closed_after = i
                break
            time.sleep(0.02)
        c.settimeout(3)
        answers = 0
        try:
            buf = b''
            for _ in range(1000):
                x = c.recv(65536)
                if not x:
                    break
                buf += x
            answers = buf.count(b'1:rl')
        except (OSError, socket.timeout):
            pass
        print('flood: %d answers, send failed after %s' % (answers, closed_after))
        self.assertLessEqual(answers, 10)
        self.assertGreaterEqual(answers, 1)
        wait_until(lambda: not a.call('torrent.peers', {'id': t['id']})['peers'], 5, 0.1,
                   'the flooding peer to be dropped')
        self.assertTrue(any('search-abuse' in line for line in self.peer_closes(a)),
                        'no search-abuse close in the log')


class LyingPeer(FakePeer):
    """Answers p2p_search, badly: mode is fake (results that do not match the query),
    malformed (not a valid answer) or oversized (200 results)."""

    def __init__(self, ip):
        self.mode = 'fake'
        self.asked = 0
        super().__init__(ip)

    def announce(self, nodes, word):
        """Announces itself under the word key on every node, as a sharer would."""
        key = word_key(word)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((self.ip, 0))
        s.settimeout(1)
        myid = os.urandom(20)
        for d in nodes:
            addr = (host_of(d.addr), int(d.addr.rsplit(':', 1)[1]))
            s.sendto(bencode({'t': 'g', 'y': 'q', 'q': 'get_peers',
                              'a': {'id': myid, 'info_hash': key}}), addr)
            tok = None
            for _ in range(5):
                r = bdecode(s.recvfrom(65536)[0])
                if r.get(b't') == b'g':
                    tok = r[b'r'][b'token']
                    break
            s.sendto(bencode({'t': 'a', 'y': 'q', 'q': 'announce_peer',
                              'a': {'id': myid, 'info_hash': key, 'port': self.port,
                                    'token': tok}}), addr)
        s.close()

    def handle(self, c):
        self.handshake(c)
        self.send_ext(c, 0, bencode({'m': {'p2p_search': 7}, 'v': 'liar'}))
        their = None
        for mid, body in self.read_msgs(c, 10):
            if mid != 20:
                continue
            if body[0] == 0:
                their = bdecode(body[1:])[b'm'][b'p2p_search']
            elif their is not None:
                q = bdecode(body[1:])
                self.asked += 1
                self.send_ext(c, their, self.answer(q[b't']))
                return

    def answer(self, tid):
        if self.mode == 'fake':
            # One result that does not match the query, one with a made-up name.
            return bencode({'r': [{'f': 1, 'h': os.urandom(20), 'l': 5, 'n': 'totally unrelated'},
                                  {'f': 1, 'h': os.urandom(20), 'l': 5, 'n': 'Honesx'}],
                            't': tid})
        if self.mode == 'malformed':
            return b'd1:rli1ee1:ti' + str(tid).encode() + b'ee'
        return bencode({'r': [{'f': 1, 'h': os.urandom(20), 'l': 1, 'n': 'marmalade ' + 'x' * 200}
                              for _ in range(200)], 't': tid})


if __name__ == '__main__':
    main()
