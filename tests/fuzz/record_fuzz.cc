// Fuzz target: the storage record decoder (storage/record.h), which reads
// every value LevelDB hands back. Whatever the bytes, DecodeRecord returns
// Corruption or an Object that holds object.h's invariants; such an Object
// encodes (with and without compression) to a record that decodes to the
// same Object.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/object.h"
#include "fuzz_check.h"
#include "storage/record.h"

using namespace dynkv;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static storage::ZstdCodec zstd;
  Object object;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (!storage::DecodeRecord(bytes, &object, &zstd).ok()) return 0;
  FUZZ_CHECK(CheckObject(object).ok());
  for (uint32_t min_bytes : {0u, 1u}) {
    std::string encoded;
    storage::EncodeRecord(object, storage::CompressionOptions{min_bytes, 1}, &encoded, nullptr, &zstd);
    Object again;
    FUZZ_CHECK(storage::DecodeRecord(encoded, &again, &zstd).ok());
    FUZZ_CHECK(again == object);
  }
  return 0;
}
