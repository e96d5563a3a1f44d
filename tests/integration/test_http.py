"""The HTTP port (listen.http): GET /metrics in Prometheus' text format,
parsed by Debian's python3-prometheus-client, with counters that move with
requests; GET /health, 200 on a node that serves and 503 with the reason on
one that has not heard its cluster; bad requests refused cleanly."""
import socket
import time
import unittest
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from harness import Node, NodeTestCase

TIMEOUT_S = 5


def get(node, path):
    """(status, content type, body) of GET http://node/path."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{node.http_port}{path}", timeout=TIMEOUT_S) as answer:
            return answer.status, answer.headers.get("Content-Type"), answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def raw(node, request_bytes):
    with socket.create_connection(("127.0.0.1", node.http_port), timeout=TIMEOUT_S) as s:
        s.sendall(request_bytes)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def samples(text):
    """{(name, frozenset(labels)): value} of every sample."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


class HttpTest(NodeTestCase):
    def start_http_node(self, node_id="node1", seeds=()):
        node = Node(self.root, node_id, seeds=seeds, http=True)
        self.nodes.append(node)
        node.start()
        return node

    def test_metrics_parse_as_prometheus_text_and_move_with_requests(self):
        node = self.start_http_node()
        status, content_type, text = get(node, "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(content_type.startswith("text/plain; version=0.0.4"), content_type)
        families = {f.name: f for f in text_string_to_metric_families(text)}
        self.assertEqual(families["dynkv_node_ready"].type, "gauge")
        self.assertEqual(families["dynkv_coordinator_writes"].type, "counter")  # the parser drops _total
        before = samples(text)
        put = ("dynkv_requests_total", frozenset({("op", "put"), ("code", "ok")}))
        self.assertNotIn(put, before)
        for i in range(3):
            self.cli(node, "put", f"k{i}", "v")
        self.cli(node, "get", "k0")
        after = samples(get(node, "/metrics")[2])
        self.assertEqual(after[put], 3)
        self.assertEqual(after[("dynkv_requests_total", frozenset({("op", "get"), ("code", "ok")}))], 1)
        self.assertEqual(after[("dynkv_coordinator_writes_total", frozenset())], 3)
        count = after[("dynkv_request_duration_seconds_count", frozenset({("op", "put"), ("code", "ok")}))]
        self.assertEqual(count, 3)
        inf = after[("dynkv_request_duration_seconds_bucket", frozenset({("op", "put"), ("code", "ok"), ("le", "+Inf")}))]
        self.assertEqual(inf, 3)

    def test_health_is_200_on_a_serving_node_and_503_with_the_reason_before(self):
        node = self.start_http_node()
        self.assertEqual(get(node, "/health")[:1], (200,))
        self.assertEqual(get(node, "/health")[2], "ok\n")
        # A node whose seed nobody answers never hears its cluster: not ready.
        lonely = Node(self.root, "node9", seeds=["127.0.0.1:1"], http=True)
        self.nodes.append(lonely)
        lonely.start(wait=False)
        deadline = time.monotonic() + 10
        while True:
            try:
                status, _, body = get(lonely, "/health")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.assertEqual(status, 503)
        self.assertIn("not ready", body)

    def test_bad_requests_are_refused_and_the_node_serves_on(self):
        node = self.start_http_node()
        self.assertEqual(get(node, "/nowhere")[0], 404)
        self.assertTrue(raw(node, b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
                        .startswith(b"HTTP/1.1 405"))
        self.assertTrue(raw(node, b"\x00\x01garbage\r\n\r\n").startswith(b"HTTP/1.1 400"))
        self.assertTrue(raw(node, b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 400"))
        head = raw(node, b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n"), head)
        self.assertEqual(get(node, "/health")[0], 200)


if __name__ == "__main__":
    unittest.main()
