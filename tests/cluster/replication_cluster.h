// An in-process cluster of replicating nodes on a SimLoop and SimNetwork:
// each node has a real Coordinator, a LocalReplica over a real StorageWorker
// and LevelDB engine, and a real HintStore and HintDelivery for hinted
// handoff; peer requests travel through the SimNetwork to the target's
// Coordinator::HandlePeer. The ring is fixed; which nodes are up is set by
// the test (the ClusterView every node shares).
//
// Determinism: the storage worker has its own thread, so its completions are
// queued per node and run only when the cluster settles storage, which it
// does after each simulated millisecond: every worker finishes what is
// queued (a barrier through StorageWorker::Run), then the completions run in
// node order, until no node has any. Storage is thus instant in simulated
// time, and a run is a function of its seed.
//
// Node i is "r<i>"; its peer address is its id.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/object.h"
#include "common/status.h"
#include "node/coordinator.h"
#include "sim/sim_network.h"

namespace dynkv::sim {

struct ReplicationClusterOptions {
  size_t nodes = 3;
  size_t vnodes = 8;
  // self_id is filled in per node.
  node::CoordinatorOptions coordinator;
  LinkOptions link;
  // A peer call with no response by then fails with TIMEOUT (as PeerPool's).
  int64_t call_timeout_ms = 1000;
  int64_t sweep_interval_ms = 10;     // Coordinator::ExpireOverdue
  int64_t handoff_interval_ms = 100;  // hint delivery ticks
};

class ReplicationCluster {
 public:
  // `dir`: where the nodes' data dirs go (must exist).
  ReplicationCluster(uint64_t seed, const std::string& dir, ReplicationClusterOptions options);
  ~ReplicationCluster();

  size_t size() const { return nodes_.size(); }
  const std::string& id(size_t i) const;
  // The node indexes of the key's N primaries, in preference order.
  std::vector<size_t> ReplicasOf(const std::string& key) const;

  // Client requests through node `via`'s coordinator; they run simulated
  // time until answered (at most `max_ms`; nullopt if still unanswered).
  std::optional<Result<Object>> Put(size_t via, const std::string& key, const VersionVector& context,
                                    const std::string& value, uint32_t w, uint32_t timeout_ms,
                                    int64_t max_ms = 10'000);
  std::optional<Result<Object>> Get(size_t via, const std::string& key, uint32_t r, uint32_t timeout_ms,
                                    int64_t max_ms = 10'000);
  // Starts a write and returns at once; `*out` is set when it is answered.
  void StartPut(size_t via, const std::string& key, const VersionVector& context, const std::string& value,
                uint32_t w, uint32_t timeout_ms, std::optional<Result<Object>>* out);

  // What node i holds for `key` on disk (read through its worker).
  Object Stored(size_t i, const std::string& key);
  // Hints node i keeps, for all targets (counted in its engine).
  uint64_t HintsKept(size_t i);

  // The process dies: its address refuses connections, it runs no timers,
  // and every node judges it down.
  void Crash(size_t i);
  // Up in every node's view but unreachable: messages to and from it vanish.
  void Silence(size_t i);
  // Judged up, but every call to it fails inside the call, at once, as
  // PeerPool's calls do while a peer is backing off after a failed connect.
  void RefuseAtOnce(size_t i) { refused_at_once_.insert(i); }
  // Back: reachable and judged up (hint delivery to it starts).
  void Restore(size_t i);
  // Every node reachable and up.
  void RestoreAll();

  // Runs simulated time forward, settling storage every millisecond.
  void RunFor(int64_t ms);
  // Runs until `done()` (checked every millisecond), at most max_ms. False
  // if it never held.
  bool RunUntil(const std::function<bool()>& done, int64_t max_ms);

  SimLoop& loop() { return loop_; }
  SimNetwork& network() { return network_; }
  node::Coordinator& coordinator(size_t i);

 private:
  struct Node;
  class View;
  class Caller;
  class Hints;

  void Settle();
  void Tick();
  void SendCall(size_t from, const std::string& to, peer::PeerRequest request, net::PeerPool::Callback done);
  size_t IndexOf(const std::string& id) const;
  void UpdateSilence();

  ReplicationClusterOptions options_;
  SimLoop loop_;
  SimNetwork network_;
  std::unique_ptr<View> view_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::set<size_t> silent_;
  std::set<size_t> refused_at_once_;
  int64_t next_sweep_ms_ = 0;
  int64_t next_handoff_ms_ = 0;
};

}  // namespace dynkv::sim
