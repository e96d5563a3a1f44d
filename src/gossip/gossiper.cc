// The Gossiper's rounds, local changes, views and events. The handling of
// incoming messages and the merge rules are in exchange.cc.
#include <algorithm>
#include <cmath>

#include "common/key_hash.h"
#include "gossip/gossip.h"

namespace dynkv::gossip {

Result<std::unique_ptr<Gossiper>> Gossiper::Create(LocalNode local, GossipOptions options,
                                                   uint64_t random_seed) {
  if (options.interval_ms <= 0) return Status::InvalidArgument("gossip: interval_ms must be positive");
  if (options.max_digests < 2) return Status::InvalidArgument("gossip: max_digests must be at least 2");
  for (const std::string& seed : options.seeds) {
    if (!IsHostPort(seed)) return Status::InvalidArgument("gossip: seed '" + seed + "' is not HOST:PORT");
  }
  NodeState self;
  self.node_id = std::move(local.node_id);
  self.generation = local.generation;
  self.status = local.status;
  self.client_address = std::move(local.client_address);
  self.peer_address = std::move(local.peer_address);
  self.tokens = std::move(local.tokens);
  self.datacenter = std::move(local.datacenter);
  self.rack = std::move(local.rack);
  self.replication_digest = local.replication_digest;
  // Every group present, so every check applies.
  self.status_version = self.addresses_version = self.tokens_version = self.location_version = 1;
  DYNKV_RETURN_IF_ERROR(ValidateState(self).WithContext("gossip"));
  return std::unique_ptr<Gossiper>(new Gossiper(std::move(self), std::move(options), random_seed));
}

Gossiper::Gossiper(NodeState self, GossipOptions options, uint64_t random_seed)
    : self_(std::move(self)),
      options_(std::move(options)),
      detector_(options_.failure_detector, options_.interval_ms),
      random_(random_seed) {
  self_.status_version = NextVersion();
  self_.addresses_version = NextVersion();
  self_.tokens_version = NextVersion();
  self_.location_version = NextVersion();
  self_.heartbeat = NextVersion();
  for (const std::string& seed : options_.seeds) {
    if (seed != self_.peer_address && std::find(seeds_.begin(), seeds_.end(), seed) == seeds_.end()) {
      seeds_.push_back(seed);
    }
  }
}

// ---- Rounds --------------------------------------------------------------

std::vector<OutgoingSyn> Gossiper::Tick(int64_t now_ms) {
  ++stats_.rounds;
  BumpHeartbeat();
  JudgePeers(now_ms);
  ForgetLeft(now_ms);
  std::vector<OutgoingSyn> out;
  const std::vector<std::string> targets = ChooseTargets(now_ms);
  if (!targets.empty()) {
    const Syn syn = MakeSyn();
    for (const std::string& target : targets) {
      out.push_back({target, syn});
      if (syn.partial) ListTarget(&out.back());
    }
    stats_.syns_sent += out.size();
    if (syn.partial) stats_.partial_syns_sent += out.size();
  }
  DispatchEvents();
  return out;
}

void Gossiper::BumpHeartbeat() { self_.heartbeat = ++version_counter_; }

void Gossiper::ForgetLeft(int64_t now_ms) {
  for (auto it = peers_.begin(); it != peers_.end();) {
    Peer& peer = it->second;
    if (peer.state.status != NodeStatus::kLeft) {
      peer.left_since_ms = -1;
    } else if (peer.left_since_ms < 0) {
      peer.left_since_ms = now_ms;
    } else if (now_ms - peer.left_since_ms >= options_.forget_left_ms) {
      forgotten_[it->first] = peer.state.generation;
      ++stats_.forgotten;
      Unsettle();
      it = peers_.erase(it);
      continue;
    }
    ++it;
  }
}

bool Gossiper::Forgotten(const std::string& node_id, uint64_t generation) const {
  auto it = forgotten_.find(node_id);
  return it != forgotten_.end() && generation <= it->second;
}

void Gossiper::JudgePeers(int64_t now_ms) {
  const double threshold = detector_.options().phi_threshold;
  // A sampled heartbeat is listed in about max_digests / n of the SYNs.
  detector_.SetSampledInterval(HeartbeatsSampled()
                                   ? options_.interval_ms * static_cast<int64_t>(peers_.size() + 1) /
                                         static_cast<int64_t>(options_.max_digests)
                                   : 0);
  for (auto& [node_id, peer] : peers_) {
    if (peer.state.status == NodeStatus::kLeft) continue;
    peer.phi = detector_.Phi(node_id, now_ms);
    const double convict_above = peer.suspected_above > 0 ? threshold / 2 : threshold;
    const bool timed_out = HeartbeatsSampled() && peer.suspected_since_ms >= 0 &&
                           now_ms - peer.suspected_since_ms >= SuspicionTimeoutMs();
    if (peer.up && (peer.phi > convict_above || timed_out)) {
      ++stats_.convictions;
      if (peer.phi <= threshold) ++stats_.suspicion_convictions;
      MarkDown(&peer);
    }
  }
}

int64_t Gossiper::SuspicionTimeoutMs() const {
  const double rounds = 2 * std::ceil(std::log2(static_cast<double>(peers_.size() + 1)));
  return static_cast<int64_t>(rounds) * options_.interval_ms;
}

// Cassandra's Gossiper.GossipTask: a random live peer; a down node with
// probability down / (live + 1), so dead nodes are retried without flooding
// them; a seed when no live peer was a seed (or there are fewer live peers
// than seeds), always when nothing is live, else with probability
// seeds / (live + down), which keeps the membership from splitting. Beyond
// Cassandra: one of the nodes down on evidence less than kRecheckRounds
// old, so that a live one (the evidence was a lost connection, not a dead
// node) gets back in touch.
std::vector<std::string> Gossiper::ChooseTargets(int64_t now_ms) {
  std::vector<const std::string*> live;
  std::vector<const std::string*> down;
  std::vector<const std::string*> recheck;
  for (const auto& [node_id, peer] : peers_) {
    if (peer.state.status == NodeStatus::kLeft || peer.state.peer_address == self_.peer_address) continue;
    (peer.up ? live : down).push_back(&peer.state.peer_address);
    if (peer.awaiting_contact && now_ms - peer.evidence_ms < kRecheckRounds * options_.interval_ms) {
      recheck.push_back(&peer.state.peer_address);
    }
  }
  auto below = [this](size_t n) { return static_cast<size_t>(random_() % n); };
  auto uniform = [this] { return static_cast<double>(random_() >> 11) * 0x1.0p-53; };
  std::vector<std::string> targets;
  auto add = [&targets](const std::string& address) {
    if (std::find(targets.begin(), targets.end(), address) == targets.end()) targets.push_back(address);
  };
  bool gossiped_to_seed = false;
  if (!live.empty()) {
    const std::string& address = *live[below(live.size())];
    add(address);
    gossiped_to_seed = std::find(seeds_.begin(), seeds_.end(), address) != seeds_.end();
  }
  if (!down.empty() && uniform() < static_cast<double>(down.size()) / static_cast<double>(live.size() + 1)) {
    add(*down[below(down.size())]);
  }
  if (!recheck.empty()) add(*recheck[below(recheck.size())]);
  if (!seeds_.empty() && (!gossiped_to_seed || live.size() < seeds_.size())) {
    const double odds =
        live.empty() ? 1.0
                     : static_cast<double>(seeds_.size()) / static_cast<double>(live.size() + down.size());
    if (uniform() < odds) add(seeds_[below(seeds_.size())]);
  }
  return targets;
}

bool Gossiper::ListsAll() const {
  if (!HeartbeatsSampled() || stats_.rounds < unsettled_until_round_) return true;
  for (const auto& [node_id, peer] : peers_) {
    if (peer.state.status != NodeStatus::kLeft && peer.awaited_since_round >= 0 &&
        peer.awaited_since_round + kAwaitRounds > static_cast<int64_t>(stats_.rounds)) {
      return true;
    }
  }
  return false;
}

Syn Gossiper::MakeSyn() const {
  Syn syn;
  syn.cluster_name = options_.cluster_name;
  syn.digests.push_back(DigestOf(self_));
  if (ListsAll()) {
    syn.digests.reserve(peers_.size() + 1);
    for (const auto& [node_id, peer] : peers_) syn.digests.push_back(DigestOf(peer.state));
    return syn;
  }
  // A sample of the nodes whose heartbeats still matter, in three parts:
  // - those not up here (down, or never seen up), up to a quarter: listing
  //   them asks the receiver for a newer heartbeat, which brings them up;
  // - those whose newer heartbeats arrived here last, up to half: a push
  //   of fresh news, which spreads each heartbeat as an epidemic does;
  // - the rest at random.
  std::vector<const Peer*> wanted;
  std::vector<const Peer*> others;
  for (const auto& [node_id, peer] : peers_) {
    if (peer.state.status != NodeStatus::kLeft) (peer.up ? others : wanted).push_back(&peer);
  }
  const size_t budget = options_.max_digests - 1;
  SampleInto(&wanted, budget / 4, &syn);
  const size_t fresh = std::min(others.size(), budget / 2);
  std::nth_element(others.begin(), others.begin() + static_cast<std::ptrdiff_t>(fresh), others.end(),
                   [](const Peer* a, const Peer* b) { return a->heartbeat_ms > b->heartbeat_ms; });
  for (size_t i = 0; i < fresh; ++i) syn.digests.push_back(DigestOf(others[i]->state));
  others.erase(others.begin(), others.begin() + static_cast<std::ptrdiff_t>(fresh));
  SampleInto(&others, budget + 1 - syn.digests.size(), &syn);
  SampleInto(&wanted, budget + 1 - syn.digests.size(), &syn);
  syn.partial = true;
  syn.table_hash = TableHash();
  return syn;
}

// A partial SYN lists its receiver too: the node whose heartbeat the
// receiver is surest to have newer. (Sending it back unasked would break
// the rule a digest relies on: whoever holds version V of a node holds
// every field of it up to V.)
void Gossiper::ListTarget(OutgoingSyn* out) const {
  for (const auto& [node_id, peer] : peers_) {
    if (peer.state.peer_address != out->to) continue;
    for (const GossipDigest& digest : out->syn.digests) {
      if (digest.node_id == node_id) return;
    }
    out->syn.digests.push_back(DigestOf(peer.state));
    return;
  }
}

void Gossiper::SampleInto(std::vector<const Peer*>* pool, size_t count, Syn* syn) const {
  count = std::min(count, pool->size());
  for (size_t i = 0; i < count; ++i) {
    const size_t pick = static_cast<size_t>(random_() % pool->size());
    syn->digests.push_back(DigestOf((*pool)[pick]->state));
    (*pool)[pick] = pool->back();
    pool->pop_back();
  }
}

namespace {

// SplitMix64's finalizer (Steele, Lea, Flood 2014): spreads a sum of fields.
uint64_t Mix(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t EntryHash(const NodeState& state) {
  return Mix(KeyPosition(state.node_id) ^ Mix(state.generation ^ Mix(state.StateVersion())));
}

}  // namespace

uint64_t Gossiper::TableHash() const {
  uint64_t hash = EntryHash(self_);
  for (const auto& [node_id, peer] : peers_) hash += EntryHash(peer.state);
  return hash;
}

// ---- Local changes -------------------------------------------------------

void Gossiper::SetStatus(NodeStatus status) {
  self_.status = status;
  self_.status_version = NextVersion();
}

void Gossiper::SetTokens(std::vector<uint64_t> tokens) {
  self_.tokens = std::move(tokens);
  self_.tokens_version = NextVersion();
}

void Gossiper::SetMovement(uint64_t ring_version, uint64_t streamed_version) {
  if (self_.movement_version > 0 && self_.ring_version == ring_version &&
      self_.streamed_version == streamed_version) {
    return;
  }
  self_.ring_version = ring_version;
  self_.streamed_version = streamed_version;
  self_.movement_version = NextVersion();
}

std::vector<OutgoingLeave> Gossiper::Leave() {
  SetStatus(NodeStatus::kLeft);
  std::vector<OutgoingLeave> out;
  for (const auto& [node_id, peer] : peers_) {
    if (peer.up && peer.state.status != NodeStatus::kLeft) {
      out.push_back({peer.state.peer_address, LeaveNotice{self_}});
    }
  }
  return out;
}

Status Gossiper::RemoveNode(const std::string& node_id) {
  if (node_id == self_.node_id) return Status::InvalidArgument("cannot remove this node; make it leave");
  Peer* peer = FindPeer(node_id);
  if (peer == nullptr) return Status::InvalidArgument("unknown node '" + node_id + "'");
  if (peer->state.status == NodeStatus::kLeft || IsRemoval(peer->state)) return Status::Ok();
  if (peer->up) {
    return Status::InvalidArgument("node '" + node_id + "' is up; only a down node can be removed");
  }
  // A joining node never served: nothing of it needs to move.
  const bool served = peer->state.status != NodeStatus::kJoining;
  peer->state.status = served ? NodeStatus::kLeaving : NodeStatus::kLeft;
  peer->state.status_version = std::max(kRemovedVersion, peer->state.MaxVersion() + 1);
  Unsettle();
  Emit(EventKind::kChange, node_id);
  if (!served) MarkLeft(peer);
  DispatchEvents();
  return Status::Ok();
}

void Gossiper::FinishRemoval(const std::string& node_id) {
  Peer* peer = FindPeer(node_id);
  if (peer == nullptr || peer->state.status != NodeStatus::kLeaving || !IsRemoval(peer->state)) return;
  peer->state.status = NodeStatus::kLeft;
  ++peer->state.status_version;
  Unsettle();
  Emit(EventKind::kChange, node_id);
  MarkLeft(peer);
  DispatchEvents();
}

// ---- Views ---------------------------------------------------------------

const NodeState* Gossiper::Find(const std::string& node_id) const {
  if (node_id == self_.node_id) return &self_;
  auto it = peers_.find(node_id);
  return it == peers_.end() ? nullptr : &it->second.state;
}

bool Gossiper::IsUp(const std::string& node_id) const {
  if (node_id == self_.node_id) return true;
  auto it = peers_.find(node_id);
  return it != peers_.end() && it->second.up;
}

std::vector<Member> Gossiper::Members() const {
  std::vector<Member> members;
  members.reserve(peers_.size() + 1);
  members.push_back({self_, true, true, 0, 0, -1});
  for (const auto& [node_id, peer] : peers_) {
    members.push_back({peer.state, false, peer.up, peer.phi, detector_.MeanIntervalMs(node_id),
                       detector_.LastArrivalMs(node_id)});
  }
  return members;
}

GossipStats Gossiper::Stats() const {
  GossipStats stats = stats_;
  for (const auto& [node_id, peer] : peers_) {
    if (peer.state.status == NodeStatus::kLeft) {
      ++stats.peers_left;
    } else if (peer.up) {
      ++stats.peers_up;
    } else {
      ++stats.peers_down;
    }
  }
  return stats;
}

// ---- Events --------------------------------------------------------------

void Gossiper::AddListener(MembershipListener* listener) { listeners_.push_back(listener); }

void Gossiper::RemoveListener(MembershipListener* listener) {
  listeners_.erase(std::remove(listeners_.begin(), listeners_.end(), listener), listeners_.end());
}

void Gossiper::DispatchEvents() {
  const std::vector<Event> events = std::move(events_);
  events_.clear();
  for (const Event& event : events) {
    const NodeState* state = Find(event.node_id);
    for (MembershipListener* listener : listeners_) {
      switch (event.kind) {
        case EventKind::kJoin:
          if (state != nullptr) listener->OnJoin(*state);
          break;
        case EventKind::kChange:
          if (state != nullptr) listener->OnChange(*state);
          break;
        case EventKind::kRestart:
          if (state != nullptr) listener->OnRestart(*state);
          break;
        case EventKind::kUp:
          listener->OnUp(event.node_id);
          break;
        case EventKind::kDown:
          listener->OnDown(event.node_id);
          break;
        case EventKind::kLeave:
          listener->OnLeave(event.node_id);
          break;
      }
    }
  }
}

}  // namespace dynkv::gossip
