// Backoff: how long to wait before the next connection attempt to a peer
// that keeps failing. Capped exponential growth with jitter, as in
// "Exponential Backoff And Jitter" (AWS Architecture Blog, 2015): the
// ceiling doubles per failure up to a cap, and each delay is drawn a little
// below it so peers that failed together do not all retry in one instant.
//
// A pure class: it computes delays; the caller owns time and randomness.
#pragma once

#include <cstdint>

namespace dynkv::net {

struct BackoffOptions {
  // Ceiling of the delay after the first failure.
  uint32_t initial_ms = 100;
  // No delay is longer than this.
  uint32_t max_ms = 5000;
  // Each delay is drawn from [(1 - jitter) * ceiling, ceiling]; 0 <= jitter <= 1.
  double jitter = 0.2;
};

class Backoff {
 public:
  explicit Backoff(BackoffOptions options = {}) : options_(options) {}

  // Counts one more failure and returns the delay before the next attempt.
  // unit_random is a uniform draw from [0, 1] (clamped into it).
  uint64_t NextDelayMs(double unit_random);
  // A success: the next failure starts again from initial_ms.
  void Reset() { failures_ = 0; }

  // The ceiling after `failures` failures (0 for none): initial_ms doubled
  // failures - 1 times, at most max_ms.
  uint64_t CeilingMs(uint32_t failures) const;
  uint32_t failures() const { return failures_; }

 private:
  BackoffOptions options_;
  uint32_t failures_ = 0;
};

}  // namespace dynkv::net
