"""Clients that misbehave, against a real dynkvd (issue 14; the connection
limits of docs/OPERATIONS.md): a client that pipelines large reads and never
reads the answers cannot grow the node's memory and is closed; a request
left half sent (slowloris) closes its connection after limits.frame_timeout;
idle connections close after limits.idle_timeout while the Python client and
the CLI go on working; invalid UTF-8 in string fields, sent a thousand
times, costs the node's log a line, not a thousand. Meanwhile other clients
are served."""
import os
import socket
import struct
import time

import dynkv
from dynkv import client_pb2

from harness import Node, NodeTestCase

VALUE_BYTES = 1 << 20
# Output bound and hard cap (small, so the test is quick) and the timeouts.
LIMITS = ("limits:\n"
          "  max_output_bytes: 4MiB\n"
          "  max_output_hard_bytes: 64MiB\n"
          "  output_timeout: 2s\n"
          "  frame_timeout: 1s\n")
# A node's resident memory may grow by this much while a client that never
# reads pipelines ~2 GiB of reads at it (bounds: 4 MiB + the reads admitted
# before reading stopped; the allocator keeps some of what it freed).
RSS_GROWTH_LIMIT = 160 << 20


def frame(message):
    body = message if isinstance(message, bytes) else message.SerializeToString()
    return struct.pack(">I", len(body)) + body


def get_frame(request_id, key):
    request = client_pb2.Request()
    request.id = request_id
    request.get.key = key
    return frame(request)


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def closed_within(sock, seconds):
    """Seconds until the node closed `sock` (reads and drops what it sends);
    None if it did not within `seconds`."""
    start = time.monotonic()
    sock.settimeout(0.1)
    while time.monotonic() - start < seconds:
        try:
            if not sock.recv(1 << 16):
                return time.monotonic() - start
        except socket.timeout:
            continue
        except ConnectionResetError:
            return time.monotonic() - start
    return None


def flood(sock, frames, seconds):
    """Sends `frames` over and over for `seconds`, as fast as the node takes
    them, never reading; returns the bytes sent. Stops early once the
    connection is closed."""
    sock.setblocking(False)
    sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sent += sock.send(frames)
        except BlockingIOError:
            time.sleep(0.01)  # the node stopped reading: its socket buffer is full
        except (BrokenPipeError, ConnectionResetError):
            break
    return sent


class MisbehavingClientsTest(NodeTestCase):
    def start(self, extra_yaml, resp=False):
        node = Node(self.root, "node1", extra_yaml, resp=resp)
        self.nodes.append(node)
        return node.start()

    def stats(self, node):
        with node.client() as c:
            return c.stats()

    def wait_for_stat(self, node, name, at_least=1, timeout=10):
        self.wait_until(lambda: self.stats(node).get(name, 0) >= at_least, timeout, f"{name} >= {at_least}")

    def test_a_client_that_never_reads_is_held_back_then_closed_and_memory_stays_bounded(self):
        node = self.start(LIMITS)
        with node.client() as c:
            c.put(b"big", os.urandom(VALUE_BYTES))
        baseline = rss_bytes(node.proc.pid)
        reader = socket.create_connection(("127.0.0.1", node.client_port))
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        # 200 large reads per burst, sent again and again: gigabytes of
        # answers if the node took every request.
        burst = b"".join(get_frame(i + 1, b"big") for i in range(200))
        peak = baseline
        deadline = time.monotonic() + 6
        reader.setblocking(False)
        with node.client() as other:
            while time.monotonic() < deadline:
                flood(reader, burst, 0.2)
                peak = max(peak, rss_bytes(node.proc.pid))
                # Other clients are served all along.
                self.assertEqual(len(other.get(b"big").siblings), 1)
        self.assertLess(peak - baseline, RSS_GROWTH_LIMIT,
                        f"RSS grew from {baseline >> 20} MiB to {peak >> 20} MiB")
        stats = self.stats(node)
        self.assertGreaterEqual(stats["connections.reads_paused"], 1)
        self.assertEqual(stats["connections.closed_slow_reader"], 1)
        self.assertIsNotNone(closed_within(reader, 5), "the node did not close the connection")
        reader.close()
        self.assertIn("bytes of responses unread", node.log())

    def test_a_resp_client_that_never_reads_is_closed(self):
        node = self.start(LIMITS, resp=True)
        with node.client() as c:
            c.put(b"big", os.urandom(VALUE_BYTES))
        reader = socket.create_connection(("127.0.0.1", node.resp_port))
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        baseline = rss_bytes(node.proc.pid)
        flood(reader, b"GET big\r\n" * 200, 4)
        self.assertLess(rss_bytes(node.proc.pid) - baseline, RSS_GROWTH_LIMIT)
        self.wait_for_stat(node, "resp.closed_slow_reader")
        self.assertIsNotNone(closed_within(reader, 5))
        reader.close()

    def test_one_connection_holds_at_most_1024_requests_in_progress(self):
        # Reads that go to the disk (no cache) take a while: a client that
        # sends thousands at once must not take the node's whole budget
        # (limits.max_pending_requests), or other clients get OVERLOADED.
        node = self.start("storage: {cache_bytes: 0}\n")
        with node.client() as c:
            for i in range(20):
                c.put(b"k%d" % i, os.urandom(64 << 10))
        greedy = socket.create_connection(("127.0.0.1", node.client_port))
        flood(greedy, b"".join(get_frame(i + 1, b"k%d" % (i % 20)) for i in range(30000)), 1)
        with node.client() as other:
            self.assertLessEqual(other.stats()["requests.pending"], 1024 + 1)
            self.assertEqual(len(other.get(b"k1").siblings), 1)
        greedy.close()

    def test_a_client_that_reads_slowly_but_reads_is_served_everything(self):
        node = self.start(LIMITS)
        value = os.urandom(VALUE_BYTES)
        with node.client() as c:
            c.put(b"big", value)
        count = 40  # 40 MiB of answers: ten times the bound where reading stops
        with socket.create_connection(("127.0.0.1", node.client_port)) as s:
            s.sendall(b"".join(get_frame(i + 1, b"big") for i in range(count)))
            got = {}
            buffer = b""
            s.settimeout(20)
            while len(got) < count:
                time.sleep(0.01)  # slower than the node writes
                chunk = s.recv(1 << 20)
                self.assertTrue(chunk, "the node closed a client that reads")
                buffer += chunk
                while len(buffer) >= 4 and len(buffer) >= 4 + struct.unpack(">I", buffer[:4])[0]:
                    length = struct.unpack(">I", buffer[:4])[0]
                    response = client_pb2.Response()
                    response.ParseFromString(buffer[4:4 + length])
                    buffer = buffer[4 + length:]
                    self.assertFalse(response.HasField("error"), response.error.message)
                    got[response.id] = response.get.siblings[0].value
        self.assertEqual(sorted(got), list(range(1, count + 1)))
        self.assertTrue(all(v == value for v in got.values()))
        self.assertGreaterEqual(self.stats(node)["connections.reads_paused"], 1)
        self.assertEqual(self.stats(node)["connections.closed_slow_reader"], 0)

    def test_a_request_left_half_sent_closes_its_connection_after_frame_timeout(self):
        node = self.start(LIMITS, resp=True)
        cases = [
            ("3 bytes of a header", node.client_port, b"\x00\x00\x00"),
            ("a header announcing 1 MB, then 10 bytes", node.client_port, struct.pack(">I", 1 << 20) + b"x" * 10),
            ("half a peer frame", node.peer_port, struct.pack(">I", 100) + b"y" * 10),
            ("half a RESP command", node.resp_port, b"*2\r\n$3\r\nGET\r\n$5\r\nab"),
        ]
        for what, port, sent in cases:
            with self.subTest(what), socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(sent)
                took = closed_within(s, 5)
                self.assertIsNotNone(took, "still open 5 s later; limits.frame_timeout is 1 s")
                self.assertGreater(took, 0.8, "closed before limits.frame_timeout")
        stats = self.stats(node)
        self.assertEqual(stats["connections.closed_partial_frame"], 2)
        self.assertEqual(stats["peer_server.closed_partial_frame"], 1)
        self.assertEqual(stats["resp.closed_partial_frame"], 1)
        with node.client() as c:
            c.put(b"k", b"still served")
            self.assertEqual(c.get(b"k").siblings[0].value, b"still served")

    def test_idle_connections_close_and_clients_carry_on(self):
        node = self.start("limits: {idle_timeout: 1s}\n", resp=True)
        idle_client = socket.create_connection(("127.0.0.1", node.client_port))
        idle_resp = socket.create_connection(("127.0.0.1", node.resp_port))
        idle_peer = socket.create_connection(("127.0.0.1", node.peer_port))
        took = closed_within(idle_client, 5)
        self.assertIsNotNone(took, "an idle client connection is still open")
        self.assertGreater(took, 0.8)
        self.assertIsNotNone(closed_within(idle_resp, 5), "an idle RESP connection is still open")
        # Peers keep their connections between bursts: no idle timeout there.
        self.assertIsNone(closed_within(idle_peer, 2), "the node closed an idle peer connection")
        for s in (idle_client, idle_resp, idle_peer):
            s.close()

        with dynkv.Client([node.address], timeout=5) as c:
            c.put(b"k", b"one")
            time.sleep(2)  # the node closes the connection the client keeps
            entry = c.get(b"k")
            self.assertEqual(entry.siblings[0].value, b"one")
            c.put(b"k", b"two", context=entry)
            time.sleep(2)
            self.assertEqual(c.get(b"k").siblings[0].value, b"two")
        self.assertEqual(self.cli(node, "get", "k").stdout.strip(), b"two")
        self.assertGreaterEqual(self.stats(node)["connections.closed_idle"], 3)

    def test_invalid_utf8_in_string_fields_costs_the_log_a_line_not_one_per_message(self):
        node = self.start("")
        # A PeerRequest (proto/peer.proto) with id 1 and from_node (field 2,
        # a string) that is not UTF-8: the bytes are made by hand, as a
        # hostile peer would.
        bad_peer = frame(b"\x08\x01" + b"\x12\x04\xff\xfe\xfd\xfc")
        # A client RemoveNode whose node_id is not UTF-8.
        request = client_pb2.Request()
        request.id = 1
        request.remove_node.node_id = "QQQQ"
        bad_client = frame(request.SerializeToString().replace(b"QQQQ", b"\xff\xfe\xfd\xfc"))
        time.sleep(1)  # the start-up lines are written
        lines_before = len(node.log().splitlines())
        with open(node.log_path, "rb") as f:
            size_before = len(f.read())
        for i in range(500):
            for port, bad in ((node.peer_port, bad_peer), (node.client_port, bad_client)):
                with socket.create_connection(("127.0.0.1", port)) as s:
                    s.sendall(bad)
                    self.assertIsNotNone(closed_within(s, 5), "the node kept a connection that sent bad bytes")
        with open(node.log_path, "rb") as f:
            added = f.read()[size_before:].decode(errors="replace").splitlines()
        self.assertLessEqual(len(added), 3, "\n".join(added[:10]))
        self.assertLessEqual(sum("UTF-8" in line for line in added), 1)
        self.assertGreater(len(node.log().splitlines()), lines_before - 1)
        with node.client() as c:
            self.assertEqual(c.ping(), "node1")

    def test_an_error_about_a_binary_key_reaches_the_client(self):
        node = self.start("limits: {max_siblings: 1}\n")
        key = b"\xff\xfe binary"
        with node.client() as c:
            c.put(key, b"one")
            with self.assertRaises(dynkv.DynkvError) as caught:
                c.put(key, b"two")  # no context: a second sibling, one too many
            self.assertEqual(caught.exception.code, "TOO_LARGE")
            self.assertIn("\\xff\\xfe binary", str(caught.exception))
            self.assertEqual(c.ping(), "node1")


if __name__ == "__main__":
    import unittest
    unittest.main()
