#include "sim/sim_cluster.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <utility>

#include "common/key_hash.h"
#include "net/peer_transport.h"
#include "peer.pb.h"
#include "ring/ring.h"
#include "storage/storage.h"

namespace dynkv::sim {

namespace {

constexpr uint16_t kPeerPort = 7000;
constexpr uint16_t kClientPort = 8000;

// "n1.sim:7000" -> "n1", for the trace.
std::string Short(const std::string& address) { return address.substr(0, address.find('.')); }

std::string OpName(const peer::PeerRequest& request) {
  const auto* field = peer::PeerRequest::descriptor()->FindFieldByNumber(request.op_case());
  return field != nullptr ? field->name() : "unknown";
}

std::string OpName(const dynkv::client::Request& request) {
  const auto* field = dynkv::client::Request::descriptor()->FindFieldByNumber(request.op_case());
  return field != nullptr ? field->name() : "unknown";
}

}  // namespace

// Records the membership events a node sees, for tests and the trace.
class SimCluster::Recorder final : public gossip::MembershipListener {
 public:
  Recorder(SimCluster& cluster, std::string self) : cluster_(cluster), self_(std::move(self)) {}
  void OnJoin(const gossip::NodeState& state) override { Add("join", state.node_id); }
  void OnChange(const gossip::NodeState& state) override { Add("change", state.node_id); }
  void OnRestart(const gossip::NodeState& state) override { Add("restart", state.node_id); }
  void OnUp(const std::string& node_id) override { Add("up", node_id); }
  void OnDown(const std::string& node_id) override { Add("down", node_id); }
  void OnLeave(const std::string& node_id) override { Add("leave", node_id); }
  std::vector<ObservedEvent> events;

 private:
  void Add(const char* kind, const std::string& node_id) {
    events.push_back({cluster_.loop_.now(), kind, node_id});
    cluster_.Note(self_ + " sees " + node_id + " " + kind);
  }
  SimCluster& cluster_;
  std::string self_;
};

struct SimCluster::Node {
  std::string id;
  std::string host;
  std::string peer_address;
  std::string client_address;
  std::string data_dir;
  std::unique_ptr<SimEnv> env;                   // this life's; null while down
  std::unique_ptr<node::NodeServices> services;  // a whole node
  std::unique_ptr<node::Membership> membership;  // gossip_only
  // gossip_only: what the data dir would keep across lives.
  std::vector<uint64_t> tokens;
  uint64_t last_generation = 0;
  uint64_t lives = 0;
  bool departed = false;  // left or removed; see departed()
  std::unique_ptr<Recorder> recorder;

  bool running() const { return env != nullptr; }
  node::Membership* gossip() const {
    if (services) return &services->membership();
    return membership.get();
  }
};

SimCluster::SimCluster(uint64_t seed, std::string dir, SimClusterOptions options, Trace* trace)
    : dir_(std::move(dir)),
      options_(std::move(options)),
      trace_(trace),
      random_(seed),
      network_(&loop_, seed ^ 0x9e3779b97f4a7c15ull, options_.link) {
  for (size_t i = 0; i < options_.nodes; ++i) nodes_.push_back(MakeNode(i));
  if (options_.gossip_only && options_.preassigned_tokens) AssignTokens();
}

std::unique_ptr<SimCluster::Node> SimCluster::MakeNode(size_t i) {
  auto node = std::make_unique<Node>();
  node->id = "n" + std::to_string(i + 1);
  node->host = node->id + ".sim";
  node->peer_address = node->host + ":" + std::to_string(kPeerPort);
  node->client_address = node->host + ":" + std::to_string(kClientPort);
  node->data_dir = dir_ + "/" + node->id;
  node->recorder = std::make_unique<Recorder>(*this, node->id);
  by_address_[node->peer_address] = node.get();
  return node;
}

namespace {

// Node i's location.datacenter and location.rack (the config's defaults
// past the end of options.locations).
ring::Location LocationFor(const SimClusterOptions& options, size_t i) {
  if (i < options.locations.size()) return options.locations[i];
  const node::MembershipConfig defaults;
  return {defaults.datacenter, defaults.rack};
}

}  // namespace

// Tokens as the nodes would have taken them joining one by one.
void SimCluster::AssignTokens() {
  ring::TokenMap tokens;
  ring::Topology topology;
  topology.datacenters = options_.replication.datacenters;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    Node& node = *nodes_[i];
    const ring::Location location = LocationFor(options_, i);
    const size_t replicas =
        ring::GroupReplicas(options_.replication.datacenters, options_.replication.n, location.datacenter);
    auto taken =
        ring::AllocateTokensAt(ring::Ring(tokens, topology), node.id, location, options_.vnodes, replicas);
    if (!taken.ok()) continue;  // left to join instead
    node.tokens = *taken;
    tokens[node.id] = *taken;
    topology.locations[node.id] = location;
  }
}

SimCluster::~SimCluster() {
  for (size_t i = 0; i < nodes_.size(); ++i) Kill(i);
}

const std::string& SimCluster::id(size_t i) const { return nodes_.at(i)->id; }
const std::string& SimCluster::client_address(size_t i) const { return nodes_.at(i)->client_address; }

const std::string& SimCluster::peer_address(size_t i) const { return nodes_.at(i)->peer_address; }

size_t SimCluster::IndexOf(const std::string& node_id) const {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i]->id == node_id) return i;
  }
  return nodes_.size();
}

void SimCluster::Note(const std::string& what) {
  if (trace_ != nullptr) trace_->Add(loop_.now(), what);
}

node::Config SimCluster::ConfigOf(size_t i) const {
  const Node& n = *nodes_[i];
  node::Config config;
  config.source = "sim:" + n.id;
  config.node_id = n.id;
  config.client_address = net::HostPort{n.host, kClientPort};
  config.peer_address = net::HostPort{n.host, kPeerPort};
  config.data_dir = n.data_dir;
  for (size_t s = 0; s < nodes_.size() && config.seeds.size() < options_.seed_nodes; ++s) {
    if (!nodes_[s]->departed) config.seeds.push_back(net::HostPort{nodes_[s]->host, kPeerPort});
  }
  config.replication = options_.replication;
  config.storage.data_dir = n.data_dir;
  config.storage.cache_bytes = options_.cache_bytes;
  config.storage.write_buffer_bytes = 1 << 20;
  config.storage.block_cache_bytes = 1 << 20;
  config.membership.vnodes = options_.vnodes;
  config.membership.phi_threshold = options_.phi_threshold;
  config.membership.max_digests = options_.max_digests;
  const ring::Location location = LocationFor(options_, i);
  config.membership.datacenter = location.datacenter;
  config.membership.rack = location.rack;
  config.request_timeout_ms = options_.request_timeout_ms;
  config.handoff = options_.handoff;
  config.anti_entropy = options_.anti_entropy;
  config.reap_interval_ms = options_.reap_interval_ms;
  config.tombstone_grace_ms = options_.tombstone_grace_ms;
  return config;
}

Status SimCluster::Start(size_t i) {
  Node& n = *nodes_.at(i);
  if (n.running()) return Status::Ok();
  ++n.lives;
  n.departed = false;
  SimEnvOptions env_options{
      n.id, n.peer_address, 5000, options_.max_storage_delay_ms,
      [this](const std::string& address) { return refused_at_once_.count(address) > 0; }};
  n.env = std::make_unique<SimEnv>(loop_, random_, *this, std::move(env_options));
  const node::Config config = ConfigOf(i);
  Status status = options_.gossip_only ? StartGossipOnly(i, config) : StartWholeNode(i, config);
  if (!status.ok()) {
    Kill(i);
    return status.WithContext("starting " + n.id);
  }
  network_.Restore(n.peer_address);
  network_.Restore(n.client_address);
  Note("start " + n.id + " life " + std::to_string(n.lives));
  return Status::Ok();
}

Status SimCluster::StartGossipOnly(size_t i, const node::Config& config) {
  Node& n = *nodes_[i];
  node::Identity identity;
  identity.actor = n.id + ".sim";
  identity.generation =
      std::max<uint64_t>(static_cast<uint64_t>(n.env->clock().NowMs()), n.last_generation + 1);
  n.last_generation = identity.generation;
  identity.tokens = n.tokens;
  auto persist = [&n](const std::vector<uint64_t>& tokens, const gossip::MovementRecord&,
                      std::function<void(Status)> done) {
    n.tokens = tokens;  // what the data dir would keep
    n.env->Post([done] { done(Status::Ok()); });
  };
  auto persist_movement = [&n](const gossip::MovementRecord&, std::function<void(Status)> done) {
    n.env->Post([done] { done(Status::Ok()); });
  };
  node::MembershipOptions options = node::MembershipOptionsFor(config, identity, false);
  options.moves_data = false;  // no storage: nothing to stream
  auto membership = node::Membership::Create(*n.env, std::move(options), persist, persist_movement);
  if (!membership.ok()) return membership.status();
  n.membership = std::move(*membership);
  n.membership->AddListener(n.recorder.get());
  n.membership->SetOnStop(StopCallback(i));
  return n.membership->Start();
}

Status SimCluster::StartWholeNode(size_t i, const node::Config& config) {
  Node& n = *nodes_[i];
  std::filesystem::create_directories(n.data_dir);
  auto services = node::NodeServices::Open(config, *n.env);
  if (!services.ok()) return services.status();
  n.services = std::move(*services);
  n.services->membership().AddListener(n.recorder.get());
  n.services->SetOnStop(StopCallback(i));
  return n.services->Start();
}

// A node that leaves, or learns it was removed, stops: its process ends
// (later, outside the membership's own call), and it has departed.
std::function<void()> SimCluster::StopCallback(size_t i) {
  const uint64_t life = nodes_[i]->lives;
  return [this, i, life] {
    loop_.After(0, [this, i, life] {
      if (nodes_[i]->lives != life) return;
      nodes_[i]->departed = true;
      Kill(i);
    });
  };
}

Status SimCluster::StartAll() {
  for (size_t i = 0; i < nodes_.size(); ++i) DYNKV_RETURN_IF_ERROR(Start(i));
  return Status::Ok();
}

void SimCluster::Kill(size_t i) {
  Node& n = *nodes_.at(i);
  if (!n.running()) return;
  network_.Crash(n.peer_address);
  network_.Crash(n.client_address);
  n.env->DropQueuedStorage();
  n.membership.reset();
  n.services.reset();
  n.env.reset();
  Note("kill " + n.id);
}

void SimCluster::Pause(size_t i) {
  if (!running(i)) return;
  nodes_[i]->env->Pause();
  Note("pause " + nodes_[i]->id);
}

void SimCluster::Slow(size_t i, int64_t extra_ms) {
  Node& n = *nodes_.at(i);
  network_.Slow(n.peer_address, extra_ms);
  network_.Slow(n.client_address, extra_ms);
  Note("slow " + n.id + " " + std::to_string(extra_ms));
}

void SimCluster::StallStorage(size_t i, int64_t ms) {
  if (!running(i)) return;
  nodes_[i]->env->StallStorage(loop_.now() + ms);
  Note("stall " + nodes_[i]->id + " " + std::to_string(ms));
}

void SimCluster::Resume(size_t i) {
  if (!running(i)) return;
  nodes_[i]->env->Resume();
  Note("resume " + nodes_[i]->id);
}

void SimCluster::JumpClock(size_t i, int64_t delta_ms) {
  if (!running(i)) return;
  nodes_[i]->env->JumpClock(delta_ms);
  Note("clock " + nodes_[i]->id + " " + std::to_string(delta_ms));
}

void SimCluster::ResetClock(size_t i) {
  if (running(i)) nodes_[i]->env->ResetClock();
}

void SimCluster::RefuseAtOnce(size_t i, bool on) {
  if (on)
    refused_at_once_.insert(peer_address(i));
  else
    refused_at_once_.erase(peer_address(i));
}

void SimCluster::LoseConnection(size_t i, size_t j) {
  if (running(i)) nodes_[i]->env->ReportUnreachable(peer_address(j));
}

bool SimCluster::running(size_t i) const { return nodes_.at(i)->running(); }
bool SimCluster::paused(size_t i) const { return running(i) && nodes_[i]->env->life()->paused; }

SimCluster::Node* SimCluster::At(const std::string& address) {
  auto it = by_address_.find(address);
  return it == by_address_.end() ? nullptr : it->second;
}

void SimCluster::Route(const std::string& from_address, const std::string& to_address,
                       peer::PeerRequest request, std::function<void(peer::PeerResponse)> reply,
                       std::function<void()> refused) {
  const std::string what = OpName(request);
  Note(Short(from_address) + " > " + Short(to_address) + " " + what);
  Node* target = At(to_address);
  if (target == nullptr) {
    // Nothing listens there: refused, a little later.
    loop_.After(1, std::move(refused));
    return;
  }
  peer_bytes_ += request.ByteSizeLong() + 4;
  auto shared = std::make_shared<peer::PeerRequest>(std::move(request));
  auto deliver = [this, target, shared, from_address, to_address, what, reply = std::move(reply)] {
    if (!target->running()) return;
    target->env->Post([this, target, shared, from_address, to_address, what, reply] {
      Note(Short(to_address) + " < " + Short(from_address) + " " + what);
      node::Membership::Reply back = [this, from_address, to_address, reply](peer::PeerResponse response) {
        peer_bytes_ += response.ByteSizeLong() + 4;
        network_.Send(to_address, from_address, [reply, response] { reply(response); });
      };
      if (target->services) return target->services->peer_handler().Handle(*shared, std::move(back));
      if (target->membership && !target->membership->Handle(*shared, back)) {
        back(net::PeerErrorResponse(Status::InvalidArgument("unknown peer operation")));
      }
    });
  };
  network_.Send(from_address, to_address, std::move(deliver), std::move(refused));
}

void SimCluster::Request(const std::string& client, size_t i, dynkv::client::Request request,
                         std::function<void(dynkv::client::Response)> reply) {
  Node* target = nodes_.at(i).get();
  const std::string address = target->client_address;
  Note(client + " > " + target->id + " " + OpName(request) + " " +
       (request.has_get()   ? request.get().key()
        : request.has_put() ? request.put().key()
                            : ""));
  auto shared = std::make_shared<dynkv::client::Request>(std::move(request));
  auto deliver = [this, target, shared, client, address, reply = std::move(reply)] {
    if (!target->running() || !target->services) return;
    target->env->Post([this, target, shared, client, address, reply] {
      target->services->client_service().Handle(*shared, [this, client, address,
                                                          reply](dynkv::client::Response r) {
        network_.Send(address, client, [this, client, address, reply, r] {
          Note(client + " < " + Short(address) +
               (r.has_error() ? " " + dynkv::client::ErrorCode_Name(r.error().code()) : std::string(" ok")));
          reply(r);
        });
      });
    });
  };
  network_.Send(client, address, std::move(deliver));
}

const node::Membership* SimCluster::membership(size_t i) const {
  return running(i) ? nodes_[i]->gossip() : nullptr;
}

node::Membership* SimCluster::mutable_membership(size_t i) {
  return running(i) ? nodes_[i]->gossip() : nullptr;
}

void SimCluster::Leave(size_t i) {
  node::Membership* m = mutable_membership(i);
  if (m == nullptr) return;
  nodes_[i]->departed = true;
  Note("leave " + id(i));
  m->Leave();
}

Result<size_t> SimCluster::AddNode() {
  const size_t i = nodes_.size();
  nodes_.push_back(MakeNode(i));
  Note("add " + id(i));
  DYNKV_RETURN_IF_ERROR(Start(i));
  return i;
}

Status SimCluster::Replace(size_t i) {
  Node& n = *nodes_.at(i);
  Kill(i);
  std::error_code error;
  std::filesystem::remove_all(n.data_dir, error);
  if (error) return Status::StorageError("deleting " + n.data_dir + ": " + error.message());
  n.tokens.clear();  // gossip_only: what the data dir kept
  Note("replace " + n.id + ": its data dir is gone");
  return Start(i);
}

Status SimCluster::Remove(size_t i, size_t via) {
  node::Membership* m = mutable_membership(via);
  if (m == nullptr) return Status::Unavailable(id(via) + " is not running");
  Status status = m->RemoveNode(id(i));
  Note("remove " + id(i) + " via " + id(via) + (status.ok() ? "" : ": " + status.ToString()));
  if (status.ok()) nodes_.at(i)->departed = true;
  return status;
}

bool SimCluster::departed(size_t i) const { return nodes_.at(i)->departed; }

std::vector<size_t> SimCluster::members() const {
  std::vector<size_t> out;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!nodes_[i]->departed) out.push_back(i);
  }
  return out;
}

const std::vector<ObservedEvent>& SimCluster::events(size_t i) const {
  return nodes_.at(i)->recorder->events;
}

int64_t SimCluster::FirstEvent(size_t i, const std::string& kind, const std::string& node_id,
                               int64_t since) const {
  for (const ObservedEvent& event : events(i)) {
    if (event.time_ms >= since && event.kind == kind && event.node_id == node_id) return event.time_ms;
  }
  return -1;
}

node::NodeServices* SimCluster::services(size_t i) { return nodes_.at(i)->services.get(); }

bool SimCluster::AllSeeUp(size_t i, bool up) const {
  for (size_t j = 0; j < nodes_.size(); ++j) {
    if (j == i || !running(j)) continue;
    if (membership(j)->IsUp(id(i)) != up) return false;
  }
  return true;
}

bool SimCluster::Converged(bool require_ready) const {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!running(i) || paused(i) || departed(i)) continue;
    const node::Membership& m = *membership(i);
    if (require_ready && !m.Ready()) return false;
    for (size_t j = 0; j < nodes_.size(); ++j) {
      if (!running(j) || paused(j) || departed(j)) continue;
      const gossip::NodeState* state = m.gossiper().Find(id(j));
      if (state == nullptr || state->status != gossip::NodeStatus::kNormal || state->tokens.empty())
        return false;
      if (state->generation != membership(j)->gossiper().self().generation) return false;
      if (!m.IsUp(id(j))) return false;
    }
  }
  return true;
}

bool SimCluster::MembershipSettled() const {
  const std::vector<size_t> expected = members();
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (departed(i) && running(i)) return false;  // still leaving, or not yet told it was removed
  }
  for (size_t i : expected) {
    if (!running(i) || paused(i)) return false;
    const node::Membership& m = *membership(i);
    if (!m.Ready()) return false;
    size_t seen = 0;
    for (const gossip::Member& member : m.gossiper().Members()) {
      const gossip::NodeState& state = member.state;
      if (state.status == gossip::NodeStatus::kLeft) continue;
      const size_t j = IndexOf(state.node_id);
      if (j == nodes_.size() || departed(j) || !running(j)) return false;
      if (state.status != gossip::NodeStatus::kNormal || state.tokens.empty() || !member.up) return false;
      if (state.generation != membership(j)->gossiper().self().generation) return false;
      ++seen;
    }
    if (seen != expected.size()) return false;
  }
  return true;
}

std::vector<size_t> SimCluster::ReplicasOf(size_t i, const std::string& key) const {
  std::vector<size_t> replicas;
  const node::Membership* m = membership(i);
  if (m == nullptr) return replicas;
  auto ring = m->CurrentRing();
  const size_t n = ring->ReplicaCount(options_.replication.n);
  for (const ring::Replica& r : ring->PreferenceList(KeyPosition(key), n))
    replicas.push_back(IndexOf(r.node_id));
  return replicas;
}

Result<Object> SimCluster::Stored(size_t i, const std::string& key) {
  if (!running(i) || !nodes_[i]->services) return Status::Unavailable(id(i) + " is not running");
  std::optional<Result<Object>> stored;
  nodes_[i]->services->worker().Read(key, [&stored](Result<Object> object) { stored = std::move(object); });
  if (!RunUntil([&stored] { return stored.has_value(); }, 10'000, 1)) {
    return Status::Timeout("storage of " + id(i) + " did not answer");
  }
  return std::move(*stored);
}

Result<Object> SimCluster::Tamper(size_t i, const std::string& key,
                                  std::function<Object(const Object& current)> change) {
  if (!running(i) || !nodes_[i]->services) return Status::Unavailable(id(i) + " is not running");
  std::optional<Result<Object>> stored;
  nodes_[i]->services->worker().Update(
      key, [change = std::move(change)](const Object& current) -> Result<Object> { return change(current); },
      [&stored](Result<Object> object) { stored = std::move(object); });
  if (!RunUntil([&stored] { return stored.has_value(); }, 10'000, 1)) {
    return Status::Timeout("storage of " + id(i) + " did not answer");
  }
  return std::move(*stored);
}

Result<uint64_t> SimCluster::HintsKept(size_t i) {
  if (!running(i) || !nodes_[i]->services) return Status::Unavailable(id(i) + " is not running");
  std::optional<Result<uint64_t>> count;
  SimEnv* env = nodes_[i]->env.get();
  nodes_[i]->services->worker().Run([env, &count](storage::Engine& engine) {
    Result<uint64_t> counted = engine.CountHints();
    env->Post([&count, counted] { count = counted; });
  });
  if (!RunUntil([&count] { return count.has_value(); }, 10'000, 1)) {
    return Status::Timeout("storage of " + id(i) + " did not answer");
  }
  return std::move(*count);
}

Result<std::vector<uint64_t>> SimCluster::TreeBranches(size_t i,
                                                       const std::vector<antientropy::RingRange>& ranges) {
  if (!running(i) || !nodes_[i]->services) return Status::Unavailable(id(i) + " is not running");
  std::optional<Result<std::vector<uint64_t>>> branches;
  SimEnv* env = nodes_[i]->env.get();
  antientropy::TreeKeeper* keeper = &nodes_[i]->services->tree_keeper();
  nodes_[i]->services->worker().Run([env, keeper, ranges, &branches](storage::Engine& engine) {
    Result<std::vector<uint64_t>> hashes = Status::Unavailable("the tree is being built");
    if (keeper->ready()) hashes = keeper->Branches(engine, antientropy::Coverage(ranges));
    env->Post([&branches, hashes] { branches = hashes; });
  });
  if (!RunUntil([&branches] { return branches.has_value(); }, 10'000, 1)) {
    return Status::Timeout("storage of " + id(i) + " did not answer");
  }
  return std::move(*branches);
}

std::vector<std::string> SimCluster::TreeDifferences(size_t view) {
  std::vector<std::string> differences;
  const node::Membership* m = membership(view);
  if (m == nullptr) return {id(view) + " is not running"};
  const auto placement = m->Placement();
  std::map<std::pair<std::string, std::string>, std::vector<antientropy::RingRange>> shared;
  for (const ring::TokenRange& range : ring::TokenRanges(placement->current(), placement->n())) {
    for (size_t a = 0; a < range.replicas.size(); ++a) {
      for (size_t b = a + 1; b < range.replicas.size(); ++b) {
        auto pair = std::minmax(range.replicas[a], range.replicas[b]);
        shared[{pair.first, pair.second}].push_back({range.start, range.end});
      }
    }
  }
  for (const auto& [pair, ranges] : shared) {
    const size_t a = IndexOf(pair.first), b = IndexOf(pair.second);
    if (a >= size() || b >= size() || !running(a) || !running(b)) continue;
    auto ta = TreeBranches(a, ranges);
    auto tb = TreeBranches(b, ranges);
    if (!ta.ok() || !tb.ok()) {
      differences.push_back(pair.first + " " + pair.second + ": " + (ta.ok() ? tb : ta).status().ToString());
      continue;
    }
    size_t differ = 0;
    for (size_t k = 0; k < ta->size(); ++k) differ += (*ta)[k] != (*tb)[k];
    if (differ > 0) differences.push_back(pair.first + " " + pair.second + ": " + std::to_string(differ) + " branches differ");
  }
  return differences;
}

bool SimCluster::RunUntil(const std::function<bool()>& done, int64_t max_ms, int64_t step_ms) {
  const int64_t end = loop_.now() + max_ms;
  while (!done()) {
    if (loop_.now() >= end) return false;
    loop_.RunFor(std::min(step_ms, end - loop_.now()));
  }
  return true;
}

}  // namespace dynkv::sim
