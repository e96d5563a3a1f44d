// dynkv-sim-scale: the membership layer's figures at 10, 100 and 1,000
// nodes (docs/SCALE.md), from the simulator: the real GossipDriver and
// RingTracker of every node (SimClusterOptions::gossip_only: no storage)
// on a simulated clock and network. Deterministic for a seed.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "command_line.h"
#include "common/log.h"
#include "ring/ring.h"
#include "sim/sim_cluster.h"

namespace dynkv::sim {
namespace {

constexpr int64_t kIntervalMs = 100;  // gossip.interval_ms, the default
constexpr int kMaxRounds = 600;
constexpr int kMaxJoinRounds = 300;

// A progress line on stderr: a size of 1,000 runs for many minutes.
void Progress(size_t nodes, int64_t simulated_ms, const char* what) {
  std::fprintf(stderr, "dynkv-sim-scale: %zu nodes, %.1f s simulated: %s\n", nodes,
               static_cast<double>(simulated_ms) / 1000.0, what);
}

struct Args {
  std::string sizes = "10,100,1000";
  uint64_t seed = 1;
  uint64_t racks = 3;
  double loss = 0.05;
  uint64_t steady_s = 10;
  uint64_t loss_s = 30;
  double phi_threshold = node::MembershipConfig{}.phi_threshold;
  uint64_t max_digests = node::MembershipConfig{}.max_digests;
};

struct Figures {
  size_t nodes = 0;
  int rounds = -1;                  // from one seed until every node sees every other up
  double bytes_per_node_s = 0;      // peer bytes sent per node per second, steady state
  double ring = 0, rack = 0, replicated = 0;  // largest share / fair share
  double moved = 0;                 // key replicas moved by one join, times (n+1)
  int64_t false_downs = 0;          // down events about live nodes under `loss`
  double detect_s = -1;             // a killed node seen down by every other
  double pause_s = -1;              // a paused node seen down by every other
};

std::vector<size_t> ParseSizes(const std::string& text) {
  std::vector<size_t> sizes;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const size_t n = std::stoul(item);
    if (n < 3 || n > 5000) throw CLI::ValidationError("--nodes: each size must be 3..5000, got " + item);
    sizes.push_back(n);
  }
  if (sizes.empty()) throw CLI::ValidationError("--nodes: no size given");
  return sizes;
}

SimClusterOptions Options(size_t nodes, const Args& args) {
  const size_t racks = args.racks;
  SimClusterOptions options;
  options.phi_threshold = args.phi_threshold;
  options.max_digests = static_cast<uint32_t>(args.max_digests);
  options.nodes = nodes;
  options.seed_nodes = 1;
  options.vnodes = ring::kDefaultVnodes;
  options.gossip_only = true;
  options.preassigned_tokens = true;
  for (size_t i = 0; i < nodes + 1; ++i) options.locations.push_back({"dc1", "rack" + std::to_string(i % racks + 1)});
  return options;
}

// Runs whole rounds until `done`; the rounds it took, or -1.
int RoundsUntil(SimCluster& cluster, int max_rounds, const std::function<bool()>& done) {
  for (int round = 1; round <= max_rounds; ++round) {
    cluster.RunFor(kIntervalMs);
    if (done()) return round;
  }
  return -1;
}

// The fraction of the key replicas (N per key) that are on a new node after
// the change: what the change has to copy.
double MovedReplicas(const ring::Ring& before, const ring::Ring& after, size_t n) {
  std::vector<uint64_t> cuts;
  for (size_t i = 0; i < before.token_count(); ++i) cuts.push_back(before.token(i));
  for (size_t i = 0; i < after.token_count(); ++i) cuts.push_back(after.token(i));
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  double moved = 0;
  for (size_t i = 0; i < cuts.size(); ++i) {
    const uint64_t start = cuts[i == 0 ? cuts.size() - 1 : i - 1];
    const std::vector<ring::Replica> old_list = before.PreferenceList(cuts[i], n);
    size_t added = 0;
    for (const ring::Replica& r : after.PreferenceList(cuts[i], n)) {
      added += std::none_of(old_list.begin(), old_list.end(), [&](const ring::Replica& o) { return o.node_id == r.node_id; });
    }
    moved += static_cast<double>(cuts[i] - start) * static_cast<double>(added) / static_cast<double>(n);
  }
  return moved / 18446744073709551616.0;
}

int64_t DownsSince(const SimCluster& cluster, int64_t since) {
  int64_t downs = 0;
  for (size_t i = 0; i < cluster.size(); ++i) {
    for (const ObservedEvent& event : cluster.events(i)) downs += event.time_ms >= since && event.kind == "down";
  }
  return downs;
}

// What the other nodes' failure detectors held about one node.
struct DetectorView {
  std::vector<double> mean_ms;     // the mean heartbeat inter-arrival, per node
  std::vector<uint64_t> evidence;  // GossipStats::evidence_reports, per node
};

DetectorView ViewOf(const SimCluster& cluster, size_t victim) {
  DetectorView view;
  for (size_t i = 0; i < cluster.size(); ++i) {
    if (i == victim || !cluster.running(i)) continue;
    const gossip::Gossiper& gossiper = cluster.membership(i)->gossiper();
    view.mean_ms.push_back(gossiper.detector().MeanIntervalMs(cluster.id(victim)));
    view.evidence.push_back(gossiper.Stats().evidence_reports);
  }
  return view;
}

template <typename T>
T Quantile(std::vector<T> values, double q) {
  if (values.empty()) return T{};
  std::sort(values.begin(), values.end());
  return values[static_cast<size_t>(q * static_cast<double>(values.size() - 1))];
}

// A diagnostic line on stderr: how the detection time spreads over the
// nodes, the detectors' mean intervals at the kill, and how many nodes saw
// the killed node refuse a connection (direct evidence) rather than fall
// silent.
void ReportDetection(const SimCluster& cluster, size_t victim, int64_t killed_at,
                     const DetectorView& before) {
  std::vector<double> seconds;
  const DetectorView after = ViewOf(cluster, victim);
  size_t by_evidence = 0;
  for (size_t i = 0, k = 0; i < cluster.size(); ++i) {
    if (i == victim || !cluster.running(i)) continue;
    const int64_t at = cluster.FirstEvent(i, "down", cluster.id(victim), killed_at);
    seconds.push_back(static_cast<double>(at - killed_at) / 1000.0);
    by_evidence += after.evidence[k] > before.evidence[k];
    ++k;
  }
  std::fprintf(stderr,
               "dynkv-sim-scale: %zu nodes: detection p50 %.2f s, p90 %.2f s, max %.2f s; mean heartbeat "
               "interval at the kill p50 %.0f ms, p90 %.0f ms, max %.0f ms; %zu nodes saw it refuse\n",
               cluster.size(), Quantile(seconds, 0.5), Quantile(seconds, 0.9), Quantile(seconds, 1.0),
               Quantile(before.mean_ms, 0.5), Quantile(before.mean_ms, 0.9), Quantile(before.mean_ms, 1.0),
               by_evidence);
}

// When the last of the other running nodes saw node `i` down, in seconds after `since`.
double SecondsUntilAllSawDown(const SimCluster& cluster, size_t i, int64_t since) {
  int64_t last = since;
  for (size_t j = 0; j < cluster.size(); ++j) {
    if (j == i || !cluster.running(j)) continue;
    last = std::max(last, cluster.FirstEvent(j, "down", cluster.id(i), since));
  }
  return static_cast<double>(last - since) / 1000.0;
}

Figures Measure(size_t nodes, const Args& args) {
  Figures f;
  f.nodes = nodes;
  SimCluster cluster(args.seed, "", Options(nodes, args));
  if (!cluster.StartAll().ok()) return f;
  const int64_t start_ms = cluster.loop().now();
  f.rounds = RoundsUntil(cluster, kMaxRounds, [&] { return cluster.Converged(false); });
  if (f.rounds < 0) return f;
  Progress(nodes, cluster.loop().now() - start_ms, "converged");

  const uint64_t bytes = cluster.peer_bytes();
  cluster.RunFor(static_cast<int64_t>(args.steady_s) * 1000);
  f.bytes_per_node_s = static_cast<double>(cluster.peer_bytes() - bytes) / static_cast<double>(nodes) /
                       static_cast<double>(args.steady_s);

  const auto ring = cluster.membership(0)->CurrentRing();
  const auto replicated = ring::ReplicatedShares(*ring, 3);
  f.ring = ring::MaxShareOverMean(ring::Shares(*ring));
  f.replicated = ring::MaxShareOverMean(replicated);
  f.rack = ring::MaxRackShareOverFair(*ring, replicated);

  // One node joins: what moves to it.
  const ring::Ring before = *ring;
  Progress(nodes, cluster.loop().now() - start_ms, "traffic measured; a node joins");
  auto added = cluster.AddNode();
  f.moved = -1;
  if (added.ok() && RoundsUntil(cluster, kMaxJoinRounds, [&] { return cluster.MembershipSettled(); }) > 0) {
    f.moved = MovedReplicas(before, *cluster.membership(0)->CurrentRing(), 3) * static_cast<double>(nodes + 1);
  }
  Progress(nodes, cluster.loop().now() - start_ms, "joined; messages start to get lost");

  // Message loss: nobody alive may be judged down.
  LinkOptions lossy = cluster.network().options();
  const LinkOptions clean = lossy;
  lossy.drop = args.loss;
  cluster.network().set_options(lossy);
  const int64_t lossy_from = cluster.loop().now();
  cluster.RunFor(static_cast<int64_t>(args.loss_s) * 1000);
  f.false_downs = DownsSince(cluster, lossy_from);
  cluster.network().set_options(clean);
  Progress(nodes, cluster.loop().now() - start_ms, "a node is killed");

  // A node dies: when has every other seen it down?
  const size_t victim = nodes / 2;
  const DetectorView before_kill = ViewOf(cluster, victim);
  cluster.Kill(victim);
  const int64_t killed_at = cluster.loop().now();
  if (RoundsUntil(cluster, kMaxRounds, [&] { return cluster.AllSeeUp(victim, false); }) > 0) {
    f.detect_s = SecondsUntilAllSawDown(cluster, victim, killed_at);
    ReportDetection(cluster, victim, killed_at, before_kill);
  }

  // Another is paused (a stopped process: connections to it hang, none is
  // refused): only silence tells.
  Progress(nodes, cluster.loop().now() - start_ms, "a node is paused");
  const size_t paused = nodes / 3;
  cluster.Pause(paused);
  const int64_t paused_at = cluster.loop().now();
  if (RoundsUntil(cluster, kMaxRounds, [&] { return cluster.AllSeeUp(paused, false); }) > 0) {
    f.pause_s = SecondsUntilAllSawDown(cluster, paused, paused_at);
  }
  return f;
}

}  // namespace
}  // namespace dynkv::sim

int main(int argc, char** argv) {
  using dynkv::tools::WholeNumber;
  dynkv::sim::Args args;
  CLI::App app(R"(dynkv-sim-scale [options]

Grows a simulated cluster of the real gossip and ring code of dynkvd (no
storage) at each size and prints, one line per size:

  nodes       cluster size
  rounds      gossip rounds from one seed until every node sees every other up
  B/node/s    gossip bytes sent per node per second (requests and replies,
              steady state over --steady-s)
  ring        largest node's share of the ring over the mean (primary ranges)
  replicas    largest node's share of the keys it replicates (N=3) over the mean
  racks       largest rack's share of the replicas over its fair share
  moved       key replicas (N=3 per key) that moved when one node joined,
              over all of them, times n+1 (1.00: exactly the joiner's fair
              share; every one moves to the joiner)
  false_downs down events about live nodes during --loss-s seconds of --loss
  detect_s    seconds until every other node saw a killed node down
  pause_s     the same for a paused node (then, another one)

Nodes are placed round-robin in --racks racks of one datacenter. The
same seed and build give the same figures.)",
               "dynkv-sim-scale");
  app.set_help_flag("-h,--help", "this help");
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--nodes", args.sizes, "cluster sizes, comma-separated (default 10,100,1000)")->type_name("LIST");
  app.add_option("--seed", args.seed, "seed (default 1)")->type_name("N")->transform(WholeNumber(0, UINT64_MAX));
  app.add_option("--racks", args.racks, "racks (default 3)")->type_name("N")->transform(WholeNumber(1, 1000));
  app.add_option("--loss", args.loss, "message loss while counting false downs (default 0.05)")
      ->type_name("P")
      ->check(CLI::Range(0.0, 0.5));
  app.add_option("--steady-s", args.steady_s, "simulated seconds of traffic measured (default 10)")
      ->type_name("S")
      ->transform(WholeNumber(1, 3600));
  app.add_option("--loss-s", args.loss_s, "simulated seconds under loss (default 30)")
      ->type_name("S")
      ->transform(WholeNumber(1, 3600));
  app.add_option("--phi-threshold", args.phi_threshold,
                 "the nodes' failure_detector.phi_threshold (default " +
                     std::to_string(static_cast<int>(args.phi_threshold)) + ")")
      ->type_name("PHI")
      ->check(CLI::Range(1.0, 100.0));
  app.add_option("--max-digests", args.max_digests,
                 "the nodes' gossip.max_digests (default " + std::to_string(args.max_digests) + ")")
      ->type_name("N")
      ->transform(WholeNumber(8, 1'000'000));
  std::vector<size_t> sizes;
  try {
    app.parse(argc, argv);
    sizes = dynkv::sim::ParseSizes(args.sizes);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "dynkv-sim-scale: %s (try --help)\n", e.what());
    return 2;
  }
  dynkv::SetLogLevel(dynkv::LogLevel::kError);
  std::printf(
      "# dynkv-sim-scale --nodes %s --seed %llu --racks %llu --loss %.3f --steady-s %llu --loss-s %llu "
      "--phi-threshold %g --max-digests %llu\n",
      args.sizes.c_str(), static_cast<unsigned long long>(args.seed),
      static_cast<unsigned long long>(args.racks), args.loss, static_cast<unsigned long long>(args.steady_s),
      static_cast<unsigned long long>(args.loss_s), args.phi_threshold,
      static_cast<unsigned long long>(args.max_digests));
  std::printf("%6s %6s %10s %6s %8s %6s %6s %11s %8s %7s %7s\n", "nodes", "rounds", "B/node/s", "ring",
              "replicas", "racks", "moved", "false_downs", "detect_s", "pause_s", "wall_s");
  std::fflush(stdout);
  for (size_t n : sizes) {
    const auto start = std::chrono::steady_clock::now();
    const dynkv::sim::Figures f = dynkv::sim::Measure(n, args);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%6zu %6d %10.0f %6.3f %8.3f %6.3f %6.2f %11lld %8.2f %7.2f %7.0f\n", f.nodes, f.rounds,
                f.bytes_per_node_s, f.ring, f.replicated, f.rack, f.moved,
                static_cast<long long>(f.false_downs), f.detect_s, f.pause_s, wall);
    std::fflush(stdout);
  }
  return 0;
}
