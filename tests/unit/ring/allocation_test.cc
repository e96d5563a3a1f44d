#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <set>

#include "common/key_hash.h"
#include "ring/ring.h"
#include "ring_test_util.h"

namespace dynkv::ring {

namespace {

using ring_test::Balanced;
using ring_test::Grow;

// The bound on the largest node's share over the mean.
constexpr double kMaxImbalance = 1.10;

// How many cluster sizes from 3 to `nodes` break kMaxImbalance when grown
// one node at a time with `allocate`.
size_t UnbalancedSizes(size_t nodes, const ring_test::Allocator& allocate, const std::string& prefix) {
  size_t unbalanced = 0;
  Grow(
      nodes, allocate,
      [&](const Ring&, const Ring& after, const std::string&) {
        if (after.nodes().size() >= 3 && MaxShareOverMean(Shares(after)) > kMaxImbalance) ++unbalanced;
      },
      prefix);
  return unbalanced;
}

bool StrictlyIncreasing(const std::vector<uint64_t>& tokens) {
  return std::adjacent_find(tokens.begin(), tokens.end(), std::greater_equal<>()) == tokens.end();
}

}  // namespace

TEST_CASE("the largest node owns at most 1.10 times the mean at every size from 3 to 100 nodes") {
  const uint64_t base = ring_test::BaseSeed();
  for (uint64_t round = 0; round < 3; ++round) {
    const uint64_t seed = base + round;
    CAPTURE(seed);
    // The seed only picks the node ids: the allocator itself is deterministic.
    const std::string prefix = "s" + std::to_string(seed) + "-node";
    CHECK(UnbalancedSizes(100, Balanced(kDefaultVnodes), prefix) == 0);
    // The same check fails for blind random tokens: the allocator is what passes it.
    CHECK(UnbalancedSizes(100, ring_test::Random(kDefaultVnodes, seed), prefix) > 50);
  }
}

TEST_CASE("with replicas, what each node replicates stays within 1.10 times the mean up to 120 nodes") {
  // What a node stores and serves is its replicated share; the allocator
  // for one replica balances the primary share only and leaves this at up to
  // 1.15 times the mean by 100 nodes.
  const uint64_t base = ring_test::BaseSeed();
  for (uint64_t round = 0; round < 2; ++round) {
    const uint64_t seed = base + round;
    CAPTURE(seed);
    const std::string prefix = "s" + std::to_string(seed) + "-node";
    for (size_t replicas : {2, 3, 5}) {
      CAPTURE(replicas);
      double worst_replicated = 0, worst_primary = 0, worst_moved = 0;
      bool only_to_joiner = true;
      const auto allocate = [replicas](const Ring& current, const std::string& node_id) {
        Result<std::vector<uint64_t>> tokens = AllocateTokens(current, node_id, kDefaultVnodes, replicas);
        REQUIRE(tokens.ok());
        REQUIRE(tokens->size() == kDefaultVnodes);
        REQUIRE(StrictlyIncreasing(*tokens));
        return std::move(tokens).value();
      };
      Grow(
          120, allocate,
          [&](const Ring& before, const Ring& after, const std::string& joiner) {
            const double n = static_cast<double>(after.nodes().size());
            worst_moved =
                std::max(worst_moved, ring_test::MovedFraction(before, after, joiner, &only_to_joiner) * n);
            // Up to `replicas` nodes every node keeps every key. With 2 or 3
            // replicas the shares are balanced from the next node on; with 5,
            // 6 nodes reach 1.15 (docs/BENCHMARKS.md), so 5 is held to it
            // from 10 nodes.
            const size_t first_checked = replicas < 5 ? replicas + 1 : 2 * replicas;
            if (after.nodes().size() < first_checked) return;
            worst_replicated =
                std::max(worst_replicated, MaxShareOverMean(ReplicatedShares(after, replicas)));
            worst_primary = std::max(worst_primary, MaxShareOverMean(Shares(after)));
          },
          prefix);
      CHECK(worst_replicated <= kMaxImbalance);
      CHECK(worst_primary <= kMaxImbalance);
      CHECK(only_to_joiner);
      CHECK(worst_moved <= 1.1);
    }
  }
}

TEST_CASE("adding a node moves about 1/(n+1) of the keys, all of them to the new node") {
  const uint64_t seed = ring_test::BaseSeed();
  CAPTURE(seed);
  std::vector<uint64_t> keys;
  for (int i = 0; i < 100000; ++i) {
    keys.push_back(KeyPosition("key-" + std::to_string(seed) + "-" + std::to_string(i)));
  }
  const std::set<size_t> sampled_sizes = {3, 4, 5, 8, 10, 16, 25, 50, 99};
  Grow(100, Balanced(kDefaultVnodes), [&](const Ring& before, const Ring& after, const std::string& joiner) {
    const size_t n = before.nodes().size();
    if (n == 0) return;
    CAPTURE(n);
    const double fair = 1.0 / static_cast<double>(n + 1);
    // Exactly, over the whole ring: the new node's fair share (to rounding),
    // never more.
    bool only_to_joiner = true;
    const double moved = ring_test::MovedFraction(before, after, joiner, &only_to_joiner);
    CHECK(only_to_joiner);
    CHECK(moved <= fair * (1 + 1e-9));
    CHECK(moved >= 0.99 * fair);
    if (sampled_sizes.count(n) == 0) return;
    // As users see it: keys hashed onto the ring. 15% is over four standard
    // deviations of sampling noise at 100 nodes (about 1,000 keys move).
    size_t moved_keys = 0, moved_elsewhere = 0;
    for (uint64_t key : keys) {
      const std::string& owner = after.Owner(key);
      if (owner == before.Owner(key)) continue;
      ++moved_keys;
      if (owner != joiner) ++moved_elsewhere;
    }
    CHECK(moved_elsewhere == 0);
    const double sampled = static_cast<double>(moved_keys) / static_cast<double>(keys.size());
    CHECK(sampled >= 0.85 * fair);
    CHECK(sampled <= 1.15 * fair);
  });
}

TEST_CASE("the first node's tokens are evenly spaced from an offset given by its id") {
  const std::vector<uint64_t> a = AllocateTokens(Ring(), "a", 16).value();
  REQUIRE(a.size() == 16);
  const Ring ring(TokenMap{{"a", a}});
  for (size_t i = 0; i < ring.token_count(); ++i) {
    const uint64_t previous = ring.token(i == 0 ? ring.token_count() - 1 : i - 1);
    CHECK(ring.token(i) - previous == uint64_t{1} << 60);
  }
  CHECK(AllocateTokens(Ring(), "b", 16).value() != a);
  CHECK(AllocateTokens(Ring(), "a", 1).value().size() == 1);
  CHECK(AllocateTokens(Ring(), "a", 3).value().size() == 3);
}

TEST_CASE("allocation is deterministic") {
  CHECK(Grow(30, Balanced(kDefaultVnodes)) == Grow(30, Balanced(kDefaultVnodes)));
  CHECK(RandomTokens("x", 16, 7) == RandomTokens("x", 16, 7));
  CHECK(RandomTokens("x", 16, 7) != RandomTokens("x", 16, 8));
}

TEST_CASE("every joiner gets exactly vnodes new tokens, whatever the others have") {
  const uint64_t base = ring_test::BaseSeed();
  for (uint64_t round = 0; round < 20; ++round) {
    const uint64_t seed = base + round;
    CAPTURE(seed);
    std::mt19937_64 random(seed);
    const size_t choices[] = {1, 2, 3, 16, 64, 256};
    const auto allocate = [&](const Ring& current, const std::string& node_id) {
      const size_t vnodes = choices[random() % std::size(choices)];
      const size_t replicas = 1 + random() % 3;
      CAPTURE(vnodes);
      CAPTURE(replicas);
      CAPTURE(current.nodes().size());
      Result<std::vector<uint64_t>> tokens = AllocateTokens(current, node_id, vnodes, replicas);
      REQUIRE(tokens.ok());
      CHECK(tokens->size() == vnodes);
      CHECK(StrictlyIncreasing(*tokens));
      for (uint64_t t : *tokens) {
        const bool taken = !current.empty() && current.token(current.TokenIndexFor(t)) == t;
        CHECK_FALSE(taken);
      }
      return std::move(tokens).value();
    };
    const auto check_moved = [](const Ring& before, const Ring& after, const std::string& joiner) {
      bool only_to_joiner = true;
      const double moved = ring_test::MovedFraction(before, after, joiner, &only_to_joiner);
      CHECK(only_to_joiner);
      CHECK(moved <= 1.0 / static_cast<double>(before.nodes().size() + 1) * (1 + 1e-9));
    };
    Grow(12, allocate, check_moved);
  }
}

TEST_CASE("allocation rejects bad arguments") {
  const Ring ring(TokenMap{{"a", {1, 2}}, {"idle", {}}});
  const Ring three(TokenMap{{"a", {1, 2}}, {"b", {3}}, {"c", {4}}});
  CHECK(AllocateTokens(three, "d", 0, 2).status().code() == Code::kInvalidArgument);
  CHECK(AllocateTokens(three, "a", 4, 2).status().code() == Code::kInvalidArgument);
  CHECK(AllocateTokens(three, "", 4, 2).status().code() == Code::kInvalidArgument);
  CHECK(AllocateTokens(ring, "b", 0).status().code() == Code::kInvalidArgument);
  CHECK(AllocateTokens(ring, "b", kMaxVnodes + 1).status().code() == Code::kInvalidArgument);
  CHECK(AllocateTokens(ring, "", 4).status().code() == Code::kInvalidArgument);
  CHECK(AllocateTokens(ring, "a", 4).status().code() == Code::kInvalidArgument);
  // A member that owns nothing yet may take tokens.
  CHECK(AllocateTokens(ring, "idle", 4).ok());
  CHECK(AllocateTokens(ring, "b", kMaxVnodes).ok());
}

TEST_CASE("random tokens are distinct and sorted") {
  const std::vector<uint64_t> tokens = RandomTokens("n", 1000, ring_test::BaseSeed());
  CHECK(tokens.size() == 1000);
  CHECK(StrictlyIncreasing(tokens));
}

}  // namespace dynkv::ring
