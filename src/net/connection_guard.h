// Connection guards: what a server tolerates of one connection, so that a
// client that misbehaves costs a bounded amount of memory and time
// (issue 14; the `limits` section of docs/OPERATIONS.md).
//
// - A client that stops reading its responses: once the connection's
//   unsent output passes max_output_bytes the server stops reading its
//   requests (no new work is admitted from it) until the output drains below
//   the bound again; past max_output_hard_bytes, or over the bound for
//   output_timeout, the connection is closed. Redis' client-output-buffer-
//   limit (hard limit, soft limit, soft seconds) is the model.
// - A request begun and not finished within frame_timeout (slowloris: three
//   bytes of a header, or a header that announces a megabyte and then ten
//   bytes) closes the connection.
// - A connection that sends nothing, has nothing in progress and nothing to
//   receive for idle_timeout is closed (Redis' `timeout`, off by default as
//   there).
//
// ConnectionGuard is the decision, pure: the server samples its connection
// (after each output, and every sweep) and acts on the verdict. SweepTimer
// is the driver's clock tick. Time is whatever monotonic milliseconds the
// server passes in (Clock::MonotonicMs).
//
// Threads: a guard belongs to its connection's loop thread.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace dynkv::net {

class Connection;

// The limits.* keys that guard connections, with their defaults.
struct ConnectionLimits {
  // Unsent output of one connection past which its requests are no longer
  // read, until it drains below again.
  size_t max_output_bytes = 64u << 20;
  // Unsent output past which the connection is closed at once.
  // REQUIRES: >= max_output_bytes.
  size_t max_output_hard_bytes = 256u << 20;
  // A connection whose output stays over max_output_bytes this long is closed.
  int64_t output_timeout_ms = 60'000;
  // A request begun and not complete after this long closes its
  // connection; 0: never. Not counted while the server holds reading back.
  int64_t frame_timeout_ms = 30'000;
  // A connection with nothing received, nothing in progress and nothing to
  // send for this long is closed; 0: never.
  int64_t idle_timeout_ms = 0;
};

// What a server sees of one connection at one moment.
struct ConnectionSample {
  size_t output_bytes = 0;      // unsent (Connection::pending_write_bytes)
  size_t partial_bytes = 0;     // bytes of a request begun and not complete
  uint64_t requests = 0;        // whole requests read since it opened
  uint64_t bytes_received = 0;  // since it opened
  size_t unanswered = 0;        // requests read and not yet answered
};

// What the server does next with the connection. kPause and kResume are
// changes: each comes once per pause.
enum class GuardVerdict {
  kNone,
  kPause,              // stop reading its requests
  kResume,             // read them again
  kCloseSlowReader,    // output over the hard cap, or over the bound too long
  kClosePartialFrame,  // a request held incomplete past frame_timeout
  kCloseIdle,          // idle past idle_timeout
};

class ConnectionGuard {
 public:
  explicit ConnectionGuard(int64_t now_ms) : last_activity_ms_(now_ms) {}

  // After the server queued output on the connection (a response): kPause
  // once the output passes the bound, kCloseSlowReader past the hard cap,
  // else kNone. Cheap: call it on every send.
  GuardVerdict AfterOutput(size_t output_bytes, int64_t now_ms, const ConnectionLimits& limits);
  // The sweep's look at the connection: every verdict above.
  GuardVerdict Check(const ConnectionSample& sample, int64_t now_ms, const ConnectionLimits& limits);

  bool paused() const { return paused_; }

 private:
  GuardVerdict CheckOutput(size_t output_bytes, int64_t now_ms, const ConnectionLimits& limits);
  bool PartialFrameTooOld(const ConnectionSample& sample, int64_t now_ms, const ConnectionLimits& limits);
  bool IdleTooLong(const ConnectionSample& sample, int64_t now_ms, const ConnectionLimits& limits);

  static constexpr int64_t kNever = -1;
  bool paused_ = false;
  int64_t over_since_ms_ = kNever;     // output over max_output_bytes since
  int64_t partial_since_ms_ = kNever;  // a partial request seen since
  uint64_t partial_requests_ = 0;      // sample.requests when it was first seen
  int64_t last_activity_ms_;
  uint64_t last_bytes_received_ = 0;
};

// Connections a server closed or held back, by reason.
struct GuardStats {
  uint64_t reads_paused = 0;  // times reading stopped for unread output
  uint64_t closed_slow_reader = 0;
  uint64_t closed_partial_frame = 0;
  uint64_t closed_idle = 0;
  // Adds them to a node's stats as <prefix>reads_paused, <prefix>closed_slow_reader, ...
  void Fill(std::string_view prefix, std::map<std::string, double>* values) const;
};

// Acts on `verdict` for `connection`: stops reading, or closes it (buffered
// output dropped) with a log line that names `port` ("client", "peer",
// "resp") and the reason; counts it in *stats. kResume is left to the
// caller, which may hold reading back for reasons of its own, and then
// calls StartReading.
void Enforce(GuardVerdict verdict, Connection& connection, std::string_view port,
             const ConnectionLimits& limits, GuardStats* stats);

// Calls `tick` every `interval_ms` on `loop`, without keeping the loop alive
// (an unreferenced uv timer). The handle is freed in its close callback, so
// the loop must run once after the timer is destroyed.
class SweepTimer {
 public:
  // How often servers look at their connections: resuming a paused one
  // waits for this, and every timeout is honoured to within it (Redis'
  // serverCron runs at 10 Hz by default too).
  static constexpr uint64_t kDefaultIntervalMs = 100;

  SweepTimer(uv_loop_t* loop, uint64_t interval_ms, std::function<void()> tick);
  ~SweepTimer();
  SweepTimer(const SweepTimer&) = delete;
  SweepTimer& operator=(const SweepTimer&) = delete;

 private:
  uv_timer_t* timer_;
  std::function<void()> tick_;
};

}  // namespace dynkv::net
