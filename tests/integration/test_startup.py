"""dynkvd refuses to start on bad configs and bad data dirs, with a clear
message and a non-zero exit, never a crash."""
import os
import subprocess
import unittest

from harness import DYNKVD, Node, NodeTestCase

CONFIG_ERROR = 2
RUNTIME_ERROR = 1


class StartupTest(NodeTestCase):
    def run_dynkvd(self, *args):
        return subprocess.run([DYNKVD, *args], capture_output=True, timeout=30)

    def run_with_config(self, text):
        path = os.path.join(self.root, "bad.yaml")
        with open(path, "w") as f:
            f.write(text)
        return self.run_dynkvd("--config", path)

    def test_config_errors_name_file_line_and_field(self):
        base = ("node_id: n1\n"
                "listen: { client: 127.0.0.1:7101, peer: 127.0.0.1:7201 }\n"
                f"data_dir: {self.root}/d\n")
        cases = [
            (base + "replication: { n: 2, r: 3, w: 1 }\n", ":4:", "replication.r"),
            (base + "colour: blue\n", ":4:", "colour"),
            (base + "replication:\n  n: three\n", ":5:", "replication.n"),
            ("listen: { client: 127.0.0.1:7101, peer: 127.0.0.1:7201 }\n"
             f"data_dir: {self.root}/d\n", "bad.yaml", "node_id"),
            (base.replace("127.0.0.1:7101", "127.0.0.1:99999"), ":2:", "listen.client"),
            (base + "seeds: [127.0.0.1:7201\n", "bad.yaml", ""),
        ]
        for text, where, field in cases:
            result = self.run_with_config(text)
            stderr = result.stderr.decode()
            self.assertEqual(result.returncode, CONFIG_ERROR, stderr)
            self.assertIn(where, stderr)
            self.assertIn(field, stderr)

    def test_missing_config_and_bad_arguments_exit_2(self):
        self.assertEqual(self.run_dynkvd().returncode, CONFIG_ERROR)
        self.assertEqual(self.run_dynkvd("--bogus").returncode, CONFIG_ERROR)
        missing = self.run_dynkvd("--config", "/nonexistent/dynkv.yaml")
        self.assertEqual(missing.returncode, CONFIG_ERROR)
        self.assertIn(b"/nonexistent/dynkv.yaml", missing.stderr)
        self.assertEqual(self.run_dynkvd("--help").returncode, 0)

    def test_a_data_dir_in_use_by_another_node_is_refused(self):
        first = self.start_node("node1")
        second = Node(self.root, "node1b")
        text = open(second.config_path).read().replace(second.data_dir, first.data_dir)
        text = text.replace("node_id: node1b", "node_id: node1")
        with open(second.config_path, "w") as f:
            f.write(text)
        result = self.run_dynkvd("--config", second.config_path)
        self.assertEqual(result.returncode, RUNTIME_ERROR)
        self.assertIn(b"in use", result.stderr)
        self.assertIn(first.data_dir.encode(), result.stderr)

    def test_a_corrupt_data_dir_is_refused_clearly(self):
        node = self.start_node()
        self.assertEqual(node.stop(), 0)
        with open(os.path.join(node.data_dir, "CURRENT"), "w") as f:
            f.write("MANIFEST-999999\n")
        result = self.run_dynkvd("--config", node.config_path)
        self.assertEqual(result.returncode, RUNTIME_ERROR)
        self.assertIn(node.data_dir.encode(), result.stderr)
        self.assertNotIn(b"Segmentation", result.stderr)

    def test_a_data_dir_of_another_node_id_is_refused(self):
        node = self.start_node("node1")
        self.assertEqual(node.stop(), 0)
        text = open(node.config_path).read().replace("node_id: node1", "node_id: node7")
        with open(node.config_path, "w") as f:
            f.write(text)
        result = self.run_dynkvd("--config", node.config_path)
        self.assertEqual(result.returncode, RUNTIME_ERROR)
        self.assertIn(b"belongs to node 'node1'", result.stderr)

    def test_a_client_port_in_use_is_refused(self):
        first = self.start_node("node1")
        second = Node(self.root, "node2")
        text = open(second.config_path).read().replace(str(second.client_port), str(first.client_port))
        with open(second.config_path, "w") as f:
            f.write(text)
        result = self.run_dynkvd("--config", second.config_path)
        self.assertEqual(result.returncode, RUNTIME_ERROR)
        self.assertIn(b"in use", result.stderr)



class CheckConfigTest(NodeTestCase):
    """dynkvd --check-config FILE: the startup's own loading and checks, then
    exit; what systemd runs as ExecStartPre."""

    def check(self, path):
        return subprocess.run([DYNKVD, "--check-config", path], capture_output=True, timeout=30)

    def write(self, text):
        path = os.path.join(self.root, "node.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def assert_refused_as_startup_refuses(self, path, expected):
        checked = self.check(path)
        started = subprocess.run([DYNKVD, "--config", path], capture_output=True, timeout=30)
        self.assertEqual(checked.returncode, CONFIG_ERROR, checked.stderr)
        self.assertEqual(checked.stdout, b"")
        self.assertIn(expected.encode(), checked.stderr)
        self.assertEqual(checked.stderr, started.stderr)
        self.assertEqual(checked.returncode, started.returncode)

    def test_a_good_config_is_ok_on_one_line_and_nothing_is_created(self):
        data_dir = os.path.join(self.root, "data")
        path = self.write("node_id: node1\n"
                          "listen: { client: 127.0.0.1:7001, peer: 127.0.0.1:7002 }\n"
                          f"data_dir: {data_dir}\n"
                          "seeds: [127.0.0.1:7002]\n")
        result = self.check(path)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, b"")
        self.assertEqual(result.stdout.decode(),
                         f"{path}: ok (node node1, client 127.0.0.1:7001, peer 127.0.0.1:7002, "
                         f"data_dir {data_dir}, 1 seed, n=3 r=2 w=2)\n")
        self.assertFalse(os.path.exists(data_dir))

    def test_the_config_of_a_running_node_checks_ok(self):
        # The node holds the data dir's lock and both ports: a check that
        # opened or bound either would fail.
        node = self.start_node("node1")
        result = self.check(node.config_path)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(result.stdout.startswith(f"{node.config_path}: ok (node node1".encode()))
        self.cli(node, "ping")

    def test_broken_yaml_is_refused_as_startup_refuses_it(self):
        path = self.write("node_id: node1\n"
                          "listen: { client: 127.0.0.1:7001, peer: 127.0.0.1:7002\n"
                          f"data_dir: {self.root}/data\n")
        self.assert_refused_as_startup_refuses(path, f"dynkvd: invalid config: {path}:")

    def test_a_bad_listen_address_is_refused_as_startup_refuses_it(self):
        path = self.write("node_id: node1\n"
                          "listen: { client: 127.0.0.1:70001, peer: 127.0.0.1:7002 }\n"
                          f"data_dir: {self.root}/data\n")
        self.assert_refused_as_startup_refuses(path, f"dynkvd: invalid config: {path}:2: listen.client: ")
        self.assertFalse(os.path.exists(os.path.join(self.root, "data")))

    def test_a_missing_file_is_refused_as_startup_refuses_it(self):
        path = os.path.join(self.root, "absent.yaml")
        self.assert_refused_as_startup_refuses(
            path, f"dynkvd: invalid config: cannot read config file {path}: No such file or directory")

    def test_help_and_usage(self):
        help_text = subprocess.run([DYNKVD, "--help"], capture_output=True, timeout=30).stdout
        self.assertIn(b"--check-config FILE", help_text)
        path = self.write("node_id: node1\n"
                          "listen: { client: 127.0.0.1:7001, peer: 127.0.0.1:7002 }\n"
                          f"data_dir: {self.root}/data\n")
        self.assertEqual(subprocess.run([DYNKVD, "--check-config"], capture_output=True).returncode, CONFIG_ERROR)
        both = subprocess.run([DYNKVD, "--config", path, "--check-config", path], capture_output=True)
        self.assertEqual(both.returncode, CONFIG_ERROR)
        self.assertIn(b"not both", both.stderr)
        self.assertEqual(subprocess.run([DYNKVD, f"--check-config={path}"], capture_output=True).returncode, 0)

if __name__ == "__main__":
    unittest.main()
