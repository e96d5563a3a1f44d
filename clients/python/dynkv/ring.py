"""The cluster's ring as a client sees it, and the preference list of a key.

The rules are the node's (src/ring/ring.h): a key sits at position
XXH3-64(key) on a 64-bit ring; a node owning token t owns the range
(previous token, t]; the key's first replica owns the first token at or
after its position, wrapping to the smallest token; its preference list is
the first N distinct nodes met walking on clockwise (Dynamo, section 4.3),
placed by racks and datacenters when the nodes have them (the node's
Ring::PreferenceList: each group -- the whole cluster, or each datacenter
of replication.datacenters -- takes its replicas spread evenly over its
racks, nearest first). A token claimed by two nodes goes to the smaller
node id, as on the node, so a client and the nodes agree on every key.

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

    def __init__(self, n, nodes, locations=None, datacenters=None):
        """`nodes`: {node_id: (client_address or "", iterable of tokens)};
        `locations`: {node_id: (datacenter, rack)} (absent: ("", ""));
        `datacenters`: {datacenter: replicas} (replication.datacenters;
        empty: n over the whole cluster)."""
        self.n = n
        self.addresses = {node_id: _usable(address) for node_id, (address, _) in nodes.items()}
        self._locations = {node_id: (locations or {}).get(node_id, ("", "")) for node_id in nodes}
        self._datacenters = dict(datacenters or {})
        claims = sorted((token, node_id) for node_id, (_, tokens) in nodes.items() for token in set(tokens))
        self._tokens = []
        self._owners = []
        for token, node_id in claims:
            if self._tokens and self._tokens[-1] == token:
                continue  # sorted: the smaller node id already holds it
            self._tokens.append(token)
            self._owners.append(node_id)
        self._distinct_owners = len(set(self._owners))
        # Each group's racks and their nodes with tokens.
        self._racks = {}
        for node_id in set(self._owners):
            group = self._group(node_id)
            if group is not None:
                racks = self._racks.setdefault(group, {})
                racks[self._locations[node_id]] = racks.get(self._locations[node_id], 0) + 1
        self._quota_plan = self._quotas()  # fixed for the ring: copied by each walk

    def _group(self, node_id):
        if not self._datacenters:
            return ""
        datacenter = self._locations[node_id][0]
        return datacenter if datacenter in self._datacenters else None

    def _quotas(self):
        """{group: [want, level, extra]}: as the node's PlanQuota."""
        quotas = {}
        for group, racks in self._racks.items():
            want = min(self._datacenters.get(group, self.n) if self._datacenters else self.n, sum(racks.values()))
            level = 1
            while sum(min(size, level) for size in racks.values()) < want:
                level += 1
            quotas[group] = [want, level, want - sum(min(size, level - 1) for size in racks.values())]
        return quotas

    @classmethod
    def from_response(cls, ring_response):
        """From a client_pb2.RingResponse."""
        return cls(ring_response.n, {s.node_id: (s.client_address, list(s.positions)) for s in ring_response.shares},
                   {s.node_id: (s.datacenter, s.rack) for s in ring_response.shares},
                   dict(ring_response.datacenters))

    def empty(self):
        return not self._tokens or self.n == 0

    def preference_list(self, position):
        """Node ids of the key's replicas clockwise from `position`, first
        replica first: min(N, nodes with tokens) of them, each group's
        spread over its racks."""
        if self.empty():
            return []
        quotas = {group: list(quota) for group, quota in self._quota_plan.items()}
        remaining = sum(quota[0] for quota in quotas.values())
        start = bisect.bisect_left(self._tokens, position)
        count = len(self._tokens)
        seen, chosen, in_rack = set(), [], {}
        for step in range(count):
            owner = self._owners[(start + step) % count]
            if owner in seen:
                continue
            seen.add(owner)
            quota = quotas.get(self._group(owner))
            if quota is None or quota[0] == 0:
                continue
            taken = in_rack.get(self._locations[owner], 0)
            if taken + 1 < quota[1] or (taken + 1 == quota[1] and quota[2] > 0):
                if taken + 1 == quota[1]:
                    quota[2] -= 1
                quota[0] -= 1
                in_rack[self._locations[owner]] = taken + 1
                chosen.append(owner)
                remaining -= 1
                if remaining == 0:
                    break
        return chosen

    def replicas_for_key(self, key):
        """The preference list of `key` as (node_id, client_address) pairs."""
        return [(node_id, self.addresses.get(node_id, "")) for node_id in self.preference_list(key_position(key))]
