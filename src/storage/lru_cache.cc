#include "storage/lru_cache.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>
#include <new>

namespace dynkv::storage {

struct RecordCache::Entry {
  uint32_t key_size;
  uint32_t record_size;
  uint64_t charge;

  char* bytes() { return reinterpret_cast<char*>(this + 1); }
  const char* bytes() const { return reinterpret_cast<const char*>(this + 1); }
  std::string_view key() const { return {bytes(), key_size}; }
  std::string_view record() const { return {bytes() + key_size, record_size}; }

  static Entry* Make(std::string_view key, std::string_view record, uint64_t charge) {
    void* block = ::operator new(sizeof(Entry) + key.size() + record.size());
    Entry* entry = new (block) Entry{static_cast<uint32_t>(key.size()), static_cast<uint32_t>(record.size()), charge};
    std::memcpy(entry->bytes(), key.data(), key.size());
    std::memcpy(entry->bytes() + key.size(), record.data(), record.size());
    return entry;
  }
  static void Free(Entry* entry) { ::operator delete(entry); }
};

namespace {

// glibc's malloc: 8 bytes of header, 16-byte alignment, 32-byte minimum.
constexpr uint64_t MallocChunk(uint64_t bytes) { return std::max<uint64_t>(32, (bytes + 8 + 15) & ~15ull); }

uint64_t HashOf(std::string_view key) { return std::hash<std::string_view>()(key); }

// A typical entry (a short key, a record of a small value, its slots) for
// sizing the doorkeeper. It remembers a key's first miss for a window of
// half as many other first misses as the budget holds entries: a key read
// again within that is hot (every key of a working set that fits is), while
// keys read at random from a far larger set mostly are not, and would only
// churn the cache. Eight bits per key of the window keep false repeats
// under 1/8.
constexpr uint64_t kTypicalEntryBytes = 256;
constexpr uint64_t kMinDoorkeeperWindow = 64;
constexpr uint64_t kMinDoorkeeperBits = 64;
constexpr size_t kMinSlots = 16;

}  // namespace

RecordCache::RecordCache(uint64_t budget_bytes) : budget_bytes_(budget_bytes) {
  if (budget_bytes_ == 0) return;
  const uint64_t typical_entries = budget_bytes_ / kTypicalEntryBytes;
  const uint64_t window = std::max(kMinDoorkeeperWindow, typical_entries / 2);
  const uint64_t bits = std::bit_ceil(std::max(kMinDoorkeeperBits, 8 * window));
  doorkeeper_.assign(bits / 64, 0);
  doorkeeper_reset_at_ = window;
}

RecordCache::~RecordCache() {
  for (Slot& slot : slots_) {
    if (slot.entry != nullptr) Entry::Free(slot.entry);
  }
}

uint64_t RecordCache::Charge(std::string_view key, std::string_view record) {
  return MallocChunk(sizeof(Entry) + key.size() + record.size());
}

size_t RecordCache::Find(std::string_view key, uint32_t hash) const {
  const size_t mask = slots_.size() - 1;
  for (size_t at = hash & mask;; at = (at + 1) & mask) {
    const Slot& slot = slots_[at];
    if (slot.entry == nullptr || (slot.hash == hash && slot.entry->key() == key)) return at;
  }
}

bool RecordCache::Lookup(std::string_view key, std::string* record, bool count_miss) {
  std::lock_guard lock(mu_);
  Slot* slot = nullptr;
  if (!slots_.empty()) slot = &slots_[Find(key, static_cast<uint32_t>(HashOf(key)))];
  if (slot == nullptr || slot->entry == nullptr) {
    if (count_miss) misses_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  slot->referenced = 1;
  record->assign(slot->entry->record());
  return true;
}

void RecordCache::AdmitRead(std::string_view key, std::string_view record) {
  if (budget_bytes_ == 0) return;
  std::lock_guard lock(mu_);
  const uint64_t hash = HashOf(key);
  if (!slots_.empty() && slots_[Find(key, static_cast<uint32_t>(hash))].entry != nullptr) return;
  if (!HasRoomFor(Charge(key, record)) && !SeenBefore(hash)) return;
  GrowIfNeeded();
  Put(Find(key, static_cast<uint32_t>(hash)), static_cast<uint32_t>(hash), key, record);
}

void RecordCache::UpdateWritten(std::string_view key, std::string_view record) {
  if (budget_bytes_ == 0) return;
  std::lock_guard lock(mu_);
  const uint32_t hash = static_cast<uint32_t>(HashOf(key));
  if (!slots_.empty()) {
    const size_t at = Find(key, hash);
    if (slots_[at].entry != nullptr) return Put(at, hash, key, record);
  }
  if (!HasRoomFor(Charge(key, record))) return;
  GrowIfNeeded();
  Put(Find(key, hash), hash, key, record);
}

void RecordCache::Erase(std::string_view key) {
  std::lock_guard lock(mu_);
  if (slots_.empty()) return;
  const size_t at = Find(key, static_cast<uint32_t>(HashOf(key)));
  if (slots_[at].entry != nullptr) RemoveAt(at);
}

bool RecordCache::HasRoomFor(uint64_t charge) const {
  return bytes_.load(std::memory_order_relaxed) + charge <= budget_bytes_;
}

void RecordCache::Put(size_t at, uint32_t hash, std::string_view key, std::string_view record) {
  const uint64_t charge = Charge(key, record);
  Slot& slot = slots_[at];
  const bool cached = slot.entry != nullptr;
  if (charge > budget_bytes_) {  // it can never fit: the key is left uncached
    if (cached) RemoveAt(at);
    return;
  }
  if (cached) {
    AddBytes(-static_cast<int64_t>(slot.entry->charge));
    Entry::Free(slot.entry);
  } else {
    ++entries_in_table_;
    entries_.fetch_add(1, std::memory_order_relaxed);
  }
  slot.referenced = cached ? 1 : 0;  // a rewritten key is in use; a new one earns its bit by a hit
  slot.hash = hash;
  slot.entry = Entry::Make(key, record, charge);
  AddBytes(static_cast<int64_t>(charge));
  EvictToBudget(slot.entry);
}

void RecordCache::GrowIfNeeded() {
  if (2 * (entries_in_table_ + 1) <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(std::max(kMinSlots, 2 * old.size()), Slot{});
  const size_t mask = slots_.size() - 1;
  for (const Slot& slot : old) {
    if (slot.entry == nullptr) continue;
    size_t at = slot.hash & mask;
    while (slots_[at].entry != nullptr) at = (at + 1) & mask;
    slots_[at] = slot;
  }
  hand_ = 0;
  AddBytes(static_cast<int64_t>(TableCharge(slots_.size()) - TableCharge(old.size())));
  EvictToBudget(nullptr);
}

void RecordCache::EvictToBudget(const Entry* keep) {
  const size_t mask = slots_.size() - 1;
  while (bytes_.load(std::memory_order_relaxed) > budget_bytes_ && entries_in_table_ > 0) {
    Slot& slot = slots_[hand_];
    if (slot.entry == nullptr) {
      hand_ = (hand_ + 1) & mask;
    } else if (slot.referenced != 0 || (slot.entry == keep && entries_in_table_ > 1)) {
      slot.referenced = 0;  // a second chance
      hand_ = (hand_ + 1) & mask;
    } else {
      RemoveAt(hand_);  // the hand stays: a later slot may have moved here
    }
  }
}

void RecordCache::RemoveAt(size_t at) {
  Entry* entry = slots_[at].entry;
  AddBytes(-static_cast<int64_t>(entry->charge));
  Entry::Free(entry);
  entries_.fetch_sub(1, std::memory_order_relaxed);
  --entries_in_table_;
  const size_t mask = slots_.size() - 1;
  size_t hole = at;
  for (size_t next = (hole + 1) & mask; slots_[next].entry != nullptr; next = (next + 1) & mask) {
    // The slot at `next` may fill the hole unless its home lies cyclically
    // in (hole, next]: then the probe from its home would not pass the hole.
    const size_t home = slots_[next].hash & mask;
    const bool home_after_hole = hole <= next ? (hole < home && home <= next) : (hole < home || home <= next);
    if (home_after_hole) continue;
    slots_[hole] = slots_[next];
    hole = next;
  }
  slots_[hole] = Slot{};
}

void RecordCache::AddBytes(int64_t delta) {
  bytes_.fetch_add(static_cast<uint64_t>(delta), std::memory_order_relaxed);
}

bool RecordCache::SeenBefore(uint64_t hash) {
  const uint64_t slot = (hash >> 32 ^ hash) & (doorkeeper_.size() * 64 - 1);
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
