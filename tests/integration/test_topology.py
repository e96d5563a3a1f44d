"""Racks and datacenters with real dynkvd processes (issue 17): six nodes
placed as config/racks/ places them (dc1: rack-a and rack-b, dc2: rack-c;
2 replicas per key in dc1 and 1 in dc2), `dynkv preflist` showing each
key's replicas on three distinct racks, and a rack killed whole leaving
every key readable at R=1 and writable at W=2 on its primaries alone."""
import glob
import json
import os
import re
import subprocess
import unittest

from dynkv.ring import key_position

from harness import DYNKVD, SOURCE_ROOT, Node, NodeTestCase

CONFIG_DIR = os.path.join(SOURCE_ROOT, "config", "racks")
CONVERGE_LIMIT_S = 30.0
KEYS = [f"key-{i}" for i in range(120)]


def placement_lines(path):
    """The location and replication lines of one shipped config."""
    with open(path) as f:
        text = f.read()
    lines = [line for line in text.splitlines() if re.match(r"^(location|replication):", line)]
    assert len(lines) == 2, path
    return "\n".join(lines) + "\n"


class ShippedConfigsTest(unittest.TestCase):
    def test_the_rack_configs_check_ok(self):
        paths = sorted(glob.glob(os.path.join(CONFIG_DIR, "node*.yaml")))
        self.assertEqual(len(paths), 6)
        for path in paths:
            result = subprocess.run([DYNKVD, "--check-config", path], capture_output=True, text=True)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn("n=3 (dc1:2 dc2:1)", result.stdout)


class RackTest(NodeTestCase):
    def setUp(self):
        super().setUp()
        first = None
        for path in sorted(glob.glob(os.path.join(CONFIG_DIR, "node*.yaml"))):
            node_id = os.path.basename(path)[:-len(".yaml")]
            # Only the primaries count for W here: no stand-in can make up
            # for a replica placed in the killed rack.
            extra = placement_lines(path).replace("w: 2,", "w: 2, sloppy_quorum: false,")
            seeds = [first.peer_address] if first else []
            node = Node(self.root, node_id, extra, seeds=seeds, tls_dir=self.tls_dir)
            first = first or node
            self.nodes.append(node)
        for node in self.nodes:
            node.start(wait=False)
        for node in self.nodes:
            node.wait_ready()
        self.by_id = {node.node_id: node for node in self.nodes}
        for node in self.nodes:
            self.wait_until(lambda: self.all_normal(node), CONVERGE_LIMIT_S, f"{node.node_id} sees 6 nodes up")

    def all_normal(self, node):
        members = self.members(node)
        return len(members) == 6 and all(m["up"] and m["status"] == "normal" for m in members.values())

    def preflist(self, node, key):
        return json.loads(self.cli(node, "preflist", key, "--json").stdout)

    def test_preflist_shows_three_racks_and_the_datacenter_counts(self):
        node = self.by_id["node3"]
        for key in KEYS[:40]:
            doc = self.preflist(node, key)
            self.assertEqual(doc["key"], key)
            self.assertIsInstance(doc["position"], int)
            replicas = doc["replicas"]
            self.assertEqual(len(replicas), 3, doc)
            self.assertEqual(sorted(r["rack"] for r in replicas), ["rack-a", "rack-b", "rack-c"], doc)
            self.assertEqual(sorted(r["datacenter"] for r in replicas), ["dc1", "dc1", "dc2"], doc)
            for r in replicas:
                self.assertEqual(r["role"], "primary")
                self.assertTrue(r["up"])
                self.assertEqual(set(r) >= {"node_id", "datacenter", "rack", "role", "up"}, True)
        # Every node places the key alike.
        for key in KEYS[:5]:
            lists = {n.node_id: [r["node_id"] for r in self.preflist(n, key)["replicas"]] for n in self.nodes}
            self.assertEqual(len(set(map(tuple, lists.values()))), 1, lists)
        # The Python client places keys as the nodes do.
        client = node.client()
        try:
            ring = client.ring()
        finally:
            client.close()
        for key in KEYS:
            ids = [r["node_id"] for r in self.preflist(node, key)["replicas"]]
            self.assertEqual(ring.preference_list(key_position(key.encode())), ids, key)
        text = self.cli(node, "preflist", KEYS[0]).stdout.decode()
        self.assertIn("DATACENTER", text)
        self.assertIn("rack-c", text)

    def test_ring_shows_each_nodes_datacenter_and_rack(self):
        node = self.by_id["node1"]
        doc = json.loads(self.cli(node, "ring", "--json").stdout)
        self.assertEqual(doc["datacenters"], {"dc1": 2, "dc2": 1})
        located = {n["node_id"]: (n["datacenter"], n["rack"]) for n in doc["nodes"]}
        lines = self.cli(node, "ring").stdout.decode().splitlines()
        self.assertEqual(lines[0].split()[-2:], ["DATACENTER", "RACK"], lines)
        for line in lines[1:1 + len(located)]:
            fields = line.split()
            self.assertEqual(tuple(fields[-2:]), located[fields[0]], line)
        self.assertIn("replicas per datacenter: dc1=2 dc2=1", lines[-1])

    def test_a_rack_killed_whole_leaves_every_key_readable_and_writable(self):
        writer = self.by_id["node3"].client()
        for key in KEYS:
            writer.put(key, b"before", w=3)
        for node_id in ("node1", "node2"):  # rack-a
            self.by_id[node_id].kill()
        survivor = self.by_id["node4"]
        # The killed nodes are seen down, and still listed as primaries.
        self.wait_until(lambda: not any(m["up"] for i, m in self.members(survivor).items() if i in ("node1", "node2")),
                        CONVERGE_LIMIT_S, "node4 sees rack-a down")
        down = [r for r in self.preflist(survivor, KEYS[0])["replicas"] if r["rack"] == "rack-a"]
        self.assertEqual(len(down), 1)
        self.assertFalse(down[0]["up"])
        clients = [self.by_id[node_id].client() for node_id in ("node4", "node6")]
        for client in clients:
            for key in KEYS:
                self.assertEqual([s.value for s in client.get(key, r=1).siblings], [b"before"], key)
        for i, client in enumerate(clients):
            for key in KEYS:
                value = f"after-{i}".encode()
                entry = client.put(key, value, context=client.get(key, r=1), w=2)
                self.assertEqual([s.value for s in entry.siblings], [value], key)
            client.close()
        writer.close()



class ReplicationMismatchTest(NodeTestCase):
    """Two nodes whose replication sections differ place keys on different
    replicas: each names the other in its log, `dynkv ring` (text and
    --json) and the ring.replication_differs stat."""

    def test_each_node_names_the_other(self):
        first = Node(self.root, "node1", "replication: { n: 3 }\n")
        second = Node(self.root, "node2", "replication: { n: 2 }\n", seeds=[first.peer_address])
        self.nodes.extend([first, second])
        for node in (first, second):
            node.start(wait=False)
        for node in (first, second):
            node.wait_ready()
        for node, other in ((first, second), (second, first)):
            self.wait_until(lambda: json.loads(self.cli(node, "ring", "--json").stdout)["replication_differs"] ==
                            [other.node_id], CONVERGE_LIMIT_S, f"{node.node_id} names {other.node_id}")
            text = self.cli(node, "ring").stdout.decode()
            self.assertIn(f"warning: {other.node_id} has another replication setting than {node.node_id}", text)
            stats = json.loads(self.cli(node, "stats", "--json").stdout)
            self.assertEqual(stats["ring.replication_differs"], 1)
            with open(node.log_path, errors="replace") as f:
                self.assertIn(f"node {other.node_id} has another replication setting", f.read())


if __name__ == "__main__":
    unittest.main()
