"""Real dynkvd processes on 127.0.0.1 for the package's tests, started from
generated YAML configs the way tests/integration/harness.py starts them:
node1 lists itself as its seed, the others list node1.

The binaries come from DYNKV_BUILD_ROOT (meson's build directory, as
`meson test` sets it: src/node/dynkvd); without it, from the repository's
./build, then from /work/pybin (a flat directory of prebuilt binaries).
"""
import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import dynkv

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tools"))
try:
    from ports import free_port  # one allocator for every test run in parallel
except ImportError:  # the tests away from the dynkv source tree: the kernel's choice
    import socket

    def free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
START_TIMEOUT_S = 30

# Every node process started and not yet stopped: killed at exit, so that a
# test run stopped midway (meson's timeout sends SIGTERM, which exits Python
# without its cleanups unless it is turned into SystemExit) leaves none behind.
_running = set()


def _kill_running():
    for node in list(_running):
        node.stop()


atexit.register(_kill_running)
if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def find_binary(name, build_path):
    """`build_path` under a meson build root, or `name` in a flat directory."""
    roots = [os.environ.get("DYNKV_BUILD_ROOT"), os.path.join(REPO_ROOT, "build"), "/work/pybin"]
    for root in filter(None, roots):
        for path in (os.path.join(root, build_path), os.path.join(root, name)):
            if os.access(path, os.X_OK):
                return path
    raise FileNotFoundError(f"no {name} under {roots}: set DYNKV_BUILD_ROOT to a meson build directory")


class LocalNode:
    def __init__(self, root, node_id, seed):
        self.node_id = node_id
        self.client_port = free_port()
        self.peer_port = free_port()
        self.dir = os.path.join(root, node_id)
        os.makedirs(self.dir)
        self.config_path = os.path.join(self.dir, "node.yaml")
        self.log_path = os.path.join(self.dir, "node.log")
        self.seed = seed or self.peer_address  # the first node is its own seed
        self.proc = None

    @property
    def address(self):
        return f"127.0.0.1:{self.client_port}"

    @property
    def peer_address(self):
        return f"127.0.0.1:{self.peer_port}"

    def write_config(self, replication_n):
        with open(self.config_path, "w") as f:
            f.write(f"node_id: {self.node_id}\n"
                    f"listen: {{ client: {self.address}, peer: {self.peer_address} }}\n"
                    f"data_dir: {os.path.join(self.dir, 'data')}\n"
                    f"seeds: [{self.seed}]\n"
                    f"replication: {{ n: {replication_n} }}\n")

    def start(self, dynkvd):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([dynkvd, "--config", self.config_path], stdout=log, stderr=log)
        _running.add(self)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        _running.discard(self)

    def log_tail(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""


class LocalCluster:
    """`count` nodes with replication n. Use as a context manager, or call
    stop() in a cleanup: it kills every process it started."""

    def __init__(self, count, replication_n=3):
        self.dynkvd = find_binary("dynkvd", os.path.join("src", "node", "dynkvd"))
        base = os.environ.get("DYNKV_TEST_TMP") or None
        if base:
            os.makedirs(base, exist_ok=True)
        self.root = tempfile.mkdtemp(prefix="dynkv-py-", dir=base)
        first = LocalNode(self.root, "node1", None)
        self.nodes = [first] + [LocalNode(self.root, f"node{i}", first.peer_address) for i in range(2, count + 1)]
        for node in self.nodes:
            node.write_config(replication_n)

    @property
    def addresses(self):
        return [node.address for node in self.nodes]

    def start(self):
        """Starts every node and waits until they are ready; on failure,
        stops them all before raising."""
        try:
            for node in self.nodes:
                node.start(self.dynkvd)
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self):
        """Until every node says node.ready 1 and sees every node normal and up."""
        deadline = time.monotonic() + START_TIMEOUT_S
        with dynkv.Client(self.addresses, timeout=1.0, routing=False) as client:
            for node in self.nodes:
                while not self._ready(client, node):
                    if node.proc.poll() is not None:
                        raise AssertionError(f"{node.node_id} exited {node.proc.returncode}:\n{node.log_tail()}")
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{node.node_id} not ready within {START_TIMEOUT_S}s:\n{node.log_tail()}")
                    time.sleep(0.1)

    def _ready(self, client, node):
        try:
            if client.stats(node.address).get("node.ready") != 1:
                return False
            members = client.members(node.address)
        except dynkv.DynkvError:
            return False
        return len(members) == len(self.nodes) and all(m["up"] and m["status"] == "normal" for m in members)

    def stop(self):
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
