// Clock: the one source of time for code that needs it. Injected, so tests
// use ManualClock and never sleep.
#pragma once

#include <atomic>
#include <cstdint>

namespace dynkv {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock milliseconds since the Unix epoch (write times, TTL expiry).
  virtual int64_t NowMs() const = 0;
  // Monotonic milliseconds from an arbitrary origin (timeouts, intervals).
  virtual int64_t MonotonicMs() const = 0;
  // The same in microseconds, for latency histograms; clocks that count
  // milliseconds only (tests, the simulator) give MonotonicMs() * 1000.
  virtual int64_t MonotonicMicros() const { return MonotonicMs() * 1000; }
};

class SystemClock final : public Clock {
 public:
  int64_t NowMs() const override;
  int64_t MonotonicMs() const override;
  int64_t MonotonicMicros() const override;
};

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t now_ms = 1'700'000'000'000) : now_ms_(now_ms) {}
  int64_t NowMs() const override { return now_ms_.load(); }
  int64_t MonotonicMs() const override { return now_ms_.load(); }
  void Advance(int64_t ms) { now_ms_ += ms; }
  void Set(int64_t now_ms) { now_ms_ = now_ms; }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace dynkv
