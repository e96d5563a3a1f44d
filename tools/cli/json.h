// Just enough JSON output for the CLI: quoted, escaped strings. Bytes that
// are not valid UTF-8 are written one code point per byte (\u00XX), so any
// value prints as valid JSON; use plain `get` for exact raw bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dynkv::cli {

std::string JsonString(std::string_view bytes);
// A number as printf's `format` writes it (default: up to 15 significant digits).
std::string JsonNumber(double value, const char* format = "%.15g");
// An integer, exact over the whole uint64 range (JsonNumber rounds above 2^53).
std::string JsonUint(uint64_t value);

}  // namespace dynkv::cli
