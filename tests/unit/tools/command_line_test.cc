// The tools' CLI11 validators: decimal whole numbers in a range, switches
// without values.
#include "command_line.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace dynkv::tools {
namespace {

// Parses `args` for an app with --count (WholeNumber(1, 100)) and --on (a
// switch); the error message, or "" when they parse.
std::string Parse(std::vector<std::string> args, uint32_t* count = nullptr, bool* on = nullptr) {
  CLI::App app("test");
  uint32_t count_value = 0;
  bool on_value = false;
  app.add_option("--count", count_value)->transform(WholeNumber(1, 100));
  app.add_flag("--on", on_value)->check(NoValue());
  args.insert(args.begin(), "test");
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    return e.what();
  }
  if (count != nullptr) *count = count_value;
  if (on != nullptr) *on = on_value;
  return "";
}

TEST_CASE("WholeNumber reads decimal, in its range") {
  uint32_t count = 0;
  CHECK(Parse({"--count", "010"}, &count) == "");
  CHECK(count == 10);
  CHECK(Parse({"--count=100"}, &count) == "");
  CHECK(count == 100);
  for (const char* bad : {"0", "101", "0x10", "1.5", "-1", "ten", "", "99999999999999999999999"}) {
    CAPTURE(bad);
    const std::string error = Parse({"--count", bad});
    CHECK(error.find("--count") != std::string::npos);
    CHECK(error.find("needs a whole number in 1..100") != std::string::npos);
  }
}

TEST_CASE("a switch takes no value") {
  bool on = false;
  CHECK(Parse({"--on"}, nullptr, &on) == "");
  CHECK(on);
  CHECK(Parse({"--on=no"}).find("--on: takes no value") != std::string::npos);
  CHECK(Parse({"--on=false"}).find("takes no value") != std::string::npos);
}

}  // namespace
}  // namespace dynkv::tools
