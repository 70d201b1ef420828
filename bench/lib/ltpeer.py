#!/usr/bin/python3
"""ltpeer.py seed|leech TORRENT DIR: one libtorrent peer for the benchmarks.

libtorrent (python3-libtorrent) on 127.0.0.1:0, TCP only (uTP, DHT, LSD, UPnP,
NAT-PMP off; no default plugins, hence no PEX), several connections per IP
allowed (every peer here is 127.0.0.1). Driven over stdin/stdout, one JSON
object per output line:

  -> {"event":"listening","port":P}
  -> {"event":"ready"}            seed: data checked and seeding; leech: added
  <- connect P [P...]             connect_peer to 127.0.0.1:P
  <- go [P...]                    leech: start the clock, connect to the ports
  -> {"event":"done","t0":..,"t1":..,"cpu":..,"hwm_kib":..}
                                  leech: finished AND flushed to disk
                                  (t0, t1: CLOCK_MONOTONIC; cpu: user+sys
                                  seconds of this process between go and done)
  <- quit                         (or EOF on stdin)

It stays up (seeding) until quit, so a swarm keeps its sources. It gives up
after --max-seconds (default 3600).
"""

import json
import os
import resource
import select
import sys
import time

import libtorrent as lt


def out(**kw):
    sys.stdout.write(json.dumps(kw) + '\n')
    sys.stdout.flush()


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def hwm_kib():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    return 0


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ('seed', 'leech'):
        sys.exit(__doc__)
    mode, torrent, data_dir = sys.argv[1:4]
    max_seconds = 3600.0
    if '--max-seconds' in sys.argv:
        max_seconds = float(sys.argv[sys.argv.index('--max-seconds') + 1])
    settings = {
        'listen_interfaces': '127.0.0.1:0',
        'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False,
        'enable_natpmp': False, 'enable_outgoing_utp': False, 'enable_incoming_utp': False,
        'dht_bootstrap_nodes': '', 'allow_multiple_connections_per_ip': True,
        'alert_mask': int(lt.alert_category.error) | int(lt.alert_category.status)
        | int(lt.alert_category.storage),
    }
    ses = lt.session(settings, 0)
    start = time.monotonic()
    port = 0
    for _ in range(2000):
        port = ses.listen_port()
        if port:
            break
        ses.wait_for_alert(10)
        ses.pop_alerts()
    if not port:
        out(event='error', message='not listening')
        return 1
    out(event='listening', port=port)

    with open(torrent, 'rb') as f:
        ti = lt.torrent_info(lt.bdecode(f.read()))
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = data_dir
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    h = ses.add_torrent(atp)

    ready = False
    t0 = cpu0 = None
    finished = flushing = False
    buf = b''
    for _ in range(int(max_seconds * 100) + 100):
        if time.monotonic() - start > max_seconds:
            out(event='error', message='gave up after %.0f s' % max_seconds)
            return 1
        for a in ses.pop_alerts():
            name = type(a).__name__
            if name.endswith('error_alert') or name == 'file_error_alert':
                sys.stderr.write('%s: %s\n' % (name, a.message()))
            if name == 'cache_flushed_alert' and flushing:
                out(event='done', t0=t0, t1=time.monotonic(), cpu=cpu() - cpu0,
                    hwm_kib=hwm_kib())
                flushing = False
        st = h.status()
        if not ready and (mode == 'leech' or str(st.state) == 'seeding'):
            ready = True
            out(event='ready')
        if mode == 'leech' and t0 is not None and not finished and st.is_finished:
            finished = flushing = True
            h.flush_cache()
        r, _, _ = select.select([sys.stdin], [], [], 0.01)
        if r:
            chunk = os.read(sys.stdin.fileno(), 65536)
            if not chunk:
                return 0
            buf += chunk
            while b'\n' in buf:
                line, buf = buf.split(b'\n', 1)
                words = line.decode().split()
                if not words:
                    continue
                if words[0] == 'quit':
                    return 0
                if words[0] == 'go':
                    t0, cpu0 = time.monotonic(), cpu()
                if words[0] in ('go', 'connect'):
                    for p in words[1:]:
                        h.connect_peer(('127.0.0.1', int(p)))
    out(event='error', message='loop bound reached')
    return 1


if __name__ == '__main__':
    sys.exit(main())
