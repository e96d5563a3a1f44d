"""Reads through a fallback with real dynkvd processes: 5 nodes, N=3, keys
written with W=3, one node killed. A read at R=1 asks the fallback that stands
in for the dead primary (sloppy quorum); the fallback holds nothing, and its
"not found" must not answer the read while the two live primaries, which hold
the key, can still answer (Riak's notfound_ok pitfall)."""
import json
import unittest

import dynkv
from harness import NodeTestCase

NODES = 5
KEYS = 150
CONVERGE_LIMIT_S = 15.0
DETECT_LIMIT_S = 5.0
REQUEST_TIMEOUT_S = 5.0


class FallbackReadTest(NodeTestCase):
    def setUp(self):
        super().setUp()
        self.cluster = self.start_cluster(NODES, extra_yaml="replication: { n: 3, sloppy_quorum: true }\n")
        for node in self.cluster:
            self.wait_until(lambda: self.ring_complete(node), CONVERGE_LIMIT_S, f"{node.node_id} sees the ring")

    def ring_complete(self, node):
        ring = json.loads(self.cli(node, "ring", "--json").stdout)
        members = self.members(node).values()
        return len(ring["nodes"]) == NODES and all(m["up"] for m in members if m["status"] != "left")

    def put(self, client, key, value, w):
        try:
            client.put(key, value, w=w)
        except dynkv.DynkvError as e:
            self.fail(f"put {key!r}: {e}")

    def get(self, client, key, r):
        """The sorted sibling values, or the error's code and message."""
        try:
            return sorted(client.get(key, r=r).values)
        except dynkv.DynkvError as e:
            return f"error {e.code}: {e.message}"

    def test_every_key_is_found_at_r1_from_every_live_node_with_one_node_down(self):
        written = {f"key-{i:03d}".encode(): f"value-{i:03d}".encode() for i in range(KEYS)}
        # One client per node, without routing: each node coordinates its own requests.
        clients = [node.client(REQUEST_TIMEOUT_S) for node in self.cluster]
        try:
            # Coordinated by every node in turn; W=3 puts each key on all three primaries.
            for i, (key, value) in enumerate(written.items()):
                self.put(clients[i % NODES], key, value, w=3)
        finally:
            for client in clients:
                client.close()

        victim = self.cluster[2]
        live = [node for node in self.cluster if node is not victim]
        victim.kill()
        for observer in live:
            self.wait_until(lambda: not self.members(observer)[victim.node_id]["up"], DETECT_LIMIT_S,
                            f"{observer.node_id} sees {victim.node_id} down")

        wrong = []
        reads = 0
        for node in live:
            with node.client(REQUEST_TIMEOUT_S) as client:
                for key, value in written.items():
                    got = self.get(client, key, r=1)
                    reads += 1
                    if got != [value]:
                        wrong.append(f"{node.node_id} {key.decode()}: {got}")
        self.assertEqual(reads, KEYS * len(live))
        self.assertFalse(wrong, f"{len(wrong)} of {reads} reads at R=1 did not find the written value, e.g. "
                                + "; ".join(wrong[:10]))


if __name__ == "__main__":
    unittest.main()
