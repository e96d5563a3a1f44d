"""Acknowledged writes survive a killed process (SIGKILL during a write
load) and a graceful stop (SIGTERM)."""
import threading
import time
import unittest

from harness import Conn, NodeTestCase, get_request, put_request

WINDOW = 64          # pipelined writes in flight
MAX_WRITES = 200_000  # bounds the load loop
LOAD_SECONDS = 1.5


class Writer(threading.Thread):
    """Pipelines unique-key puts until the node dies; records what was acked."""

    def __init__(self, node):
        super().__init__(daemon=True)
        self.conn = Conn(node, timeout=10)
        self.acked = {}
        self.error = None

    def run(self):
        sent = {}
        next_id = 1
        try:
            while next_id <= MAX_WRITES:
                while len(sent) < WINDOW and next_id <= MAX_WRITES:
                    key, value = b"k%07d" % next_id, b"value-%d" % next_id
                    self.conn.send(put_request(next_id, key, value))
                    sent[next_id] = (key, value)
                    next_id += 1
                response = self.conn.recv()
                if response is None:
                    return  # the node died
                key, value = sent.pop(response.id)
                if response.WhichOneof("result") == "put":
                    self.acked[key] = value
                else:
                    self.error = response
                    return
        except OSError:
            return  # reset by the dying node


class DurabilityTest(NodeTestCase):
    def read_all(self, node, expected):
        conn = Conn(node)
        keys = list(expected)
        missing = []
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            for i, key in enumerate(chunk):
                conn.send(get_request(i + 1, key))
            for _ in chunk:
                response = conn.recv()
                key = chunk[response.id - 1]
                values = [s.value for s in response.get.siblings]
                if values != [expected[key]]:
                    missing.append((key, values))
        conn.close()
        return missing

    def test_kill_9_during_a_write_load_loses_no_acknowledged_write(self):
        node = self.start_node()
        writer = Writer(node)
        writer.start()
        deadline = time.monotonic() + LOAD_SECONDS
        while time.monotonic() < deadline and writer.is_alive():
            time.sleep(0.05)
        self.assertTrue(writer.is_alive(), f"the load stopped early: {writer.error}")
        node.kill()
        writer.join(timeout=30)
        self.assertGreater(len(writer.acked), 100, "too few writes acknowledged to prove anything")

        node.start()
        missing = self.read_all(node, writer.acked)
        self.assertEqual(missing[:5], [], f"{len(missing)} of {len(writer.acked)} acknowledged writes lost")

    def test_sigterm_stops_cleanly_and_keeps_every_write(self):
        node = self.start_node()
        conn = Conn(node)
        expected = {}
        for i in range(1, 301):
            key, value = b"t%d" % i, b"v%d" % i
            self.assertEqual(conn.call(put_request(i, key, value)).WhichOneof("result"), "put")
            expected[key] = value
        conn.close()
        self.assertEqual(node.stop(), 0, node.log())
        self.assertIn("stopped", node.log())
        node.start()
        self.assertEqual(self.read_all(node, expected), [])


if __name__ == "__main__":
    unittest.main()
