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


if __name__ == "__main__":
    unittest.main()
