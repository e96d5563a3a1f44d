"""Acknowledged writes survive a killed process (SIGKILL during a write
load) and a graceful stop (SIGTERM)."""
import concurrent.futures
import threading
import time
import unittest

import dynkv
from harness import NodeTestCase

WINDOW = 64          # pipelined writes in flight
MAX_WRITES = 200_000  # bounds the load loop
LOAD_SECONDS = 1.5
READ_CHUNK = 500     # pipelined reads in flight


class Writer(threading.Thread):
    """Pipelines unique-key puts until the node dies; records what was acked:
    a put the node answered, and nothing else."""

    def __init__(self, node):
        super().__init__(daemon=True)
        self.client = node.client()
        self.acked = {}
        self.error = None

    def run(self):
        in_flight = {}  # future -> (key, value)
        next_i = 1
        try:
            while next_i <= MAX_WRITES:
                while len(in_flight) < WINDOW and next_i <= MAX_WRITES:
                    key, value = b"k%07d" % next_i, b"value-%d" % next_i
                    in_flight[self.client.put_async(key, value)] = (key, value)
                    next_i += 1
                done, _ = concurrent.futures.wait(in_flight, return_when=concurrent.futures.FIRST_COMPLETED)
                failures = []
                for future in done:
                    key, value = in_flight.pop(future)
                    if future.exception() is None:
                        self.acked[key] = value
                    else:
                        failures.append(future.exception())
                if any(e.code in (dynkv.CONNECTION, dynkv.CLIENT_TIMEOUT) for e in failures):
                    return  # the node died: no answer, so not acknowledged
                if failures:
                    self.error = failures[0]
                    return
        finally:
            self.client.close()


class DurabilityTest(NodeTestCase):
    def read_all(self, node, expected):
        """(key, what was read) of each key whose value is not exactly the expected one."""
        keys = list(expected)
        missing = []
        with node.client() as client:
            for start in range(0, len(keys), READ_CHUNK):
                chunk = keys[start:start + READ_CHUNK]
                for key, future in [(key, client.get_async(key)) for key in chunk]:
                    try:
                        values = future.result().values
                    except dynkv.DynkvError as e:
                        values = f"error {e.code}: {e.message}"
                    if values != [expected[key]]:
                        missing.append((key, values))
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
        expected = {}
        with node.client() as client:
            for i in range(1, 301):
                key, value = b"t%d" % i, b"v%d" % i
                self.assertEqual(client.put(key, value).values, [value])
                expected[key] = value
        self.assertEqual(node.stop(), 0, node.log())
        self.assertIn("stopped", node.log())
        node.start()
        self.assertEqual(self.read_all(node, expected), [])


if __name__ == "__main__":
    unittest.main()
