"""Faults on a seeded schedule, one at a time, each healed before the next:

  kill       SIGKILL a random node, wait, restart it
  pause      SIGSTOP a random node, wait, SIGCONT
  partition  drop the packets between nodes (netns.Firewall): either one
             random node isolated from the rest, or the cluster split in two
             random halves; wait, heal
  restart    a rolling restart of every node: SIGTERM, wait for the exit,
             start, wait until it is ready (node.ready), then the next

Every fault is recorded with its start, the moment it was healed and its
details (the node, or the sides of a partition, or each restart's exit
status). A node that ended without being told to is recorded as a crash."""
import random
import signal
import threading

from workloads import now_ms

FAULTS = ("kill", "pause", "partition", "restart")
HOLD_S = {"kill": (2.0, 5.0), "pause": (2.0, 5.0), "partition": (3.0, 8.0)}


class Nemesis(threading.Thread):
    def __init__(self, faults, cluster, history, stop, seed, firewall=None, gap_s=(2.0, 5.0)):
        super().__init__(name="nemesis", daemon=True)
        self.faults, self.cluster, self.history, self.stop = faults, cluster, history, stop
        self.firewall = firewall
        self.rng = random.Random(seed)
        self.gap_s = gap_s
        self.error = None

    def run(self):
        try:
            while not self.stop.wait(self.rng.uniform(*self.gap_s)):
                record_crashes(self.cluster, self.history)
                fault = self.rng.choice(self.faults)
                start = now_ms()
                details = getattr(self, fault)()
                self.history.record(type="nemesis", fault=fault, start_ms=start, end_ms=now_ms(), **details)
        except Exception as e:  # reported by the runner, which then cleans up
            self.error = e

    def hold(self, fault):
        self.stop.wait(self.rng.uniform(*HOLD_S[fault]))

    def kill(self):
        node = self.rng.choice(self.cluster.nodes)
        node.kill()
        self.hold("kill")
        node.start()
        node.wait_listening()
        return {"node": node.node_id}

    def pause(self):
        node = self.rng.choice(self.cluster.nodes)
        node.signal(signal.SIGSTOP)
        try:
            self.hold("pause")
        finally:
            node.signal(signal.SIGCONT)
        return {"node": node.node_id}

    def partition(self):
        nodes = list(self.cluster.nodes)
        self.rng.shuffle(nodes)
        if self.rng.random() < 0.5:
            kind, cut = "isolate", 1
        else:
            kind, cut = "split", len(nodes) // 2
        sides = [sorted(n.node_id for n in nodes[:cut]), sorted(n.node_id for n in nodes[cut:])]
        hosts = {n.node_id: n.host for n in nodes}
        try:
            self.firewall.partition([[hosts[i] for i in side] for side in sides])
            self.hold("partition")
        finally:
            self.firewall.heal()
        label = sides[0][0] if kind == "isolate" else "|".join(",".join(side) for side in sides)
        return {"node": label, "kind": kind, "sides": sides}

    def restart(self):
        """Every node in turn; finishes the node under way when the run stops."""
        steps = []
        for node in self.cluster.nodes:
            if self.stop.is_set():
                break
            start = now_ms()
            status = node.stop()
            if status != 0:  # dynkvd exits 0 after a clean stop
                history_crash(self.history, node, status, "SIGTERM")
            node.start()
            node.wait_ready()
            steps.append({"node": node.node_id, "exit": status, "start_ms": start, "end_ms": now_ms()})
        return {"node": "all", "steps": steps}


def record_crashes(cluster, history):
    """Records each node that ended on its own (once: it is then marked as
    known to be down, for the heal to restart)."""
    for node, status in cluster.crashes():
        history_crash(history, node, status, "none")
        node.expect_exit = True


def history_crash(history, node, status, after):
    history.record(type="crash", node=node.node_id, exit=status, after=after, at_ms=now_ms())
