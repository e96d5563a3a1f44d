// One seeded simulator run, as `dynkv-sim` runs each seed: a cluster of
// whole nodes starts and converges, the workload's clients run their
// operations while the nemesis injects faults, then every fault heals and
// every membership change settles, the cluster settles (hints are handed
// over), every key is read at R=all from the members of the end, and the
// checker judges the history.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "sim/checker.h"

namespace dynkv::sim {

struct SimRunOptions {
  size_t nodes = 5;
  uint32_t n = 3;
  uint32_t r = 2;
  uint32_t w = 2;
  std::vector<std::string> faults;  // ParseFaults names
  uint64_t ops = 2000;
  size_t keys = 5;  // the clients' keys (WorkloadOptions::keys)
  Workload workload = Workload::kSet;
  bool last_write_wins = false;  // --conflicts lww
  bool hints = true;             // --hints off: no sloppy quorum, so no stand-ins and no hints
  // --anti-entropy MS: the nodes' anti_entropy.interval (-1: the node
  // default). Above 0, the run also requires that every replica's hash tree
  // agrees with the others' before the final reads.
  int64_t anti_entropy_ms = -1;
  // --min-throughput R: above 0, a run also fails when, in any second of a
  // pause, slow or stall window, the other nodes' acknowledged operations
  // fall below R times their rate before it (checker.h WorstThroughputRatio).
  double min_throughput = 0;
  // --racks K and --datacenters D: node i stands in datacenter dc<i % D + 1>
  // and rack rack<(i / D) % K + 1> (nodes the nemesis adds too); with D > 1
  // each datacenter keeps n / D replicas, the first n % D one more
  // (replication.datacenters).
  size_t racks = 1;
  size_t datacenters = 1;
  std::string trace_path;        // empty: no trace file
  std::string tmp_dir;           // where data dirs go; empty: $TMPDIR or /tmp
};

struct SeedResult {
  uint64_t seed = 0;
  bool ok = false;
  uint64_t ops = 0;    // operations recorded, final reads not included
  uint64_t acked = 0;  // of which acknowledged
  uint64_t lost = 0;
  uint64_t invented = 0;
  uint64_t stale = 0;
  double throughput = 1;  // WorstThroughputRatio of the history
  std::string trace;    // the trace hash, 16 hex digits
  std::string problem;  // why the run could not be judged, if it could not
  int64_t simulated_ms = 0;
  Verdict verdict;
};

// INVALID_ARGUMENT for impossible options (r or w above n, n above nodes).
Status ValidateRunOptions(const SimRunOptions& options);
SeedResult RunSeed(uint64_t seed, const SimRunOptions& options);

}  // namespace dynkv::sim
