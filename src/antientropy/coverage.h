// The part of the ring an exchange compares: the token ranges both replicas
// hold. Segments wholly inside it are compared by their leaves; a segment a
// range boundary cuts through holds keys of other ranges too (which one of
// the two replicas may not hold), so only its keys inside the coverage count,
// read by a scan of those parts (a few per range boundary, about one key
// each at a million keys per node). Pure: no I/O.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "antientropy/tree.h"

namespace dynkv::antientropy {

// A ring range (start, end]: the whole ring when start == end.
struct RingRange {
  uint64_t start = 0;
  uint64_t end = 0;
  friend bool operator==(const RingRange&, const RingRange&) = default;
};

class Coverage {
 public:
  explicit Coverage(const std::vector<RingRange>& ranges);

  bool Contains(uint64_t position) const;
  bool empty() const { return intervals_.empty(); }

  // Runs [first, last] of segments wholly inside, in order.
  const std::vector<std::pair<uint32_t, uint32_t>>& full_runs() const { return full_runs_; }
  // Segments only partly inside, sorted.
  const std::vector<uint32_t>& partial() const { return partial_; }
  bool IsPartial(uint32_t segment) const;
  bool IsFull(uint32_t segment) const;
  // The parts of `segment` inside, as ring ranges (for Engine::ScanRange).
  std::vector<RingRange> PartsOf(uint32_t segment) const;

 private:
  std::vector<std::pair<uint64_t, uint64_t>> intervals_;  // [lo, hi], sorted, disjoint, not adjacent
  std::vector<std::pair<uint32_t, uint32_t>> full_runs_;
  std::vector<uint32_t> partial_;
};

// The hashes an exchange compares, counting only keys inside `coverage`:
// each branch's (kBranches of them), or the leaves of the listed branches
// (kLeavesPerBranch per branch). `partial` holds the digest of each
// partial segment's covered keys (scanned), by segment.
std::vector<uint64_t> MaskedBranches(const HashTree& tree, const Coverage& coverage,
                                     const std::vector<std::pair<uint32_t, uint64_t>>& partial);
std::vector<uint64_t> MaskedLeaves(const HashTree& tree, const Coverage& coverage,
                                   const std::vector<std::pair<uint32_t, uint64_t>>& partial,
                                   const std::vector<uint32_t>& branches);

}  // namespace dynkv::antientropy
