// antientropy::Coverage against a brute-force reading of the ranges: which
// positions are in, which segments are wholly or partly in, and the parts.
#include "antientropy/coverage.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <random>

namespace dynkv::antientropy {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

bool InRange(const RingRange& r, uint64_t p) {
  if (r.start == r.end) return true;
  if (r.start < r.end) return p > r.start && p <= r.end;
  return p > r.start || p <= r.end;
}

bool InAny(const std::vector<RingRange>& ranges, uint64_t p) {
  for (const RingRange& r : ranges) {
    if (InRange(r, p)) return true;
  }
  return false;
}

TEST_CASE("a range that wraps covers both ends of the ring") {
  Coverage coverage({{kMax - 10, 5}});
  CHECK(coverage.Contains(kMax));
  CHECK(coverage.Contains(0));
  CHECK(coverage.Contains(5));
  CHECK_FALSE(coverage.Contains(6));
  CHECK_FALSE(coverage.Contains(kMax - 10));
  CHECK(coverage.IsPartial(0));
  CHECK(coverage.IsPartial(kSegments - 1));
  CHECK(coverage.full_runs().empty());
}

TEST_CASE("start == end is the whole ring: every segment full") {
  Coverage coverage({{42, 42}});
  REQUIRE(coverage.full_runs().size() == 1);
  CHECK(coverage.full_runs()[0] == std::pair<uint32_t, uint32_t>{0, kSegments - 1});
  CHECK(coverage.partial().empty());
}

TEST_CASE("adjacent ranges merge; a segment two ranges fill together is full") {
  const uint64_t mid = SegmentFirst(10) + 1000;
  Coverage coverage({{SegmentFirst(10) - 1, mid}, {mid, SegmentLast(10)}});
  CHECK(coverage.IsFull(10));
  CHECK_FALSE(coverage.IsPartial(10));
}

TEST_CASE("random token ranges: membership, segment classes and parts agree with the ranges") {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 50; ++round) {
    std::vector<uint64_t> tokens;
    for (int i = 0; i < 8; ++i) tokens.push_back(rng());
    std::sort(tokens.begin(), tokens.end());
    std::vector<RingRange> ranges;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (rng() % 2) ranges.push_back({tokens[(i + tokens.size() - 1) % tokens.size()], tokens[i]});
    }
    Coverage coverage(ranges);
    for (int probe = 0; probe < 2000; ++probe) {
      const uint64_t p = rng();
      CHECK(coverage.Contains(p) == InAny(ranges, p));
    }
    for (const RingRange& r : ranges) {
      CHECK(coverage.Contains(r.end));
      CHECK(coverage.Contains(r.start) == InAny(ranges, r.start));
    }
    // Each token's segment: partial, full or out exactly as the ranges say.
    for (uint64_t t : tokens) {
      const uint32_t s = SegmentOf(t);
      const bool first_in = InAny(ranges, SegmentFirst(s));
      const bool last_in = InAny(ranges, SegmentLast(s));
      const bool t_in = InAny(ranges, t), after_in = t != kMax && InAny(ranges, t + 1);
      const bool mixed = first_in != last_in || t_in != after_in || first_in != t_in;
      CHECK(coverage.IsPartial(s) == mixed);
      if (!mixed) CHECK(coverage.IsFull(s) == first_in);
      if (mixed) {
        for (const RingRange& part : coverage.PartsOf(s)) {
          CHECK(coverage.Contains(part.end));
          CHECK(SegmentOf(part.end) == s);
        }
      }
    }
  }
}

TEST_CASE("masked branches over random ranges equal the XOR of the covered leaves, segment by segment") {
  std::mt19937_64 rng(13);
  HashTree tree;
  for (int i = 0; i < 20'000; ++i) tree.set_leaf(static_cast<uint32_t>(rng() % kSegments), rng());
  for (int round = 0; round < 20; ++round) {
    // Wide ranges (whole branches) and narrow ones (inside one branch or one segment).
    std::vector<uint64_t> tokens;
    for (int i = 0; i < 6; ++i) {
      const uint64_t t = rng();
      tokens.push_back(t);
      tokens.push_back(t + (rng() % 2 ? rng() % (uint64_t{1} << 40) : rng() % (uint64_t{1} << 52)));
    }
    std::sort(tokens.begin(), tokens.end());
    std::vector<RingRange> ranges;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (rng() % 2) ranges.push_back({tokens[(i + tokens.size() - 1) % tokens.size()], tokens[i]});
    }
    Coverage coverage(ranges);
    std::vector<std::pair<uint32_t, uint64_t>> partial;
    for (uint32_t s : coverage.partial()) partial.push_back({s, rng()});
    std::vector<uint64_t> expected(kBranches, 0);
    for (uint32_t s = 0; s < kSegments; ++s) {
      if (coverage.IsFull(s)) expected[BranchOf(s)] ^= tree.leaf(s);
    }
    for (const auto& [s, digest] : partial) expected[BranchOf(s)] ^= digest;
    CHECK(MaskedBranches(tree, coverage, partial) == expected);
  }
}

TEST_CASE("masked hashes count full segments from the tree and partial ones from their scans") {
  HashTree tree;
  tree.set_leaf(5, 0xaa);
  tree.set_leaf(6, 0xbb);
  tree.set_leaf(2000, 0xcc);  // branch 1, outside
  Coverage coverage({{SegmentFirst(5) - 1, SegmentFirst(7) + 10}});  // 5, 6 full; 7 partial
  REQUIRE(coverage.IsPartial(7));
  const std::vector<std::pair<uint32_t, uint64_t>> partial = {{7, 0x11}};
  const std::vector<uint64_t> branches = MaskedBranches(tree, coverage, partial);
  CHECK(branches[0] == (0xaa ^ 0xbb ^ 0x11));
  CHECK(branches[1] == 0);
  const std::vector<uint64_t> leaves = MaskedLeaves(tree, coverage, partial, {0});
  REQUIRE(leaves.size() == kLeavesPerBranch);
  CHECK(leaves[5] == 0xaa);
  CHECK(leaves[6] == 0xbb);
  CHECK(leaves[7] == 0x11);
  CHECK(leaves[8] == 0);
}

}  // namespace
}  // namespace dynkv::antientropy
