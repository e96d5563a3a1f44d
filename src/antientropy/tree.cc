#include "antientropy/tree.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdlib>
#include <new>

#include "common/coding.h"

namespace dynkv::antientropy {

namespace {

constexpr char kTreeFormat = 2;

void PutFixed64LE(std::string* out, uint64_t value) {
  for (int byte = 0; byte < 8; ++byte) out->push_back(static_cast<char>(value >> (8 * byte)));
}

uint64_t DecodeFixed64LE(const char* bytes) {
  uint64_t value = 0;
  for (int byte = 0; byte < 8; ++byte) value |= uint64_t{static_cast<unsigned char>(bytes[byte])} << (8 * byte);
  return value;
}

}  // namespace

uint64_t ObjectDigest(std::string_view key, const Object& object) {
  if (object.empty()) return 0;
  std::string buffer;
  buffer.reserve(key.size() + 32 * (object.vv.entries().size() + object.siblings.size()) + 8);
  PutLengthPrefixed(&buffer, key);
  AppendVersionVector(&buffer, object.vv);
  for (const Sibling& sibling : object.siblings) {
    PutLengthPrefixed(&buffer, sibling.dot.actor);
    PutVarint64(&buffer, sibling.dot.counter);
    buffer.push_back(sibling.tombstone ? 1 : 0);
    PutVarint64(&buffer, static_cast<uint64_t>(sibling.expires_at_ms));
  }
  const uint64_t digest = XXH3_64bits(buffer.data(), buffer.size());
  return digest == 0 ? 1 : digest;  // 0 stands for "absent" only
}

HashTree::HashTree()
    : leaves_(static_cast<uint64_t*>(std::calloc(kSegments, sizeof(uint64_t)))), branches_(kBranches, 0) {
  if (leaves_ == nullptr) throw std::bad_alloc();
}

HashTree::HashTree(const HashTree& other) : HashTree() { *this = other; }

HashTree& HashTree::operator=(const HashTree& other) {
  if (this == &other) return *this;
  if (leaves_ == nullptr) *this = HashTree();  // assigned to after a move
  std::copy(other.leaves_.get(), other.leaves_.get() + kSegments, leaves_.get());
  branches_ = other.branches_;
  keys_ = other.keys_;
  return *this;
}

bool HashTree::operator==(const HashTree& other) const {
  return std::equal(leaves_.get(), leaves_.get() + kSegments, other.leaves_.get());
}

std::string HashTree::Serialize() const {
  std::string out;
  out.reserve(1 + size_t{kSegments} * 8 + 16);
  out.push_back(kTreeFormat);
  for (uint64_t leaf : leaves()) PutFixed64LE(&out, leaf);
  PutFixed64LE(&out, keys_);
  PutFixed64BE(&out, XXH3_64bits(out.data(), out.size()));
  return out;
}

Status HashTree::Deserialize(std::string_view bytes) {
  const size_t expected = 1 + size_t{kSegments} * 8 + 16;
  if (bytes.size() != expected) {
    return Status::Corruption("tree checkpoint has " + std::to_string(bytes.size()) + " bytes, not " +
                              std::to_string(expected));
  }
  if (bytes[0] != kTreeFormat) return Status::Corruption("tree checkpoint of an unknown format");
  const size_t body = bytes.size() - 8;
  if (XXH3_64bits(bytes.data(), body) != DecodeFixed64BE(bytes.data() + body)) {
    return Status::Corruption("tree checkpoint fails its checksum");
  }
  std::fill(branches_.begin(), branches_.end(), 0);
  for (size_t i = 0; i < kSegments; ++i) {
    leaves_[i] = DecodeFixed64LE(bytes.data() + 1 + i * 8);
    branches_[BranchOf(static_cast<uint32_t>(i))] ^= leaves_[i];
  }
  keys_ = DecodeFixed64LE(bytes.data() + 1 + size_t{kSegments} * 8);
  return Status::Ok();
}

}  // namespace dynkv::antientropy
