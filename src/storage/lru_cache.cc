#include "storage/lru_cache.h"

#include <iterator>
#include <utility>

namespace dynkv::storage {

const Object* ObjectCache::Lookup(std::string_view key) {
  auto it = index_.find(key);
  if (it == index_.end()) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  lru_.splice(lru_.begin(), lru_, it->second);
  return &it->second->object;
}

void ObjectCache::Insert(std::string_view key, Object object) {
  Erase(key);
  const uint64_t charge = Charge(key, object);
  if (charge > budget_bytes_) return;
  lru_.push_front(Entry{std::string(key), std::move(object), charge});
  index_.emplace(lru_.front().key, lru_.begin());
  bytes_.fetch_add(charge, std::memory_order_relaxed);
  entries_.fetch_add(1, std::memory_order_relaxed);
  while (bytes_.load(std::memory_order_relaxed) > budget_bytes_) Remove(std::prev(lru_.end()));
}

void ObjectCache::Erase(std::string_view key) {
  auto it = index_.find(key);
  if (it != index_.end()) Remove(it->second);
}

void ObjectCache::Remove(List::iterator it) {
  bytes_.fetch_sub(it->charge, std::memory_order_relaxed);
  entries_.fetch_sub(1, std::memory_order_relaxed);
  index_.erase(it->key);
  lru_.erase(it);
}

CacheStats ObjectCache::stats() const {
  return CacheStats{bytes_.load(std::memory_order_relaxed), entries_.load(std::memory_order_relaxed),
                    hits_.load(std::memory_order_relaxed), misses_.load(std::memory_order_relaxed)};
}

}  // namespace dynkv::storage
