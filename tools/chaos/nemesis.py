"""Faults on a seeded schedule, one at a time, each healed before the next:

  kill        SIGKILL a random member, wait, restart it
  pause       SIGSTOP a random member, wait, SIGCONT
  slow        a gray failure: a random member is stopped SLOW_STOP_MS of every
              SLOW_CYCLE_MS (200 of 250), so every message it sends or answers
              waits up to 200 ms and it does a fifth of its work; wait, then it
              runs free. (The issue asks for tc netem delay on the node's
              traffic; this machine's kernel has no qdiscs, so tc refuses
              netem: the stall stands in for the delay.)
  partition   drop the packets between members (netns.Firewall): either one
              random member isolated from the rest, or the cluster split in
              two random halves; wait, heal
  restart     a rolling restart of every member: SIGTERM, wait for the
              exit, start, wait until it is ready (node.ready), then the next
  membership  one change of the member set: join (a new node), leave
              (`dynkv leave` sent to a member), remove (SIGKILL a member,
              wait until the others see it down, `dynkv remove` via a live
              one) or replace (SIGKILL, wipe its data dir, start it again
              under the same id); the window lasts until every live member
              sees every member normal and up

Every fault is recorded with its start, the moment it was healed (for a
membership change: finished) and its details (the node, or the sides of a
partition, or each restart's exit status, or a change's steps). A node that
ended without being told to is recorded as a crash."""
import random
import signal
import threading
import time

from cluster import REPLICATION_N
from workloads import now_ms

FAULTS = ("kill", "pause", "slow", "partition", "restart", "membership")
HOLD_S = {"kill": (2.0, 5.0), "pause": (2.0, 5.0), "slow": (2.0, 5.0), "partition": (3.0, 8.0)}
SLOW_STOP_MS = 200
SLOW_CYCLE_MS = 250
CHANGE_LIMIT_S = 180.0  # one membership change, from its first step until every member sees it finished
SEEN_DOWN_LIMIT_S = 30.0  # a killed node, until the others judge it down
REMOVE_ATTEMPTS = 5
MIN_MEMBERS = max(3, REPLICATION_N)
MAX_EXTRA_MEMBERS = 3  # above the initial count
LONGEST_FAULT_S = CHANGE_LIMIT_S + 60.0  # what the runner waits for the fault under way when the run ends


def membership_changes(members, initial, movable):
    """The changes that keep MIN_MEMBERS <= members <= initial + MAX_EXTRA_MEMBERS;
    `movable`: members that may leave, be removed or be replaced."""
    changes = []
    if members < initial + MAX_EXTRA_MEMBERS:
        changes.append("join")
    if members > MIN_MEMBERS and movable:
        changes += ["leave", "remove"]
    if movable:
        changes.append("replace")
    return changes


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
        node = self.rng.choice(self.cluster.members())
        node.kill()
        self.hold("kill")
        node.start()
        node.wait_listening()
        return {"node": node.node_id}

    def pause(self):
        node = self.rng.choice(self.cluster.members())
        node.signal(signal.SIGSTOP)
        try:
            self.hold("pause")
        finally:
            node.signal(signal.SIGCONT)
        return {"node": node.node_id}

    def slow(self):
        node = self.rng.choice(self.cluster.members())
        until = time.monotonic() + self.rng.uniform(*HOLD_S["slow"])
        try:
            while time.monotonic() < until and not self.stop.is_set():
                node.signal(signal.SIGSTOP)
                time.sleep(SLOW_STOP_MS / 1000)
                node.signal(signal.SIGCONT)
                time.sleep((SLOW_CYCLE_MS - SLOW_STOP_MS) / 1000)
        finally:
            node.signal(signal.SIGCONT)
        return {"node": node.node_id, "stop_ms": SLOW_STOP_MS, "cycle_ms": SLOW_CYCLE_MS}

    def partition(self):
        nodes = list(self.cluster.members())
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
        """Every member in turn; finishes the node under way when the run stops."""
        steps = []
        for node in self.cluster.members():
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

    def membership(self):
        """One change, run to its end even when the run stops meanwhile (bounded
        by CHANGE_LIMIT_S). The seed (node1) never leaves, is never removed or
        replaced: every config names it as the only seed, and, as with
        Cassandra, a seed cannot bootstrap itself back in on an empty disk."""
        members = self.cluster.members()
        movable = [n for n in members if n is not self.cluster.seed]
        change = self.rng.choice(membership_changes(len(members), self.cluster.initial_count, movable))
        change_run = MembershipChange(self, change, time.monotonic() + CHANGE_LIMIT_S)
        node = change_run.join() if change == "join" else getattr(change_run, change)(self.rng.choice(movable))
        return change_run.finish(node)


class MembershipChange:
    """The steps of one membership change, each recorded with its time, and
    the wait for the cluster to settle after it."""

    def __init__(self, nemesis, change, deadline):
        self.nemesis, self.cluster, self.history = nemesis, nemesis.cluster, nemesis.history
        self.change, self.deadline = change, deadline
        self.steps = []
        self.failures = []

    def left_s(self):
        return max(0.0, self.deadline - time.monotonic())

    def step(self, name, **fields):
        self.steps.append({"step": name, "at_ms": now_ms(), **fields})

    def cli(self, node, *args):
        status, output = self.cluster.cli(node, *args, limit_s=self.left_s())
        self.step(args[0], via=node.node_id, exit=status, output=output[-400:])
        return status, output

    def join(self):
        node = self.cluster.join()
        self.step("started", node=node.node_id)
        return node

    def leave(self, node):
        """Sent to the node itself; it is no member from then on. The CLI may
        wait until the node is gone; the node's own exit is awaited in any case."""
        self.cluster.drop(node)
        node.expect_exit = True
        status, output = self.cli(node, "leave")
        if status is None:
            self.failures.append(f"dynkv leave still waiting after {CHANGE_LIMIT_S:.0f}s: {output[-200:]}")
        elif status != 0 and node.alive():
            self.failures.append(f"dynkv leave failed ({status}): {output[-200:]}")
            self.cluster.readmit(node)
            node.expect_exit = False
            return node
        exit_status = node.wait_exit(self.left_s())
        self.step("exited", exit=exit_status)
        if exit_status is None:
            self.failures.append(f"{node.node_id} still running {CHANGE_LIMIT_S:.0f}s after it was asked to leave")
        elif exit_status != 0:
            history_crash(self.history, node, exit_status, "leave")
        return node

    def remove(self, node):
        node.kill()
        self.cluster.drop(node)
        self.step("killed")
        self.wait_seen_down(node)
        for attempt in range(REMOVE_ATTEMPTS):
            via = self.nemesis.rng.choice(self.cluster.live_members())
            status, output = self.cli(via, "remove", node.node_id)
            if status == 0 or self.left_s() == 0:
                break
            time.sleep(min(1.0, self.left_s()))
        if status != 0:
            self.failures.append(f"dynkv remove {node.node_id} failed ({status}): {output[-200:]}")
        return node

    def replace(self, node):
        node.kill()
        self.step("killed")
        self.wait_seen_down(node)
        node.wipe_data()
        node.start()
        node.wait_listening()
        self.step("started")
        return node

    def wait_seen_down(self, node):
        limit_s = min(SEEN_DOWN_LIMIT_S, self.left_s())
        seen = self.cluster.wait_seen_down(node, time.monotonic() + limit_s)
        self.step("seen_down" if seen else "not_seen_down")
        if not seen:
            self.failures.append(f"the others did not all see {node.node_id} down within {limit_s:.0f}s")

    def finish(self, node):
        """Waits (until the deadline) until every live member sees every member
        normal and up; returns the fault's details."""
        problem = self.cluster.wait_settled(self.deadline)
        self.step("settled" if problem is None else "not_settled")
        if problem is not None:
            self.failures.append(f"not settled {CHANGE_LIMIT_S:.0f}s after the change began: {problem}")
        details = {"node": node.node_id, "change": self.change, "finished": not self.failures,
                   "members": [n.node_id for n in self.cluster.members()], "steps": self.steps}
        if self.failures:
            details["failures"] = self.failures
        return details


def record_crashes(cluster, history):
    """Records each node that ended on its own (once: it is then marked as
    known to be down, for the heal to restart)."""
    for node, status in cluster.crashes():
        history_crash(history, node, status, "none")
        node.expect_exit = True


def history_crash(history, node, status, after):
    history.record(type="crash", node=node.node_id, exit=status, after=after, at_ms=now_ms())
