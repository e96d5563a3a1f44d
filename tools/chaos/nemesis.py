"""Faults on a seeded schedule, one at a time, each healed before the next:
kill (SIGKILL, wait, restart) and pause (SIGSTOP, wait, SIGCONT). Every
fault is recorded with its start and the moment it was healed."""
import random
import signal
import threading

from workloads import now_ms

FAULTS = ("kill", "pause")


class Nemesis(threading.Thread):
    def __init__(self, faults, cluster, history, stop, seed, gap_s=(2.0, 5.0), hold_s=(2.0, 5.0)):
        super().__init__(name="nemesis", daemon=True)
        self.faults, self.cluster, self.history, self.stop = faults, cluster, history, stop
        self.rng = random.Random(seed)
        self.gap_s, self.hold_s = gap_s, hold_s
        self.error = None

    def run(self):
        try:
            while not self.stop.wait(self.rng.uniform(*self.gap_s)):
                fault = self.rng.choice(self.faults)
                node = self.rng.choice(self.cluster.nodes)
                start = now_ms()
                getattr(self, fault)(node, self.rng.uniform(*self.hold_s))
                self.history.record(type="nemesis", fault=fault, node=node.node_id, start_ms=start, end_ms=now_ms())
        except Exception as e:  # reported by the runner, which then cleans up
            self.error = e

    def kill(self, node, hold_s):
        node.kill()
        self.stop.wait(hold_s)
        node.start()
        node.wait_listening()

    def pause(self, node, hold_s):
        node.signal(signal.SIGSTOP)
        try:
            self.stop.wait(hold_s)
        finally:
            node.signal(signal.SIGCONT)
