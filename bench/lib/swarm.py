#!/usr/bin/python3
"""swarm.py: the body of bench/swarm.sh (see there).

1 seeder + N leechers of one client at a time (p2pd, aria2, libtorrent), all on
127.0.0.1, the same file and piece length; the time from the start until every
leecher has the whole file. Every copy is compared with the original afterwards.

How the leechers find each other:
- p2pd (no tracker client yet): peer.add of the seeder and of every other leecher
  on each leecher; max_connections_per_ip raised with session.set on every
  daemon, since all peers share 127.0.0.1.
- aria2: bench/lib/tracker.py, in this process, on 127.0.0.1 (interval 2 s).
- libtorrent: connect_peer to the seeder and every other leecher, like p2pd.

Clock: p2pd from the first peer.add; aria2 from starting the leecher processes
(completion from an --on-bt-download-complete hook that writes the time);
libtorrent from sending "go" to the leechers (done = finished and flushed).

usage: swarm.py --file F --piece N --work DIR --leechers N [--p2pd BIN] [--runs R]
                [--clients "p2pd aria2 libtorrent"]
"""

import argparse
import os
import select
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import (BenchError, LtPeer, P2pd, aria2_cmd, free_port,  # noqa: E402
                      install_signal_handlers, make_torrent, median, piece_hashes,
                      port_listening, rm, same_file, spawn, stop, stop_all, tail, wait_for)
from tracker import Tracker  # noqa: E402

A = None
TRACKER = None


def xfer_timeout():
    return max(180.0, A.size * A.leechers / 5e6)


def check_copies(paths, who):
    bad = [p for p in paths if not same_file(p, A.file)]
    if bad:
        raise BenchError('%s: %d copies differ from the original: %s' % (who, len(bad), bad[:4]))


def run_p2pd(r):
    base = os.path.join(A.work, 'p2pd-%d' % r)
    daemons = []
    conns = []
    try:
        sd = P2pd(A.p2pd, os.path.join(base, 'seed')).start()
        daemons.append(sd)
        t = sd.call('torrent.share', {'path': A.file, 'piece_length': A.piece}, timeout=600)
        meta = sd.call('torrent.export', {'id': t['id']})['metainfo']
        leechers = []
        for i in range(A.leechers):
            d = P2pd(A.p2pd, os.path.join(base, 'l%d' % i)).start()
            daemons.append(d)
            leechers.append(d)
        for d in daemons:
            d.call('session.set', {'key': 'max_connections_per_ip', 'value': A.leechers + 8})
        ports = [d.port() for d in daemons]
        tids = []
        for d in leechers:
            c = d.connect()
            conns.append(c)
            c.call('events.subscribe', {})
            tids.append(c.call('torrent.add', {'metainfo': meta})['id'])
        t0 = time.monotonic()
        for i, c in enumerate(conns):
            for j, p in enumerate(ports):
                if j != i + 1:
                    c.call('peer.add', {'id': tids[i], 'address': '127.0.0.1:%d' % p})
        done = [None] * len(leechers)
        deadline = t0 + xfer_timeout()
        last_poll = 0.0
        last_total, last_change = -1, time.monotonic()
        for _ in range(1000000):
            if all(done):
                break
            now = time.monotonic()
            if now > deadline:
                raise BenchError('p2pd swarm not done within %.0f s; done (s): %s'
                                 % (xfer_timeout(), ['%.2f' % (x - t0) if x else None
                                                     for x in done]))
            select.select([c for i, c in enumerate(conns) if not done[i]], [], [], 0.05)
            for i, c in enumerate(conns):
                if done[i]:
                    continue
                for ev in c.poll_events(0):
                    if ev.get('type') == 'torrent.completed' or \
                            (ev.get('type') == 'torrent.state' and ev.get('to') == 'seeding'):
                        done[i] = done[i] or time.monotonic()
            if now - last_poll >= 1.0:
                last_poll = now
                total = 0
                for i, c in enumerate(conns):
                    if leechers[i].proc.poll() is not None:
                        raise BenchError('p2pd leecher %d exited with %s\n%s' % (
                            i, leechers[i].proc.returncode, tail(leechers[i].log)))
                    if done[i]:
                        continue
                    t = c.call('torrent.get', {'id': tids[i]})
                    if t['state'] == 'seeding':
                        done[i] = time.monotonic()
                    elif t['state'] == 'error':
                        raise BenchError('p2pd leecher %d: torrent error %s' % (i, t.get('error')))
                    total += t['have_bytes']
                if total != last_total:
                    last_total, last_change = total, now
                elif now - last_change > 30:
                    i = done.index(None)
                    rel = ['%.2f' % (x - t0) if x else None for x in done]
                    raise BenchError('p2pd swarm made no progress for 30 s; done (s): %s; ports: '
                                     'seeder %d, leechers %s\n--- leecher %d ---\n%s\n'
                                     '--- seeder ---\n%s'
                                     % (rel, ports[0], ports[1:], i, tail(leechers[i].log),
                                        tail(sd.log)))
        check_copies([os.path.join(d.dl, os.path.basename(A.file)) for d in leechers], 'p2pd')
        return [x - t0 for x in done]
    finally:
        for c in conns:
            c.close()
        for d in daemons:
            d.stop()
        rm(base)


def run_aria2(r):
    TRACKER.reset()
    base = os.path.join(A.work, 'aria2-%d' % r)
    os.makedirs(base)
    procs = []
    try:
        ps = free_port()
        seeder = spawn(aria2_cmd(A.torrent_tracker, os.path.dirname(A.file), ps,
                                 os.path.join(base, 'seed.log'), seed=True),
                       log=os.path.join(base, 'seed.out'), cwd=base)
        procs.append(seeder)

        def seeding():
            if seeder.poll() is not None:
                raise BenchError('aria2 seeder exited with %s\n%s'
                                 % (seeder.returncode, tail(os.path.join(base, 'seed.log'))))
            return port_listening(ps) and any(
                p == ps and v[0] == 0 for (_, p), v in TRACKER.peers(A.ih_tracker).items())
        wait_for(seeding, 600, 0.05, 'the aria2 seeder to announce itself complete')
        markers, cmds = [], []
        for i in range(A.leechers):
            d = os.path.join(base, 'l%d' % i)
            os.makedirs(d)
            marker = os.path.join(d, 'done')
            hook = os.path.join(d, 'hook.sh')
            with open(hook, 'w') as f:
                f.write('#!/bin/sh\ndate +%%s.%%N >"%s.tmp" && mv "%s.tmp" "%s"\n'
                        % (marker, marker, marker))
            os.chmod(hook, 0o755)
            markers.append(marker)
            cmds.append((aria2_cmd(A.torrent_tracker, os.path.join(d, 'dl'), free_port(),
                                   os.path.join(d, 'aria2.log'), seed=True,
                                   extra=['--on-bt-download-complete=%s' % hook]), d))
        t0 = time.time()
        for cmd, d in cmds:
            procs.append(spawn(cmd, log=os.path.join(d, 'aria2.out'), cwd=d))
        done = [None] * A.leechers
        deadline = time.monotonic() + xfer_timeout()
        for _ in range(10000000):
            for i, m in enumerate(markers):
                if done[i] is None and os.path.exists(m):
                    with open(m) as f:
                        done[i] = float(f.read().strip()) - t0
            if all(x is not None for x in done):
                break
            for i, p in enumerate(procs[1:]):
                if p.poll() is not None:
                    raise BenchError('aria2 leecher %d exited with %s\n%s' % (
                        i, p.returncode, tail(os.path.join(base, 'l%d' % i, 'aria2.log'))))
            if time.monotonic() > deadline:
                raise BenchError('aria2 swarm not done within %.0f s; done: %s'
                                 % (xfer_timeout(), done))
            time.sleep(0.02)
        for p in procs:         # aria2 flushes its disk cache as it stops
            stop(p)
        check_copies([os.path.join(base, 'l%d' % i, 'dl', os.path.basename(A.file))
                      for i in range(A.leechers)], 'aria2')
        return done
    finally:
        for p in procs:
            stop(p)
        rm(base)


def run_libtorrent(r):
    base = os.path.join(A.work, 'lt-%d' % r)
    os.makedirs(base)
    peers = []
    try:
        seeder = LtPeer('seed', A.torrent_plain, os.path.dirname(A.file),
                        os.path.join(base, 'seed.log'))
        peers.append(seeder)
        seeder.expect('ready', 600)
        leechers = []
        for i in range(A.leechers):
            p = LtPeer('leech', A.torrent_plain, os.path.join(base, 'l%d' % i),
                       os.path.join(base, 'l%d.log' % i))
            peers.append(p)
            leechers.append(p)
        for p in leechers:
            p.expect('ready', 60)
        ports = [p.port for p in peers]
        t0 = time.monotonic()
        for i, p in enumerate(leechers):
            p.send('go ' + ' '.join(str(x) for j, x in enumerate(ports) if j != i + 1))
        deadline = t0 + xfer_timeout()
        done = []
        for p in leechers:
            m = p.expect('done', max(1.0, deadline - time.monotonic()))
            done.append(m['t1'] - t0)
        check_copies([os.path.join(base, 'l%d' % i, os.path.basename(A.file))
                      for i in range(A.leechers)], 'libtorrent')
        return done
    finally:
        for p in peers:
            p.stop()
        rm(base)


RUNNERS = {'p2pd': run_p2pd, 'aria2': run_aria2, 'libtorrent': run_libtorrent}


def main():
    global A, TRACKER
    ap = argparse.ArgumentParser()
    ap.add_argument('--file', required=True)
    ap.add_argument('--piece', type=int, required=True)
    ap.add_argument('--work', required=True)
    ap.add_argument('--leechers', type=int, default=8)
    ap.add_argument('--p2pd', default='')
    ap.add_argument('--runs', type=int, default=1)
    ap.add_argument('--clients', default='p2pd aria2 libtorrent')
    A = ap.parse_args()
    A.size = os.path.getsize(A.file)
    clients = A.clients.split()
    for c in clients:
        if c not in RUNNERS:
            sys.exit('unknown client %r (known: %s)' % (c, ' '.join(RUNNERS)))
    if 'p2pd' in clients and not A.p2pd:
        sys.exit('--p2pd is needed for the p2pd runs')
    install_signal_handlers()
    results = {c: [] for c in clients}
    try:
        TRACKER = Tracker(interval=2).start()
        sys.stderr.write('hashing %s for the aria2 and libtorrent .torrent files\n' % A.file)
        pieces = piece_hashes(A.file, A.piece)
        A.torrent_plain = os.path.join(A.work, 'plain.torrent')
        A.torrent_tracker = os.path.join(A.work, 'tracker.torrent')
        raw, _ = make_torrent(A.file, A.piece, pieces=pieces)
        with open(A.torrent_plain, 'wb') as f:
            f.write(raw)
        raw, A.ih_tracker = make_torrent(A.file, A.piece, pieces=pieces, trackers=[TRACKER.url])
        with open(A.torrent_tracker, 'wb') as f:
            f.write(raw)
        for r in range(1, A.runs + 1):
            for c in clients:
                sys.stderr.write('run %d of %d: %s, 1 seeder + %d leechers ... '
                                 % (r, A.runs, c, A.leechers))
                sys.stderr.flush()
                try:
                    times = RUNNERS[c](r)
                    sys.stderr.write('all done in %.2f s (first %.2f s)\n'
                                     % (max(times), min(times)))
                except BenchError as e:
                    times = None
                    sys.stderr.write('FAILED: %s\n' % e)
                results[c].append(times)
    finally:
        stop_all()
        if TRACKER:
            TRACKER.stop()
    report(clients, results)
    return 0 if all(all(x is not None for x in v) for v in results.values()) else 1


def report(clients, results):
    print()
    print('file: %d bytes, piece length %d, 1 seeder + %d leechers, %d cores, median of %d '
          'runs, tmp %s' % (A.size, A.piece, A.leechers, os.cpu_count(), A.runs, A.work))
    if A.p2pd:
        print('p2pd: %s' % A.p2pd)
    print('%-12s %12s %12s %12s %14s  %s' % ('client', 'all done s', 'first s', 'median s',
                                             'aggregate MB/s', 'runs (all done, s)'))
    med = {}
    for c in clients:
        ok = [x for x in results[c] if x]
        runs = ' '.join('%.2f' % max(x) if x else 'FAIL' for x in results[c])
        if not ok:
            print('%-12s %12s %12s %12s %14s  %s' % (c, 'FAIL', '-', '-', '-', runs))
            continue
        alld = median([max(x) for x in ok])
        first = median([min(x) for x in ok])
        mid = median([median(x) for x in ok])
        med[c] = alld
        print('%-12s %12.2f %12.2f %12.2f %14.0f  %s'
              % (c, alld, first, mid, A.size * A.leechers / alld / 1e6, runs))
    print()
    for c in clients:
        for i, x in enumerate(results[c]):
            if x:
                print('%s run %d, each leecher done at (s): %s'
                      % (c, i + 1, ' '.join('%.2f' % v for v in sorted(x))))
    print()
    if 'p2pd' in med:
        for other in ('aria2', 'libtorrent'):
            if other in med:
                print('all-done time ratio %s/p2pd: %.2f (above 1: p2pd is faster)'
                      % (other, med[other] / med['p2pd']))


if __name__ == '__main__':
    sys.exit(main())
