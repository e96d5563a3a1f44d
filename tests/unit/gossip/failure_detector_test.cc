#include "gossip/failure_detector.h"

#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

namespace dynkv::gossip {
namespace {

constexpr int64_t kInterval = 100;

// Heartbeats every kInterval ms from t = 0; returns the time of the last one.
int64_t SteadyHeartbeats(PhiAccrualDetector* detector, int beats) {
  int64_t now = 0;
  for (int i = 0; i < beats; ++i, now += kInterval) detector->Report("b", now);
  return now - kInterval;
}

TEST_CASE("phi grows with silence and crosses the threshold after threshold * ln(10) * mean") {
  FailureDetectorOptions options;
  options.phi_threshold = 8;
  options.window_size = 100;
  PhiAccrualDetector detector(options, kInterval);
  // 100 steady intervals fill the window, pushing out the initial sample.
  const int64_t last = SteadyHeartbeats(&detector, 101);
  CHECK(detector.MeanIntervalMs("b") == doctest::Approx(kInterval));

  CHECK(detector.Phi("b", last) == 0);
  double previous = 0;
  for (int64_t silence = 100; silence <= 3000; silence += 100) {
    const double phi = detector.Phi("b", last + silence);
    CHECK(phi > previous);
    previous = phi;
  }
  // Exponential inter-arrivals with mean 100 ms: phi = t / (100 ln 10).
  CHECK(detector.Phi("b", last + 1000) == doctest::Approx(1000 / (100 * std::numbers::ln10)));
  const double crossing = 8 * std::numbers::ln10 * kInterval;  // ~1842 ms
  CHECK_FALSE(detector.Suspects("b", last + static_cast<int64_t>(crossing) - 10));
  CHECK(detector.Suspects("b", last + static_cast<int64_t>(crossing) + 10));
}

TEST_CASE("a heartbeat resets phi to zero") {
  PhiAccrualDetector detector({}, kInterval);
  const int64_t last = SteadyHeartbeats(&detector, 20);
  CHECK(detector.Suspects("b", last + 10'000));
  detector.Report("b", last + 10'000);
  CHECK(detector.Phi("b", last + 10'000) == 0);
  CHECK_FALSE(detector.Suspects("b", last + 10'100));
}

TEST_CASE("the first heartbeat counts as twice the expected interval") {
  PhiAccrualDetector detector({}, kInterval);
  CHECK(detector.Phi("b", 5000) == 0);  // never heard of
  detector.Report("b", 1000);
  CHECK(detector.MeanIntervalMs("b") == doctest::Approx(2 * kInterval));
  CHECK(detector.Phi("b", 1000 + 2 * kInterval) == doctest::Approx(1 / std::numbers::ln10));
}

TEST_CASE("a gap longer than the maximum interval restarts the clock but is not a sample") {
  FailureDetectorOptions options;
  options.window_size = 10;
  PhiAccrualDetector detector(options, kInterval);
  const int64_t last = SteadyHeartbeats(&detector, 11);
  const double mean = detector.MeanIntervalMs("b");
  detector.Report("b", last + 30'000);  // back after a partition
  CHECK(detector.MeanIntervalMs("b") == doctest::Approx(mean));
  CHECK(detector.Phi("b", last + 30'000) == 0);
}

TEST_CASE("the window slides: the mean follows the latest intervals") {
  FailureDetectorOptions options;
  options.window_size = 50;
  PhiAccrualDetector detector(options, kInterval);
  int64_t now = 0;
  for (int i = 0; i < 100; ++i, now += 100) detector.Report("b", now);
  for (int i = 0; i <= 50; ++i, now += 40) detector.Report("b", now);  // 50 intervals of 40 ms
  CHECK(detector.MeanIntervalMs("b") == doctest::Approx(40));
}

TEST_CASE("peers are judged independently and a forgotten peer starts afresh") {
  PhiAccrualDetector detector({}, kInterval);
  SteadyHeartbeats(&detector, 20);
  detector.Report("c", 0);
  detector.Report("c", 5);
  CHECK(detector.Phi("c", 2000) > detector.Phi("b", 2000));
  detector.Forget("b");
  CHECK(detector.Phi("b", 100'000) == 0);
  CHECK(detector.MeanIntervalMs("b") == 0);
}

}  // namespace
}  // namespace dynkv::gossip
