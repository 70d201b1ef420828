#!/usr/bin/python3
"""transfer.py: the body of bench/transfer.sh (see there and bench/README.md).

One seeder to one leecher over loopback, for p2pd -> p2pd, aria2 -> aria2 and
libtorrent -> libtorrent, plus socat file -> TCP -> file as the ceiling; the same
file and piece length for all; RUNS runs with the clients interleaved, median
reported. Per leecher: wall time from "go" (p2pd: peer.add; aria2: process start;
libtorrent: connect_peer) until it has the whole file (p2pd: state seeding;
aria2: exit after completion; libtorrent: finished and cache flushed), CPU seconds
(user+sys) and peak RSS (VmHWM / ru_maxrss). Every copy is compared with the
original (cmp) after the clock stops.

usage: transfer.py --file F --piece N --work DIR [--p2pd BIN] [--runs R]
                   [--clients "p2pd aria2 libtorrent socat"]
"""

import argparse
import datetime
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import (BenchError, LtPeer, P2pd, aria2_cmd, free_port, install_signal_handlers,  # noqa: E402
                      make_torrent, median, p2pd_wait_seeding, piece_hashes, port_listening, proc_cpu,
                      proc_hwm_kib, rm, same_file, spawn, stop, stop_all, tail, wait4, wait_for)
from tracker import Tracker  # noqa: E402

A = None
TRACKER = None


def xfer_timeout():
    return max(120.0, A.size / 5e6)


def run_p2pd(r):
    sd = P2pd(A.p2pd, os.path.join(A.work, 'p2pd-seed%d' % r)).start()
    ld = None
    try:
        t = sd.call('torrent.share', {'path': A.file, 'piece_length': A.piece}, timeout=600)
        meta = sd.call('torrent.export', {'id': t['id']})['metainfo']
        port = sd.port()
        ld = P2pd(A.p2pd, os.path.join(A.work, 'p2pd-leech%d' % r)).start()
        conn = ld.connect()
        conn.call('events.subscribe', {})
        tid = conn.call('torrent.add', {'metainfo': meta})['id']
        cpu0 = proc_cpu(ld.pid)
        t0 = time.monotonic()
        conn.call('peer.add', {'id': tid, 'address': '127.0.0.1:%d' % port})
        try:
            t1 = p2pd_wait_seeding(ld, conn, tid, xfer_timeout())
        except BenchError as e:
            raise BenchError('%s\n--- seeder ---\n%s\n--- leecher ---\n%s'
                             % (e, tail(sd.log), tail(ld.log)))
        cpu = proc_cpu(ld.pid) - cpu0
        hwm = proc_hwm_kib(ld.pid)
        conn.close()
        got = os.path.join(ld.dl, os.path.basename(A.file))
        if not same_file(got, A.file):
            raise BenchError('p2pd leecher copy %s differs from the original' % got)
        return t1 - t0, cpu, hwm
    finally:
        sd.stop()
        if ld:
            ld.stop()
        rm(sd.root)
        if ld:
            rm(ld.root)


def run_aria2(r):
    TRACKER.reset()
    d = os.path.join(A.work, 'aria2-%d' % r)
    os.makedirs(d)
    ps, pl = free_port(), free_port()
    seeder = spawn(aria2_cmd(A.torrent_tracker, os.path.dirname(A.file), ps,
                             os.path.join(d, 'seed.log'), seed=True),
                   log=os.path.join(d, 'seed.out'), cwd=d)
    leecher = None
    try:
        def seeding():
            if seeder.poll() is not None:
                raise BenchError('aria2 seeder exited with %s\n%s'
                                 % (seeder.returncode, tail(os.path.join(d, 'seed.log'))))
            peers = TRACKER.peers(A.ih_tracker)
            return port_listening(ps) and any(p == ps and v[0] == 0
                                              for (_, p), v in peers.items())
        wait_for(seeding, 600, 0.05, 'the aria2 seeder to announce itself complete')
        ldir = os.path.join(d, 'dl')
        llog = os.path.join(d, 'leech.log')
        t0, t0_wall = time.monotonic(), time.time()
        leecher = spawn(aria2_cmd(A.torrent_tracker, ldir, pl, llog, seed=False,
                                  extra=['--seed-time=0', '--log-level=info']),
                        log=os.path.join(d, 'leech.out'), cwd=d)
        res = wait4(leecher, xfer_timeout())
        t1 = time.monotonic()
        if res is None or res[0] != 0:
            raise BenchError('aria2 leecher %s\n%s\n%s' % (
                'timed out' if res is None else 'exited with %s' % res[0],
                tail(os.path.join(d, 'leech.log')), tail(os.path.join(d, 'seed.log'))))
        got = os.path.join(ldir, os.path.basename(A.file))
        if not same_file(got, A.file):
            raise BenchError('aria2 leecher copy %s differs from the original' % got)
        # aria2 dials the peers the tracker gave it on its next one-second tick;
        # p2pd dials at once on peer.add. The clock starts at aria2's first dial
        # to the seeder (from its log) so that the two are timed alike; the lag
        # before it is reported apart.
        tc = aria2_first_dial(llog, ps)
        lag = min(max(0.0, tc - t0_wall), t1 - t0) if tc else 0.0
        STARTUP_LAG.setdefault('aria2', []).append(lag)
        return t1 - t0 - lag, res[1], res[2]
    finally:
        stop(leecher)
        stop(seeder)
        rm(d)


def run_libtorrent(r):
    d = os.path.join(A.work, 'lt-%d' % r)
    os.makedirs(d)
    seeder = leecher = None
    try:
        seeder = LtPeer('seed', A.torrent_plain, os.path.dirname(A.file),
                        os.path.join(d, 'seed.log'))
        seeder.expect('ready', 600)
        ldir = os.path.join(d, 'dl')
        leecher = LtPeer('leech', A.torrent_plain, ldir, os.path.join(d, 'leech.log'))
        leecher.expect('ready', 60)
        leecher.send('go %d' % seeder.port)
        m = leecher.expect('done', xfer_timeout())
        got = os.path.join(ldir, os.path.basename(A.file))
        if not same_file(got, A.file):
            raise BenchError('libtorrent leecher copy %s differs from the original' % got)
        return m['t1'] - m['t0'], m['cpu'], m['hwm_kib']
    finally:
        if leecher:
            leecher.stop()
        if seeder:
            seeder.stop()
        rm(d)


def run_socat(r):
    out = os.path.join(A.work, 'socat.out')
    port = free_port()
    recv = spawn(['socat', '-u', '-b', '131072',
                  'TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr' % port, 'CREATE:%s' % out])
    send = None
    try:
        wait_for(lambda: port_listening(port), 10, 0.01, 'socat listening')
        t0 = time.monotonic()
        send = spawn(['socat', '-u', '-b', '131072', 'OPEN:%s,rdonly' % A.file,
                      'TCP:127.0.0.1:%d' % port])
        res = wait4(recv, xfer_timeout())
        t1 = time.monotonic()
        if res is None or res[0] != 0:
            raise BenchError('socat receiver %s' % ('timed out' if res is None
                                                    else 'exited with %s' % res[0]))
        if not same_file(out, A.file):
            raise BenchError('socat copy differs from the original')
        return t1 - t0, res[1], res[2]
    finally:
        stop(send)
        stop(recv)
        rm(out)


def aria2_first_dial(log, port):
    """Wall-clock time of aria2's first "Connecting to 127.0.0.1:port" (its log
    has local-time stamps with microseconds), or None."""
    needle = 'Connecting to 127.0.0.1:%d' % port
    try:
        with open(log, errors='replace') as f:
            for line in f:
                if needle in line and 'PeerInitiateConnection' in line:
                    return datetime.datetime.strptime(line[:26], '%Y-%m-%d %H:%M:%S.%f') \
                        .timestamp()
    except (OSError, ValueError):
        pass
    return None


STARTUP_LAG = {}

RUNNERS = {'p2pd': run_p2pd, 'aria2': run_aria2, 'libtorrent': run_libtorrent,
           'socat': run_socat}
LABELS = {'p2pd': 'p2pd -> p2pd', 'aria2': 'aria2 -> aria2',
          'libtorrent': 'libtorrent -> libtorrent', 'socat': 'socat file->TCP->file'}


def main():
    global A, TRACKER
    ap = argparse.ArgumentParser()
    ap.add_argument('--file', required=True)
    ap.add_argument('--piece', type=int, required=True)
    ap.add_argument('--work', required=True)
    ap.add_argument('--p2pd', default='')
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--clients', default='p2pd aria2 libtorrent socat')
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
        TRACKER = Tracker().start()
        sys.stderr.write('hashing %s for the aria2 and libtorrent .torrent files\n' % A.file)
        A.torrent_plain = os.path.join(A.work, 'plain.torrent')
        A.torrent_tracker = os.path.join(A.work, 'tracker.torrent')
        pieces = piece_hashes(A.file, A.piece)
        raw, _ = make_torrent(A.file, A.piece, pieces=pieces)
        with open(A.torrent_plain, 'wb') as f:
            f.write(raw)
        raw2, A.ih_tracker = make_torrent(A.file, A.piece, pieces=pieces,
                                          trackers=[TRACKER.url])
        with open(A.torrent_tracker, 'wb') as f:
            f.write(raw2)
        for r in range(1, A.runs + 1):
            for c in clients:
                sys.stderr.write('run %d of %d: %s ... ' % (r, A.runs, LABELS[c]))
                sys.stderr.flush()
                try:
                    res = RUNNERS[c](r)
                    sys.stderr.write('%.2f s, %.0f MB/s, cpu %.2f s, rss %.0f MiB\n'
                                     % (res[0], A.size / res[0] / 1e6, res[1], res[2] / 1024))
                except BenchError as e:
                    res = None
                    sys.stderr.write('FAILED: %s\n' % e)
                results[c].append(res)
    finally:
        stop_all()
        if TRACKER:
            TRACKER.stop()
    report(clients, results)
    return 0 if all(all(x is not None for x in v) for v in results.values()) else 1


def report(clients, results):
    med = {}
    print()
    print('file: %d bytes, piece length %d, %d cores, median of %d runs, tmp %s'
          % (A.size, A.piece, os.cpu_count(), A.runs, A.work))
    if A.p2pd:
        print('p2pd: %s' % A.p2pd)
    print('%-26s %9s %9s %14s %14s  %s' % ('seeder -> leecher', 'seconds', 'MB/s',
                                           'leecher CPU s', 'leecher RSS', 'runs (s)'))
    for c in clients:
        ok = [x for x in results[c] if x is not None]
        runs = ' '.join('%.2f' % x[0] if x else 'FAIL' for x in results[c])
        if not ok:
            print('%-26s %9s %9s %14s %14s  %s' % (LABELS[c], 'FAIL', '-', '-', '-', runs))
            continue
        t = median([x[0] for x in ok])
        cpu = median([x[1] for x in ok])
        rss = median([x[2] for x in ok])
        med[c] = (t, cpu, rss)
        print('%-26s %9.2f %9.0f %14.2f %10.0f MiB  %s'
              % (LABELS[c], t, A.size / t / 1e6, cpu, rss / 1024, runs))
    print()
    if 'p2pd' in med:
        for other in ('aria2', 'libtorrent', 'socat'):
            if other in med:
                print('speed p2pd/%s: %.2f   CPU p2pd/%s: %.2f'
                      % (other, med[other][0] / med['p2pd'][0], other,
                         med['p2pd'][1] / med[other][1] if med[other][1] else float('nan')))
    if STARTUP_LAG.get('aria2'):
        print('aria2 seconds count from its first dial to the seeder; before it, a median '
              '%.2f s went to start-up, announce and its one-second dial tick'
              % median(STARTUP_LAG['aria2']))
    print('(libtorrent RSS includes the mmap-ed file pages and the Python interpreter)')


if __name__ == '__main__':
    sys.exit(main())
