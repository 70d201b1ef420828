"""hostile_peer: a scripted BitTorrent peer on a raw socket, for tests that
break the wire protocol on purpose (tests/hostile, tests/transfer/test_protocol).

RawPeer speaks just enough BEP 3 (and the BEP 6 / BEP 10 reserved bits when
asked) to get past the handshake, then sends whatever the test wants, byte for
byte. Also here: reading a process's RSS and open fds from /proc, and raising
this process's fd limit for tests that open many sockets.

Standard library only. Every wait is bounded in time and every loop in count.
"""

import hashlib
import os
import resource
import socket
import struct
import time

CLOSE_TIMEOUT = 5.0

# Message ids of BEP 3 and BEP 6.
CHOKE, UNCHOKE, INTERESTED, NOT_INTERESTED, HAVE, BITFIELD, REQUEST, PIECE, CANCEL = range(9)
HAVE_ALL, HAVE_NONE, REJECT = 0x0e, 0x0f, 0x10

RESERVED_FAST = bytes(7) + b'\x04'      # BEP 6: bit 0x04 of the last reserved byte


def handshake_bytes(info_hash, reserved=bytes(8), peer_id=None):
    """The 68-byte BEP 3 handshake."""
    if peer_id is None:
        peer_id = b'-PY0001-' + hashlib.sha1(os.urandom(8)).digest()[:12]
    return b'\x13BitTorrent protocol' + reserved + info_hash + peer_id


def msg_bytes(mid, payload=b''):
    return struct.pack('>IB', 1 + len(payload), mid) + payload


class RawPeer:
    """A plain BEP 3 peer (no extension bits unless asked) bound to its own 127.x.y.z."""

    def __init__(self, src, addr, timeout=CLOSE_TIMEOUT, rcvbuf=None):
        host, port = addr.rsplit(':', 1)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if rcvbuf:
            # Before connect, so the window stays small: what p2pd cannot send
            # then piles up in p2pd, not in our kernel.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind((src, 0))
        self.sock.connect((host, int(port)))
        self.buf = b''
        # 'ip:port' of our end, as p2pd logs it (kept: usable after a close).
        self.local = '%s:%d' % self.sock.getsockname()[:2]

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def handshake(self, info_hash, reserved=bytes(8)):
        self.send(handshake_bytes(info_hash, reserved))

    def recv_exact(self, n, timeout=CLOSE_TIMEOUT):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError('waited %.1f s for %d bytes' % (timeout, n))
            self.sock.settimeout(left)
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError('connection closed by p2pd')
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_handshake(self):
        hs = self.recv_exact(68)
        assert hs[:20] == b'\x13BitTorrent protocol', hs
        return hs[28:48]

    def read_msg(self, timeout=CLOSE_TIMEOUT):
        """(id, payload) of the next message; (None, b'') for a keep-alive."""
        (n,) = struct.unpack('>I', self.recv_exact(4, timeout))
        if n == 0:
            return None, b''
        m = self.recv_exact(n, timeout)
        return m[0], m[1:]

    def read_until(self, want, limit=1000, timeout=CLOSE_TIMEOUT):
        """Reads messages until one with id `want`; returns its payload."""
        for _ in range(limit):
            mid, payload = self.read_msg(timeout)
            if mid == want:
                return payload
        raise AssertionError('no message %d among %d read' % (want, limit))

    def msg(self, mid, payload=b''):
        self.send(msg_bytes(mid, payload))

    def closed_within(self, timeout=CLOSE_TIMEOUT):
        """True once p2pd closes the connection (what it sends first is discarded);
        False if it is still open after timeout."""
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not chunk:
                return True
        return False

    def dribble(self, data, interval, limit):
        """Sends data one byte every `interval` seconds, at most `limit` bytes,
        watching for the close in between. Returns (bytes sent, seconds until
        p2pd closed the connection), or (bytes sent, None) if it never did."""
        t0 = time.monotonic()
        for i in range(min(limit, len(data))):
            try:
                self.sock.sendall(data[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                return i, time.monotonic() - t0
            if self.closed_within(interval):
                return i + 1, time.monotonic() - t0
        return min(limit, len(data)), None


def proc_status(pid, key):
    """A number from /proc/PID/status in KiB (VmRSS, VmHWM...), or None."""
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_kib(pid):
    return proc_status(pid, 'VmRSS')


def open_fds(pid):
    try:
        return len(os.listdir('/proc/%d/fd' % pid))
    except OSError:
        return None


def raise_nofile(want):
    """Raises this process's soft fd limit to want (or the hard limit); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft == resource.RLIM_INFINITY or soft >= new:
        return soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return new
