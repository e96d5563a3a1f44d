// Trace: the ordered record of a simulated run. Every line is hashed into
// one 64-bit value (XXH3, chained), so two runs are the same run exactly
// when their hashes agree; with a file, the lines are also written there
// for a person to read.
#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

namespace dynkv::sim {

class Trace {
 public:
  Trace() = default;
  // Also writes every line to `path`. False when it cannot be opened.
  bool WriteTo(const std::string& path);

  void Add(int64_t time_ms, std::string_view line);
  uint64_t hash() const { return hash_; }
  uint64_t lines() const { return lines_; }
  // The hash as 16 hex digits.
  std::string Hex() const;

 private:
  uint64_t hash_ = 0;
  uint64_t lines_ = 0;
  int64_t first_ms_ = 0;
  std::unique_ptr<std::ofstream> file_;
};

}  // namespace dynkv::sim
