"""Test harness: real dynkvd processes on 127.0.0.1, started from generated
YAML configs in a temporary directory, plus helpers to run the dynkv CLI
and to speak the framed protobuf protocol directly.

Paths come from the environment that meson test sets: DYNKV_BUILD_ROOT (the
build directory) and PYTHONPATH (the generated client_pb2 module).
"""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

import client_pb2  # generated from proto/client.proto at build time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from ports import free_port  # noqa: E402  (one allocator for every parallel test)

BUILD_ROOT = os.environ.get("DYNKV_BUILD_ROOT", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
DYNKVD = os.path.join(BUILD_ROOT, "src", "node", "dynkvd")
DYNKV = os.path.join(BUILD_ROOT, "tools", "cli", "dynkv")
START_TIMEOUT_S = 15


class Node:
    """One dynkvd process with its own config and data dir under `root`."""

    def __init__(self, root, node_id="node1", extra_yaml="", seeds=(), http=False, resp=False):
        self.node_id = node_id
        self.client_port = free_port()
        self.peer_port = free_port()
        self.http_port = free_port() if http else None
        self.resp_port = free_port() if resp else None
        http_listen = f", http: 127.0.0.1:{self.http_port}" if http else ""
        http_listen += f", resp: 127.0.0.1:{self.resp_port}" if resp else ""
        seed_list = ", ".join(seeds)
        self.data_dir = os.path.join(root, node_id, "data")
        self.config_path = os.path.join(root, node_id, "node.yaml")
        self.log_path = os.path.join(root, node_id, "node.log")
        os.makedirs(os.path.dirname(self.config_path), exist_ok=True)
        with open(self.config_path, "w") as f:
            f.write(
                f"node_id: {node_id}\n"
                f"listen: {{ client: 127.0.0.1:{self.client_port}, peer: 127.0.0.1:{self.peer_port}{http_listen} }}\n"
                f"data_dir: {self.data_dir}\n"
                f"seeds: [{seed_list}]\n"
                f"{extra_yaml}"
            )
        self.proc = None

    @property
    def address(self):
        return f"127.0.0.1:{self.client_port}"

    @property
    def peer_address(self):
        return f"127.0.0.1:{self.peer_port}"

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def start(self, wait=True):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([DYNKVD, "--config", self.config_path], stdout=log, stderr=log)
        log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"dynkvd exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.client_port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"dynkvd did not listen within {START_TIMEOUT_S}s:\n{self.log()}")

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stops the process with `sig`; returns its exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"dynkvd did not stop within {timeout}s after signal {sig}")

    def kill(self):
        return self.stop(signal.SIGKILL)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""


class NodeTestCase(unittest.TestCase):
    """A test case with a temporary directory and nodes that are always stopped."""

    def setUp(self):
        base = os.environ.get("DYNKV_TEST_TMP") or None
        if base:
            os.makedirs(base, exist_ok=True)
        self.root = tempfile.mkdtemp(prefix="dynkv-it-", dir=base)
        self.nodes = []

    def tearDown(self):
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def start_node(self, node_id="node1", extra_yaml=""):
        node = Node(self.root, node_id, extra_yaml)
        self.nodes.append(node)
        return node.start()

    def start_cluster(self, count, extra_yaml="", **ports):
        """`count` nodes whose configs all list the first node as their one
        seed; `ports`: Node's http and resp."""
        first = Node(self.root, "node1", extra_yaml, **ports)
        nodes = [first] + [Node(self.root, f"node{i}", extra_yaml, seeds=[first.peer_address], **ports)
                           for i in range(2, count + 1)]
        # The first node lists itself: seeds are only contact points.
        with open(first.config_path) as f:
            text = f.read().replace("seeds: []", f"seeds: [{first.peer_address}]")
        with open(first.config_path, "w") as f:
            f.write(text)
        self.nodes.extend(nodes)
        for node in nodes:
            node.start(wait=False)
        for node in nodes:
            node.wait_ready()
        return nodes

    def members(self, node):
        """{node_id: member} as `dynkv members --json` on `node` reports them."""
        doc = json.loads(self.cli(node, "members", "--json").stdout)
        return {m["node_id"]: m for m in doc["members"]}

    def wait_until(self, predicate, timeout, what):
        """Polls `predicate` until true; returns the seconds it took."""
        start = time.monotonic()
        while True:
            try:
                if predicate():
                    return time.monotonic() - start
            except AssertionError:
                pass
            if time.monotonic() - start > timeout:
                self.fail(f"{what}: not within {timeout}s")
            time.sleep(0.1)

    def cli(self, node, *args, stdin=None, check=True, timeout=30):
        """Runs the dynkv CLI against `node`; returns the CompletedProcess."""
        result = subprocess.run(
            [DYNKV, "--node", node.address, *args],
            input=stdin, capture_output=True, timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"dynkv {' '.join(args)} exited {result.returncode}: {result.stderr.decode(errors='replace')}")
        return result


class Conn:
    """A raw framed connection: 4-byte big-endian length + protobuf message."""

    def __init__(self, node, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", node.client_port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, request):
        body = request.SerializeToString()
        self.sock.sendall(struct.pack(">I", len(body)) + body)

    def _read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                return None
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def recv(self):
        """The next Response, or None when the node closed the connection."""
        header = self._read_exact(4)
        if header is None:
            return None
        body = self._read_exact(struct.unpack(">I", header)[0])
        if body is None:
            return None
        response = client_pb2.Response()
        response.ParseFromString(body)
        return response

    def call(self, request):
        self.send(request)
        return self.recv()

    def closed_by_peer(self):
        """True when the node closed the connection (EOF or reset)."""
        try:
            while True:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def put_request(request_id, key, value, context=b"", ttl_s=0):
    r = client_pb2.Request(id=request_id)
    r.put.key = key
    r.put.value = value
    r.put.context = context
    r.put.ttl_s = ttl_s
    return r


def get_request(request_id, key):
    r = client_pb2.Request(id=request_id)
    r.get.key = key
    return r
