"""The cluster's ring as a client sees it, and the preference list of a key.

The rules are the node's (src/ring/ring.h): a key sits at position
XXH3-64(key) on a 64-bit ring; a node owning token t owns the range
(previous token, t]; the key's first replica owns the first token at or
after its position, wrapping to the smallest token; its preference list is
the first N distinct nodes met walking on clockwise (Dynamo, section 4.3).
A token claimed by two nodes goes to the smaller node id, as on the node,
so a client and the nodes agree on every key.

A Ring is immutable: a refresh builds a new one, so threads can read the
current one without a lock.
"""
import bisect

from .xxh3 import xxh3_64

# A node listening on a wildcard advertises it as its client address
# (listen.client verbatim): no client can connect to that, so it counts as
# unknown and such keys go to the nodes the client was given.
_WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]")


def _usable(address):
    return "" if address.rpartition(":")[0] in _WILDCARD_HOSTS else address


def key_position(key):
    """The ring position of `key` (bytes)."""
    return xxh3_64(key)


class Ring:
    """Tokens of every node, their client addresses, and N."""

    def __init__(self, n, nodes):
        """`nodes`: {node_id: (client_address or "", iterable of tokens)}."""
        self.n = n
        self.addresses = {node_id: _usable(address) for node_id, (address, _) in nodes.items()}
        claims = sorted((token, node_id) for node_id, (_, tokens) in nodes.items() for token in set(tokens))
        self._tokens = []
        self._owners = []
        for token, node_id in claims:
            if self._tokens and self._tokens[-1] == token:
                continue  # sorted: the smaller node id already holds it
            self._tokens.append(token)
            self._owners.append(node_id)
        self._distinct_owners = len(set(self._owners))

    @classmethod
    def from_response(cls, ring_response):
        """From a client_pb2.RingResponse."""
        return cls(ring_response.n, {s.node_id: (s.client_address, list(s.positions))
                                     for s in ring_response.shares})

    def empty(self):
        return not self._tokens or self.n == 0

    def preference_list(self, position):
        """Node ids of the first min(N, nodes with tokens) distinct nodes
        clockwise from `position`, first replica first."""
        if self.empty():
            return []
        wanted = min(self.n, self._distinct_owners)
        start = bisect.bisect_left(self._tokens, position)
        count = len(self._tokens)
        chosen = []
        for step in range(count):
            owner = self._owners[(start + step) % count]
            if owner not in chosen:
                chosen.append(owner)
                if len(chosen) == wanted:
                    break
        return chosen

    def replicas_for_key(self, key):
        """The preference list of `key` as (node_id, client_address) pairs."""
        return [(node_id, self.addresses.get(node_id, "")) for node_id in self.preference_list(key_position(key))]
