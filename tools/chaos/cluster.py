"""Real dynkvd processes from generated YAML configs in a temporary
directory, and the set of them that are members of the cluster now.

Inside the run's network namespace node i listens (client and peer) on
127.0.0.(10+i), so its peer connections leave from that address and a
partition can single it out; elsewhere all nodes share 127.0.0.1 on free
ports. Every config names node1 as the only seed. Nodes can join at run
time (the next id, its own address, the same seed); a node that left or
was removed stays in `nodes` (for its log and its exit) but is no longer a
member, so no client targets it and no later fault restarts it.

Every wait is bounded; close() is safe to call twice and leaves no process
behind (a paused node is continued, then killed). The member set is read
by client threads while the nemesis changes it: it is replaced whole under
a lock, never edited in place."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import dynkv

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from ports import free_port  # noqa: E402  (one allocator for every parallel run)

START_LIMIT_S = 20.0
STOP_LIMIT_S = 30.0
READY_LIMIT_S = 30.0
CONVERGE_LIMIT_S = 30.0
CLI_LIMIT_S = 10.0  # one CLI call that is not a leave
CLI_STOP_LIMIT_S = 5.0  # after SIGINT, before SIGKILL
POLL_S = 0.2
CLIENT_PORT, PEER_PORT = 7001, 7002  # in the namespace, where every node has its own address
REPLICATION_N = 3
TLS_CERTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tls-certs.sh")


def settled(view, member_ids):
    """Whether one node's view of the membership (node id -> (status, up),
    from `dynkv members --json`) shows the change finished: every member
    normal and up, every other node it lists left."""
    return (all(view.get(m) == ("normal", True) for m in member_ids)
            and all(status == "left" for node, (status, _) in view.items() if node not in member_ids))


def describe(view):
    """A view as text: "node1 normal up, node4 joining down"."""
    return ", ".join(f"{node} {status} {'up' if up else 'down'}" for node, (status, up) in sorted(view.items()))


class Node:
    def __init__(self, root, dynkvd, node_id, host, client_port, peer_port, seed, conflicts, tls_dir=None,
                 rack=None):
        """tls_dir: a directory with the cluster CA (tools/tls-certs.sh); the
        node then gets a certificate there and runs with security.tls.
        rack: the node's location.rack (None: the default)."""
        self.node_id = node_id
        self.dynkvd = dynkvd
        self.host = host
        self.client_port = client_port
        self.peer_address = f"{host}:{peer_port}"
        self.dir = os.path.join(root, node_id)
        self.data_dir = os.path.join(self.dir, "data")
        self.config_path = os.path.join(self.dir, "node.yaml")
        self.log_path = os.path.join(self.dir, "node.log")
        self.proc = None
        self.expect_exit = False  # set while the harness has stopped it on purpose
        self.ca_file = None
        security = ""
        if tls_dir is not None:
            subprocess.run(["bash", TLS_CERTS, tls_dir, "node", node_id, host], check=True, capture_output=True)
            self.ca_file = os.path.join(tls_dir, "ca.crt")
            security = (f"security: {{ tls: {{ cert_file: {tls_dir}/{node_id}.crt, "
                        f"key_file: {tls_dir}/{node_id}.key, ca_file: {self.ca_file} }} }}\n")
        os.makedirs(self.dir)
        with open(self.config_path, "w") as f:
            f.write(f"node_id: {node_id}\n"
                    f"listen: {{ client: {host}:{client_port}, peer: {self.peer_address} }}\n"
                    f"data_dir: {self.data_dir}\n"
                    f"seeds: [{seed}]\n"
                    f"replication: {{ n: {REPLICATION_N}, r: 2, w: 2, conflicts: {conflicts} }}\n"
                    + (f"location: {{ rack: {rack} }}\n" if rack else "")
                    + security)

    @property
    def address(self):
        return f"{self.host}:{self.client_port}"

    def client(self, timeout_s, wait_s=None):
        """A client of this node alone: without routing, every request goes
        to this node and none is sent again to another. `timeout_s`: the
        node's timeout for each request; `wait_s`: the client's whole wait
        for a key-value answer (CLIENT_TIMEOUT after it; default: the
        package's, a little past `timeout_s`)."""
        grace = {} if wait_s is None else {"answer_grace_s": max(0.0, wait_s - timeout_s)}
        return dynkv.Client([self.address], timeout=timeout_s, routing=False, ca_file=self.ca_file, **grace)

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([self.dynkvd, "--config", self.config_path], stdout=log, stderr=log,
                                         start_new_session=True)
        self.expect_exit = False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def crashed(self):
        """The exit status when the process ended without the harness stopping it, else None."""
        if self.proc is None or self.expect_exit:
            return None
        return self.proc.poll()

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def kill(self):
        if self.proc is not None:
            self.expect_exit = True
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, limit_s=STOP_LIMIT_S):
        """SIGTERM and wait for the exit; returns the exit status. A node that
        does not stop in time is killed and RuntimeError raised."""
        self.expect_exit = True
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"{self.node_id} did not stop within {limit_s}s of SIGTERM; log {self.log_path}")

    def wait_exit(self, limit_s):
        """The exit status, or None while it still runs after `limit_s`."""
        try:
            return self.proc.wait(timeout=max(0.0, limit_s))
        except subprocess.TimeoutExpired:
            return None

    def wipe_data(self):
        """Deletes the data dir, as a replaced disk would have it.
        REQUIRES: the process is not running."""
        if self.alive():
            raise RuntimeError(f"{self.node_id} still runs; its data dir cannot be wiped")
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def wait_listening(self, limit_s=START_LIMIT_S):
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.node_id} exited with {self.proc.returncode}; log {self.log_path}")
            try:
                with socket.create_connection((self.host, self.client_port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.node_id} did not listen within {limit_s}s")

    def ready(self):
        client = self.client(2.0)
        try:
            return client.stats().get("node.ready", 0) == 1
        except dynkv.DynkvError:
            return False
        finally:
            client.close()

    def wait_ready(self, limit_s=READY_LIMIT_S):
        """Listening, and serving: the node reports node.ready in its stats."""
        self.wait_listening(limit_s)
        deadline = time.monotonic() + limit_s
        while not self.ready():
            if not self.alive():
                raise RuntimeError(f"{self.node_id} exited with {self.proc.returncode}; log {self.log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.node_id} not ready within {limit_s}s")
            time.sleep(0.1)


class Cluster:
    def __init__(self, dynkvd, cli, count, conflicts="siblings", base_dir=None, own_addresses=False, tls=False,
                 racks=1):
        """cli: the dynkv CLI, for members, leave and remove.
        own_addresses: node i on 127.0.0.(10+i) (only inside the run's namespace).
        tls: every node runs with security.tls (a CA made for the run).
        racks: node i stands in rack (i - 1) % racks + 1 (1: the default rack)."""
        self.racks = racks
        self.root = tempfile.mkdtemp(prefix="dynkv-chaos-", dir=base_dir)
        self.tls_dir = None
        if tls:
            self.tls_dir = os.path.join(self.root, "tls")
            subprocess.run(["bash", TLS_CERTS, self.tls_dir, "ca"], check=True, capture_output=True)
        self.dynkvd, self.cli_path, self.conflicts = dynkvd, cli, conflicts
        self.own_addresses = own_addresses
        self.initial_count = count
        self.nodes = []  # every node ever made, in id order: members, and those that left or were removed
        self.seed = None  # node1: every config names it as the only seed
        self._members = ()  # replaced whole under _lock
        self._lock = threading.Lock()
        for _ in range(count):
            self._admit(self._new_node())

    def _new_node(self):
        number = len(self.nodes) + 1  # ids are never reused
        if self.own_addresses:
            host, client_port, peer_port = f"127.0.0.{10 + number}", CLIENT_PORT, PEER_PORT
        else:
            host, client_port, peer_port = "127.0.0.1", free_port(), free_port()
        seed = self.seed.peer_address if self.seed else f"{host}:{peer_port}"
        rack = f"rack{(number - 1) % self.racks + 1}" if self.racks > 1 else None
        node = Node(self.root, self.dynkvd, f"node{number}", host, client_port, peer_port, seed, self.conflicts,
                    self.tls_dir, rack)
        self.nodes.append(node)
        self.seed = self.seed or node
        return node

    def _admit(self, node):
        with self._lock:
            self._members = tuple(n for n in self.nodes if n in self._members or n is node)

    def start(self):
        for node in self.members():
            node.start()
        for node in self.members():
            node.wait_listening()
        self.wait_converged()

    # ---- the member set ----

    def members(self):
        """The members now, in id order (a snapshot)."""
        with self._lock:
            return self._members

    def is_member(self, node):
        return node in self.members()

    def live_members(self):
        """Members whose process runs (a paused one included)."""
        return [n for n in self.members() if n.alive()]

    def pick(self, rng):
        """A random live member, for a client; any member when none runs."""
        choices = self.live_members() or self.members()
        return choices[rng.randrange(len(choices))]

    def drop(self, node):
        """`node` is a member no more: it leaves, or is dead and being removed."""
        with self._lock:
            self._members = tuple(n for n in self._members if n is not node)

    def readmit(self, node):
        """Undoes drop() when the node refused to leave."""
        self._admit(node)

    def join(self):
        """Starts a new node (the next id, its own address, the same seed) and
        makes it a member once it listens; returns it."""
        node = self._new_node()
        node.start()
        node.wait_listening()
        self._admit(node)
        return node

    # ---- the CLI ----

    def cli(self, node, *args, limit_s=CLI_LIMIT_S):
        """Runs `dynkv --node NODE ARGS`; returns (exit status, output). A CLI
        still running after `limit_s` gets SIGINT (which stops a leave's
        waiting, not the leave), then SIGKILL; its status is then None."""
        tls = ["--ca", node.ca_file] if node.ca_file else []
        command = [self.cli_path, "--node", node.address, "--timeout", "2000", *tls, *args]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            output, _ = proc.communicate(timeout=max(0.1, limit_s))
            return proc.returncode, output.strip()
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                output, _ = proc.communicate(timeout=CLI_STOP_LIMIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                output, _ = proc.communicate()
            return None, (output or "").strip()

    def view(self, node):
        """What `dynkv members --json` on `node` says: node id -> (status, up);
        None when the node does not answer."""
        status, output = self.cli(node, "members", "--json")
        if status != 0:
            return None
        try:
            return {m["node_id"]: (m["status"], bool(m["up"])) for m in json.loads(output)["members"]}
        except (ValueError, KeyError, TypeError):
            return None

    def unsettled(self):
        """None when every live member sees the membership settled (every
        member normal and up, every other node left); else, for the first that
        does not, its id and view as text."""
        member_ids = {n.node_id for n in self.members()}
        for node in self.live_members():
            view = self.view(node)
            if view is None or not settled(view, member_ids):
                return f"{node.node_id} sees " + ("nothing (no answer)" if view is None else describe(view))
        return None

    def wait_settled(self, deadline):
        """Polls until one pass over the live members finds every view settled;
        returns None, or at `deadline` (time.monotonic()) what was not."""
        while True:
            problem = self.unsettled()
            if problem is None:
                return None
            if time.monotonic() >= deadline:
                return problem
            time.sleep(POLL_S)

    def wait_converged(self, limit_s=CONVERGE_LIMIT_S):
        """Every node sees every node normal and up; RuntimeError otherwise."""
        problem = self.wait_settled(time.monotonic() + limit_s)
        if problem is not None:
            raise RuntimeError(f"the membership did not settle within {limit_s}s: {problem}")

    def wait_seen_down(self, node, deadline):
        """True once every other live member lists `node` as down (bounded by `deadline`)."""
        while True:
            views = [self.view(n) for n in self.live_members() if n is not node]
            if all(v is not None and not v.get(node.node_id, ("", False))[1] for v in views):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_S)

    # ---- the rest ----

    def crashes(self):
        """(node, exit status) of every node that ended on its own."""
        return [(node, node.crashed()) for node in self.nodes if node.crashed() is not None]

    def hints_pending(self):
        total = 0
        for node in self.members():
            client = node.client(2.0)
            try:
                total += int(client.stats().get("handoff.hints_pending", 0))
            finally:
                client.close()
        return total

    def wait_hints_delivered(self, limit_s):
        """True once no node holds a hint (bounded by `limit_s`)."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            try:
                if self.hints_pending() == 0:
                    return True
            except dynkv.DynkvError:
                pass
            time.sleep(0.2)
        return False

    def save_logs(self, out_dir):
        os.makedirs(out_dir, exist_ok=True)
        for node in self.nodes:
            if os.path.exists(node.log_path):
                shutil.copy(node.log_path, os.path.join(out_dir, node.node_id + ".log"))

    def close(self):
        for node in self.nodes:
            try:
                node.kill()
            except (OSError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.root, ignore_errors=True)
