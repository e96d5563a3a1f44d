#include "common/key_hash.h"

#include <xxhash.h>

namespace dynkv {

uint64_t KeyPosition(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

}  // namespace dynkv
