#include "node/membership.h"

#include <algorithm>
#include <utility>

#include "common/log.h"

namespace dynkv::node {

namespace pb = dynkv::client;

Result<std::unique_ptr<Membership>> Membership::Create(Env& env, MembershipOptions options,
                                                       PersistTokens persist_tokens) {
  const uint64_t seed = options.self.generation ^ std::hash<std::string>()(options.self.node_id);
  auto gossiper = gossip::Gossiper::Create(options.self, options.gossip, seed);
  if (!gossiper.ok()) return gossiper.status();
  std::unique_ptr<Membership> membership(
      new Membership(env, std::move(options), std::move(persist_tokens), std::move(*gossiper)));
  membership->gossiper_->AddListener(membership.get());
  Membership* self = membership.get();
  env.SetPeerUnreachable([self](const std::string& address) { self->OnPeerUnreachable(address); });
  return membership;
}

Membership::Membership(Env& env, MembershipOptions options, PersistTokens persist_tokens,
                       std::unique_ptr<gossip::Gossiper> gossiper)
    : env_(env),
      clock_(env.clock()),
      options_(std::move(options)),
      persist_tokens_(std::move(persist_tokens)),
      gossiper_(std::move(gossiper)) {}

Membership::~Membership() {
  Stop();
  env_.SetPeerUnreachable(nullptr);
  gossiper_->RemoveListener(this);
}

Status Membership::Start() {
  const int64_t interval = options_.gossip.interval_ms;
  auto timer = env_.StartTimer(interval, interval, [this] { Round(); });
  if (!timer.ok()) return timer.status().WithContext("cannot start the gossip timer");
  timer_ = std::move(*timer);
  return Status::Ok();
}

void Membership::Stop() { timer_.reset(); }

void Membership::Round() {
  ++rounds_;
  for (const gossip::OutgoingSyn& out : gossiper_->Tick(clock_.MonotonicMs())) SendSyn(out);
  MaybeTakeTokens();
  if (gossiper_->removed()) {
    DYNKV_LOG(kError) << "another node removed " << gossiper_->self().node_id
                      << " from the cluster; stopping (restart it to rejoin)";
    RequestStop();
  }
}

void Membership::SendSyn(const gossip::OutgoingSyn& out) {
  peer::PeerRequest request;
  gossip::ToProto(out.syn, request.mutable_gossip_syn());
  const std::string to = out.to;
  // A round trip slower than a few rounds is useless to gossip.
  const uint32_t timeout = static_cast<uint32_t>(std::max<int64_t>(options_.gossip.interval_ms * 5, 500));
  env_.CallPeer(
      to, std::move(request), timeout,
      [this, to](Result<peer::PeerResponse> response) {
        if (!response.ok() || !response->has_gossip_ack()) return;
        auto ack = gossip::FromProto(response->gossip_ack());
        if (!ack.ok()) {
          DYNKV_LOG(kWarn) << "ignoring a gossip ACK from " << to << ": " << ack.status().ToString();
          return;
        }
        std::optional<gossip::Ack2> ack2 = gossiper_->OnAck(to, *ack, clock_.MonotonicMs());
        if (!ack2) return;
        peer::PeerRequest reply;
        gossip::ToProto(*ack2, reply.mutable_gossip_ack2());
        env_.CallPeer(to, std::move(reply), 0, [](Result<peer::PeerResponse>) {});
      });
}

void Membership::Handle(const peer::PeerRequest& request, Reply reply) {
  const int64_t now = clock_.MonotonicMs();
  peer::PeerResponse response;
  switch (request.op_case()) {
    case peer::PeerRequest::kGossipSyn: {
      auto syn = gossip::FromProto(request.gossip_syn());
      if (!syn.ok()) return reply(net::PeerErrorResponse(syn.status()));
      auto ack = gossiper_->OnSyn(request.from_node(), *syn, now);
      if (!ack.ok()) {
        peer::PeerResponse wrong = net::PeerErrorResponse(ack.status());
        wrong.mutable_error()->set_code(peer::PEER_WRONG_CLUSTER);
        return reply(std::move(wrong));
      }
      gossip::ToProto(*ack, response.mutable_gossip_ack());
      return reply(std::move(response));
    }
    case peer::PeerRequest::kGossipAck2: {
      auto ack2 = gossip::FromProto(request.gossip_ack2());
      if (!ack2.ok()) return reply(net::PeerErrorResponse(ack2.status()));
      gossiper_->OnAck2(request.from_node(), *ack2, now);
      return reply(std::move(response));
    }
    case peer::PeerRequest::kLeave: {
      auto notice = gossip::FromProto(request.leave());
      if (!notice.ok()) return reply(net::PeerErrorResponse(notice.status()));
      Status status = gossiper_->OnLeaveNotice(request.from_node(), *notice, now);
      return reply(status.ok() ? std::move(response) : net::PeerErrorResponse(status));
    }
    default:
      return reply(net::PeerErrorResponse(Status::InvalidArgument("unknown peer operation")));
  }
}

// A new node listens for a few rounds, so that it learns the ring the
// cluster already has, then takes balanced tokens against it, makes them
// durable, and only then announces them and turns NORMAL. Nodes that start
// together take turns by node id: each allocates against the tokens of the
// ones before it instead of against the same empty ring.
void Membership::MaybeTakeTokens() {
  const gossip::NodeState& self = gossiper_->self();
  if (allocating_ || !self.tokens.empty() || leaving_) return;
  if (rounds_ < options_.join_delay_rounds) return;
  for (const gossip::Member& member : gossiper_->Members()) {
    const gossip::NodeState& other = member.state;
    if (!member.self && member.up && other.status == gossip::NodeStatus::kJoining && other.tokens.empty() &&
        other.node_id < self.node_id) {
      return;  // its turn first
    }
  }
  auto tokens = ring::AllocateTokens(*CurrentRing(), gossiper_->self().node_id, options_.vnodes);
  if (!tokens.ok()) {
    DYNKV_LOG(kError) << "cannot allocate tokens: " << tokens.status().ToString();
    return;
  }
  allocating_ = true;
  persist_tokens_(*tokens, [this, tokens = *tokens](Status status) {
    allocating_ = false;
    if (!status.ok()) {
      DYNKV_LOG(kError) << "cannot store this node's tokens (will retry): " << status.ToString();
      return;
    }
    gossiper_->SetTokens(tokens);
    gossiper_->SetStatus(gossip::NodeStatus::kNormal);
    RingChanged();
    DYNKV_LOG(kInfo) << gossiper_->self().node_id << " took " << tokens.size() << " tokens and is NORMAL";
  });
}

std::shared_ptr<const ring::Ring> Membership::CurrentRing() const {
  if (ring_stale_) RebuildRing();
  return ring_;
}

// The ring holds every node that owns tokens and has not left.
void Membership::RebuildRing() const {
  ring::TokenMap tokens;
  for (const gossip::Member& member : gossiper_->Members()) {
    const gossip::NodeState& state = member.state;
    if (state.status == gossip::NodeStatus::kLeft || state.tokens.empty()) continue;
    tokens[state.node_id] = state.tokens;
  }
  ring_ = std::make_shared<const ring::Ring>(tokens);
  ring_stale_ = false;
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
  std::vector<gossip::OutgoingLeave> notices = gossiper_->Leave();
  DYNKV_LOG(kInfo) << gossiper_->self().node_id << " leaves the cluster; telling " << notices.size() << " peers";
  if (notices.empty()) return RequestStop();
  auto remaining = std::make_shared<size_t>(notices.size());
  for (const gossip::OutgoingLeave& out : notices) {
    peer::PeerRequest request;
    gossip::ToProto(out.notice, request.mutable_leave());
    env_.CallPeer(out.to, std::move(request), options_.leave_timeout_ms,
                  [this, remaining](Result<peer::PeerResponse>) {
                    if (--*remaining == 0) RequestStop();
                  });
  }
}

Status Membership::RemoveNode(const std::string& node_id) {
  Status status = gossiper_->RemoveNode(node_id);
  if (status.ok()) DYNKV_LOG(kInfo) << "removed " << node_id << " from the cluster";
  return status;
}

void Membership::FillMembers(pb::MembersResponse* out) const {
  out->set_node_id(gossiper_->self().node_id);
  for (const gossip::Member& member : gossiper_->Members()) {
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
  out->set_node_id(gossiper_->self().node_id);
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

void Membership::FillStats(std::map<std::string, double>* values) const {
  const gossip::GossipStats g = gossiper_->Stats();
  auto& v = *values;
  v["gossip.rounds"] = static_cast<double>(g.rounds);
  v["gossip.peers_up"] = static_cast<double>(g.peers_up);
  v["gossip.peers_down"] = static_cast<double>(g.peers_down);
  v["gossip.peers_left"] = static_cast<double>(g.peers_left);
  v["gossip.syns_sent"] = static_cast<double>(g.syns_sent);
  v["gossip.syns_received"] = static_cast<double>(g.syns_received);
  v["gossip.states_applied"] = static_cast<double>(g.states_applied);
  v["gossip.convictions"] = static_cast<double>(g.convictions);
  v["gossip.evidence_reports"] = static_cast<double>(g.evidence_reports);
  for (const gossip::Member& member : gossiper_->Members()) {
    if (member.self) continue;
    v["failure_detector.phi." + member.state.node_id] = member.phi;
  }
  v["ring.tokens"] = static_cast<double>(CurrentRing()->token_count());
  v["node.ready"] = Ready() ? 1 : 0;
}

std::string Membership::PeerAddress(const std::string& node_id) const {
  const gossip::NodeState* state = gossiper_->Find(node_id);
  return state == nullptr ? std::string() : state->peer_address;
}

// Refused or reset connections are direct evidence (DESIGN.md: Gossip and
// failure detection); call timeouts are not reported by the env, so a
// paused node is judged by phi alone.
void Membership::OnPeerUnreachable(const std::string& address) {
  gossiper_->OnPeerUnreachable(address, clock_.MonotonicMs());
}

void Membership::OnJoin(const gossip::NodeState& state) {
  DYNKV_LOG(kInfo) << "node " << state.node_id << " joined (" << gossip::StatusName(state.status) << ", "
                   << state.peer_address << ")";
  RingChanged();
}

void Membership::OnChange(const gossip::NodeState& state) {
  DYNKV_LOG(kInfo) << "node " << state.node_id << " is " << gossip::StatusName(state.status) << " with "
                   << state.tokens.size() << " tokens";
  RingChanged();
}

void Membership::OnRestart(const gossip::NodeState& state) {
  DYNKV_LOG(kInfo) << "node " << state.node_id << " restarted (generation " << state.generation << ")";
  RingChanged();
}

void Membership::OnUp(const std::string& node_id) { DYNKV_LOG(kInfo) << "node " << node_id << " is up"; }

void Membership::OnDown(const std::string& node_id) { DYNKV_LOG(kWarn) << "node " << node_id << " is down"; }

void Membership::OnLeave(const std::string& node_id) {
  DYNKV_LOG(kInfo) << "node " << node_id << " left the cluster";
  if (const gossip::NodeState* state = gossiper_->Find(node_id)) env_.ForgetPeer(state->peer_address);
  RingChanged();
}

}  // namespace dynkv::node
