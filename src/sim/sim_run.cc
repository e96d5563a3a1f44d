#include "sim/sim_run.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "sim/nemesis.h"
#include "sim/sim_cluster.h"
#include "sim/trace.h"
#include "sim/workload.h"

namespace dynkv::sim {

namespace {

constexpr int64_t kConvergeMs = 60'000;
// After the faults: a membership change in progress may take its own bound first.
constexpr int64_t kFinalConvergeMs = kConvergeMs + Nemesis::kMaxSettleMs;
constexpr int64_t kSettleMs = 10'000;  // after the faults: hints are handed over
// With anti-entropy on: every replica's tree agrees with the others' within this.
constexpr int64_t kTreesAgreeMs = 600'000;
constexpr int64_t kMaxRunMs = 3'600'000;
// With membership faults, the set workload's cold keys (WorkloadOptions::
// cold_keys), at most half the operations. Hot keys alone cannot show that
// data did not move: their read-modify-writes copy them to new replicas.
constexpr uint64_t kColdKeys = 200;

// A data dir tree of its own for one run, removed with it.
class RunDir {
 public:
  explicit RunDir(const std::string& parent) {
    std::string base = parent;
    if (base.empty()) {
      const char* tmp = std::getenv("TMPDIR");
      base = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
    }
    std::string pattern = base + "/dynkv-sim-XXXXXX";
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~RunDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

SimClusterOptions ClusterOptions(const SimRunOptions& options) {
  SimClusterOptions cluster;
  cluster.nodes = options.nodes;
  cluster.replication.n = options.n;
  cluster.replication.r = options.r;
  cluster.replication.w = options.w;
  cluster.replication.last_write_wins = options.last_write_wins;
  cluster.replication.sloppy_quorum = options.hints;
  if (options.anti_entropy_ms >= 0) cluster.anti_entropy.interval_ms = options.anti_entropy_ms;
  if (options.racks > 1 || options.datacenters > 1) {
    const size_t dcs = options.datacenters;
    // Room for the nodes the membership nemesis adds.
    for (size_t i = 0; i < 4 * options.nodes + 16; ++i) {
      cluster.locations.push_back(
          {"dc" + std::to_string(i % dcs + 1), "rack" + std::to_string((i / dcs) % options.racks + 1)});
    }
    for (size_t d = 0; d < dcs && dcs > 1; ++d) {
      const auto replicas = static_cast<uint32_t>(options.n / dcs + (d < options.n % dcs ? 1 : 0));
      if (replicas > 0) cluster.replication.datacenters["dc" + std::to_string(d + 1)] = replicas;
    }
  }
  return cluster;
}

void Tally(const History& history, SeedResult* result) {
  for (const Op& op : history.ops) {
    if (op.kind == OpKind::kFinalRead) continue;
    ++result->ops;
    if (op.ok) ++result->acked;
  }
  result->lost = result->verdict.lost.size();
  result->invented = result->verdict.invented.size();
  result->stale = result->verdict.stale.size();
}

// Anti-entropy on: before the final reads (whose read repair would hide a
// divergence), every two replicas' trees must agree over the ranges they
// share, checked every 5 simulated seconds.
Status WaitForTreesToAgree(SimCluster& cluster) {
  std::vector<std::string> differences;
  const bool agreed = cluster.RunUntil(
      [&] {
        const std::vector<size_t> members = cluster.members();
        differences = cluster.TreeDifferences(members.front());
        return differences.empty();
      },
      kTreesAgreeMs, 5'000);
  if (agreed) return Status::Ok();
  std::string first = differences.front();
  return Status::Timeout("replicas' hash trees still differ " + std::to_string(kTreesAgreeMs / 1000) +
                         " s after the faults: " + first + (differences.size() > 1 ? " (and more)" : ""));
}

}  // namespace

Status ValidateRunOptions(const SimRunOptions& options) {
  if (options.nodes == 0) return Status::InvalidArgument("--nodes must be at least 1");
  if (options.n == 0 || options.n > options.nodes) {
    return Status::InvalidArgument("--n " + std::to_string(options.n) + " must be 1.." +
                                   std::to_string(options.nodes) + " (the number of nodes)");
  }
  if (options.r == 0 || options.r > options.n) return Status::InvalidArgument("--r must be 1..n");
  if (options.w == 0 || options.w > options.n) return Status::InvalidArgument("--w must be 1..n");
  if (options.ops == 0) return Status::InvalidArgument("--ops must be at least 1");
  if (options.racks == 0 || options.datacenters == 0) {
    return Status::InvalidArgument("--racks and --datacenters must be at least 1");
  }
  if (options.datacenters > options.n) {
    return Status::InvalidArgument("--datacenters " + std::to_string(options.datacenters) +
                                   " must be at most --n: each keeps at least one replica");
  }
  if (options.keys == 0) return Status::InvalidArgument("--keys must be at least 1");
  return Status::Ok();
}

SeedResult RunSeed(uint64_t seed, const SimRunOptions& options) {
  SeedResult result;
  result.seed = seed;
  Trace trace;
  if (!options.trace_path.empty() && !trace.WriteTo(options.trace_path)) {
    result.problem = "cannot write the trace to " + options.trace_path;
    return result;
  }
  RunDir dir(options.tmp_dir);
  if (dir.path().empty()) {
    result.problem = "cannot make a data directory for the run";
    return result;
  }
  History history;
  {
    SimCluster cluster(seed, dir.path(), ClusterOptions(options), &trace);
    const int64_t started = cluster.loop().now();
    Status status = cluster.StartAll();
    if (status.ok() && !cluster.RunUntil([&] { return cluster.Converged(); }, kConvergeMs)) {
      status = Status::Timeout("the cluster did not converge at start");
    }
    WorkloadOptions workload;
    workload.workload = options.workload;
    workload.r = options.r;
    workload.w = options.w;
    workload.ops = options.ops;
    workload.keys = options.keys;
    const bool membership =
        std::find(options.faults.begin(), options.faults.end(), "membership") != options.faults.end();
    if (membership && options.workload == Workload::kSet)
      workload.cold_keys = std::min(kColdKeys, options.ops / 2);
    WorkloadRun run(cluster, history, workload);
    Nemesis nemesis(cluster, history, options.faults);
    if (status.ok()) {
      run.WriteColdKeys();
      run.Start();
      nemesis.Start();
      if (!cluster.RunUntil([&] { return run.Finished(); }, kMaxRunMs))
        status = Status::Timeout("clients hung");
      Status healed = nemesis.Stop();
      if (status.ok()) status = healed;
    }
    // Final reads ask the members of the end, once every change has settled.
    if (status.ok() &&
        !cluster.RunUntil(
            [&] { return cluster.Converged() && !nemesis.recovering() && cluster.MembershipSettled(); },
            kFinalConvergeMs)) {
      status = nemesis.status().ok() ? Status::Timeout("the cluster did not converge after the faults healed")
                                     : nemesis.status();
    }
    if (status.ok()) status = nemesis.status();
    if (status.ok()) {
      cluster.RunFor(kSettleMs);
      if (options.anti_entropy_ms > 0) status = WaitForTreesToAgree(cluster);
    }
    if (status.ok()) run.FinalReads();
    if (!status.ok()) result.problem = status.ToString();
    result.simulated_ms = cluster.loop().now() - started;
  }
  result.verdict = Check(history);
  Tally(history, &result);
  result.throughput = WorstThroughputRatio(history);
  if (result.problem.empty() && options.min_throughput > 0 && result.throughput < options.min_throughput) {
    char ratio[32];
    std::snprintf(ratio, sizeof(ratio), "%.2f", result.throughput);
    result.problem = std::string("throughput fell to ") + ratio +
                     " of the rate before a pause, slow or stall window (--min-throughput)";
  }
  result.trace = trace.Hex();
  result.ok = result.problem.empty() && result.verdict.valid() && result.verdict.judgeable();
  if (result.problem.empty() && !result.verdict.judgeable()) {
    result.problem =
        std::to_string(result.verdict.unread_keys.size()) + " key(s) had no successful final read";
  }
  return result;
}

}  // namespace dynkv::sim
