// Base64 (RFC 4648, standard alphabet, padded): the printable form of the
// opaque context that `get --json` prints and `--context` accepts.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dynkv::cli {

std::string Base64Encode(std::string_view bytes);
// nullopt for anything that is not padded standard base64.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace dynkv::cli
