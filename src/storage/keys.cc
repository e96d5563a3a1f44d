#include "storage/keys.h"

#include "common/coding.h"
#include "common/key_hash.h"

namespace dynkv::storage {

namespace {

constexpr size_t kPositionBytes = 8;
constexpr size_t kMaxPrintableKeyBytes = 64;

}  // namespace

std::string DataKey(std::string_view user_key) {
  std::string key;
  SetDataKey(user_key, &key);
  return key;
}

void SetDataKey(std::string_view user_key, std::string* key) {
  key->clear();
  key->reserve(1 + kPositionBytes + user_key.size());
  key->push_back(kDataKeyKind);
  PutFixed64BE(key, KeyPosition(user_key));
  key->append(user_key);
}

bool ParseDataKey(std::string_view key, uint64_t* position, std::string_view* user_key) {
  if (key.size() < 1 + kPositionBytes || key[0] != kDataKeyKind) return false;
  *position = DecodeFixed64BE(key.data() + 1);
  *user_key = key.substr(1 + kPositionBytes);
  return true;
}

std::string MetaKey(std::string_view name) {
  std::string key(1, kMetaKeyKind);
  key.append(name);
  return key;
}

std::string HintTargetPrefix(std::string_view target) {
  std::string prefix(1, kHintKeyKind);
  PutLengthPrefixed(&prefix, target);
  return prefix;
}

std::string HintKey(std::string_view target, std::string_view user_key) {
  std::string key = HintTargetPrefix(target);
  PutFixed64BE(&key, KeyPosition(user_key));
  key.append(user_key);
  return key;
}

std::string PrefixSuccessor(std::string_view prefix) {
  std::string next(prefix);
  while (!next.empty() && static_cast<unsigned char>(next.back()) == 0xff) next.pop_back();
  if (!next.empty()) next.back() = static_cast<char>(static_cast<unsigned char>(next.back()) + 1);
  return next;
}

bool ParseHintKey(std::string_view key, std::string_view* target, std::string_view* user_key) {
  if (key.empty() || key[0] != kHintKeyKind) return false;
  ByteReader reader(key.substr(1));
  std::string_view parsed_target;
  if (!reader.GetLengthPrefixed(&parsed_target) || reader.remaining() < kPositionBytes) return false;
  const std::string_view rest = key.substr(key.size() - reader.remaining());
  *target = parsed_target;
  *user_key = rest.substr(kPositionBytes);
  return true;
}

std::string PrintableKey(std::string_view key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < key.size() && i < kMaxPrintableKeyBytes; ++i) {
    const auto byte = static_cast<unsigned char>(key[i]);
    if (byte >= 0x20 && byte < 0x7f && byte != '\\') {
      out.push_back(static_cast<char>(byte));
    } else {
      out += "\\x";
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    }
  }
  if (key.size() > kMaxPrintableKeyBytes) out += "...";
  return out;
}

}  // namespace dynkv::storage
