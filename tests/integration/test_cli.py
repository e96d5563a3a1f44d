"""The dynkv CLI against a real dynkvd: the contract of issue 2."""
import json
import time
import unittest

from harness import NodeTestCase


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
        for command in (b"put KEY VALUE", b"get KEY", b"del KEY", b"ping", b"stats"):
            self.assertIn(command, out)

    def test_an_unreachable_node_is_a_clear_error(self):
        self.node.stop()
        result = self.cli(self.node, "get", "k", check=False)
        self.assertEqual(result.returncode, 1)
        self.assertIn(b"UNAVAILABLE", result.stderr)
        self.assertIn(self.node.address.encode(), result.stderr)


class LastWriteWinsCliTest(NodeTestCase):
    """replication.conflicts: lww keeps one value per key: the newest."""

    def test_concurrent_blind_writes_keep_only_the_newest(self):
        node = self.start_node(extra_yaml="replication: { n: 1, r: 1, w: 1, conflicts: lww }\n")
        self.cli(node, "put", "k", "first")
        self.cli(node, "put", "k", "second")
        self.assertEqual(self.cli(node, "get", "k").stdout, b"second\n")


if __name__ == "__main__":
    unittest.main()
