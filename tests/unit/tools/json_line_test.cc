// The tools' one-line JSON: the spelling scripts read, any bytes as valid
// JSON, and numbers as the CLI has always rounded them.
#include "json_line.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <string>

namespace dynkv::tools {
namespace {

TEST_CASE("one line, ': ' and ', ' between items, fields in the order added") {
  const Json doc = {{"zeta", 1}, {"alpha", Json::array({"a", true, nullptr})}, {"empty", Json::object()},
                    {"nested", {{"b", 2}, {"a", Json::array()}}}};
  CHECK(JsonLine(doc) ==
        R"({"zeta": 1, "alpha": ["a", true, null], "empty": {}, "nested": {"b": 2, "a": []}})");
}

TEST_CASE("strings are escaped; bytes that are not UTF-8 print as code points U+00XX") {
  CHECK(JsonLine("say \"hi\"\\\n\t\r") == R"("say \"hi\"\\\n\t\r")");
  CHECK(JsonLine(std::string("\x01", 1)) == R"("\u0001")");
  CHECK(JsonLine("h\xc3\xa9llo") == "\"h\xc3\xa9llo\"");  // valid UTF-8 stays as it is
  // 0xff alone, and a lead byte without its continuation: U+00FF and U+00C3.
  CHECK(JsonLine("a\xff" "b\xc3") == "\"a\xc3\xbf" "b\xc3\x83\"");
  CHECK(JsonLine(Json{{"k\xfe", 1}}) == "{\"k\xc3\xbe\": 1}");
}

TEST_CASE("JsonNumber rounds as %.15g and keeps whole numbers whole") {
  for (double value : {0.0, 1.0, 3.0, 0.1, 1.0 / 3, 1e-5, 0.0001, 1234567.25, 123456789012345.0, 1e15, 2.5e17,
                       -42.0, -0.5}) {
    char expected[64];
    std::snprintf(expected, sizeof(expected), "%.15g", value);
    CAPTURE(value);
    CHECK(JsonLine(JsonNumber(value)) == expected);
  }
  CHECK(JsonNumber(7.0).is_number_integer());
}

TEST_CASE("JsonDecimal rounds as %.*f; the shortest form of the result is printed") {
  CHECK(JsonLine(JsonDecimal(0.3333333, 6)) == "0.333333");
  CHECK(JsonLine(JsonDecimal(1.23456, 3)) == "1.235");
  CHECK(JsonLine(JsonDecimal(1.5, 3)) == "1.5");
  CHECK(JsonLine(JsonDecimal(0, 3)) == "0.0");
}

}  // namespace
}  // namespace dynkv::tools
