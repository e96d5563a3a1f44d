"""Reads through a fallback with real dynkvd processes: 5 nodes, N=3, keys
written with W=3, one node killed. A read at R=1 asks the fallback that stands
in for the dead primary (sloppy quorum); the fallback holds nothing, and its
"not found" must not answer the read while the two live primaries, which hold
the key, can still answer (Riak's notfound_ok pitfall)."""
import json
import unittest

import client_pb2
from harness import Conn, NodeTestCase

NODES = 5
KEYS = 150
CONVERGE_LIMIT_S = 15.0
DETECT_LIMIT_S = 5.0
REQUEST_TIMEOUT_MS = 5000


class FallbackReadTest(NodeTestCase):
    def setUp(self):
        super().setUp()
        self.cluster = self.start_cluster(NODES, extra_yaml="replication: { n: 3, sloppy_quorum: true }\n")
        for node in self.cluster:
            self.wait_until(lambda: self.ring_complete(node), CONVERGE_LIMIT_S, f"{node.node_id} sees the ring")
        self.next_id = 0

    def ring_complete(self, node):
        ring = json.loads(self.cli(node, "ring", "--json").stdout)
        members = self.members(node).values()
        return len(ring["nodes"]) == NODES and all(m["up"] for m in members if m["status"] != "left")

    def call(self, conn, request):
        self.next_id += 1
        request.id = self.next_id
        response = conn.call(request)
        self.assertIsNotNone(response, "the node closed the connection")
        self.assertEqual(response.id, request.id)
        return response

    def put(self, conn, key, value, w):
        r = client_pb2.Request()
        r.put.key, r.put.value, r.put.w, r.put.timeout_ms = key, value, w, REQUEST_TIMEOUT_MS
        response = self.call(conn, r)
        self.assertFalse(response.HasField("error"), f"put {key!r}: {response.error.message}")

    def get(self, conn, key, r):
        """The sorted sibling values, or the error's message."""
        request = client_pb2.Request()
        request.get.key, request.get.r, request.get.timeout_ms = key, r, REQUEST_TIMEOUT_MS
        response = self.call(conn, request)
        if response.HasField("error"):
            return f"error {client_pb2.ErrorCode.Name(response.error.code)}: {response.error.message}"
        return sorted(s.value for s in response.get.siblings)

    def test_every_key_is_found_at_r1_from_every_live_node_with_one_node_down(self):
        written = {f"key-{i:03d}".encode(): f"value-{i:03d}".encode() for i in range(KEYS)}
        conns = [Conn(node) for node in self.cluster]
        try:
            # Coordinated by every node in turn; W=3 puts each key on all three primaries.
            for i, (key, value) in enumerate(written.items()):
                self.put(conns[i % NODES], key, value, w=3)
        finally:
            for conn in conns:
                conn.close()

        victim = self.cluster[2]
        live = [node for node in self.cluster if node is not victim]
        victim.kill()
        for observer in live:
            self.wait_until(lambda: not self.members(observer)[victim.node_id]["up"], DETECT_LIMIT_S,
                            f"{observer.node_id} sees {victim.node_id} down")

        wrong = []
        reads = 0
        for node in live:
            conn = Conn(node)
            try:
                for key, value in written.items():
                    got = self.get(conn, key, r=1)
                    reads += 1
                    if got != [value]:
                        wrong.append(f"{node.node_id} {key.decode()}: {got}")
            finally:
                conn.close()
        self.assertEqual(reads, KEYS * len(live))
        self.assertFalse(wrong, f"{len(wrong)} of {reads} reads at R=1 did not find the written value, e.g. "
                                + "; ".join(wrong[:10]))


if __name__ == "__main__":
    unittest.main()
