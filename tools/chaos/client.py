"""A dynkv client for the chaos harness: the framed protobuf protocol
(4-byte big-endian length + one message) with the client_pb2 module
generated from proto/client.proto at build time, pipelining by request id,
and a deadline on every call."""
import itertools
import socket
import struct
import time

import client_pb2  # generated at build time: PYTHONPATH=<build>/proto

R_ALL = 4294967292  # the reserved value for ALL (proto/client.proto)


class ClientError(Exception):
    """A failed call; `code` is a proto ErrorCode name or CLIENT_TIMEOUT / CONNECTION."""

    def __init__(self, code, message=""):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Client:
    """One connection to one node. Not thread-safe: one per client thread."""

    def __init__(self, host, port, timeout_s=3.0):
        self.address = (host, port)
        self.timeout_s = timeout_s
        self.sock = None
        self.buf = b""
        self.ids = itertools.count(1)

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.buf = b""

    def _connect(self):
        if self.sock is None:
            try:
                self.sock = socket.create_connection(self.address, timeout=self.timeout_s)
            except OSError as e:
                raise ClientError("CONNECTION", str(e)) from None

    def pipeline(self, requests):
        """Sends every request, then collects their Responses (in request order).

        Raises ClientError on a lost connection or the deadline; the connection is
        then dropped, since late responses would confuse the next call."""
        self._connect()
        deadline = time.monotonic() + self.timeout_s
        for request in requests:
            request.id = next(self.ids)
        try:
            self.sock.sendall(b"".join(struct.pack(">I", r.ByteSize()) + r.SerializeToString() for r in requests))
            pending = {r.id: None for r in requests}
            left = len(pending)
            while left:
                response = self._recv(deadline)
                if response.id in pending and pending[response.id] is None:
                    pending[response.id] = response
                    left -= 1
                elif response.id == 0 and response.HasField("error"):
                    raise ClientError(client_pb2.ErrorCode.Name(response.error.code), response.error.message)
        except (OSError, ClientError) as e:
            self.close()
            if isinstance(e, ClientError):
                raise
            code = "CLIENT_TIMEOUT" if isinstance(e, socket.timeout) else "CONNECTION"
            raise ClientError(code, str(e)) from None
        return [pending[r.id] for r in requests]

    def call(self, request):
        """The response's result message; raises ClientError for an error response."""
        response = self.pipeline([request])[0]
        if response.HasField("error"):
            raise ClientError(client_pb2.ErrorCode.Name(response.error.code), response.error.message)
        return getattr(response, response.WhichOneof("result"))

    def _recv(self, deadline):
        header = self._read_exact(4, deadline)
        body = self._read_exact(struct.unpack(">I", header)[0], deadline)
        response = client_pb2.Response()
        response.ParseFromString(body)
        return response

    def _read_exact(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("deadline passed")
            self.sock.settimeout(left)
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("closed by the node")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    # ---- operations ----

    def get(self, key, r=0, timeout_ms=0):
        request = client_pb2.Request()
        request.get.key = key.encode()
        request.get.r = r
        request.get.timeout_ms = timeout_ms
        return self.call(request)

    def put(self, key, value, context=b"", w=0, timeout_ms=0):
        request = client_pb2.Request()
        request.put.key = key.encode()
        request.put.value = value
        request.put.context = context
        request.put.w = w
        request.put.timeout_ms = timeout_ms
        return self.call(request)

    def members(self):
        request = client_pb2.Request()
        request.members.SetInParent()
        return self.call(request)

    def stats(self):
        request = client_pb2.Request()
        request.stats.SetInParent()
        return self.call(request)
