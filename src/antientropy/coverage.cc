#include "antientropy/coverage.h"

#include <algorithm>
#include <limits>

namespace dynkv::antientropy {

namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

// (start, end] as inclusive intervals: two when it wraps, the whole ring
// when start == end.
void AddIntervals(const RingRange& range, std::vector<std::pair<uint64_t, uint64_t>>* out) {
  if (range.start == range.end) {
    out->push_back({0, kMax});
  } else if (range.start < range.end) {
    out->push_back({range.start + 1, range.end});
  } else {
    if (range.start != kMax) out->push_back({range.start + 1, kMax});
    out->push_back({0, range.end});
  }
}

// The digest of a partial segment from `partial` (sorted by segment); 0 if absent.
uint64_t PartialDigest(const std::vector<std::pair<uint32_t, uint64_t>>& partial, uint32_t segment) {
  auto it = std::lower_bound(partial.begin(), partial.end(), std::pair<uint32_t, uint64_t>{segment, 0});
  return it != partial.end() && it->first == segment ? it->second : 0;
}

}  // namespace

Coverage::Coverage(const std::vector<RingRange>& ranges) {
  std::vector<std::pair<uint64_t, uint64_t>> all;
  for (const RingRange& range : ranges) AddIntervals(range, &all);
  std::sort(all.begin(), all.end());
  for (const auto& interval : all) {
    // Merged with the last when they overlap or touch (one ending at 2^64-1 swallows the rest).
    if (!intervals_.empty() &&
        (intervals_.back().second == kMax || interval.first <= intervals_.back().second + 1)) {
      intervals_.back().second = std::max(intervals_.back().second, interval.second);
    } else {
      intervals_.push_back(interval);
    }
  }
  for (const auto& [lo, hi] : intervals_) {
    uint32_t first = SegmentOf(lo);
    const uint32_t last = SegmentOf(hi);
    if (lo != SegmentFirst(first)) {
      partial_.push_back(first);
      if (first == last) continue;
      ++first;
    }
    uint32_t full_last = last;
    if (hi != SegmentLast(last)) {
      partial_.push_back(last);
      if (last == first) continue;
      --full_last;
    }
    if (first <= full_last) full_runs_.push_back({first, full_last});
  }
  std::sort(partial_.begin(), partial_.end());
  partial_.erase(std::unique(partial_.begin(), partial_.end()), partial_.end());
}

bool Coverage::Contains(uint64_t position) const {
  auto it = std::upper_bound(intervals_.begin(), intervals_.end(), std::pair<uint64_t, uint64_t>{position, kMax});
  if (it == intervals_.begin()) return false;
  --it;
  return position >= it->first && position <= it->second;
}

bool Coverage::IsPartial(uint32_t segment) const {
  return std::binary_search(partial_.begin(), partial_.end(), segment);
}

bool Coverage::IsFull(uint32_t segment) const {
  auto it = std::upper_bound(full_runs_.begin(), full_runs_.end(),
                             std::pair<uint32_t, uint32_t>{segment, std::numeric_limits<uint32_t>::max()});
  if (it == full_runs_.begin()) return false;
  --it;
  return segment >= it->first && segment <= it->second;
}

std::vector<RingRange> Coverage::PartsOf(uint32_t segment) const {
  std::vector<RingRange> parts;
  const uint64_t first = SegmentFirst(segment);
  const uint64_t last = SegmentLast(segment);
  for (const auto& [lo, hi] : intervals_) {
    if (hi < first || lo > last) continue;
    const uint64_t from = std::max(lo, first);
    const uint64_t to = std::min(hi, last);
    // (from - 1, to]; from == 0 wraps to (2^64-1, to], which ScanRange reads as [0, to].
    parts.push_back({from - 1, to});
  }
  return parts;
}

std::vector<uint64_t> MaskedBranches(const HashTree& tree, const Coverage& coverage,
                                     const std::vector<std::pair<uint32_t, uint64_t>>& partial) {
  std::vector<uint64_t> branches(kBranches, 0);
  for (const auto& [first, last] : coverage.full_runs()) {
    // Leaf by leaf up to a branch boundary, then whole branches, then the tail.
    uint32_t s = first;
    for (; s <= last && s % kLeavesPerBranch != 0; ++s) branches[BranchOf(s)] ^= tree.leaf(s);
    for (; s <= last && last - s + 1 >= kLeavesPerBranch; s += kLeavesPerBranch) {
      branches[BranchOf(s)] ^= tree.Branch(BranchOf(s));
    }
    for (; s <= last; ++s) branches[BranchOf(s)] ^= tree.leaf(s);
  }
  for (uint32_t s : coverage.partial()) branches[BranchOf(s)] ^= PartialDigest(partial, s);
  return branches;
}

std::vector<uint64_t> MaskedLeaves(const HashTree& tree, const Coverage& coverage,
                                   const std::vector<std::pair<uint32_t, uint64_t>>& partial,
                                   const std::vector<uint32_t>& branches) {
  std::vector<uint64_t> leaves;
  leaves.reserve(branches.size() * kLeavesPerBranch);
  for (uint32_t branch : branches) {
    const uint32_t first = branch * kLeavesPerBranch;
    for (uint32_t s = first; s < first + kLeavesPerBranch; ++s) {
      if (coverage.IsFull(s)) {
        leaves.push_back(tree.leaf(s));
      } else if (coverage.IsPartial(s)) {
        leaves.push_back(PartialDigest(partial, s));
      } else {
        leaves.push_back(0);
      }
    }
  }
  return leaves;
}

}  // namespace dynkv::antientropy
