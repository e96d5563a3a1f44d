"""security.tls with real dynkvd processes (issue 14): certificates made by
the test with the openssl command (tools/tls-certs.sh). Who gets in and who
is refused, on the peer port (mutual TLS: the cluster CA's certificate or
nothing) and on the client and RESP ports (TLS for the connection; a
plaintext client gets a clear error, never a hang).

The replication tests also run whole on TLS clusters:
integration_replication_tls (harness.py, DYNKV_TEST_TLS)."""
import contextlib
import importlib
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import time
import unittest

import dynkv
from harness import DYNKV, DYNKVD, SOURCE_ROOT, Node, NodeTestCase, make_certificates

_HEADER = struct.Struct(">I")
JOIN_WAIT_S = 6.0  # three times what a join takes on this machine


def peer_messages(directory):
    """peer.proto's Python module, generated with protoc for this test."""
    os.makedirs(directory, exist_ok=True)
    subprocess.run(["protoc", "-I", os.path.join(SOURCE_ROOT, "proto"), f"--python_out={directory}", "peer.proto"],
                   check=True)
    sys.path.insert(0, directory)
    try:
        return importlib.import_module("peer_pb2")
    finally:
        sys.path.remove(directory)


def mint_write(peer_pb2, key, value):
    request = peer_pb2.PeerRequest(id=7, from_node="intruder")
    request.mint_write.key = key
    request.mint_write.value = value
    body = request.SerializeToString()
    return _HEADER.pack(len(body)) + body


def exchange(sock, frame):
    """Sends `frame` and reads until the other side closes or a frame
    arrives; returns the bytes read (b"" when nothing came)."""
    sock.sendall(frame)
    received = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
            if len(received) >= 4 and len(received) >= 4 + _HEADER.unpack_from(received)[0]:
                break
    except (ConnectionResetError, ssl.SSLError):
        pass
    return received


class TlsTestCase(NodeTestCase):
    def setUp(self):
        super().setUp()
        self.cluster_ca = os.path.join(self.root, "cluster-ca")
        self.other_ca = os.path.join(self.root, "other-ca")
        make_certificates(self.other_ca, "stranger", "node3")

    def tls_node(self, node_id, seeds=(), ca_dir=None, **options):
        node = Node(self.root, node_id, seeds=seeds, tls_dir=ca_dir or self.cluster_ca, **options)
        self.nodes.append(node)
        return node

    def run_cli(self, node, *args, ca=None, env=None):
        flags = ["--ca", ca] if ca else []
        return subprocess.run([DYNKV, "--node", node.address, *flags, *args], capture_output=True, text=True,
                              timeout=30, env=env)

    def stored(self, node, key):
        """The values `node` holds for `key`, read by a client with the CA."""
        with node.client(ca_file=node.ca_file) as client:
            return [s.value for s in client.get(key, r=1).siblings]


class PeerPortTest(TlsTestCase):
    def test_an_outsider_writes_through_a_plaintext_peer_port_but_not_through_a_tls_one(self):
        peer_pb2 = peer_messages(os.path.join(self.root, "proto"))
        # Without TLS the attack works: one frame on the peer port writes a
        # value (this is what the issue says, and what makes the test able
        # to fail).
        plain = Node(self.root, "plain")
        self.nodes.append(plain)
        plain.start()
        with socket.create_connection(("127.0.0.1", plain.peer_port), timeout=10) as sock:
            self.assertNotEqual(exchange(sock, mint_write(peer_pb2, b"k", b"forged")), b"")
        with plain.client() as client:
            self.assertEqual([s.value for s in client.get(b"k", r=1).siblings], [b"forged"])

        node = self.tls_node("node1")
        node.start()
        ca = os.path.join(self.cluster_ca, "ca.crt")
        attempts = {
            "plaintext": contextlib.nullcontext,
            "TLS without a certificate": lambda sock: self.wrap(sock, ca),
            "a certificate of another CA": lambda sock: self.wrap(sock, ca, self.other_ca, "stranger"),
        }
        for what, wrap in attempts.items():
            with self.subTest(what):
                with socket.create_connection(("127.0.0.1", node.peer_port), timeout=10) as raw:
                    try:
                        with wrap(raw) as sock:
                            answer = exchange(sock, mint_write(peer_pb2, b"k", b"forged " + what.encode()))
                    except (ssl.SSLError, OSError):
                        answer = b""  # refused during the handshake
                if what == "plaintext":
                    self.assertIn(b"requires TLS", answer)
                self.assertEqual(self.stored(node, b"k"), [], f"{what}: the forged write landed")
        stats = json.loads(self.run_cli(node, "stats", "--json", ca=ca).stdout)
        self.assertEqual(stats["tls.peer.plaintext_refused"], 1)
        self.assertGreaterEqual(stats["tls.peer.handshake_failures"], 2)
        # The refusals are logged, but not one line each.
        refused_lines = [line for line in node.log().splitlines() if "refused a TLS connection" in line]
        self.assertLessEqual(len(refused_lines), 2)

    @staticmethod
    def wrap(sock, ca_file, cert_dir=None, name=None):
        context = ssl.create_default_context(cafile=ca_file)
        if name:
            context.load_cert_chain(os.path.join(cert_dir, f"{name}.crt"), os.path.join(cert_dir, f"{name}.key"))
        tls = context.wrap_socket(sock, server_hostname="127.0.0.1")
        return tls

    def test_nodes_with_the_cluster_ca_form_a_cluster_and_others_cannot_join(self):
        node1 = self.tls_node("node1")
        node1.start()
        seed = [node1.peer_address]
        node2 = self.tls_node("node2", seeds=seed)
        outsider = self.tls_node("node3", seeds=seed, ca_dir=self.other_ca)  # a certificate of another CA
        plaintext = Node(self.root, "node4", seeds=seed)  # no TLS at all
        self.nodes.append(plaintext)
        for node in (node2, outsider, plaintext):
            node.start()
        ca = node1.ca_file

        def members_of(node, ca_file):
            result = self.run_cli(node, "members", "--json", ca=ca_file)
            return {m["node_id"] for m in json.loads(result.stdout)["members"]}

        self.wait_until(lambda: members_of(node1, ca) == {"node1", "node2"}, 15, "node2 joins node1")
        time.sleep(JOIN_WAIT_S)
        for node in (node1, node2):
            self.assertEqual(members_of(node, ca), {"node1", "node2"})
        self.assertEqual(members_of(outsider, outsider.ca_file), {"node3"})
        self.assertEqual(members_of(plaintext, None), {"node4"})
        # The cluster replicates between its members over TLS.
        self.assertEqual(self.run_cli(node1, "put", "k", "v", "--w", "2", ca=ca).returncode, 0)
        # (A mint answered late leaves two equal siblings: OPERATIONS.md, replication.failover_*.)
        self.assertEqual(set(self.run_cli(node2, "get", "k", "--r", "2", ca=ca).stdout.split()), {"v"})
        stats = json.loads(self.run_cli(node1, "stats", "--json", ca=ca).stdout)
        self.assertGreater(stats["tls.peer.handshake_failures"], 0)  # the outsiders knocked


class ClientPortTest(TlsTestCase):
    def setUp(self):
        super().setUp()
        self.node = self.tls_node("node1", resp=True)
        self.node.start()
        self.ca = self.node.ca_file

    def test_the_cli_needs_the_ca_and_a_plaintext_cli_gets_a_clear_error(self):
        plain = self.run_cli(self.node, "put", "k", "v")
        self.assertEqual(plain.returncode, 1)
        self.assertIn("requires TLS", plain.stderr)
        self.assertEqual(self.run_cli(self.node, "put", "k", "v", ca=self.ca).returncode, 0)
        env = dict(os.environ, DYNKV_CA=self.ca)
        self.assertEqual(self.run_cli(self.node, "get", "k", env=env).stdout.strip(), "v")
        wrong = self.run_cli(self.node, "get", "k", ca=os.path.join(self.other_ca, "ca.crt"))
        self.assertEqual(wrong.returncode, 1)
        self.assertIn("certificate verify failed", wrong.stderr)
        missing = self.run_cli(self.node, "get", "k", ca=os.path.join(self.root, "nope.crt"))
        self.assertEqual(missing.returncode, 2)
        self.assertIn("nope.crt: No such file or directory", missing.stderr)

    def test_the_python_client_with_and_without_the_ca(self):
        with dynkv.Client([self.node.address], routing=False, timeout=5) as client:
            with self.assertRaises(dynkv.DynkvError) as refused:
                client.put(b"k", b"v")
            self.assertIn("requires TLS", str(refused.exception))
        with dynkv.Client([self.node.address], routing=False, timeout=5, ca_file=self.ca) as client:
            client.put(b"big", b"x" * (1 << 20))
            self.assertEqual(client.get(b"big").siblings[0].value, b"x" * (1 << 20))

    def test_redis_cli_plaintext_is_refused_and_tls_works(self):
        port = str(self.node.resp_port)
        plain = subprocess.run(["redis-cli", "-p", port, "PING"], capture_output=True, text=True, timeout=30)
        self.assertIn("requires TLS", plain.stdout + plain.stderr)
        tls = ["redis-cli", "-p", port, "--tls", "--cacert", self.ca]
        self.assertEqual(subprocess.run(tls + ["SET", "k", "v"], capture_output=True, text=True,
                                        timeout=30).stdout.strip(), "OK")
        self.assertEqual(subprocess.run(tls + ["GET", "k"], capture_output=True, text=True,
                                        timeout=30).stdout.strip(), "v")

    def test_check_config_reads_the_certificate_files(self):
        bad = os.path.join(self.root, "bad.yaml")
        with open(self.node.config_path) as f:
            text = f.read().replace("node1.key", "missing.key")
        with open(bad, "w") as f:
            f.write(text)
        result = subprocess.run([DYNKVD, "--check-config", bad], capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 2)
        self.assertIn("security.tls: private key file", result.stderr)
        self.assertIn("missing.key: No such file or directory", result.stderr)
        good = subprocess.run([DYNKVD, "--check-config", self.node.config_path], capture_output=True, text=True,
                              timeout=30)
        self.assertEqual(good.returncode, 0, good.stderr)
        self.assertIn("tls", good.stdout)


class TlsWithTokensTest(TlsTestCase):
    TOKEN = "tls-admin-token-5d1e9a7c3b2f4068"

    def test_tokens_and_tls_together_on_every_client(self):
        tokens = os.path.join(self.root, "tokens.txt")
        with open(tokens, "w") as f:
            f.write(f"{self.TOKEN} admin\n")
        os.chmod(tokens, 0o600)
        node = self.tls_node("node1", extra_yaml=f"security:\n  clients:\n    tokens_file: {tokens}\n", resp=True)
        node.start()
        ca = node.ca_file
        refused = self.run_cli(node, "put", "k", "v", ca=ca)
        self.assertEqual(refused.returncode, 1)
        self.assertIn("UNAUTHENTICATED", refused.stderr)
        self.assertEqual(self.run_cli(node, "put", "k", "v", "--token", self.TOKEN, ca=ca).returncode, 0)
        env = dict(os.environ, DYNKV_CA=ca, DYNKV_TOKEN=self.TOKEN)
        self.assertEqual(self.run_cli(node, "get", "k", env=env).stdout.strip(), "v")
        with dynkv.Client([node.address], routing=False, timeout=5, ca_file=ca, token=self.TOKEN) as client:
            client.put(b"p", b"q")
            self.assertEqual(client.get(b"p").siblings[0].value, b"q")
        with dynkv.Client([node.address], routing=False, timeout=5, ca_file=ca) as client:
            with self.assertRaises(dynkv.DynkvError) as caught:
                client.get(b"p")
            self.assertEqual(caught.exception.code, "UNAUTHENTICATED")
        redis = ["redis-cli", "-p", str(node.resp_port), "--tls", "--cacert", ca, "--no-auth-warning"]
        self.assertIn("NOAUTH", subprocess.run(redis + ["GET", "k"], capture_output=True, text=True,
                                               timeout=30).stdout)
        self.assertEqual(subprocess.run(redis + ["-a", self.TOKEN, "GET", "k"], capture_output=True, text=True,
                                        timeout=30).stdout.strip(), "v")


if __name__ == "__main__":
    unittest.main()
