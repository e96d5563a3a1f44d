// Sync: the merge of two replicas must be a join (commutative, associative,
// idempotent) so replicas converge whatever order anti-entropy runs in.
#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "dvv_test_util.h"
#include "quorum/dvv.h"

namespace dynkv::dvv {
namespace {

using dvv_test::InvariantViolation;

bool Holds(const Object& object, const Sibling& sibling) {
  return std::find(object.siblings.begin(), object.siblings.end(), sibling) != object.siblings.end();
}

bool HoldsDot(const Object& object, const Dot& dot) {
  return std::any_of(object.siblings.begin(), object.siblings.end(),
                     [&](const Sibling& s) { return s.dot == dot; });
}

TEST_CASE("Sync is commutative, associative and idempotent over objects from random histories") {
  const uint64_t base = dvv_test::BaseSeed();
  int cases = 0;
  for (uint64_t round = 0; round < 100; ++round) {
    const uint64_t seed = base + round;
    CAPTURE(seed);
    dvv_test::Rng rng(seed);
    const std::vector<Object> states = dvv_test::RandomHistory(rng, 3, 40);
    for (int i = 0; i < 40; ++i, ++cases) {
      const Object& a = rng.Pick(states);
      const Object& b = rng.Pick(states);
      const Object& c = rng.Pick(states);
      CAPTURE(a);
      CAPTURE(b);
      CAPTURE(c);
      const Object ab = Sync(a, b);
      REQUIRE(InvariantViolation(ab) == "");
      CHECK(ab == Sync(b, a));
      CHECK(Sync(ab, c) == Sync(a, Sync(b, c)));
      CHECK(Sync(a, a) == a);
      CHECK(Sync(ab, b) == ab);
      CHECK(Sync(a, Object{}) == a);
    }
  }
  CHECK(cases >= 4000);
}

TEST_CASE("Sync keeps exactly the siblings the other side has not replaced") {
  const uint64_t base = dvv_test::BaseSeed();
  for (uint64_t round = 0; round < 100; ++round) {
    const uint64_t seed = base + round;
    CAPTURE(seed);
    dvv_test::Rng rng(seed);
    const std::vector<Object> states = dvv_test::RandomHistory(rng, 3, 40);
    for (int i = 0; i < 20; ++i) {
      const Object& a = rng.Pick(states);
      const Object& b = rng.Pick(states);
      CAPTURE(a);
      CAPTURE(b);
      const Object merged = Sync(a, b);
      CAPTURE(merged);
      VersionVector vv = a.vv;
      vv.Merge(b.vv);
      CHECK(merged.vv == vv);
      for (const auto& [mine, theirs] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
        for (const Sibling& s : mine->siblings) {
          const bool replaced = theirs->vv.Covers(s.dot) && !HoldsDot(*theirs, s.dot);
          CHECK(Holds(merged, s) == !replaced);
        }
      }
      for (const Sibling& s : merged.siblings) CHECK((Holds(a, s) || Holds(b, s)));
    }
  }
}

TEST_CASE("a replica's own write dominates the state it was applied to") {
  const uint64_t base = dvv_test::BaseSeed();
  for (uint64_t round = 0; round < 100; ++round) {
    const uint64_t seed = base + round;
    CAPTURE(seed);
    dvv_test::Rng rng(seed);
    const std::vector<Object> states = dvv_test::RandomHistory(rng, 3, 30);
    for (int i = 0; i < 10; ++i) {
      const Object& current = rng.Pick(states);
      const Object written = Update(current, rng.Pick(states).vv, "writer", dvv_test::RandomSibling(rng));
      CAPTURE(current);
      CHECK(Sync(current, written) == written);
      CHECK(Sync(written, current) == written);
    }
  }
}

TEST_CASE("Sync picks the same sibling whichever side holds a conflicting copy of a dot") {
  // Only a bug or a reused actor can make this; replicas must still converge.
  Object a;
  a.vv = VersionVector({{"a", 1}});
  a.siblings = {Sibling{Dot{"a", 1}, false, "left", 10, 0}};
  Object b = a;
  b.siblings[0].value = "right";
  const Object ab = Sync(a, b);
  CHECK(ab == Sync(b, a));
  REQUIRE(ab.siblings.size() == 1);
  CHECK(ab.siblings[0].value == "right");
  CHECK(Sync(ab, a) == ab);
}

TEST_CASE("Sync of concurrent writes keeps both; a later write that saw both replaces them") {
  const Object left = Update(Object{}, {}, "a", Sibling{Dot{}, false, "x", 0, 0});
  const Object right = Update(Object{}, {}, "b", Sibling{Dot{}, false, "y", 0, 0});
  const Object both = Sync(left, right);
  REQUIRE(both.siblings.size() == 2);
  CHECK(both.siblings[0].value == "x");
  CHECK(both.siblings[1].value == "y");

  const Object resolved = Update(right, both.vv, "b", Sibling{Dot{}, false, "z", 0, 0});
  const Object converged = Sync(left, resolved);
  REQUIRE(converged.siblings.size() == 1);
  CHECK(converged.siblings[0].value == "z");
  CHECK(converged == Sync(resolved, both));
}

}  // namespace
}  // namespace dynkv::dvv
