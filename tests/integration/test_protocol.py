"""The framed protobuf protocol against a real dynkvd: pipelining, and bad
input that must cost only the connection that sent it."""
import struct
import unittest

import client_pb2
from harness import Conn, NodeTestCase, get_request, put_request

MAX_FRAME = 1 << 20
LIMITS = (
    "limits:\n"
    f"  max_frame_bytes: {MAX_FRAME}\n"
    "  max_key_bytes: 100\n"
    "  max_value_bytes: 1000\n"
    "  max_object_bytes: 100000\n"
)


class ProtocolTest(NodeTestCase):
    def setUp(self):
        super().setUp()
        self.node = self.start_node(extra_yaml=LIMITS)

    def assert_still_serving(self):
        conn = Conn(self.node)
        response = conn.call(put_request(7, b"health", b"ok"))
        self.assertEqual(response.id, 7)
        self.assertEqual(response.WhichOneof("result"), "put", response)
        conn.close()

    def test_1000_pipelined_requests_are_all_answered_with_matching_ids(self):
        conn = Conn(self.node)
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
        bystander = Conn(self.node)
        conn = Conn(self.node)
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
        conn = Conn(self.node)
        garbage = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"
        conn.send_raw(struct.pack(">I", len(garbage)) + garbage)
        response = conn.recv()
        self.assertEqual(response.id, 0)
        self.assertEqual(response.error.code, client_pb2.INVALID_ARGUMENT)
        self.assertTrue(conn.closed_by_peer())
        self.assert_still_serving()

    def test_oversized_key_and_value_get_too_large_on_a_connection_that_stays_open(self):
        conn = Conn(self.node)
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
        conn = Conn(self.node)
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
        conn = Conn(self.node)
        conn.send_raw(struct.pack(">I", 500) + b"partial")
        conn.close()
        conn = Conn(self.node)
        conn.send_raw(b"".join(frame(put_request(i, b"k%d" % i, b"v")) for i in range(200)))
        conn.close()  # leaves with responses unread
        self.assert_still_serving()

    def test_batched_get_and_put_answer_in_request_order(self):
        conn = Conn(self.node)
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


if __name__ == "__main__":
    unittest.main()
