#!/usr/bin/python3
"""tracker.py: a minimal HTTP BitTorrent tracker (BEP 3, BEP 23 compact peers) for
the benchmarks, bound to 127.0.0.1 only.

It answers /announce with every peer that announced the same info-hash (except the
asker), compact, and remembers peers until they send event=stopped. Peer
addresses are the connection's source address (always 127.0.0.1 here) and the
`port` parameter. No whitelist, no scrape, no persistence. Use it in-process
(Tracker().start()) or standalone: tracker.py [--port N] prints its announce URL.
"""

import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _benc(v):
    if isinstance(v, int):
        return b'i%de' % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b'%d:%s' % (len(v), v)
    if isinstance(v, dict):
        return b'd' + b''.join(_benc(k) + _benc(v[k]) for k in sorted(v)) + b'e'
    raise TypeError(type(v))


class Tracker:
    def __init__(self, port=0, interval=2):
        self.interval = interval
        self.lock = threading.Lock()
        self.swarms = {}        # info_hash -> {(ip, port): (left, time)}
        self.announces = 0
        tracker = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                tracker.handle(self)

        self.server = ThreadingHTTPServer(('127.0.0.1', port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = 'http://127.0.0.1:%d/announce' % self.port
        self.thread = None

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def reset(self):
        """Forgets every peer (a new run starts with an empty swarm)."""
        with self.lock:
            self.swarms.clear()

    def peers(self, info_hash):
        with self.lock:
            return dict(self.swarms.get(info_hash, {}))

    def handle(self, req):
        url = urllib.parse.urlsplit(req.path)
        if url.path != '/announce':
            return self.reply(req, {'failure reason': 'unknown path'}, 404)
        q = {}
        for k, v in urllib.parse.parse_qsl(url.query, keep_blank_values=True,
                                           encoding='latin-1'):
            q[k] = v.encode('latin-1')
        ih = q.get('info_hash', b'')
        try:
            port = int(q.get('port', b'0'))
            left = int(q.get('left', b'0') or 0)
        except ValueError:
            port = 0
            left = 0
        if len(ih) != 20 or not 0 < port < 65536:
            return self.reply(req, {'failure reason': 'bad info_hash or port'})
        ip = req.client_address[0]
        if not ip.startswith('127.'):
            return self.reply(req, {'failure reason': 'loopback only'})
        event = q.get('event', b'').decode('latin-1')
        me = (ip, port)
        with self.lock:
            self.announces += 1
            swarm = self.swarms.setdefault(ih, {})
            if event == 'stopped':
                swarm.pop(me, None)
            else:
                swarm[me] = (left, time.monotonic())
            others = [(a, p) for (a, p) in swarm if (a, p) != me]
            complete = sum(1 for v in swarm.values() if v[0] == 0)
            incomplete = len(swarm) - complete
        compact = b''.join(bytes(int(x) for x in a.split('.')) + p.to_bytes(2, 'big')
                           for a, p in others)
        self.reply(req, {'interval': self.interval, 'min interval': 1, 'complete': complete,
                         'incomplete': incomplete, 'peers': compact})

    def reply(self, req, d, code=200):
        body = _benc(d)
        req.send_response(code)
        req.send_header('Content-Type', 'text/plain')
        req.send_header('Content-Length', str(len(body)))
        req.end_headers()
        req.wfile.write(body)


if __name__ == '__main__':
    port = int(sys.argv[sys.argv.index('--port') + 1]) if '--port' in sys.argv else 0
    t = Tracker(port)
    print(t.url, flush=True)
    try:
        t.server.serve_forever()
    except KeyboardInterrupt:
        pass
