// The exchange's decisions: what differs, and which keys go which way.
#include "antientropy/compare.h"

#include <doctest/doctest.h>

#include <algorithm>

namespace dynkv::antientropy {
namespace {

KeyClock Clock(const std::string& key, uint64_t digest, std::vector<VersionVector::Entry> vv) {
  return KeyClock{key, digest, VersionVector(std::move(vv))};
}

bool Has(const std::vector<std::string>& keys, const std::string& key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

TEST_CASE("branches that differed only once are left out (a write in flight)") {
  CHECK(Differing({1, 2, 3}, {1, 9, 3}) == std::vector<uint32_t>{1});
  CHECK(InBoth({1, 4, 7}, {4, 7, 9}) == std::vector<uint32_t>{4, 7});
}

TEST_CASE("differing leaves map back to their segments") {
  std::vector<uint64_t> local(2 * kLeavesPerBranch, 0), remote(2 * kLeavesPerBranch, 0);
  remote[3] = 1;                      // branch 7, leaf 3
  remote[kLeavesPerBranch + 10] = 1;  // branch 900, leaf 10
  CHECK(DifferingSegments({7, 900}, local, remote) ==
        std::vector<uint32_t>{7 * kLeavesPerBranch + 3, 900 * kLeavesPerBranch + 10});
}

TEST_CASE("each key goes the way its versions say") {
  const std::vector<KeyClock> local = {
      Clock("same", 5, {{"a", 1}}),
      Clock("ours-ahead", 6, {{"a", 2}}),
      Clock("theirs-ahead", 7, {{"a", 1}}),
      Clock("concurrent", 8, {{"a", 1}}),
      Clock("only-ours", 9, {{"a", 1}}),
      Clock("reaped-there", 10, {{"a", 3}}),
  };
  const std::vector<KeyClock> remote = {
      Clock("same", 5, {{"a", 1}}),
      Clock("ours-ahead", 16, {{"a", 1}}),
      Clock("theirs-ahead", 17, {{"a", 2}}),
      Clock("concurrent", 18, {{"b", 1}}),
      Clock("only-theirs", 19, {{"b", 1}}),
      Clock("reaped-there", 20, {{"a", 3}}),  // equal vectors, other content
  };
  const KeyPlan plan = PlanKeys(local, remote);
  CHECK_FALSE(Has(plan.pull, "same"));
  CHECK_FALSE(Has(plan.push, "same"));
  CHECK(Has(plan.push, "ours-ahead"));
  CHECK_FALSE(Has(plan.pull, "ours-ahead"));
  CHECK(Has(plan.pull, "theirs-ahead"));
  CHECK_FALSE(Has(plan.push, "theirs-ahead"));
  CHECK(Has(plan.pull, "concurrent"));
  CHECK(Has(plan.push, "concurrent"));
  CHECK(Has(plan.push, "only-ours"));
  CHECK(Has(plan.pull, "only-theirs"));
  CHECK(Has(plan.pull, "reaped-there"));
  CHECK(Has(plan.push, "reaped-there"));
}

}  // namespace
}  // namespace dynkv::antientropy
