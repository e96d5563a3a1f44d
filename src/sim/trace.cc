#include "sim/trace.h"

#include <xxhash.h>

#include <cstdio>

namespace dynkv::sim {

bool Trace::WriteTo(const std::string& path) {
  file_ = std::make_unique<std::ofstream>(path);
  return file_->good();
}

void Trace::Add(int64_t time_ms, std::string_view line) {
  hash_ = XXH3_64bits_withSeed(&time_ms, sizeof(time_ms), hash_);
  hash_ = XXH3_64bits_withSeed(line.data(), line.size(), hash_);
  if (lines_++ == 0) first_ms_ = time_ms;
  if (file_) {
    // Simulated seconds since the first line: "12.345 n1 > n2 gossip_syn".
    const int64_t since = time_ms - first_ms_;
    char stamp[32];
    std::snprintf(stamp, sizeof(stamp), "%lld.%03lld ", static_cast<long long>(since / 1000),
                  static_cast<long long>(since % 1000));
    *file_ << stamp << line << '\n';
  }
}

std::string Trace::Hex() const {
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash_));
  return hex;
}

}  // namespace dynkv::sim
