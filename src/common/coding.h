// Byte coding helpers shared by the record codec, the context codec and the
// frame codec: varints (LEB128, as LevelDB and protobuf use), fixed-width
// big-endian integers, and length-prefixed strings. Decoding never reads past
// the input: a ByteReader reports truncated or malformed input as false.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dynkv {

void PutVarint64(std::string* out, uint64_t value);
void PutFixed32BE(std::string* out, uint32_t value);
void PutFixed64BE(std::string* out, uint64_t value);
void PutLengthPrefixed(std::string* out, std::string_view bytes);

uint32_t DecodeFixed32BE(const char* p);
uint64_t DecodeFixed64BE(const char* p);

// Reads from a view; each getter returns false (and consumes nothing useful)
// when the input is truncated or malformed.
class ByteReader {
 public:
  explicit ByteReader(std::string_view input) : input_(input) {}

  bool GetVarint64(uint64_t* value);
  bool GetByte(uint8_t* value);
  bool GetLengthPrefixed(std::string_view* bytes);
  bool empty() const { return input_.empty(); }
  size_t remaining() const { return input_.size(); }

 private:
  std::string_view input_;
};

}  // namespace dynkv
