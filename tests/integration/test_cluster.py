"""Cluster membership with real dynkvd processes (issue 3): convergence from
one seed, failure detection of killed and paused nodes, recovery, leave and
remove, and a loaded node that stays up in its peers' eyes."""
import json
import os
import subprocess
import time
import unittest

import dynkv

from harness import BUILD_ROOT, Node, NodeTestCase

DETECTION_LIMIT_S = 5.0   # the bound on the default settings
CONVERGE_LIMIT_S = 15.0
BENCH = os.path.join(BUILD_ROOT, "tools", "bench", "dynkv-bench")


class ClusterTest(NodeTestCase):
    def setUp(self):
        super().setUp()
        self.cluster = self.start_cluster(3)
        self.wait_converged()

    def all_up_on(self, node):
        members = self.members(node)
        return len(members) == 3 and all(m["up"] and m["status"] == "normal" for m in members.values())

    def wait_converged(self):
        for node in self.cluster:
            self.wait_until(lambda: self.all_up_on(node), CONVERGE_LIMIT_S, f"{node.node_id} sees 3 nodes up")

    def seen_as(self, observer, node_id, up):
        return self.members(observer)[node_id]["up"] == up

    def test_three_nodes_from_one_seed_converge_with_balanced_ring(self):
        for node in self.cluster:
            members = self.members(node)
            self.assertEqual(sorted(members), ["node1", "node2", "node3"])
            for m in members.values():
                self.assertGreater(m["generation"], 0)
                self.assertTrue(m["address"].startswith("127.0.0.1:"))
        ring = json.loads(self.cli(self.cluster[2], "ring", "--json").stdout)
        shares = {n["node_id"]: n["share"] for n in ring["nodes"]}
        self.assertEqual(sorted(shares), ["node1", "node2", "node3"])
        self.assertLessEqual(max(shares.values()) / (1 / 3), 1.10)

    def test_a_killed_node_is_down_within_5s_and_up_again_after_restart(self):
        victim, others = self.cluster[2], self.cluster[:2]
        victim.kill()
        for observer in others:
            took = self.wait_until(lambda: self.seen_as(observer, victim.node_id, False), DETECTION_LIMIT_S,
                                   f"{observer.node_id} sees killed {victim.node_id} down")
            self.assertLess(took, DETECTION_LIMIT_S)
        victim.start()
        for observer in self.cluster:
            self.wait_until(lambda: self.all_up_on(observer), CONVERGE_LIMIT_S,
                            f"{observer.node_id} sees the restarted node up")
        generations = {self.members(o)["node3"]["generation"] for o in self.cluster}
        self.assertEqual(len(generations), 1, "every node sees the restarted node's new generation")

    def test_a_paused_node_is_down_within_5s_and_up_after_it_resumes(self):
        victim, others = self.cluster[1], [self.cluster[0], self.cluster[2]]
        victim.pause()
        try:
            for observer in others:
                self.wait_until(lambda: self.seen_as(observer, victim.node_id, False), DETECTION_LIMIT_S,
                                f"{observer.node_id} sees paused {victim.node_id} down")
        finally:
            victim.resume()
        for observer in others:
            self.wait_until(lambda: self.seen_as(observer, victim.node_id, True), CONVERGE_LIMIT_S,
                            f"{observer.node_id} sees resumed {victim.node_id} up")

    def test_leave_and_remove(self):
        leaver = self.cluster[2]
        self.cli(leaver, "leave")
        self.assertEqual(leaver.proc.wait(timeout=15), 0, leaver.log())
        for observer in self.cluster[:2]:
            self.wait_until(lambda: self.members(observer)["node3"]["status"] == "left", CONVERGE_LIMIT_S,
                            f"{observer.node_id} sees node3 left")

        dead = self.cluster[1]
        refused = self.cli(self.cluster[0], "remove", "node2", check=False)
        self.assertEqual(refused.returncode, 1, "an up node cannot be removed")
        self.assertIn(b"up", refused.stderr)
        dead.kill()
        self.wait_until(lambda: self.seen_as(self.cluster[0], "node2", False), DETECTION_LIMIT_S, "node2 down")
        self.cli(self.cluster[0], "remove", "node2")
        # Two steps: leaving while its ranges move to the survivors, then left.
        self.assertIn(self.members(self.cluster[0])["node2"]["status"], ("leaving", "left"))
        self.wait_until(lambda: self.members(self.cluster[0])["node2"]["status"] == "left", CONVERGE_LIMIT_S,
                        "node2 removed")
        ring = json.loads(self.cli(self.cluster[0], "ring", "--json").stdout)
        self.assertEqual([n["node_id"] for n in ring["nodes"]], ["node1"])

    def test_a_node_under_heavy_write_load_is_never_marked_down(self):
        loaded, watchers = self.cluster[0], self.cluster[1:]
        load = self.start_write_load(loaded, seconds=6)
        marked_down = []
        while load.poll() is None:
            for observer in watchers:
                if not self.members(observer)[loaded.node_id]["up"]:
                    marked_down.append(observer.node_id)
            time.sleep(0.2)
        _, errors = load.communicate()
        self.assertEqual(load.returncode, 0, errors.decode(errors="replace"))
        self.assertEqual(marked_down, [], "a peer judged the loaded node down")
        stats = json.loads(self.cli(loaded, "stats", "--json").stdout)
        self.assertGreater(stats["requests.put"], 1000, "the load was not heavy")
        for observer in watchers:
            stats = json.loads(self.cli(observer, "stats", "--json").stdout)
            self.assertEqual(stats["gossip.convictions"], 0)

    def start_write_load(self, node, seconds):
        """50 connections, 16 writes in flight each, for `seconds` (dynkv-bench, built with the tests)."""
        return subprocess.Popen([BENCH, "--node", node.address, "--connections", "50", "--pipeline", "16",
                                 "--mix", "0:100:0", "--keys", "100000", "--warmup", "0",
                                 "--duration", str(seconds)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

class AdvertiseTest(NodeTestCase):
    def test_a_node_on_a_wildcard_is_reached_at_its_advertised_addresses(self):
        # node2 listens on every address and tells the cluster 127.0.0.2:
        # node1 must reach it there, and clients find it there in the ring.
        node1 = Node(self.root, "node1")
        node2 = Node(self.root, "node2", seeds=[node1.peer_address])
        with open(node2.config_path) as f:
            text = f.read()
        text = text.replace(f"client: 127.0.0.1:{node2.client_port}", f"client: 0.0.0.0:{node2.client_port}")
        text = text.replace(f"peer: 127.0.0.1:{node2.peer_port}", f"peer: 0.0.0.0:{node2.peer_port}")
        text += f"advertise: {{ client: 127.0.0.2:{node2.client_port}, peer: 127.0.0.2:{node2.peer_port} }}\n"
        with open(node2.config_path, "w") as f:
            f.write(text)
        self.nodes.extend([node1, node2])
        node1.start()
        node2.start()
        self.wait_until(lambda: self.members(node1).get("node2", {}).get("up") is True, CONVERGE_LIMIT_S,
                        "node1 sees node2 up")
        member = self.members(node1)["node2"]
        self.assertEqual(member["address"], f"127.0.0.2:{node2.client_port}")
        self.assertEqual(member["peer_address"], f"127.0.0.2:{node2.peer_port}")
        self.wait_until(lambda: len(json.loads(self.cli(node1, "ring", "--json").stdout)["nodes"]) == 2,
                        CONVERGE_LIMIT_S, "node2 in node1's ring")
        with dynkv.Client([node1.address]) as client:  # routing clients learn the advertised address
            self.assertEqual(client.ring().addresses["node2"], f"127.0.0.2:{node2.client_port}")
        result = subprocess.run([os.path.join(BUILD_ROOT, "tools", "cli", "dynkv"), "--node",
                                 f"127.0.0.2:{node2.client_port}", "ping"], capture_output=True, timeout=30)
        self.assertEqual(result.returncode, 0, result.stderr)


if __name__ == "__main__":
    unittest.main()
