"""The Redis-protocol port (listen.resp) on a real 3-node cluster, driven by
Debian's redis-cli and redis-benchmark (redis-tools) unmodified: set, get
and del replicated across nodes, redis-benchmark -t set,get, many pipelining
connections kept under the node's budget, pipelined replies in order, and bad input answered with an error that closes only its
own connection."""
import json
import shutil
import socket
import subprocess
import unittest

from harness import NodeTestCase

CONVERGE_LIMIT_S = 15.0
TIMEOUT_S = 10


def raw(node, request_bytes, expect_close=True):
    """Sends bytes to node's RESP port; the bytes it answers until it closes
    (or, without expect_close, until it has been quiet for a second)."""
    with socket.create_connection(("127.0.0.1", node.resp_port), timeout=TIMEOUT_S if expect_close else 1) as s:
        s.sendall(request_bytes)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except socket.timeout:
            if expect_close:
                raise
    return b"".join(chunks)


@unittest.skipUnless(shutil.which("redis-cli") and shutil.which("redis-benchmark"),
                     "redis-tools is not installed (tools/setup.sh installs it)")
class RespTest(NodeTestCase):
    def setUp(self):
        super().setUp()
        self.cluster = self.start_cluster(3, resp=True)
        for node in self.cluster:
            self.wait_until(lambda: self.ring_complete(node), CONVERGE_LIMIT_S, f"{node.node_id} sees the ring")

    def ring_complete(self, node):
        ring = json.loads(self.cli(node, "ring", "--json").stdout)
        members = json.loads(self.cli(node, "members", "--json").stdout)["members"]
        return len(ring["nodes"]) == 3 and all(m["up"] for m in members)

    def redis_cli(self, node, *args):
        result = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(node.resp_port), *args],
                                capture_output=True, timeout=30)
        self.assertEqual(result.returncode, 0, result.stderr)
        out = result.stdout.decode()
        return out[:-1] if out.endswith("\n") else out

    def test_redis_cli_set_get_del_across_nodes(self):
        node1, node2, node3 = self.cluster
        self.assertEqual(self.redis_cli(node1, "PING"), "PONG")
        self.assertEqual(self.redis_cli(node1, "SET", "greeting", "hello world"), "OK")
        self.assertEqual(self.redis_cli(node2, "GET", "greeting"), "hello world")
        self.assertEqual(self.redis_cli(node3, "SET", "greeting", "again"), "OK")
        self.assertEqual(self.redis_cli(node1, "DYNKV.SIBLINGS", "greeting"), "again")  # replaced, not a sibling
        self.assertEqual(self.redis_cli(node1, "SET", "n", "1", "NX"), "OK")
        self.assertEqual(self.redis_cli(node2, "SET", "n", "2", "NX"), "")  # nil: it exists
        self.assertEqual(self.redis_cli(node3, "MGET", "greeting", "n", "none"), "again\n1\n")
        self.assertEqual(self.redis_cli(node2, "DEL", "greeting", "none"), "1")
        self.assertEqual(self.redis_cli(node1, "GET", "greeting"), "")
        self.assertEqual(self.redis_cli(node1, "EXISTS", "greeting", "n"), "1")
        # The same key through the dynkv CLI: the RESP port writes ordinary dynkv values.
        doc = json.loads(self.cli(node1, "get", "n", "--json").stdout)
        self.assertEqual(doc["siblings"], ["1"])
        self.assertIn("unknown command 'HSET'", self.redis_cli(node1, "HSET", "h", "f", "v"))

    def test_redis_benchmark_set_get(self):
        node1, node2, _ = self.cluster
        result = subprocess.run(
            ["redis-benchmark", "-h", "127.0.0.1", "-p", str(node1.resp_port), "-t", "set,get", "-n", "10000",
             "-r", "1000", "-q"], capture_output=True, timeout=240)
        self.assertEqual(result.returncode, 0, result.stderr)
        out = result.stdout.decode(errors="replace").replace("\r", "\n")
        self.assertNotIn("Error", out + result.stderr.decode(errors="replace"))
        for test in ("SET", "GET"):
            self.assertRegex(out, rf"\n{test}: [0-9.]+ requests per second", out)
        # What it wrote is in the cluster: values of 3 random bytes under
        # key:000000000000 to key:000000000999, read through another node.
        found = sum(1 for i in range(0, 1000, 50) if len(self.redis_cli(node2, "GET", f"key:{i:012d}")) == 3)
        self.assertGreater(found, 10)
        stats = json.loads(self.cli(node1, "stats", "--json").stdout)
        self.assertGreaterEqual(stats["resp.commands"], 20000)
        self.assertEqual(stats["resp.protocol_errors"], 0)

    def test_many_pipelining_clients_wait_their_turn_and_get_no_errors(self):
        # 50 connections with 16 commands each in flight, MSET of 10 keys
        # among them: 8000 keys at once, more than the coordinator takes
        # before it sheds load with OVERLOADED, which no Redis client retries.
        node1 = self.cluster[0]
        result = subprocess.run(
            ["redis-benchmark", "-h", "127.0.0.1", "-p", str(node1.resp_port), "-t", "set,mset", "-n", "8000",
             "-c", "50", "-P", "16", "-r", "100000", "-q"], capture_output=True, timeout=240)
        out = (result.stdout + result.stderr).decode(errors="replace").replace("\r", "\n")
        self.assertEqual(result.returncode, 0, out)
        self.assertNotIn("Error", out)
        self.assertRegex(out, r"\nMSET \(10 keys\): [0-9.]+ requests per second", out)
        stats = json.loads(self.cli(node1, "stats", "--json").stdout)
        self.assertGreater(stats["resp.budget_waits"], 0)  # the load went past the budget
        self.assertEqual(stats["resp.keys_in_flight"], 0)
        self.assertEqual(stats["coordinator.overloaded"], 0)

    def test_pipelined_commands_are_answered_in_order(self):
        node = self.cluster[0]
        commands = b"".join(b"*3\r\n$3\r\nSET\r\n$2\r\nk%d\r\n$2\r\nv%d\r\n" % (i % 10, i % 10) for i in range(100))
        commands += b"".join(b"*2\r\n$3\r\nGET\r\n$2\r\nk%d\r\n" % i for i in range(10))
        commands += b"PING\r\nQUIT\r\nPING\r\n"  # nothing after QUIT runs
        answer = raw(node, commands)
        expected = b"+OK\r\n" * 100 + b"".join(b"$2\r\nv%d\r\n" % i for i in range(10)) + b"+PONG\r\n+OK\r\n"
        self.assertEqual(answer, expected)

    def test_bad_input_gets_an_error_and_closes_only_its_connection(self):
        node = self.cluster[0]
        self.assertEqual(raw(node, b"PING\r\n*1\r\n$x\r\n"),
                         b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n")
        self.assertEqual(raw(node, b"*1\r\n$4\r\nPING\r\n*1\r\n:1\r\n"),
                         b"+PONG\r\n-ERR Protocol error: expected '$', got ':'\r\n")
        # A bulk length over the client port's frame limit is refused before a byte of it is read.
        self.assertIn(b"Protocol error", raw(node, b"*2\r\n$3\r\nGET\r\n$4000000000\r\n"))
        # Half a command, then silence: the node waits and stays up.
        self.assertEqual(raw(node, b"*2\r\n$3\r\nGET\r\n", expect_close=False), b"")
        self.assertEqual(self.redis_cli(node, "PING"), "PONG")
        stats = json.loads(self.cli(node, "stats", "--json").stdout)
        self.assertEqual(stats["resp.protocol_errors"], 3)


if __name__ == "__main__":
    unittest.main()
