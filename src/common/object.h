// The stored object: siblings plus a version vector (DESIGN.md: Causality).
// Plain value types shared by storage (which persists them) and quorum
// (whose dvv.h holds the causal algebra over them: mint, update, sync).
//
// Invariants of a well-formed Object:
//  - vv entries are sorted by actor, one per actor, counters > 0;
//  - every sibling's dot is covered by vv;
//  - no two siblings share a dot.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace dynkv {

// An actor is a node id plus the random epoch of its data dir, written
// "<node_id>.<epoch hex>", so a node that lost its disk never reuses
// counters (Riak kv679).
using ActorId = std::string;

struct Dot {
  ActorId actor;
  uint64_t counter = 0;

  friend bool operator==(const Dot&, const Dot&) = default;
  friend auto operator<=>(const Dot&, const Dot&) = default;
};

class VersionVector {
 public:
  using Entry = std::pair<ActorId, uint64_t>;

  VersionVector() = default;
  // REQUIRES: entries sorted by actor, unique actors.
  explicit VersionVector(std::vector<Entry> entries) : entries_(std::move(entries)) {}

  // The counter of `actor`, 0 when absent.
  uint64_t Get(std::string_view actor) const;
  // Sets actor's counter to max(current, counter).
  void Raise(const ActorId& actor, uint64_t counter);
  bool Covers(const Dot& dot) const { return Get(dot.actor) >= dot.counter; }
  // True when every counter here is <= the one in `other`.
  bool DescendedBy(const VersionVector& other) const;
  // Pointwise maximum.
  void Merge(const VersionVector& other);

  const std::vector<Entry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }

  friend bool operator==(const VersionVector&, const VersionVector&) = default;

 private:
  std::vector<Entry> entries_;  // sorted by actor
};

struct Sibling {
  Dot dot;
  bool tombstone = false;
  std::string value;          // empty for a tombstone
  int64_t write_time_ms = 0;  // wall clock of the node that minted the dot
  int64_t expires_at_ms = 0;  // 0: never

  // An expired sibling reads as absent.
  bool ExpiredAt(int64_t now_ms) const { return expires_at_ms != 0 && expires_at_ms <= now_ms; }
  // A live sibling is one a read returns.
  bool LiveAt(int64_t now_ms) const { return !tombstone && !ExpiredAt(now_ms); }

  friend bool operator==(const Sibling&, const Sibling&) = default;
};

struct Object {
  VersionVector vv;
  std::vector<Sibling> siblings;

  // Nothing was ever written (or everything was reaped).
  bool empty() const { return vv.empty() && siblings.empty(); }
  // Bytes of keys and values held, for size caps and cache budgets.
  size_t ApproximateBytes() const;

  friend bool operator==(const Object&, const Object&) = default;
};

// InvalidArgument unless `object` holds the invariants above: vv sorted by
// actor with non-empty actors and counters > 0, every sibling's dot
// (non-empty actor, counter > 0) covered by vv, no two siblings with one dot.
// For objects that come from outside (disk, peers).
Status CheckObject(const Object& object);

// Binary form of a version vector, used inside stored records and inside the
// opaque client context.
void AppendVersionVector(std::string* out, const VersionVector& vv);
// Reads what AppendVersionVector wrote; rejects unsorted or duplicate actors
// and zero counters, so a decoded vector always holds the invariants.
Status ReadVersionVector(class ByteReader* reader, VersionVector* vv);

}  // namespace dynkv
