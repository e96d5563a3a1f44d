"""The framed protobuf protocol against a real dynkvd: pipelining, and bad
input that must cost only the connection that sent it. These tests write
the frames themselves (RawConnection) rather than go through the dynkv
client package, which never sends a malformed frame."""
import socket
import struct
import unittest

from dynkv import client_pb2
from harness import NodeTestCase

MAX_FRAME = 1 << 20
LIMITS = (
    "limits:\n"
    f"  max_frame_bytes: {MAX_FRAME}\n"
    "  max_key_bytes: 100\n"
    "  max_value_bytes: 1000\n"
    "  max_object_bytes: 100000\n"
)


class RawConnection:
    """Bytes to a node and the Responses it sends back: a frame is a 4-byte
    big-endian length and one protobuf message. No request ids are matched
    and nothing is retried: the tests check those."""

    def __init__(self, node, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", node.client_port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def call(self, request):
        """Sends `request` in one frame; the next Response (None: closed)."""
        self.send_raw(frame(request))
        return self.recv()

    def recv(self):
        """The next Response, or None when the node closed the connection."""
        header = self._read_exact(4)
        if header is None:
            return None
        body = self._read_exact(struct.unpack(">I", header)[0])
        if body is None:
            return None
        return client_pb2.Response.FromString(body)

    def _read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                return None
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def closed_by_peer(self):
        """True when the node closed the connection (EOF or reset)."""
        try:
            while True:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


class ProtocolTest(NodeTestCase):
    def setUp(self):
        super().setUp()
        self.node = self.start_node(extra_yaml=LIMITS)

    def assert_still_serving(self):
        conn = RawConnection(self.node)
        response = conn.call(put_request(7, b"health", b"ok"))
        self.assertEqual(response.id, 7)
        self.assertEqual(response.WhichOneof("result"), "put", response)
        conn.close()

    def test_1000_pipelined_requests_are_all_answered_with_matching_ids(self):
        conn = RawConnection(self.node)
        ids = list(range(1, 1001))
        conn.send_raw(b"".join(
            frame(put_request(i, b"key-%d" % i, b"value-%d" % i)) for i in ids))
        answered = {}
        for _ in ids:
            response = conn.recv()
            self.assertIsNotNone(response, "connection closed early")
            self.assertEqual(response.WhichOneof("result"), "put", response)
            answered[response.id] = response
        self.assertEqual(sorted(answered), ids)

        conn.send_raw(b"".join(frame(get_request(10_000 + i, b"key-%d" % i)) for i in ids))
        for _ in ids:
            response = conn.recv()
            i = response.id - 10_000
            self.assertEqual([s.value for s in response.get.siblings], [b"value-%d" % i])
        conn.close()

    def test_oversized_frame_gets_too_large_and_the_connection_closes(self):
        bystander = RawConnection(self.node)
        conn = RawConnection(self.node)
        conn.send_raw(struct.pack(">I", MAX_FRAME + 1) + b"x" * 1000)
        response = conn.recv()
        self.assertIsNotNone(response)
        self.assertEqual(response.id, 0)
        self.assertEqual(response.error.code, client_pb2.TOO_LARGE)
        self.assertIn(str(MAX_FRAME), response.error.message)
        self.assertTrue(conn.closed_by_peer())
        self.assertEqual(bystander.call(get_request(1, b"k")).id, 1)
        self.assert_still_serving()

    def test_bytes_that_do_not_parse_get_an_error_and_the_connection_closes(self):
        conn = RawConnection(self.node)
        garbage = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"
        conn.send_raw(struct.pack(">I", len(garbage)) + garbage)
        response = conn.recv()
        self.assertEqual(response.id, 0)
        self.assertEqual(response.error.code, client_pb2.INVALID_ARGUMENT)
        self.assertTrue(conn.closed_by_peer())
        self.assert_still_serving()

    def test_oversized_key_and_value_get_too_large_on_a_connection_that_stays_open(self):
        conn = RawConnection(self.node)
        big_key = conn.call(put_request(1, b"k" * 101, b"v"))
        self.assertEqual(big_key.error.code, client_pb2.TOO_LARGE)
        self.assertIn("max_key_bytes", big_key.error.message)
        big_value = conn.call(put_request(2, b"k", b"v" * 1001))
        self.assertEqual(big_value.error.code, client_pb2.TOO_LARGE)
        self.assertIn("max_value_bytes", big_value.error.message)
        ok = conn.call(put_request(3, b"k", b"v" * 1000))
        self.assertEqual(ok.WhichOneof("result"), "put")
        conn.close()

    def test_too_many_siblings_and_bad_requests_get_clear_errors(self):
        conn = RawConnection(self.node)
        empty_key = conn.call(put_request(1, b"", b"v"))
        self.assertEqual(empty_key.error.code, client_pb2.INVALID_ARGUMENT)
        bad_context = conn.call(put_request(2, b"k", b"v", context=b"\x09garbage"))
        self.assertEqual(bad_context.error.code, client_pb2.INVALID_ARGUMENT)
        no_op = conn.call(client_pb2.Request(id=3))
        self.assertEqual(no_op.error.code, client_pb2.INVALID_ARGUMENT)
        r_too_big = get_request(4, b"k")
        r_too_big.get.r = 3
        self.assertEqual(conn.call(r_too_big).error.code, client_pb2.INVALID_ARGUMENT)
        conn.close()

    def test_a_client_that_vanishes_mid_frame_costs_only_itself(self):
        conn = RawConnection(self.node)
        conn.send_raw(struct.pack(">I", 500) + b"partial")
        conn.close()
        conn = RawConnection(self.node)
        conn.send_raw(b"".join(frame(put_request(i, b"k%d" % i, b"v")) for i in range(200)))
        conn.close()  # leaves with responses unread
        self.assert_still_serving()

    def test_batched_get_and_put_answer_in_request_order(self):
        conn = RawConnection(self.node)
        batch = client_pb2.Request(id=1)
        for i in range(5):
            p = batch.batch_put.puts.add()
            p.key, p.value = b"b%d" % i, b"v%d" % i
        p = batch.batch_put.puts.add()
        p.key, p.value = b"b-big", b"x" * 1001
        results = conn.call(batch).batch_put.results
        self.assertEqual([r.WhichOneof("result") for r in results], ["ok"] * 5 + ["error"])
        self.assertEqual(results[5].error.code, client_pb2.TOO_LARGE)

        batch = client_pb2.Request(id=2)
        for i in (4, 0, 2):
            batch.batch_get.gets.add().key = b"b%d" % i
        results = conn.call(batch).batch_get.results
        self.assertEqual([r.ok.siblings[0].value for r in results], [b"v4", b"v0", b"v2"])
        conn.close()


def frame(request):
    body = request.SerializeToString()
    return struct.pack(">I", len(body)) + body


def put_request(request_id, key, value, context=b"", ttl_s=0):
    r = client_pb2.Request(id=request_id)
    r.put.key = key
    r.put.value = value
    r.put.context = context
    r.put.ttl_s = ttl_s
    return r


def get_request(request_id, key):
    r = client_pb2.Request(id=request_id)
    r.get.key = key
    return r


if __name__ == "__main__":
    unittest.main()
