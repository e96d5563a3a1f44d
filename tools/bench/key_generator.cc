#include "key_generator.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace dynkv::bench {

void FormatKey(uint64_t index, char out[kKeyBytes]) {
  out[0] = 'k';
  out[1] = 'e';
  out[2] = 'y';
  out[3] = ':';
  for (size_t i = kKeyBytes; i > 4; --i) {
    out[i - 1] = static_cast<char>('0' + index % 10);
    index /= 10;
  }
}

ZipfianConstants MakeZipfianConstants(uint64_t n, double theta) {
  ZipfianConstants z;
  z.n = n;
  z.theta = theta;
  z.alpha = 1.0 / (1.0 - theta);
  double zeta = 0;
  for (uint64_t i = 1; i <= n; ++i) zeta += 1.0 / std::pow(static_cast<double>(i), theta);
  z.zeta_n = zeta;
  const double zeta_2 = 1.0 + 1.0 / std::pow(2.0, theta);
  z.eta = (1.0 - std::pow(2.0 / static_cast<double>(n), 1.0 - theta)) / (1.0 - zeta_2 / zeta);
  z.half_pow_theta = std::pow(0.5, theta);
  // Any multiplier coprime with n permutes [0, n); start from the 64-bit
  // golden ratio so consecutive ranks land far apart.
  uint64_t m = 0x9E3779B97F4A7C15ull % n;
  while (std::gcd(m, n) != 1) ++m;
  z.multiplier = m;
  return z;
}

KeyChooser::KeyChooser(Distribution distribution, uint64_t keys, const ZipfianConstants* zipf, uint64_t seed)
    : distribution_(distribution), keys_(keys), zipf_(zipf), random_(seed), uniform_(0, keys - 1) {}

uint64_t KeyChooser::Next() {
  if (distribution_ == Distribution::kUniform) return uniform_(random_);
  const unsigned __int128 product = static_cast<unsigned __int128>(NextZipfianRank()) * zipf_->multiplier;
  return static_cast<uint64_t>(product % keys_);
}

// Gray et al. 1994, figure 5: the first two ranks are handled exactly, the
// rest by the closed-form approximation of the inverse CDF.
uint64_t KeyChooser::NextZipfianRank() {
  const double u = unit_(random_);
  const double uz = u * zipf_->zeta_n;
  if (uz < 1.0) return 0;
  if (uz < 1.0 + zipf_->half_pow_theta) return std::min<uint64_t>(1, keys_ - 1);
  const double rank = static_cast<double>(keys_) * std::pow(zipf_->eta * u - zipf_->eta + 1.0, zipf_->alpha);
  return std::min(static_cast<uint64_t>(rank), keys_ - 1);
}

ValueSource::ValueSource(uint32_t value_size, uint64_t seed) : value_size_(value_size), random_(seed) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::uniform_int_distribution<size_t> pick(0, sizeof(kAlphabet) - 2);
  pool_.resize(size_t{value_size} + kSlack);
  for (char& c : pool_) c = kAlphabet[pick(random_)];
}

std::string_view ValueSource::Next() {
  const size_t offset = random_() % kSlack;
  return std::string_view(pool_).substr(offset, value_size_);
}

OpChooser::OpChooser(const uint32_t mix[kOpKinds], uint64_t seed)
    : random_(seed), pick_(0, mix[0] + mix[1] + mix[2] - 1) {
  uint32_t sum = 0;
  for (int i = 0; i < kOpKinds; ++i) bounds_[i] = sum += mix[i];
}

OpKind OpChooser::Next() {
  const uint32_t x = pick_(random_);
  if (x < bounds_[0]) return OpKind::kGet;
  if (x < bounds_[1]) return OpKind::kPut;
  return OpKind::kDel;
}

}  // namespace dynkv::bench
