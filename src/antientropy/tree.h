// Anti-entropy's hash tree (DESIGN.md: Anti-entropy), after Riak's Tictac
// AAE (martinsumner/kv_index_tictactree, docs/TICTAC.md): a leaf per segment
// of a fixed grid of ring positions, each leaf the XOR of a digest of every
// key in it. A write changes a leaf by XOR-ing the key's old digest out and
// its new one in, so the tree costs nothing to keep and never needs a scan
// to stay current; branches are XORs of leaves, computed when asked.
//
// Keys are stored in ring order (storage/keys.h), so a segment is one
// contiguous LevelDB scan and no second keystore is needed.
//
// Invariant: leaf(s) == XOR of ObjectDigest(key, object) over the stored keys
// whose position falls in segment s (an empty object's digest is 0).
// Threads: a tree has no lock; the node touches it on its storage thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/object.h"
#include "common/status.h"

namespace dynkv::antientropy {

// 2^20 segments of 2^44 positions: with a million keys on a node a segment
// holds about one, so a differing leaf names about one key (Cassandra's and
// Scylla's overstreaming came from leaves of thousands of keys), for 8 MiB
// of leaves. Branches of 1,024 leaves, 1,024 branches: a whole exchange of
// branch hashes is 8 KiB (Riak's Tictac trees use the same 1024 x 1024).
inline constexpr int kSegmentBits = 20;
inline constexpr uint32_t kSegments = uint32_t{1} << kSegmentBits;
inline constexpr uint32_t kLeavesPerBranch = 1024;
inline constexpr uint32_t kBranches = kSegments / kLeavesPerBranch;
inline constexpr int kSegmentShift = 64 - kSegmentBits;

inline uint32_t SegmentOf(uint64_t position) { return static_cast<uint32_t>(position >> kSegmentShift); }
inline uint64_t SegmentFirst(uint32_t segment) { return uint64_t{segment} << kSegmentShift; }
inline uint64_t SegmentLast(uint32_t segment) { return SegmentFirst(segment) | ((uint64_t{1} << kSegmentShift) - 1); }
inline uint32_t BranchOf(uint32_t segment) { return segment / kLeavesPerBranch; }

// A digest of (key, version vector, and each sibling's dot, tombstone flag
// and expiry): replicas that hold the same versions of a key agree on it
// whatever their values' encoding. 0 for an empty object (an absent key).
uint64_t ObjectDigest(std::string_view key, const Object& object);

class HashTree {
 public:
  // The leaves come zeroed from calloc, untouched: a page of them costs
  // memory only once a key lands in it (a node of few keys, a rebuild's
  // fresh tree, keeps far less than 8 MiB resident).
  HashTree();
  HashTree(const HashTree& other);
  HashTree& operator=(const HashTree& other);
  HashTree(HashTree&&) noexcept = default;
  HashTree& operator=(HashTree&&) noexcept = default;

  // The key at `position` went from digest `before` to `after` (0: absent).
  void Apply(uint64_t position, uint64_t before, uint64_t after) {
    Flip(SegmentOf(position), before ^ after);
    keys_ += (before == 0 && after != 0 ? 1 : 0) - (before != 0 && after == 0 ? 1 : 0);
  }
  // Adds a key the tree did not count yet (a rebuild's scan).
  void Add(uint64_t position, uint64_t digest) {
    Flip(SegmentOf(position), digest);
    keys_ += digest != 0 ? 1 : 0;
  }
  // The keys counted: stored records, deletes and expired values included
  // until they are reaped (DBSIZE's estimate).
  uint64_t keys() const { return keys_; }

  uint64_t leaf(uint32_t segment) const { return leaves_[segment]; }
  void set_leaf(uint32_t segment, uint64_t hash) { Flip(segment, leaves_[segment] ^ hash); }
  std::span<const uint64_t> leaves() const { return {leaves_.get(), kSegments}; }
  // XOR of the branch's leaves, kept with them: an exchange over a node's
  // ranges reads whole branches without a pass over their leaves.
  uint64_t Branch(uint32_t branch) const { return branches_[branch]; }

  bool operator==(const HashTree& other) const;
  // What the tree may take: every leaf and branch (resident or not).
  size_t MemoryBytes() const { return (size_t{kSegments} + branches_.capacity()) * sizeof(uint64_t); }

  // The checkpoint's bytes: a format byte (2), then every leaf, 8 bytes
  // little-endian, the key count the same way, then an XXH3-64 of all of
  // it. A checkpoint of format 1 (no count) is refused: the node rebuilds.
  std::string Serialize() const;
  // CORRUPTION when `bytes` is not what Serialize wrote (wrong size, format
  // or checksum); the tree is left as it was.
  Status Deserialize(std::string_view bytes);

 private:
  void Flip(uint32_t segment, uint64_t delta) {
    leaves_[segment] ^= delta;
    branches_[BranchOf(segment)] ^= delta;
  }

  struct Free {
    void operator()(uint64_t* leaves) const { std::free(leaves); }
  };
  std::unique_ptr<uint64_t[], Free> leaves_;  // kSegments of them
  std::vector<uint64_t> branches_;            // derived from leaves_
  uint64_t keys_ = 0;
};

}  // namespace dynkv::antientropy
