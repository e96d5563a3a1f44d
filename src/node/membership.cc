#include "node/membership.h"

#include <algorithm>
#include <utility>

#include "common/log.h"

namespace dynkv::node {

namespace pb = dynkv::client;

Result<std::unique_ptr<Membership>> Membership::Create(Env& env, MembershipOptions options,
                                                       PersistTokens persist_tokens) {
  auto driver = gossip::GossipDriver::Create(env, options.driver);
  if (!driver.ok()) return driver.status();
  return std::unique_ptr<Membership>(new Membership(std::move(options), std::move(*driver), std::move(persist_tokens)));
}

Membership::Membership(MembershipOptions options, std::unique_ptr<gossip::GossipDriver> driver,
                       PersistTokens persist_tokens)
    : options_(std::move(options)), driver_(std::move(driver)) {
  tracker_ = std::make_unique<gossip::RingTracker>(*driver_, options_.ring, std::move(persist_tokens));
  // The tracker takes tokens after each round; then the membership looks
  // whether another node removed this one.
  driver_->SetOnRound([this] { AfterRound(); });
}

Membership::~Membership() { tracker_.reset(); }

void Membership::AfterRound() {
  tracker_->OnRound();
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

void Membership::Leave() {
  if (leaving_) return;
  leaving_ = true;
  tracker_->StopJoining();
  driver_->Leave([this] { RequestStop(); });
}

Status Membership::RemoveNode(const std::string& node_id) {
  Status status = driver_->gossiper().RemoveNode(node_id);
  if (status.ok()) DYNKV_LOG(kInfo) << "removed " << node_id << " from the cluster";
  return status;
}

void Membership::FillMembers(pb::MembersResponse* out) const {
  out->set_node_id(gossiper().self().node_id);
  for (const gossip::Member& member : gossiper().Members()) {
    const gossip::NodeState& state = member.state;
    pb::Member* m = out->add_members();
    m->set_node_id(state.node_id);
    m->set_status(std::string(gossip::StatusName(state.status)));
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
  const size_t n = std::min<size_t>(options_.replication_n, ring->nodes().size());
  out->set_n(static_cast<uint32_t>(n));
  const std::map<std::string, double> shares = ring::Shares(*ring);
  const std::map<std::string, double> replicated = ring::ReplicatedShares(*ring, std::max<size_t>(n, 1));
  for (const auto& [node_id, share] : shares) {
    pb::RingShare* s = out->add_shares();
    s->set_node_id(node_id);
    s->set_tokens(static_cast<uint32_t>(ring->TokensOf(node_id).size()));
    s->set_share(share);
    auto it = replicated.find(node_id);
    s->set_replica_share(it == replicated.end() ? 0 : it->second);
  }
}

void Membership::FillTransfers(pb::TransfersResponse* out) const {
  out->set_node_id(gossiper().self().node_id);
  out->set_status(std::string(gossip::StatusName(gossiper().self().status)));
}

void Membership::FillStats(std::map<std::string, double>* values) const {
  driver_->FillStats(values);
  (*values)["ring.tokens"] = static_cast<double>(CurrentRing()->token_count());
  (*values)["node.ready"] = Ready() ? 1 : 0;
}

std::string Membership::PeerAddress(const std::string& node_id) const {
  const gossip::NodeState* state = gossiper().Find(node_id);
  return state == nullptr ? std::string() : state->peer_address;
}

}  // namespace dynkv::node
