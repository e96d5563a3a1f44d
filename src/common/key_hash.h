// The ring position of a key: XXH3-64 of its bytes (DESIGN.md: Ring). Used
// by the ring to place keys and by storage to lay keys out by position.
#pragma once

#include <cstdint>
#include <string_view>

namespace dynkv {

uint64_t KeyPosition(std::string_view key);

}  // namespace dynkv
