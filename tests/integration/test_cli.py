"""The dynkv CLI against a real dynkvd: the contract of issue 2; and the
cluster commands transfers and leave."""
import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time
import unittest

from dynkv import client_pb2
from harness import DYNKV, NodeTestCase

CONVERGE_LIMIT_S = 15.0
SETTLE_LIMIT_S = 60.0  # three nodes started together have joined and streamed


class CliTest(NodeTestCase):
    def setUp(self):
        super().setUp()
        self.node = self.start_node()

    def get_json(self, key, *extra):
        out = self.cli(self.node, "get", key, "--json", *extra).stdout
        return json.loads(out)

    def test_put_get_del_round_trip(self):
        self.cli(self.node, "put", "user:1", "alice")
        self.assertEqual(self.cli(self.node, "get", "user:1").stdout, b"alice\n")
        self.cli(self.node, "del", "user:1")
        self.assertEqual(self.cli(self.node, "get", "user:1").stdout, b"")

    def test_missing_key_is_success_with_no_siblings(self):
        result = self.cli(self.node, "get", "never-written")
        self.assertEqual(result.returncode, 0)
        self.assertEqual(result.stdout, b"")
        doc = self.get_json("never-written")
        self.assertEqual(doc["key"], "never-written")
        self.assertEqual(doc["siblings"], [])
        self.assertIsInstance(doc["context"], str)

    def test_two_blind_puts_give_two_siblings_and_a_put_with_context_gives_one(self):
        self.cli(self.node, "put", "cart", "apple")
        self.cli(self.node, "put", "cart", "pear")
        doc = self.get_json("cart")
        self.assertEqual(sorted(doc["siblings"]), ["apple", "pear"])
        self.assertEqual(sorted(self.cli(self.node, "get", "cart").stdout.splitlines()), [b"apple", b"pear"])

        self.cli(self.node, "put", "cart", "apple+pear", "--context", doc["context"])
        self.assertEqual(self.get_json("cart")["siblings"], ["apple+pear"])

    def test_a_stale_context_keeps_the_concurrent_write(self):
        self.cli(self.node, "put", "k", "v1")
        stale = self.get_json("k")["context"]
        self.cli(self.node, "put", "k", "v2", "--context", stale)   # replaces v1
        self.cli(self.node, "put", "k", "v3", "--context", stale)   # concurrent with v2
        self.assertEqual(sorted(self.get_json("k")["siblings"]), ["v2", "v3"])

    def test_del_with_stale_context_keeps_a_concurrent_write(self):
        self.cli(self.node, "put", "k", "v1")
        stale = self.get_json("k")["context"]
        self.cli(self.node, "put", "k", "v2")  # blind: concurrent with what `stale` saw
        self.cli(self.node, "del", "k", "--context", stale)
        self.assertEqual(self.get_json("k")["siblings"], ["v2"])

    def test_put_after_delete_with_its_context_leaves_only_the_new_value(self):
        self.cli(self.node, "put", "k", "old")
        self.cli(self.node, "del", "k")
        ctx = self.get_json("k")["context"]
        self.cli(self.node, "put", "k", "new", "--context", ctx)
        self.assertEqual(self.get_json("k")["siblings"], ["new"])

    def test_put_json_reports_siblings_and_a_context_that_covers_them(self):
        self.cli(self.node, "put", "k", "a")
        doc = json.loads(self.cli(self.node, "put", "k", "b", "--json").stdout)
        self.assertEqual(sorted(doc["siblings"]), ["a", "b"])
        self.cli(self.node, "put", "k", "c", "--context", doc["context"])
        self.assertEqual(self.get_json("k")["siblings"], ["c"])

    def test_value_dash_reads_stdin_exactly(self):
        value = b"line one\nline two\x00\xffend"
        self.cli(self.node, "put", "blob", "-", stdin=value)
        self.assertEqual(self.cli(self.node, "get", "blob").stdout, value + b"\n")

    def test_ttl_expires_values(self):
        self.cli(self.node, "put", "session", "token", "--ttl", "1")
        self.cli(self.node, "put", "forever", "stays")
        self.assertEqual(self.cli(self.node, "get", "session").stdout, b"token\n")
        deadline = time.monotonic() + 10
        while self.cli(self.node, "get", "session").stdout != b"" and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.cli(self.node, "get", "session").stdout, b"")
        self.assertEqual(self.cli(self.node, "get", "forever").stdout, b"stays\n")

    def test_named_and_counted_quorums_are_accepted_up_to_n(self):
        for level in ("1", "one", "quorum", "all", "default"):
            self.cli(self.node, "put", "q", level, "--w", level)
            self.cli(self.node, "get", "q", "--r", level)
        result = self.cli(self.node, "get", "q", "--r", "2", check=False)
        self.assertEqual(result.returncode, 1)
        self.assertIn(b"INVALID_ARGUMENT", result.stderr)
        self.assertIn(b"N=1", result.stderr)

    def test_transfers_on_a_single_still_node(self):
        self.wait_until(lambda: still_and_normal(self, self.node), CONVERGE_LIMIT_S, "node1 normal")
        self.assertEqual(self.cli(self.node, "transfers").stdout, b"node1 normal: the ring is still: no transfers\n")

    def test_ping_and_stats(self):
        self.assertIn(b"node1", self.cli(self.node, "ping").stdout)
        self.cli(self.node, "put", "a", "1")
        stats = json.loads(self.cli(self.node, "stats", "--json").stdout)
        self.assertEqual(stats["node_id"], "node1")
        self.assertGreaterEqual(stats["requests.put"], 1)
        self.assertIn(b"requests.put 1", self.cli(self.node, "stats").stdout)

    def test_usage_errors_exit_2_with_a_message(self):
        for args in (["frobnicate"], ["get"], ["put", "k"], ["get", "k", "--ttl", "5"],
                     ["put", "k", "v", "--ttl", "soon"], ["put", "k", "v", "--context", "%%%"], []):
            result = self.cli(self.node, *args, check=False)
            self.assertEqual(result.returncode, 2, args)
            self.assertTrue(result.stderr.startswith(b"dynkv: "), result.stderr)

    def test_help_lists_every_command(self):
        out = self.cli(self.node, "--help").stdout
        for command in (b"put KEY VALUE", b"get KEY", b"del KEY", b"ping", b"stats", b"members [--json]",
                        b"ring [--json]", b"transfers [--json]", b"leave", b"remove NODE_ID"):
            self.assertIn(command, out)

    def test_an_unreachable_node_is_a_clear_error(self):
        self.node.stop()
        result = self.cli(self.node, "get", "k", check=False)
        self.assertEqual(result.returncode, 1)
        self.assertIn(b"UNAVAILABLE", result.stderr)
        self.assertIn(self.node.address.encode(), result.stderr)


class CommandLineTest(NodeTestCase):
    """How the CLI reads its command line (issue 2: add, never change): where
    flags may go, --flag=value, values that start with a dash, repeated flags,
    $DYNKV_NODE; and the spelling of its JSON."""

    def setUp(self):
        super().setUp()
        self.node = self.start_node()

    def run_cli(self, *args, env=None, stdin=None):
        return subprocess.run([DYNKV, *args], input=stdin, capture_output=True, timeout=30,
                              env=dict(os.environ, **(env or {})))

    def test_flags_go_anywhere_after_the_command_and_take_inline_values(self):
        address = self.node.address
        self.assertEqual(self.run_cli("put", "k", "v1", "--node", address, "--w=1", "--ttl=600").returncode, 0)
        self.assertEqual(self.run_cli(f"--node={address}", "get", "--r", "one", "k").stdout, b"v1\n")
        self.assertEqual(self.run_cli("get", "k", f"--node={address}", "--timeout=2000").stdout, b"v1\n")
        self.assertEqual(self.run_cli("--timeout", "2000", "get", "k", "--node", address).stdout, b"v1\n")

    def test_a_command_flag_may_stand_before_the_command(self):
        self.cli(self.node, "put", "k", "v1")
        result = self.run_cli("--json", "--node", self.node.address, "get", "k")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(json.loads(result.stdout)["siblings"], ["v1"])

    def test_words_that_start_with_one_dash_or_are_two_dashes_are_keys_and_values(self):
        # Only a word of 3 or more characters starting with "--" is a flag.
        self.cli(self.node, "put", "-k", "-rw-r--r--")
        self.assertEqual(self.cli(self.node, "get", "-k").stdout, b"-rw-r--r--\n")
        self.cli(self.node, "put", "--", "-x")
        self.assertEqual(self.cli(self.node, "get", "--").stdout, b"-x\n")
        result = self.cli(self.node, "get", "k", "extra", check=False)
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"get takes 1 argument(s), got 2", result.stderr)

    def test_values_that_look_like_numbers_or_stdin(self):
        self.cli(self.node, "put", "temperature", "-5")
        self.assertEqual(self.cli(self.node, "get", "temperature").stdout, b"-5\n")
        self.cli(self.node, "put", "dash", "-", stdin=b"-x")
        self.assertEqual(self.cli(self.node, "get", "dash").stdout, b"-x\n")
        self.cli(self.node, "put", "get", "ping")  # command names as key and value
        self.assertEqual(self.cli(self.node, "get", "get").stdout, b"ping\n")

    def test_the_last_of_a_repeated_flag_counts(self):
        result = self.run_cli("--node", "127.0.0.1:1", "ping", "--node", self.node.address)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(b"node1", result.stdout)

    def test_dynkv_node_names_the_node_unless_node_is_given(self):
        result = self.run_cli("ping", env={"DYNKV_NODE": self.node.address})
        self.assertEqual(result.returncode, 0, result.stderr)
        result = self.run_cli("--node", self.node.address, "ping", env={"DYNKV_NODE": "127.0.0.1:1"})
        self.assertEqual(result.returncode, 0, result.stderr)
        result = self.run_cli("ping", env={"DYNKV_NODE": "nohost"})
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertTrue(result.stderr.startswith(b"dynkv: "), result.stderr)

    def test_more_usage_errors_exit_2_and_name_the_problem(self):
        for args, named in ((["--bogus", "ping"], b"--bogus"), (["ping", "--timeout", "0"], b"--timeout"),
                            (["ping", "--timeout"], b"--timeout"), (["ping", "extra"], b""),
                            (["remove"], b""), (["get", "k", "--json=yes"], b"--json"),
                            (["get", "k", "--r", "most"], b"--r"), (["put", "k", "v", "--ttl", "0"], b"--ttl"),
                            (["frobnicate"], b"frobnicate"), (["leave", "--json"], b"--json")):
            result = self.cli(self.node, *args, check=False)
            self.assertEqual(result.returncode, 2, args)
            self.assertTrue(result.stderr.startswith(b"dynkv: "), result.stderr)
            self.assertIn(named, result.stderr.splitlines()[0], args)
            self.assertIn(b"dynkv --help", result.stderr, args)
            self.assertEqual(result.stdout, b"", args)

    def test_help_and_version(self):
        for args in (["--help"], ["get", "--help"], ["put", "k", "v", "--help"]):
            result = self.run_cli(*args)
            self.assertEqual(result.returncode, 0, args)
            self.assertTrue(result.stdout.startswith(b"usage: dynkv [--node HOST:PORT] [--timeout MS] COMMAND"),
                            result.stdout)
            for flag in (b"--node", b"--ca FILE", b"$DYNKV_CA", b"--timeout", b"--token", b"--r", b"--w", b"--ttl", b"--context", b"--json", b"--help",
                         b"--version", b"repair [--json]", b"put KEY VALUE [--w W] [--ttl SECONDS]"):
                self.assertIn(flag, result.stdout, args)
        result = self.run_cli("--version")
        self.assertEqual((result.returncode, result.stdout), (0, b"dynkv 0.1.0\n"))

    def test_json_is_one_line_with_spaces_after_separators_in_a_fixed_order(self):
        self.cli(self.node, "put", "k", 'say "hi"\n')
        out = self.cli(self.node, "get", "k", "--json").stdout.decode()
        self.assertRegex(out, r'^\{"key": "k", "siblings": \["say \\"hi\\"\\n"\], "context": "[A-Za-z0-9+/=]+"\}\n$')
        stats = self.cli(self.node, "stats", "--json").stdout.decode()
        self.assertTrue(stats.startswith('{"node_id": "node1", '), stats)
        self.assertIs(type(json.loads(stats)["requests.put"]), int)
        members = self.cli(self.node, "members", "--json").stdout.decode()
        self.assertRegex(members, r'^\{"node_id": "node1", "members": \[\{"node_id": "node1", "status": "\w+", '
                                  r'"replacing": false, "up": true, "state": "up", "generation": \d+, ')
        self.assertEqual(list(json.loads(members)["members"][0]),
                         ["node_id", "status", "replacing", "up", "state", "generation", "address", "peer_address",
                          "phi", "tokens", "datacenter", "rack", "self"])
        ring = json.loads(self.cli(self.node, "ring", "--json").stdout)
        self.assertEqual(list(ring), ["node_id", "n", "nodes", "datacenters", "replication_differs"])
        self.assertEqual((ring["datacenters"], ring["replication_differs"]), ({}, []))

    def test_bytes_that_are_not_utf8_print_as_code_points(self):
        self.cli(self.node, "put", "blob", "-", stdin=b"a\xffb")
        doc = json.loads(self.cli(self.node, "get", "blob", "--json").stdout)
        self.assertEqual(doc["siblings"], ["a\u00ffb"])


def still_and_normal(test, node):
    doc = json.loads(test.cli(node, "transfers", "--json").stdout)
    return doc["status"] == "normal" and doc["change"] == "" and doc["transfers"] == []


class ClusterCliTest(NodeTestCase):
    """transfers, members and leave on a three-node cluster."""

    def setUp(self):
        super().setUp()
        self.cluster = self.start_cluster(3)
        # Nodes that start together join in turn: every node is still at once
        # only after the last join.
        self.wait_until(lambda: all(still_and_normal(self, node) for node in self.cluster), SETTLE_LIMIT_S,
                        "every node normal on a still ring")

    def test_transfers_on_a_still_cluster(self):
        for node in self.cluster:
            self.assertEqual(self.cli(node, "transfers").stdout,
                             f"{node.node_id} normal: the ring is still: no transfers\n".encode())
            doc = json.loads(self.cli(node, "transfers", "--json").stdout)
            self.assertEqual(doc["node_id"], node.node_id)
            self.assertEqual(doc["status"], "normal")
            self.assertEqual(doc["change"], "")
            self.assertEqual(doc["transfers"], [])
            self.assertEqual((doc["ranges_done"], doc["ranges_total"], doc["keys"], doc["bytes"]), (0, 0, 0, 0))
            self.assertRegex(doc["ring_version"], "^[0-9a-f]{16}$")

    def test_transfers_takes_only_json(self):
        result = self.cli(self.cluster[0], "transfers", "extra", check=False)
        self.assertEqual(result.returncode, 2)
        result = self.cli(self.cluster[0], "transfers", "--w", "1", check=False)
        self.assertEqual(result.returncode, 2)

    def test_members_says_who_is_replacing(self):
        members = self.members(self.cluster[0])
        self.assertEqual({m["replacing"] for m in members.values()}, {False})
        self.assertNotIn(b"(replacing)", self.cli(self.cluster[0], "members").stdout)

    def test_leave_waits_until_the_node_has_left_and_exits_0(self):
        leaver = self.cluster[2]
        result = self.cli(leaver, "leave", timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        out = result.stdout.decode()
        self.assertTrue(out.startswith(f"node3 ({leaver.address}) is leaving the cluster"), out)
        self.assertTrue(out.endswith("node3 left the cluster\n"), out)
        # The CLI returns once the node stopped answering: it has exited, or is about to.
        self.assertEqual(leaver.proc.wait(timeout=15), 0, leaver.log())
        for observer in self.cluster[:2]:
            self.wait_until(lambda: self.members(observer)["node3"]["status"] == "left", CONVERGE_LIMIT_S,
                            f"{observer.node_id} sees node3 left")


class ScriptedNode:
    """A client port that answers Ping and Leave, then Transfers with a node
    that stays "leaving": a leave that takes long, for the Ctrl-C test."""

    def __init__(self):
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(4)
        self.address = "127.0.0.1:%d" % self.server.getsockname()[1]
        self.requests = []
        self.lock = threading.Lock()
        self.transfers_seen = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def close(self):
        self.server.close()

    def serve(self):
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn:
            buf = b""
            while True:
                while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
                    chunk = conn.recv(1 << 16)
                    if not chunk:
                        return
                    buf += chunk
                size = struct.unpack(">I", buf[:4])[0]
                request = client_pb2.Request()
                request.ParseFromString(buf[4:4 + size])
                buf = buf[4 + size:]
                op = request.WhichOneof("op")
                with self.lock:
                    self.requests.append(op)
                response = client_pb2.Response(id=request.id)
                if op == "ping":
                    response.ping.node_id = "slow"
                elif op == "leave":
                    response.leave.SetInParent()
                elif op == "transfers":
                    t = response.transfers
                    t.node_id, t.status, t.change = "slow", "leaving", "leave slow"
                    t.ranges_total, t.ranges_done, t.keys, t.bytes = 4, 1, 10, 2048
                    self.transfers_seen.set()
                else:
                    response.error.code = client_pb2.INVALID_ARGUMENT
                body = response.SerializeToString()
                conn.sendall(struct.pack(">I", len(body)) + body)

    def seen(self):
        with self.lock:
            return list(self.requests)


class LeaveInterruptTest(unittest.TestCase):
    def test_ctrl_c_stops_the_waiting_not_the_leave(self):
        node = ScriptedNode()
        self.addCleanup(node.close)
        cli = subprocess.Popen([DYNKV, "--node", node.address, "leave"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
        try:
            self.assertTrue(node.transfers_seen.wait(timeout=10), "the CLI never asked for transfers")
            time.sleep(1.5)  # a poll or two more
            cli.send_signal(signal.SIGINT)
            out, err = cli.communicate(timeout=10)
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.wait()
        self.assertEqual(cli.returncode, 130, err)
        seen = node.seen()
        self.assertEqual(seen[:2], ["ping", "leave"])
        self.assertGreaterEqual(len(seen), 3)
        self.assertEqual(set(seen[2:]), {"transfers"}, "after the leave, only transfers may be sent")
        self.assertEqual(out.decode().count("slow leaving: 1/4 ranges done, 10 keys, 2.0 KiB moved\n"), 1, out)
        self.assertIn(b"slow goes on leaving the cluster", err)
        self.assertIn(f"dynkv --node {node.address} transfers".encode(), err)
        self.assertNotIn(b"left the cluster", out)


class LastWriteWinsCliTest(NodeTestCase):
    """replication.conflicts: lww keeps one value per key: the newest."""

    def test_concurrent_blind_writes_keep_only_the_newest(self):
        node = self.start_node(extra_yaml="replication: { n: 1, r: 1, w: 1, conflicts: lww }\n")
        self.cli(node, "put", "k", "first")
        self.cli(node, "put", "k", "second")
        self.assertEqual(self.cli(node, "get", "k").stdout, b"second\n")


if __name__ == "__main__":
    unittest.main()
