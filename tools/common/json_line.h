// JSON as the dynkv tools print it: an nlohmann::ordered_json (fields in
// the order they were added) on one line, with ", " and ": " between items
// (`{"key": "k", "siblings": []}`), the spelling scripts and tests of the
// CLI have always read. nlohmann's dump() has no such separators; this
// writer walks the containers and leaves every scalar to dump().
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace dynkv::tools {

using Json = nlohmann::ordered_json;

// One line, without a newline. Strings (and keys) may hold any bytes:
// valid UTF-8 is written as it is, and each byte that is not is read as
// the code point U+00XX, so any value prints as valid JSON (plain `get`
// gives exact raw bytes).
std::string JsonLine(const Json& value);

// `value` as printf's "%.15g" rounds it: an integer when it is one (below
// 1e15), else a number of at most 15 significant digits.
Json JsonNumber(double value);
// `value` rounded to `decimals` places, as "%.*f" rounds it. dump() writes
// the shortest form of the result: 0.5, not 0.500.
Json JsonDecimal(double value, int decimals);

}  // namespace dynkv::tools
