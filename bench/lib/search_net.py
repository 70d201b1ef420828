"""search_net.py: the network search benchmark behind bench/search-net.sh.

Starts NODES p2pd daemons with the DHT on 127.0.0.BASE.. (all bootstrapping from
the first; nobody knows anyone else), lets all but the last share three files
each with realistic names, waits until the routing tables settle and every word
the searches need is stored under its word key (KRPC get_peers to every node, as
tests/transfer/test_search.py's dht_values does), then has the last daemon
search: one word of each name, words in several names, two-word queries and
words nobody shares. Each search goes through one control connection subscribed
to search.result and search.done; the time from sending search.start to the
first search.result event is the figure (target: median under 1 s). Then a few
`p2pctl search WORD` processes end to end, `p2pctl get N` to the completed
download, and every daemon's RSS.

The daemons, the settling and the percentiles are dht.py's (bench/dht.sh);
processes, the JSON-RPC client and waits are benchlib's. Everything is on
127.0.0.x; only processes started here are stopped, by pid; every wait is bounded.
"""

import argparse
import hashlib
import json
import os
import random
import re
import select
import socket
import subprocess
import sys
import time
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BenchError, Rpc, bencode, install_signal_handlers,  # noqa: E402
                      p2pd_wait_seeding, same_file, spawn, stop, stop_all, tail, wait_for)
from dht import Node, fmt_ms, pct, settle  # noqa: E402

MiB = 1 << 20

# Three torrents per sharer (index = sharer). A str is one file; a tuple is a
# directory (name, [file names]). Some words are in several names on purpose.
SHARES = [
    ['Big Buck Bunny (2008) 1080p BluRay x264.mkv', "Sintel Director's Cut 720p.mp4",
     'Cosmos Laundromat First Cycle (2015).mkv'],
    [('Elephants Dream Original Soundtrack [FLAC]',
      ['01 - Elephants Dream Main Theme.flac', '02 - Emo and Proog.flac', 'cover.jpg']),
     'Debian 12.5 Bookworm amd64 netinst.iso', 'Tears of Steel Subtitles Pack.zip'],
    ['Cosmos Laundromat Making Of Documentary.mp4', 'Caminandes Llamigos (2016) 4K.webm',
     'Ubuntu 24.04 Noble Numbat Desktop amd64.iso'],
    ['Spring Opening Night Concert Recording.ogg', 'Agent Kumquat Storyboard Sketches.zip',
     "Debian Administrator's Handbook (2023).epub"],
    ['Glass Half Animation Storyboard.pdf', 'Wing It Production Diary.epub',
     ('Mot\u00f6rhead - Ace of Spades (1980) [FLAC]',
      ['01 - Ace of Spades.flac', '02 - Love Me Like a Reptile.flac', '03 - Shoot You in '
       'the Back.flac'])],
    ['Charge Blender Open Movie 2160p HDR.mkv', 'Hero Grease Pencil Showcase.mp4',
     'Coffee Run Animated Short (2020).mkv'],
    ['Sprite Fright Halloween Special (2021).mkv', 'Manjaro Linux 24.0 Wynsdey KDE Plasma.iso',
     'Project Gutenberg Moby Dick Herman Melville.epub'],
    [('Pride and Prejudice Jane Austen Audiobook [MP3]',
      ['Chapter 01.mp3', 'Chapter 02.mp3', 'Chapter 03.mp3']),
     'Fedora Workstation 40 Live x86_64.iso', 'Daily Dweebs Cartoon Short.mp4'],
    ['Cosmos Laundromat Concept Art Gallery.zip', 'Nasa Apollo 11 Mission Audio Archive.flac',
     'Linux Kernel Development Third Edition.pdf'],
    ['Kodak Ektachrome Film Scans Volume 2.tar', 'Yosemite Valley Timelapse 4K.mov',
     'Debian Live 12 Gnome Desktop.iso'],
    [('Beethoven Symphony No 9 Berlin Philharmonic [FLAC]',
      ['01 - Allegro ma non troppo.flac', '02 - Molto vivace.flac', 'booklet.pdf']),
     'Raspberry Pi Camera Module Manual.pdf', 'Cooking With Cast Iron Skillet Recipes.epub'],
    ['Mozart Requiem Vienna Choir Live Recording.flac',
     'Open Street Map Europe Extract (2024).osm.pbf',
     'Tolkien Silmarillion Illustrated Edition.epub'],
]
GET_NAME = 'Nasa Apollo 11 Mission Audio Archive.flac'      # 16 MiB: `p2pctl get` downloads it
GET_WORD = 'apollo'
# One word of each name but those kept fresh (never searched before) for p2pctl.
UNIQUE = ['bunny', 'sintel', 'cycle', 'elephants', 'bookworm', 'tears', 'documentary',
          'llamigos', 'numbat', 'concert', 'kumquat', 'handbook', 'glass', 'diary',
          'motorhead', 'blender', 'coffee', 'halloween', 'wynsdey', 'melville', 'austen',
          'workstation', 'dweebs', 'gallery', 'kernel', 'ektachrome', 'gnome', 'beethoven',
          'skillet', 'requiem', 'europe', 'silmarillion']
MULTI = ['laundromat', 'cosmos', 'debian', 'storyboard', 'live', 'recording', 'linux',
         'desktop']
TWO = ['cosmos laundromat making', 'debian handbook', 'live recording', 'storyboard glass']
NONE = ['quetzalcoatl', 'zeppelin', 'xylophone', 'paddington', 'casablanca']
CTL_WORDS = ['pencil', 'yosemite', 'raspberry']
# A result row of `p2pctl search`: number, sources, size (fixed width), hash prefix, name.
ROW = re.compile(r'^\s*(\d+)  .{7}  .{9}  [0-9a-f]{8}  (.*)$')


# ---------------------------------------------------------------- names and words

def words_of(s):
    """docs/protocol-search.md section 2 for these (Latin) names: case folded,
    accents removed, split on anything not a letter or digit."""
    s = unicodedata.normalize('NFKD', s)
    s = ''.join(c for c in s if not unicodedata.combining(c)).casefold()
    return re.findall(r'[^\W_]+', s)


def matches(name, query):
    """Every query word is a prefix of some word of the name."""
    nw = words_of(name)
    return all(any(w.startswith(q) for w in nw) for q in words_of(query))


def word_key(w):
    return hashlib.sha1(b'p2pd-search-v1:' + w.encode()).digest()


def bdecode(b, i=0):
    """(value, next index) of the bencoded value at b[i]; enough for KRPC replies."""
    c = b[i:i + 1]
    if c == b'i':
        j = b.index(b'e', i)
        return int(b[i + 1:j]), j + 1
    if c == b'l':
        out, i = [], i + 1
        while b[i:i + 1] != b'e':
            v, i = bdecode(b, i)
            out.append(v)
        return out, i + 1
    if c == b'd':
        out, i = {}, i + 1
        while b[i:i + 1] != b'e':
            k, i = bdecode(b, i)
            out[k], i = bdecode(b, i)
        return out, i + 1
    if c.isdigit():
        j = b.index(b':', i)
        n = int(b[i:j])
        return b[j + 1:j + 1 + n], j + 1 + n
    raise ValueError('not bencode at %d' % i)


class Krpc:
    """A bare KRPC client on its own 127.0.0.x address: asks every node get_peers
    for a key and collects the peers (compact ip:port) they store."""

    def __init__(self, ip):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((ip, 0))
        self.id = os.urandom(20)
        self.n = 0

    def values(self, nodes, key):
        """{ip: ...} of the peers any node stores under key."""
        want = {}
        for d in nodes:
            self.n += 1
            tid = b'%d' % (self.n % 100000)
            host, port = d.udp.rsplit(':', 1)
            self.s.sendto(bencode({'t': tid, 'y': 'q', 'q': 'get_peers',
                                   'a': {'id': self.id, 'info_hash': key}}), (host, int(port)))
            want[tid] = d
        found = set()
        deadline = time.monotonic() + 1.0
        for _ in range(len(want) * 4 + 10):
            if not want:
                break
            r, _, _ = select.select([self.s], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                break
            pkt = self.s.recvfrom(65536)[0]
            try:
                m = bdecode(pkt)[0]
            except (ValueError, IndexError):
                continue
            if m.get(b't') in want:
                del want[m[b't']]
                for v in m.get(b'r', {}).get(b'values', []):
                    if len(v) == 6:
                        found.add(socket.inet_ntoa(v[:4]))
        return found

    def close(self):
        self.s.close()


class TimedRpc(Rpc):
    """benchlib's Rpc, every event stamped with its arrival time (`_t`)."""

    def _read_lines(self, timeout):
        ms = super()._read_lines(timeout)
        now = time.monotonic()
        for m in ms:
            if m.get('method') == 'event' and isinstance(m.get('params'), dict):
                m['params']['_t'] = now
        return ms


def connect(node, timeout=30.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(node.sock)
    return TimedRpc(s)


# ---------------------------------------------------------------- setup

def write_share(node, item, size):
    """Creates the file or directory of one torrent under node.share; returns
    (path, torrent name, [file names])."""
    if isinstance(item, tuple):
        name, files = item
        path = os.path.join(node.share, name)
        os.makedirs(path, exist_ok=True)
        for f in files:
            with open(os.path.join(path, f), 'wb') as fh:
                fh.write(os.urandom(size // len(files)))
        return path, name, list(files)
    path = os.path.join(node.share, item)
    with open(path, 'wb') as fh:
        fh.write(os.urandom(size))
    return path, item, []


def announced_by(torrents, word):
    """Sharer IPs that must be stored under key(word): those with the word whole in
    a torrent name (the names here have at most 8 distinctive words, so all are
    announced)."""
    return {t['ip'] for t in torrents if word in words_of(t['name'])}


def wait_announced(krpc, nodes, torrents, words, timeout):
    """Until every word's key holds every sharer that announces it; returns the
    seconds waited. Raises BenchError naming what is missing. p2pd answers at most
    5 queries a second from one address (burst 10), so the keys still missing are
    asked one every 0.25 s (one get_peers to every node each)."""
    t0 = time.monotonic()
    missing = {w: None for w in words}
    for _ in range(int(timeout / 0.25) + 10):
        for w in list(missing):
            want = announced_by(torrents, w)
            got = krpc.values(nodes, word_key(w))
            if want <= got:
                del missing[w]
            else:
                missing[w] = sorted(want - got)
            time.sleep(0.25)
            if time.monotonic() - t0 > timeout:
                break
        if not missing:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            break
    raise BenchError('after %.0f s these word keys still miss sharers: %s'
                     % (timeout, missing))


# ---------------------------------------------------------------- measuring

def one_search(c, query, timeout):
    """search.start on c (subscribed), until its search.done. Returns a dict."""
    t0 = time.monotonic()
    r = c.call('search.start', {'query': query, 'timeout': timeout}, timeout=10)
    t_ans = time.monotonic() - t0
    sid = r['search']
    local = len(r.get('results') or [])
    found = {}      # name -> first arrival (s after t0)
    first = None
    events = 0
    done = None
    deadline = time.monotonic() + timeout + 10
    for _ in range(int((timeout + 10) / 0.05) + 100):
        for ev in c.poll_events(0.05):
            if ev.get('search') != sid:
                continue
            if ev.get('type') == 'search.result':
                at = ev['_t'] - t0
                events += 1
                if first is None:
                    first = at
                found.setdefault(ev['name'], at)
            elif ev.get('type') == 'search.done':
                done = dict(ev)
                done['at'] = ev['_t'] - t0
        if done is not None or time.monotonic() > deadline:
            break
    if done is None:
        raise BenchError('search %r: no search.done within %.0f s' % (query, timeout + 10))
    # Cross-check: a result the daemon holds as from the network but no event brought.
    ranked = c.call('search.results', {'search': sid})['results']
    lost = sorted({h['name'] for h in ranked if h['origin'] == 'network'} - set(found))
    return {'query': query, 'first': first, 'found': found, 'events': events, 'local': local,
            'start_rtt': t_ans, 'done': done, 'lost': lost}


def ctl_search(p2pctl, node, word, timeout):
    """`p2pctl search --timeout T WORD` as a process: seconds to the first result
    row on stdout and to exit, and the rows [(number, name)]."""
    t0 = time.monotonic()
    p = spawn([p2pctl, '-s', node.sock, 'search', '--timeout', str(timeout), word],
              stdout=subprocess.PIPE)
    buf, rows, first = b'', [], None
    deadline = t0 + timeout + 20
    for _ in range(100000):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([p.stdout], [], [], left)
        if not r:
            break
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk:
            break
        now = time.monotonic() - t0
        buf += chunk
        *lines, buf = buf.split(b'\n')
        for ln in lines:
            m = ROW.match(ln.decode('utf-8', 'replace'))
            if m:
                rows.append((int(m.group(1)), m.group(2)))
                if first is None:
                    first = now
    p.stdout.close()
    try:
        rc = p.wait(max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        stop(p)
        raise BenchError('p2pctl search %s did not end' % word)
    total = time.monotonic() - t0
    stop(p)
    if rc != 0:
        raise BenchError('p2pctl search %s exited with %s' % (word, rc))
    return first, total, rows


def ctl_get(p2pctl, node, number, timeout):
    """`p2pctl get N` (no --wait) as a process, then until the torrent completes
    (torrent.state events on a subscribed connection). Returns (get s, complete s
    after the start of get, torrent)."""
    c = connect(node)
    try:
        c.call('events.subscribe', {'types': ['torrent.state']})
        t0 = time.monotonic()
        out = subprocess.run([p2pctl, '-s', node.sock, '--json', 'get', str(number)],
                             capture_output=True, timeout=30)
        t_get = time.monotonic() - t0
        if out.returncode != 0:
            raise BenchError('p2pctl get %d: %s' % (number, out.stderr.decode()))
        t = json.loads(out.stdout)
        done = p2pd_wait_seeding(node, c, t['id'], timeout)
        return t_get, done - t0, t
    finally:
        c.close()


def dht_load(sharers, secs):
    """DHT lookups started and packets sent per sharer per second while idle."""
    a = [s.dht() for s in sharers]
    t0 = time.monotonic()
    time.sleep(secs)
    b = [s.dht() for s in sharers]
    dt = time.monotonic() - t0
    lk = [(y['lookups'] - x['lookups']) / dt for x, y in zip(a, b)]
    pk = [(y['traffic']['packets_out'] - x['traffic']['packets_out']) / dt for x, y in zip(a, b)]
    return lk, pk


def fmt_s(x):
    return '-' if x is None else '%.3f' % x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--p2pd', required=True)
    ap.add_argument('--p2pctl', required=True)
    ap.add_argument('--work', required=True)
    ap.add_argument('--nodes', type=int, default=13)
    ap.add_argument('--base', type=int, default=160)
    ap.add_argument('--timeout', type=int, default=2)
    ap.add_argument('--seed', type=int, default=1)
    a = ap.parse_args()
    if not 4 <= a.nodes <= 13 or a.base + a.nodes > 250:
        raise SystemExit('--nodes 4..13 within 127.0.0.2..250')
    install_signal_handlers()
    rnd = random.Random(a.seed)
    nodes, krpc = [], None
    try:
        t0 = time.monotonic()
        boot = Node(a.p2pd, os.path.join(a.work, 'n%02d' % 0), '127.0.0.%d' % a.base).wait_up()
        nodes.append(boot)
        for k in range(1, a.nodes):
            nodes.append(Node(a.p2pd, os.path.join(a.work, 'n%02d' % k),
                              '127.0.0.%d' % (a.base + k), bootstrap=boot.udp))
        for n in nodes[1:]:
            n.wait_up()
        searcher, sharers = nodes[-1], nodes[:-1]
        print('%d p2pd nodes up on 127.0.0.%d-%d in %.1f s (bootstrap %s); searcher %s'
              % (a.nodes, a.base, a.base + a.nodes - 1, time.monotonic() - t0, boot.udp,
                 searcher.ip))
        sizes, took = settle(nodes, 120.0)
        print('routing tables settled after %.1f s: nodes per table min %d, median %d, max %d'
              % (took, min(sizes), sorted(sizes)[len(sizes) // 2], max(sizes)))

        # Shares: 64-512 KiB each, the file p2pctl get downloads 16 MiB.
        torrents = []
        t1 = time.monotonic()
        for k, node in enumerate(sharers):
            for item in SHARES[k]:
                name = item[0] if isinstance(item, tuple) else item
                size = 16 * MiB if name == GET_NAME else rnd.randrange(64, 513) * 1024
                path, name, files = write_share(node, item, size)
                t = node.call('torrent.share', {'path': path}, timeout=60)
                if t['state'] != 'seeding':
                    raise BenchError('%s on %s: %s' % (name, node.ip, t['state']))
                torrents.append({'name': name, 'files': files, 'ip': node.ip, 'path': path,
                                 'node': node})
        print('%d torrents shared by %d daemons in %.1f s'
              % (len(torrents), len(sharers), time.monotonic() - t1))

        # The plan: expected names by the protocol's own matching rule.
        def expect(q):
            return {t['name'] for t in torrents
                    if matches(t['name'], q) or any(matches(f, q) for f in t['files'])}
        present = {t['name'] for t in torrents}
        plan = []
        for cls, qs in (('one name', UNIQUE), ('several names', MULTI), ('two words', TWO),
                        ('nothing', NONE)):
            for q in qs:
                e = expect(q)
                if cls in ('one name', 'two words') and len(e) != 1 or \
                        cls == 'several names' and len(e) < 2 or cls == 'nothing' and e:
                    if len(sharers) == 12:
                        raise BenchError('plan: %r (%s) matches %s' % (q, cls, sorted(e)))
                    if not e and cls != 'nothing':
                        continue        # fewer sharers: that name is not shared
                plan.append({'query': q, 'cls': cls, 'expect': e})
        rnd.shuffle(plan)
        words = sorted({w for p in plan if p['cls'] != 'nothing' for w in words_of(p['query'])}
                       | ({GET_WORD} | set(CTL_WORDS)) & {w for t in torrents
                                                          for w in words_of(t['name'])})
        krpc = Krpc('127.0.0.%d' % (a.base + a.nodes))
        waited = wait_announced(krpc, nodes, torrents, words, 120.0)
        print('all %d word keys stored with every sharer %.1f s after sharing began (checked '
              'for %.1f s, one key every 0.25 s)' % (len(words), time.monotonic() - t1, waited))
        lk, pk = dht_load(sharers, 10.0)
        print('idle sharers, over 10 s: DHT lookups started per second per daemon median '
              '%.1f (max %.1f); DHT packets sent per second per daemon median %.0f (max %.0f)'
              % (pct(lk, 50), max(lk), pct(pk, 50), max(pk)))

        limited0 = sum(n.dht()['traffic']['rate_limited'] for n in nodes)
        c = connect(searcher)
        c.call('events.subscribe', {'types': ['search.result', 'search.done']})
        res = []
        for i, p in enumerate(plan):
            r = one_search(c, p['query'], a.timeout)
            r.update(cls=p['cls'], expect=p['expect'])
            got = set(r['found'])
            r['ok'] = (got == set()) if not p['expect'] else p['expect'] <= got
            r['extra'] = sorted(got - p['expect'])
            r['unknown'] = sorted(got - present)
            hit = [r['found'][n] for n in p['expect'] if n in r['found']]
            r['all_expected'] = max(hit) if p['expect'] and len(hit) == len(p['expect']) else None
            res.append(r)
            d = r['done']
            note = ('MISSED %r ' % sorted(p['expect'] - got) if not r['ok'] else '') + \
                ('EXTRA %r ' % r['extra'] if r['extra'] else '') + \
                ('NO EVENT FOR %r' % r['lost'] if r['lost'] else '')
            print('search %2d %-14s %-26r first result %7s ms, all expected %7s ms, '
                  '%d/%d expected found, %d results (%d events, %d local), peers asked %d, '
                  'answers %d, dropped %d, done at %.2f s%s'
                  % (i + 1, '[%s]' % p['cls'], p['query'], fmt_ms(r['first']),
                     fmt_ms(r['all_expected']), len(got & p['expect']), len(p['expect']),
                     len(got), r['events'], r['local'], d['peers_asked'], d['answers'],
                     d['dropped'], d['at'], '  <-- ' + note if note else ''))
        c.close()
        limited = sum(n.dht()['traffic']['rate_limited'] for n in nodes) - limited0

        # p2pctl as a process: fresh words (never searched: no seen rows first).
        ctl = []
        for w in CTL_WORDS + [GET_WORD]:
            if not expect(w):
                continue
            first, total, rows = ctl_search(a.p2pctl, searcher, w, a.timeout)
            ctl.append((w, first, total, rows))
            print('p2pctl search --timeout %d %s: first result row after %s ms, process '
                  'ended after %s ms, %d rows %s' % (a.timeout, w, fmt_ms(first), fmt_ms(total),
                                                     len(rows), [n for _, n in rows]))
        get = None
        gw = [x for x in ctl if x[0] == GET_WORD]
        if gw and gw[0][3]:
            num = [n for n, name in gw[0][3] if name == GET_NAME]
            if not num:
                raise BenchError('p2pctl search %s did not list %s' % (GET_WORD, GET_NAME))
            t_get, t_done, t = ctl_get(a.p2pctl, searcher, num[0], 120.0)
            src = [x for x in torrents if x['name'] == GET_NAME][0]['path']
            same = same_file(src, os.path.join(searcher.dl, GET_NAME))
            get = (t_get, t_done, same)
            print('p2pctl get %d (%s, 16 MiB): p2pctl ended after %s ms, complete after %s ms '
                  '(%.0f MB/s), identical: %s' % (num[0], GET_NAME, fmt_ms(t_get), fmt_ms(t_done),
                                                  16 * MiB / t_done / 1e6, same))

        # Summary.
        print()
        want = [r for r in res if r['expect']]
        inf = float('inf')
        firsts = [r['first'] if r['ok'] and r['first'] is not None else inf for r in want]
        med = pct(firsts, 50)
        print('network searches: %d (%d for names shared, %d for words nobody shares), '
              'search timeout %d s, %d p2pd nodes'
              % (len(res), len(want), len(res) - len(want), a.timeout, a.nodes))

        def line(label, rs):
            fs = [r['first'] if r['ok'] and r['first'] is not None else inf for r in rs]
            ok = sum(1 for r in rs if r['ok'])
            nres = [len(r['found']) for r in rs]
            print('  %-16s n=%2d  search.start -> first result (ms): median %s  p90 %s  max %s;'
                  '  found the expected %d/%d;  results per search median %s (min %d, max %d)'
                  % (label, len(rs), fmt_ms(pct(fs, 50)), fmt_ms(pct(fs, 90)), fmt_ms(max(fs)),
                     ok, len(rs), pct(nres, 50), min(nres), max(nres)))
        for cls in ('one name', 'several names', 'two words'):
            rs = [r for r in want if r['cls'] == cls]
            if rs:
                line(cls, rs)
        line('all with a match', want)
        allx = [r['all_expected'] for r in res if r['cls'] == 'several names']
        allx = [x if x is not None else inf for x in allx]
        if allx:
            print('  several names: search.start -> last expected result (ms): median %s  '
                  'max %s' % (fmt_ms(pct(allx, 50)), fmt_ms(max(allx))))
        nomatch = [r for r in res if not r['expect']]
        if nomatch:
            print('  nothing        n=%2d  results: %s; search.done after (s): %s'
                  % (len(nomatch), [len(r['found']) for r in nomatch],
                     ['%.2f' % r['done']['at'] for r in nomatch]))
        extra = [r for r in res if r['extra']]
        print('  searches with results not expected: %d; results naming no shared torrent: %d; '
              'dropped (in search.done): %d'
              % (len(extra), sum(len(r['unknown']) for r in res),
                 sum(r['done']['dropped'] for r in res)))
        print('  network results in search.results that no search.result event brought: %d'
              % sum(len(r['lost']) for r in res))
        print('  search.start answer (local part) (ms): median %s  max %s;  peers asked per '
              'search median %s, answers median %s'
              % (fmt_ms(pct([r['start_rtt'] for r in res], 50)),
                 fmt_ms(max(r['start_rtt'] for r in res)),
                 pct([r['done']['peers_asked'] for r in res], 50),
                 pct([r['done']['answers'] for r in res], 50)))
        print('  DHT queries refused by the per-address rate limit (5/s), all nodes, during '
              'the searches: %d' % limited)
        if ctl:
            fs = [x[1] for x in ctl if x[1] is not None]
            print('  p2pctl search WORD (process, --timeout %d): first result row median %s ms '
                  '(%s), process end median %s ms'
                  % (a.timeout, fmt_ms(pct(fs, 50)), ', '.join(fmt_ms(x[1]) for x in ctl),
                     fmt_ms(pct([x[2] for x in ctl], 50))))
        if get:
            print('  p2pctl get N: %s ms; to complete (16 MiB): %s ms; identical: %s'
                  % (fmt_ms(get[0]), fmt_ms(get[1]), get[2]))
        rss = [nd.rss_kib() for nd in nodes]
        cur = sorted(x['VmRSS'] for x in rss[:-1])
        print('  RSS per sharer (KiB): min %d  median %d  max %d (peak max %d); searcher %d '
              '(peak %d); all %d: %.1f MiB'
              % (cur[0], cur[len(cur) // 2], cur[-1], max(x['VmHWM'] for x in rss[:-1]),
                 rss[-1]['VmRSS'], rss[-1]['VmHWM'], len(rss),
                 sum(x['VmRSS'] for x in rss) / 1024))
        verdict = 'PASS' if med < 1.0 else 'MISS'
        print('target: first result under 1 s median (searches for shared names; a miss counts '
              'as infinite): %s (%s ms)' % (verdict, fmt_ms(med) if med != inf else 'none'))
        return 0
    finally:
        if krpc:
            krpc.close()
        for nd in nodes:
            nd.close()
        stop_all()


if __name__ == '__main__':
    try:
        sys.exit(main())
    except BenchError as e:
        sys.stderr.write('search-net bench: %s\n' % e)
        sys.exit(1)
