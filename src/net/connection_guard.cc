#include "net/connection_guard.h"

#include <string>

#include "common/log.h"
#include "net/net.h"

namespace dynkv::net {

GuardVerdict ConnectionGuard::AfterOutput(size_t output_bytes, int64_t now_ms,
                                          const ConnectionLimits& limits) {
  if (output_bytes > limits.max_output_hard_bytes) return GuardVerdict::kCloseSlowReader;
  if (output_bytes <= limits.max_output_bytes || paused_) return GuardVerdict::kNone;
  paused_ = true;
  if (over_since_ms_ == kNever) over_since_ms_ = now_ms;
  return GuardVerdict::kPause;
}

GuardVerdict ConnectionGuard::CheckOutput(size_t output_bytes, int64_t now_ms,
                                          const ConnectionLimits& limits) {
  if (output_bytes > limits.max_output_hard_bytes) return GuardVerdict::kCloseSlowReader;
  if (output_bytes > limits.max_output_bytes) {
    if (over_since_ms_ == kNever) over_since_ms_ = now_ms;
    if (limits.output_timeout_ms > 0 && now_ms - over_since_ms_ >= limits.output_timeout_ms) {
      return GuardVerdict::kCloseSlowReader;
    }
    if (paused_) return GuardVerdict::kNone;
    paused_ = true;
    return GuardVerdict::kPause;
  }
  over_since_ms_ = kNever;
  if (!paused_) return GuardVerdict::kNone;
  paused_ = false;
  return GuardVerdict::kResume;
}

// The same partial request (no whole one read since) seen for
// frame_timeout. While reading is held back the client cannot finish it.
bool ConnectionGuard::PartialFrameTooOld(const ConnectionSample& sample, int64_t now_ms,
                                         const ConnectionLimits& limits) {
  if (paused_ || sample.partial_bytes == 0) {
    partial_since_ms_ = kNever;
    return false;
  }
  if (partial_since_ms_ == kNever || sample.requests != partial_requests_) {
    partial_since_ms_ = now_ms;
    partial_requests_ = sample.requests;
  }
  return limits.frame_timeout_ms > 0 && now_ms - partial_since_ms_ >= limits.frame_timeout_ms;
}

bool ConnectionGuard::IdleTooLong(const ConnectionSample& sample, int64_t now_ms,
                                  const ConnectionLimits& limits) {
  if (sample.bytes_received != last_bytes_received_ || sample.unanswered > 0 || sample.output_bytes > 0) {
    last_activity_ms_ = now_ms;
    last_bytes_received_ = sample.bytes_received;
  }
  return limits.idle_timeout_ms > 0 && now_ms - last_activity_ms_ >= limits.idle_timeout_ms;
}

GuardVerdict ConnectionGuard::Check(const ConnectionSample& sample, int64_t now_ms,
                                    const ConnectionLimits& limits) {
  const GuardVerdict output = CheckOutput(sample.output_bytes, now_ms, limits);
  if (output == GuardVerdict::kCloseSlowReader) return output;
  if (PartialFrameTooOld(sample, now_ms, limits)) return GuardVerdict::kClosePartialFrame;
  if (IdleTooLong(sample, now_ms, limits)) return GuardVerdict::kCloseIdle;
  return output;
}

namespace {

// As the config writes them.
std::string SizeText(size_t bytes) {
  return bytes % (1u << 20) == 0 ? std::to_string(bytes >> 20) + "MiB" : std::to_string(bytes) + "B";
}

std::string Seconds(int64_t ms) {
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
}

}  // namespace

void Enforce(GuardVerdict verdict, Connection& connection, std::string_view port,
             const ConnectionLimits& limits, GuardStats* stats) {
  const auto closing = [&](LogLevel level, std::string_view why) {
    if (LogEnabled(level)) {
      LogLine(level) << "closing " << port << " connection from " << connection.peer_address() << ": " << why;
    }
    connection.Close();
  };
  switch (verdict) {
    case GuardVerdict::kNone:
      return;
    case GuardVerdict::kPause:
      ++stats->reads_paused;
      return connection.StopReading();
    case GuardVerdict::kResume:
      return;  // the server's: it may hold reading back for reasons of its own
    case GuardVerdict::kCloseSlowReader:
      ++stats->closed_slow_reader;
      return closing(LogLevel::kInfo,
                     std::to_string(connection.pending_write_bytes()) +
                         " bytes of responses unread (limits.max_output_bytes " +
                         SizeText(limits.max_output_bytes) + " for " + Seconds(limits.output_timeout_ms) +
                         ", or limits.max_output_hard_bytes " + SizeText(limits.max_output_hard_bytes) + ")");
    case GuardVerdict::kClosePartialFrame:
      ++stats->closed_partial_frame;
      return closing(LogLevel::kInfo, "a request begun more than " + Seconds(limits.frame_timeout_ms) +
                                          " ago is still incomplete (limits.frame_timeout)");
    case GuardVerdict::kCloseIdle:
      ++stats->closed_idle;
      return closing(LogLevel::kDebug,
                     "idle for " + Seconds(limits.idle_timeout_ms) + " (limits.idle_timeout)");
  }
}

void GuardStats::Fill(std::string_view prefix, std::map<std::string, double>* values) const {
  const std::string p(prefix);
  auto& v = *values;
  v[p + "reads_paused"] = static_cast<double>(reads_paused);
  v[p + "closed_slow_reader"] = static_cast<double>(closed_slow_reader);
  v[p + "closed_partial_frame"] = static_cast<double>(closed_partial_frame);
  v[p + "closed_idle"] = static_cast<double>(closed_idle);
}

SweepTimer::SweepTimer(uv_loop_t* loop, uint64_t interval_ms, std::function<void()> tick)
    : timer_(new uv_timer_t), tick_(std::move(tick)) {
  uv_timer_init(loop, timer_);
  timer_->data = this;
  uv_timer_start(
      timer_, [](uv_timer_t* t) { static_cast<SweepTimer*>(t->data)->tick_(); }, interval_ms, interval_ms);
  // Connections keep the loop alive, not the sweep over them.
  uv_unref(reinterpret_cast<uv_handle_t*>(timer_));
}

SweepTimer::~SweepTimer() {
  uv_timer_stop(timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(timer_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

}  // namespace dynkv::net
