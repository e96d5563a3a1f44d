#include "gossip/gossip_driver.h"

#include <algorithm>
#include <utility>

#include "common/log.h"
#include "net/peer_transport.h"
#include "peer.pb.h"

namespace dynkv::gossip {

Result<std::unique_ptr<GossipDriver>> GossipDriver::Create(Env& env, DriverOptions options) {
  const uint64_t seed = options.self.generation ^ std::hash<std::string>()(options.self.node_id);
  auto gossiper = Gossiper::Create(options.self, options.gossip, seed);
  if (!gossiper.ok()) return gossiper.status();
  std::unique_ptr<GossipDriver> driver(new GossipDriver(env, std::move(options), std::move(*gossiper)));
  driver->gossiper_->AddListener(driver.get());
  GossipDriver* self = driver.get();
  env.SetPeerUnreachable([self](const std::string& address) {
    self->gossiper_->OnPeerUnreachable(address, self->clock_.MonotonicMs());
  });
  return driver;
}

GossipDriver::GossipDriver(Env& env, DriverOptions options, std::unique_ptr<Gossiper> gossiper)
    : env_(env), clock_(env.clock()), options_(std::move(options)), gossiper_(std::move(gossiper)) {}

GossipDriver::~GossipDriver() {
  Stop();
  env_.SetPeerUnreachable(nullptr);
  gossiper_->RemoveListener(this);
}

Status GossipDriver::Start() {
  const int64_t interval = options_.gossip.interval_ms;
  auto timer = env_.StartTimer(interval, interval, [this] { Round(); });
  if (!timer.ok()) return timer.status().WithContext("cannot start the gossip timer");
  timer_ = std::move(*timer);
  return Status::Ok();
}

void GossipDriver::Stop() { timer_.reset(); }

void GossipDriver::Round() {
  ++rounds_;
  for (const OutgoingSyn& out : gossiper_->Tick(clock_.MonotonicMs())) SendSyn(out);
  if (on_round_) on_round_();
}

void GossipDriver::SendSyn(const OutgoingSyn& out) {
  peer::PeerRequest request;
  ToProto(out.syn, request.mutable_gossip_syn());
  const std::string to = out.to;
  // A round trip slower than a few rounds is useless to gossip.
  const auto timeout = static_cast<uint32_t>(std::max<int64_t>(options_.gossip.interval_ms * 5, 500));
  env_.CallPeer(to, std::move(request), timeout, [this, to](Result<peer::PeerResponse> response) {
    if (!response.ok() || !response->has_gossip_ack()) return;
    auto ack = FromProto(response->gossip_ack());
    if (!ack.ok()) {
      DYNKV_LOG(kWarn) << "ignoring a gossip ACK from " << to << ": " << ack.status().ToString();
      return;
    }
    std::optional<Ack2> ack2 = gossiper_->OnAck(to, *ack, clock_.MonotonicMs());
    if (!ack2) return;
    peer::PeerRequest reply;
    ToProto(*ack2, reply.mutable_gossip_ack2());
    env_.CallPeer(to, std::move(reply), 0, [](Result<peer::PeerResponse>) {});
  });
}

bool GossipDriver::Handle(const peer::PeerRequest& request, Reply& reply) {
  switch (request.op_case()) {
    case peer::PeerRequest::kGossipSyn:
    case peer::PeerRequest::kGossipAck2:
    case peer::PeerRequest::kLeave:
      reply(Answer(request));
      return true;
    default:
      return false;
  }
}

// Gossip is answered at once: the gossiper's table is in memory.
peer::PeerResponse GossipDriver::Answer(const peer::PeerRequest& request) {
  const int64_t now = clock_.MonotonicMs();
  peer::PeerResponse response;
  if (request.has_gossip_syn()) {
    auto syn = FromProto(request.gossip_syn());
    if (!syn.ok()) return net::PeerErrorResponse(syn.status());
    auto ack = gossiper_->OnSyn(request.from_node(), *syn, now);
    if (!ack.ok()) {
      peer::PeerResponse wrong = net::PeerErrorResponse(ack.status());
      wrong.mutable_error()->set_code(peer::PEER_WRONG_CLUSTER);
      return wrong;
    }
    ToProto(*ack, response.mutable_gossip_ack());
  } else if (request.has_gossip_ack2()) {
    auto ack2 = FromProto(request.gossip_ack2());
    if (!ack2.ok()) return net::PeerErrorResponse(ack2.status());
    gossiper_->OnAck2(request.from_node(), *ack2, now);
  } else {
    auto notice = FromProto(request.leave());
    if (!notice.ok()) return net::PeerErrorResponse(notice.status());
    Status status = gossiper_->OnLeaveNotice(request.from_node(), *notice, now);
    if (!status.ok()) return net::PeerErrorResponse(status);
  }
  return response;
}

void GossipDriver::Leave(std::function<void()> done) {
  std::vector<OutgoingLeave> notices = gossiper_->Leave();
  DYNKV_LOG(kInfo) << gossiper_->self().node_id << " leaves the cluster; telling " << notices.size()
                   << " peers";
  if (notices.empty()) return done();
  auto remaining = std::make_shared<size_t>(notices.size());
  auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
  for (const OutgoingLeave& out : notices) {
    peer::PeerRequest request;
    ToProto(out.notice, request.mutable_leave());
    env_.CallPeer(out.to, std::move(request), options_.leave_timeout_ms,
                  [remaining, shared_done](Result<peer::PeerResponse>) {
                    if (--*remaining == 0) (*shared_done)();
                  });
  }
}

void GossipDriver::FillStats(std::map<std::string, double>* values) const {
  const GossipStats g = gossiper_->Stats();
  auto& v = *values;
  v["gossip.rounds"] = static_cast<double>(g.rounds);
  v["gossip.peers_up"] = static_cast<double>(g.peers_up);
  v["gossip.peers_down"] = static_cast<double>(g.peers_down);
  v["gossip.peers_left"] = static_cast<double>(g.peers_left);
  v["gossip.syns_sent"] = static_cast<double>(g.syns_sent);
  v["gossip.syns_received"] = static_cast<double>(g.syns_received);
  v["gossip.states_applied"] = static_cast<double>(g.states_applied);
  v["gossip.convictions"] = static_cast<double>(g.convictions);
  v["gossip.suspicion_convictions"] = static_cast<double>(g.suspicion_convictions);
  v["gossip.forgotten"] = static_cast<double>(g.forgotten);
  v["gossip.states_ignored"] = static_cast<double>(g.states_ignored);
  v["gossip.evidence_reports"] = static_cast<double>(g.evidence_reports);
  v["gossip.partial_syns_sent"] = static_cast<double>(g.partial_syns_sent);
  v["gossip.tables_differed"] = static_cast<double>(g.tables_differed);
  v["gossip.refutations"] = static_cast<double>(g.refutations);
  for (const Member& member : gossiper_->Members()) {
    if (member.self) continue;
    v["failure_detector.phi." + member.state.node_id] = member.phi;
  }
}

void GossipDriver::OnJoin(const NodeState& state) {
  DYNKV_LOG(kInfo) << "node " << state.node_id << " joined (" << StatusName(state.status) << ", "
                   << state.peer_address << ")";
}

void GossipDriver::OnChange(const NodeState& state) {
  DYNKV_LOG(kInfo) << "node " << state.node_id << " is " << StatusName(state.status) << " with "
                   << state.tokens.size() << " tokens";
}

void GossipDriver::OnRestart(const NodeState& state) {
  DYNKV_LOG(kInfo) << "node " << state.node_id << " restarted (generation " << state.generation << ")";
}

void GossipDriver::OnUp(const std::string& node_id) { DYNKV_LOG(kInfo) << "node " << node_id << " is up"; }

void GossipDriver::OnDown(const std::string& node_id) {
  DYNKV_LOG(kWarn) << "node " << node_id << " is down";
}

void GossipDriver::OnLeave(const std::string& node_id) {
  DYNKV_LOG(kInfo) << "node " << node_id << " left the cluster";
  if (const NodeState* state = gossiper_->Find(node_id)) env_.ForgetPeer(state->peer_address);
}

}  // namespace dynkv::gossip
