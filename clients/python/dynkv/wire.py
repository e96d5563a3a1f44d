"""Connections to nodes: frames out, frames in, matched by request id.

A frame is a 4-byte big-endian length and one protobuf message
(proto/client.proto). Many requests may be in flight on one connection and
the node may answer them in any order, so each request waits in its
connection's `pending` under its id until its Response arrives, its
deadline passes, or the connection breaks; whichever comes first settles
it, exactly once.

Threads: any thread may send (a write lock keeps frames whole). One I/O
thread per client (IoThread) reads every connection and checks deadlines:
one reader rather than one per node, because Python threads contend for the
interpreter lock, and with five reader threads a client routing to five
nodes ran at half the rate of one that sent everything to one node. Writers
never hold the lock the reader needs, so a writer blocked on a full socket
never stops the reader from draining the node's answers. Only the I/O
thread closes sockets, so it never selects on a closed descriptor.

A request object (client.py's _Call) provides `request` (a Request with its
id set), `deadline` (time.monotonic() seconds) and three callbacks, run on
the thread that settles it (mostly the I/O thread: keep them short):
on_response(response, conn), on_timeout(conn), on_lost(conn, error).
"""
import selectors
import socket
import ssl
import struct
import threading
import time

from google.protobuf.message import DecodeError

from . import client_pb2
from .errors import ConnectionFailed, DynkvError

_HEADER = struct.Struct(">I")
_READ_CHUNK = 1 << 16
# How often the I/O thread expires requests past their deadline: deadlines
# are honoured to within this.
_TICK_S = 0.05


def split_address(address):
    """("host", port) from "HOST:PORT" (IPv6 hosts in brackets)."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not a HOST:PORT address: {address!r}")
    return host.strip("[]"), int(port)


class IoThread:
    """Reads every connection of one client; expires late requests."""

    def __init__(self):
        self._selector = selectors.DefaultSelector()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._selector.register(self._wake_reader, selectors.EVENT_READ, None)
        self._lock = threading.Lock()  # guards _added and _stopping
        self._added = []
        self._stopping = False
        self._connections = set()  # owned by the I/O thread
        self._thread = threading.Thread(target=self._run, name="dynkv-io", daemon=True)
        self._thread.start()

    def add(self, conn):
        with self._lock:
            if self._stopping:
                raise ConnectionFailed("the client is closed", conn.address)
            self._added.append(conn)
        self._wake()

    def is_current(self):
        """True on the I/O thread itself (in a future's callback)."""
        return threading.current_thread() is self._thread

    def stop(self):
        """Stops the thread after it closes every socket. Call once every
        connection has been failed (their requests settled)."""
        with self._lock:
            self._stopping = True
        self._wake()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def _wake(self):
        try:
            self._wake_writer.send(b"\0")
        except OSError:
            pass  # the buffer is full (a wake-up is pending anyway) or the thread is gone

    def _run(self):
        next_sweep = time.monotonic() + _TICK_S
        try:
            while True:
                with self._lock:
                    added, self._added = self._added, []
                    stopping = self._stopping
                for conn in added:
                    self._connections.add(conn)
                    self._selector.register(conn.sock, selectors.EVENT_READ, conn)
                if stopping:
                    return
                for key, _ in self._selector.select(_TICK_S):
                    if key.data is None:
                        self._drain_wake_ups()
                    elif not key.data.read_ready():
                        self._forget(key.data)
                now = time.monotonic()
                if now >= next_sweep:
                    for conn in list(self._connections):
                        conn.expire(now)
                    next_sweep = now + _TICK_S
        finally:
            with self._lock:
                self._stopping = True  # also when a bug ended the loop: add() refuses from now on
            for conn in list(self._connections) + self._added:
                conn.fail(ConnectionFailed("the client is closed", conn.address))
                self._forget(conn)
            self._selector.close()
            self._wake_reader.close()
            self._wake_writer.close()

    def _drain_wake_ups(self):
        try:
            while self._wake_reader.recv(4096):
                pass
        except OSError:
            pass  # drained (BlockingIOError)

    def _forget(self, conn):
        if conn in self._connections:
            self._connections.discard(conn)
            self._selector.unregister(conn.sock)
        conn.sock.close()


class TlsLayer:
    """TLS over a connected socket through memory BIOs: the socket carries
    only ciphertext, so the I/O thread's select() and recv() work as for
    plaintext and never block half-way through a record. One lock keeps
    the TLS state whole between the I/O thread (decrypt) and writers
    (encrypt); bytes a read makes (post-handshake messages) leave with the
    next write, in order."""

    def __init__(self, sock, context, host, address):
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._in, self._out, server_hostname=host)
        self._lock = threading.Lock()
        try:
            self._handshake(sock)
        except ssl.SSLError as e:
            raise ConnectionFailed(f"TLS handshake with {address} failed: {e}", address) from None
        except OSError as e:
            raise ConnectionFailed(f"TLS handshake with {address} failed: {e}", address) from None

    def _handshake(self, sock):
        """On the socket's own timeout (the connect timeout)."""
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                pending = self._out.read()
                if pending:
                    sock.sendall(pending)
                data = sock.recv(_READ_CHUNK)
                if not data:
                    raise OSError("the node closed the connection (is security.tls set on it?)")
                self._in.write(data)
        pending = self._out.read()
        if pending:
            sock.sendall(pending)

    def encrypt(self, plain):
        with self._lock:
            self._tls.write(plain)
            return self._out.read()

    def decrypt(self, cipher):
        """The plaintext `cipher` completes; b"" while a record is partial."""
        with self._lock:
            self._in.write(cipher)
            chunks = []
            while True:
                try:
                    chunks.append(self._tls.read(_READ_CHUNK))
                except ssl.SSLWantReadError:
                    return b"".join(chunks)
                except ssl.SSLZeroReturnError:
                    raise OSError("the node closed the TLS session") from None


# The id of the AuthRequest a connection sends before any other.
_AUTH_ID = 2**64 - 1


class _BlockingReader:
    """Whole byte counts from a new blocking socket, through `tls` (a
    TlsLayer) when given; for the one exchange before the I/O thread owns
    the connection."""

    def __init__(self, sock, tls, address):
        self._sock, self._tls, self._address = sock, tls, address
        self._buffer = bytearray()

    def read(self, size):
        while len(self._buffer) < size:
            chunk = self._sock.recv(_READ_CHUNK)
            if not chunk:
                raise ConnectionFailed(f"{self._address} closed the connection", self._address)
            self._buffer += self._tls.decrypt(chunk) if self._tls else chunk
        data, self._buffer = bytes(self._buffer[:size]), self._buffer[size:]
        return data


def authenticate(sock, token, address, tls=None):
    """Sends an AuthRequest with `token` on a new blocking socket (through
    `tls`, a TlsLayer, when given) and waits for its answer
    (proto/client.proto: Authentication). Raises DynkvError UNAUTHENTICATED
    when the node refuses the token, ConnectionFailed when the connection
    breaks. Returns the role the node granted."""
    request = client_pb2.Request(id=_AUTH_ID)
    request.auth.token = token
    body = request.SerializeToString()
    frame = _HEADER.pack(len(body)) + body
    sock.sendall(tls.encrypt(frame) if tls else frame)
    reader = _BlockingReader(sock, tls, address)
    (length,) = _HEADER.unpack(reader.read(_HEADER.size))
    response = client_pb2.Response()
    response.ParseFromString(reader.read(length))
    if response.HasField("error"):
        raise DynkvError(client_pb2.ErrorCode.Name(response.error.code), response.error.message, address)
    if response.id != _AUTH_ID or not response.HasField("auth"):
        raise DynkvError("INTERNAL", f"{address} answered an AuthRequest with something else", address)
    return response.auth.role


class Connection:
    def __init__(self, address, connect_timeout, send_timeout, on_closed, tls_context=None, token=None):
        """Connects to `address` (raises ConnectionFailed), over TLS when
        `tls_context` (an ssl.SSLContext) is given, and authenticates with
        `token` when given (raises DynkvError UNAUTHENTICATED when the node
        refuses it). Then hand it to an IoThread. `on_closed(conn)` runs once
        when it breaks or closes."""
        self.address = address
        host, port = split_address(address)
        try:
            sock = socket.create_connection((host, port), timeout=connect_timeout)
        except OSError as e:
            raise ConnectionFailed(f"cannot connect to {address}: {e}", address) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._tls = None
        try:
            if tls_context is not None:
                self._tls = TlsLayer(sock, tls_context, host, address)
            if token:
                authenticate(sock, token, address, self._tls)
        except DynkvError:
            sock.close()
            raise
        except (OSError, DecodeError, struct.error, ssl.SSLError) as e:
            sock.close()
            raise ConnectionFailed(f"authenticating to {address} failed: {e}", address) from None
        # Bounds a send to a node that stopped reading; the I/O thread reads
        # only what select() reported, so the timeout never cuts a read short.
        sock.settimeout(send_timeout)
        self.sock = sock
        self._on_closed = on_closed
        self._lock = threading.Lock()        # guards _pending and _closed
        self._write_lock = threading.Lock()  # keeps each frame whole on the socket
        self._pending = {}
        self._closed = False
        # Closed with no request in flight: the node closed a connection left
        # unused (limits.idle_timeout), or went away; no sign either way.
        self.closed_idle = False
        self._buffer = bytearray()           # read by the I/O thread only

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
                self.sock.sendall(self._tls.encrypt(frame) if self._tls else frame)
        except OSError as e:
            self.fail(ConnectionFailed(f"sending to {self.address} failed: {e}", self.address))
        return True

    def close(self):
        self.fail(ConnectionFailed("the client closed the connection", self.address))

    def fail(self, error):
        """Marks the connection broken and settles every pending request with
        `error` through on_lost. Harmless when already closed. The socket is
        shut down here and closed by the I/O thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending, self._pending = self._pending, {}
            self.closed_idle = not pending
        if not isinstance(error, ConnectionFailed) and len(pending) > 1:
            # The node rejected one frame of several in flight; which one is
            # unknown, so each learns only that the connection broke.
            error = ConnectionFailed(f"{self.address} closed the connection after rejecting a frame "
                                     f"({error})", self.address)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # the I/O thread sees EOF and closes it
        except OSError:
            pass
        for call in pending.values():
            call.on_lost(self, error)
        self._on_closed(self)

    def read_ready(self):
        """On the I/O thread, when select() says the socket is readable:
        reads and settles what arrived. False once the connection is over."""
        try:
            chunk = self.sock.recv(_READ_CHUNK)
            if not chunk:
                raise ConnectionFailed(f"{self.address} closed the connection", self.address)
            self._buffer += self._tls.decrypt(chunk) if self._tls else chunk
            del self._buffer[:self._dispatch_frames()]
            return not self._closed
        except DynkvError as e:
            self.fail(e)
        except (OSError, ValueError, DecodeError) as e:
            self.fail(ConnectionFailed(f"connection to {self.address} broke: {e}", self.address))
        except Exception as e:  # a bug: settle every request rather than leave them waiting
            self.fail(DynkvError("INTERNAL", f"reading from {self.address} failed: {e!r}", self.address))
            raise
        return False

    def _dispatch_frames(self):
        """Settles the requests answered by the whole frames in the buffer;
        returns how many bytes they took."""
        buffer = self._buffer
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

    def expire(self, now):
        """Settles the requests whose deadline passed with on_timeout."""
        with self._lock:
            late = [i for i, call in self._pending.items() if call.deadline <= now]
            calls = [self._pending.pop(i) for i in late]
        for call in calls:
            call.on_timeout(self)
