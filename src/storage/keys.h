// LevelDB key layout (DESIGN.md: Storage).
//
// A data key is the kind byte 'd', the user key's ring position (XXH3-64,
// 8 bytes big-endian) and the user key. LevelDB orders keys bytewise, so data
// keys sort by ring position and every ring range is one contiguous scan.
// Meta keys (node id, epoch, format) are 'm' + name. Other kinds (hints) get
// their own byte and so never mix with data in a scan.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dynkv::storage {

inline constexpr char kDataKeyKind = 'd';
inline constexpr char kMetaKeyKind = 'm';

std::string DataKey(std::string_view user_key);
// Splits a data key into its ring position and user key; false when `key`
// is not a data key.
bool ParseDataKey(std::string_view key, uint64_t* position, std::string_view* user_key);

std::string MetaKey(std::string_view name);

// `key` as it may appear in a log line or an error message: bytes outside
// printable ASCII escaped as \xNN, long keys cut short.
std::string PrintableKey(std::string_view key);

}  // namespace dynkv::storage
