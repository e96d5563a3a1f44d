#include "common/coding.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>

namespace dynkv {

TEST_CASE("varints round-trip across their whole range") {
  const uint64_t values[] = {0, 1, 127, 128, 300, 16383, 16384, uint64_t{1} << 35,
                             std::numeric_limits<uint64_t>::max()};
  std::string buf;
  for (uint64_t v : values) PutVarint64(&buf, v);
  ByteReader reader(buf);
  for (uint64_t v : values) {
    uint64_t got = 0;
    REQUIRE(reader.GetVarint64(&got));
    CHECK(got == v);
  }
  CHECK(reader.empty());
}

TEST_CASE("truncated and overlong varints are rejected") {
  std::string buf;
  PutVarint64(&buf, uint64_t{1} << 40);
  uint64_t got = 0;
  ByteReader truncated(std::string_view(buf).substr(0, buf.size() - 1));
  CHECK_FALSE(truncated.GetVarint64(&got));
  std::string overlong(11, '\xff');
  ByteReader reader(overlong);
  CHECK_FALSE(reader.GetVarint64(&got));
}

TEST_CASE("big-endian fixed integers put the most significant byte first") {
  std::string buf;
  PutFixed32BE(&buf, 0x01020304);
  CHECK(buf == std::string("\x01\x02\x03\x04", 4));
  CHECK(DecodeFixed32BE(buf.data()) == 0x01020304u);
  buf.clear();
  PutFixed64BE(&buf, 0x0102030405060708ull);
  CHECK(DecodeFixed64BE(buf.data()) == 0x0102030405060708ull);
}

TEST_CASE("a length prefix longer than the input is rejected") {
  std::string buf;
  PutVarint64(&buf, 10);
  buf += "abc";
  ByteReader reader(buf);
  std::string_view bytes;
  CHECK_FALSE(reader.GetLengthPrefixed(&bytes));
}

}  // namespace dynkv
