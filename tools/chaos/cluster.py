"""K real dynkvd processes from generated YAML configs in a temporary
directory. Inside the run's network namespace node i listens (client and
peer) on 127.0.0.(10+i), so its peer connections leave from that address
and a partition can single it out; elsewhere all nodes share 127.0.0.1 on
free ports. Every wait is bounded; close() is safe to call twice and leaves
no process behind (a paused node is continued, then killed)."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from client import Client, ClientError

START_LIMIT_S = 20.0
STOP_LIMIT_S = 30.0
READY_LIMIT_S = 30.0
CONVERGE_LIMIT_S = 30.0
CLIENT_PORT, PEER_PORT = 7001, 7002  # in the namespace, where every node has its own address


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, root, dynkvd, node_id, host, client_port, peer_port, seed, conflicts):
        self.node_id = node_id
        self.dynkvd = dynkvd
        self.host = host
        self.client_port = client_port
        self.dir = os.path.join(root, node_id)
        self.config_path = os.path.join(self.dir, "node.yaml")
        self.log_path = os.path.join(self.dir, "node.log")
        self.proc = None
        self.expect_exit = False  # set while the harness has stopped it on purpose
        os.makedirs(self.dir)
        with open(self.config_path, "w") as f:
            f.write(f"node_id: {node_id}\n"
                    f"listen: {{ client: {host}:{client_port}, peer: {host}:{peer_port} }}\n"
                    f"data_dir: {os.path.join(self.dir, 'data')}\n"
                    f"seeds: [{seed}]\n"
                    f"replication: {{ n: 3, r: 2, w: 2, conflicts: {conflicts} }}\n")

    def client(self, timeout_s):
        return Client(self.host, self.client_port, timeout_s)

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
            return client.stats().values.get("node.ready", 0) == 1
        except ClientError:
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
    def __init__(self, dynkvd, count, conflicts="siblings", base_dir=None, own_addresses=False):
        """own_addresses: node i on 127.0.0.(10+i) (only inside the run's namespace)."""
        self.root = tempfile.mkdtemp(prefix="dynkv-chaos-", dir=base_dir)
        if own_addresses:
            places = [(f"127.0.0.{10 + i}", CLIENT_PORT, PEER_PORT) for i in range(1, count + 1)]
        else:
            places = [("127.0.0.1", free_port(), free_port()) for _ in range(count)]
        seed = f"{places[0][0]}:{places[0][2]}"
        self.nodes = [Node(self.root, dynkvd, f"node{i}", host, client_port, peer_port, seed, conflicts)
                      for i, (host, client_port, peer_port) in enumerate(places, 1)]

    def start(self):
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            node.wait_listening()
        self.wait_converged()

    def crashes(self):
        """(node, exit status) of every node that ended on its own."""
        return [(node, node.crashed()) for node in self.nodes if node.crashed() is not None]

    def sees_all_up(self, node):
        try:
            client = node.client(2.0)
            members = client.members().members
            client.close()
        except ClientError:
            return False
        normal = [m for m in members if m.status == "normal" and m.up]
        return len(normal) == len(self.nodes)

    def wait_converged(self, limit_s=CONVERGE_LIMIT_S):
        """Every node sees every node normal and up."""
        deadline = time.monotonic() + limit_s
        for node in self.nodes:
            while not self.sees_all_up(node):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{node.node_id} does not see all {len(self.nodes)} nodes up within {limit_s}s")
                time.sleep(0.1)

    def hints_pending(self):
        total = 0
        for node in self.nodes:
            client = node.client(2.0)
            try:
                total += int(client.stats().values.get("handoff.hints_pending", 0))
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
            except ClientError:
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
