#include "node/protobuf_log.h"

#include <google/protobuf/stubs/logging.h>

#include <string>

#include "common/clock.h"
#include "common/log.h"

namespace dynkv::node {
namespace {

constexpr int64_t kIntervalMs = 60'000;

LogLevel OurLevel(google::protobuf::LogLevel level) {
  switch (level) {
    case google::protobuf::LOGLEVEL_INFO:
      return LogLevel::kInfo;
    case google::protobuf::LOGLEVEL_WARNING:
    case google::protobuf::LOGLEVEL_ERROR:
      // What the runtime calls an error is, for a node, bad input from
      // whoever sent the message.
      return LogLevel::kWarn;
    default:
      return LogLevel::kError;
  }
}

void OnProtobufLog(google::protobuf::LogLevel level, const char* filename, int line,
                   const std::string& message) {
  if (level >= google::protobuf::LOGLEVEL_FATAL) {
    LogLine(LogLevel::kError) << "protobuf: " << message;
    return;
  }
  // A C callback has nowhere else to keep them; the clock holds no state.
  static LogThrottle throttle(kIntervalMs);
  static const SystemClock clock;
  uint64_t suppressed = 0;
  const std::string kind = std::string(filename) + ":" + std::to_string(line);
  if (!throttle.Admit(kind, clock.MonotonicMs(), &suppressed)) return;
  const LogLevel ours = OurLevel(level);
  if (!LogEnabled(ours)) return;
  LogLine out(ours);
  out << "protobuf: " << message;
  if (suppressed > 0) out << " (and " << suppressed << " more like it since the last one, not logged)";
}

}  // namespace

void RouteProtobufLog() { google::protobuf::SetLogHandler(&OnProtobufLog); }

}  // namespace dynkv::node
