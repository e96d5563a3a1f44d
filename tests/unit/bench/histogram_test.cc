#include "bench/histogram.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace dynkv::bench {

TEST_CASE("an empty histogram reports zeros") {
  LatencyHistogram h;
  CHECK(h.count() == 0);
  CHECK(h.min() == 0);
  CHECK(h.max() == 0);
  CHECK(h.Percentile(50) == 0);
  CHECK(h.mean() == 0.0);
}

TEST_CASE("small values are counted exactly") {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 1000; ++v) h.Record(v);
  CHECK(h.count() == 1000);
  CHECK(h.min() == 1);
  CHECK(h.max() == 1000);
  CHECK(h.Percentile(50) == 500);
  CHECK(h.Percentile(99) == 990);
  CHECK(h.Percentile(99.9) == 999);
  CHECK(h.Percentile(100) == 1000);
  CHECK(h.Percentile(0) == 1);
  CHECK(h.mean() == doctest::Approx(500.5));
}

TEST_CASE("percentiles of large values are within 0.1% of the exact ones") {
  for (uint64_t seed : {1u, 2u, 3u}) {
    CAPTURE(seed);
    std::mt19937_64 random(seed);
    // Log-uniform from 1 us to 10 s, as latencies spread.
    std::uniform_real_distribution<double> exponent(3, 10);
    std::vector<uint64_t> values(20000);
    LatencyHistogram h;
    for (uint64_t& v : values) {
      v = static_cast<uint64_t>(std::pow(10.0, exponent(random)));
      h.Record(v);
    }
    std::sort(values.begin(), values.end());
    for (double p : {1.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
      CAPTURE(p);
      // ceil(p% of n), with p% of n computed as the exact product would be.
      const size_t rank =
          static_cast<size_t>(std::ceil(p * static_cast<double>(values.size()) / 100.0 - 1e-9));
      const uint64_t exact = values[std::max<size_t>(rank, 1) - 1];
      const uint64_t reported = h.Percentile(p);
      CHECK(reported >= exact);
      CHECK(static_cast<double>(reported - exact) <= static_cast<double>(exact) / 1024.0);
    }
    CHECK(h.max() == values.back());
    CHECK(h.min() == values.front());
  }
}

TEST_CASE("merging histograms equals recording everything in one") {
  LatencyHistogram a, b, all;
  std::mt19937_64 random(9);
  for (int i = 0; i < 5000; ++i) {
    const uint64_t v = random() % 50'000'000;
    (i % 3 == 0 ? a : b).Record(v);
    all.Record(v);
  }
  a.Add(b);
  CHECK(a.count() == all.count());
  CHECK(a.min() == all.min());
  CHECK(a.max() == all.max());
  for (double p : {10.0, 50.0, 99.0, 99.99}) CHECK(a.Percentile(p) == all.Percentile(p));
  a.Reset();
  CHECK(a.count() == 0);
  CHECK(a.Percentile(50) == 0);
}

TEST_CASE("values beyond the range count in the last bucket and keep an exact max") {
  LatencyHistogram h;
  const uint64_t huge = uint64_t{1} << 50;
  h.Record(huge);
  h.Record(10);
  CHECK(h.count() == 2);
  CHECK(h.max() == huge);
  CHECK(h.Percentile(100) == huge);
  CHECK(h.Percentile(50) == 10);
}

}  // namespace dynkv::bench
