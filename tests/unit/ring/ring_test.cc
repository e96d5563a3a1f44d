#include "ring/ring.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <random>

#include "ring_test_util.h"

namespace dynkv::ring {

namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
constexpr uint64_t kQuarter = uint64_t{1} << 62;

// The owner by definition: the first token at or after the position, else
// the first token of the ring; a token claimed twice belongs to the smaller id.
std::string OwnerByScan(const TokenMap& tokens, uint64_t position) {
  std::vector<std::pair<uint64_t, std::string>> all;
  for (const auto& [node, node_tokens] : tokens) {
    for (uint64_t t : node_tokens) all.emplace_back(t, node);
  }
  std::sort(all.begin(), all.end());
  for (const auto& [t, node] : all) {
    if (t >= position) return node;
  }
  return all.front().second;
}

}  // namespace

TEST_CASE("a key belongs to the owner of the first token at or after its position") {
  const Ring ring(TokenMap{{"a", {100}}, {"b", {200}}, {"c", {300}}});
  CHECK(ring.Owner(50) == "a");
  CHECK(ring.Owner(100) == "a");  // exactly on a token: that token's owner
  CHECK(ring.Owner(101) == "b");
  CHECK(ring.Owner(200) == "b");
  CHECK(ring.Owner(300) == "c");
  // Past the last token the ring wraps to the first.
  CHECK(ring.Owner(301) == "a");
  CHECK(ring.Owner(kMax) == "a");
  CHECK(ring.Owner(0) == "a");
}

TEST_CASE("tokens at both ends of the position space") {
  const Ring ring(TokenMap{{"a", {0}}, {"b", {kMax}}});
  CHECK(ring.Owner(0) == "a");
  CHECK(ring.Owner(1) == "b");
  CHECK(ring.Owner(kMax) == "b");
}

TEST_CASE("Owner agrees with a linear scan on random rings") {
  const uint64_t base = ring_test::BaseSeed();
  for (uint64_t round = 0; round < 200; ++round) {
    const uint64_t seed = base + round;
    CAPTURE(seed);
    std::mt19937_64 random(seed);
    TokenMap tokens;
    const size_t nodes = 1 + random() % 6;
    for (size_t n = 0; n < nodes; ++n) {
      // Few distinct values, so that positions land on tokens and tokens collide.
      for (size_t t = random() % 4; t > 0; --t) tokens[ring_test::NodeName(n)].push_back(random() % 64);
    }
    const Ring ring(tokens);
    if (ring.empty()) continue;
    for (uint64_t position = 0; position < 70; ++position) {
      CAPTURE(position);
      CHECK(ring.Owner(position) == OwnerByScan(tokens, position));
    }
  }
}

TEST_CASE("a token claimed by two nodes goes to the smaller node id") {
  const Ring ring(TokenMap{{"b", {10, 20}}, {"a", {20, 30}}, {"c", {30, 30}}});
  CHECK(ring.token_count() == 3);
  CHECK(ring.Owner(20) == "a");
  CHECK(ring.Owner(30) == "a");
  CHECK(ring.TokensOf("a") == std::vector<uint64_t>{20, 30});
  CHECK(ring.TokensOf("b") == std::vector<uint64_t>{10});
  CHECK(ring.TokensOf("c").empty());
  CHECK(ring.ToTokenMap() == TokenMap{{"a", {20, 30}}, {"b", {10}}, {"c", {}}});
}

TEST_CASE("a node without tokens is a member that owns nothing") {
  const Ring ring(TokenMap{{"a", {kQuarter}}, {"idle", {}}});
  CHECK(ring.nodes() == std::vector<std::string>{"a", "idle"});
  CHECK(ring.HasNode("idle"));
  CHECK_FALSE(ring.HasNode("other"));
  CHECK(ring.Owner(0) == "a");
  CHECK(ring.Owner(kMax) == "a");
  const auto shares = Shares(ring);
  CHECK(shares.at("a") == 1.0);
  CHECK(shares.at("idle") == 0.0);
  CHECK(ring.PreferenceList(0, 3).size() == 1);
}

TEST_CASE("the empty ring has no owners and no preference lists") {
  const Ring ring;
  CHECK(ring.empty());
  CHECK(ring.PreferenceList(123, 3).empty());
  CHECK(Shares(ring).empty());
}

TEST_CASE("shares are the lengths of the ranges each node owns") {
  // a owns (3q, q] across the wrap: half the ring; b owns (q, 2q], c (2q, 3q].
  const Ring ring(TokenMap{{"a", {kQuarter}}, {"b", {2 * kQuarter}}, {"c", {3 * kQuarter}}});
  const auto shares = Shares(ring);
  CHECK(shares.at("a") == doctest::Approx(0.5));
  CHECK(shares.at("b") == doctest::Approx(0.25));
  CHECK(shares.at("c") == doctest::Approx(0.25));
  // With two replicas, a key of a's range is also on b, b's on c, c's on a.
  const auto replicated = ReplicatedShares(ring, 2);
  CHECK(replicated.at("a") == doctest::Approx(0.75));
  CHECK(replicated.at("b") == doctest::Approx(0.75));
  CHECK(replicated.at("c") == doctest::Approx(0.5));
  // More replicas than nodes: every node holds every key.
  for (const auto& [node, share] : ReplicatedShares(ring, 5)) CHECK(share == doctest::Approx(1.0));
  // One token owns the whole ring.
  CHECK(Shares(Ring(TokenMap{{"solo", {7}}})).at("solo") == 1.0);
}

}  // namespace dynkv::ring
