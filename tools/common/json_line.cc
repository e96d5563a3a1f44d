#include "json_line.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace dynkv::tools {

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

// The bytes as valid UTF-8: a byte outside a valid sequence becomes U+00XX.
std::string AsUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  while (!bytes.empty()) {
    size_t length = Utf8SequenceLength(bytes);
    if (length == 0) {
      const auto byte = static_cast<unsigned char>(bytes[0]);
      out.push_back(static_cast<char>(0xc0 | (byte >> 6)));
      out.push_back(static_cast<char>(0x80 | (byte & 0x3f)));
      length = 1;
    } else {
      out.append(bytes.substr(0, length));
    }
    bytes.remove_prefix(length);
  }
  return out;
}

void Write(const Json& value, std::string* out) {
  if (value.is_object()) {
    out->push_back('{');
    const char* separator = "";
    for (const auto& [key, item] : value.items()) {
      *out += separator + Json(AsUtf8(key)).dump() + ": ";
      Write(item, out);
      separator = ", ";
    }
    out->push_back('}');
  } else if (value.is_array()) {
    out->push_back('[');
    const char* separator = "";
    for (const Json& item : value) {
      *out += separator;
      Write(item, out);
      separator = ", ";
    }
    out->push_back(']');
  } else if (value.is_string()) {
    *out += Json(AsUtf8(value.get_ref<const std::string&>())).dump();
  } else {
    *out += value.dump();
  }
}

double Rounded(const char* format, int precision, double value) {
  char text[64];
  std::snprintf(text, sizeof(text), format, precision, value);
  return std::strtod(text, nullptr);
}

}  // namespace

std::string JsonLine(const Json& value) {
  std::string out;
  Write(value, &out);
  return out;
}

Json JsonNumber(double value) {
  const double rounded = Rounded("%.*g", 15, value);
  if (std::trunc(rounded) == rounded && std::fabs(rounded) < 1e15) return static_cast<int64_t>(rounded);
  return rounded;
}

Json JsonDecimal(double value, int decimals) { return Rounded("%.*f", decimals, value); }

}  // namespace dynkv::tools
