// LRU cache of decoded objects with a byte budget (DESIGN.md: Storage).
//
// Invariants: bytes() is the sum of the charges of the entries, and is at
// most the budget after every call. An entry's charge is its key size plus
// Object::ApproximateBytes(). The list runs from most to least recently used.
//
// Threads: owned by one thread (the engine's). Only stats() may be called
// from other threads; it reads atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/object.h"

namespace dynkv::storage {

struct CacheStats {
  uint64_t bytes = 0;
  uint64_t entries = 0;
  uint64_t hits = 0;
  uint64_t misses = 0;
};

class ObjectCache {
 public:
  // A budget of 0 caches nothing.
  explicit ObjectCache(uint64_t budget_bytes) : budget_bytes_(budget_bytes) {}
  ObjectCache(const ObjectCache&) = delete;
  ObjectCache& operator=(const ObjectCache&) = delete;

  static uint64_t Charge(std::string_view key, const Object& object) {
    return key.size() + object.ApproximateBytes();
  }

  // The cached object of `key`, now the most recently used; null on a miss.
  // The pointer is valid until the next Insert or Erase.
  const Object* Lookup(std::string_view key);
  // Caches `object` as the most recently used entry, replacing the old entry
  // of `key`, then evicts from the least recently used end until the cache
  // is within budget. An object whose charge alone exceeds the budget is
  // not cached (and the old entry is dropped).
  void Insert(std::string_view key, Object object);
  void Erase(std::string_view key);

  CacheStats stats() const;

 private:
  struct Entry {
    std::string key;
    Object object;
    uint64_t charge = 0;
  };
  using List = std::list<Entry>;

  void Remove(List::iterator it);

  const uint64_t budget_bytes_;
  List lru_;
  // Views into the keys of lru_'s entries, which std::list never moves.
  std::unordered_map<std::string_view, List::iterator> index_;
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> entries_{0};
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
};

}  // namespace dynkv::storage
