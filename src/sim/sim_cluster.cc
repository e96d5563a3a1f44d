#include "sim/sim_cluster.h"

#include <filesystem>
#include <utility>

#include "common/key_hash.h"
#include "peer.pb.h"

namespace dynkv::sim {

namespace {

constexpr uint16_t kPeerPort = 7000;
constexpr uint16_t kClientPort = 8000;

}  // namespace

struct SimCluster::Node {
  std::string id;
  std::string host;
  std::string peer_address;
  std::string client_address;
  std::string data_dir;
  std::unique_ptr<SimEnv> env;                    // this life's; null while down
  std::unique_ptr<node::NodeServices> services;   // a whole node
  std::unique_ptr<node::Membership> membership;   // gossip_only
  // gossip_only: what the data dir would keep across lives.
  std::vector<uint64_t> tokens;
  uint64_t last_generation = 0;
  uint64_t lives = 0;

  bool running() const { return env != nullptr; }
  const node::Membership* gossip() const {
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
  for (size_t i = 0; i < options_.nodes; ++i) {
    auto node = std::make_unique<Node>();
    node->id = "n" + std::to_string(i + 1);
    node->host = node->id + ".sim";
    node->peer_address = node->host + ":" + std::to_string(kPeerPort);
    node->client_address = node->host + ":" + std::to_string(kClientPort);
    node->data_dir = dir_ + "/" + node->id;
    nodes_.push_back(std::move(node));
  }
}

SimCluster::~SimCluster() {
  for (size_t i = 0; i < nodes_.size(); ++i) Kill(i);
}

const std::string& SimCluster::id(size_t i) const { return nodes_.at(i)->id; }
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
  for (size_t s = 0; s < std::min(options_.seed_nodes, nodes_.size()); ++s) {
    config.seeds.push_back(net::HostPort{nodes_[s]->host, kPeerPort});
  }
  config.replication = options_.replication;
  config.storage.data_dir = n.data_dir;
  config.storage.cache_bytes = options_.cache_bytes;
  config.storage.write_buffer_bytes = 1 << 20;
  config.storage.block_cache_bytes = 1 << 20;
  config.membership.vnodes = options_.vnodes;
  config.request_timeout_ms = options_.request_timeout_ms;
  return config;
}

Status SimCluster::Start(size_t i) {
  Node& n = *nodes_.at(i);
  if (n.running()) return Status::Ok();
  ++n.lives;
  n.env = std::make_unique<SimEnv>(loop_, random_, *this,
                                   SimEnvOptions{n.id, n.peer_address, 5000, options_.max_storage_delay_ms});
  const node::Config config = ConfigOf(i);
  Status status;
  if (options_.gossip_only) {
    node::Identity identity;
    identity.actor = n.id + ".sim";
    identity.generation = std::max<uint64_t>(static_cast<uint64_t>(n.env->clock().NowMs()), n.last_generation + 1);
    n.last_generation = identity.generation;
    identity.tokens = n.tokens;
    auto persist = [this, &n](const std::vector<uint64_t>& tokens, std::function<void(Status)> done) {
      n.tokens = tokens;
      n.env->Post([done] { done(Status::Ok()); });
    };
    auto membership = node::Membership::Create(*n.env, node::MembershipOptionsFor(config, identity, false), persist);
    if (membership.ok()) {
      n.membership = std::move(*membership);
      status = n.membership->Start();
    } else {
      status = membership.status();
    }
  } else {
    std::filesystem::create_directories(n.data_dir);
    auto services = node::NodeServices::Open(config, *n.env);
    if (services.ok()) {
      n.services = std::move(*services);
      // A node that leaves, or learns it was removed, stops: its process ends.
      const uint64_t life = n.lives;
      n.services->SetOnStop([this, i, life] {
        loop_.After(0, [this, i, life] {
          if (nodes_[i]->lives == life) Kill(i);
        });
      });
      status = n.services->Start();
    } else {
      status = services.status();
    }
  }
  if (!status.ok()) {
    Kill(i);
    return status.WithContext("starting " + n.id);
  }
  network_.Restore(n.peer_address);
  network_.Restore(n.client_address);
  Note("start " + n.id + " life " + std::to_string(n.lives));
  return Status::Ok();
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

bool SimCluster::running(size_t i) const { return nodes_.at(i)->running(); }
bool SimCluster::paused(size_t i) const { return running(i) && nodes_[i]->env->life()->paused; }

SimCluster::Node* SimCluster::At(const std::string& address) {
  for (auto& node : nodes_) {
    if (node->peer_address == address || node->client_address == address) return node.get();
  }
  return nullptr;
}

void SimCluster::Route(const std::string& from_address, const std::string& to_address, peer::PeerRequest request,
                       std::function<void(peer::PeerResponse)> reply, std::function<void()> refused) {
  Note("peer " + from_address + " > " + to_address + " op " + std::to_string(request.op_case()));
  Node* target = At(to_address);
  if (target == nullptr) {
    // Nothing listens there: refused, a little later.
    loop_.After(1, std::move(refused));
    return;
  }
  auto shared = std::make_shared<peer::PeerRequest>(std::move(request));
  auto deliver = [this, target, shared, from_address, to_address, reply = std::move(reply)] {
    if (!target->running()) return;
    target->env->Post([this, target, shared, from_address, to_address, reply] {
      auto back = [this, from_address, to_address, reply](peer::PeerResponse response) {
        network_.Send(to_address, from_address, [reply, response] { reply(response); });
      };
      if (target->services) return target->services->peer_handler().Handle(*shared, std::move(back));
      if (target->membership) target->membership->Handle(*shared, std::move(back));
    });
  };
  network_.Send(from_address, to_address, std::move(deliver), std::move(refused));
}

void SimCluster::Request(const std::string& client, size_t i, dynkv::client::Request request,
                         std::function<void(dynkv::client::Response)> reply) {
  Node* target = nodes_.at(i).get();
  const std::string address = target->client_address;
  auto shared = std::make_shared<dynkv::client::Request>(std::move(request));
  auto deliver = [this, target, shared, client, address, reply = std::move(reply)] {
    if (!target->running() || !target->services) return;
    target->env->Post([this, target, shared, client, address, reply] {
      target->services->client_service().Handle(*shared, [this, client, address, reply](dynkv::client::Response r) {
        network_.Send(address, client, [reply, r] { reply(r); });
      });
    });
  };
  network_.Send(client, address, std::move(deliver));
}

const node::Membership* SimCluster::membership(size_t i) const {
  return running(i) ? nodes_[i]->gossip() : nullptr;
}

node::NodeServices* SimCluster::services(size_t i) { return nodes_.at(i)->services.get(); }

bool SimCluster::AllSeeUp(size_t i, bool up) const {
  for (size_t j = 0; j < nodes_.size(); ++j) {
    if (j == i || !running(j)) continue;
    if (membership(j)->IsUp(id(i)) != up) return false;
  }
  return true;
}

bool SimCluster::Converged() const {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!running(i) || paused(i)) continue;
    const node::Membership& m = *membership(i);
    if (!m.Ready()) return false;
    for (size_t j = 0; j < nodes_.size(); ++j) {
      if (!running(j) || paused(j)) continue;
      const gossip::NodeState* state = m.gossiper().Find(id(j));
      if (state == nullptr || state->status != gossip::NodeStatus::kNormal || state->tokens.empty()) return false;
      if (state->generation != membership(j)->gossiper().self().generation) return false;
      if (!m.IsUp(id(j))) return false;
    }
  }
  return true;
}

std::vector<size_t> SimCluster::ReplicasOf(size_t i, const std::string& key) const {
  std::vector<size_t> replicas;
  const node::Membership* m = membership(i);
  if (m == nullptr) return replicas;
  auto ring = m->CurrentRing();
  const size_t n = std::min<size_t>(options_.replication.n, ring->nodes().size());
  for (const ring::Replica& r : ring->PreferenceList(KeyPosition(key), n)) replicas.push_back(IndexOf(r.node_id));
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

bool SimCluster::RunUntil(const std::function<bool()>& done, int64_t max_ms, int64_t step_ms) {
  const int64_t end = loop_.now() + max_ms;
  while (!done()) {
    if (loop_.now() >= end) return false;
    loop_.RunFor(std::min(step_ms, end - loop_.now()));
  }
  return true;
}

}  // namespace dynkv::sim
