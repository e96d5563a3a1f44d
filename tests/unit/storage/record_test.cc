#include "storage/record.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <limits>
#include <random>
#include <string>

#include "common/coding.h"

namespace dynkv::storage {
namespace {

Sibling Value(const std::string& actor, uint64_t counter, std::string value, int64_t expires_at_ms = 0) {
  return Sibling{Dot{actor, counter}, false, std::move(value), 1'700'000'000'000, expires_at_ms};
}

Sibling Tombstone(const std::string& actor, uint64_t counter, int64_t write_time_ms) {
  return Sibling{Dot{actor, counter}, true, "", write_time_ms, 0};
}

std::string Compressible(size_t bytes) {
  std::string out;
  for (int i = 0; out.size() < bytes; ++i) {
    out += "{\"user\":" + std::to_string(i % 50) + ",\"name\":\"dynkv\",\"tags\":[\"a\",\"b\"]},";
  }
  out.resize(bytes);
  return out;
}

std::string RandomBytes(std::mt19937_64& rng, size_t bytes) {
  std::string out(bytes, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

uint64_t TestSeed() {
  const char* env = std::getenv("DYNKV_TEST_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 20240601;
}

Object RoundTrip(const Object& object, const CompressionOptions& options = {}) {
  std::string record;
  EncodeRecord(object, options, &record);
  Object back;
  const Status status = DecodeRecord(record, &back);
  REQUIRE_MESSAGE(status.ok(), status.ToString());
  return back;
}

// A record holding one sibling a:1 with `flags` and raw value bytes.
std::string RecordWithValue(uint8_t flags, std::string_view value) {
  std::string record(1, static_cast<char>(kRecordFormatV1));
  AppendVersionVector(&record, VersionVector({{"a", 1}}));
  PutVarint64(&record, 1);
  PutLengthPrefixed(&record, "a");
  PutVarint64(&record, 1);
  record.push_back(static_cast<char>(flags));
  PutVarint64(&record, 0);
  PutVarint64(&record, 0);
  PutLengthPrefixed(&record, value);
  return record;
}

// A record mixing compressed and raw values, tombstones and TTLs.
Object MixedObject() {
  Object object;
  object.vv = VersionVector({{"n1.aa", 4}, {"n2.bb", 9}});
  object.siblings = {Value("n1.aa", 4, Compressible(2000), 1'700'000'100'000),
                     Tombstone("n2.bb", 8, 1'700'000'000'500), Value("n2.bb", 9, "short")};
  return object;
}

Status Decode(std::string_view record) {
  Object ignored;
  return DecodeRecord(record, &ignored);
}

// Decoding arbitrary bytes either fails with Corruption or yields an object
// that holds the invariants and re-encodes to the same object.
void CheckDecodesSafely(std::string_view bytes) {
  Object object;
  const Status status = DecodeRecord(bytes, &object);
  if (!status.ok()) {
    CHECK(status.code() == Code::kCorruption);
    return;
  }
  CHECK(CheckObject(object).ok());
  CHECK(RoundTrip(object) == object);
}

TEST_CASE("a record with a version vector and no siblings round-trips") {
  Object object;
  object.vv = VersionVector({{"n1.0a", 3}, {"n2.0b", 1ull << 50}});
  CHECK(RoundTrip(object) == object);
  CHECK(RoundTrip(Object{}) == Object{});
}

TEST_CASE("values, tombstones, write times and TTL expiry round-trip") {
  Object object;
  object.vv = VersionVector({{"a", 7}, {"b", 2}});
  object.siblings = {Value("a", 7, "hello", 1'700'000'060'000), Tombstone("b", 2, 1'700'000'000'123),
                     Value("a", 5, ""),
                     Sibling{Dot{"a", 6}, false, "v", -5, std::numeric_limits<int64_t>::max()}};
  const Object back = RoundTrip(object);
  CHECK(back == object);
  CHECK(back.siblings[0].ExpiredAt(1'700'000'060'000));
  CHECK_FALSE(back.siblings[0].ExpiredAt(1'700'000'059'999));
  CHECK(back.siblings[1].tombstone);
}

TEST_CASE("many siblings from many actors round-trip, with and without compression") {
  Object object;
  std::vector<VersionVector::Entry> entries;
  for (int actor = 0; actor < 40; ++actor) {
    const std::string name = "node" + std::to_string(100 + actor) + ".epoch";
    entries.emplace_back(name, 3);
    for (uint64_t counter = 1; counter <= 3; ++counter) {
      object.siblings.push_back(Value(name, counter, Compressible(100 * counter * (actor % 7))));
    }
  }
  object.vv = VersionVector(std::move(entries));
  CHECK(RoundTrip(object, CompressionOptions{0, 3}) == object);
  CHECK(RoundTrip(object, CompressionOptions{1, 1}) == object);
  CHECK(RoundTrip(object, CompressionOptions{512, 19}) == object);
}

TEST_CASE("a compressible value at or above min_bytes is stored compressed and smaller") {
  Object object;
  object.vv = VersionVector({{"a", 1}});
  object.siblings = {Value("a", 1, Compressible(4096))};
  std::string record;
  CompressionStats stats;
  EncodeRecord(object, CompressionOptions{512, 3}, &record, &stats);
  CHECK(record.size() < 4096 / 2);
  CHECK(stats.values_compressed == 1);
  CHECK(stats.bytes_before == 4096);
  CHECK(stats.bytes_after < 4096 / 2);
  Object back;
  REQUIRE(DecodeRecord(record, &back).ok());
  CHECK(back == object);
}

TEST_CASE("an incompressible value is stored raw") {
  std::mt19937_64 rng(TestSeed());
  Object object;
  object.vv = VersionVector({{"a", 1}});
  object.siblings = {Value("a", 1, RandomBytes(rng, 1024))};
  std::string record;
  CompressionStats stats;
  EncodeRecord(object, CompressionOptions{512, 3}, &record, &stats);
  CHECK(stats.values_compressed == 0);
  CHECK(record.size() > 1024);
  CHECK(record.find(object.siblings[0].value) != std::string::npos);
  CHECK(RoundTrip(object) == object);
}

TEST_CASE("values below min_bytes, or with min_bytes 0, are stored raw") {
  Object object;
  object.vv = VersionVector({{"a", 2}});
  object.siblings = {Value("a", 1, Compressible(511)), Value("a", 2, Compressible(512))};
  std::string record;
  CompressionStats stats;
  EncodeRecord(object, CompressionOptions{512, 3}, &record, &stats);
  CHECK(stats.values_compressed == 1);
  CHECK(stats.bytes_before == 512);
  CHECK(record.find(object.siblings[0].value) != std::string::npos);
  CHECK(record.find(object.siblings[1].value) == std::string::npos);

  CompressionStats disabled;
  EncodeRecord(object, CompressionOptions{0, 3}, &record, &disabled);
  CHECK(disabled.values_compressed == 0);
  CHECK(record.find(object.siblings[1].value) != std::string::npos);
}

TEST_CASE("a 16 MiB value compresses to a tiny record and decodes back") {
  Object object;
  object.vv = VersionVector({{"a", 1}});
  object.siblings = {Value("a", 1, std::string(16u << 20, 'z'))};
  std::string record;
  EncodeRecord(object, CompressionOptions{}, &record);
  CHECK(record.size() < 4096);
  Object back;
  REQUIRE(DecodeRecord(record, &back).ok());
  CHECK(back == object);
}

TEST_CASE("every truncation of a valid record is rejected as corrupt") {
  std::string record;
  EncodeRecord(MixedObject(), CompressionOptions{}, &record);
  REQUIRE(Decode(record).ok());
  for (size_t length = 0; length < record.size(); ++length) {
    CAPTURE(length);
    CHECK(Decode(std::string_view(record).substr(0, length)).code() == Code::kCorruption);
  }
}

TEST_CASE("trailing bytes, unknown versions and unknown flags are rejected") {
  std::string record;
  EncodeRecord(MixedObject(), CompressionOptions{}, &record);
  CHECK(Decode(record + '\0').code() == Code::kCorruption);

  std::string future = record;
  future[0] = 2;
  CHECK(Decode(future).code() == Code::kCorruption);

  REQUIRE(Decode(RecordWithValue(0, "abc")).ok());
  REQUIRE(Decode(RecordWithValue(kSiblingTombstone, "")).ok());
  CHECK(Decode(RecordWithValue(0x04, "abc")).code() == Code::kCorruption);
  CHECK(Decode(RecordWithValue(0x80, "abc")).code() == Code::kCorruption);
}

TEST_CASE("records whose object breaks the invariants are rejected") {
  auto encoded = [](const Object& object) {
    std::string record;
    EncodeRecord(object, CompressionOptions{}, &record);
    return record;
  };
  Object uncovered;
  uncovered.vv = VersionVector({{"a", 1}});
  uncovered.siblings = {Value("a", 2, "x")};
  CHECK(Decode(encoded(uncovered)).code() == Code::kCorruption);

  Object foreign_actor;
  foreign_actor.vv = VersionVector({{"a", 1}});
  foreign_actor.siblings = {Value("b", 1, "x")};
  CHECK(Decode(encoded(foreign_actor)).code() == Code::kCorruption);

  Object duplicate;
  duplicate.vv = VersionVector({{"a", 3}});
  duplicate.siblings = {Value("a", 2, "x"), Value("a", 3, "y"), Value("a", 2, "z")};
  CHECK(Decode(encoded(duplicate)).code() == Code::kCorruption);

  Object zero_dot;
  zero_dot.vv = VersionVector({{"a", 3}});
  zero_dot.siblings = {Value("a", 0, "x")};
  CHECK(Decode(encoded(zero_dot)).code() == Code::kCorruption);

  Object unsorted;
  unsorted.vv = VersionVector({{"b", 1}, {"a", 1}});
  CHECK(Decode(encoded(unsorted)).code() == Code::kCorruption);

  Object zero_counter;
  zero_counter.vv = VersionVector({{"a", 0}});
  CHECK(Decode(encoded(zero_counter)).code() == Code::kCorruption);
}

// Hand-made zstd frames (RFC 8878, 3.1.1): magic, frame header descriptor,
// optional window descriptor and content size, then blocks.
std::string FrameHeader(uint8_t descriptor) {
  std::string frame = "\x28\xb5\x2f\xfd";
  frame.push_back(static_cast<char>(descriptor));
  return frame;
}

std::string LittleEndian(uint64_t value, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>(value >> (8 * i)));
  return out;
}

// A last raw block holding `content`.
std::string RawBlock(std::string_view content) {
  return LittleEndian((content.size() << 3) | 1, 3) + std::string(content);
}

TEST_CASE("zstd values that claim absurd, unknown or false sizes are rejected") {
  // Single segment with a 1-byte content size: a well-formed frame.
  const std::string honest = FrameHeader(0x20) + LittleEndian(5, 1) + RawBlock("hello");
  Object object;
  REQUIRE(DecodeRecord(RecordWithValue(kSiblingZstd, honest), &object).ok());
  CHECK(object.siblings[0].value == "hello");

  const std::string one_tib = FrameHeader(0xe0) + LittleEndian(1ull << 40, 8) + RawBlock("");
  Status status = Decode(RecordWithValue(kSiblingZstd, one_tib));
  CHECK(status.code() == Code::kCorruption);
  CHECK(status.message().find("claims") != std::string::npos);

  const std::string tiny_claims_200_mib = FrameHeader(0xe0) + LittleEndian(200ull << 20, 8) + RawBlock("x");
  CHECK(Decode(RecordWithValue(kSiblingZstd, tiny_claims_200_mib)).code() == Code::kCorruption);

  const std::string unknown_size = FrameHeader(0x00) + std::string(1, '\0') + RawBlock("abc");
  status = Decode(RecordWithValue(kSiblingZstd, unknown_size));
  CHECK(status.code() == Code::kCorruption);
  CHECK(status.message().find("size") != std::string::npos);

  const std::string short_content = FrameHeader(0x20) + LittleEndian(10, 1) + RawBlock("hello");
  CHECK(Decode(RecordWithValue(kSiblingZstd, short_content)).code() == Code::kCorruption);

  CHECK(Decode(RecordWithValue(kSiblingZstd, honest + "x")).code() == Code::kCorruption);
  CHECK(Decode(RecordWithValue(kSiblingZstd, honest + honest)).code() == Code::kCorruption);
  CHECK(Decode(RecordWithValue(kSiblingZstd, "not zstd at all")).code() == Code::kCorruption);
  CHECK(Decode(RecordWithValue(kSiblingZstd, "")).code() == Code::kCorruption);
}

TEST_CASE("flipping any bit of a valid record never crashes the decoder") {
  std::string record;
  EncodeRecord(MixedObject(), CompressionOptions{}, &record);
  for (size_t i = 0; i < record.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = record;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
      CAPTURE(i);
      CAPTURE(bit);
      CheckDecodesSafely(flipped);
    }
  }
}

TEST_CASE("random bytes and random mutations never crash the decoder") {
  const uint64_t seed = TestSeed();
  CAPTURE(seed);  // rerun with DYNKV_TEST_SEED=<seed>
  std::mt19937_64 rng(seed);
  std::string valid;
  EncodeRecord(MixedObject(), CompressionOptions{}, &valid);
  for (int round = 0; round < 20000; ++round) {
    std::string input;
    switch (round % 3) {
      case 0:
        input = RandomBytes(rng, rng() % 200);
        break;
      case 1:
        input = std::string(1, static_cast<char>(kRecordFormatV1)) + RandomBytes(rng, rng() % 200);
        break;
      default:
        input = valid;
        for (int edits = 1 + rng() % 4; edits > 0; --edits)
          input[rng() % input.size()] = static_cast<char>(rng());
        break;
    }
    CheckDecodesSafely(input);
  }
}

}  // namespace
}  // namespace dynkv::storage
