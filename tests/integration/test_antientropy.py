"""Active anti-entropy with real dynkvd processes (src/antientropy): a replica
that missed writes gets them back from an exchange of hash trees, after
`dynkv repair` or in the background every anti_entropy.interval, with no
read of the keys. The missed writes come from a node that was down while
hinted handoff was off (replication.sloppy_quorum: false), so nothing but
anti-entropy can bring them; the two other replicas are then killed and the
node must serve every key at R=1. Also the issue's own scenario (a node whose
data dir was wiped; data movement streams its ranges back in as it replaces
itself, and a repair then finds the replicas equal) and the CLI's contract."""
import json
import shutil
import time
import unittest

from test_movement import KEYS, MOVE_LIMIT_S, MovementCase, key_of, value_of

REFILL_LIMIT_S = 90.0  # a few 5 s intervals, each exchanging with one peer


class AntiEntropyCase(MovementCase):
    EXTRA_YAML = "replication: { n: 3, sloppy_quorum: false }\nanti_entropy: { interval: 0s }\n"

    def expected(self):
        return {key_of(i): value_of(i) for i in range(KEYS)}

    def miss_writes(self):
        """node3 is down while every key is written at W=2; it comes back with none of them."""
        self.start_initial(3)
        node3 = self.cluster[2]
        self.kill(node3)
        self.write_keys(KEYS, w=2)
        node3.start(wait=False)
        node3.wait_ready()
        self.wait_all_normal(self.cluster)
        self.assertEqual(self.stats(node3)["anti_entropy.keys_pulled"], 0)
        return node3

    def wipe_node3(self):
        """The issue's scenario: every key at W=3, then node3 killed, its data dir wiped, started again."""
        self.start_initial(3)
        self.write_keys(KEYS, w=3)
        node3 = self.cluster[2]
        self.kill(node3)
        shutil.rmtree(node3.data_dir)
        node3.start(wait=False)
        node3.wait_ready()
        self.wait_all_normal(self.cluster)
        return node3

    def kill_others_and_read(self, node):
        for other in self.cluster:
            if other is not node:
                self.kill(other)
        self.assert_reads(node, self.expected(), r=1)

    def repair(self, node, *extra, check=True):
        return self.cli(node, "repair", *extra, timeout=MOVE_LIMIT_S + 60, check=check)


class RepairTest(AntiEntropyCase):
    def test_a_replica_that_missed_writes_serves_every_key_after_dynkv_repair(self):
        node3 = self.miss_writes()
        result = self.repair(node3)
        out = result.stdout.decode()
        self.assertIn("repair on node3 done", out)
        summary = json.loads(self.repair(node3, "--json").stdout)  # a second one finds nothing to move
        self.assertEqual(summary["ranges_done"], summary["ranges_total"], out)
        self.assertEqual(summary["keys_repaired"], 0, summary)
        self.assertGreaterEqual(self.stats(node3)["anti_entropy.keys_pulled"], KEYS)
        self.kill_others_and_read(node3)

    def test_repair_with_a_replica_down_compares_the_others_and_exits_0(self):
        self.start_initial(3)
        self.write_keys(50, w=3)
        self.kill(self.cluster[1])
        result = self.repair(self.cluster[0])
        self.assertEqual(result.returncode, 0)
        self.assertIn(b"not compared: node2 was down", result.stdout)
        doc = json.loads(self.repair(self.cluster[0], "--json").stdout)
        self.assertEqual(doc["down"], ["node2"])
        self.assertEqual(doc["not_compared"], [])
        self.assertLess(doc["ranges_done"], doc["ranges_total"])
        self.assertFalse(doc["running"])

    def test_the_issue_scenario_a_wiped_node_serves_every_key(self):
        node3 = self.wipe_node3()
        doc = json.loads(self.repair(node3, "--json").stdout)
        self.assertEqual(doc["ranges_done"], doc["ranges_total"], doc)
        self.kill_others_and_read(node3)


class BackgroundTest(AntiEntropyCase):
    EXTRA_YAML = "replication: { n: 3, sloppy_quorum: false }\nanti_entropy: { interval: 5s }\n"

    def test_the_issue_scenario_with_no_command(self):
        self.kill_others_and_read(self.wipe_node3())

    def test_missed_writes_come_back_with_no_command_within_a_few_intervals(self):
        node3 = self.miss_writes()
        node1, node2 = self.cluster[0], self.cluster[1]

        def moved_to_node3():
            # node3 pulls in the exchanges it starts; the others push in theirs.
            return (self.stats(node3)["anti_entropy.keys_pulled"] + self.stats(node1)["anti_entropy.keys_pushed"] +
                    self.stats(node2)["anti_entropy.keys_pushed"])

        started = time.monotonic()
        self.wait_until(lambda: moved_to_node3() >= KEYS, REFILL_LIMIT_S, "every key node3 missed moves to it")
        print(f"refilled in {time.monotonic() - started:.1f} s", flush=True)
        self.kill_others_and_read(node3)


if __name__ == "__main__":
    unittest.main()
