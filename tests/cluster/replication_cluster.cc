#include "replication_cluster.h"

#include <doctest/doctest.h>

#include <future>
#include <mutex>
#include <utility>

#include "common/key_hash.h"
#include "handoff/handoff.h"
#include "net/peer_transport.h"
#include "quorum/replica.h"
#include "ring/ring.h"
#include "storage/storage.h"

namespace dynkv::sim {

// The membership every node sees: a fixed ring, up/down set by the test.
class ReplicationCluster::View final : public node::ClusterView {
 public:
  explicit View(std::shared_ptr<const ring::Ring> ring) : ring_(std::move(ring)) {}
  std::shared_ptr<const ring::Ring> CurrentRing() const override { return ring_; }
  bool IsUp(const std::string& node_id) const override { return down_.count(node_id) == 0; }
  std::string PeerAddress(const std::string& node_id) const override { return node_id; }
  bool Ready() const override { return true; }  // the ring is fixed and known from the start
  void SetUp(const std::string& node_id, bool up) {
    if (up)
      down_.erase(node_id);
    else
      down_.insert(node_id);
  }

 private:
  std::shared_ptr<const ring::Ring> ring_;
  std::set<std::string> down_;
};

// The coordinator's peer calls, over the simulated network.
class ReplicationCluster::Caller final : public node::PeerCaller {
 public:
  Caller(ReplicationCluster* cluster, size_t self) : cluster_(cluster), self_(self) {}
  void Call(const std::string& node_id, peer::PeerRequest request, net::PeerPool::Callback done) override {
    if (cluster_->refused_at_once_.count(cluster_->IndexOf(node_id)) != 0) {
      return done(Status::Unavailable("cannot connect to " + node_id + ": backing off"));
    }
    cluster_->SendCall(self_, node_id, std::move(request), std::move(done));
  }

 private:
  ReplicationCluster* cluster_;
  size_t self_;
};

// Hinted handoff as the node's HandoffDriver runs it (same HintStore and
// HintDelivery), with the cluster's ticks instead of libuv timers.
class ReplicationCluster::Hints final : public node::HintSink {
 public:
  Hints(ReplicationCluster* cluster, size_t self, storage::StorageWorker& worker,
        storage::StorageWorker::Post post)
      : cluster_(cluster),
        self_(self),
        store_(worker, std::move(post)),
        delivery_(handoff::DeliveryOptions{0}) {}

  void Open() {
    store_.Open([this](Result<std::vector<std::string>> targets) {
      REQUIRE(targets.ok());
      for (const std::string& target : *targets) delivery_.OnHintStored(target);
    });
  }

  void StoreHint(const std::string& target, const std::string& key, const Object& object,
                 std::function<void(Status)> done) override {
    store_.Store(target, key, object, Now(), [this, target, done = std::move(done)](Status status) {
      if (status.ok()) delivery_.OnHintStored(target);
      done(status);
    });
  }

  void Deliver() {
    const handoff::DeliveryOptions& options = delivery_.options();
    for (const std::string& target : delivery_.Tick(Now())) {
      store_.NextBatch(target, options.batch_max_bytes, options.batch_max_count,
                       [this, target](Result<std::vector<handoff::Hint>> hints) {
                         if (!hints.ok()) return delivery_.OnBatchFailed(target, Now());
                         if (hints->empty()) return delivery_.OnBatchEmpty(target);
                         Send(target, std::move(*hints));
                       });
    }
  }

  handoff::HintDelivery& delivery() { return delivery_; }

 private:
  int64_t Now() const { return cluster_->loop_.now(); }

  void Send(const std::string& target, std::vector<handoff::Hint> hints) {
    peer::PeerRequest request;
    handoff::ToHintBatch(hints, request.mutable_hint_batch());
    delivery_.OnBatchSent(target, handoff::BatchBytes(hints), Now());
    cluster_->SendCall(self_, target, std::move(request),
                       [this, target, hints = std::move(hints)](Result<peer::PeerResponse> response) mutable {
                         if (!response.ok()) return delivery_.OnBatchFailed(target, Now());
                         store_.Acknowledge(target, std::move(hints), [this, target](Result<bool> more) {
                           if (!more.ok()) return delivery_.OnBatchFailed(target, Now());
                           delivery_.OnBatchAcked(target, *more);
                         });
                       });
  }

  ReplicationCluster* cluster_;
  size_t self_;
  handoff::HintStore store_;
  handoff::HintDelivery delivery_;
};

// Declared so that the completion queue outlives the worker (whose Stop
// posts into it) and the worker outlives everything that queues on it.
struct ReplicationCluster::Node {
  std::string id;
  bool crashed = false;
  std::mutex mu;
  std::vector<std::function<void()>> posted;  // storage completions, guarded by mu
  std::unique_ptr<storage::Engine> engine;
  std::unique_ptr<storage::StorageWorker> worker;
  std::unique_ptr<quorum::LocalReplica> replica;
  std::unique_ptr<Caller> caller;
  std::unique_ptr<Hints> hints;
  std::unique_ptr<node::Coordinator> coordinator;

  storage::StorageWorker::Post Poster() {
    return [this](std::function<void()> fn) {
      std::lock_guard<std::mutex> lock(mu);
      posted.push_back(std::move(fn));
    };
  }
};

ReplicationCluster::ReplicationCluster(uint64_t seed, const std::string& dir,
                                       ReplicationClusterOptions options)
    : options_(std::move(options)), network_(&loop_, seed, options_.link) {
  ring::TokenMap tokens;
  for (size_t i = 0; i < options_.nodes; ++i) {
    const std::string id = "r" + std::to_string(i);
    auto allocated = ring::AllocateTokens(ring::Ring(tokens), id, options_.vnodes);
    REQUIRE(allocated.ok());
    tokens[id] = std::move(*allocated);
  }
  view_ = std::make_unique<View>(std::make_shared<const ring::Ring>(tokens));
  for (size_t i = 0; i < options_.nodes; ++i) {
    auto node = std::make_unique<Node>();
    node->id = "r" + std::to_string(i);
    storage::Options storage_options;
    storage_options.data_dir = dir + "/" + node->id;
    auto engine = storage::OpenLevelDbEngine(storage_options);
    REQUIRE_MESSAGE(engine.ok(), engine.status().ToString());
    node->engine = std::move(*engine);
    node->worker = std::make_unique<storage::StorageWorker>(*node->engine, node->Poster());
    node->replica = std::make_unique<quorum::LocalReplica>(*node->worker, loop_.clock(), node->id + ".1",
                                                           quorum::ReplicaLimits{});
    node->caller = std::make_unique<Caller>(this, i);
    node->hints = std::make_unique<Hints>(this, i, *node->worker, node->Poster());
    node::CoordinatorOptions coordinator_options = options_.coordinator;
    coordinator_options.self_id = node->id;
    node->coordinator = std::make_unique<node::Coordinator>(loop_.clock(), *node->replica, *node->caller,
                                                            *view_, *node->hints, coordinator_options);
    nodes_.push_back(std::move(node));
  }
  for (auto& node : nodes_) {
    node->hints->Open();
    for (auto& other : nodes_) {
      if (other != node) node->hints->delivery().OnUp(other->id);
    }
  }
  Settle();
}

ReplicationCluster::~ReplicationCluster() = default;

const std::string& ReplicationCluster::id(size_t i) const { return nodes_.at(i)->id; }

node::Coordinator& ReplicationCluster::coordinator(size_t i) { return *nodes_.at(i)->coordinator; }

size_t ReplicationCluster::IndexOf(const std::string& id) const {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i]->id == id) return i;
  }
  FAIL("unknown node " << id);
  return 0;
}

std::vector<size_t> ReplicationCluster::ReplicasOf(const std::string& key) const {
  std::vector<size_t> out;
  for (const ring::Replica& replica :
       view_->CurrentRing()->PreferenceList(KeyPosition(key), options_.coordinator.n)) {
    out.push_back(IndexOf(replica.node_id));
  }
  return out;
}

// A request, its response and a refusal each cross the network; a call
// with no answer fails after call_timeout_ms, as PeerPool's do.
void ReplicationCluster::SendCall(size_t from, const std::string& to_id, peer::PeerRequest request,
                                  net::PeerPool::Callback done) {
  auto pending = std::make_shared<net::PeerPool::Callback>(std::move(done));
  auto finish = [pending](Result<peer::PeerResponse> response) {
    if (!*pending) return;
    std::exchange(*pending, nullptr)(std::move(response));
  };
  const size_t to = IndexOf(to_id);
  loop_.After(options_.call_timeout_ms,
              [finish] { finish(Status::Timeout("no response from the peer in time")); });
  auto deliver = [this, from, to, request = std::move(request), finish] {
    net::PeerRequestHandler::Reply reply = [this, from, to, finish](peer::PeerResponse response) {
      if (nodes_[to]->crashed) return;  // died before answering
      network_.Send(id(to), id(from), [finish, response = std::move(response)] {
        if (response.has_error()) return finish(net::StatusFromPeerError(response.error()));
        finish(response);
      });
    };
    if (!nodes_[to]->coordinator->HandlePeer(request, reply)) FAIL("not a replication request");
  };
  network_.Send(id(from), to_id, std::move(deliver),
                [finish] { finish(Status::Unavailable("connection refused")); });
}

void ReplicationCluster::StartPut(size_t via, const std::string& key, const VersionVector& context,
                                  const std::string& value, uint32_t w, uint32_t timeout_ms,
                                  std::optional<Result<Object>>* out) {
  Sibling sibling;
  sibling.value = value;
  nodes_.at(via)->coordinator->Put(key, context, std::move(sibling), w, timeout_ms,
                                   [out](Result<Object> result) { out->emplace(std::move(result)); });
  Settle();
}

std::optional<Result<Object>> ReplicationCluster::Put(size_t via, const std::string& key,
                                                      const VersionVector& context, const std::string& value,
                                                      uint32_t w, uint32_t timeout_ms, int64_t max_ms) {
  auto result = std::make_shared<std::optional<Result<Object>>>();
  Sibling sibling;
  sibling.value = value;
  nodes_.at(via)->coordinator->Put(key, context, std::move(sibling), w, timeout_ms,
                                   [result](Result<Object> answer) { result->emplace(std::move(answer)); });
  Settle();
  RunUntil([&] { return result->has_value(); }, max_ms);
  return *result;
}

std::optional<Result<Object>> ReplicationCluster::Get(size_t via, const std::string& key, uint32_t r,
                                                      uint32_t timeout_ms, int64_t max_ms) {
  auto result = std::make_shared<std::optional<Result<Object>>>();
  nodes_.at(via)->coordinator->Get(key, r, timeout_ms,
                                   [result](Result<Object> answer) { result->emplace(std::move(answer)); });
  Settle();
  RunUntil([&] { return result->has_value(); }, max_ms);
  return *result;
}

Object ReplicationCluster::Stored(size_t i, const std::string& key) {
  std::optional<Result<Object>> stored;
  nodes_.at(i)->replica->Read(key, [&stored](Result<Object> object) { stored.emplace(std::move(object)); });
  Settle();
  REQUIRE(stored.has_value());
  REQUIRE_MESSAGE(stored->ok(), stored->status().ToString());
  return **stored;
}

uint64_t ReplicationCluster::HintsKept(size_t i) {
  Result<uint64_t> count = Status::Internal("not counted");
  nodes_.at(i)->worker->Run([&count](storage::Engine& engine) { count = engine.CountHints(); });
  Settle();  // its barrier waits for the count
  REQUIRE_MESSAGE(count.ok(), count.status().ToString());
  return *count;
}

void ReplicationCluster::Crash(size_t i) {
  nodes_.at(i)->crashed = true;
  network_.Crash(id(i));
  view_->SetUp(id(i), false);
  for (auto& node : nodes_) node->hints->delivery().OnDown(id(i));
}

void ReplicationCluster::Silence(size_t i) {
  silent_.insert(i);
  UpdateSilence();
}

void ReplicationCluster::Restore(size_t i) {
  refused_at_once_.erase(i);
  nodes_.at(i)->crashed = false;
  network_.Restore(id(i));
  silent_.erase(i);
  UpdateSilence();
  view_->SetUp(id(i), true);
  for (auto& node : nodes_) {
    if (node != nodes_[i]) node->hints->delivery().OnUp(id(i));
  }
}

void ReplicationCluster::RestoreAll() {
  refused_at_once_.clear();
  for (size_t i = 0; i < nodes_.size(); ++i) Restore(i);
}

void ReplicationCluster::UpdateSilence() {
  std::vector<std::set<std::string>> groups;
  for (size_t i : silent_) groups.push_back({id(i)});
  network_.Partition(groups);
}

// Storage completions run in node order, each node's in the order its
// worker finished them; the barrier makes every queued call finish first.
void ReplicationCluster::Settle() {
  for (;;) {
    bool ran = false;
    for (auto& node : nodes_) {
      std::promise<void> barrier;
      std::future<void> reached = barrier.get_future();
      node->worker->Run([&barrier](storage::Engine&) { barrier.set_value(); });
      reached.wait();
      std::vector<std::function<void()>> completions;
      {
        std::lock_guard<std::mutex> lock(node->mu);
        completions.swap(node->posted);
      }
      for (auto& fn : completions) fn();
      ran = ran || !completions.empty();
    }
    if (!ran) return;
  }
}

void ReplicationCluster::Tick() {
  const int64_t now = loop_.now();
  if (now >= next_sweep_ms_) {
    next_sweep_ms_ = now + options_.sweep_interval_ms;
    for (auto& node : nodes_) {
      if (!node->crashed) node->coordinator->ExpireOverdue();
    }
  }
  if (now >= next_handoff_ms_) {
    next_handoff_ms_ = now + options_.handoff_interval_ms;
    for (auto& node : nodes_) {
      if (!node->crashed) node->hints->Deliver();
    }
  }
}

void ReplicationCluster::RunFor(int64_t ms) {
  for (int64_t step = 0; step < ms; ++step) {
    loop_.RunFor(1);
    Tick();
    Settle();
  }
}

bool ReplicationCluster::RunUntil(const std::function<bool()>& done, int64_t max_ms) {
  for (int64_t step = 0; step < max_ms; ++step) {
    if (done()) return true;
    RunFor(1);
  }
  return done();
}

}  // namespace dynkv::sim
