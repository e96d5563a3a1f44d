#include "gossip/ring_tracker.h"

#include <utility>

#include "common/log.h"

namespace dynkv::gossip {

RingTracker::RingTracker(GossipDriver& driver, RingTrackerOptions options, PersistTokens persist_tokens)
    : driver_(driver), options_(options), persist_tokens_(std::move(persist_tokens)) {
  driver_.gossiper().AddListener(this);
}

RingTracker::~RingTracker() { driver_.gossiper().RemoveListener(this); }

std::shared_ptr<const ring::Ring> RingTracker::CurrentRing() const {
  if (!stale_) return ring_;
  ring::TokenMap tokens;
  for (const Member& member : driver_.gossiper().Members()) {
    const NodeState& state = member.state;
    if (state.status == NodeStatus::kLeft || state.tokens.empty()) continue;
    tokens[state.node_id] = state.tokens;
  }
  ring_ = std::make_shared<const ring::Ring>(tokens);
  stale_ = false;
  return ring_;
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
  if (!Ready() || !TurnToTakeTokens()) return;
  auto tokens = ring::AllocateTokens(*CurrentRing(), gossiper.self().node_id, options_.vnodes);
  if (!tokens.ok()) {
    DYNKV_LOG(kError) << "cannot allocate tokens: " << tokens.status().ToString();
    return;
  }
  allocating_ = true;
  std::weak_ptr<int> alive = lifetime_;
  persist_tokens_(*tokens, [this, alive, tokens = *tokens](Status status) {
    if (alive.expired()) return;
    allocating_ = false;
    if (!status.ok()) {
      DYNKV_LOG(kError) << "cannot store this node's tokens (will retry): " << status.ToString();
      return;
    }
    if (!joining_) return;  // it started to leave meanwhile
    Gossiper& g = driver_.gossiper();
    g.SetTokens(tokens);
    g.SetStatus(NodeStatus::kNormal);
    stale_ = true;
    DYNKV_LOG(kInfo) << g.self().node_id << " took " << tokens.size() << " tokens and is NORMAL";
  });
}

}  // namespace dynkv::gossip
