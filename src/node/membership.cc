#include "node/membership.h"

#include <algorithm>
#include <utility>

#include "common/key_hash.h"
#include "common/log.h"

namespace dynkv::node {

namespace pb = dynkv::client;

Result<std::unique_ptr<Membership>> Membership::Create(Env& env, MembershipOptions options,
                                                       PersistTokens persist_tokens,
                                                       PersistMovement persist_movement) {
  auto driver = gossip::GossipDriver::Create(env, options.driver);
  if (!driver.ok()) return driver.status();
  return std::unique_ptr<Membership>(new Membership(std::move(options), std::move(*driver),
                                                    std::move(persist_tokens), std::move(persist_movement)));
}

Membership::Membership(MembershipOptions options, std::unique_ptr<gossip::GossipDriver> driver,
                       PersistTokens persist_tokens, PersistMovement persist_movement)
    : options_(std::move(options)), driver_(std::move(driver)), persist_movement_(std::move(persist_movement)) {
  tracker_ = std::make_unique<gossip::RingTracker>(*driver_, options_.ring, std::move(persist_tokens));
  if (options_.driver.self.status == gossip::NodeStatus::kLeaving) {
    // Restarted in the middle of its leave: it goes on with it.
    leave_requested_ = leaving_ = true;
    tracker_->StopJoining();
  }
  // The tracker takes tokens after each round; then the membership looks
  // whether another node removed this one.
  driver_->SetOnRound([this] { AfterRound(); });
}

Membership::~Membership() { tracker_.reset(); }

void Membership::AfterRound() {
  tracker_->OnRound();
  MaybeStartLeaving();
  if (!options_.moves_data) {
    OnStreamed();  // nothing to stream
    if (leaving_ && gossiper().self().status == gossip::NodeStatus::kLeaving) FinishLeave();
    if (tracker_->CurrentPlacement()->still()) return;
    for (const gossip::Member& member : gossiper().Members()) {
      if (!member.self && gossip::IsRemoval(member.state) && member.state.status == gossip::NodeStatus::kLeaving) {
        FinishRemoval(member.state.node_id);
      }
    }
  }
  if (driver_->gossiper().removed()) {
    DYNKV_LOG(kError) << "another node removed " << driver_->gossiper().self().node_id
                      << " from the cluster; stopping (restart it to rejoin)";
    RequestStop();
  }
}

void Membership::RequestStop() {
  if (stop_requested_) return;
  stop_requested_ = true;
  Stop();
  if (on_stop_) on_stop_();
}

void Membership::SetOwnStatus(gossip::NodeStatus status) {
  driver_->gossiper().SetStatus(status);
  tracker_->Invalidate();
}

void Membership::Leave() {
  if (leave_requested_) return;
  leave_requested_ = true;
  tracker_->StopJoining();
  const gossip::NodeState& self = gossiper().self();
  if (self.tokens.empty() || self.status == gossip::NodeStatus::kJoining ||
      self.status == gossip::NodeStatus::kReplacing) {
    // Nobody reads from it yet: there is nothing to hand over.
    leaving_ = true;
    return FinishLeave();
  }
  MaybeStartLeaving();
}

// One change at a time: the leave starts once the ring is still.
void Membership::MaybeStartLeaving() {
  if (!leave_requested_ || leaving_) return;
  const std::shared_ptr<const ring::Placement> placement = tracker_->CurrentPlacement();
  if (!placement->still()) {
    if (!said_waiting_) DYNKV_LOG(kInfo) << "the leave waits for the ring change in progress to finish";
    said_waiting_ = true;
    return;
  }
  leaving_ = true;
  std::weak_ptr<int> alive = lifetime_;
  persist_movement_("leave", [this, alive](Status status) {
    if (alive.expired()) return;
    if (!status.ok()) {
      DYNKV_LOG(kError) << "cannot record the leave (will retry): " << status.ToString();
      leaving_ = false;
      return;
    }
    SetOwnStatus(gossip::NodeStatus::kLeaving);
    DYNKV_LOG(kInfo) << gossiper().self().node_id << " is LEAVING: its ranges move to their new owners";
  });
}

void Membership::OnStreamed() {
  const gossip::NodeState& self = gossiper().self();
  const bool joined = self.status == gossip::NodeStatus::kJoining && !self.tokens.empty();
  if (finishing_join_ || (!joined && self.status != gossip::NodeStatus::kReplacing)) return;
  finishing_join_ = true;
  std::weak_ptr<int> alive = lifetime_;
  persist_movement_("", [this, alive](Status status) {
    if (alive.expired()) return;
    finishing_join_ = false;
    if (!status.ok()) {
      DYNKV_LOG(kError) << "cannot record the end of the join (will retry): " << status.ToString();
      return;
    }
    const gossip::NodeStatus now = gossiper().self().status;
    if (now != gossip::NodeStatus::kJoining && now != gossip::NodeStatus::kReplacing) return;
    SetOwnStatus(gossip::NodeStatus::kNormal);
    DYNKV_LOG(kInfo) << gossiper().self().node_id << " has its ranges and is NORMAL";
  });
}

void Membership::FinishLeave() {
  auto go = [this] { driver_->Leave([this] { RequestStop(); }); };
  if (!before_leave_) return go();
  std::weak_ptr<int> alive = lifetime_;
  before_leave_([this, alive, go] {
    if (!alive.expired()) go();
  });
}

void Membership::FinishRemoval(const std::string& node_id) {
  driver_->gossiper().FinishRemoval(node_id);
}

Status Membership::RemoveNode(const std::string& node_id) {
  Status status = driver_->gossiper().RemoveNode(node_id);
  if (status.ok()) {
    DYNKV_LOG(kInfo) << "removing " << node_id << ": its ranges move to their new owners, then it is LEFT";
  }
  return status;
}

bool Membership::IsUp(const std::string& node_id) const {
  if (!gossiper().IsUp(node_id)) return false;
  const gossip::NodeState* state = gossiper().Find(node_id);
  return state == nullptr || state->status != gossip::NodeStatus::kReplacing;
}

std::vector<std::string> Membership::Owners(uint64_t position) const {
  const std::shared_ptr<const ring::Placement> placement = tracker_->CurrentPlacement();
  const ring::Ring& current = placement->current();
  std::vector<std::string> owners;
  if (!current.empty()) {
    for (const ring::Replica& r : current.PreferenceList(position, std::min(placement->n(), current.nodes().size())))
      owners.push_back(r.node_id);
  }
  for (std::string& id : placement->Pending(position)) {
    if (std::find(owners.begin(), owners.end(), id) == owners.end()) owners.push_back(std::move(id));
  }
  return owners;
}

std::vector<std::string> Membership::PendingReplicas(uint64_t position) const {
  std::vector<std::string> pending = tracker_->CurrentPlacement()->Pending(position);
  std::erase_if(pending, [this](const std::string& id) { return !gossiper().IsUp(id); });
  return pending;
}

void Membership::FillMembers(pb::MembersResponse* out) const {
  out->set_node_id(gossiper().self().node_id);
  for (const gossip::Member& member : gossiper().Members()) {
    const gossip::NodeState& state = member.state;
    pb::Member* m = out->add_members();
    m->set_node_id(state.node_id);
    const bool replacing = state.status == gossip::NodeStatus::kReplacing;
    m->set_status(replacing ? "joining" : std::string(gossip::StatusName(state.status)));
    m->set_replacing(replacing);
    m->set_up(member.up);
    m->set_generation(state.generation);
    m->set_client_address(state.client_address);
    m->set_peer_address(state.peer_address);
    m->set_phi(member.phi);
    m->set_tokens(static_cast<uint32_t>(state.tokens.size()));
    m->set_datacenter(state.datacenter);
    m->set_rack(state.rack);
    m->set_self(member.self);
  }
}

void Membership::FillRing(pb::RingResponse* out) const {
  out->set_node_id(gossiper().self().node_id);
  const std::shared_ptr<const ring::Ring> ring = CurrentRing();
  const size_t n = ring->ReplicaCount(options_.replication_n);
  out->set_n(static_cast<uint32_t>(n));
  out->mutable_datacenters()->insert(options_.ring.datacenters.begin(), options_.ring.datacenters.end());
  for (const std::string& node_id : tracker_->replication_differs()) out->add_replication_differs(node_id);
  const std::map<std::string, double> shares = ring::Shares(*ring);
  const std::map<std::string, double> replicated = ring::ReplicatedShares(*ring, std::max<size_t>(n, 1));
  for (const auto& [node_id, share] : shares) {
    pb::RingShare* s = out->add_shares();
    s->set_node_id(node_id);
    const std::vector<uint64_t> tokens = ring->TokensOf(node_id);
    s->set_tokens(static_cast<uint32_t>(tokens.size()));
    for (uint64_t token : tokens) s->add_positions(token);
    if (const gossip::NodeState* state = gossiper().Find(node_id)) s->set_client_address(state->client_address);
    s->set_datacenter(ring->LocationOf(node_id).datacenter);
    s->set_rack(ring->LocationOf(node_id).rack);
    s->set_share(share);
    auto it = replicated.find(node_id);
    s->set_replica_share(it == replicated.end() ? 0 : it->second);
  }
}

// The primaries (up or down), then the fallbacks of the sloppy list.
void Membership::FillPreflist(const std::string& key, pb::PreflistResponse* out) const {
  out->set_node_id(gossiper().self().node_id);
  out->set_key(key);
  const uint64_t position = KeyPosition(key);
  out->set_position(position);
  const std::shared_ptr<const ring::Ring> ring = CurrentRing();
  auto is_up = [this](const std::string& id) { return IsUp(id); };
  const size_t n = options_.replication_n;
  std::vector<ring::Replica> list = ring->PreferenceList(position, n, is_up, ring::Quorum::kStrict);
  for (const ring::Replica& r : ring->PreferenceList(position, n, is_up, ring::Quorum::kSloppy)) {
    if (r.fallback) list.push_back(r);
  }
  for (const ring::Replica& r : list) {
    pb::PreflistReplica* replica = out->add_replicas();
    replica->set_node_id(r.node_id);
    replica->set_datacenter(ring->LocationOf(r.node_id).datacenter);
    replica->set_rack(ring->LocationOf(r.node_id).rack);
    replica->set_role(r.fallback ? "fallback" : "primary");
    replica->set_up(r.up);
    replica->set_hint_for(r.hint_for);
  }
}

double Membership::SelfReplicaShare() const {
  const std::shared_ptr<const ring::Ring> ring = CurrentRing();
  const size_t n = ring->ReplicaCount(options_.replication_n);
  const std::map<std::string, double> replicated = ring::ReplicatedShares(*ring, std::max<size_t>(n, 1));
  auto it = replicated.find(gossiper().self().node_id);
  return it == replicated.end() ? 0 : it->second;
}

void Membership::FillTransfers(pb::TransfersResponse* out) const {
  if (transfers_ != nullptr) transfers_->FillTransfers(out);
  out->set_node_id(gossiper().self().node_id);
  const gossip::NodeStatus status = gossiper().self().status;
  out->set_status(status == gossip::NodeStatus::kReplacing ? "joining" : std::string(gossip::StatusName(status)));
}

void Membership::FillStats(std::map<std::string, double>* values) const {
  driver_->FillStats(values);
  (*values)["ring.tokens"] = static_cast<double>(CurrentRing()->token_count());
  (*values)["ring.replication_differs"] = static_cast<double>(tracker_->replication_differs().size());
  (*values)["node.ready"] = Ready() ? 1 : 0;
}

std::string Membership::PeerAddress(const std::string& node_id) const {
  const gossip::NodeState* state = gossiper().Find(node_id);
  return state == nullptr ? std::string() : state->peer_address;
}

}  // namespace dynkv::node
