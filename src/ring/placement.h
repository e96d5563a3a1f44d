// Placement: where keys live while the ring changes (DESIGN.md: Data
// movement). A change (a join, a leave, a removal, a replacement) has two
// rings: the current one, whose replicas serve reads and count for W, and
// the next one, the ring once the change is done. A node that is in a key's
// next preference list but does not serve it now is pending for that key:
// writes go to it too (they never count for W), reads never wait on it, and
// it pulls the ranges it gains from their current replicas.
//
// Roles (the membership maps each node's gossip status to one):
//   kNormal     in both rings, serving
//   kJoining    in the next ring only: pending for what it gains
//   kLeaving    in the current ring only: still serving until it is done
//   kReplacing  in both rings with its old tokens, not serving (a node
//               back on an empty disk): pending for all its ranges
//
// Pure and immutable; built once per membership change and shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ring/ring.h"

namespace dynkv::ring {

enum class Role { kNormal, kJoining, kLeaving, kReplacing };

struct PlacedNode {
  std::string node_id;
  Role role = Role::kNormal;
  std::vector<uint64_t> tokens;
  Location location;
};

// The ring positions (start, end]; start == end is the whole ring.
struct Segment {
  uint64_t start = 0;
  uint64_t end = 0;
  std::vector<std::string> sources;  // the current replicas that serve it, in ring order
  std::vector<std::string> pending;  // next replicas that do not serve it yet

  friend bool operator==(const Segment&, const Segment&) = default;
};

// True when position p lies in (start, end], wrapping; start == end is the whole ring.
bool SegmentContains(uint64_t start, uint64_t end, uint64_t p);
// True when (inner_start, inner_end] lies inside (start, end].
bool SegmentCovers(uint64_t start, uint64_t end, uint64_t inner_start, uint64_t inner_end);

class Placement {
 public:
  // `n`: replication.n, capped in each ring by the nodes it has;
  // `datacenters`: replication.datacenters (ring.h: Topology).
  Placement(const std::vector<PlacedNode>& nodes, size_t n,
            const std::map<std::string, uint32_t>& datacenters = {});
  Placement() : Placement({}, 3) {}

  const Ring& current() const { return current_; }
  size_t n() const { return n_; }
  const Ring& next() const { return next_; }
  // Identifies the change (a hash of every node's role and tokens): nodes
  // that see the same table compute the same version. Never 0.
  uint64_t version() const { return version_; }
  // No node is joining, leaving or being replaced.
  bool still() const { return still_; }
  // Whether `node_id` serves reads and counts for W (kNormal, kLeaving).
  bool Serving(const std::string& node_id) const;
  Role RoleOf(const std::string& node_id) const;  // kNormal for unknown nodes
  // The nodes whose role is not kNormal, as "join n4", "leave n2", "replace n1".
  const std::vector<std::string>& changes() const { return changes_; }

  // The key position's pending replicas: in its next preference list and not
  // a serving member of its current one. Empty while still().
  std::vector<std::string> Pending(uint64_t position) const;
  // Every segment with a pending replica, in ring order.
  const std::vector<Segment>& moving() const { return moving_; }
  // The segments `node_id` is pending for.
  std::vector<Segment> GainedBy(const std::string& node_id) const;

 private:
  void Plan();

  std::vector<PlacedNode> nodes_;  // sorted by node id
  size_t n_;
  Ring current_;
  Ring next_;
  uint64_t version_ = 1;
  bool still_ = true;
  std::vector<std::string> changes_;
  std::vector<Segment> moving_;
};

}  // namespace dynkv::ring
