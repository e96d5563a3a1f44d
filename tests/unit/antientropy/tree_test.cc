// antientropy::HashTree and ObjectDigest: a leaf is the XOR of its keys'
// digests, kept by delta; the checkpoint round-trips and refuses damage.
#include "antientropy/tree.h"

#include <doctest/doctest.h>

#include <map>
#include <random>
#include <string>

#include "common/key_hash.h"

namespace dynkv::antientropy {
namespace {

Object Versioned(const std::string& actor, uint64_t counter, std::string value = "v") {
  Object object;
  object.vv = VersionVector({{actor, counter}});
  object.siblings.push_back(Sibling{Dot{actor, counter}, false, std::move(value), 1000, 0});
  return object;
}

TEST_CASE("a digest names the key and its versions, not the encoding of the value") {
  const Object a = Versioned("n1.a", 3, "hello");
  CHECK(ObjectDigest("k", Object{}) == 0);
  CHECK(ObjectDigest("k", a) != 0);
  CHECK(ObjectDigest("k", a) == ObjectDigest("k", Versioned("n1.a", 3, "other bytes")));
  CHECK(ObjectDigest("k", a) != ObjectDigest("j", a));
  CHECK(ObjectDigest("k", a) != ObjectDigest("k", Versioned("n1.a", 4, "hello")));
  Object tombstone = a;
  tombstone.siblings[0].tombstone = true;
  CHECK(ObjectDigest("k", a) != ObjectDigest("k", tombstone));
  Object expiring = a;
  expiring.siblings[0].expires_at_ms = 5000;
  CHECK(ObjectDigest("k", a) != ObjectDigest("k", expiring));
}

TEST_CASE("leaves kept by delta equal leaves computed from scratch, in any order of writes") {
  std::mt19937_64 rng(7);
  HashTree by_delta;
  std::map<std::string, uint64_t> current;  // key -> digest now
  for (int i = 0; i < 20'000; ++i) {
    const std::string key = "key-" + std::to_string(rng() % 3000);
    const uint64_t before = current.count(key) ? current[key] : 0;
    const uint64_t after = rng() % 5 == 0 ? 0 : ObjectDigest(key, Versioned("a", 1 + rng() % 50));
    by_delta.Apply(KeyPosition(key), before, after);
    if (after == 0) {
      current.erase(key);
    } else {
      current[key] = after;
    }
  }
  HashTree scratch;
  for (const auto& [key, digest] : current) scratch.Add(KeyPosition(key), digest);
  CHECK(by_delta == scratch);
  uint64_t root_delta = 0, root_scratch = 0;
  for (uint32_t b = 0; b < kBranches; ++b) {
    root_delta ^= by_delta.Branch(b);
    root_scratch ^= scratch.Branch(b);
  }
  CHECK(root_delta == root_scratch);
}

TEST_CASE("each branch hash is the XOR of its leaves after deltas, adds, set leaves and a restore") {
  auto check_branches = [](const HashTree& tree) {
    for (uint32_t b = 0; b < kBranches; ++b) {
      uint64_t expected = 0;
      for (uint32_t s = b * kLeavesPerBranch; s < (b + 1) * kLeavesPerBranch; ++s) expected ^= tree.leaf(s);
      REQUIRE(tree.Branch(b) == expected);
    }
  };
  std::mt19937_64 rng(5);
  HashTree tree;
  for (int i = 0; i < 5000; ++i) {
    const uint64_t position = rng();
    switch (i % 3) {
      case 0:
        tree.Apply(position, rng() % 4 ? rng() : 0, rng() % 4 ? rng() : 0);
        break;
      case 1:
        tree.Add(position, rng());
        break;
      default:
        tree.set_leaf(SegmentOf(position), rng());
        break;
    }
  }
  check_branches(tree);
  HashTree restored;
  REQUIRE(restored.Deserialize(tree.Serialize()).ok());
  check_branches(restored);
}

TEST_CASE("segments and branches cut the ring evenly") {
  CHECK(SegmentOf(0) == 0);
  CHECK(SegmentOf(~uint64_t{0}) == kSegments - 1);
  CHECK(SegmentOf(SegmentFirst(12345)) == 12345);
  CHECK(SegmentOf(SegmentLast(12345)) == 12345);
  CHECK(SegmentLast(12345) + 1 == SegmentFirst(12346));
  CHECK(BranchOf(kLeavesPerBranch - 1) == 0);
  CHECK(BranchOf(kLeavesPerBranch) == 1);
  CHECK(BranchOf(kSegments - 1) == kBranches - 1);
}

TEST_CASE("a checkpoint restores the tree, and damaged bytes are refused") {
  HashTree tree;
  for (int i = 0; i < 1000; ++i) tree.Add(KeyPosition("k" + std::to_string(i)), 0x1234 + i);
  const std::string bytes = tree.Serialize();
  HashTree restored;
  REQUIRE(restored.Deserialize(bytes).ok());
  CHECK(restored == tree);
  CHECK(restored.keys() == 1000);

  HashTree untouched;
  std::string flipped = bytes;
  flipped[100] ^= 1;
  CHECK(untouched.Deserialize(flipped).code() == Code::kCorruption);
  CHECK(untouched.Deserialize(bytes.substr(0, bytes.size() - 1)).code() == Code::kCorruption);
  CHECK(untouched.Deserialize("").code() == Code::kCorruption);
  CHECK(untouched == HashTree());
}

TEST_CASE("the tree counts its keys: added, created, and removed (DBSIZE's estimate)") {
  HashTree tree;
  tree.Add(KeyPosition("a"), 11);
  tree.Add(KeyPosition("b"), 0);  // an empty object: no key
  CHECK(tree.keys() == 1);
  tree.Apply(KeyPosition("c"), 0, 12);   // created
  tree.Apply(KeyPosition("a"), 11, 13);  // changed
  CHECK(tree.keys() == 2);
  tree.Apply(KeyPosition("a"), 13, 0);  // removed
  CHECK(tree.keys() == 1);
}

TEST_CASE("a checkpoint of the first format, without the key count, is refused: the node rebuilds") {
  HashTree tree;
  std::string old_format = tree.Serialize();
  old_format[0] = 1;
  old_format.erase(old_format.size() - 16, 8);  // no count
  HashTree restored;
  CHECK(restored.Deserialize(old_format).code() == Code::kCorruption);
}

}  // namespace
}  // namespace dynkv::antientropy
