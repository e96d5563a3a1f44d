#include "gossip/ring_tracker.h"

#include <utility>

#include "common/log.h"

namespace dynkv::gossip {

RingTracker::RingTracker(GossipDriver& driver, RingTrackerOptions options, PersistTokens persist_tokens)
    : driver_(driver), options_(options), persist_tokens_(std::move(persist_tokens)) {
  driver_.gossiper().AddListener(this);
}

RingTracker::~RingTracker() { driver_.gossiper().RemoveListener(this); }

// Every node works out preference lists from its own replication section;
// two sections that differ send one key to different replicas, so reads
// through one node miss what was written through another. Loud, not fatal:
// the operator is mid-way through a rolling change, or must fix a config.
void RingTracker::OnState(const NodeState& state) {
  stale_ = true;
  // This node's digest is the one it gossips (0: none to compare).
  const uint64_t own = driver_.gossiper().self().replication_digest;
  const bool differs = own != 0 && state.status != NodeStatus::kLeft && state.replication_digest != 0 &&
                       state.replication_digest != own;
  if (differs && replication_differs_.insert(state.node_id).second) {
    DYNKV_LOG(kError)
        << "node " << state.node_id
        << " has another replication setting (replication.n or replication.datacenters) than this "
           "node: the two place keys on different replicas; give every node the same replication "
           "section";
  } else if (!differs && replication_differs_.erase(state.node_id) > 0) {
    DYNKV_LOG(kInfo) << "node " << state.node_id << " now has this node's replication setting";
  }
}

void RingTracker::OnLeave(const std::string& node_id) {
  stale_ = true;
  replication_differs_.erase(node_id);
}

ring::Role RingTracker::RoleOf(NodeStatus status) {
  switch (status) {
    case NodeStatus::kJoining:
      return ring::Role::kJoining;
    case NodeStatus::kLeaving:
      return ring::Role::kLeaving;
    case NodeStatus::kReplacing:
      return ring::Role::kReplacing;
    case NodeStatus::kNormal:
    case NodeStatus::kLeft:
      break;
  }
  return ring::Role::kNormal;
}

std::shared_ptr<const ring::Placement> RingTracker::CurrentPlacement() const {
  if (!stale_) return placement_;
  std::vector<ring::PlacedNode> nodes;
  for (const Member& member : driver_.gossiper().Members()) {
    const NodeState& state = member.state;
    if (state.status == NodeStatus::kLeft || state.tokens.empty()) continue;
    nodes.push_back({state.node_id, RoleOf(state.status), state.tokens, {state.datacenter, state.rack}});
  }
  placement_ = std::make_shared<const ring::Placement>(nodes, options_.replication_n, options_.datacenters);
  stale_ = false;
  return placement_;
}

std::shared_ptr<const ring::Ring> RingTracker::CurrentRing() const {
  std::shared_ptr<const ring::Placement> placement = CurrentPlacement();
  return std::shared_ptr<const ring::Ring>(placement, &placement->current());
}

// Another joining node with a smaller id that is up and has no tokens yet
// goes first.
bool RingTracker::TurnToTakeTokens() const {
  const NodeState& self = driver_.gossiper().self();
  for (const Member& member : driver_.gossiper().Members()) {
    const NodeState& other = member.state;
    if (!member.self && member.up && other.status == NodeStatus::kJoining && other.tokens.empty() &&
        other.node_id < self.node_id) {
      return false;
    }
  }
  return true;
}

void RingTracker::MaybeTakeTokens() {
  Gossiper& gossiper = driver_.gossiper();
  if (allocating_ || !joining_ || !gossiper.self().tokens.empty()) return;
  if (!Ready()) return;
  // Back on an empty disk under an id the cluster knows: take its tokens back.
  const NodeState* earlier = gossiper.earlier_self();
  const bool replacing = earlier != nullptr && !earlier->tokens.empty() && earlier->status != NodeStatus::kLeft;
  std::vector<uint64_t> tokens;
  if (replacing) {
    tokens = earlier->tokens;
  } else {
    if (!TurnToTakeTokens() || !CurrentPlacement()->still()) return;
    const NodeState& self = gossiper.self();
    auto allocated = ring::AllocateTokensAt(
        *CurrentRing(), self.node_id, {self.datacenter, self.rack}, options_.vnodes,
        ring::GroupReplicas(options_.datacenters, options_.replication_n, self.datacenter));
    if (!allocated.ok()) {
      DYNKV_LOG(kError) << "cannot allocate tokens: " << allocated.status().ToString();
      return;
    }
    tokens = std::move(*allocated);
  }
  allocating_ = true;
  const NodeStatus status = replacing ? NodeStatus::kReplacing : NodeStatus::kJoining;
  std::weak_ptr<int> alive = lifetime_;
  persist_tokens_(tokens, replacing ? "replace" : "join", [this, alive, tokens, status](Status stored) {
    if (alive.expired()) return;
    allocating_ = false;
    if (!stored.ok()) {
      DYNKV_LOG(kError) << "cannot store this node's tokens (will retry): " << stored.ToString();
      return;
    }
    if (!joining_) return;  // it started to leave meanwhile
    Gossiper& g = driver_.gossiper();
    g.SetTokens(tokens);
    g.SetStatus(status);
    stale_ = true;
    DYNKV_LOG(kInfo) << g.self().node_id << " took " << tokens.size() << " tokens and is "
                     << StatusName(status) << " until its ranges have streamed in";
  });
}

}  // namespace dynkv::gossip
