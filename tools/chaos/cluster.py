"""K real dynkvd processes on 127.0.0.1 from generated YAML configs in a
temporary directory. Every wait is bounded; close() is safe to call twice
and leaves no process behind (a paused node is continued, then killed)."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from client import Client, ClientError

START_LIMIT_S = 20.0
CONVERGE_LIMIT_S = 30.0


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, root, dynkvd, node_id, seed_peer_port, peer_port, conflicts):
        self.node_id = node_id
        self.dynkvd = dynkvd
        self.client_port = free_port()
        self.peer_port = peer_port
        self.dir = os.path.join(root, node_id)
        self.config_path = os.path.join(self.dir, "node.yaml")
        self.log_path = os.path.join(self.dir, "node.log")
        self.proc = None
        os.makedirs(self.dir)
        with open(self.config_path, "w") as f:
            f.write(f"node_id: {node_id}\n"
                    f"listen: {{ client: 127.0.0.1:{self.client_port}, peer: 127.0.0.1:{peer_port} }}\n"
                    f"data_dir: {os.path.join(self.dir, 'data')}\n"
                    f"seeds: [127.0.0.1:{seed_peer_port}]\n"
                    f"replication: {{ n: 3, r: 2, w: 2, conflicts: {conflicts} }}\n")

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([self.dynkvd, "--config", self.config_path], stdout=log, stderr=log,
                                         start_new_session=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def kill(self):
        if self.proc is not None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def wait_listening(self, limit_s=START_LIMIT_S):
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.node_id} exited with {self.proc.returncode}; log {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.client_port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.node_id} did not listen within {limit_s}s")


class Cluster:
    def __init__(self, dynkvd, count, conflicts="siblings", base_dir=None):
        self.root = tempfile.mkdtemp(prefix="dynkv-chaos-", dir=base_dir)
        seed_port = free_port()
        self.nodes = [Node(self.root, dynkvd, f"node{i}", seed_port, seed_port if i == 1 else free_port(), conflicts)
                      for i in range(1, count + 1)]

    def start(self):
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            node.wait_listening()
        self.wait_converged()

    def sees_all_up(self, node):
        try:
            client = Client("127.0.0.1", node.client_port, timeout_s=2.0)
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
            client = Client("127.0.0.1", node.client_port, timeout_s=2.0)
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
