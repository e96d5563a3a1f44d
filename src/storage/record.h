// Record codec: the bytes of one stored Object (DESIGN.md: Storage).
//
// Format version 1:
//   u8      format version (kRecordFormatV1)
//   vv      AppendVersionVector (common/object.h)
//   varint  sibling count
//   per sibling:
//     lp      dot actor          (lp = varint length + bytes)
//     varint  dot counter
//     u8      flags: kSiblingTombstone | kSiblingZstd; other bits must be 0
//     varint  write_time_ms      (two's complement as uint64)
//     varint  expires_at_ms      (0: never)
//     lp      value, one zstd frame when kSiblingZstd is set
//
// A value of at least min_bytes is compressed and kept compressed only when
// that makes it smaller. Decoding rejects every malformed input with
// Corruption and returns only Objects that hold object.h's invariants.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/object.h"
#include "common/status.h"
#include "storage/compression.h"
#include "storage/storage.h"

namespace dynkv::storage {

inline constexpr uint8_t kRecordFormatV1 = 1;
inline constexpr uint8_t kSiblingTombstone = 0x01;
inline constexpr uint8_t kSiblingZstd = 0x02;

struct CompressionOptions {
  // Values of at least this many bytes are compressed when that saves
  // space. 0 disables compression.
  uint32_t min_bytes = 512;
  // zstd level, 1 (fast) to 19 (small).
  int level = 3;
};

// What EncodeRecord compressed; added to, never reset.
struct CompressionStats {
  uint64_t values_compressed = 0;
  uint64_t bytes_before = 0;  // of the values stored compressed
  uint64_t bytes_after = 0;
};

// Replaces *out with the record of `object`. `stats` may be null. `zstd`
// is a reusable codec; null uses a temporary one.
void EncodeRecord(const Object& object, const CompressionOptions& options, std::string* out,
                  CompressionStats* stats = nullptr, ZstdCodec* zstd = nullptr);

// Decodes a whole record into *object (untouched on error). Corruption for
// any input that is not a well-formed record.
Status DecodeRecord(std::string_view record, Object* object, ZstdCodec* zstd = nullptr);

// A hint record, the value of a hint key (keys.h): u8 format version
// (kHintFormatV1), varint stored_at_ms (two's complement as uint64), then
// the record of hint.object. *record is scratch space for the latter.
inline constexpr uint8_t kHintFormatV1 = 1;
void EncodeHintRecord(const Hint& hint, const CompressionOptions& options, std::string* record,
                      std::string* out, ZstdCodec* zstd);
// Fills hint->object and hint->stored_at_ms. Corruption for any input that
// is not a well-formed hint record.
Status DecodeHintRecord(std::string_view bytes, Hint* hint, ZstdCodec* zstd);

}  // namespace dynkv::storage
