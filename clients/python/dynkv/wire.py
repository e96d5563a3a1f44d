"""One connection to one node: frames out, frames in, matched by request id.

A frame is a 4-byte big-endian length and one protobuf message
(proto/client.proto). Many requests may be in flight on one connection and
the node may answer them in any order, so each request waits in `pending`
under its id until its Response arrives, its deadline passes, or the
connection breaks; whichever comes first settles it, exactly once.

Threads: any thread may send (a write lock keeps frames whole); one reader
thread per connection reads responses and checks deadlines. Writers and the
reader take different locks, so a writer blocked on a full socket never
stops the reader from draining the node's answers.

A request object (client.py's _Call) provides `request` (a Request with its
id set), `deadline` (time.monotonic() seconds) and three callbacks, run on
the thread that settles it: on_response(response, conn), on_timeout(conn),
on_lost(conn, error).
"""
import select
import socket
import struct
import threading
import time

from google.protobuf.message import DecodeError

from . import client_pb2
from .errors import ConnectionFailed, DynkvError

_HEADER = struct.Struct(">I")
_READ_CHUNK = 1 << 16
# How often an idle reader wakes to expire requests past their deadline:
# deadlines are honoured to within this.
_TICK_S = 0.05


def split_address(address):
    """("host", port) from "HOST:PORT" (IPv6 hosts in brackets)."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not a HOST:PORT address: {address!r}")
    return host.strip("[]"), int(port)


class Connection:
    def __init__(self, address, connect_timeout, send_timeout, on_closed):
        """Connects to `address` (raises ConnectionFailed). `on_closed(conn)`
        runs once when the connection breaks or is closed."""
        self.address = address
        host, port = split_address(address)
        try:
            sock = socket.create_connection((host, port), timeout=connect_timeout)
        except OSError as e:
            raise ConnectionFailed(f"cannot connect to {address}: {e}", address) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Bounds a send to a node that stopped reading; the reader waits in
        # select(), so the timeout never cuts a read short.
        sock.settimeout(send_timeout)
        self._sock = sock
        self._on_closed = on_closed
        self._lock = threading.Lock()        # guards _pending and _closed
        self._write_lock = threading.Lock()  # keeps each frame whole on the socket
        self._pending = {}
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, name=f"dynkv-conn-{address}", daemon=True)
        self._reader.start()

    @property
    def closed(self):
        return self._closed

    def send(self, call):
        """Sends `call.request`. False when the connection was already closed
        (nothing sent); True when the connection owns the call from now on:
        it settles it through one of its callbacks."""
        body = call.request.SerializeToString()
        frame = _HEADER.pack(len(body)) + body
        with self._lock:
            if self._closed:
                return False
            # Registered before sending: the answer may arrive before sendall returns.
            self._pending[call.request.id] = call
        try:
            with self._write_lock:
                self._sock.sendall(frame)
        except OSError as e:
            self.fail(ConnectionFailed(f"sending to {self.address} failed: {e}", self.address))
        return True

    def close(self):
        self.fail(ConnectionFailed("the client closed the connection", self.address))

    def fail(self, error):
        """Closes the connection and settles every pending request with
        `error` through on_lost. Harmless when already closed."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending, self._pending = self._pending, {}
        if not isinstance(error, ConnectionFailed) and len(pending) > 1:
            # The node rejected one frame of several in flight; which one is
            # unknown, so each learns only that the connection broke.
            error = ConnectionFailed(f"{self.address} closed the connection after rejecting a frame "
                                     f"({error})", self.address)
        try:
            # Wakes the reader, which closes the socket: closing an fd that
            # another thread waits on in select() is not safe.
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        for call in pending.values():
            call.on_lost(self, error)
        self._on_closed(self)

    def _read_loop(self):
        buffer = bytearray()
        next_sweep = time.monotonic() + _TICK_S
        try:
            while not self._closed:
                readable, _, _ = select.select([self._sock], [], [], _TICK_S)
                if readable:
                    chunk = self._sock.recv(_READ_CHUNK)
                    if not chunk:
                        raise ConnectionFailed(f"{self.address} closed the connection", self.address)
                    buffer += chunk
                    consumed = self._dispatch_frames(buffer)
                    del buffer[:consumed]
                now = time.monotonic()
                if now >= next_sweep:
                    self._expire(now)
                    next_sweep = now + _TICK_S
        except DynkvError as e:
            self.fail(e)
        except (OSError, ValueError, DecodeError) as e:
            self.fail(ConnectionFailed(f"connection to {self.address} broke: {e}", self.address))
        except Exception as e:  # a bug: settle every request rather than leave them waiting
            self.fail(DynkvError("INTERNAL", f"client reader for {self.address} failed: {e!r}", self.address))
            raise
        finally:
            self._sock.close()

    def _dispatch_frames(self, buffer):
        """Settles the requests answered by the whole frames in `buffer`;
        returns how many bytes they took."""
        offset = 0
        while len(buffer) - offset >= _HEADER.size:
            (length,) = _HEADER.unpack_from(buffer, offset)
            end = offset + _HEADER.size + length
            if len(buffer) < end:
                break
            response = client_pb2.Response()
            response.ParseFromString(bytes(buffer[offset + _HEADER.size:end]))
            offset = end
            if response.id == 0 and response.HasField("error"):
                # The node could not read a frame of ours and closes the connection.
                raise DynkvError(client_pb2.ErrorCode.Name(response.error.code),
                                 response.error.message, self.address)
            with self._lock:
                call = self._pending.pop(response.id, None)
            if call is not None:  # None: it already timed out
                call.on_response(response, self)
        return offset

    def _expire(self, now):
        with self._lock:
            late = [i for i, call in self._pending.items() if call.deadline <= now]
            calls = [self._pending.pop(i) for i in late]
        for call in calls:
            call.on_timeout(self)
