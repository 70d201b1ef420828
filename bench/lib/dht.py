"""dht.py: the DHT lookup benchmark behind bench/dht.sh.

Starts NODES p2pd daemons with the DHT on 127.0.0.BASE.. (all bootstrapping from
the first), waits until their routing tables stop growing, then LOOKUPS times:
a seeder shares a fresh small file (a new info-hash each time) and, once its
announce is out, another node adds the magnet link (no tracker, no address) and
the time from `torrent.add` to the first peer the DHT gives it is taken
(dht.status traffic.peers_found grows; polled every few ms). The lookup of a new
torrent starts on the daemon's 1 s tick, so the figure includes 0-1 s of waiting;
the daemon's own "lookup done after" (debug log) is shown beside it. Optionally a
libtorrent session joins the same network (its only bootstrap node is the first
p2pd) and looks up the same info-hashes with dht_get_peers: the time to its
first dht_get_peers_reply_alert is the reference figure.

Everything is on 127.0.0.x; only processes started here are stopped, by pid
(benchlib.spawn gives each PR_SET_PDEATHSIG); every wait is bounded.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BenchError, Rpc, install_signal_handlers, spawn, stop,  # noqa: E402
                      stop_all, tail, wait_for)

import socket  # noqa: E402


def pct(xs, p):
    """Nearest-rank percentile (p in 0..100) of xs; None when empty."""
    xs = sorted(xs)
    if not xs:
        return None
    k = max(0, min(len(xs) - 1, int(-(-p * len(xs) // 100)) - 1))
    return xs[k]


def fmt_ms(x):
    return '-' if x is None else '%.0f' % (x * 1000)


class Node:
    """One p2pd with the DHT on, in root, listening on ip:0 (TCP and UDP)."""

    def __init__(self, binary, root, ip, bootstrap=None):
        self.binary, self.root, self.ip = binary, root, ip
        self.dl = os.path.join(root, 'dl')
        self.share = os.path.join(root, 'share')
        self.sock = os.path.join(root, 'sock')
        self.log = os.path.join(root, 'p2pd.log')
        os.makedirs(self.dl, exist_ok=True)
        os.makedirs(self.share, exist_ok=True)
        env = dict(os.environ)
        for k in ('NOTIFY_SOCKET', 'LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'):
            env.pop(k, None)
        env['HOME'] = root
        env['XDG_CONFIG_HOME'] = os.path.join(root, 'config')
        cmd = [binary, '--state-dir', root, '--download-dir', self.dl, '--socket', self.sock,
               '--listen', '%s:0' % ip, '--no-lsd', '--log-level', 'debug']
        if bootstrap:
            cmd += ['--dht-bootstrap', bootstrap]
        self.proc = spawn(cmd, log=self.log, env=env)
        self.rpc = None

    def wait_up(self):
        def up():
            if self.proc.poll() is not None:
                raise BenchError('p2pd on %s exited with %s\n%s'
                                 % (self.ip, self.proc.returncode, tail(self.log)))
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(10.0)
                s.connect(self.sock)
            except OSError:
                return False
            self.rpc = Rpc(s)
            return True
        wait_for(up, 20.0, 0.02, 'p2pd on %s to answer' % self.ip)
        st = self.call('dht.status')
        if not st.get('enabled') or not st.get('listen'):
            raise BenchError('p2pd on %s has no DHT: %s' % (self.ip, json.dumps(st)))
        self.udp = st['listen'][0]
        return self

    def call(self, method, params=None, timeout=30.0):
        return self.rpc.call(method, params, timeout)

    def dht(self):
        return self.call('dht.status')

    def rss_kib(self):
        out = {}
        with open('/proc/%d/status' % self.proc.pid) as f:
            for line in f:
                if line.startswith(('VmRSS:', 'VmHWM:')):
                    out[line.split(':')[0]] = int(line.split()[1])
        return out

    def log_size(self):
        try:
            return os.path.getsize(self.log)
        except OSError:
            return 0

    def lookup_times(self, since):
        """Durations from the 'dht: lookup done after X s' debug lines written after
        byte offset since."""
        out = []
        with open(self.log, 'rb') as f:
            f.seek(since)
            for line in f.read().decode('utf-8', 'replace').splitlines():
                if 'dht: lookup done after ' in line:
                    try:
                        out.append(float(line.split('after ', 1)[1].split(' ', 1)[0]))
                    except ValueError:
                        pass
        return out

    def close(self):
        if self.rpc:
            try:
                self.rpc.close()
            except OSError:
                pass
        rc = stop(self.proc)
        if rc not in (0, None):
            sys.stderr.write('p2pd on %s exited with %s\n%s\n' % (self.ip, rc, tail(self.log)))


class LtRef:
    """A libtorrent session in the same DHT: only bootstrap node the first p2pd."""

    def __init__(self, ip, bootstrap):
        import libtorrent as lt
        self.lt = lt
        mask = int(lt.alert_category.dht) | int(lt.alert_category.dht_operation) | \
            int(lt.alert_category.error)
        self.ses = lt.session({
            'listen_interfaces': '%s:0' % ip, 'enable_dht': True, 'enable_lsd': False,
            'enable_upnp': False, 'enable_natpmp': False,
            'enable_outgoing_utp': False, 'enable_incoming_utp': False,
            'dht_bootstrap_nodes': bootstrap,
            'dht_restrict_routing_ips': False, 'dht_restrict_search_ips': False,
            'dht_ignore_dark_internet': False, 'dht_enforce_node_id': False,
            'dht_prefer_verified_node_ids': False,
            'alert_mask': mask, 'alert_queue_size': 100000}, 0)
        self.nodes = 0

        def table():
            self.ses.post_dht_stats()
            for a in self.ses.pop_alerts():
                if isinstance(a, lt.dht_stats_alert):
                    self.nodes = sum(b['num_nodes'] for b in a.routing_table)
            return self.nodes >= 8
        wait_for(table, 30.0, 0.2, 'libtorrent DHT table to hold 8 nodes')

    def first_peer(self, ih_hex, timeout=10.0):
        """Seconds from dht_get_peers to the first reply alert with a peer."""
        lt = self.lt
        self.ses.pop_alerts()
        t0 = time.monotonic()
        self.ses.dht_get_peers(lt.sha1_hash(bytes.fromhex(ih_hex)))
        deadline = t0 + timeout
        for _ in range(int(timeout / 0.001) + 100):
            for a in self.ses.pop_alerts():
                if isinstance(a, lt.dht_get_peers_reply_alert) and \
                        str(a.info_hash) == ih_hex and a.num_peers() > 0:
                    return time.monotonic() - t0
            if time.monotonic() > deadline:
                return None
            self.ses.wait_for_alert(5)
        return None

    def table_size(self):
        self.ses.post_dht_stats()
        for _ in range(50):
            for a in self.ses.pop_alerts():
                if isinstance(a, self.lt.dht_stats_alert):
                    return sum(b['num_nodes'] for b in a.routing_table)
            time.sleep(0.02)
        return None

    def close(self):
        self.ses.pause()
        self.ses = None


def settle(nodes, timeout):
    """Until the sum of the routing tables has not changed for 5 s (bounded)."""
    t0 = time.monotonic()
    last, since = -1, time.monotonic()
    for _ in range(int(timeout / 0.5) + 10):
        sizes = [n.dht()['nodes']['ipv4'] for n in nodes]
        total = sum(sizes)
        now = time.monotonic()
        if total != last:
            last, since = total, now
        elif now - since >= 5.0 and min(sizes) >= 1:
            return sizes, now - t0
        if now - t0 > timeout:
            break
        time.sleep(0.5)
    raise BenchError('routing tables still changing after %.0f s: %s' % (timeout, sizes))


def wait_lookup_done(node, lookups_before, timeout):
    """Until node has finished one more lookup than lookups_before (none running)."""
    def done():
        st = node.dht()
        return st if st['lookups'] > lookups_before and st['lookups_running'] == 0 else None
    return wait_for(done, timeout, 0.01, 'lookup on %s to finish' % node.ip)


def one_lookup(nodes, i, seeder, leecher, size, timeout):
    """Seeder shares a fresh file; once its announce is done the leecher adds the
    magnet. Returns a dict of measurements."""
    path = os.path.join(seeder.share, 'dht-bench-%03d.bin' % i)
    with open(path, 'wb') as f:
        f.write(os.urandom(size))
    before = seeder.dht()['lookups']
    held = leecher.dht()['stored']['info_hashes']
    t = seeder.call('torrent.share', {'path': path, 'piece_length': 16384}, timeout=60)
    wait_lookup_done(seeder, before, timeout)
    time.sleep(0.05)        # the last announce_peer replies
    # The leecher may be among the nodes closest to the info-hash, which the seeder
    # announced to: its lookup then finds the peer in its own store at once.
    local = leecher.dht()['stored']['info_hashes'] > held
    magnet = seeder.call('torrent.export', {'id': t['id']})['magnet']
    if 'tr=' in magnet or 'x.pe=' in magnet:
        raise BenchError('magnet carries a tracker or a peer: %s' % magnet)

    sent0 = sum(n.dht()['traffic']['packets_out'] for n in nodes)
    st0 = leecher.dht()
    log0 = leecher.log_size()
    t0 = time.monotonic()
    leecher.call('torrent.add', {'magnet': magnet})
    found = started = None
    deadline = t0 + timeout
    for _ in range(int(timeout / 0.002) + 100):
        st = leecher.dht()
        now = time.monotonic() - t0
        if started is None and st['traffic']['queries_out'] > st0['traffic']['queries_out']:
            started = now       # the first query went out: the tick has come
        if st['traffic']['peers_found'] > st0['traffic']['peers_found']:
            found = now
            if started is None:
                started = now
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.002)
    if found is None:
        raise BenchError('lookup %d: %s found no peer for %s within %.0f s\n%s'
                         % (i, leecher.ip, t['info_hash'], timeout, tail(leecher.log)))
    st1 = wait_lookup_done(leecher, st0['lookups'], timeout)
    sent1 = sum(n.dht()['traffic']['packets_out'] for n in nodes)
    tr0, tr1 = st0['traffic'], st1['traffic']
    inside = leecher.lookup_times(log0)
    return {
        'found': found,
        'local': local,
        'wait': started,
        'first': found - started,
        'lookup_log': inside[0] if inside else None,
        'pkts': (tr1['packets_in'] - tr0['packets_in']) + (tr1['packets_out'] - tr0['packets_out']),
        'queries': tr1['queries_out'] - tr0['queries_out'],
        'net_sent': sent1 - sent0,
        'info_hash': t['info_hash'],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--p2pd', required=True)
    ap.add_argument('--work', required=True)
    ap.add_argument('--nodes', type=int, default=50)
    ap.add_argument('--lookups', type=int, default=30)
    ap.add_argument('--base', type=int, default=100, help='first node on 127.0.0.BASE')
    ap.add_argument('--size', type=int, default=65536)
    ap.add_argument('--libtorrent', type=int, default=1)
    a = ap.parse_args()
    if not 2 <= a.nodes <= 100 or a.base + a.nodes > 250:
        raise SystemExit('--nodes 2..100 within 127.0.0.2..250')
    install_signal_handlers()
    nodes, ref = [], None
    try:
        t0 = time.monotonic()
        boot = Node(a.p2pd, os.path.join(a.work, 'n%02d' % 0), '127.0.0.%d' % a.base).wait_up()
        nodes.append(boot)
        for k in range(1, a.nodes):
            nodes.append(Node(a.p2pd, os.path.join(a.work, 'n%02d' % k),
                              '127.0.0.%d' % (a.base + k), bootstrap=boot.udp))
        for n in nodes[1:]:
            n.wait_up()
        print('%d p2pd nodes up on 127.0.0.%d-%d in %.1f s (bootstrap %s)'
              % (a.nodes, a.base, a.base + a.nodes - 1, time.monotonic() - t0, boot.udp))
        sizes, took = settle(nodes, 120.0)
        print('routing tables settled after %.1f s: nodes per table min %d, median %d, max %d'
              % (took, min(sizes), sorted(sizes)[len(sizes) // 2], max(sizes)))

        if a.libtorrent:
            try:
                ref = LtRef('127.0.0.%d' % (a.base + a.nodes), boot.udp)
                print('libtorrent reference node on 127.0.0.%d, table %d nodes'
                      % (a.base + a.nodes, ref.nodes))
            except ImportError:
                print('libtorrent: python3-libtorrent not installed, no reference figure')

        res = []
        n = a.nodes
        for i in range(a.lookups):
            s = (7 * i + 3) % n
            l_ = (13 * i + 5) % n
            if l_ == s:
                l_ = (l_ + 1) % n
            r = one_lookup(nodes, i, nodes[s], nodes[l_], a.size, 30.0)
            r['lt'] = ref.first_peer(r['info_hash']) if ref else None
            res.append(r)
            print('lookup %2d: seeder %s leecher %s: first peer after %s ms (tick wait %s, '
                  'first query to first peer %s, daemon lookup %s ms), %d packets at the '
                  'leecher, %d queries, %d sent network-wide%s%s'
                  % (i + 1, nodes[s].ip, nodes[l_].ip, fmt_ms(r['found']), fmt_ms(r['wait']),
                     fmt_ms(r['first']), fmt_ms(r['lookup_log']), r['pkts'], r['queries'],
                     r['net_sent'],
                     ' (leecher held the announce itself)' if r['local'] else '',
                     '' if not ref else '; libtorrent first peer %s ms' % fmt_ms(r['lt'])))

        found = [r['found'] for r in res]
        inside = [r['lookup_log'] for r in res if r['lookup_log'] is not None]
        lt = [r['lt'] for r in res if r['lt'] is not None]
        med = pct(found, 50)
        print()
        print('DHT lookups: %d, %d p2pd nodes' % (len(res), a.nodes))
        print('  p2pd torrent.add -> first peer (ms): median %s  p90 %s  min %s  max %s'
              % (fmt_ms(med), fmt_ms(pct(found, 90)), fmt_ms(min(found)), fmt_ms(max(found))))
        first = [r['first'] for r in res]
        wait = [r['wait'] for r in res]
        print('  of which waiting for the 1 s tick (ms): median %s  p90 %s'
              % (fmt_ms(pct(wait, 50)), fmt_ms(pct(wait, 90))))
        print('  p2pd first query -> first peer, polled every 2 ms (ms): median %s  p90 %s  '
              'max %s' % (fmt_ms(pct(first, 50)), fmt_ms(pct(first, 90)), fmt_ms(max(first))))
        remote = [r['found'] for r in res if not r['local']]
        print('  %d of %d leechers held the announce themselves; without them: add -> first '
              'peer median %s  p90 %s' % (len(res) - len(remote), len(res),
                                          fmt_ms(pct(remote, 50)), fmt_ms(pct(remote, 90))))
        print('  p2pd whole lookup incl. announce, daemon log, 10 ms steps (ms): median %s  '
              'p90 %s' % (fmt_ms(pct(inside, 50)), fmt_ms(pct(inside, 90))))
        if ref:
            print('  libtorrent dht_get_peers -> first peer (ms): median %s  p90 %s  (%d of %d '
                  'found)' % (fmt_ms(pct(lt, 50)), fmt_ms(pct(lt, 90)), len(lt), len(res)))
        print('  packets per lookup at the leecher (in+out): median %s  p90 %s; queries sent: '
              'median %s; packets sent network-wide meanwhile: median %s'
              % (pct([r['pkts'] for r in res], 50), pct([r['pkts'] for r in res], 90),
                 pct([r['queries'] for r in res], 50), pct([r['net_sent'] for r in res], 50)))
        rss = [nd.rss_kib() for nd in nodes]
        cur = sorted(x['VmRSS'] for x in rss)
        hwm = sorted(x['VmHWM'] for x in rss)
        print('  RSS per p2pd (KiB): min %d  median %d  max %d  (peak: median %d, max %d); '
              'all %d: %.1f MiB'
              % (cur[0], cur[len(cur) // 2], cur[-1], hwm[len(hwm) // 2], hwm[-1], len(cur),
                 sum(cur) / 1024))
        st = [nd.dht() for nd in nodes]
        print('  routing table sizes now: min %d  median %d  max %d'
              % (min(x['nodes']['ipv4'] for x in st),
                 sorted(x['nodes']['ipv4'] for x in st)[len(st) // 2],
                 max(x['nodes']['ipv4'] for x in st)))
        if ref:
            print('  libtorrent reference node: %s nodes in its table' % ref.table_size())
        verdict = 'PASS' if med is not None and med < 1.0 else 'MISS'
        print('target: median under 1 s from torrent.add to the first peer: %s (%s ms)'
              % (verdict, fmt_ms(med)))
        return 0
    finally:
        if ref:
            ref.close()
        for nd in nodes:
            nd.close()
        stop_all()


if __name__ == '__main__':
    try:
        sys.exit(main())
    except BenchError as e:
        sys.stderr.write('dht bench: %s\n' % e)
        sys.exit(1)
