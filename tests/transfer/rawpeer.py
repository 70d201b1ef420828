"""rawpeer: a scripted BitTorrent peer for tests that need one to misbehave on purpose.

A FakePeer listens on its own 127.0.0.x address and runs handle(conn) for each
connection in a thread, with helpers to speak the handshake and BEP 10 messages.
Subclasses decide what to say; every wait is bounded by socket timeouts."""

import os
import socket
import struct
import threading

from p2ptest import bencode, bdecode  # noqa: F401  (re-exported for the tests)


class FakePeer:

    def __init__(self, ip, accepts=1000):
        self.stop = False
        self.srv = socket.socket()
        self.srv.bind((ip, 0))
        self.srv.listen(16)
        self.srv.settimeout(0.3)
        self.ip, self.port = self.srv.getsockname()
        self.accepts = accepts
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def addr(self):
        return '%s:%d' % (self.ip, self.port)

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.srv.close()

    def _serve(self):
        for _ in range(self.accepts * 100):
            if self.stop:
                return
            try:
                c, _ = self.srv.accept()
            except socket.timeout:
                continue
            try:
                c.settimeout(5)
                self.handle(c)
            except (OSError, ValueError, KeyError):
                pass        # the daemon hung up on us: that is often the point
            finally:
                c.close()

    def handle(self, c):
        raise NotImplementedError

    @staticmethod
    def read(c, n):
        b = b''
        while len(b) < n:
            x = c.recv(n - len(b))
            if not x:
                raise OSError('closed')
            b += x
        return b

    def handshake(self, c, info_hash=None):
        """Reads the peer's 68-byte handshake and answers with the extension bit set.
        Returns the info-hash it asked for."""
        hs = self.read(c, 68)
        reserved = bytearray(8)
        reserved[5] |= 0x10
        ih = info_hash or hs[28:48]
        c.sendall(bytes([19]) + b'BitTorrent protocol' + bytes(reserved) + ih +
                  b'-XX0001-' + os.urandom(12))
        return hs[28:48]

    @staticmethod
    def send_ext(c, ext_id, payload, extra=b''):
        c.sendall(struct.pack('>IBB', len(payload) + len(extra) + 2, 20, ext_id) +
                  payload + extra)

    def read_msgs(self, c, count=200):
        """Yields (message id, body) for the next messages, keep-alives skipped."""
        for _ in range(count):
            if self.stop:
                return
            n, = struct.unpack('>I', self.read(c, 4))
            if n == 0:
                continue
            body = self.read(c, n)
            yield body[0], body[1:]
