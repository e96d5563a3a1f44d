#include "storage/lru_cache.h"

#include <doctest/doctest.h>

#include <string>

namespace dynkv::storage {
namespace {

Object WithValue(std::string value) {
  Object object;
  object.vv = VersionVector({{"a", 1}});
  object.siblings = {Sibling{Dot{"a", 1}, false, std::move(value), 0, 0}};
  return object;
}

bool Cached(ObjectCache& cache, std::string_view key) { return cache.Lookup(key) != nullptr; }

TEST_CASE("the least recently used entry is evicted first") {
  const uint64_t charge = ObjectCache::Charge("k1", WithValue("v"));
  ObjectCache cache(3 * charge);
  cache.Insert("k1", WithValue("v"));
  cache.Insert("k2", WithValue("v"));
  cache.Insert("k3", WithValue("v"));
  REQUIRE(cache.Lookup("k1") != nullptr);  // k2 is now the least recent
  cache.Insert("k4", WithValue("v"));
  CHECK_FALSE(Cached(cache, "k2"));
  CHECK(Cached(cache, "k1"));
  CHECK(Cached(cache, "k3"));
  CHECK(Cached(cache, "k4"));
  CHECK(cache.stats().entries == 3);
  CHECK(cache.stats().bytes == 3 * charge);
}

TEST_CASE("a large entry evicts as many old entries as its charge needs") {
  const uint64_t small = ObjectCache::Charge("k1", WithValue("v"));
  ObjectCache cache(4 * small);
  for (const char* key : {"k1", "k2", "k3", "k4"}) cache.Insert(key, WithValue("v"));
  const Object big = WithValue(std::string(2 * small - 10, 'x'));
  const uint64_t big_charge = ObjectCache::Charge("big", big);
  REQUIRE(big_charge > 2 * small);
  REQUIRE(big_charge <= 3 * small);
  cache.Insert("big", big);
  CHECK_FALSE(Cached(cache, "k1"));
  CHECK_FALSE(Cached(cache, "k2"));
  CHECK_FALSE(Cached(cache, "k3"));
  CHECK(Cached(cache, "k4"));
  CHECK(*cache.Lookup("big") == big);
  CHECK(cache.stats().bytes == small + big_charge);
}

TEST_CASE("an entry larger than the whole budget is not cached and drops the old entry") {
  const uint64_t small = ObjectCache::Charge("k", WithValue("v"));
  ObjectCache cache(3 * small);
  cache.Insert("other", WithValue("v"));
  cache.Insert("k", WithValue("v"));
  cache.Insert("k", WithValue(std::string(4 * small, 'x')));
  CHECK_FALSE(Cached(cache, "k"));
  CHECK(Cached(cache, "other"));
  CHECK(cache.stats().entries == 1);
}

TEST_CASE("replacing an entry re-charges it") {
  ObjectCache cache(1 << 20);
  cache.Insert("k", WithValue("v"));
  CHECK(cache.stats().bytes == ObjectCache::Charge("k", WithValue("v")));
  const Object bigger = WithValue(std::string(1000, 'x'));
  cache.Insert("k", bigger);
  CHECK(cache.stats().bytes == ObjectCache::Charge("k", bigger));
  CHECK(cache.stats().entries == 1);
  CHECK(*cache.Lookup("k") == bigger);
}

TEST_CASE("Erase removes an entry and its charge") {
  ObjectCache cache(1 << 20);
  cache.Insert("a", WithValue("1"));
  cache.Insert("b", WithValue("2"));
  cache.Erase("a");
  cache.Erase("missing");
  CHECK_FALSE(Cached(cache, "a"));
  CHECK(cache.stats().entries == 1);
  CHECK(cache.stats().bytes == ObjectCache::Charge("b", WithValue("2")));
}

TEST_CASE("lookups count hits and misses") {
  ObjectCache cache(1 << 20);
  cache.Insert("a", WithValue("1"));
  CHECK(Cached(cache, "a"));
  CHECK(Cached(cache, "a"));
  CHECK_FALSE(Cached(cache, "b"));
  CHECK(cache.stats().hits == 2);
  CHECK(cache.stats().misses == 1);
}

TEST_CASE("a zero budget caches nothing") {
  ObjectCache cache(0);
  cache.Insert("a", WithValue("1"));
  CHECK_FALSE(Cached(cache, "a"));
  CHECK(cache.stats().bytes == 0);
  CHECK(cache.stats().entries == 0);
}

}  // namespace
}  // namespace dynkv::storage
