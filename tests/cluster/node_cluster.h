// Test helpers over a SimCluster of whole nodes (src/sim): requests through
// a node's coordinator that run simulated time until answered, and faults
// that wait until the cluster has noticed them. Every node is the real
// NodeServices of dynkvd; nothing here replays a driver.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/object.h"
#include "common/status.h"
#include "sim/sim_cluster.h"

namespace dynkv::sim {

class NodeCluster {
 public:
  // Starts `nodes` whole nodes (N=n) in `dir` and runs until they converge.
  NodeCluster(uint64_t seed, const std::string& dir, size_t nodes, uint32_t n = 3);

  SimCluster& sim() { return cluster_; }
  size_t size() const { return cluster_.size(); }
  // The key's N primaries in preference order (node 0's ring).
  std::vector<size_t> ReplicasOf(const std::string& key) const { return cluster_.ReplicasOf(0, key); }

  // A write or read through node `via`'s coordinator, run until answered
  // (nullopt when it is not answered within max_ms).
  std::optional<Result<Object>> Put(size_t via, const std::string& key, const VersionVector& context,
                                    const std::string& value, uint32_t w, uint32_t timeout_ms,
                                    int64_t max_ms = 10'000);
  std::optional<Result<Object>> Get(size_t via, const std::string& key, uint32_t r, uint32_t timeout_ms,
                                    int64_t max_ms = 10'000);
  // Starts a write and returns at once; `*out` is set when it is answered.
  void StartPut(size_t via, const std::string& key, const VersionVector& context, const std::string& value,
                uint32_t w, uint32_t timeout_ms, std::optional<Result<Object>>* out);

  Object Stored(size_t i, const std::string& key);
  uint64_t HintsKept(size_t i);  // 0 for a node that is down
  const quorum::CoordinatorStats& coordinator_stats(size_t i) {
    return cluster_.services(i)->coordinator().stats();
  }

  // Kills node i and runs until every other node judges it down.
  void Crash(size_t i);
  // Cuts node i off (every message to and from it, and between the nodes
  // cut off, vanishes); the others
  // still judge it up for the moment (phi takes about 2 s).
  void Silence(size_t i);
  // Ends every Silence and RefuseAtOnce, restarts crashed nodes, and runs
  // until converged.
  void RestoreAll();

  bool RunUntil(const std::function<bool()>& done, int64_t max_ms) {
    return cluster_.RunUntil(done, max_ms, 1);
  }
  void RunFor(int64_t ms) { cluster_.RunFor(ms); }

 private:
  SimCluster cluster_;
  std::set<std::string> silenced_;  // peer addresses
};

std::set<std::string> Values(const Object& object);

}  // namespace dynkv::sim
