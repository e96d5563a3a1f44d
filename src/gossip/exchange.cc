// The digest exchange (Cassandra's GossipDigestSyn/Ack/Ack2 handlers) and
// the rules for merging a remote state into the membership table:
// - a lower generation than ours is a stale incarnation and is ignored;
// - a higher generation is the node restarted: its state replaces ours whole;
// - the same generation merges field group by field group, newest version wins;
// - this node is the only authority on its own state.
// A heartbeat version that grows is an arrival for the failure detector.
#include <algorithm>
#include <set>

#include "gossip/gossip.h"

namespace dynkv::gossip {

// ---- Incoming messages ---------------------------------------------------

namespace {

uint64_t SenderGeneration(const Syn& syn, const std::string& from_node) {
  for (const GossipDigest& digest : syn.digests) {
    if (digest.node_id == from_node) return digest.generation;
  }
  return 0;
}

}  // namespace

Result<Ack> Gossiper::OnSyn(const std::string& from_node, const Syn& syn, int64_t now_ms) {
  (void)now_ms;
  ++stats_.syns_received;
  if (syn.cluster_name != options_.cluster_name) {
    return Status::InvalidArgument("gossip from cluster '" + syn.cluster_name + "', this is '" +
                                   options_.cluster_name + "'");
  }
  Contact(from_node);
  Ack ack;
  std::set<std::string_view> mentioned;
  for (const GossipDigest& digest : syn.digests) {
    mentioned.insert(digest.node_id);
    CompareDigest(digest, &ack);
  }
  if (syn.partial) {
    // A sample: what it left out is compared by the tables' hashes, and a
    // difference makes both sides list every node for a few rounds.
    if (syn.table_hash != TableHash()) {
      ack.table_differs = true;
      ++stats_.tables_differed;
      Unsettle();
    }
  } else {
    // Beyond Cassandra: push the nodes the sender did not list, so a joining
    // node learns the whole cluster from its first exchange with a seed.
    if (mentioned.count(self_.node_id) == 0) ack.states.push_back(self_);
    for (const auto& [node_id, peer] : peers_) {
      if (mentioned.count(node_id) == 0) ack.states.push_back(peer.state);
    }
  }
  // The sender restarted with no tokens: send it the state of its earlier
  // life too, so a node that lost its disk learns the tokens it had.
  if (auto it = peers_.find(from_node); it != peers_.end()) {
    const Peer& sender = it->second;
    if (sender.state.generation < SenderGeneration(syn, from_node) && !sender.state.tokens.empty() &&
        sender.state.status != NodeStatus::kLeft) {
      ack.states.push_back(sender.state);
    } else if (sender.earlier && sender.state.tokens.empty()) {
      ack.states.push_back(*sender.earlier);
    }
  }
  DispatchEvents();
  return ack;
}

std::optional<Ack2> Gossiper::OnAck(const std::string& to_address, const Ack& ack, int64_t now_ms) {
  for (auto& [node_id, peer] : peers_) {
    if (peer.state.peer_address == to_address) Contact(node_id);
  }
  if (ack.table_differs) Unsettle();
  for (const NodeState& state : ack.states) Apply(state, now_ms);
  Ack2 ack2;
  for (const GossipDigest& request : ack.requests) {
    if (std::optional<NodeState> state = StateFor(request)) ack2.states.push_back(std::move(*state));
  }
  DispatchEvents();
  if (ack2.states.empty()) return std::nullopt;
  return ack2;
}

void Gossiper::OnAck2(const std::string& from_node, const Ack2& ack2, int64_t now_ms) {
  Contact(from_node);
  for (const NodeState& state : ack2.states) Apply(state, now_ms);
  DispatchEvents();
}

Status Gossiper::OnLeaveNotice(const std::string& from_node, const LeaveNotice& notice, int64_t now_ms) {
  if (notice.state.status_version == 0 || notice.state.status != NodeStatus::kLeft) {
    return Status::InvalidArgument("leave notice for '" + notice.state.node_id + "' without status LEFT");
  }
  Contact(from_node);
  Apply(notice.state, now_ms);
  DispatchEvents();
  return Status::Ok();
}

void Gossiper::OnPeerUnreachable(const std::string& peer_address, int64_t now_ms) {
  for (auto& [node_id, peer] : peers_) {
    if (peer.state.peer_address != peer_address || peer.state.status == NodeStatus::kLeft) continue;
    ++stats_.evidence_reports;
    if (!peer.awaiting_contact) peer.evidence_ms = now_ms;
    peer.awaiting_contact = true;
    // Only news is told: evidence about a node already down here (a recheck
    // refused again, a dead node picked as a down target) would make every
    // node in turn change its state for one dead node, each change a round
    // of full exchanges.
    if (peer.up) Suspect(peer);
    MarkDown(&peer);
  }
  DispatchEvents();
}

// ---- Digests -------------------------------------------------------------

void Gossiper::CompareDigest(const GossipDigest& digest, Ack* ack) const {
  const bool about_self = digest.node_id == self_.node_id;
  const NodeState* local = Find(digest.node_id);
  if (local == nullptr) {
    if (!Forgotten(digest.node_id, digest.generation)) ack->requests.push_back({digest.node_id, digest.generation, 0});
    return;
  }
  if (digest.generation < local->generation) {
    ack->states.push_back(*local);
  } else if (digest.generation > local->generation) {
    if (!about_self) ack->requests.push_back({digest.node_id, digest.generation, 0});
  } else if (digest.max_version < local->MaxVersion()) {
    ack->states.push_back(local->DeltaAbove(digest.max_version));
  } else if (digest.max_version > local->MaxVersion()) {
    // About this node, only a removal can be newer; asking lets us notice it.
    ack->requests.push_back({digest.node_id, digest.generation, local->MaxVersion()});
  }
}

std::optional<NodeState> Gossiper::StateFor(const GossipDigest& request) const {
  const NodeState* local = Find(request.node_id);
  if (local == nullptr || local->generation < request.generation) return std::nullopt;
  if (local->generation > request.generation) return *local;
  if (local->MaxVersion() <= request.max_version) return std::nullopt;
  return local->DeltaAbove(request.max_version);
}

// ---- Merging -------------------------------------------------------------

void Gossiper::Apply(const NodeState& remote, int64_t now_ms) {
  if (remote.node_id == self_.node_id) {
    const bool removal = remote.status == NodeStatus::kLeft || IsRemoval(remote);
    if (remote.generation == self_.generation && removal && remote.status_version > self_.status_version &&
        self_.status != NodeStatus::kLeft) {
      removed_ = true;
    }
    if (remote.generation < self_.generation && remote.IsComplete() &&
        (!earlier_self_ || earlier_self_->generation < remote.generation)) {
      earlier_self_ = remote;
    }
    return;
  }
  Peer* peer = FindPeer(remote.node_id);
  if (peer == nullptr && Forgotten(remote.node_id, remote.generation)) {
    ++stats_.states_ignored;
  } else if (peer == nullptr) {
    forgotten_.erase(remote.node_id);  // started again: a new member
    ApplyNew(remote, now_ms);
  } else if (remote.generation > peer->state.generation) {
    ApplyNewGeneration(peer, remote, now_ms);
  } else if (remote.generation == peer->state.generation) {
    ApplySameGeneration(peer, remote, now_ms);
  }
}

void Gossiper::ApplyNew(const NodeState& remote, int64_t now_ms) {
  if (!remote.IsComplete()) {
    ++stats_.states_rejected;
    return;
  }
  ++stats_.states_applied;
  Unsettle();
  Peer& peer = peers_[remote.node_id];
  peer.state = remote;
  peer.awaited_since_round = static_cast<int64_t>(stats_.rounds);
  // A node that left is remembered (so old gossip cannot revive it) but
  // neither announced nor watched.
  if (remote.status == NodeStatus::kLeft) return;
  // The first sighting starts the detector's clock; the node is up once a
  // newer heartbeat shows it is alive now, not just remembered by others.
  detector_.Report(remote.node_id, now_ms);
  HearSuspicions(remote, now_ms);
  Emit(EventKind::kJoin, remote.node_id);
}

void Gossiper::ApplyNewGeneration(Peer* peer, const NodeState& remote, int64_t now_ms) {
  if (!remote.IsComplete()) {
    ++stats_.states_rejected;
    return;
  }
  ++stats_.states_applied;
  Unsettle();
  const bool was_left = peer->state.status == NodeStatus::kLeft;
  if (!was_left && !peer->state.tokens.empty()) peer->earlier = peer->state;
  peer->state = remote;
  peer->awaiting_contact = false;
  peer->awaited_since_round = static_cast<int64_t>(stats_.rounds);
  ClearSuspicion(peer);
  Unsuspect(remote.node_id);
  detector_.Forget(remote.node_id);
  if (remote.status == NodeStatus::kLeft) {
    if (!was_left) MarkLeft(peer);
    return;
  }
  detector_.Report(remote.node_id, now_ms);
  HearSuspicions(remote, now_ms);
  Emit(EventKind::kRestart, remote.node_id);
}

void Gossiper::ApplySameGeneration(Peer* peer, const NodeState& remote, int64_t now_ms) {
  NodeState& local = peer->state;
  const bool was_left = local.status == NodeStatus::kLeft;
  const bool heartbeat = remote.heartbeat > local.heartbeat;
  bool changed = false;
  if (heartbeat) local.heartbeat = remote.heartbeat;
  if (remote.status_version > local.status_version) {
    local.status = remote.status;
    local.status_version = remote.status_version;
    changed = true;
  }
  if (remote.addresses_version > local.addresses_version) {
    local.client_address = remote.client_address;
    local.peer_address = remote.peer_address;
    local.addresses_version = remote.addresses_version;
    changed = true;
  }
  if (remote.tokens_version > local.tokens_version) {
    local.tokens = remote.tokens;
    local.tokens_version = remote.tokens_version;
    changed = true;
  }
  if (remote.location_version > local.location_version) {
    local.datacenter = remote.datacenter;
    local.rack = remote.rack;
    local.replication_digest = remote.replication_digest;
    local.location_version = remote.location_version;
    changed = true;
  }
  // Movement versions change no ring: no event; readers poll them.
  const bool moved = remote.movement_version > local.movement_version;
  if (moved) {
    local.ring_version = remote.ring_version;
    local.streamed_version = remote.streamed_version;
    local.movement_version = remote.movement_version;
  }
  const bool suspicions = remote.suspects_version > local.suspects_version;
  if (suspicions) {
    local.suspects = remote.suspects;
    local.suspects_version = remote.suspects_version;
    HearSuspicions(local, now_ms);
  }
  // A new incarnation refutes every suspicion at an older one.
  const bool refuted = remote.alive_version > local.alive_version;
  if (refuted) {
    local.alive_version = remote.alive_version;
    ClearSuspicion(peer);
  }
  if (heartbeat || changed || moved || suspicions || refuted) ++stats_.states_applied;
  if (changed || moved || suspicions || refuted) Unsettle();
  if (changed) Emit(EventKind::kChange, local.node_id);
  if (local.status == NodeStatus::kLeft) {
    if (!was_left) MarkLeft(peer);
    return;
  }
  if (heartbeat) HeartbeatArrived(peer, now_ms);
}

void Gossiper::HeartbeatArrived(Peer* peer, int64_t now_ms) {
  detector_.Report(peer->state.node_id, now_ms);
  peer->heartbeat_ms = now_ms;
  if (peer->state.heartbeat > peer->suspected_above) ClearSuspicion(peer);
  if (!peer->up && !peer->awaiting_contact) {
    peer->up = true;
    peer->awaited_since_round = -1;
    peer->phi = 0;
    Unsuspect(peer->state.node_id);
    Emit(EventKind::kUp, peer->state.node_id);
  }
}

// ---- Suspicions ----------------------------------------------------------

namespace {

std::vector<Suspicion>::iterator FindSuspect(std::vector<Suspicion>& suspects, const std::string& node_id) {
  return std::find_if(suspects.begin(), suspects.end(),
                      [&](const Suspicion& s) { return s.node_id == node_id; });
}

}  // namespace

void Gossiper::Suspect(const Peer& peer) {
  const Suspicion suspicion{peer.state.node_id, peer.state.generation, peer.state.heartbeat,
                            peer.state.alive_version};
  std::vector<Suspicion>& suspects = self_.suspects;
  auto it = FindSuspect(suspects, suspicion.node_id);
  if (it != suspects.end() && *it == suspicion) return;
  if (it != suspects.end()) suspects.erase(it);
  if (suspects.size() >= kMaxSuspects) suspects.erase(suspects.begin());
  suspects.push_back(suspicion);
  self_.suspects_version = NextVersion();
}

void Gossiper::Unsuspect(const std::string& node_id) {
  std::vector<Suspicion>& suspects = self_.suspects;
  auto it = FindSuspect(suspects, node_id);
  if (it == suspects.end()) return;
  suspects.erase(it);
  self_.suspects_version = NextVersion();
}

void Gossiper::HearSuspicions(const NodeState& from, int64_t now_ms) {
  for (const Suspicion& suspicion : from.suspects) {
    if (suspicion.node_id == self_.node_id) {
      Refute(suspicion);
      continue;
    }
    Peer* peer = FindPeer(suspicion.node_id);
    if (peer == nullptr || peer->state.generation != suspicion.generation ||
        peer->state.status == NodeStatus::kLeft || suspicion.incarnation < peer->state.alive_version) {
      continue;  // an unknown node, an old life, or refuted already
    }
    peer->suspected_above = std::max({peer->suspected_above, suspicion.heartbeat, peer->state.heartbeat});
    if (peer->suspected_since_ms < 0) peer->suspected_since_ms = now_ms;
  }
}

// SWIM's refutation (Das et al. 2002, section 4.2): a new incarnation,
// which spreads as a change and outranks every suspicion at an older one.
void Gossiper::Refute(const Suspicion& suspicion) {
  if (suspicion.generation != self_.generation || suspicion.incarnation < self_.alive_version) return;
  self_.alive_version = NextVersion();
  ++stats_.refutations;
}

void Gossiper::ClearSuspicion(Peer* peer) {
  peer->suspected_above = 0;
  peer->suspected_since_ms = -1;
}

void Gossiper::MarkDown(Peer* peer) {
  if (!peer->up) return;
  peer->up = false;
  Emit(EventKind::kDown, peer->state.node_id);
}

void Gossiper::MarkLeft(Peer* peer) {
  peer->up = false;
  peer->awaiting_contact = false;
  peer->awaited_since_round = -1;
  peer->phi = 0;
  ClearSuspicion(peer);
  Unsuspect(peer->state.node_id);
  detector_.Forget(peer->state.node_id);
  Emit(EventKind::kLeave, peer->state.node_id);
}

void Gossiper::Contact(const std::string& node_id) {
  if (Peer* peer = FindPeer(node_id)) peer->awaiting_contact = false;
}

Gossiper::Peer* Gossiper::FindPeer(const std::string& node_id) {
  auto it = peers_.find(node_id);
  return it == peers_.end() ? nullptr : &it->second;
}

}  // namespace dynkv::gossip
