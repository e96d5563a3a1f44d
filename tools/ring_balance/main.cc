// dynkv-ring-balance: how evenly the token allocator spreads the ring,
// against blind random tokens, for clusters grown one node at a time. The
// table is the one in docs/BENCHMARKS.md; the figures are exact ring
// fractions, not samples, so a run is deterministic.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "command_line.h"
#include "ring/ring.h"

namespace dynkv::ring {

namespace {

struct Options {
  uint64_t vnodes = kDefaultVnodes;
  uint64_t max_nodes = 100;
  uint64_t replication = 3;
  uint64_t seed = 1;
  uint64_t racks = 1;
};

// Returns 0 when the arguments parse, else the exit status.
int ParseArgs(int argc, char** argv, Options* options) {
  CLI::App app(R"(Grows two rings one node at a time, from 1 node to --max-nodes: one with
AllocateTokensAt for --replication replicas (the allocator dynkvd uses when a
node first joins), one with blind random tokens. For every size from 3 nodes
up it prints:

  nodes        cluster size n
  vnodes       tokens per node
  alloc        largest node's share of the ring / mean share (1/n), allocator
  random       the same for random tokens
  alloc_rN     largest node's share of the keys it replicates (preference
               lists of N nodes) / mean share (N/n), allocator
  random_rN    the same for random tokens
  moved        fraction of the keys that changed owner when node n joined,
               times n (1.00: exactly the new node's fair share of 1/n)
  racks        largest rack's share of the replicas over its fair share
               (its nodes' part), allocator

With --racks K the nodes are placed round-robin in K racks of one
datacenter: the allocator takes tokens against the node's rack
(AllocateTokensAt, as dynkvd does) and the rN columns place replicas on
distinct racks (as the nodes do), for both rings.

Then the worst value of each column over all sizes (the smallest for
moved). Every figure is an exact fraction of the 64-bit ring, computed from
the tokens, not sampled. It exits with status 1 if a key ever moved to a
node other than the one joining.)",
               "dynkv-ring-balance");
  app.set_help_flag("-h,--help", "this text");
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--vnodes", options->vnodes, "tokens per node (default " + std::to_string(kDefaultVnodes) + ")")
      ->type_name("N")
      ->transform(tools::WholeNumber(1, kMaxVnodes));
  app.add_option("--max-nodes", options->max_nodes, "largest cluster, at least 3 (default 100)")
      ->type_name("N")
      ->transform(tools::WholeNumber(3, 10000));
  app.add_option("--replication", options->replication, "replicas per key for the rN columns (default 3)")
      ->type_name("N")
      ->transform(tools::WholeNumber(1, UINT64_MAX));
  app.add_option("--racks", options->racks, "racks the nodes are placed in, round-robin (default 1)")
      ->type_name("K")
      ->transform(tools::WholeNumber(1, 1000));
  app.add_option("--seed", options->seed, "seed of the random tokens (default 1)")
      ->type_name("N")
      ->transform(tools::WholeNumber(0, UINT64_MAX));
  if (std::optional<std::string> error = tools::ParseOrHelp(app, argc, argv)) {
    std::fprintf(stderr, "dynkv-ring-balance: %s (try --help)\n", error->c_str());
    return 2;
  }
  return 0;
}

std::string NodeName(size_t i) { return "node" + std::to_string(i); }

// The fraction of the ring whose owner differs between `before` and `after`,
// where `after` only adds tokens: each range of `after` then lies inside one
// range of `before`. Sets *only_to_joiner to false if some range moved to a
// node other than `joiner`.
double MovedFraction(const Ring& before, const Ring& after, const std::string& joiner, bool* only_to_joiner) {
  double moved = 0;
  for (size_t i = 0; i < after.token_count(); ++i) {
    const std::string& owner = after.nodes()[after.owner_index(i)];
    if (owner == before.Owner(after.token(i))) continue;
    if (owner != joiner) *only_to_joiner = false;
    const uint64_t start = after.token(i == 0 ? after.token_count() - 1 : i - 1);
    moved += static_cast<double>(after.token(i) - start) / 18446744073709551616.0;
  }
  return moved;
}

int Run(const Options& options) {
  const auto vnodes = static_cast<size_t>(options.vnodes);
  const auto replication = static_cast<size_t>(options.replication);
  TokenMap balanced, random;
  Topology topology;
  std::printf("# dynkv-ring-balance --vnodes %zu --max-nodes %zu --replication %zu --racks %zu --seed %llu\n",
              vnodes, static_cast<size_t>(options.max_nodes), replication, static_cast<size_t>(options.racks),
              static_cast<unsigned long long>(options.seed));
  std::printf("%6s %6s %7s %7s %9s %9s %6s %6s\n", "nodes", "vnodes", "alloc", "random",
              ("alloc_r" + std::to_string(replication)).c_str(),
              ("random_r" + std::to_string(replication)).c_str(), "moved", "racks");
  double worst[6] = {0, 0, 0, 0, 2, 0};
  bool only_to_joiner = true;
  for (size_t n = 1; n <= options.max_nodes; ++n) {
    const std::string node = NodeName(n);
    const Location location{"dc1", "rack" + std::to_string((n - 1) % options.racks + 1)};
    const Ring before(balanced, topology);
    topology.locations[node] = location;
    Result<std::vector<uint64_t>> tokens = AllocateTokensAt(before, node, location, vnodes, replication);
    if (!tokens.ok()) {
      std::fprintf(stderr, "dynkv-ring-balance: %s\n", tokens.status().ToString().c_str());
      return 1;
    }
    balanced[node] = std::move(tokens).value();
    random[node] = RandomTokens(node, vnodes, options.seed);
    if (n < 3) continue;
    const Ring balanced_ring(balanced, topology), random_ring(random, topology);
    const std::map<std::string, double> replicated = ReplicatedShares(balanced_ring, replication);
    const double row[6] = {
        MaxShareOverMean(Shares(balanced_ring)),
        MaxShareOverMean(Shares(random_ring)),
        MaxShareOverMean(replicated),
        MaxShareOverMean(ReplicatedShares(random_ring, replication)),
        MovedFraction(before, balanced_ring, node, &only_to_joiner) * static_cast<double>(n),
        MaxRackShareOverFair(balanced_ring, replicated),
    };
    for (int c : {0, 1, 2, 3, 5}) worst[c] = std::max(worst[c], row[c]);
    worst[4] = std::min(worst[4], row[4]);
    std::printf("%6zu %6zu %7.3f %7.3f %9.3f %9.3f %6.2f %6.3f\n", n, vnodes, row[0], row[1], row[2], row[3],
                row[4], row[5]);
  }
  std::printf("%6s %6zu %7.3f %7.3f %9.3f %9.3f %6.2f %6.3f\n", "worst", vnodes, worst[0], worst[1], worst[2],
              worst[3], worst[4], worst[5]);
  if (!only_to_joiner) {
    std::fprintf(stderr, "dynkv-ring-balance: keys moved between old nodes\n");
    return 1;
  }
  return 0;
}

}  // namespace

}  // namespace dynkv::ring

int main(int argc, char** argv) {
  dynkv::ring::Options options;
  if (const int status = dynkv::ring::ParseArgs(argc, argv, &options); status != 0) return status;
  return dynkv::ring::Run(options);
}
