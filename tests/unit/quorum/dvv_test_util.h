// Shared helpers of the dvv tests: a seeded random source, an invariant
// checker for Object, and a generator of objects from random histories.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/object.h"

namespace dynkv::dvv_test {

// The base seed of every randomized test: DYNKV_TEST_SEED when set (to replay
// a failure whose seed was printed), else a fixed value.
uint64_t BaseSeed();

// Deterministic across runs and platforms for one seed (plain modulo instead
// of the implementation-defined std distributions).
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  uint64_t Next() { return engine_(); }
  // REQUIRES: n > 0
  uint64_t Below(uint64_t n) { return engine_() % n; }
  bool OneIn(uint64_t n) { return Below(n) == 0; }
  template <typename T>
  const T& Pick(const std::vector<T>& items) {
    return items[Below(items.size())];
  }

 private:
  std::mt19937_64 engine_;
};

// The actor of replica `index` in the simulated clusters.
ActorId ReplicaActor(size_t index);

// Empty when `object` holds the invariants of common/object.h and its siblings
// are sorted by dot; otherwise a description of the first violation.
std::string InvariantViolation(const Object& object);

// A value or tombstone with random metadata (its dot is left for Update).
Sibling RandomSibling(Rng& rng);

// Runs `steps` random operations over `replicas` replicas, one actor each: a
// write at a replica with a context read from any earlier state (or none), or
// a replica syncing with any earlier state. Returns every state reached, the
// empty object first.
std::vector<Object> RandomHistory(Rng& rng, size_t replicas, int steps);

// A readable form of an object for failure messages.
std::string Describe(const Object& object);

}  // namespace dynkv::dvv_test

// Lets doctest print objects in failed comparisons.
template <>
struct doctest::StringMaker<dynkv::Object> {
  static doctest::String convert(const dynkv::Object& object) {
    return dynkv::dvv_test::Describe(object).c_str();
  }
};
