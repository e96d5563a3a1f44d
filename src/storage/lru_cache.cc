#include "storage/lru_cache.h"

#include <algorithm>
#include <bit>
#include <functional>
#include <iterator>

namespace dynkv::storage {

namespace {

// glibc's malloc: 8 bytes of header, 16-byte alignment, 32-byte minimum.
constexpr uint64_t MallocChunk(uint64_t bytes) { return std::max<uint64_t>(32, (bytes + 8 + 15) & ~15ull); }

// std::string keeps up to 15 characters inline; libstdc++ gives a string
// first reserved beyond that at least twice the inline capacity.
constexpr uint64_t kInlineCapacity = 15;
constexpr uint64_t CapacityFor(uint64_t size) {
  return size <= kInlineCapacity ? kInlineCapacity : std::max(size, 2 * kInlineCapacity);
}
constexpr uint64_t StringHeap(uint64_t capacity) {
  return capacity <= kInlineCapacity ? 0 : MallocChunk(capacity + 1);
}

std::string Concat(std::string_view key, std::string_view record) {
  std::string bytes;
  bytes.reserve(key.size() + record.size());
  bytes.append(key).append(record);
  return bytes;
}

// A list node: two links and the entry. An index node: a link, the pair and
// the cached hash code; plus one or two bucket pointers per entry (the table
// doubles when it has as many entries as buckets).
constexpr uint64_t kListNodeBytes = 2 * sizeof(void*) + 64;
constexpr uint64_t kIndexNodeBytes =
    sizeof(void*) + sizeof(std::string_view) + sizeof(void*) + sizeof(size_t);
constexpr uint64_t kEntryOverhead =
    MallocChunk(kListNodeBytes) + MallocChunk(kIndexNodeBytes) + 2 * sizeof(void*);

// A typical entry (a short key, a record of a small value) for sizing the
// doorkeeper. It remembers a key's first miss for a window of half as many
// other first misses as the budget holds entries: a key read again within
// that is hot (every key of a working set that fits is), while keys read at
// random from a far larger set mostly are not, and would only churn the
// cache. Eight bits per key of the window keep false repeats under 1/8.
constexpr uint64_t kTypicalEntryBytes = 256;
constexpr uint64_t kMinDoorkeeperWindow = 64;
constexpr uint64_t kMinDoorkeeperBits = 64;
// Presence counters: two per entry the budget holds, so most misses cost one
// read of a small array instead of a walk of the index's buckets.
constexpr uint64_t kMinPresenceSlots = 64;

}  // namespace

RecordCache::RecordCache(uint64_t budget_bytes) : budget_bytes_(budget_bytes) {
  if (budget_bytes_ == 0) return;
  const uint64_t typical_entries = budget_bytes_ / kTypicalEntryBytes;
  const uint64_t window = std::max(kMinDoorkeeperWindow, typical_entries / 2);
  const uint64_t bits = std::bit_ceil(std::max(kMinDoorkeeperBits, 8 * window));
  doorkeeper_.assign(bits / 64, 0);
  doorkeeper_reset_at_ = window;
  presence_.assign(std::bit_ceil(std::max(kMinPresenceSlots, 2 * typical_entries)), 0);
}

size_t RecordCache::PresenceSlot(std::string_view key) const {
  return std::hash<std::string_view>()(key) & (presence_.size() - 1);
}

bool RecordCache::MayHold(std::string_view key) const {
  return !index_.empty() && presence_[PresenceSlot(key)] != 0;
}

void RecordCache::NotePresence(std::string_view key, bool added) {
  uint8_t& count = presence_[PresenceSlot(key)];
  if (count == kPresenceSaturated) return;  // stays "maybe" for good
  count = static_cast<uint8_t>(added ? count + 1 : count - 1);
}

uint64_t RecordCache::Charge(std::string_view key, std::string_view record) {
  static_assert(sizeof(Entry) <= 64, "kListNodeBytes assumes an Entry of at most 64 bytes");
  return kEntryOverhead + StringHeap(CapacityFor(key.size() + record.size()));
}

bool RecordCache::Lookup(std::string_view key, std::string* record) {
  std::lock_guard lock(mu_);
  auto it = MayHold(key) ? index_.find(key) : index_.end();
  if (it == index_.end()) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  lru_.splice(lru_.begin(), lru_, it->second);
  record->assign(it->second->record());
  return true;
}

void RecordCache::AdmitRead(std::string_view key, std::string_view record) {
  if (budget_bytes_ == 0) return;
  std::lock_guard lock(mu_);
  if (MayHold(key) && index_.contains(key)) return;
  if (HasRoomFor(Charge(key, record)) || SeenBefore(key)) InsertNew(key, record);
}

void RecordCache::UpdateWritten(std::string_view key, std::string_view record) {
  if (budget_bytes_ == 0) return;
  std::lock_guard lock(mu_);
  auto it = MayHold(key) ? index_.find(key) : index_.end();
  if (it != index_.end()) {
    Replace(it, record);
  } else if (HasRoomFor(Charge(key, record))) {
    InsertNew(key, record);
  }
}

bool RecordCache::HasRoomFor(uint64_t charge) const {
  return bytes_.load(std::memory_order_relaxed) + charge <= budget_bytes_;
}

void RecordCache::Erase(std::string_view key) {
  std::lock_guard lock(mu_);
  if (!MayHold(key)) return;
  auto it = index_.find(key);
  if (it != index_.end()) Remove(it->second);
}

void RecordCache::Replace(Index::iterator it, std::string_view record) {
  Entry& entry = *it->second;
  const uint64_t charge = Charge(entry.key(), record);
  if (charge > budget_bytes_) {
    Remove(it->second);
    return;
  }
  if (CapacityFor(entry.key_size + record.size()) == entry.bytes.capacity()) {
    entry.bytes.resize(entry.key_size);  // in place: the index's view stays valid
    entry.bytes.append(record);
  } else {
    // A new string, so the capacity (and the charge) fit the record; the
    // index's view of the key must follow it.
    entry.bytes = Concat(entry.key(), record);
    auto node = index_.extract(it);
    node.key() = entry.key();
    index_.insert(std::move(node));
  }
  bytes_.fetch_add(charge, std::memory_order_relaxed);
  bytes_.fetch_sub(entry.charge, std::memory_order_relaxed);
  entry.charge = charge;
  lru_.splice(lru_.begin(), lru_, it->second);
  EvictToBudget();
}

void RecordCache::EvictToBudget() {
  while (bytes_.load(std::memory_order_relaxed) > budget_bytes_) Remove(std::prev(lru_.end()));
}

void RecordCache::InsertNew(std::string_view key, std::string_view record) {
  const uint64_t charge = Charge(key, record);
  if (charge > budget_bytes_) return;
  lru_.push_front(Entry{Concat(key, record), static_cast<uint32_t>(key.size()), charge});
  index_.emplace(lru_.front().key(), lru_.begin());
  NotePresence(key, true);
  bytes_.fetch_add(charge, std::memory_order_relaxed);
  entries_.fetch_add(1, std::memory_order_relaxed);
  EvictToBudget();
}

void RecordCache::Remove(List::iterator it) {
  bytes_.fetch_sub(it->charge, std::memory_order_relaxed);
  entries_.fetch_sub(1, std::memory_order_relaxed);
  NotePresence(it->key(), false);
  index_.erase(it->key());
  lru_.erase(it);
}

bool RecordCache::SeenBefore(std::string_view key) {
  const uint64_t slot = std::hash<std::string_view>()(key) & (doorkeeper_.size() * 64 - 1);
  uint64_t& word = doorkeeper_[slot / 64];
  const uint64_t bit = uint64_t{1} << (slot % 64);
  if ((word & bit) != 0) return true;
  word |= bit;
  if (++doorkeeper_marks_ >= doorkeeper_reset_at_) {
    std::fill(doorkeeper_.begin(), doorkeeper_.end(), 0);
    doorkeeper_marks_ = 0;
  }
  return false;
}

CacheStats RecordCache::stats() const {
  return CacheStats{bytes_.load(std::memory_order_relaxed), entries_.load(std::memory_order_relaxed),
                    hits_.load(std::memory_order_relaxed), misses_.load(std::memory_order_relaxed)};
}

}  // namespace dynkv::storage
