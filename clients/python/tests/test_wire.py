"""The client's request matching and failure handling against a fake node
on 127.0.0.1 that answers as each test scripts it: answers out of order, no
answer, a connection dropped with requests in flight, a rejected frame. A
real node rarely does these on cue, so they are checked here."""
import socket
import struct
import threading
import time
import unittest

import dynkv
from dynkv import client_pb2

HEADER = struct.Struct(">I")


class FakeNode:
    """Accepts connections and hands each Request to `on_request(request,
    conn)`; conn.answer(response) and conn.hang_up() act on the connection."""

    def __init__(self, on_request):
        self.on_request = on_request
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.requests = []  # every Request received, in order
        self.stopping = False
        self.sockets = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=5)
        self.listener.close()
        for s in self.sockets:
            s.close()

    def _accept(self):
        while not self.stopping:
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            self.sockets.append(sock)
            threading.Thread(target=self._serve, args=(_FakeConnection(sock),), daemon=True).start()

    def _serve(self, conn):
        while not self.stopping:
            request = conn.read()
            if request is None:
                return
            self.requests.append(request)
            self.on_request(request, conn)


class _FakeConnection:
    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(0.1)
        self.buffer = b""

    def read(self):
        for _ in range(200):  # 20 s at most, in 0.1 s waits
            if len(self.buffer) >= 4:
                (length,) = HEADER.unpack_from(self.buffer)
                if len(self.buffer) >= 4 + length:
                    body, self.buffer = self.buffer[4:4 + length], self.buffer[4 + length:]
                    return client_pb2.Request.FromString(body)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return None
            if not chunk:
                return None
            self.buffer += chunk
        return None

    def answer(self, response):
        body = response.SerializeToString()
        self.sock.sendall(HEADER.pack(len(body)) + body)

    def hang_up(self):
        self.sock.shutdown(socket.SHUT_RDWR)


def echo(request):
    """A get answers the key as its value; a put, the value it was given."""
    response = client_pb2.Response(id=request.id)
    if request.HasField("get"):
        response.get.siblings.add(value=request.get.key)
        response.get.context = b"ctx:" + request.get.key
    elif request.HasField("put"):
        response.put.siblings.add(value=request.put.value)
    return response


def dead_address():
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return "127.0.0.1:%d" % s.getsockname()[1]


class WireTest(unittest.TestCase):
    def setUp(self):
        self.nodes = []
        self.clients = []

    def tearDown(self):
        for client in self.clients:
            client.close()
        for node in self.nodes:
            node.stop()

    def node(self, on_request):
        node = FakeNode(on_request)
        self.nodes.append(node)
        return node

    def client(self, addresses, timeout=2.0):
        client = dynkv.Client(addresses, timeout=timeout, routing=False)
        self.clients.append(client)
        return client

    def test_answers_out_of_order_reach_their_own_requests(self):
        held = []

        def reverse_after_50(request, conn):
            held.append(request)
            if len(held) == 50:
                for r in reversed(held):
                    conn.answer(echo(r))

        node = self.node(reverse_after_50)
        client = self.client([node.address])
        futures = {f"key{i}": client.get_async(f"key{i}") for i in range(50)}
        for key, future in futures.items():
            entry = future.result(timeout=5)
            self.assertEqual(entry.value, key.encode())
            self.assertEqual(bytes(entry.context), b"ctx:" + key.encode())
        self.assertEqual(len({r.id for r in node.requests}), 50, "every request has its own id")

    def test_a_token_is_the_first_request_of_every_connection(self):
        def node_with_tokens(request, conn):
            if request.HasField("auth"):
                response = client_pb2.Response(id=request.id)
                if request.auth.token == "good-token-0123456789":
                    response.auth.role = "read"
                else:
                    response.error.code = client_pb2.UNAUTHENTICATED
                    response.error.message = "the token was refused"
                return conn.answer(response)
            conn.answer(echo(request))

        node = self.node(node_with_tokens)
        client = dynkv.Client([node.address], timeout=2.0, routing=False, token="good-token-0123456789")
        self.clients.append(client)
        self.assertEqual(client.get("k").value, b"k")
        self.assertEqual([r.WhichOneof("op") for r in node.requests], ["auth", "get"])
        self.assertEqual(node.requests[0].auth.token, "good-token-0123456789")

        refused = dynkv.Client([node.address], timeout=2.0, routing=False, token="wrong-token-0123456789")
        self.clients.append(refused)
        with self.assertRaises(dynkv.DynkvError) as caught:
            refused.get("k")
        self.assertEqual(caught.exception.code, "UNAUTHENTICATED")
        self.assertEqual([r.WhichOneof("op") for r in node.requests[2:]], ["auth"], "nothing sent after a refusal")

        plain = self.client([node.address])
        self.assertEqual(plain.get("k").value, b"k")
        self.assertEqual(node.requests[-1].WhichOneof("op"), "get", "no token: no AuthRequest")

    def test_no_answer_fails_with_client_timeout(self):
        node = self.node(lambda request, conn: None)
        client = self.client([node.address], timeout=0.3)
        start = time.monotonic()
        with self.assertRaises(dynkv.DynkvError) as caught:
            client.put("k", "v")
        self.assertEqual(caught.exception.code, "CLIENT_TIMEOUT")
        self.assertLess(time.monotonic() - start, 2.0)
        self.assertEqual(node.requests[0].put.timeout_ms, 300, "the node is told the same timeout")

    def test_the_answer_grace_is_how_long_past_the_node_timeout_the_client_waits(self):
        def answer_late(request, conn):
            if request.get.key == b"late":
                time.sleep(1.0)
                conn.answer(echo(request))

        node = self.node(answer_late)
        client = dynkv.Client([node.address], timeout=0.3, routing=False, answer_grace_s=1.2)
        self.clients.append(client)
        self.assertEqual(client.get("late").value, b"late", "an answer 0.7 s past the node's timeout arrives")
        self.assertEqual(node.requests[0].get.timeout_ms, 300, "the node is told the timeout, not the grace")
        start = time.monotonic()
        with self.assertRaises(dynkv.DynkvError) as caught:
            client.get("never")
        waited = time.monotonic() - start
        self.assertEqual(caught.exception.code, "CLIENT_TIMEOUT")
        self.assertGreaterEqual(waited, 1.5, "it waits the timeout plus the grace")
        self.assertLess(waited, 3.0)
        with self.assertRaises(ValueError):
            dynkv.Client([node.address], answer_grace_s=-1)

    def test_a_per_call_timeout_longer_than_the_client_timeout_is_honoured(self):
        def answer_late(request, conn):
            time.sleep(1.0)
            conn.answer(echo(request))

        node = self.node(answer_late)
        client = self.client([node.address], timeout=0.3)
        self.assertEqual(client.get("k", timeout=3).value, b"k")
        self.assertEqual(node.requests[0].get.timeout_ms, 3000)

    def test_a_blocking_call_in_a_callback_raises_instead_of_waiting_for_itself(self):
        attached = threading.Event()

        def answer_once_attached(request, conn):
            # Else the callback may run at once on this test's thread, where blocking is fine.
            attached.wait(timeout=5)
            conn.answer(echo(request))

        node = self.node(answer_once_attached)
        client = self.client([node.address])
        outcome = []

        def callback(future):
            try:
                client.get("inner")
            except RuntimeError as e:
                outcome.append(e)
            outcome.append(client.get_async("inner"))  # the async form is fine there

        client.get_async("outer").add_done_callback(callback)
        attached.set()
        for _ in range(100):
            if len(outcome) == 2:
                break
            time.sleep(0.05)
        self.assertIsInstance(outcome[0], RuntimeError)
        self.assertEqual(outcome[1].result(timeout=5).value, b"inner")

    def test_a_read_whose_connection_breaks_goes_to_the_next_node(self):
        breaking = self.node(lambda request, conn: conn.hang_up())
        answering = self.node(lambda request, conn: conn.answer(echo(request)))
        client = self.client([breaking.address, answering.address])
        self.assertEqual(client.get("k").value, b"k")
        self.assertEqual(len(breaking.requests), 1)

    def test_a_read_with_no_node_left_fails_without_talk_of_having_been_applied(self):
        breaking = self.node(lambda request, conn: conn.hang_up())
        client = self.client([breaking.address])
        with self.assertRaises(dynkv.DynkvError) as caught:
            client.get("k")
        self.assertEqual(caught.exception.code, "CONNECTION")
        self.assertIn("no node is left to ask", caught.exception.message)
        self.assertNotIn("applied", caught.exception.message)

    def test_a_write_whose_connection_breaks_is_not_sent_again(self):
        breaking = self.node(lambda request, conn: conn.hang_up())
        answering = self.node(lambda request, conn: conn.answer(echo(request)))
        client = self.client([breaking.address, answering.address])
        with self.assertRaises(dynkv.DynkvError) as caught:
            client.put("k", "v")
        self.assertEqual(caught.exception.code, "CONNECTION")
        self.assertIn("may have been applied", caught.exception.message)
        self.assertEqual(answering.requests, [], "a write that may have been applied is not repeated")

    def test_a_connection_the_node_closed_while_unused_is_made_again_on_the_same_node(self):
        def answer_then_close(request, conn):
            conn.answer(echo(request))
            conn.hang_up()  # as a node's limits.idle_timeout does, after the answer

        closing = self.node(answer_then_close)
        other = self.node(lambda request, conn: conn.answer(echo(request)))
        client = self.client([closing.address, other.address])
        self.assertEqual(client.put("k", "one").value, b"one")
        time.sleep(0.3)  # the client's I/O thread sees the close
        self.assertEqual(client.put("k", "two").value, b"two")
        self.assertEqual(len(closing.requests), 2, "the node was taken for down")
        self.assertEqual(other.requests, [])

    def test_a_refused_connection_sends_the_write_to_the_next_node(self):
        answering = self.node(lambda request, conn: conn.answer(echo(request)))
        client = self.client([dead_address(), answering.address])
        self.assertEqual(client.put("k", "v").value, b"v")

    def test_no_reachable_node_fails_with_connection(self):
        client = self.client([dead_address(), dead_address()])
        with self.assertRaises(dynkv.ConnectionFailed) as caught:
            client.get("k")
        self.assertEqual(caught.exception.code, "CONNECTION")

    def test_a_frame_the_node_rejects_fails_with_the_node_code(self):
        def reject(request, conn):
            conn.answer(client_pb2.Response(id=0, error={"code": client_pb2.TOO_LARGE, "message": "frame too big"}))
            conn.hang_up()

        node = self.node(reject)
        client = self.client([node.address])
        with self.assertRaises(dynkv.DynkvError) as caught:
            client.put("k", "v")
        self.assertEqual(caught.exception.code, "TOO_LARGE")
        self.assertEqual(caught.exception.node, node.address)

    def test_an_error_answer_carries_its_code_name(self):
        def unavailable(request, conn):
            conn.answer(client_pb2.Response(id=request.id, error={"code": client_pb2.UNAVAILABLE, "message": "1 of 3"}))

        node = self.node(unavailable)
        client = self.client([node.address])
        with self.assertRaises(dynkv.DynkvError) as caught:
            client.get("k", r="all")
        self.assertEqual((caught.exception.code, caught.exception.message), ("UNAVAILABLE", "1 of 3"))
        self.assertEqual(node.requests[0].get.r, dynkv.ALL)

    def test_closing_the_client_fails_what_is_in_flight(self):
        node = self.node(lambda request, conn: None)
        client = self.client([node.address], timeout=30)
        future = client.get_async("k")
        client.close()
        with self.assertRaises(dynkv.DynkvError) as caught:
            future.result(timeout=5)
        self.assertEqual(caught.exception.code, "CONNECTION")


class RingRefreshTest(unittest.TestCase):
    """When a routing client asks for the ring: at first use, every
    ring_refresh_s, and about a second after an UNAVAILABLE answer."""

    def setUp(self):
        self.unavailable = False
        self.node = FakeNode(self.answer)
        self.addCleanup(self.node.stop)

    def answer(self, request, conn):
        response = client_pb2.Response(id=request.id)
        if request.HasField("ring"):
            response.ring.n = 1
            response.ring.shares.add(node_id="fake", client_address=self.node.address, positions=[1 << 63])
        elif self.unavailable:
            response.error.code = client_pb2.UNAVAILABLE
        else:
            response = echo(request)
        conn.answer(response)

    def ring_requests(self):
        return sum(1 for r in self.node.requests if r.HasField("ring"))

    def test_at_first_use_then_every_period(self):
        client = dynkv.Client([self.node.address], ring_refresh_s=0.3)
        self.addCleanup(client.close)
        client.get("k")
        self.assertEqual(self.ring_requests(), 1)
        start = time.monotonic()
        for _ in range(10):
            client.get("k")
            time.sleep(0.1)
        periods = (time.monotonic() - start) / 0.3  # at least 3
        self.assertGreaterEqual(self.ring_requests(), 1 + int(periods) - 1)
        self.assertLessEqual(self.ring_requests(), 1 + int(periods) + 1)

    def test_after_unavailable_at_most_once_a_second(self):
        client = dynkv.Client([self.node.address], ring_refresh_s=3600)
        self.addCleanup(client.close)
        client.get("k")
        time.sleep(1.1)
        client.get("k")
        self.assertEqual(self.ring_requests(), 1, "no refresh before the period without a reason")
        self.get_unavailable(client)
        client.get("k")
        self.assertEqual(self.ring_requests(), 2, "the request after an UNAVAILABLE fetches the ring")
        self.get_unavailable(client)
        client.get("k")
        self.assertEqual(self.ring_requests(), 2, "not again within a second of the last fetch")
        time.sleep(1.1)
        client.get("k")
        self.assertEqual(self.ring_requests(), 3)

    def get_unavailable(self, client):
        self.unavailable = True
        try:
            with self.assertRaises(dynkv.DynkvError):
                client.get("k")
        finally:
            self.unavailable = False


class ArgumentTest(unittest.TestCase):
    def test_levels(self):
        from dynkv.objects import level
        self.assertEqual([level(v, "r") for v in (None, 1, 2, "one", "QUORUM", "all")],
                         [0, 1, 2, 1, 4294967293, 4294967292])
        for bad in (0, -1, 2**32, "most", 1.5, True):
            with self.assertRaises(ValueError):
                level(bad, "w")

    def test_entry_with_siblings_has_no_single_value(self):
        entry = dynkv.Entry(b"k", (dynkv.Sibling(b"a", 1, 0), dynkv.Sibling(b"b", 2, 0)), dynkv.Context(b"c"))
        self.assertEqual(entry.values, [b"a", b"b"])
        with self.assertRaises(ValueError):
            entry.value
        self.assertIsNone(dynkv.Entry(b"k", (), dynkv.Context()).value)


if __name__ == "__main__":
    unittest.main()
