// Minimal leveled logging to stderr: one line per message, with a UTC
// timestamp and the level. The threshold is set once at start-up
// (SetLogLevel) from the node's config.
//
//   DYNKV_LOG(kInfo) << "listening on " << address;
#pragma once

#include <sstream>
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
