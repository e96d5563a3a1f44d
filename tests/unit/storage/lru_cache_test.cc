#include "storage/lru_cache.h"

#include <doctest/doctest.h>
#include <malloc.h>

#include <memory>
#include <string>

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

// Writes `entries` one-byte records under the keys "fill0", "fill1", ...:
// a cache with a budget of that many such entries is then full.
void Fill(RecordCache& cache, int entries) {
  for (int i = 0; i < entries; ++i) cache.UpdateWritten("fill" + std::to_string(i), "v");
}

TEST_CASE("the least recently used entry is evicted first") {
  const uint64_t charge = RecordCache::Charge("k1", "v");
  RecordCache cache(3 * charge);
  Admit(cache, "k1", "v");
  Admit(cache, "k2", "v");
  Admit(cache, "k3", "v");
  REQUIRE(Cached(cache, "k1"));  // k2 is now the least recent
  Admit(cache, "k4", "v");
  CHECK_FALSE(Cached(cache, "k2"));
  CHECK(Cached(cache, "k1"));
  CHECK(Cached(cache, "k3"));
  CHECK(Cached(cache, "k4"));
  CHECK(cache.stats().entries == 3);
  CHECK(cache.stats().bytes == 3 * charge);
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
  const uint64_t charge = RecordCache::Charge("fill0", "v");
  RecordCache cache(10 * charge);
  Fill(cache, 10);
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
  const uint64_t charge = RecordCache::Charge("fill0", "v");
  RecordCache cache(1000 * charge);
  Fill(cache, 1000);
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
  RecordCache cache(4 * small);
  for (const char* key : {"k1", "k2", "k3", "k4"}) Admit(cache, key, "v");
  const std::string big(small + 100, 'x');
  const uint64_t big_charge = RecordCache::Charge("big", big);
  REQUIRE(big_charge > 2 * small);
  REQUIRE(big_charge <= 3 * small);
  Admit(cache, "big", big);
  CHECK_FALSE(Cached(cache, "k1"));
  CHECK_FALSE(Cached(cache, "k2"));
  CHECK_FALSE(Cached(cache, "k3"));
  CHECK(Cached(cache, "k4"));
  CHECK(CachedRecord(cache, "big") == big);
  CHECK(cache.stats().bytes == small + big_charge);
}

TEST_CASE("an entry larger than the whole budget is not cached and drops the old entry") {
  const uint64_t small = RecordCache::Charge("k", "v");
  RecordCache cache(3 * small);
  Admit(cache, "other", "v");
  Admit(cache, "k", "v");
  cache.UpdateWritten("k", std::string(4 * small, 'x'));
  CHECK_FALSE(Cached(cache, "k"));
  CHECK(Cached(cache, "other"));
  CHECK(cache.stats().entries == 1);
}

TEST_CASE("replacing an entry re-charges it") {
  RecordCache cache(1 << 20);
  Admit(cache, "k", "v");
  CHECK(cache.stats().bytes == RecordCache::Charge("k", "v"));
  const std::string bigger(1000, 'x');
  cache.UpdateWritten("k", bigger);
  CHECK(cache.stats().bytes == RecordCache::Charge("k", bigger));
  CHECK(cache.stats().entries == 1);
  CHECK(CachedRecord(cache, "k") == bigger);
  cache.UpdateWritten("k", "w");
  CHECK(cache.stats().bytes == RecordCache::Charge("k", "w"));
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
  CHECK(cache.stats().bytes == RecordCache::Charge("b", "2"));
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
    const size_t before = mallinfo2().uordblks;
    for (int i = 0; i < 20000; ++i) Admit(*cache, "key:" + std::to_string(1000000000000 + i), record);
    const size_t used = mallinfo2().uordblks - before;
    CHECK(cache->stats().entries == 20000);
    CHECK(used <= cache->stats().bytes);
    CHECK(used >= cache->stats().bytes * 7 / 10);  // and not grossly more
  }
}

}  // namespace
}  // namespace dynkv::storage
