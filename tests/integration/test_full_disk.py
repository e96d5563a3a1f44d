"""A full data disk (issue 14), with real dynkvd processes: one node's
data_dir is a small tmpfs the test mounts (root only; skipped otherwise)
and fills. The node answers writes STORAGE_ERROR saying its data dir is
full, keeps serving reads, gossip and the hints it holds, and takes writes
again by itself, without a restart, once space is freed; every write
acknowledged before, during and after is still readable with its value."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

import dynkv
from harness import Node, NodeTestCase

DISK_BYTES = 8 << 20
# Left free by the filler file; the node's own writes take the rest.
LEFT_FREE_BYTES = 1 << 20
VALUE_BYTES = 64 << 10
MAX_FILL_WRITES = 200
RESUME_LIMIT_S = 15.0
CONVERGE_LIMIT_S = 15.0
DETECT_LIMIT_S = 5.0


class SmallDisk:
    """A tmpfs mounted on `path` (created if missing), and a filler file on it."""

    def __init__(self, path, size=DISK_BYTES):
        self.path = path
        self.filler = os.path.join(path, "filler")
        os.makedirs(path, exist_ok=True)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path],
                                 capture_output=True, text=True)
        self.mounted = mounted.returncode == 0
        self.why_not = f"mounting a tmpfs is not permitted here: {mounted.stderr.strip()}"

    def free_bytes(self):
        fs = os.statvfs(self.path)
        return fs.f_bavail * fs.f_frsize

    def fill(self, leave=LEFT_FREE_BYTES):
        """Writes the filler file until `leave` bytes are free."""
        left = self.free_bytes() - leave
        chunk = b"f" * (1 << 20)
        with open(self.filler, "wb") as f:
            while left > 0:
                f.write(chunk[:left])
                left -= len(chunk)

    def unfill(self):
        os.remove(self.filler)

    def unmount(self):
        if not self.mounted:
            return
        if subprocess.run(["umount", self.path], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", self.path], capture_output=True)
        self.mounted = False


def setUpModule():
    # meson's timeout stops a test with SIGTERM: exit through the cleanups,
    # which unmount the disks.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


class FullDiskCase(NodeTestCase):
    def setUp(self):
        super().setUp()
        self.disks = []
        self.value_counter = 0
        self.addCleanup(self.clean_up)  # runs even when setUp fails later on

    def tearDown(self):
        pass  # clean_up does it

    def clean_up(self):
        # The nodes stop before the unmount, and the disks are unmounted
        # before the harness removes the test's directory.
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.kill()
        for disk in self.disks:
            disk.unmount()
        super().tearDown()

    def mount_data_dir(self, node):
        disk = SmallDisk(node.data_dir)
        self.disks.append(disk)
        if not disk.mounted:
            raise unittest.SkipTest(disk.why_not)
        return disk

    def value(self, size=100):
        """A value no compression shrinks, tagged so that each is distinct."""
        self.value_counter += 1
        return str(self.value_counter).encode() + b":" + os.urandom(size)

    def stats(self, node):
        return json.loads(self.cli(node, "stats", "--json").stdout)

    def all_up(self, observer, count):
        members = self.members(observer)
        return len(members) == count and all(m["up"] for m in members.values())

    def wait_cluster(self, nodes):
        """Every node has every node's tokens, sees them all up, and serves."""
        for node in nodes:
            self.wait_until(lambda: len(json.loads(self.cli(node, "ring", "--json").stdout)["nodes"]) == len(nodes)
                            and self.all_up(node, len(nodes)), CONVERGE_LIMIT_S, f"{node.node_id} sees the ring")
            self.wait_until(lambda: self.stats(node)["node.ready"] == 1, CONVERGE_LIMIT_S, f"{node.node_id} ready")

    def put_all(self, client, acked, prefix, count, w=None):
        for i in range(count):
            key, value = f"{prefix}{i}", self.value()
            client.put(key, value, w=w)
            acked[key] = value

    def fill_by_writing(self, disk, client, acked, w=None):
        """Fills the disk with the filler, then with values written through
        `client` until one fails; returns that error. Writes acknowledged
        meanwhile go into `acked`."""
        disk.fill()
        for i in range(MAX_FILL_WRITES):
            key, value = f"fill{i}", self.value(VALUE_BYTES)
            try:
                client.put(key, value, w=w)
            except dynkv.DynkvError as error:
                return error
            acked[key] = value
        self.fail(f"{MAX_FILL_WRITES} writes of {VALUE_BYTES} bytes all succeeded on a full disk")

    def assert_disk_full_error(self, error, node):
        self.assertEqual(error.code, "STORAGE_ERROR", str(error))
        self.assertIn(f"data dir {node.data_dir} is full", str(error))

    def wait_writes_resume(self, client, acked, w=None):
        """Writes through `client` until one succeeds; returns the seconds taken."""
        start = time.monotonic()
        while True:
            key, value = f"resume{time.monotonic_ns()}", self.value()
            try:
                client.put(key, value, w=w)
                acked[key] = value
                return time.monotonic() - start
            except dynkv.DynkvError as error:
                self.assertEqual(error.code, "STORAGE_ERROR", str(error))
            if time.monotonic() - start > RESUME_LIMIT_S:
                self.fail(f"writes not taken again within {RESUME_LIMIT_S}s of freeing space")
            time.sleep(0.2)

    def assert_readable(self, client, acked, r=None):
        for key, value in acked.items():
            self.assertEqual(client.get(key, r=r).values, [value], f"key {key}")


class SingleNodeFullDiskTest(FullDiskCase):
    def test_a_full_disk_refuses_writes_serves_reads_and_takes_writes_again_once_freed(self):
        node = Node(self.root, "node1")
        self.nodes.append(node)
        disk = self.mount_data_dir(node)
        node.start()
        client = node.client()
        acked = {}
        self.put_all(client, acked, "before", 20)

        error = self.fill_by_writing(disk, client, acked)
        self.assert_disk_full_error(error, node)
        with self.assertRaises(dynkv.DynkvError) as refused:
            client.put("small", b"s")
        self.assert_disk_full_error(refused.exception, node)
        self.assert_readable(client, acked)
        stats = self.stats(node)
        self.assertEqual(stats["storage.disk_full"], 1)
        self.assertEqual(stats["storage.writes_refused"], 1)
        self.assertIn(f"data dir {node.data_dir} is full", node.log())

        disk.unfill()
        self.wait_writes_resume(client, acked)
        self.put_all(client, acked, "after", 20)
        self.assert_readable(client, acked)
        stats = self.stats(node)
        self.assertEqual(stats["storage.disk_full"], 0)
        self.assertGreaterEqual(stats["storage.reopens"], 1)
        self.assertIn("takes writes again", node.log())

        # And after a restart, from LevelDB alone.
        client.close()
        self.assertEqual(node.stop(), 0)
        node.start()
        self.assert_readable(node.client(), acked)


class ClusterFullDiskTest(FullDiskCase):
    """Three nodes, N=3; node3's data dir is the small disk."""

    def setUp(self):
        super().setUp()
        self.cluster = self.start_cluster(3, extra_yaml="replication: { n: 3 }\n",
                                          prepare=lambda nodes: self.mount_data_dir(nodes[2]))
        self.disk = self.disks[0]
        self.wait_cluster(self.cluster)

    def test_a_full_replica_fails_only_the_writes_that_need_it_and_recovers_by_itself(self):
        node1, node3 = self.cluster[0], self.cluster[2]
        via1, via3 = node1.client(), node3.client()
        acked = {}
        self.put_all(via1, acked, "before", 20, w="all")

        # Coordinated by the full node itself: its own copy fails, so W=all does.
        error = self.fill_by_writing(self.disk, via3, acked, w="all")
        self.assert_disk_full_error(error, node3)
        self.assertIn("node3: STORAGE_ERROR", str(error))
        # Coordinated elsewhere: node3 answers the ReplicaSync with the error,
        # which does not count as an acknowledgement.
        with self.assertRaises(dynkv.DynkvError) as refused:
            via1.put("needs-node3", b"x", w="all")
        self.assert_disk_full_error(refused.exception, node3)
        self.assertIn("node3: STORAGE_ERROR", str(refused.exception))
        # Writes that the two others can take succeed, through either node.
        self.put_all(via1, acked, "during-via1-", 10, w=2)
        self.put_all(via3, acked, "during-via3-", 10, w=2)

        # node3 serves reads (R=all needs its answer) and stays up in gossip.
        self.assert_readable(via3, acked, r="all")
        for _ in range(3):
            for observer in self.cluster:
                self.assertTrue(self.all_up(observer, 3), f"{observer.node_id} sees every node up")
            time.sleep(1)
        self.assertEqual(self.stats(node3)["storage.disk_full"], 1)

        self.disk.unfill()
        self.wait_writes_resume(via3, acked, w="all")
        self.put_all(via3, acked, "after", 10, w="all")
        for client in (via1, node3.client(), self.cluster[1].client()):
            self.assert_readable(client, acked, r="all")
        self.assertEqual(self.stats(node3)["storage.disk_full"], 0)


class HintsOnAFullDiskTest(FullDiskCase):
    """Two nodes, N=2, anti-entropy off: node1, whose disk fills, keeps the
    hints of node2's writes while node2 is down."""

    def test_a_full_node_still_delivers_the_hints_it_holds(self):
        yaml = "replication: { n: 2, r: 1, w: 1 }\nanti_entropy: { interval: 0s }\n"
        node1, node2 = self.start_cluster(2, extra_yaml=yaml, prepare=lambda nodes: self.mount_data_dir(nodes[0]))
        disk = self.disks[0]
        self.wait_cluster([node1, node2])
        via1 = node1.client()
        node2.kill()
        self.wait_until(lambda: not self.members(node1)["node2"]["up"], DETECT_LIMIT_S, "node1 sees node2 down")
        hinted = {}
        self.put_all(via1, hinted, "hinted", 20)
        self.wait_until(lambda: self.stats(node1)["handoff.hints_pending"] == len(hinted), CONVERGE_LIMIT_S,
                        "node1 keeps a hint of each write for node2")

        acked = dict(hinted)
        self.assert_disk_full_error(self.fill_by_writing(disk, via1, acked), node1)
        kept = self.stats(node1)["handoff.hints_pending"]  # the fill's writes may have hints too
        node2.start()
        self.wait_until(lambda: self.members(node1)["node2"]["up"], CONVERGE_LIMIT_S, "node1 sees node2 up")
        self.wait_until(lambda: self.stats(node2)["node.ready"] == 1, CONVERGE_LIMIT_S, "node2 ready")
        # Delivered from the full disk, each at least once: node2 stores
        # them (nothing else writes to node2); node1 cannot delete them yet,
        # so they stay pending.
        self.wait_until(lambda: self.stats(node2)["storage.objects_written"] >= kept, CONVERGE_LIMIT_S,
                        "node2 receives every hint")
        stats = self.stats(node1)
        self.assertEqual(stats["handoff.hints_pending"], kept)
        self.assertGreater(stats["handoff.batches_not_deleted"], 0)
        node1.pause()
        try:
            # node2's own copy answers first (R=1; node1 cannot answer).
            self.assert_readable(node2.client(), hinted, r=1)
        finally:
            node1.resume()

        disk.unfill()
        self.wait_writes_resume(via1, acked)
        self.wait_until(lambda: self.stats(node1)["handoff.hints_pending"] == 0, CONVERGE_LIMIT_S,
                        "node1 deletes the delivered hints once it can write")
        self.assert_readable(via1, acked)


if __name__ == "__main__":
    unittest.main()
