"""The package against a real 5-node cluster (N=3) on 127.0.0.1: round trips,
siblings and contexts, R and W per call, errors with their codes,
pipelining, and token-aware routing (routed puts are minted by the node
they are sent to: no forwards), with routed and unrouted latency and
throughput measured in the same run and printed."""
import signal
import statistics
import sys
import time
import unittest

import dynkv
from local_cluster import LocalCluster

NODES = 5
ROUTING_PUTS = 500
THROUGHPUT_PUTS = 2000
WINDOW = 64  # requests in flight in the throughput runs


def forwarded_mints(client, addresses):
    """Puts coordinated by a node that was not the key's first live replica, summed over the nodes."""
    return sum(client.stats(a)["coordinator.forwarded_mints"] for a in addresses)


class ClusterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = LocalCluster(NODES, replication_n=3)
        cls.addClassCleanup(cls.cluster.stop)  # runs even when start() fails
        cls.cluster.start()
        cls.client = dynkv.Client(cls.cluster.addresses[:1], timeout=5.0)
        cls.addClassCleanup(cls.client.close)

    def test_put_get_delete_round_trip(self):
        written = self.client.put("round:1", b"\x00alice\xff", w="quorum")
        self.assertEqual(written.value, b"\x00alice\xff")
        read = self.client.get("round:1", r="quorum")
        self.assertEqual(read.value, b"\x00alice\xff")
        self.assertTrue(read.context)
        self.client.delete("round:1", context=read)
        self.assertFalse(self.client.get("round:1", r="all").found)
        self.assertFalse(self.client.get("round:never-written").found)

    def test_ttl_sets_the_expiry(self):
        entry = self.client.put("round:ttl", "v", ttl=60)
        sibling = entry.siblings[0]
        # The expiry is set from the coordinator's clock on arrival, the write
        # time from the minting replica's a moment later: close, not equal.
        self.assertAlmostEqual(sibling.expires_at_ms - sibling.write_time_ms, 60_000, delta=1000)

    def test_two_blind_puts_are_siblings_and_a_put_with_their_context_merges_them(self):
        self.client.put("sib:1", "alice")
        other = dynkv.Client(self.cluster.addresses[3:4], routing=False)  # another coordinator
        try:
            other.put("sib:1", "bob")
        finally:
            other.close()
        read = self.client.get("sib:1", r="all")
        self.assertEqual(sorted(read.values), [b"alice", b"bob"])
        with self.assertRaises(ValueError):
            read.value  # a caller must resolve siblings, not pick one
        merged = self.client.put("sib:1", "carol", context=read.context)
        self.assertEqual(merged.values, [b"carol"])
        self.assertEqual(self.client.get("sib:1", r="all").values, [b"carol"])

    def test_a_delete_without_context_removes_nothing_it_has_not_seen(self):
        self.client.put("del:blind", "kept")
        self.client.delete("del:blind")
        self.assertEqual(self.client.get("del:blind", r="all").values, [b"kept"])

    def test_r_and_w_per_call_with_one_replica_paused(self):
        key = "rw:1"
        replicas = [node_id for node_id, _ in self.client.ring().replicas_for_key(key.encode())]
        paused = next(n for n in self.cluster.nodes if n.node_id == replicas[2])
        self.client.put(key, "before", w="all")
        paused.proc.send_signal(signal.SIGSTOP)
        try:
            # The third replica cannot answer: W=1 and W=2 are met by the
            # first two, W=all is not within the timeout; the same for R.
            self.client.put(key, "one", w=1, context=self.client.get(key))
            self.client.put(key, "quorum", w="quorum", context=self.client.get(key))
            with self.assertRaises(dynkv.DynkvError) as caught:
                self.client.put(key, "all", w="all", timeout=0.5, context=self.client.get(key))
            self.assertIn(caught.exception.code, ("TIMEOUT", "UNAVAILABLE"))
            # A write that failed W may still be on the replicas it reached
            # (Dynamo): a read sees the last write either way.
            self.assertIn(self.client.get(key, r=2).values, ([b"quorum"], [b"all"]))
            with self.assertRaises(dynkv.DynkvError) as caught:
                self.client.get(key, r="all", timeout=0.5)
            self.assertIn(caught.exception.code, ("TIMEOUT", "UNAVAILABLE"))
        finally:
            paused.proc.send_signal(signal.SIGCONT)
            self.cluster.wait_ready()  # whole again for the other tests

    def test_routing_skips_a_killed_node_for_the_next_replica(self):
        victim = self.cluster.nodes[4]
        others = [n for n in self.cluster.nodes if n is not victim]
        ring = self.client.ring()
        keys = [f"failover:{i}" for i in range(200)]
        victims_keys = [k for k in keys if ring.replicas_for_key(k.encode())[0][0] == victim.node_id]
        self.assertGreater(len(victims_keys), 10)
        victim.stop()
        try:
            # Until the others see it down, they still pick it to mint its keys' writes.
            deadline = time.monotonic() + 15
            while any(m["node_id"] == victim.node_id and m["up"]
                      for n in others for m in self.client.members(n.address)):
                self.assertLess(time.monotonic(), deadline, "the others did not see the killed node down")
                time.sleep(0.1)
            before = forwarded_mints(self.client, [n.address for n in others])
            for key in keys:
                self.client.put(key, "v", w=2)
            self.assertEqual(forwarded_mints(self.client, [n.address for n in others]) - before, 0,
                             "each put went to the first live replica, which minted it")
            # The belief lasts a backoff (0.5 s, doubling while the node
            # keeps refusing): one more put of its key renews it, however
            # long the puts above took on a loaded machine.
            self.client.put(victims_keys[0], "v", w=2)
            self.assertEqual(self.client.route(victims_keys[0])[-1], victim.address, "believed down: tried last")
        finally:
            victim.start(self.cluster.dynkvd)
            self.cluster.wait_ready()

    def test_w_above_n_is_invalid_argument(self):
        for call in (lambda: self.client.put("err:1", "v", w=4), lambda: self.client.get("err:1", r=5)):
            with self.assertRaises(dynkv.DynkvError) as caught:
                call()
            self.assertEqual(caught.exception.code, "INVALID_ARGUMENT")
            self.assertIn(caught.exception.node, self.cluster.addresses)

    def test_pipelined_requests(self):
        puts = [self.client.put_async(f"pipe:{i}", f"value {i}", w=2) for i in range(1000)]
        for future in puts:
            future.result()
        gets = [self.client.get_async(f"pipe:{i}") for i in range(1000)]
        self.assertEqual([f.result().value for f in gets], [f"value {i}".encode() for i in range(1000)])

    def test_batches_split_by_replica_and_answer_in_order(self):
        items = [(f"batch:{i}", f"v{i}") for i in range(100)]
        written = self.client.batch_put(items, w=2)
        self.assertEqual([e.value for e in written], [v.encode() for _, v in items])
        keys = [k for k, _ in reversed(items)] + ["batch:missing"]
        read = self.client.batch_get(keys)
        self.assertEqual([e.value for e in read], [v.encode() for _, v in reversed(items)] + [None])
        invalid = self.client.batch_get(["batch:1"], r=9)
        self.assertEqual(invalid[0].code, "INVALID_ARGUMENT")

    def test_routed_puts_go_to_a_replica_that_mints_them(self):
        routed = self.client
        unrouted = dynkv.Client(self.cluster.addresses[:1], routing=False)
        self.addCleanup(unrouted.close)
        for c in (routed, unrouted):  # connect and fetch the ring first
            for i in range(20):
                c.put(f"warm:{i}", "x", w=2)

        start = forwarded_mints(routed, self.cluster.addresses)
        for i in range(ROUTING_PUTS):
            routed.put(f"count:routed:{i}", "value", w=2)
        after_routed = forwarded_mints(routed, self.cluster.addresses)
        for i in range(ROUTING_PUTS):
            unrouted.put(f"count:unrouted:{i}", "value", w=2)
        after_unrouted = forwarded_mints(routed, self.cluster.addresses)
        self.assertEqual(after_routed - start, 0, "routed puts are minted where they are sent")
        # node1 mints the keys it replicates itself (about 3/5 with N=3 of 5
        # nodes); the others, about 2/5, are forwarded to a replica.
        self.assertGreater(after_unrouted - after_routed, ROUTING_PUTS // 4)

        p50 = self.interleaved_p50({"routed": routed, "unrouted": unrouted})
        rate = self.interleaved_rate({"routed": routed, "unrouted": unrouted})
        print(f"\nrouting, {NODES} nodes, N=3, W=2, one run: forwarded mints of {ROUTING_PUTS} puts: "
              f"{after_routed - start:.0f} routed, {after_unrouted - after_routed:.0f} unrouted\n"
              f"  sequential puts, interleaved: p50 {p50['routed'] * 1e3:.3f} ms routed, "
              f"{p50['unrouted'] * 1e3:.3f} ms unrouted (routed x{p50['routed'] / p50['unrouted']:.2f})\n"
              f"  {WINDOW} puts in flight, alternating: {rate['routed']:.0f} ops/s routed, "
              f"{rate['unrouted']:.0f} ops/s unrouted (routed x{rate['routed'] / rate['unrouted']:.2f})", file=sys.stderr)

    @staticmethod
    def interleaved_p50(clients):
        """Median latency of ROUTING_PUTS puts at W=2 per client, one at a
        time, taking turns so that both see the same machine."""
        latencies = {name: [] for name in clients}
        for i in range(ROUTING_PUTS):
            for name, client in clients.items():
                start = time.perf_counter()
                client.put(f"p50:{name}:{i}", "value", w=2)
                latencies[name].append(time.perf_counter() - start)
        return {name: statistics.median(values) for name, values in latencies.items()}

    @staticmethod
    def interleaved_rate(clients, rounds=10):
        """Puts per second at W=2 with WINDOW in flight per client, in
        alternating rounds of THROUGHPUT_PUTS / rounds puts."""
        elapsed = {name: 0.0 for name in clients}
        per_round = THROUGHPUT_PUTS // rounds
        for r in range(rounds):
            for name, client in clients.items():
                start = time.perf_counter()
                for base in range(0, per_round, WINDOW):
                    count = min(WINDOW, per_round - base)
                    futures = [client.put_async(f"rate:{name}:{r}:{base + i}", "value", w=2) for i in range(count)]
                    for future in futures:
                        future.result()
                elapsed[name] += time.perf_counter() - start
        return {name: per_round * rounds / seconds for name, seconds in elapsed.items()}


if __name__ == "__main__":
    unittest.main()
