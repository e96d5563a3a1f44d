// Backoff is pure: these tests feed it draws and read the delays.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "net/peer_backoff.h"

namespace dynkv::net {
namespace {

std::vector<uint64_t> Delays(Backoff& backoff, int n, double draw) {
  std::vector<uint64_t> delays;
  for (int i = 0; i < n; ++i) delays.push_back(backoff.NextDelayMs(draw));
  return delays;
}

TEST_CASE("the delay doubles from initial_ms with each failure and stops at max_ms") {
  Backoff backoff({.initial_ms = 100, .max_ms = 5000, .jitter = 0.2});
  // A draw of 0 takes nothing off: the delays are the ceilings.
  CHECK(Delays(backoff, 9, 0.0) == std::vector<uint64_t>{100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000});
  CHECK(backoff.failures() == 9);
}

TEST_CASE("jitter keeps every delay within [(1 - jitter) * ceiling, ceiling]") {
  const uint64_t seed = std::random_device{}();
  CAPTURE(seed);
  std::mt19937_64 random(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  Backoff backoff({.initial_ms = 100, .max_ms = 5000, .jitter = 0.5});
  std::vector<uint64_t> at_cap;
  for (uint32_t failure = 1; failure <= 200; ++failure) {
    const uint64_t ceiling = backoff.CeilingMs(failure);
    const uint64_t delay = backoff.NextDelayMs(unit(random));
    CAPTURE(failure);
    CHECK(delay <= ceiling);
    CHECK(delay >= ceiling / 2);
    if (ceiling == 5000) at_cap.push_back(delay);
  }
  // Peers that fail together spread out instead of retrying in step.
  REQUIRE(at_cap.size() > 100);
  CHECK(std::adjacent_find(at_cap.begin(), at_cap.end(), std::not_equal_to<>()) != at_cap.end());
}

TEST_CASE("the largest draw takes the whole jitter off the ceiling") {
  Backoff backoff({.initial_ms = 100, .max_ms = 5000, .jitter = 0.2});
  CHECK(Delays(backoff, 3, 1.0) == std::vector<uint64_t>{80, 160, 320});
}

TEST_CASE("Reset after a success starts again from initial_ms") {
  Backoff backoff({.initial_ms = 100, .max_ms = 5000, .jitter = 0});
  (void)Delays(backoff, 5, 0.5);
  backoff.Reset();
  CHECK(backoff.failures() == 0);
  CHECK(backoff.NextDelayMs(0.5) == 100);
}

TEST_CASE("odd options and draws give bounded delays") {
  SUBCASE("draws outside [0, 1] are clamped, NaN counts as 0") {
    Backoff backoff({.initial_ms = 1000, .max_ms = 1000, .jitter = 0.5});
    CHECK(backoff.NextDelayMs(-3.0) == 1000);
    CHECK(backoff.NextDelayMs(7.0) == 500);
    CHECK(backoff.NextDelayMs(std::nan("")) == 1000);
  }
  SUBCASE("max_ms below initial_ms caps even the first delay") {
    Backoff backoff({.initial_ms = 800, .max_ms = 300, .jitter = 0});
    CHECK(backoff.NextDelayMs(0) == 300);
  }
  SUBCASE("initial_ms 0 retries at once, forever") {
    Backoff backoff({.initial_ms = 0, .max_ms = 5000, .jitter = 0.2});
    CHECK(Delays(backoff, 3, 0.5) == std::vector<uint64_t>{0, 0, 0});
    CHECK(backoff.CeilingMs(UINT32_MAX) == 0);
  }
  SUBCASE("a jitter above 1 is taken as 1") {
    Backoff backoff({.initial_ms = 100, .max_ms = 5000, .jitter = 4});
    CHECK(backoff.NextDelayMs(1.0) == 0);
  }
  SUBCASE("billions of failures stay at the cap") {
    Backoff backoff({.initial_ms = 100, .max_ms = 5000, .jitter = 0});
    CHECK(backoff.CeilingMs(UINT32_MAX) == 5000);
  }
}

}  // namespace
}  // namespace dynkv::net
