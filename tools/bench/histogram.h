// LatencyHistogram: a log-linear histogram of durations in nanoseconds, in
// the layout of Gil Tene's HdrHistogram (no C/C++ HdrHistogram is packaged
// in Debian 12). Values below 2^kSubBucketBits are counted exactly; above,
// each power-of-two range is split into 2^(kSubBucketBits-1) equal
// sub-buckets, so any recorded value is known to within 1/1024 (about 0.1%)
// of itself. Recording is one array increment; the memory is fixed
// (about 230 KiB), whatever the number of values.
//
// Threads: thread-compatible; each thread records into its own histogram
// and they are merged with Add().
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dynkv::bench {

class LatencyHistogram {
 public:
  LatencyHistogram();

  void Record(uint64_t nanos);
  void Add(const LatencyHistogram& other);
  void Reset();

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const;
  // The smallest recorded value v such that at least `percentile`% of the
  // values are <= v, to within the bucket precision (reported as the top of
  // its bucket, capped at max()). 0 when empty. REQUIRES: 0 <= percentile <= 100.
  uint64_t Percentile(double percentile) const;

 private:
  static constexpr int kSubBucketBits = 11;
  // Durations up to 2^38 ns (about 4.5 minutes); longer ones count as that.
  static constexpr int kMaxValueBits = 38;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;
  static constexpr uint64_t kHalf = kSubBuckets / 2;

  static size_t IndexOf(uint64_t value);
  static uint64_t HighestInBucket(size_t index);

  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  // Sum of values, for the mean; 2^64 ns is 584 years of latency.
  uint64_t sum_ = 0;
};

}  // namespace dynkv::bench
