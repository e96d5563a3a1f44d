// Shared helpers of the ring tests: the base seed, node names, and rings
// grown one node at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "ring/ring.h"

namespace dynkv::ring_test {

// The base seed of every randomized test: DYNKV_TEST_SEED when set (to replay
// a failure whose seed was printed), else a fixed value.
uint64_t BaseSeed();

// "node001", "node002", ... (or with another prefix): ids that sort in join
// order.
std::string NodeName(size_t i, const std::string& prefix = "node");


// Chooses the tokens of a joining node.
using Allocator = std::function<std::vector<uint64_t>(const ring::Ring& current, const std::string& node_id)>;

// AllocateTokens with `vnodes`, failing the test on an error.
Allocator Balanced(size_t vnodes);
// RandomTokens with `vnodes` and `seed`.
Allocator Random(size_t vnodes, uint64_t seed);

// Adds nodes NodeName(1..nodes, prefix) one at a time with `allocate`; after
// each join calls `after_join(ring before, ring after, joiner)`.
using AfterJoin =
    std::function<void(const ring::Ring& before, const ring::Ring& after, const std::string& joiner)>;
ring::TokenMap Grow(size_t nodes, const Allocator& allocate, const AfterJoin& after_join = nullptr,
                    const std::string& prefix = "node");

// The fraction of the ring whose owner differs between `before` and `after`,
// exactly, from the tokens. REQUIRES: `after` only adds tokens to `before`,
// so each range of `after` lies inside one range of `before`. Sets
// *only_to_joiner to false if a range moved to a node other than `joiner`.
double MovedFraction(const ring::Ring& before, const ring::Ring& after, const std::string& joiner,
                     bool* only_to_joiner);

}  // namespace dynkv::ring_test
