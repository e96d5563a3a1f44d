// The quorum module's options: the `replication` section of the node's
// YAML config (docs/OPERATIONS.md), with their defaults, in one place.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>

namespace dynkv::quorum {

struct ReplicationOptions {
  uint32_t n = 3;  // replication.n: replicas per key (without datacenters)
  // replication.datacenters: replicas per key in each datacenter named
  // (ring.h: Topology); a datacenter not named keeps none, and n is
  // ignored. Empty: n replicas over the whole cluster.
  std::map<std::string, uint32_t> datacenters;
  // The replicas of a key the config asks for: n, or the datacenters' sum.
  uint32_t total() const {
    if (datacenters.empty()) return n;
    uint64_t sum = 0;
    for (const auto& [name, count] : datacenters) sum += count;
    return static_cast<uint32_t>(std::min<uint64_t>(sum, ~uint32_t{0}));
  }
  uint32_t r = 2;  // replication.r: replies a read waits for when the request says 0
  uint32_t w = 2;  // replication.w: durable copies a write waits for when the request says 0
  // replication.sloppy_quorum: a down primary's writes go to the next
  // healthy node, which keeps them as hints (Dynamo's sloppy quorum). Off:
  // only primaries take writes.
  bool sloppy_quorum = true;
  // replication.hinted_writes_count: hints kept by a stand-in outside the
  // preference list count towards W (Dynamo, Riak).
  bool hinted_writes_count = true;
  // replication.conflicts: siblings (false) or lww (true).
  bool last_write_wins = false;
  // replication.failover_min / failover_max: a mint not answered within the
  // minter's smoothed response time + 4 deviations, bounded by these, is
  // tried at the next live replica (issue 18: gray failures).
  int64_t failover_min_ms = 20;
  int64_t failover_max_ms = 100;
  // replication.max_pending_per_peer: calls to one peer still unanswered
  // past which the coordinator sends it nothing more (a stand-in takes its
  // writes; a request that cannot do without it is OVERLOADED).
  uint32_t max_pending_per_peer = 2048;
};

}  // namespace dynkv::quorum
