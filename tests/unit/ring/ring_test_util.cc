#include "ring_test_util.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace dynkv::ring_test {

uint64_t BaseSeed() {
  const char* env = std::getenv("DYNKV_TEST_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 20240611;
}

std::string NodeName(size_t i, const std::string& prefix) {
  char number[32];
  std::snprintf(number, sizeof(number), "%03zu", i);
  return prefix + number;
}


Allocator Balanced(size_t vnodes) {
  return [vnodes](const ring::Ring& current, const std::string& node_id) {
    Result<std::vector<uint64_t>> tokens = ring::AllocateTokens(current, node_id, vnodes);
    REQUIRE_MESSAGE(tokens.ok(), tokens.status().ToString());
    return std::move(tokens).value();
  };
}

Allocator Random(size_t vnodes, uint64_t seed) {
  return [vnodes, seed](const ring::Ring&, const std::string& node_id) {
    return ring::RandomTokens(node_id, vnodes, seed);
  };
}

ring::TokenMap Grow(size_t nodes, const Allocator& allocate, const AfterJoin& after_join,
                    const std::string& prefix) {
  ring::TokenMap tokens;
  ring::Ring before;
  for (size_t i = 1; i <= nodes; ++i) {
    const std::string node_id = NodeName(i, prefix);
    tokens[node_id] = allocate(before, node_id);
    ring::Ring after(tokens);
    if (after_join) after_join(before, after, node_id);
    before = std::move(after);
  }
  return tokens;
}

double MovedFraction(const ring::Ring& before, const ring::Ring& after, const std::string& joiner,
                     bool* only_to_joiner) {
  constexpr double kRingSize = 18446744073709551616.0;
  double moved = 0;
  for (size_t i = 0; i < after.token_count(); ++i) {
    // Every position of range i has the owner its token has, before and after.
    const std::string& owner = after.nodes()[after.owner_index(i)];
    if (before.empty() || owner == before.Owner(after.token(i))) continue;
    if (owner != joiner) *only_to_joiner = false;
    const uint64_t start = after.token(i == 0 ? after.token_count() - 1 : i - 1);
    moved += after.token_count() == 1 ? kRingSize : static_cast<double>(after.token(i) - start);
  }
  return moved / kRingSize;
}

}  // namespace dynkv::ring_test
