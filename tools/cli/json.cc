#include "json.h"

#include <cstdio>

namespace dynkv::cli {

namespace {

// Length of the valid UTF-8 sequence starting at s[0], or 0 (RFC 3629).
size_t Utf8SequenceLength(std::string_view s) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  size_t length = b0 < 0x80 ? 1 : (b0 >> 5) == 0x6 ? 2 : (b0 >> 4) == 0xe ? 3 : (b0 >> 3) == 0x1e ? 4 : 0;
  if (length == 0 || length > s.size()) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xc0) != 0x80) return 0;
  }
  if (length == 2 && b0 < 0xc2) return 0;  // overlong
  return length;
}

void AppendEscape(std::string* out, unsigned code) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "\\u%04x", code);
  out->append(buf);
}

}  // namespace

std::string JsonNumber(double value, const char* format) {
  char text[64];
  std::snprintf(text, sizeof(text), format, value);
  return text;
}

std::string JsonUint(uint64_t value) { return std::to_string(value); }

std::string JsonString(std::string_view bytes) {
  std::string out = "\"";
  while (!bytes.empty()) {
    const auto c = static_cast<unsigned char>(bytes[0]);
    size_t length = Utf8SequenceLength(bytes);
    if (length == 0) {
      AppendEscape(&out, c);
      length = 1;
    } else if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out.append("\\n");
    } else if (c == '\t') {
      out.append("\\t");
    } else if (c == '\r') {
      out.append("\\r");
    } else if (c < 0x20) {
      AppendEscape(&out, c);
    } else {
      out.append(bytes.substr(0, length));
    }
    bytes.remove_prefix(length);
  }
  out.push_back('"');
  return out;
}

}  // namespace dynkv::cli
