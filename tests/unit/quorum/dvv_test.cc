// Update: how a client write replaces or joins the siblings it read.
#include "quorum/dvv.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "dvv_test_util.h"

namespace dynkv::dvv {
namespace {

using dvv_test::InvariantViolation;

Sibling Value(std::string value) { return Sibling{Dot{}, false, std::move(value), 0, 0}; }
Sibling Tombstone() { return Sibling{Dot{}, true, "", 0, 0}; }

std::vector<std::string> Values(const Object& object) {
  std::vector<std::string> values;
  for (const Sibling& s : object.siblings) values.push_back(s.tombstone ? "<tomb>" : s.value);
  std::sort(values.begin(), values.end());
  return values;
}

TEST_CASE("two writes without a context become two siblings") {
  Object obj = Update(Object{}, {}, "a", Value("x"));
  obj = Update(obj, {}, "a", Value("y"));
  CHECK(Values(obj) == std::vector<std::string>{"x", "y"});
  CHECK(obj.siblings[0].dot == Dot{"a", 1});
  CHECK(obj.siblings[1].dot == Dot{"a", 2});
  CHECK(obj.vv == VersionVector({{"a", 2}}));
  CHECK(InvariantViolation(obj) == "");
}

TEST_CASE("writes from one stale context replace what it saw and stay siblings of each other") {
  const Object base = Update(Object{}, {}, "a", Value("old"));
  const VersionVector stale = base.vv;
  Object obj = Update(base, stale, "a", Value("x"));
  obj = Update(obj, stale, "b", Value("y"));
  CHECK(Values(obj) == std::vector<std::string>{"x", "y"});
  CHECK(obj.vv == VersionVector({{"a", 2}, {"b", 1}}));
  CHECK(InvariantViolation(obj) == "");
}

TEST_CASE("a write whose context is everything read replaces every sibling") {
  Object left = Update(Object{}, {}, "a", Value("x"));
  left = Update(left, {}, "a", Value("y"));
  const Object right = Update(Object{}, {}, "b", Value("z"));
  const Object read = Sync(left, right);
  REQUIRE(read.siblings.size() == 3);

  const Object obj = Update(read, read.vv, "b", Value("final"));
  REQUIRE(obj.siblings.size() == 1);
  CHECK(obj.siblings[0].value == "final");
  CHECK(obj.siblings[0].dot == Dot{"b", 2});
  CHECK(obj.vv == VersionVector({{"a", 2}, {"b", 2}}));
}

TEST_CASE("a tombstone written with a covering context leaves only the tombstone") {
  Object obj = Update(Object{}, {}, "a", Value("x"));
  obj = Update(obj, {}, "b", Value("y"));
  obj = Update(obj, obj.vv, "a", Tombstone());
  REQUIRE(obj.siblings.size() == 1);
  CHECK(obj.siblings[0].tombstone);
  CHECK_FALSE(obj.siblings[0].LiveAt(0));
  CHECK(obj.siblings[0].dot == Dot{"a", 2});
}

TEST_CASE("a write counts past a context read at another replica") {
  // The client read {a:5} elsewhere; this replica of actor a lost its state
  // for the key (or never got it), yet must not mint a:1..a:5 again.
  const VersionVector context({{"a", 5}, {"c", 2}});
  const Object obj = Update(Object{}, context, "a", Value("x"));
  REQUIRE(obj.siblings.size() == 1);
  CHECK(obj.siblings[0].dot == Dot{"a", 6});
  CHECK(obj.vv == VersionVector({{"a", 6}, {"c", 2}}));
}

TEST_CASE("Update overwrites the sibling's dot and keeps its value and metadata") {
  const Sibling written{Dot{"forged", 99}, false, "payload", 1234, 5678};
  const Object obj = Update(Object{}, {}, "a", written);
  REQUIRE(obj.siblings.size() == 1);
  CHECK(obj.siblings[0] == Sibling{Dot{"a", 1}, false, "payload", 1234, 5678});
  CHECK(obj.vv == VersionVector({{"a", 1}}));
}

TEST_CASE("Update mints a fresh dot and drops exactly the siblings its context covers") {
  const uint64_t base = dvv_test::BaseSeed();
  for (uint64_t round = 0; round < 100; ++round) {
    const uint64_t seed = base + round;
    CAPTURE(seed);
    dvv_test::Rng rng(seed);
    const std::vector<Object> states = dvv_test::RandomHistory(rng, 3, 30);
    for (int i = 0; i < 20; ++i) {
      const Object& current = rng.Pick(states);
      const VersionVector& context = rng.Pick(states).vv;
      const ActorId actor = dvv_test::ReplicaActor(rng.Below(4));
      const Sibling written = dvv_test::RandomSibling(rng);
      const Object result = Update(current, context, actor, written);
      CAPTURE(current);
      CAPTURE(result);
      REQUIRE(InvariantViolation(result) == "");

      const Dot minted{actor, std::max(current.vv.Get(actor), context.Get(actor)) + 1};
      CHECK_FALSE(current.vv.Covers(minted));
      CHECK_FALSE(context.Covers(minted));
      VersionVector expected_vv = current.vv;
      expected_vv.Merge(context);
      expected_vv.Raise(actor, minted.counter);
      CHECK(result.vv == expected_vv);

      std::vector<Sibling> expected;
      for (const Sibling& s : current.siblings) {
        if (!context.Covers(s.dot)) expected.push_back(s);
      }
      Sibling stamped = written;
      stamped.dot = minted;
      expected.push_back(stamped);
      std::sort(expected.begin(), expected.end(),
                [](const Sibling& x, const Sibling& y) { return x.dot < y.dot; });
      CHECK(result.siblings == expected);
    }
  }
}

}  // namespace
}  // namespace dynkv::dvv

namespace dynkv::dvv {
namespace {

// A key deleted, its tombstone reaped on replica A but not yet on C, then
// written again at A with nothing to read: without a floor A mints a dot
// C's tombstone already covers, and C drops the new value as seen.
TEST_CASE("a write into a reaped key keeps its value against a replica still holding the tombstone") {
  Object object = Update(Object{}, {}, "a", Value("v1"));
  object = Update(object, object.vv, "a", Value("v2"));
  const Object tombstone_on_c = Update(object, object.vv, "a", Tombstone());  // a:3
  // A reaped the key: it holds nothing, and the client read nothing.
  const Object without_floor = Update(Object{}, {}, "a", Value("again"));
  CHECK(Values(Sync(without_floor, tombstone_on_c)) == std::vector<std::string>{"<tomb>"});  // lost
  const Object with_floor = Update(Object{}, {}, "a", Value("again"), /*floor=*/4);
  CHECK(with_floor.siblings[0].dot == Dot{"a", 4});
  CHECK(Values(Sync(with_floor, tombstone_on_c)) == std::vector<std::string>{"again"});
  CHECK(Values(Sync(tombstone_on_c, with_floor)) == std::vector<std::string>{"again"});
  CHECK(InvariantViolation(with_floor) == "");
}

TEST_CASE("a floor below the key's own counter changes nothing") {
  Object object = Update(Object{}, {}, "a", Value("v1"));
  object = Update(object, object.vv, "a", Value("v2"));
  CHECK(Update(object, object.vv, "a", Value("v3"), /*floor=*/1).siblings[0].dot == Dot{"a", 3});
}

}  // namespace
}  // namespace dynkv::dvv
