// Minimal leveled logging to stderr: one line per message, with a UTC
// timestamp and the level. The threshold is set once at start-up
// (SetLogLevel) from the node's config.
//
//   DYNKV_LOG(kInfo) << "listening on " << address;
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>

namespace dynkv {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
// Parses "debug", "info", "warn" or "error".
bool ParseLogLevel(std::string_view name, LogLevel* level);

// Builds one line and writes it, whole, when destroyed.
class LogLine {
 public:
  explicit LogLine(LogLevel level) : level_(level) {}
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;

  template <typename T>
  LogLine& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

// Lets the first line of each kind through per interval and counts the
// rest, so that a flood of one message (a peer that sends the same bad
// bytes over and over) costs one line per interval. Kinds should be few
// (source locations): each is remembered. Thread-safe.
class LogThrottle {
 public:
  explicit LogThrottle(int64_t interval_ms) : interval_ms_(interval_ms) {}
  // Whether a line of `kind` may be written at `now_ms` (monotonic); when
  // it may, *suppressed is how many of its kind were held back since the
  // last one written.
  bool Admit(std::string_view kind, int64_t now_ms, uint64_t* suppressed);

 private:
  struct Kind {
    int64_t last_ms = 0;
    uint64_t suppressed = 0;
  };
  const int64_t interval_ms_;
  std::mutex mu_;
  std::map<std::string, Kind, std::less<>> kinds_;
};

}  // namespace dynkv

namespace dynkv {
// Turns `LogLine << ...` into a void expression, so DYNKV_LOG is one
// expression and never captures a following `else`.
struct LogVoidify {
  void operator&(const LogLine&) {}
};
}  // namespace dynkv

#define DYNKV_LOG(level)                                         \
  !::dynkv::LogEnabled(::dynkv::LogLevel::level) ? (void)0 \
                                                  : ::dynkv::LogVoidify() & ::dynkv::LogLine(::dynkv::LogLevel::level)
