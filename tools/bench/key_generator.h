// Which key and which value each operation uses.
//
// Keys are "key:" + the key index as 12 zero-padded digits, the shape
// redis-benchmark uses for -r, so both tools touch the same key space.
//
// The zipfian distribution is the generator of Gray et al., "Quickly
// generating billion-record synthetic databases" (SIGMOD 1994), as YCSB
// uses it: rank 0 is the most popular. As in YCSB's scrambled zipfian,
// ranks are then spread over the key space (here by a multiplicative
// permutation), so the hot keys are not all neighbours.
//
// Threads: ZipfianConstants is immutable and shared; every KeyChooser and
// ValueSource belongs to one thread.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "options.h"

namespace dynkv::bench {

inline constexpr size_t kKeyBytes = 16;

// Writes the key of `index` (< 10^12) into out[0..kKeyBytes).
void FormatKey(uint64_t index, char out[kKeyBytes]);

// The O(n) part of the zipfian generator, computed once per run.
struct ZipfianConstants {
  uint64_t n = 0;
  double theta = 0;
  double alpha = 0;   // 1 / (1 - theta)
  double zeta_n = 0;  // sum_{i=1..n} 1 / i^theta
  double eta = 0;
  double half_pow_theta = 0;  // 0.5^theta
  uint64_t multiplier = 1;    // coprime with n: rank -> key index permutation
};

// REQUIRES: n >= 1, 0 < theta < 1.
ZipfianConstants MakeZipfianConstants(uint64_t n, double theta);

class KeyChooser {
 public:
  // `zipf` must outlive the chooser; it is used only for kZipfian.
  KeyChooser(Distribution distribution, uint64_t keys, const ZipfianConstants* zipf, uint64_t seed);

  // A key index in [0, keys).
  uint64_t Next();

 private:
  uint64_t NextZipfianRank();

  Distribution distribution_;
  uint64_t keys_;
  const ZipfianConstants* zipf_;
  std::mt19937_64 random_;
  std::uniform_int_distribution<uint64_t> uniform_;
  std::uniform_real_distribution<double> unit_{0.0, 1.0};
};

// Values of a fixed size cut at random offsets from a buffer of random
// printable bytes: distinct values without generating each one.
class ValueSource {
 public:
  ValueSource(uint32_t value_size, uint64_t seed);
  std::string_view Next();

 private:
  static constexpr uint32_t kSlack = 4096;
  uint32_t value_size_;
  std::string pool_;
  std::mt19937_64 random_;
};

// Picks get, put or del by the --mix weights.
class OpChooser {
 public:
  OpChooser(const uint32_t mix[kOpKinds], uint64_t seed);
  OpKind Next();

 private:
  uint32_t bounds_[kOpKinds];  // cumulative weights
  std::mt19937_64 random_;
  std::uniform_int_distribution<uint32_t> pick_;
};

}  // namespace dynkv::bench
