// Fuzz target: the hint decoders (storage/keys.h ParseHintKey,
// storage/record.h DecodeHintRecord), which read every hint LevelDB hands
// back to hinted handoff. Input: the hint key length-prefixed (a varint
// length), then the hint record. A key that parses splits into parts inside it; a
// record that decodes holds object.h's invariants and round-trips.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/coding.h"
#include "common/object.h"
#include "fuzz_check.h"
#include "storage/keys.h"
#include "storage/record.h"

using namespace dynkv;

namespace {

void CheckKey(std::string_view key) {
  std::string_view target;
  std::string_view user_key;
  if (!storage::ParseHintKey(key, &target, &user_key)) return;
  // Both parts lie inside the key, the user key after the 8-byte position.
  FUZZ_CHECK(key.ends_with(user_key));
  FUZZ_CHECK(1 + target.size() + 8 + user_key.size() <= key.size());
  FUZZ_CHECK(target.data() > key.data() && target.data() + target.size() <= key.data() + key.size());
}

void CheckRecord(std::string_view record, storage::ZstdCodec* zstd) {
  storage::Hint hint;
  if (!storage::DecodeHintRecord(record, &hint, zstd).ok()) return;
  FUZZ_CHECK(CheckObject(hint.object).ok());
  std::string scratch;
  std::string encoded;
  storage::EncodeHintRecord(hint, storage::CompressionOptions{}, &scratch, &encoded, zstd);
  storage::Hint again;
  FUZZ_CHECK(storage::DecodeHintRecord(encoded, &again, zstd).ok());
  FUZZ_CHECK(again.object == hint.object);
  FUZZ_CHECK(again.stored_at_ms == hint.stored_at_ms);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static storage::ZstdCodec zstd;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  ByteReader reader(input);
  std::string_view key;
  if (!reader.GetLengthPrefixed(&key)) return 0;
  CheckKey(key);
  CheckRecord(input.substr(size - reader.remaining()), &zstd);
  return 0;
}
