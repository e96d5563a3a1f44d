#include <doctest/doctest.h>

#include <limits>
#include <random>

#include "ring/ring.h"
#include "ring_test_util.h"

namespace dynkv::ring {

namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

std::vector<uint64_t> Decoded(std::string_view bytes) {
  Result<std::vector<uint64_t>> tokens = DecodeTokens(bytes);
  REQUIRE_MESSAGE(tokens.ok(), tokens.status().ToString());
  return std::move(tokens).value();
}

}  // namespace

TEST_CASE("token lists round-trip") {
  const std::vector<std::vector<uint64_t>> lists = {{}, {0}, {kMax}, {0, 1, kMax - 1, kMax}};
  for (const auto& tokens : lists) CHECK(Decoded(EncodeTokens(tokens)) == tokens);
  const uint64_t seed = ring_test::BaseSeed();
  CAPTURE(seed);
  for (size_t count : {size_t{1}, kDefaultVnodes, size_t{256}, kMaxVnodes}) {
    const std::vector<uint64_t> tokens = RandomTokens("node", count, seed);
    const std::string bytes = EncodeTokens(tokens);
    CHECK(bytes.size() == 1 + 8 * count);
    CHECK(Decoded(bytes) == tokens);
  }
}

TEST_CASE("encoding sorts and deduplicates") {
  CHECK(Decoded(EncodeTokens({30, 10, 30, 20})) == std::vector<uint64_t>{10, 20, 30});
}

TEST_CASE("damaged token lists are rejected") {
  const std::string good = EncodeTokens({5, 6, 7});
  for (size_t length = 0; length < good.size(); ++length) {
    CAPTURE(length);
    const std::string_view prefix = std::string_view(good).substr(0, length);
    // A whole shorter list (1 + 8k bytes) is a valid encoding of fewer tokens.
    if (length % 8 == 1) continue;
    CHECK(DecodeTokens(prefix).status().code() == Code::kCorruption);
  }
  CHECK(DecodeTokens(good + "x").status().code() == Code::kCorruption);
  std::string version = good;
  version[0] = 2;
  CHECK(DecodeTokens(version).status().code() == Code::kCorruption);
  CHECK(DecodeTokens(EncodeTokens({6}) + EncodeTokens({5}).substr(1)).status().code() == Code::kCorruption);
  CHECK(DecodeTokens(EncodeTokens({6}) + EncodeTokens({6}).substr(1)).status().code() == Code::kCorruption);
  std::vector<uint64_t> too_many(kMaxVnodes + 1);
  for (size_t i = 0; i < too_many.size(); ++i) too_many[i] = i;
  CHECK(DecodeTokens(EncodeTokens(too_many)).status().code() == Code::kCorruption);
}

TEST_CASE("arbitrary bytes decode to a canonical list or an error, never a crash") {
  const uint64_t base = ring_test::BaseSeed();
  size_t accepted = 0;
  for (uint64_t round = 0; round < 20000; ++round) {
    const uint64_t seed = base + round;
    CAPTURE(seed);
    std::mt19937_64 random(seed);
    std::string bytes(random() % 40, '\0');
    for (char& c : bytes) c = static_cast<char>(random());
    // Mostly the right version byte, to get past the first check.
    if (!bytes.empty() && random() % 4 != 0) bytes[0] = 1;
    Result<std::vector<uint64_t>> tokens = DecodeTokens(bytes);
    if (!tokens.ok()) {
      CHECK(tokens.status().code() == Code::kCorruption);
      continue;
    }
    ++accepted;
    // Whatever is accepted is exactly what the encoder writes for it.
    CHECK(EncodeTokens(*tokens) == bytes);
  }
  CHECK(accepted > 0);
}

}  // namespace dynkv::ring
