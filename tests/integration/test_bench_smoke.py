"""A few-second smoke run of dynkv-bench against a real dynkvd (and a real
redis-server when one is installed): the load generator connects, loads,
measures, reports without errors, and its --json output holds the fields
docs/BENCHMARKS.md documents. Speed is not asserted here; tools/bench/compare
measures it."""
import json
import os
import shutil
import socket
import subprocess
import time
import unittest

from harness import BUILD_ROOT, NodeTestCase, free_port

BENCH = os.path.join(BUILD_ROOT, "tools", "bench", "dynkv-bench")
CPU_TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "bench", "cpu")
RUN_TIMEOUT_S = 30  # a hung run fails the test instead of hanging it
LATENCY_FIELDS = {"min", "mean", "p50", "p90", "p99", "p999", "max"}
TOP_FIELDS = {"target", "nodes", "connections", "pipeline", "threads", "mix", "keys", "value_size",
              "distribution", "zipf_theta", "r", "w", "routing", "seed", "load", "warmup_s", "duration_s", "ops",
              "ops_per_sec", "error_count", "errors", "latency_us", "by_op", "get_hits", "get_misses"}


class BenchSmokeTest(NodeTestCase):
    def bench(self, *args):
        return subprocess.run([BENCH, "--quiet", *args], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)

    def assert_clean_report(self, report, target, ops_kinds):
        self.assertLessEqual(TOP_FIELDS, set(report), "documented JSON fields are missing")
        self.assertEqual(report["target"], target)
        self.assertGreater(report["ops"], 0)
        self.assertGreater(report["ops_per_sec"], 0)
        self.assertEqual(report["error_count"], 0, report["errors"])
        self.assertEqual(report["errors"], {})
        self.assertEqual(set(report["latency_us"]), LATENCY_FIELDS)
        latency = report["latency_us"]
        self.assertTrue(0 < latency["min"] <= latency["p50"] <= latency["p90"] <= latency["p99"]
                        <= latency["p999"] <= latency["max"], latency)
        self.assertEqual(set(report["by_op"]), ops_kinds)
        self.assertEqual(sum(op["ops"] for op in report["by_op"].values()), report["ops"])

    def test_loads_and_measures_a_node_without_errors(self):
        node = self.start_node()
        out = os.path.join(self.root, "bench.json")
        result = self.bench("--node", node.address, "--keys", "2000", "--load", "--connections", "4",
                            "--pipeline", "4", "--mix", "50:50:0", "--warmup", "0.2", "--duration", "1",
                            "--json", out)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("ops/s", result.stdout)
        with open(out) as f:
            report = json.load(f)
        self.assert_clean_report(report, "dynkv", {"get", "put"})
        self.assertEqual(report["load"], {"keys": 2000, "seconds": report["load"]["seconds"],
                                          "ops_per_sec": report["load"]["ops_per_sec"], "errors": {}})
        # Every key was loaded, so every read finds a value.
        self.assertGreater(report["get_hits"], 0)
        self.assertEqual(report["get_misses"], 0)

    def test_cpu_tool_reports_cpu_per_request_by_thread(self):
        # tools/bench/cpu (docs/BENCHMARKS.md): its own node, a short run.
        result = subprocess.run([CPU_TOOL, "--build", BUILD_ROOT, "--nodes", "1", "--keys", "2000", "--connections",
                                 "4", "--duration", "1"], capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        self.assertRegex(result.stdout, r"1 node\(s\), mix 0:100:0, 4 conns, pipeline 1, 2000 keys: [\d,]+ ops/s "
                                        r"\(put p50 [\d.]+ ms\), errors 0")
        self.assertRegex(result.stdout, r"nodes [\d.]+ cores = [\d.]+ us per request")
        self.assertRegex(result.stdout, r"objects per storage write batch: [\d.]+")
        self.assertRegex(result.stdout, r"node1: RSS \d+ MiB, [\d.]+ cores, [\d.]+ us/request: loop [\d.]+")

    def test_routing_sends_each_write_to_a_replica_of_its_key(self):
        # 5 nodes, N=3: a node is a replica of about 3/5 of the keys; it
        # forwards a write of any other key to a replica, which mints its
        # version (coordinator.forwarded_mints). Routed by key, none is.
        nodes = self.start_cluster(5)
        self.wait_until(lambda: all(self.ring_size(node) == 5 for node in nodes), 30, "every node sees 5 in the ring")
        forwarded = {}
        for routing in (False, True):
            before = self.forwarded_mints(nodes)
            result = self.bench("--nodes", ",".join(n.address for n in nodes), "--keys", "1000", "--connections",
                                "5", "--mix", "0:1:0", "--warmup", "0", "--ops", "500", "--json", "-",
                                *(["--routing"] if routing else []))
            self.assertEqual(result.returncode, 0, result.stderr)
            report = json.loads(result.stdout)
            self.assert_clean_report(report, "dynkv", {"put"})
            self.assertEqual(report["routing"], routing)
            forwarded[routing] = self.forwarded_mints(nodes) - before
        self.assertGreater(forwarded[False], 100, forwarded)  # about 2/5 of 500
        self.assertEqual(forwarded[True], 0, forwarded)

    def ring_size(self, node):
        return len(json.loads(self.cli(node, "ring", "--json").stdout)["nodes"])

    def forwarded_mints(self, nodes):
        return sum(json.loads(self.cli(n, "stats", "--json").stdout)["coordinator.forwarded_mints"] for n in nodes)

    def test_exact_op_count_with_deletes_and_json_on_stdout(self):
        node = self.start_node()
        result = self.bench("--node", node.address, "--keys", "100", "--connections", "3", "--pipeline", "2",
                            "--mix", "2:2:1", "--distribution", "zipfian", "--warmup", "0", "--ops", "600",
                            "--json", "-")
        self.assertEqual(result.returncode, 0, result.stderr)
        report = json.loads(result.stdout)
        self.assert_clean_report(report, "dynkv", {"get", "put", "del"})
        self.assertEqual(report["ops"], 600)
        self.assertIsNone(report["load"])
        self.assertEqual(report["distribution"], "zipfian")
        # The table goes to stderr when stdout carries the JSON.
        self.assertIn("ops/s", result.stderr)

    def test_no_server_fails_fast(self):
        result = self.bench("--node", f"127.0.0.1:{free_port()}", "--connections", "2", "--duration", "1",
                            "--timeout", "2000")
        self.assertEqual(result.returncode, 1)
        self.assertIn("no connection", result.stderr)

    def test_bad_usage_exits_2(self):
        for args in (["--mix", "1:2"], ["--target", "memcached"], ["--bogus"], ["--zipf-theta", "1.5"],
                     ["--target", "redis", "--w", "2"]):
            result = self.bench(*args)
            self.assertEqual(result.returncode, 2, args)

    @unittest.skipUnless(shutil.which("redis-server"), "redis-server is not installed")
    def test_drives_redis_with_the_same_generator(self):
        port = free_port()
        redis_dir = os.path.join(self.root, "redis")
        os.makedirs(redis_dir)
        redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", redis_dir,
                                  "--save", "", "--appendonly", "no"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.wait_for_port(port, redis)
            out = os.path.join(self.root, "redis.json")
            result = self.bench("--target", "redis", "--node", f"127.0.0.1:{port}", "--keys", "2000", "--load",
                                "--connections", "4", "--pipeline", "4", "--mix", "2:2:1", "--warmup", "0.2",
                                "--duration", "1", "--json", out)
            self.assertEqual(result.returncode, 0, result.stderr)
            with open(out) as f:
                report = json.load(f)
            self.assert_clean_report(report, "redis", {"get", "put", "del"})
            self.assertEqual(report["load"]["keys"], 2000)
            self.assertGreater(report["get_hits"], 0)
        finally:
            redis.kill()
            redis.wait()

    def wait_for_port(self, port, proc):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            self.assertIsNone(proc.poll(), "redis-server exited")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        self.fail("redis-server did not listen")


if __name__ == "__main__":
    unittest.main()
