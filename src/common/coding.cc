#include "common/coding.h"

namespace dynkv {

void PutVarint64(std::string* out, uint64_t value) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

void PutFixed32BE(std::string* out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(value >> shift));
}

void PutFixed64BE(std::string* out, uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(value >> shift));
}

void PutLengthPrefixed(std::string* out, std::string_view bytes) {
  PutVarint64(out, bytes.size());
  out->append(bytes);
}

uint32_t DecodeFixed32BE(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
}

uint64_t DecodeFixed64BE(const char* p) {
  return (uint64_t{DecodeFixed32BE(p)} << 32) | DecodeFixed32BE(p + 4);
}

bool ByteReader::GetVarint64(uint64_t* value) {
  uint64_t result = 0;
  for (int shift = 0, i = 0; shift <= 63 && i < static_cast<int>(input_.size()); shift += 7, ++i) {
    const auto byte = static_cast<uint8_t>(input_[i]);
    if (shift == 63 && byte > 1) return false;  // would overflow 64 bits
    result |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) {
      input_.remove_prefix(i + 1);
      *value = result;
      return true;
    }
  }
  return false;
}

bool ByteReader::GetByte(uint8_t* value) {
  if (input_.empty()) return false;
  *value = static_cast<uint8_t>(input_[0]);
  input_.remove_prefix(1);
  return true;
}

bool ByteReader::GetLengthPrefixed(std::string_view* bytes) {
  uint64_t size = 0;
  if (!GetVarint64(&size) || size > input_.size()) return false;
  *bytes = input_.substr(0, size);
  input_.remove_prefix(size);
  return true;
}

}  // namespace dynkv
