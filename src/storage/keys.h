// LevelDB key layout (DESIGN.md: Storage).
//
// A data key is the kind byte 'd', the user key's ring position (XXH3-64,
// 8 bytes big-endian) and the user key. LevelDB orders keys bytewise, so data
// keys sort by ring position and every ring range is one contiguous scan.
// Meta keys (node id, epoch, format) are 'm' + name. Hint keys are 'h' +
// target + position + user key. Each kind has its own byte and so never
// mixes with another in a scan.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dynkv::storage {

inline constexpr char kDataKeyKind = 'd';
inline constexpr char kMetaKeyKind = 'm';
inline constexpr char kHintKeyKind = 'h';

std::string DataKey(std::string_view user_key);
// The same into *key, reusing its buffer (hot paths).
void SetDataKey(std::string_view user_key, std::string* key);
// Splits a data key into its ring position and user key; false when `key`
// is not a data key.
bool ParseDataKey(std::string_view key, uint64_t* position, std::string_view* user_key);

std::string MetaKey(std::string_view name);

// A hint key: 'h', the target node id (varint length + bytes), the user
// key's ring position (8 bytes big-endian) and the user key. The length
// prefix makes each target's hints one contiguous range, in ring order.
std::string HintKey(std::string_view target, std::string_view user_key);
// The first bytes shared by every hint key of `target`.
std::string HintTargetPrefix(std::string_view target);
// The smallest key after every key that starts with `prefix`; empty when
// there is none (prefix all 0xff).
std::string PrefixSuccessor(std::string_view prefix);
// Splits a hint key; false when `key` is not a well-formed hint key.
bool ParseHintKey(std::string_view key, std::string_view* target, std::string_view* user_key);

// `key` as it may appear in a log line or an error message: bytes outside
// printable ASCII escaped as \xNN, long keys cut short.
std::string PrintableKey(std::string_view key);

}  // namespace dynkv::storage
