// What the dynkv tools' command lines (CLI11) share: how they read whole
// numbers and switches, and what --help and a usage error do.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace dynkv::tools {

// A whole number in [min, max], in decimal: "010" is ten and "-1" is an
// error. CLI11's own conversion reads octal and hex (strtoull, base 0), so
// this validator also rewrites the text it accepts to plain digits.
CLI::Validator WholeNumber(uint64_t min, uint64_t max);

// For a switch (add_flag): "--json" alone; "--json=VALUE" is an error.
CLI::Validator NoValue();

// Parses argv into `app`. --help prints the help on stdout and exits 0; a
// usage error comes back as its message (nothing when all is well).
std::optional<std::string> ParseOrHelp(CLI::App& app, int argc, char** argv);

}  // namespace dynkv::tools
