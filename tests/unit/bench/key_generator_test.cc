#include "bench/key_generator.h"

#include <doctest/doctest.h>

#include <map>
#include <numeric>
#include <set>
#include <string>

namespace dynkv::bench {

namespace {

std::string Key(uint64_t index) {
  char key[kKeyBytes];
  FormatKey(index, key);
  return std::string(key, kKeyBytes);
}

}  // namespace

TEST_CASE("keys have redis-benchmark's shape") {
  CHECK(Key(0) == "key:000000000000");
  CHECK(Key(123) == "key:000000000123");
  CHECK(Key(999'999'999'999) == "key:999999999999");
}

TEST_CASE("a seed fixes the key sequence and keys stay in range") {
  KeyChooser a(Distribution::kUniform, 1000, nullptr, 5);
  KeyChooser b(Distribution::kUniform, 1000, nullptr, 5);
  for (int i = 0; i < 10000; ++i) {
    const uint64_t k = a.Next();
    CHECK(k == b.Next());
    CHECK(k < 1000);
  }
}

TEST_CASE("zipfian keys follow Gray et al.'s distribution and spread the hot keys") {
  constexpr uint64_t kKeys = 1000;
  const ZipfianConstants z = MakeZipfianConstants(kKeys, 0.99);
  CHECK(std::gcd(z.multiplier, kKeys) == 1);
  for (uint64_t seed : {1u, 2u}) {
    CAPTURE(seed);
    KeyChooser chooser(Distribution::kZipfian, kKeys, &z, seed);
    std::map<uint64_t, uint64_t> counts;
    constexpr int kDraws = 200000;
    for (int i = 0; i < kDraws; ++i) {
      const uint64_t k = chooser.Next();
      REQUIRE(k < kKeys);
      ++counts[k];
    }
    // Rank 0 maps to key 0 and is drawn with probability 1 / zeta(n).
    const double expected = kDraws / z.zeta_n;
    CHECK(static_cast<double>(counts[0]) == doctest::Approx(expected).epsilon(0.05));
    // Skewed: the 10 hottest keys take far more than 10/1000 of the draws,
    // and rank 1 is not key 1 (the ranks are scrambled).
    std::vector<uint64_t> sorted;
    for (const auto& [key, n] : counts) sorted.push_back(n);
    std::sort(sorted.rbegin(), sorted.rend());
    const uint64_t top10 = std::accumulate(sorted.begin(), sorted.begin() + 10, uint64_t{0});
    CHECK(top10 > kDraws / 4);
    CHECK(counts[1] < counts[z.multiplier % kKeys]);
  }
}

TEST_CASE("the rank scramble is a permutation") {
  for (uint64_t n : {1u, 2u, 10u, 1000u, 1024u, 999983u}) {
    CAPTURE(n);
    const ZipfianConstants z = MakeZipfianConstants(n, 0.5);
    CHECK(std::gcd(z.multiplier, n) == 1);
  }
}

TEST_CASE("the op mix follows its weights") {
  const uint32_t only_gets[kOpKinds] = {1, 0, 0};
  const uint32_t only_dels[kOpKinds] = {0, 0, 3};
  const uint32_t half[kOpKinds] = {50, 50, 0};
  OpChooser gets(only_gets, 1), dels(only_dels, 1), mixed(half, 1);
  int puts = 0;
  for (int i = 0; i < 10000; ++i) {
    CHECK(gets.Next() == OpKind::kGet);
    CHECK(dels.Next() == OpKind::kDel);
    const OpKind kind = mixed.Next();
    CHECK(kind != OpKind::kDel);
    puts += kind == OpKind::kPut;
  }
  CHECK(puts == doctest::Approx(5000).epsilon(0.05));
}

TEST_CASE("values have the asked size") {
  ValueSource values(100, 3);
  for (int i = 0; i < 100; ++i) CHECK(values.Next().size() == 100);
}

}  // namespace dynkv::bench
