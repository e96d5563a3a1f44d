#include "command_line.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace dynkv::tools {

CLI::Validator WholeNumber(uint64_t min, uint64_t max) {
  const std::string expected =
      max == UINT64_MAX || max == UINT32_MAX
          ? "a whole number of at least " + std::to_string(min)
          : "a whole number in " + std::to_string(min) + ".." + std::to_string(max);
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        char* end = nullptr;
        errno = 0;
        const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
        if (text.empty() || text[0] == '-' || *end != '\0' || errno != 0 || value < min || value > max) {
          return "needs " + expected + ", not '" + text + "'";
        }
        text = std::to_string(value);
        return "";
      },
      "", "WholeNumber");
}

CLI::Validator NoValue() {
  // A switch given alone reaches its validators as "true".
  return CLI::Validator(
      [](std::string& text) -> std::string { return text == "true" ? "" : "takes no value"; }, "", "NoValue");
}

std::optional<std::string> ParseOrHelp(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    std::exit(0);
  } catch (const CLI::ParseError& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

}  // namespace dynkv::tools
