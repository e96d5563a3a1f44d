#include "gossip_cluster.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>

namespace dynkv::sim {

using gossip::Gossiper;
using gossip::NodeState;
using gossip::NodeStatus;

class GossipCluster::Recorder : public gossip::MembershipListener {
 public:
  Recorder(const SimLoop* loop, std::vector<ObservedEvent>* events) : loop_(loop), events_(events) {}
  void OnJoin(const NodeState& state) override { Add("join", state.node_id); }
  void OnChange(const NodeState& state) override { Add("change", state.node_id); }
  void OnRestart(const NodeState& state) override { Add("restart", state.node_id); }
  void OnUp(const std::string& node_id) override { Add("up", node_id); }
  void OnDown(const std::string& node_id) override { Add("down", node_id); }
  void OnLeave(const std::string& node_id) override { Add("leave", node_id); }

 private:
  void Add(const char* kind, const std::string& node_id) {
    events_->push_back({loop_->now(), kind, node_id});
  }
  const SimLoop* loop_;
  std::vector<ObservedEvent>* events_;
};

struct GossipCluster::Node {
  std::string id;
  std::string address;
  uint64_t generation = 0;
  uint64_t incarnation = 0;  // changes at every start and stop; stale callbacks check it
  bool running = false;
  int rounds = 0;  // of this incarnation
  std::unique_ptr<Gossiper> gossiper;
  std::vector<ObservedEvent> events;
  std::unique_ptr<Recorder> recorder;
};

namespace {

std::string NodeName(size_t i) {
  char name[32];
  std::snprintf(name, sizeof(name), "n%03zu", i);
  return name;
}

}  // namespace

GossipCluster::GossipCluster(uint64_t seed, GossipClusterOptions options)
    : options_(std::move(options)), network_(&loop_, seed ^ 0x6e6574, options_.link), random_(seed) {
  for (size_t i = 0; i < options_.seed_count; ++i) seeds_.push_back(NodeName(i) + ".sim:7000");
}

GossipCluster::~GossipCluster() = default;

void GossipCluster::AddNodes(size_t count) {
  for (size_t k = 0; k < count; ++k) {
    auto node = std::make_unique<Node>();
    node->id = NodeName(nodes_.size());
    node->address = node->id + ".sim:7000";
    node->recorder = std::make_unique<Recorder>(&loop_, &node->events);
    nodes_.push_back(std::move(node));
    Start(nodes_.size() - 1);
  }
}

void GossipCluster::Start(size_t i) {
  Node& node = *nodes_[i];
  node.generation = std::max<uint64_t>(static_cast<uint64_t>(loop_.now()), node.generation + 1);
  ++node.incarnation;
  node.running = true;
  node.rounds = 0;
  network_.Restore(node.address);
  gossip::LocalNode local;
  local.node_id = node.id;
  local.generation = node.generation;
  local.client_address = node.id + ".sim:6000";
  local.peer_address = node.address;
  local.datacenter = "dc1";
  local.rack = "rack" + std::to_string(i % 3);
  local.status = NodeStatus::kJoining;
  gossip::GossipOptions gossip_options = options_.gossip;
  gossip_options.seeds = seeds_;
  auto gossiper = Gossiper::Create(std::move(local), std::move(gossip_options), random_.Next());
  REQUIRE(gossiper.ok());
  node.gossiper = std::move(gossiper).value();
  node.gossiper->AddListener(node.recorder.get());
  ScheduleTick(i, node.incarnation, loop_.now() + static_cast<int64_t>(random_.Below(interval_ms())));
}

void GossipCluster::Kill(size_t i) {
  Node& node = *nodes_[i];
  node.running = false;
  ++node.incarnation;
  network_.Crash(node.address);
}

void GossipCluster::Leave(size_t i) {
  Node& node = *nodes_[i];
  for (gossip::OutgoingLeave& out : node.gossiper->Leave()) SendLeave(i, std::move(out));
  node.running = false;
  const uint64_t incarnation = ++node.incarnation;
  // The process exits once its notices are out (the longest delay is shorter than a round).
  loop_.After(interval_ms(), [this, i, incarnation] {
    if (nodes_[i]->incarnation == incarnation) network_.Crash(nodes_[i]->address);
  });
}

void GossipCluster::ScheduleTick(size_t i, uint64_t incarnation, int64_t at) {
  loop_.At(at, [this, i, incarnation] { Tick(i, incarnation); });
}

void GossipCluster::Tick(size_t i, uint64_t incarnation) {
  if (!Alive(i, incarnation)) return;
  Node& node = *nodes_[i];
  if (++node.rounds == 3) {
    std::vector<uint64_t> tokens(options_.tokens_per_node);
    for (uint64_t& token : tokens) token = random_.Next();
    std::sort(tokens.begin(), tokens.end());
    node.gossiper->SetTokens(std::move(tokens));
    node.gossiper->SetStatus(NodeStatus::kNormal);
  }
  for (gossip::OutgoingSyn& out : node.gossiper->Tick(loop_.now())) SendSyn(i, incarnation, std::move(out));
  ScheduleTick(i, incarnation, loop_.now() + interval_ms());
}

// SYN from i to out.to; its ACK back to i; i's ACK2 to the responder. A
// reply goes back on the same connection, so it is dropped if either end
// restarted meanwhile; a refused message is evidence for its sender.
void GossipCluster::SendSyn(size_t i, uint64_t incarnation, gossip::OutgoingSyn out) {
  const std::string from = nodes_[i]->address;
  const std::string from_id = nodes_[i]->id;
  const std::string to = out.to;
  auto refused = [this, i, incarnation, to] {
    if (Alive(i, incarnation)) nodes_[i]->gossiper->OnPeerUnreachable(to, loop_.now());
  };
  auto deliver_syn = [this, i, incarnation, from, from_id, to, syn = std::move(out.syn), refused] {
    Node* target = NodeAt(to);
    if (target == nullptr) return;
    Result<gossip::Ack> ack = target->gossiper->OnSyn(from_id, syn, loop_.now());
    if (!ack.ok()) return;
    const size_t j = static_cast<size_t>(
        std::find_if(nodes_.begin(), nodes_.end(), [target](const auto& n) { return n.get() == target; }) -
        nodes_.begin());
    const uint64_t target_incarnation = target->incarnation;
    auto deliver_ack = [this, i, incarnation, j, target_incarnation, from, from_id, to,
                        ack = std::move(ack).value(), refused] {
      if (!Alive(i, incarnation)) return;
      std::optional<gossip::Ack2> ack2 = nodes_[i]->gossiper->OnAck(to, ack, loop_.now());
      if (!ack2) return;
      network_.Send(
          from, to,
          [this, j, target_incarnation, from_id, ack2 = std::move(*ack2)] {
            if (Alive(j, target_incarnation)) nodes_[j]->gossiper->OnAck2(from_id, ack2, loop_.now());
          },
          refused);
    };
    network_.Send(to, from, std::move(deliver_ack));
  };
  network_.Send(from, to, std::move(deliver_syn), refused);
}

void GossipCluster::SendLeave(size_t i, gossip::OutgoingLeave out) {
  const std::string from_id = nodes_[i]->id;
  network_.Send(nodes_[i]->address, out.to, [this, from_id, to = out.to, notice = std::move(out.notice)] {
    if (Node* target = NodeAt(to)) CHECK(target->gossiper->OnLeaveNotice(from_id, notice, loop_.now()).ok());
  });
}

GossipCluster::Node* GossipCluster::NodeAt(const std::string& address) {
  for (auto& node : nodes_) {
    if (node->running && node->address == address) return node.get();
  }
  return nullptr;
}

bool GossipCluster::Alive(size_t i, uint64_t incarnation) const {
  return nodes_[i]->running && nodes_[i]->incarnation == incarnation;
}

void GossipCluster::RunRounds(int rounds) { loop_.RunFor(rounds * interval_ms()); }

int GossipCluster::RunUntil(int max_rounds, const std::function<bool()>& done) {
  for (int round = 1; round <= max_rounds; ++round) {
    RunRounds(1);
    if (done()) return round;
  }
  return -1;
}

bool GossipCluster::Converged() const {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!running(i)) continue;
    for (size_t j = 0; j < nodes_.size(); ++j) {
      if (i == j || !running(j)) continue;
      const NodeState* state = nodes_[i]->gossiper->Find(id(j));
      if (state == nullptr || state->generation != nodes_[j]->generation ||
          state->status != NodeStatus::kNormal || !nodes_[i]->gossiper->IsUp(id(j))) {
        return false;
      }
    }
  }
  return true;
}

bool GossipCluster::AllSeeUp(size_t i, bool up) const {
  for (size_t j = 0; j < nodes_.size(); ++j) {
    if (j == i || !running(j)) continue;
    if (nodes_[j]->gossiper->Find(id(i)) == nullptr || nodes_[j]->gossiper->IsUp(id(i)) != up) return false;
  }
  return true;
}

bool GossipCluster::AllSeeStatus(size_t i, NodeStatus status) const {
  for (size_t j = 0; j < nodes_.size(); ++j) {
    if (j == i || !running(j)) continue;
    const NodeState* state = nodes_[j]->gossiper->Find(id(i));
    if (state == nullptr || state->status != status) return false;
  }
  return true;
}

bool GossipCluster::running(size_t i) const { return nodes_[i]->running; }
Gossiper& GossipCluster::node(size_t i) { return *nodes_[i]->gossiper; }
const std::string& GossipCluster::id(size_t i) const { return nodes_[i]->id; }
const std::string& GossipCluster::address(size_t i) const { return nodes_[i]->address; }
uint64_t GossipCluster::generation(size_t i) const { return nodes_[i]->generation; }
const std::vector<ObservedEvent>& GossipCluster::events(size_t i) const { return nodes_[i]->events; }

int64_t GossipCluster::FirstEvent(size_t i, const std::string& kind, const std::string& node_id,
                                  int64_t since) const {
  for (const ObservedEvent& event : nodes_[i]->events) {
    if (event.time_ms >= since && event.kind == kind && event.node_id == node_id) return event.time_ms;
  }
  return -1;
}

}  // namespace dynkv::sim
