#include "histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace dynkv::bench {

// Index layout: [0, kSubBuckets) holds values exactly. A larger value v with
// its top bit at position b (b >= kSubBucketBits) is shifted right by
// s = b - kSubBucketBits + 1, which leaves it in [kHalf, kSubBuckets); each
// shift s owns the kHalf indexes after those of s - 1.
size_t LatencyHistogram::IndexOf(uint64_t value) {
  value = std::min(value, (uint64_t{1} << kMaxValueBits) - 1);
  if (value < kSubBuckets) return static_cast<size_t>(value);
  const int top_bit = std::bit_width(value) - 1;
  const int shift = top_bit - kSubBucketBits + 1;
  return static_cast<size_t>(kSubBuckets + (shift - 1) * kHalf + ((value >> shift) - kHalf));
}

uint64_t LatencyHistogram::HighestInBucket(size_t index) {
  if (index < kSubBuckets) return index;
  const uint64_t shift = (index - kSubBuckets) / kHalf + 1;
  const uint64_t sub = (index - kSubBuckets) % kHalf + kHalf;
  return ((sub + 1) << shift) - 1;
}

LatencyHistogram::LatencyHistogram() : counts_(IndexOf((uint64_t{1} << kMaxValueBits) - 1) + 1, 0) {}

void LatencyHistogram::Record(uint64_t nanos) {
  ++counts_[IndexOf(nanos)];
  ++count_;
  sum_ += nanos;
  min_ = std::min(min_, nanos);
  max_ = std::max(max_, nanos);
}

void LatencyHistogram::Add(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void LatencyHistogram::Reset() {
  if (count_ == 0) return;
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  sum_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
}

double LatencyHistogram::mean() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_);
}

uint64_t LatencyHistogram::Percentile(double percentile) const {
  if (count_ == 0) return 0;
  const double clamped = std::clamp(percentile, 0.0, 100.0);
  // The rank of the wanted value, 1-based; at least the first value. The
  // epsilon keeps 99.9% of 1000 values at rank 999 despite rounding.
  const double exact_rank = clamped / 100.0 * static_cast<double>(count_);
  const auto rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(exact_rank - 1e-9)));
  if (rank >= count_) return max_;
  uint64_t seen = 0;
  for (size_t i = 0; i + 1 < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(HighestInBucket(i), min_, max_);
  }
  return max_;  // the last bucket also holds every value beyond the range
}

}  // namespace dynkv::bench
