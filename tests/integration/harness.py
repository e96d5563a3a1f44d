"""Test harness: real dynkvd processes on 127.0.0.1, started from generated
YAML configs in a temporary directory, plus helpers to run the dynkv CLI
and to make a client of one node with the Python client package.

Paths come from the environment that meson test sets: DYNKV_BUILD_ROOT (the
build directory) and PYTHONPATH (clients/python, the dynkv package).

DYNKV_TEST_TLS=1 runs the same tests on TLS clusters: each test makes a CA
and a certificate per node (tools/tls-certs.sh), every node gets
security.tls, and the CLI and the Python clients connect with --ca/ca_file.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import dynkv

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from ports import free_port  # noqa: E402  (one allocator for every parallel test)

SOURCE_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
TLS_CERTS = os.path.join(SOURCE_ROOT, "tools", "tls-certs.sh")
TLS = os.environ.get("DYNKV_TEST_TLS") == "1"
BUILD_ROOT = os.environ.get("DYNKV_BUILD_ROOT", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
DYNKVD = os.path.join(BUILD_ROOT, "src", "node", "dynkvd")
DYNKV = os.path.join(BUILD_ROOT, "tools", "cli", "dynkv")
START_TIMEOUT_S = 15
# A client's requests: the node's timeout, and how much longer the client
# waits for the answer (a loaded test machine answers late; a test fails on
# a missing answer, not on a slow one).
REQUEST_TIMEOUT_S = 5.0
ANSWER_GRACE_S = 5.0


def make_certificates(directory, *nodes):
    """A CA in `directory` (made once) and a certificate for each node id,
    naming it and 127.0.0.1; returns the CA certificate's path."""
    if not os.path.exists(os.path.join(directory, "ca.crt")):
        subprocess.run(["bash", TLS_CERTS, directory, "ca"], check=True, capture_output=True)
    for node_id in nodes:
        subprocess.run(["bash", TLS_CERTS, directory, "node", node_id, "127.0.0.1"], check=True,
                       capture_output=True)
    return os.path.join(directory, "ca.crt")


def tls_yaml(directory, node_id):
    """The security.tls section for `node_id`'s certificate in `directory`."""
    return (f"security:\n  tls:\n    cert_file: {directory}/{node_id}.crt\n"
            f"    key_file: {directory}/{node_id}.key\n    ca_file: {directory}/ca.crt\n")


class Node:
    """One dynkvd process with its own config and data dir under `root`.
    `tls_dir`: a directory made by make_certificates holding a certificate
    for this node; the node then runs with security.tls."""

    def __init__(self, root, node_id="node1", extra_yaml="", seeds=(), http=False, resp=False, tls_dir=None):
        self.node_id = node_id
        self.ca_file = None
        if tls_dir is not None:
            self.ca_file = make_certificates(tls_dir, node_id)
            tls = tls_yaml(tls_dir, node_id)  # "security:\n  tls: ...": one security map with the test's own keys
            extra_yaml = extra_yaml.replace("security:\n", tls, 1) if "security:\n" in extra_yaml else extra_yaml + tls
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

    def client(self, timeout=REQUEST_TIMEOUT_S, **options):
        """A dynkv.Client of this node alone: with routing off, this node
        coordinates every request and none is sent to another node.
        `options`: more of the Client's arguments."""
        options.setdefault("answer_grace_s", ANSWER_GRACE_S)
        options.setdefault("ca_file", self.ca_file)
        return dynkv.Client([self.address], timeout=timeout, routing=False, **options)

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
        # DYNKV_TEST_TLS: every node of this test gets a certificate here.
        self.tls_dir = os.path.join(self.root, "tls") if TLS else None

    def tearDown(self):
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def start_node(self, node_id="node1", extra_yaml=""):
        node = Node(self.root, node_id, extra_yaml, tls_dir=self.tls_dir)
        self.nodes.append(node)
        return node.start()

    def start_cluster(self, count, extra_yaml="", prepare=None, **ports):
        """`count` nodes whose configs all list the first node as their one
        seed; `prepare(nodes)`, when given, runs before any starts (e.g. to
        mount a disk for a data dir); `ports`: Node's http and resp."""
        ports.setdefault("tls_dir", self.tls_dir)
        first = Node(self.root, "node1", extra_yaml, **ports)
        nodes = [first] + [Node(self.root, f"node{i}", extra_yaml, seeds=[first.peer_address], **ports)
                           for i in range(2, count + 1)]
        # The first node lists itself: seeds are only contact points.
        with open(first.config_path) as f:
            text = f.read().replace("seeds: []", f"seeds: [{first.peer_address}]")
        with open(first.config_path, "w") as f:
            f.write(text)
        self.nodes.extend(nodes)
        if prepare is not None:
            prepare(nodes)
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
        tls = ["--ca", node.ca_file] if node.ca_file else []
        result = subprocess.run(
            [DYNKV, "--node", node.address, *tls, *args],
            input=stdin, capture_output=True, timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"dynkv {' '.join(args)} exited {result.returncode}: {result.stderr.decode(errors='replace')}")
        return result
