// LRU cache of encoded records with a byte budget (DESIGN.md: Storage).
//
// An entry is the key and the record bytes (record.h) in one string: one
// allocation per entry instead of the five or more of a decoded Object, and
// about half the memory. Reads decode a hit, which costs what copying a
// cached Object did.
//
// Invariants: bytes() is the sum of the charges of the entries, and is at
// most the budget after every call. An entry's charge is its real heap use
// (Charge()): the budget bounds memory, not just payload. The list runs from
// most to least recently used. The admission and presence filters below
// take about another 1/100 of the budget.
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
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
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
  RecordCache(const RecordCache&) = delete;
  RecordCache& operator=(const RecordCache&) = delete;

  // Heap bytes an entry of this key and record takes: list node, index node,
  // bucket and the string, each rounded as glibc's malloc rounds it.
  static uint64_t Charge(std::string_view key, std::string_view record);

  // Copies the cached record of `key` into *record and makes it the most
  // recently used; false on a miss (*record is then unchanged).
  bool Lookup(std::string_view key, std::string* record);
  // After a miss: caches the record read from disk if admitted (above).
  // Does nothing when `key` is cached.
  void AdmitRead(std::string_view key, std::string_view record);
  // After a durable write: replaces the cached entry of `key`; caches it
  // when it is not cached and the budget has room (above).
  void UpdateWritten(std::string_view key, std::string_view record);
  void Erase(std::string_view key);

  CacheStats stats() const;

 private:
  struct Entry {
    std::string bytes;  // key, then record
    uint32_t key_size = 0;
    uint64_t charge = 0;
    std::string_view key() const { return std::string_view(bytes).substr(0, key_size); }
    std::string_view record() const { return std::string_view(bytes).substr(key_size); }
  };
  using List = std::list<Entry>;
  // Views into the keys of lru_'s entries, which std::list never moves.
  using Index = std::unordered_map<std::string_view, List::iterator>;

  // REQUIRES for the private members: mu_ held.
  //
  // Whether a new entry of this charge fits without evicting anything.
  bool HasRoomFor(uint64_t charge) const;
  // Caches the record of a key not cached as the most recently used entry,
  // then evicts from the least recently used end to stay within budget.
  void InsertNew(std::string_view key, std::string_view record);
  // The same for a cached key, in place.
  void Replace(Index::iterator it, std::string_view record);
  void EvictToBudget();
  void Remove(List::iterator it);
  // Marks `key` as seen; true if it was already marked since the last reset.
  bool SeenBefore(std::string_view key);
  // False when `key` is surely not cached: its presence counter is 0.
  bool MayHold(std::string_view key) const;
  size_t PresenceSlot(std::string_view key) const;
  void NotePresence(std::string_view key, bool added);

  const uint64_t budget_bytes_;
  std::mutex mu_;
  List lru_;
  Index index_;
  // Entries per hash slot (a counting Bloom filter with one hash, Fan et al.,
  // "Summary Cache", 1998); a slot that reaches the maximum stays there.
  static constexpr uint8_t kPresenceSaturated = 255;
  std::vector<uint8_t> presence_;
  std::vector<uint64_t> doorkeeper_;  // one bit per hash slot
  uint64_t doorkeeper_marks_ = 0;     // bits set since the last reset
  uint64_t doorkeeper_reset_at_ = 0;  // reset after this many marks
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> entries_{0};
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
};

}  // namespace dynkv::storage
