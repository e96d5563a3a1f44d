"""Preference lists on hand-made rings (the node's rules, src/ring/ring.h),
and where the client sends a key given the ring and the nodes it believes
down. No network."""
import time
import unittest

import dynkv
from dynkv import client_pb2
from dynkv.ring import Ring, key_position

TOP = 2**64 - 1


def ring(n, **tokens):
    """A ring whose node ids are the keyword names; addresses are made up."""
    return Ring(n, {node_id: (f"127.0.0.1:{7100 + i}", positions)
                    for i, (node_id, positions) in enumerate(sorted(tokens.items()))})


class PreferenceListTest(unittest.TestCase):
    def test_first_token_at_or_after_the_position_owns_it(self):
        r = ring(1, a=[100, 400], b=[200], c=[300])
        self.assertEqual(r.preference_list(0), ["a"])
        self.assertEqual(r.preference_list(100), ["a"])   # a token owns its own position
        self.assertEqual(r.preference_list(101), ["b"])
        self.assertEqual(r.preference_list(300), ["c"])
        self.assertEqual(r.preference_list(301), ["a"])

    def test_walks_clockwise_to_n_distinct_nodes(self):
        r = ring(3, a=[100, 400], b=[200], c=[300], d=[500])
        self.assertEqual(r.preference_list(150), ["b", "c", "a"])
        self.assertEqual(r.preference_list(350), ["a", "d", "b"])  # a's token 400, then 500, wrap to 100 (a), 200

    def test_wraps_past_the_last_token(self):
        r = ring(2, a=[1000], b=[2000], c=[3000])
        self.assertEqual(r.preference_list(3001), ["a", "b"])
        self.assertEqual(r.preference_list(TOP), ["a", "b"])
        self.assertEqual(r.preference_list(2500), ["c", "a"])

    def test_fewer_nodes_than_n_lists_every_node_once(self):
        r = ring(3, a=[10, 30, 50], b=[20, 40])
        self.assertEqual(r.preference_list(35), ["b", "a"])
        self.assertEqual(ring(3, a=[10]).preference_list(TOP), ["a"])

    def test_neighbouring_tokens_of_one_node_count_once(self):
        r = ring(3, a=[10, 11, 12, 13], b=[14, 15], c=[16])
        self.assertEqual(r.preference_list(0), ["a", "b", "c"])
        self.assertEqual(r.preference_list(15), ["b", "c", "a"])

    def test_a_repeated_token_of_one_node_collapses(self):
        r = ring(2, a=[10, 10, 30], b=[20])
        self.assertEqual(r.preference_list(5), ["a", "b"])
        self.assertEqual(r.preference_list(25), ["a", "b"])

    def test_a_token_claimed_by_two_nodes_goes_to_the_smaller_id(self):
        r = ring(1, b=[10], a=[10], c=[20])
        self.assertEqual(r.preference_list(10), ["a"])
        self.assertEqual(r.preference_list(15), ["c"])
        self.assertEqual(ring(3, a=[10], b=[10]).preference_list(0), ["a"])  # b owns nothing

    def test_racks_come_first_then_the_nearest_nodes(self):
        # Ring order a1 a2 b1 a3 b2 c1: the nearest of three racks.
        tokens = {"a1": [10], "a2": [20], "b1": [30], "a3": [40], "b2": [50], "c1": [60]}
        nodes = {node_id: ("", positions) for node_id, positions in tokens.items()}
        locations = {node_id: ("dc1", node_id[0]) for node_id in tokens}
        r = Ring(3, nodes, locations)
        self.assertEqual(r.preference_list(0), ["a1", "b1", "c1"])
        self.assertEqual(r.preference_list(35), ["a3", "b2", "c1"])
        # Two racks for three replicas: two of one, one of the other.
        two = Ring(3, nodes, {node_id: ("dc1", "a" if node_id[0] == "a" else "b") for node_id in tokens})
        self.assertEqual(two.preference_list(0), ["a1", "a2", "b1"])
        # One rack is the plain walk.
        self.assertEqual(Ring(3, nodes, {n: ("dc1", "r") for n in tokens}).preference_list(0), ["a1", "a2", "b1"])

    def test_datacenters_keep_their_own_counts(self):
        tokens = {"e1": [10], "e2": [20], "w1": [30], "e3": [40], "w2": [50], "x1": [60]}
        nodes = {node_id: ("", positions) for node_id, positions in tokens.items()}
        locations = {node_id: ({"e": "east", "w": "west", "x": "north"}[node_id[0]], node_id) for node_id in tokens}
        r = Ring(3, nodes, locations, {"east": 2, "west": 1})
        self.assertEqual(r.preference_list(0), ["e1", "e2", "w1"])
        self.assertEqual(r.preference_list(45), ["w2", "e1", "e2"])  # north keeps none

    def test_a_wildcard_client_address_is_unknown(self):
        r = Ring(2, {"a": ("0.0.0.0:7101", [10]), "b": ("[::]:7102", [20]), "c": ("127.0.0.1:7103", [30])})
        self.assertEqual(r.addresses, {"a": "", "b": "", "c": "127.0.0.1:7103"})

    def test_an_empty_ring_lists_nothing(self):
        self.assertTrue(Ring(3, {}).empty())
        self.assertEqual(Ring(3, {}).preference_list(5), [])
        self.assertEqual(Ring(3, {"a": ("127.0.0.1:1", [])}).preference_list(5), [])

    def test_a_key_sits_at_its_xxh3_position(self):
        position = key_position(b"user:1")
        r = ring(2, a=[position - 1], b=[position], c=[position + 1])
        self.assertEqual(r.replicas_for_key(b"user:1"), [("b", "127.0.0.1:7101"), ("c", "127.0.0.1:7102")])

    def test_built_from_a_ring_response(self):
        response = client_pb2.RingResponse(n=2)
        for node_id, address, positions in [("n1", "127.0.0.1:1", [5, 50]), ("n2", "127.0.0.1:2", [25])]:
            share = response.shares.add(node_id=node_id, client_address=address)
            share.positions.extend(positions)
        r = Ring.from_response(response)
        self.assertEqual(r.n, 2)
        self.assertEqual(r.preference_list(30), ["n1", "n2"])
        self.assertEqual(r.addresses, {"n1": "127.0.0.1:1", "n2": "127.0.0.1:2"})


class RouteTest(unittest.TestCase):
    """Client.route with a ring put in place by hand (no RingRequest sent)."""

    def setUp(self):
        self.client = dynkv.Client(["127.0.0.1:9001"], ring_refresh_s=3600)
        position = key_position(b"k")
        self.client._ring = Ring(3, {
            "a": ("127.0.0.1:7101", [position]),
            "b": ("127.0.0.1:7102", [position + 1]),
            "c": ("127.0.0.1:7103", [position + 2]),
            "d": ("127.0.0.1:7104", [position + 3]),
        })
        # No refresh in these tests: it would send a RingRequest to made-up addresses.
        self.client._ring_fetched_at = self.client._ring_due = time.monotonic() + 3600

    def tearDown(self):
        self.client.close()

    def test_replicas_first_then_the_given_nodes_then_the_rest(self):
        self.assertEqual(self.client.route(b"k"),
                         ["127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103", "127.0.0.1:9001", "127.0.0.1:7104"])

    def test_a_node_believed_down_is_tried_last(self):
        self.client._node_failed("127.0.0.1:7101")
        self.assertEqual(self.client.route(b"k")[:2], ["127.0.0.1:7102", "127.0.0.1:7103"])
        self.assertEqual(self.client.route(b"k")[-1], "127.0.0.1:7101")

    def test_without_routing_the_given_nodes_come_first(self):
        unrouted = dynkv.Client(["127.0.0.1:9001", "127.0.0.1:9002"], routing=False)
        try:
            self.assertEqual(unrouted.route(b"k"), ["127.0.0.1:9001", "127.0.0.1:9002"])
        finally:
            unrouted.close()

    def test_a_connection_error_makes_the_ring_due_for_refresh(self):
        self.client._ring_fetched_at = time.monotonic() - 10
        self.client._node_failed("127.0.0.1:7102")
        self.assertLessEqual(self.client._ring_due, time.monotonic())


if __name__ == "__main__":
    unittest.main()
