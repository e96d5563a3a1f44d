#include "storage/lru_cache.h"

#include <doctest/doctest.h>
#include <malloc.h>

#include <algorithm>
#include <bit>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace dynkv::storage {
namespace {

// Caches `record` the way reads do: a second miss admits it.
void Admit(RecordCache& cache, std::string_view key, std::string_view record) {
  cache.AdmitRead(key, record);
  cache.AdmitRead(key, record);
}

bool Cached(RecordCache& cache, std::string_view key) {
  std::string record;
  return cache.Lookup(key, &record);
}

std::string CachedRecord(RecordCache& cache, std::string_view key) {
  std::string record;
  REQUIRE(cache.Lookup(key, &record));
  return record;
}

// Bytes charged for the slot table once it holds `entries`: at most half
// full, a power of two of at least 16 slots.
uint64_t TableBytes(uint64_t entries) {
  return RecordCache::TableCharge(std::max<uint64_t>(16, std::bit_ceil(2 * entries)));
}

// The budget that holds `entries` entries of charge `charge` and no more.
uint64_t BudgetFor(uint64_t entries, uint64_t charge) { return entries * charge + TableBytes(entries); }

// A cache with room for `entries` one-byte records under short keys, full
// of them: "fill0", "fill1", ...
std::unique_ptr<RecordCache> FullCache(int entries) {
  auto cache = std::make_unique<RecordCache>(BudgetFor(entries, RecordCache::Charge("fill0", "v")));
  for (int i = 0; i < entries; ++i) cache->UpdateWritten("fill" + std::to_string(i), "v");
  return cache;
}

TEST_CASE("entries read since the hand last passed outlive those that were not") {
  const uint64_t charge = RecordCache::Charge("k1", "v");
  RecordCache cache(BudgetFor(3, charge));
  Admit(cache, "k1", "v");
  Admit(cache, "k2", "v");
  Admit(cache, "k3", "v");
  REQUIRE(cache.stats().entries == 3);
  REQUIRE(Cached(cache, "k1"));
  REQUIRE(Cached(cache, "k3"));
  Admit(cache, "k4", "v");  // full: k2, the one not read, makes room
  CHECK_FALSE(Cached(cache, "k2"));
  CHECK(Cached(cache, "k1"));
  CHECK(Cached(cache, "k3"));
  CHECK(Cached(cache, "k4"));
  CHECK(cache.stats().entries == 3);
  CHECK(cache.stats().bytes == BudgetFor(3, charge));
}

TEST_CASE("while the budget has room, every read and write is cached") {
  RecordCache cache(1 << 20);
  cache.AdmitRead("read", "r");
  CHECK(CachedRecord(cache, "read") == "r");
  cache.UpdateWritten("written", "w");
  CHECK(CachedRecord(cache, "written") == "w");
  cache.UpdateWritten("read", "x");
  CHECK(CachedRecord(cache, "read") == "x");
  CHECK(cache.stats().entries == 2);
}

TEST_CASE("once full, a read is cached on its second miss and a write refreshes only a cached key") {
  auto full = FullCache(10);
  RecordCache& cache = *full;
  REQUIRE(cache.stats().entries == 10);
  REQUIRE(Cached(cache, "fill0"));
  cache.AdmitRead("read", "r");
  CHECK_FALSE(Cached(cache, "read"));
  cache.AdmitRead("read", "r");
  CHECK(CachedRecord(cache, "read") == "r");
  cache.UpdateWritten("written", "w");
  CHECK_FALSE(Cached(cache, "written"));
  cache.UpdateWritten("read", "x");
  CHECK(CachedRecord(cache, "read") == "x");
  CHECK(cache.stats().entries == 10);
}

TEST_CASE("a key read once in a long stream of other keys is not admitted to a full cache by chance") {
  auto full = FullCache(1000);
  RecordCache& cache = *full;
  int admitted = 0;
  for (int i = 0; i < 10000; ++i) {
    const std::string key = "once" + std::to_string(i);
    cache.AdmitRead(key, "v");
    admitted += Cached(cache, key) ? 1 : 0;
  }
  CHECK(admitted < 10000 / 8);  // the doorkeeper's false repeats stay below 1/8
}

TEST_CASE("a large entry evicts as many old entries as its charge needs") {
  const uint64_t small = RecordCache::Charge("k1", "v");
  RecordCache cache(BudgetFor(4, small));
  for (const char* key : {"k1", "k2", "k3", "k4"}) Admit(cache, key, "v");
  const std::string big(small + 10, 'x');
  const uint64_t big_charge = RecordCache::Charge("big", big);
  REQUIRE(big_charge > 2 * small);
  REQUIRE(big_charge <= 3 * small);
  Admit(cache, "big", big);
  CHECK(CachedRecord(cache, "big") == big);
  CHECK(cache.stats().entries == 2);
  CHECK(cache.stats().bytes == small + big_charge + TableBytes(4));
}

TEST_CASE("an entry larger than the whole budget is not cached and drops the old entry") {
  const uint64_t small = RecordCache::Charge("k", "v");
  RecordCache cache(BudgetFor(3, small));
  Admit(cache, "other", "v");
  Admit(cache, "k", "v");
  cache.UpdateWritten("k", std::string(BudgetFor(3, small), 'x'));
  CHECK_FALSE(Cached(cache, "k"));
  CHECK(Cached(cache, "other"));
  CHECK(cache.stats().entries == 1);
}

TEST_CASE("replacing an entry re-charges it") {
  RecordCache cache(1 << 20);
  Admit(cache, "k", "v");
  CHECK(cache.stats().bytes == RecordCache::Charge("k", "v") + TableBytes(1));
  const std::string bigger(1000, 'x');
  cache.UpdateWritten("k", bigger);
  CHECK(cache.stats().bytes == RecordCache::Charge("k", bigger) + TableBytes(1));
  CHECK(cache.stats().entries == 1);
  CHECK(CachedRecord(cache, "k") == bigger);
  cache.UpdateWritten("k", "w");
  CHECK(cache.stats().bytes == RecordCache::Charge("k", "w") + TableBytes(1));
  CHECK(CachedRecord(cache, "k") == "w");
}

TEST_CASE("Erase removes an entry and its charge") {
  RecordCache cache(1 << 20);
  Admit(cache, "a", "1");
  Admit(cache, "b", "2");
  cache.Erase("a");
  cache.Erase("missing");
  CHECK_FALSE(Cached(cache, "a"));
  CHECK(cache.stats().entries == 1);
  CHECK(cache.stats().bytes == RecordCache::Charge("b", "2") + TableBytes(1));
}

TEST_CASE("lookups count hits and misses") {
  RecordCache cache(1 << 20);
  Admit(cache, "a", "1");
  CHECK(Cached(cache, "a"));
  CHECK(Cached(cache, "a"));
  CHECK_FALSE(Cached(cache, "b"));
  CHECK(cache.stats().hits == 2);
  CHECK(cache.stats().misses == 1);
}

// Linear probing with backward-shift deletion must keep every cached key
// reachable through any order of inserts, replacements, erasures and
// evictions; checked against a plain map of the last record of each key.
TEST_CASE("random writes, erasures and evictions never lose or mix up a cached key") {
  for (uint64_t budget : {uint64_t{1} << 24, uint64_t{8} << 10}) {
    CAPTURE(budget);
    RecordCache cache(budget);
    std::map<std::string, std::string> last;
    std::mt19937 random(7);
    for (int i = 0; i < 50000; ++i) {
      const std::string key = "k" + std::to_string(random() % 700);
      switch (random() % 4) {
        case 0:
          cache.Erase(key);
          last.erase(key);
          break;
        case 1:
          if (!last.contains(key)) break;  // a read from disk brings back what was last written
          cache.AdmitRead(key, last[key]);
          break;
        default: {
          const std::string record(random() % 40, static_cast<char>('a' + i % 26));
          cache.UpdateWritten(key, record);
          last[key] = record;
        }
      }
    }
    size_t cached = 0;
    for (const auto& [key, record] : last) {
      std::string found;
      if (!cache.Lookup(key, &found)) continue;
      ++cached;
      CHECK(found == record);
    }
    CHECK(cache.stats().entries == cached);
    CHECK(cache.stats().bytes <= budget);
    if (budget > (1 << 20)) CHECK(cached == last.size());  // nothing was evicted
  }
}

TEST_CASE("a zero budget caches nothing") {
  RecordCache cache(0);
  cache.UpdateWritten("a", "1");
  Admit(cache, "b", "1");
  CHECK_FALSE(Cached(cache, "a"));
  CHECK_FALSE(Cached(cache, "b"));
  CHECK(cache.stats().bytes == 0);
  CHECK(cache.stats().entries == 0);
}

// The budget is what an operator sizes memory by (storage.cache_bytes), so
// the charge must cover what the entries really take from the heap.
TEST_CASE("the bytes charged cover the heap the entries use") {
  for (size_t record_size : {1, 40, 160, 1000}) {
    CAPTURE(record_size);
    const std::string record(record_size, 'r');
    auto cache = std::make_unique<RecordCache>(1ull << 30);
    std::vector<std::string> keys;
    for (int i = 0; i < 20000; ++i) keys.push_back("key:" + std::to_string(1000000000000 + i));
    // Small blocks come from the arenas (uordblks); the slot table, once
    // large, is mapped on its own (hblkhd).
    auto heap = [] { return mallinfo2().uordblks + mallinfo2().hblkhd; };
    const size_t before = heap();
    for (const std::string& key : keys) Admit(*cache, key, record);
    const size_t used = heap() - before;
    CHECK(cache->stats().entries == 20000);
    // mallinfo counts the freed small tables of the early growth as used
    // while glibc's per-thread cache keeps them (under 1 KiB).
    CHECK(used <= cache->stats().bytes + 1024);
    CHECK(used >= cache->stats().bytes * 7 / 10);  // and not grossly more
  }
}

}  // namespace
}  // namespace dynkv::storage
