#include "common/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace dynkv {

namespace {

// Written once at start-up, read from every thread.
std::atomic<int> g_threshold{static_cast<int>(LogLevel::kInfo)};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarn: return "WARN";
    case LogLevel::kError: return "ERROR";
  }
  return "?";
}

}  // namespace

void SetLogLevel(LogLevel level) { g_threshold = static_cast<int>(level); }

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_threshold.load(std::memory_order_relaxed); }

bool ParseLogLevel(std::string_view name, LogLevel* level) {
  if (name == "debug") *level = LogLevel::kDebug;
  else if (name == "info") *level = LogLevel::kInfo;
  else if (name == "warn") *level = LogLevel::kWarn;
  else if (name == "error") *level = LogLevel::kError;
  else return false;
  return true;
}

bool LogThrottle::Admit(std::string_view kind, int64_t now_ms, uint64_t* suppressed) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = kinds_.find(kind);
  if (it == kinds_.end()) {
    kinds_.emplace(std::string(kind), Kind{now_ms, 0});
    *suppressed = 0;
    return true;
  }
  Kind& k = it->second;
  if (now_ms - k.last_ms < interval_ms_) {
    ++k.suppressed;
    return false;
  }
  *suppressed = k.suppressed;
  k = Kind{now_ms, 0};
  return true;
}

LogLine::~LogLine() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t secs = system_clock::to_time_t(now);
  const auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string line = stream_.str();
  std::fprintf(stderr, "%s.%03dZ %-5s %s\n", stamp, static_cast<int>(millis), LevelName(level_), line.c_str());
}

}  // namespace dynkv
