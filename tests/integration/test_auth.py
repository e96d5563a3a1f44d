"""Client tokens and roles (security.clients) on a real 3-node cluster: no
token or a bad one gets UNAUTHENTICATED (Ping still answers), a read token
reads but may not write, a write token writes but may not remove a node, an
admin token removes a dead one; the CLI's --token and $DYNKV_TOKEN; SIGHUP
with a rotated tokens file; redis-cli's AUTH on the RESP port; and no token
ever reaches a log, even at log_level debug."""
import json
import os
import shutil
import signal
import subprocess
import unittest

import dynkv
from harness import BUILD_ROOT, DYNKV, DYNKVD, Node, NodeTestCase

CONVERGE_LIMIT_S = 20.0
READ = "read-token-6f1c0e0d8a9b4d21"
WRITE = "write-token-93c2d8e1f0a74b55"
ADMIN = "admin-token-1a7e5b3c9d0f4e88"
ROTATED = "rotated-token-4b8d2f6a1c3e5a77"


class AuthTest(NodeTestCase):
    def setUp(self):
        super().setUp()
        self.tokens_path = os.path.join(self.root, "tokens.txt")
        self.write_tokens(f"# the test's clients\n{READ} read\n{WRITE} write\n{ADMIN} admin\n")
        yaml = f"log_level: debug\nsecurity:\n  clients:\n    tokens_file: {self.tokens_path}\n"
        self.cluster = self.start_cluster(3, yaml, resp=True)
        for node in self.cluster:
            admin = self.client(node, ADMIN)
            self.wait_until(lambda: len(admin.members()) == 3
                            and all(m["up"] and m["status"] == "normal" for m in admin.members())
                            and admin.stats()["node.ready"] == 1, CONVERGE_LIMIT_S, f"{node.node_id} is ready")

    def tearDown(self):
        logs = {node.node_id: node.log() for node in self.nodes}
        super().tearDown()
        for node_id, log in logs.items():
            for token in (READ, WRITE, ADMIN, ROTATED):
                self.assertNotIn(token, log, f"{node_id}'s log holds a token")

    def write_tokens(self, text):
        with open(self.tokens_path, "w") as f:
            f.write(text)
        os.chmod(self.tokens_path, 0o644)

    def client(self, node, token=None):
        client = node.client(token=token)
        self.addCleanup(client.close)
        return client

    def assert_refused(self, code, call, says=""):
        with self.assertRaises(dynkv.DynkvError) as caught:
            call()
        self.assertEqual(caught.exception.code, code, caught.exception)
        self.assertIn(says, caught.exception.message)
        return caught.exception

    def run_cli(self, node, *args, token=None, env_token=None):
        env = dict(os.environ)
        env.pop("DYNKV_TOKEN", None)
        if env_token is not None:
            env["DYNKV_TOKEN"] = env_token
        flags = ["--token", token] if token is not None else []
        return subprocess.run([DYNKV, "--node", node.address, *flags, *args], env=env, capture_output=True,
                              timeout=60, text=True)

    def test_roles_on_the_client_port(self):
        node1 = self.cluster[0]
        anonymous = self.client(node1)
        self.assertEqual(anonymous.ping(), "node1", "Ping needs no token")
        self.assert_refused("UNAUTHENTICATED", lambda: anonymous.get("k"), "requires a token")
        self.assert_refused("UNAUTHENTICATED", lambda: anonymous.put("k", "v"), "requires a token")
        self.assert_refused("UNAUTHENTICATED", lambda: self.client(node1, "guessed-token-0000000000").get("k"),
                            "refused")

        reader = self.client(node1, READ)
        self.assertEqual(reader.get("k").siblings, ())
        self.assert_refused("PERMISSION_DENIED", lambda: reader.put("k", "v"), "'write'")

        writer = self.client(node1, WRITE)
        writer.put("k", "v", w="all")
        self.assertEqual(reader.get("k").value, b"v")
        self.assertEqual(self.client(self.cluster[1], READ).get("k", r="all").value, b"v", "replicated")

        self.assertIn(f"the client tokens file {self.tokens_path} is readable by every user", node1.log())
        stats = self.client(node1, READ).stats(node=node1.address)
        self.assertGreaterEqual(stats["clients.auth_failures"], 1)
        self.assertGreaterEqual(stats["clients.permission_denied"], 1)

    def test_write_may_not_remove_a_node_and_admin_may(self):
        node1, _, node3 = self.cluster
        admin = self.client(node1, ADMIN)
        node3.kill()
        self.wait_until(lambda: not {m["node_id"]: m for m in admin.members()}["node3"]["up"], CONVERGE_LIMIT_S,
                        "node1 sees node3 down")
        refused = self.run_cli(node1, "remove", "node3", token=WRITE)
        self.assertEqual(refused.returncode, 1, refused.stderr)
        self.assertIn("PERMISSION_DENIED", refused.stderr)
        self.assertIn("'admin'", refused.stderr)
        self.assertEqual({m["node_id"]: m for m in admin.members()}["node3"]["status"], "normal")

        removed = self.run_cli(node1, "remove", "node3", token=ADMIN)
        self.assertEqual(removed.returncode, 0, removed.stderr)
        self.wait_until(lambda: {m["node_id"]: m for m in admin.members()}["node3"]["status"] in ("leaving", "left"),
                        CONVERGE_LIMIT_S, "node3 is removed")

    def test_cli_takes_the_token_from_the_flag_or_the_environment(self):
        node1 = self.cluster[0]
        self.assertEqual(self.run_cli(node1, "ping").returncode, 0)
        anonymous = self.run_cli(node1, "put", "k", "v")
        self.assertEqual(anonymous.returncode, 1)
        self.assertIn("UNAUTHENTICATED", anonymous.stderr)

        self.assertEqual(self.run_cli(node1, "put", "k", "v", token=WRITE).returncode, 0)
        got = self.run_cli(node1, "get", "k", env_token=READ)
        self.assertEqual((got.returncode, got.stdout), (0, "v\n"), got.stderr)
        denied = self.run_cli(node1, "put", "k", "v2", env_token=READ)
        self.assertEqual(denied.returncode, 1)
        self.assertIn("PERMISSION_DENIED: put needs the 'write' role", denied.stderr)
        # --token wins over $DYNKV_TOKEN, as --node over $DYNKV_NODE.
        self.assertEqual(self.run_cli(node1, "put", "k", "v3", token=WRITE, env_token=READ).returncode, 0)

        bad = self.run_cli(node1, "get", "k", token="guessed-token-0000000000")
        self.assertEqual(bad.returncode, 1)
        self.assertIn("UNAUTHENTICATED", bad.stderr)
        self.assertNotIn("guessed-token", bad.stderr)

    def test_sighup_rereads_the_tokens_file(self):
        node1 = self.cluster[0]
        before = self.client(node1, READ)
        self.assertEqual(before.get("k").siblings, ())

        self.write_tokens(f"{ROTATED} read\n{ADMIN} admin\n")
        node1.proc.send_signal(signal.SIGHUP)
        self.wait_until(lambda: "client tokens from" in node1.log().split("received SIGHUP", 1)[-1],
                        CONVERGE_LIMIT_S, "node1 rereads its tokens")
        self.assert_refused("UNAUTHENTICATED", lambda: self.client(node1, READ).get("k"), "refused")
        self.assertEqual(self.client(node1, ROTATED).get("k").siblings, ())
        self.assertEqual(before.get("k").siblings, (), "a connection keeps what it authenticated as")
        self.assertEqual(self.client(self.cluster[1], READ).get("k").siblings, (), "only node1 was told")

        # A bad file keeps the tokens in use, and says why.
        self.write_tokens(f"{ROTATED} reed\n")
        node1.proc.send_signal(signal.SIGHUP)
        self.wait_until(lambda: "keeping the 2 client tokens in use" in node1.log(), CONVERGE_LIMIT_S,
                        "node1 refuses the bad file")
        self.assertIn(f"{self.tokens_path}:1: the role (second field) is not read, write or admin", node1.log())
        self.assertEqual(self.client(node1, ROTATED).get("k").siblings, ())
        self.assertIsNone(node1.proc.poll(), "SIGHUP does not stop the node")

    def test_bench_authenticates_every_connection(self):
        bench = [os.path.join(BUILD_ROOT, "tools", "bench", "dynkv-bench"), "--quiet", "--node",
                 self.cluster[0].address, "--keys", "100", "--connections", "3", "--mix", "1:1:0", "--warmup", "0",
                 "--ops", "300", "--json", "-"]
        run = subprocess.run(bench + ["--token", WRITE], capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stderr)
        report = json.loads(run.stdout)
        self.assertEqual((report["ops"], report["error_count"]), (300, 0), report["errors"])
        refused = subprocess.run(bench + ["--token", READ], capture_output=True, text=True, timeout=120)
        self.assertIn("PERMISSION_DENIED", refused.stdout + refused.stderr)

    @unittest.skipUnless(shutil.which("redis-cli"), "redis-tools is not installed (tools/setup.sh installs it)")
    def test_redis_cli_auth(self):
        node1 = self.cluster[0]

        def redis_cli(*args):
            result = subprocess.run(["redis-cli", "--no-auth-warning", "-p", str(node1.resp_port), *args],
                                    capture_output=True, timeout=30, text=True)
            return (result.stdout + result.stderr).strip()

        self.assertEqual(redis_cli("GET", "k"), "NOAUTH Authentication required.")
        self.assertIn("WRONGPASS", redis_cli("-a", "guessed-token-0000000000", "GET", "k"))
        self.assertEqual(redis_cli("-a", WRITE, "SET", "k", "hello"), "OK")
        self.assertEqual(redis_cli("-a", READ, "GET", "k"), "hello")
        self.assertIn("NOPERM 'set' needs the 'write' role", redis_cli("-a", READ, "SET", "k", "bye"))
        self.assertEqual(redis_cli("--user", "anyone", "--pass", READ, "GET", "k"), "hello")


class AuthConfigTest(NodeTestCase):
    def test_a_bad_tokens_file_stops_the_start_naming_its_line_and_not_the_token(self):
        tokens = os.path.join(self.root, "tokens.txt")
        with open(tokens, "w") as f:
            f.write(f"{READ} read\n{WRITE}\n")
        config = Node(self.root, "node1", f"security:\n  clients:\n    tokens_file: {tokens}\n").config_path
        for flag in ("--check-config", "--config"):
            result = subprocess.run([DYNKVD, flag, config], capture_output=True, timeout=30, text=True)
            self.assertEqual(result.returncode, 2, result.stderr)
            self.assertIn(f"security.clients.tokens_file: {tokens}:2: expected 'TOKEN ROLE'", result.stderr)
            self.assertNotIn(WRITE, result.stderr + result.stdout)

    def test_without_tokens_sighup_is_harmless_and_the_start_warns(self):
        node = self.start_node()
        node.proc.send_signal(signal.SIGHUP)
        self.wait_until(lambda: "nothing to reload" in node.log(), CONVERGE_LIMIT_S, "the node answers SIGHUP")
        self.assertIsNone(node.proc.poll(), "SIGHUP does not stop the node")
        self.assertIn("security.clients is not set: every client that reaches", node.log())
        client = node.client()
        self.addCleanup(client.close)
        client.put("k", "v")
        self.assertEqual(client.get("k").value, b"v")


if __name__ == "__main__":
    unittest.main()
