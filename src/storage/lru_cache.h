// The record cache: encoded records of hot keys within a byte budget
// (DESIGN.md: Storage).
//
// An entry is one heap block holding a small header, the key and the record
// bytes (record.h): one allocation per entry instead of the five or more of
// a decoded Object. Reads decode a hit, which costs what copying a cached
// Object did.
//
// Layout: an open-addressing hash table (linear probing, at most half full,
// backward-shift deletion) of 16-byte slots that point at the entries.
// Eviction is CLOCK (Corbató, 1968), the usual approximation of LRU: a hit
// sets the slot's reference bit, and the hand sweeping the slots to make
// room clears set bits and evicts the first entry whose bit is clear. A
// hit so writes one bit instead of relinking list nodes, and an entry costs
// its block and its slots, not a list node and an index node as well.
//
// Invariants: bytes() is the charges of the entries (Charge(): their real
// heap blocks, as glibc's malloc rounds them) plus the slot table, and is at
// most the budget after every call: the budget bounds memory, not just
// payload. The doorkeeper takes about another 1/100 of the budget.
//
// Admission: while the budget has room for a record, every record read from
// disk or written is cached: nothing has to be evicted for it, so caching
// it costs one insert. Once full, a record read from disk is admitted on its
// second recent miss (TinyLFU's doorkeeper: Einziger, Friedman, Manes,
// "TinyLFU: A Highly Efficient Cache Admission Policy", 2017), and a write
// only refreshes an entry already cached. Admitting every access to a full
// cache costs an insert and an eviction each, which a working set larger
// than the budget repays with few hits: a key touched once is not worth
// caching. (Caffeine, the TinyLFU cache of the paper's authors, also admits
// everything until it first reaches its maximum size.)
//
// Threads: thread-safe. One mutex guards the entries; the engine's thread
// fills the cache while the node's event loop looks records up (storage.h:
// Engine::GetCached). stats() reads atomics without the lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace dynkv::storage {

struct CacheStats {
  uint64_t bytes = 0;
  uint64_t entries = 0;
  uint64_t hits = 0;
  uint64_t misses = 0;
};

class RecordCache {
 public:
  // A budget of 0 caches nothing.
  explicit RecordCache(uint64_t budget_bytes);
  ~RecordCache();
  RecordCache(const RecordCache&) = delete;
  RecordCache& operator=(const RecordCache&) = delete;

  // Heap bytes of the block of an entry of this key and record, as glibc's
  // malloc rounds it. The slot table comes on top.
  static uint64_t Charge(std::string_view key, std::string_view record);
  // Heap bytes of a slot table of this many slots: kSlotBytes each, plus
  // malloc's header, or a page for the header and the rounding of a table
  // of at least glibc's default mmap threshold, which is mapped on its own.
  static constexpr uint64_t kSlotBytes = 16;
  static constexpr uint64_t TableCharge(uint64_t slots) {
    const uint64_t bytes = slots * kSlotBytes;
    return slots == 0 ? 0 : bytes + (bytes >= (128u << 10) ? 4096 : 16);
  }

  // Copies the cached record of `key` into *record and marks it used; false
  // on a miss (*record is then unchanged). A caller that goes on to a second
  // lookup after a miss passes count_miss = false, so a miss counts once.
  bool Lookup(std::string_view key, std::string* record, bool count_miss = true);
  // After a miss: caches the record read from disk if admitted (above).
  // Does nothing when `key` is cached.
  void AdmitRead(std::string_view key, std::string_view record);
  // After a durable write: replaces the cached entry of `key`; caches it
  // when it is not cached and the budget has room (above).
  void UpdateWritten(std::string_view key, std::string_view record);
  void Erase(std::string_view key);

  CacheStats stats() const;

 private:
  struct Entry;  // header, then key, then record, in one block
  struct Slot {
    uint32_t hash = 0;        // low bits of the key's hash
    uint32_t referenced = 0;  // CLOCK's bit: used since the hand last passed
    Entry* entry = nullptr;   // null: empty
  };
  static_assert(sizeof(Slot) == kSlotBytes);

  // REQUIRES for the private members: mu_ held.
  //
  // The slot holding `key`, or the empty slot where it would go.
  size_t Find(std::string_view key, uint32_t hash) const;
  // Whether a new entry of this charge fits without evicting anything.
  bool HasRoomFor(uint64_t charge) const;
  // Caches `record` under `key` in slot `at` (as Find left it), replacing
  // what the slot holds, then evicts to stay within budget. A new entry
  // starts with its reference bit clear, a rewritten one with it set.
  void Put(size_t at, uint32_t hash, std::string_view key, std::string_view record);
  // Doubles the slot table when one more entry would fill it over half.
  void GrowIfNeeded();
  // Evicts with CLOCK's hand until within budget. `keep` (the entry just
  // cached, or null) is passed over while another entry is left, so that
  // what was just admitted is not what makes room for itself.
  void EvictToBudget(const Entry* keep);
  // Empties slot `at`, shifting the slots after it in its run back so that
  // every key stays reachable from its home slot.
  void RemoveAt(size_t at);
  // Marks `key` as seen; true if it was already marked since the last reset.
  bool SeenBefore(uint64_t hash);
  void AddBytes(int64_t delta);

  const uint64_t budget_bytes_;
  std::mutex mu_;
  std::vector<Slot> slots_;  // empty, or a power of two long
  size_t hand_ = 0;          // CLOCK's hand: the next slot it looks at
  size_t entries_in_table_ = 0;
  std::vector<uint64_t> doorkeeper_;  // one bit per hash slot
  uint64_t doorkeeper_marks_ = 0;     // bits set since the last reset
  uint64_t doorkeeper_reset_at_ = 0;  // reset after this many marks
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> entries_{0};
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
};

}  // namespace dynkv::storage
