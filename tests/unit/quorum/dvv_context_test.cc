// The client context codec: what a client hands back is untrusted bytes.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "common/coding.h"
#include "dvv_test_util.h"
#include "quorum/dvv.h"

namespace dynkv::dvv {
namespace {

constexpr uint64_t kMaxCounter = (uint64_t{1} << 63) - 1;

VersionVector RandomVersionVector(dvv_test::Rng& rng) {
  VersionVector vv;
  const uint64_t entries = rng.Below(6);
  for (uint64_t i = 0; i < entries; ++i) {
    std::string actor(1 + rng.Below(20), '\0');
    for (char& c : actor) c = static_cast<char>(rng.Below(256));
    // Counters of every width, from 1 to the largest a context may carry.
    const uint64_t counter = 1 + (rng.Next() >> (1 + rng.Below(63)));
    vv.Raise(actor, counter);
  }
  return vv;
}

// Fails unless `result` is INVALID_ARGUMENT naming a malformed context.
void CheckRejected(const Result<VersionVector>& result) {
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().code() == Code::kInvalidArgument);
  CHECK(result.status().message().starts_with("malformed context: "));
}

std::string EncodedEntries(const std::vector<VersionVector::Entry>& entries) {
  std::string out(1, '\x01');
  PutVarint64(&out, entries.size());
  for (const auto& [actor, counter] : entries) {
    PutLengthPrefixed(&out, actor);
    PutVarint64(&out, counter);
  }
  return out;
}

TEST_CASE("a context round-trips through its encoding") {
  const uint64_t seed = dvv_test::BaseSeed();
  CAPTURE(seed);
  dvv_test::Rng rng(seed);
  for (int i = 0; i < 2000; ++i) {
    const VersionVector vv = RandomVersionVector(rng);
    const std::string bytes = EncodeContext(vv);
    CHECK(bytes.empty() == vv.empty());
    const Result<VersionVector> decoded = DecodeContext(bytes);
    REQUIRE(decoded.ok());
    CHECK(*decoded == vv);
  }
  const VersionVector largest({{"a", kMaxCounter}});
  REQUIRE(DecodeContext(EncodeContext(largest)).ok());
  CHECK(*DecodeContext(EncodeContext(largest)) == largest);
}

TEST_CASE("the empty context is the empty string") {
  CHECK(EncodeContext(VersionVector()).empty());
  const Result<VersionVector> decoded = DecodeContext("");
  REQUIRE(decoded.ok());
  CHECK(decoded->empty());
}

TEST_CASE("a context with an unknown version byte is rejected") {
  std::string bytes = EncodeContext(VersionVector({{"a", 1}}));
  for (char version : {'\x00', '\x02', '\xff'}) {
    bytes[0] = version;
    CheckRejected(DecodeContext(bytes));
  }
}

TEST_CASE("every truncation of a context is rejected") {
  const std::string bytes =
      EncodeContext(VersionVector({{"node1.0a0b", 300}, {"node2.ffff", uint64_t{1} << 40}}));
  for (size_t length = 1; length < bytes.size(); ++length) {
    CAPTURE(length);
    CheckRejected(DecodeContext(std::string_view(bytes).substr(0, length)));
  }
}

TEST_CASE("a context followed by trailing bytes is rejected") {
  CheckRejected(DecodeContext(EncodeContext(VersionVector({{"a", 1}})) + "x"));
}

TEST_CASE("a context with unsorted, duplicate, empty or zero entries is rejected") {
  CheckRejected(DecodeContext(EncodedEntries({{"b", 1}, {"a", 1}})));
  CheckRejected(DecodeContext(EncodedEntries({{"a", 1}, {"a", 2}})));
  CheckRejected(DecodeContext(EncodedEntries({{"", 1}})));
  CheckRejected(DecodeContext(EncodedEntries({{"a", 0}})));
}

TEST_CASE("a context with a counter Update could not count past is rejected") {
  CheckRejected(DecodeContext(EncodedEntries({{"a", kMaxCounter + 1}})));
  CheckRejected(DecodeContext(EncodedEntries({{"a", std::numeric_limits<uint64_t>::max()}})));
}

// Either an error or a vector that keeps the invariants Update relies on.
void CheckDecodesSafely(std::string_view bytes) {
  const Result<VersionVector> decoded = DecodeContext(bytes);
  if (!decoded.ok()) {
    CHECK(decoded.status().code() == Code::kInvalidArgument);
    return;
  }
  const auto& entries = decoded->entries();
  for (size_t i = 0; i < entries.size(); ++i) {
    CHECK(entries[i].second >= 1);
    CHECK(entries[i].second <= kMaxCounter);
    if (i > 0) CHECK(entries[i - 1].first < entries[i].first);
  }
}

TEST_CASE("arbitrary bytes decode to an error or a well-formed context") {
  const uint64_t seed = dvv_test::BaseSeed();
  CAPTURE(seed);
  dvv_test::Rng rng(seed);
  for (int i = 0; i < 5000; ++i) {
    std::string bytes(rng.Below(48), '\0');
    for (char& c : bytes) c = static_cast<char>(rng.Below(256));
    // Most random strings die at the version byte; keep it valid half the time.
    if (!bytes.empty() && rng.OneIn(2)) bytes[0] = '\x01';
    CAPTURE(i);
    CheckDecodesSafely(bytes);
  }
  for (int i = 0; i < 5000; ++i) {
    std::string bytes = EncodeContext(RandomVersionVector(rng));
    if (bytes.empty()) continue;
    const uint64_t flips = 1 + rng.Below(3);
    for (uint64_t f = 0; f < flips; ++f) bytes[rng.Below(bytes.size())] = static_cast<char>(rng.Below(256));
    CAPTURE(i);
    CheckDecodesSafely(bytes);
  }
}

}  // namespace
}  // namespace dynkv::dvv
