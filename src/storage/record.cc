#include "storage/record.h"

#include <algorithm>
#include <vector>

#include "common/coding.h"

namespace dynkv::storage {

namespace {

constexpr uint8_t kKnownSiblingFlags = kSiblingTombstone | kSiblingZstd;
// Actor length, counter, flags, two times and value length: one byte each
// at least.
constexpr uint64_t kMinSiblingBytes = 6;

bool ShouldCompress(const Sibling& sibling, const CompressionOptions& options) {
  return options.min_bytes != 0 && sibling.value.size() >= options.min_bytes;
}

void AppendSibling(const Sibling& sibling, const CompressionOptions& options, std::string* out,
                   CompressionStats* stats, ZstdCodec* zstd, std::string* scratch) {
  PutLengthPrefixed(out, sibling.dot.actor);
  PutVarint64(out, sibling.dot.counter);
  const bool compressed = ShouldCompress(sibling, options) &&
                          zstd->Compress(sibling.value, options.level, scratch) &&
                          scratch->size() < sibling.value.size();
  uint8_t flags = sibling.tombstone ? kSiblingTombstone : 0;
  if (compressed) flags |= kSiblingZstd;
  out->push_back(static_cast<char>(flags));
  PutVarint64(out, static_cast<uint64_t>(sibling.write_time_ms));
  PutVarint64(out, static_cast<uint64_t>(sibling.expires_at_ms));
  PutLengthPrefixed(out, compressed ? std::string_view(*scratch) : std::string_view(sibling.value));
  if (compressed && stats != nullptr) {
    ++stats->values_compressed;
    stats->bytes_before += sibling.value.size();
    stats->bytes_after += scratch->size();
  }
}

Status ReadSibling(ByteReader* reader, ZstdCodec* zstd, Sibling* sibling) {
  std::string_view actor;
  uint8_t flags = 0;
  uint64_t write_time = 0;
  uint64_t expires_at = 0;
  std::string_view value;
  if (!reader->GetLengthPrefixed(&actor) || !reader->GetVarint64(&sibling->dot.counter) ||
      !reader->GetByte(&flags) || !reader->GetVarint64(&write_time) || !reader->GetVarint64(&expires_at) ||
      !reader->GetLengthPrefixed(&value)) {
    return Status::Corruption("record: truncated sibling");
  }
  if ((flags & ~kKnownSiblingFlags) != 0) return Status::Corruption("record: unknown sibling flags");
  sibling->dot.actor.assign(actor);
  sibling->tombstone = (flags & kSiblingTombstone) != 0;
  sibling->write_time_ms = static_cast<int64_t>(write_time);
  sibling->expires_at_ms = static_cast<int64_t>(expires_at);
  if ((flags & kSiblingZstd) == 0) {
    sibling->value.assign(value);
    return Status::Ok();
  }
  return zstd->Decompress(value, &sibling->value).WithContext("record: sibling value");
}

}  // namespace

void EncodeRecord(const Object& object, const CompressionOptions& options, std::string* out,
                  CompressionStats* stats, ZstdCodec* zstd) {
  ZstdCodec temporary;
  if (zstd == nullptr) zstd = &temporary;
  out->clear();
  out->push_back(static_cast<char>(kRecordFormatV1));
  AppendVersionVector(out, object.vv);
  PutVarint64(out, object.siblings.size());
  std::string scratch;
  for (const Sibling& sibling : object.siblings) AppendSibling(sibling, options, out, stats, zstd, &scratch);
}

Status DecodeRecord(std::string_view record, Object* object, ZstdCodec* zstd) {
  ZstdCodec temporary;
  if (zstd == nullptr) zstd = &temporary;
  ByteReader reader(record);
  uint8_t version = 0;
  if (!reader.GetByte(&version)) return Status::Corruption("record: empty");
  if (version != kRecordFormatV1) {
    return Status::Corruption("record: unknown format version " + std::to_string(version));
  }
  Object decoded;
  DYNKV_RETURN_IF_ERROR(ReadVersionVector(&reader, &decoded.vv).WithContext("record"));
  uint64_t count = 0;
  // A count the bytes left cannot hold is a lie; checking it first keeps the
  // allocation proportional to the input.
  if (!reader.GetVarint64(&count) || count > reader.remaining() / kMinSiblingBytes) {
    return Status::Corruption("record: bad sibling count");
  }
  decoded.siblings.resize(count);
  for (Sibling& sibling : decoded.siblings) DYNKV_RETURN_IF_ERROR(ReadSibling(&reader, zstd, &sibling));
  if (!reader.empty()) {
    return Status::Corruption("record: " + std::to_string(reader.remaining()) +
                              " bytes after the last sibling");
  }
  if (Status valid = CheckObject(decoded); !valid.ok()) {
    return Status::Corruption("record: " + valid.message());
  }
  *object = std::move(decoded);
  return Status::Ok();
}

void EncodeHintRecord(const Hint& hint, const CompressionOptions& options, std::string* record,
                      std::string* out, ZstdCodec* zstd) {
  EncodeRecord(hint.object, options, record, nullptr, zstd);
  out->clear();
  out->push_back(static_cast<char>(kHintFormatV1));
  PutVarint64(out, static_cast<uint64_t>(hint.stored_at_ms));
  out->append(*record);
}

Status DecodeHintRecord(std::string_view bytes, Hint* hint, ZstdCodec* zstd) {
  ByteReader reader(bytes);
  uint8_t version = 0;
  uint64_t stored_at = 0;
  if (!reader.GetByte(&version) || version != kHintFormatV1) {
    return Status::Corruption("hint: unknown format version");
  }
  if (!reader.GetVarint64(&stored_at)) return Status::Corruption("hint: truncated stored_at_ms");
  DYNKV_RETURN_IF_ERROR(DecodeRecord(bytes.substr(bytes.size() - reader.remaining()), &hint->object, zstd));
  hint->stored_at_ms = static_cast<int64_t>(stored_at);
  return Status::Ok();
}

}  // namespace dynkv::storage
