// Ring module: the public surface (DESIGN.md: Ring).
//
// Keys and tokens live on the 64-bit XXH3 ring (common/key_hash.h); clockwise
// is increasing position, wrapping from 2^64-1 to 0. A token t owned by node
// X means X owns the range (previous token, t]: a key at position p belongs to
// the owner of the first token >= p, or of the first token when p is past the
// last one. Each node owns `vnodes` tokens, allocated once when it first
// joins (AllocateTokens), persisted by the node and gossiped to the others.
//
// A Ring is an immutable value built from a node -> tokens map and rebuilt on
// every membership change; the node shares it as shared_ptr<const Ring>, so
// any thread may read it. Nothing here does I/O or reads a clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace dynkv::ring {

// Node id -> the ring positions it owns.
using TokenMap = std::map<std::string, std::vector<uint64_t>>;

// Tokens per node unless configured, chosen by measurement
// (tools/ring_balance, clusters grown one node at a time from 3 to 100
// nodes). With AllocateTokens the largest node's share of the ring over the
// mean peaks at 1 + 1/(vnodes+1): 1.111 with 8 tokens (above the 1.10
// target), 1.077 with 12, 1.059 with 16, 1.030 with 32; blind random tokens
// reach 1.89 with 16. 16 meets the target with room to spare; more tokens
// also spread a failed node's load over more nodes and even out the keys
// each node replicates (with the replication-aware allocation, 1.078 times
// the mean at worst with 8 tokens, 1.038 with 16, 1.017 with 32; 3
// replicas, 3 to 300 nodes, 1,000 for 16), while fewer keep the ring small
// (1,600 tokens at 100 nodes) and cheap to gossip. Cassandra 4 also
// defaults to 16 with its allocator.
inline constexpr size_t kDefaultVnodes = 16;
// Larger counts are rejected: they only cost gossip bytes and range work.
inline constexpr size_t kMaxVnodes = 4096;

// One entry of a preference list. Primaries are the first n distinct nodes
// clockwise from a key; a fallback stands in for a primary that is down and
// keeps what it receives as a hint for that primary (DESIGN.md: Hinted
// handoff).
struct Replica {
  std::string node_id;
  bool fallback = false;
  std::string hint_for;  // the primary a fallback stands in for; empty for a primary
  bool up = true;        // as judged by the caller's IsUp

  friend bool operator==(const Replica&, const Replica&) = default;
};

// The caller's judgement of a node (gossip's failure detector in the node).
using IsUp = std::function<bool(const std::string& node_id)>;

// Where a node stands: gossiped from its location.datacenter and
// location.rack.
struct Location {
  std::string datacenter;
  std::string rack;

  friend bool operator==(const Location&, const Location&) = default;
};

// The ring's topology: each node's location (a node not listed stands in a
// datacenter and rack named "") and how many replicas of each key each
// datacenter keeps (replication.datacenters). With no datacenters the n of
// a preference list counts over the whole cluster; with datacenters, n is
// ignored and a datacenter not listed keeps no replicas.
struct Topology {
  std::map<std::string, Location> locations;
  std::map<std::string, uint32_t> datacenters;
};

enum class Quorum {
  kStrict,  // the primaries only, each marked up or down
  kSloppy,  // down primaries replaced by healthy fallbacks
};

class Ring {
 public:
  // The empty ring: no nodes, no tokens.
  Ring() = default;
  // Builds the ring from every node's tokens. A node listed with no tokens is
  // a member that owns nothing. Duplicate tokens of one node collapse; a
  // token claimed by several nodes goes to the smallest node id, so every
  // node that builds a ring from the same map gets the same ring.
  explicit Ring(const TokenMap& tokens);
  // The same, placing replicas by `topology` (see PreferenceList).
  Ring(const TokenMap& tokens, const Topology& topology);

  bool empty() const { return tokens_.empty(); }
  // Every node of the map the ring was built from, sorted, including nodes
  // with no tokens.
  const std::vector<std::string>& nodes() const { return nodes_; }
  bool HasNode(std::string_view node_id) const;

  // The ring as a sorted array of tokens, each with the index (into nodes())
  // of its owner.
  size_t token_count() const { return tokens_.size(); }
  uint64_t token(size_t i) const { return tokens_[i]; }
  size_t owner_index(size_t i) const { return owners_[i]; }
  // The tokens of one node, sorted; empty for an unknown node.
  std::vector<uint64_t> TokensOf(std::string_view node_id) const;
  // The map this ring represents (after duplicate resolution).
  TokenMap ToTokenMap() const;

  // Index of the token whose range holds `position`: the first token >=
  // position, wrapping to 0. O(log tokens).
  // REQUIRES: !empty()
  size_t TokenIndexFor(uint64_t position) const;
  // The node that owns `position`.
  // REQUIRES: !empty()
  const std::string& Owner(uint64_t position) const;

  // The location of nodes()[i].
  const Location& location(size_t i) const { return locations_[i]; }
  const Location& LocationOf(std::string_view node_id) const;
  // How many replicas a preference list of `n` has: min(n, nodes with
  // tokens) without datacenters, else the sum over the configured
  // datacenters of min(their count, their nodes with tokens).
  size_t ReplicaCount(size_t n) const;
  // True when replication.datacenters places the replicas.
  bool per_datacenter() const { return per_datacenter_; }

  // The primaries of `position`: ReplicaCount(n) distinct nodes, in ring
  // order, each marked up. Walking clockwise from the position, a group
  // (each configured datacenter, or the whole cluster) takes its replicas
  // spread over its racks as evenly as their nodes allow: on distinct racks
  // while it has at least as many racks as replicas (Cassandra's
  // NetworkTopologyStrategy), else as evenly as it can (the rack counts
  // differ by at most one when the racks have the nodes for it); among the
  // nodes that keep it that even, the nearest clockwise win. With one rack
  // this is the first n distinct nodes clockwise.
  std::vector<Replica> PreferenceList(uint64_t position, size_t n) const;
  // Like the above, with each node judged by `is_up`. kStrict: the primaries
  // in ring order, each marked up or down. kSloppy (after Riak's
  // riak_core_apl): the primaries that are up in ring order, then for each
  // down primary, in ring order, a fallback: the next healthy node clockwise
  // from the position that is not already in the list (in the primary's
  // datacenter when replication is per datacenter), marked with the
  // primary it stands in for. A down primary with no healthy node left to
  // stand in for it is left out, so the list is shorter than n (empty when
  // every node is down); every entry of a sloppy list is up.
  std::vector<Replica> PreferenceList(uint64_t position, size_t n, const IsUp& is_up, Quorum quorum) const;

 private:
  std::vector<std::string> nodes_;  // sorted, unique
  std::vector<uint64_t> tokens_;    // sorted, unique
  std::vector<uint32_t> owners_;    // owners_[i] indexes nodes_; parallel to tokens_

  // The topology, by node index (parallel to nodes_).
  struct Group {
    uint32_t replicas = 0;        // replication.datacenters' count; unused without datacenters
    std::vector<uint32_t> racks;  // rack ids of the group
    size_t owners = 0;            // its nodes with tokens
  };
  static constexpr uint32_t kNoGroup = ~uint32_t{0};
  void PlaceTopology(const Topology& topology);
  std::vector<Replica> Primaries(uint64_t position, size_t n, const IsUp& is_up, Quorum quorum,
                                 std::vector<Replica>* down) const;
  void AddFallbacks(uint64_t position, const std::vector<Replica>& down, const IsUp& is_up,
                    std::vector<Replica>* out) const;
  size_t GroupReplicas(const Group& group, size_t n) const;

  std::vector<Location> locations_;
  std::vector<uint32_t> rack_of_;        // rack id: one per distinct (datacenter, rack)
  std::vector<uint32_t> group_of_;       // index into groups_, or kNoGroup
  std::vector<uint32_t> rack_owners_;    // by rack id: its nodes with tokens
  std::vector<Group> groups_;
  bool per_datacenter_ = false;
};

// A token range (start, end] -- the whole ring when start == end, with one
// token -- and the nodes that replicate it, in preference order.
struct TokenRange {
  uint64_t start = 0;
  uint64_t end = 0;
  std::vector<std::string> replicas;
};
// Every token range of `ring` in ring order, each with its first
// min(n, nodes with tokens) replicas (all up).
std::vector<TokenRange> TokenRanges(const Ring& ring, size_t n);

// Each node's fraction of the ring (the keys it owns as the first replica).
// Sums to 1 over a non-empty ring; nodes with no tokens get 0.
std::map<std::string, double> Shares(const Ring& ring);
// Each node's fraction of the keys whose preference list of `replication`
// nodes (all up) includes it. Sums to min(replication, nodes with tokens).
std::map<std::string, double> ReplicatedShares(const Ring& ring, size_t replication);
// The largest rack's part of `replicated` (ReplicatedShares of `ring`) over
// its fair part, its nodes' fraction of all nodes: 1.0 is perfect balance.
double MaxRackShareOverFair(const Ring& ring, const std::map<std::string, double>& replicated);
// The largest share over the mean share: 1.0 is perfect balance.
// REQUIRES: shares not empty.
double MaxShareOverMean(const std::map<std::string, double>& shares);

// The tokens for `node_id` joining `current`, chosen to balance ownership.
// The first node of an empty ring gets `vnodes` evenly spaced tokens offset
// by a hash of its id. A later node takes its fair share, 1/(n+1) of the
// ring for n nodes with tokens, from the nodes that own the most, leaving every old node as close to the mean
// as `vnodes` cuts allow (details in allocation.cc). Because a new token only splits an existing range, keys
// move only to the new node, never between old ones. Deterministic: the same ring and arguments give the same
// tokens. The tokens come back sorted. INVALID_ARGUMENT when vnodes is 0 or above kMaxVnodes, node_id is
// empty, or node_id already owns tokens in `current`; INTERNAL if the ring has no room left (only with about
// 2^63 tokens).
Result<std::vector<uint64_t>> AllocateTokens(const Ring& current, const std::string& node_id,
                                             size_t vnodes = kDefaultVnodes);
// The same for a ring whose keys are each kept by the first `replicas`
// distinct nodes clockwise: the tokens balance what each node replicates
// (its replicated share, ReplicatedShares) as well as its primary share
// (details in replicated_allocation.cc). Keys still move as primaries only
// to the new node. With replicas <= 1, or while the cluster has no more
// nodes than replicas, it is AllocateTokens above.
Result<std::vector<uint64_t>> AllocateTokens(const Ring& current, const std::string& node_id, size_t vnodes,
                                             size_t replicas);
// How many replicas of a key the group of a node in `datacenter` keeps:
// `n` without per-datacenter replication, else the datacenter's count (0
// when it is not listed).
size_t GroupReplicas(const std::map<std::string, uint32_t>& datacenters, size_t n,
                     const std::string& datacenter);
// A fingerprint of how keys are placed (replication.n, or
// replication.datacenters when set): nodes whose digests differ put the
// same key on different replicas. Never 0.
uint64_t ReplicationDigest(size_t n, const std::map<std::string, uint32_t>& datacenters);
// The tokens for `node_id` joining `current` at `location`, where
// `replicas` is how many replicas of a key its group keeps (replication.n,
// or its datacenter's count when replication is per datacenter). When the
// group (its datacenter, or the whole cluster) has exactly as many racks as
// replicas, they are AllocateTokens against the ring of the nodes of its
// rack only: a key keeps one replica in each rack, the first node of the
// rack clockwise, so what a node replicates is its share of its rack's
// ring, which this balances. Otherwise (one rack included) the tokens
// balance what each node of the group replicates as PreferenceList spreads
// a key's replicas over the racks (AllocateTokens with `replicas` against
// the group's ring when it has one rack). A token another node already owns
// is moved by one position.
Result<std::vector<uint64_t>> AllocateTokensAt(const Ring& current, const std::string& node_id,
                                               const Location& location, size_t vnodes, size_t replicas);
// `vnodes` distinct tokens drawn uniformly at random from `seed` and the
// node id: the blind allocation the balanced one is measured against.
std::vector<uint64_t> RandomTokens(const std::string& node_id, size_t vnodes, uint64_t seed);

// Binary form of a node's tokens for its metadata: a version byte, then the
// sorted, deduplicated tokens as 8-byte big-endian words.
// REQUIRES: at most kMaxVnodes distinct tokens (DecodeTokens rejects more).
std::string EncodeTokens(const std::vector<uint64_t>& tokens);
// CORRUPTION when the bytes are not what EncodeTokens writes (empty, an
// unknown version, a partial word, more than kMaxVnodes tokens, tokens out of
// order or repeated). Never crashes on any input.
Result<std::vector<uint64_t>> DecodeTokens(std::string_view bytes);

}  // namespace dynkv::ring
