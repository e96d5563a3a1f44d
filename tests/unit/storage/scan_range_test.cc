// Ring range scans in the LevelDB engine (storage.h: ScanRange; keys.h: data
// keys ordered by ring position), checked against a brute-force filter of
// the keys written.
#include <doctest/doctest.h>
#include <leveldb/db.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/key_hash.h"
#include "storage/keys.h"
#include "storage/storage.h"
#include "temp_dir.h"

namespace dynkv::storage {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;
constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
constexpr size_t kUnlimited = std::numeric_limits<size_t>::max();

Object WithValue(std::string value) {
  Object object;
  object.vv = VersionVector({{"a", 1}});
  object.siblings = {Sibling{Dot{"a", 1}, false, std::move(value), kNow, 0}};
  return object;
}

std::unique_ptr<Engine> Open(const std::string& dir) {
  Options options;
  options.data_dir = dir;
  auto engine = OpenLevelDbEngine(options);
  REQUIRE_MESSAGE(engine.ok(), engine.status().ToString());
  return std::move(engine.value());
}

void Put(Engine& engine, const std::vector<ObjectWrite>& writes) {
  const Status written = engine.Write(writes);
  REQUIRE_MESSAGE(written.ok(), written.ToString());
}

std::vector<ObjectWrite> Scan(Engine& engine, uint64_t start, uint64_t end, std::string* cursor,
                              size_t max_bytes, size_t max_count) {
  auto records = engine.ScanRange(start, end, cursor, max_bytes, max_count);
  REQUIRE_MESSAGE(records.ok(), records.status().ToString());
  return *records;
}

size_t Bytes(const ObjectWrite& write) { return write.key.size() + write.object.ApproximateBytes(); }

// Every record of (start, end], page by page; checks each page against its
// limits and that no key comes twice.
std::vector<ObjectWrite> ScanAll(Engine& engine, uint64_t start, uint64_t end, size_t max_bytes,
                                 size_t max_count) {
  std::vector<ObjectWrite> all;
  std::set<std::string> seen;
  std::string cursor;
  do {
    const std::vector<ObjectWrite> page = Scan(engine, start, end, &cursor, max_bytes, max_count);
    REQUIRE(page.size() <= max_count);
    // A page stops at max_bytes: all but its last record are below it.
    size_t bytes = 0;
    for (size_t i = 0; i + 1 < page.size(); ++i) bytes += Bytes(page[i]);
    if (page.size() > 1) CHECK(bytes < max_bytes);
    // A page that leaves records for later is never empty.
    if (!cursor.empty()) REQUIRE_FALSE(page.empty());
    for (const ObjectWrite& write : page) {
      REQUIRE_MESSAGE(seen.insert(write.key).second, "key returned twice: " << PrintableKey(write.key));
      all.push_back(write);
    }
  } while (!cursor.empty());
  return all;
}

std::vector<std::string> Keys(const std::vector<ObjectWrite>& writes) {
  std::vector<std::string> keys;
  for (const ObjectWrite& write : writes) keys.push_back(write.key);
  return keys;
}

bool InRange(uint64_t position, uint64_t start, uint64_t end) {
  if (start < end) return start < position && position <= end;
  return position > start || position <= end;  // wraps; start == end is the whole ring
}

// The keys of (start, end] in ring order from start, by brute force.
std::vector<std::string> Expected(const std::vector<std::string>& keys, uint64_t start, uint64_t end) {
  std::vector<std::string> in_range;
  for (const std::string& key : keys) {
    if (InRange(KeyPosition(key), start, end)) in_range.push_back(key);
  }
  // Distance past start, modulo 2^64; equal positions go by key bytes.
  auto after_start = [start](const std::string& key) { return KeyPosition(key) - start - 1; };
  std::sort(in_range.begin(), in_range.end(), [&](const std::string& a, const std::string& b) {
    return after_start(a) != after_start(b) ? after_start(a) < after_start(b) : a < b;
  });
  return in_range;
}

std::vector<std::string> RandomKeys(std::mt19937_64& random, size_t n) {
  std::set<std::string> keys;
  std::uniform_int_distribution<int> length(1, 24);
  std::uniform_int_distribution<int> byte(0, 255);
  while (keys.size() < n) {
    std::string key(length(random), '\0');
    for (char& c : key) c = static_cast<char>(byte(random));
    keys.insert(std::move(key));
  }
  return {keys.begin(), keys.end()};
}

// An engine holding `n` random keys, each with a value of its own length.
struct Filled {
  TempDir dir;
  std::unique_ptr<Engine> engine;
  std::vector<std::string> keys;

  explicit Filled(size_t n, uint64_t seed = 7) {
    engine = Open(dir.path());
    std::mt19937_64 random(seed);
    keys = RandomKeys(random, n);
    std::vector<ObjectWrite> writes;
    std::uniform_int_distribution<size_t> value_bytes(0, 300);
    for (const std::string& key : keys)
      writes.push_back({key, WithValue(std::string(value_bytes(random), 'v'))});
    Put(*engine, writes);
  }
};

struct Range {
  uint64_t start;
  uint64_t end;
};

// Random ranges, wrapping ones and whole rings among them, and ranges that
// begin or end exactly at a key's position.
std::vector<Range> SomeRanges(const std::vector<std::string>& keys) {
  std::mt19937_64 random(11);
  std::vector<Range> ranges;
  for (int i = 0; i < 8; ++i) {
    const uint64_t a = random();
    const uint64_t b = random();
    ranges.push_back({std::min(a, b), std::max(a, b)});
    ranges.push_back({std::max(a, b), std::min(a, b)});  // wraps
    ranges.push_back({a, a});                            // whole ring
  }
  const uint64_t p = KeyPosition(keys[3]);
  const uint64_t q = KeyPosition(keys[4]);
  ranges.push_back({p, q});
  ranges.push_back({q, p});
  ranges.push_back({p, p});
  ranges.push_back({0, kMax});
  ranges.push_back({kMax, 0});
  ranges.push_back({kMax, kMax});
  ranges.push_back({0, 0});
  ranges.push_back({kMax, kMax / 3});
  ranges.push_back({kMax / 3, kMax});
  return ranges;
}

TEST_CASE("a range scan returns exactly the keys whose ring position is in (start, end], in ring order") {
  Filled filled(500);
  size_t partial = 0;  // ranges holding some keys but not all
  for (const Range& range : SomeRanges(filled.keys)) {
    CAPTURE(range.start);
    CAPTURE(range.end);
    const std::vector<std::string> expected = Expected(filled.keys, range.start, range.end);
    CHECK(Keys(ScanAll(*filled.engine, range.start, range.end, kUnlimited, kUnlimited)) == expected);
    if (!expected.empty() && expected.size() < filled.keys.size()) ++partial;
  }
  CHECK(partial >= 16);
}

TEST_CASE("paging by count or bytes returns the same records, none twice") {
  Filled filled(500);
  const size_t typical = Bytes(ObjectWrite{"twelve bytes", WithValue(std::string(150, 'v'))});
  for (const Range& range : SomeRanges(filled.keys)) {
    CAPTURE(range.start);
    CAPTURE(range.end);
    const std::vector<std::string> expected = Expected(filled.keys, range.start, range.end);
    CHECK(Keys(ScanAll(*filled.engine, range.start, range.end, kUnlimited, 1)) == expected);
    CHECK(Keys(ScanAll(*filled.engine, range.start, range.end, kUnlimited, 7)) == expected);
    CHECK(Keys(ScanAll(*filled.engine, range.start, range.end, 3 * typical, kUnlimited)) == expected);
    CHECK(Keys(ScanAll(*filled.engine, range.start, range.end, 2 * typical, 5)) == expected);
  }
}

TEST_CASE("a page that ends exactly at the wrap point goes on past it") {
  Filled filled(500);
  const uint64_t start = kMax / 4 * 3;
  const uint64_t end = kMax / 4;
  size_t before_wrap = 0;
  for (const std::string& key : filled.keys) before_wrap += KeyPosition(key) > start ? 1 : 0;
  const std::vector<std::string> expected = Expected(filled.keys, start, end);
  REQUIRE(before_wrap > 0);
  REQUIRE(expected.size() > before_wrap);

  std::string cursor;
  const std::vector<ObjectWrite> first = Scan(*filled.engine, start, end, &cursor, kUnlimited, before_wrap);
  CHECK(first.size() == before_wrap);
  CHECK(KeyPosition(first.back().key) > start);
  REQUIRE_FALSE(cursor.empty());
  const std::vector<ObjectWrite> rest = Scan(*filled.engine, start, end, &cursor, kUnlimited, kUnlimited);
  CHECK(cursor.empty());
  std::vector<std::string> keys = Keys(first);
  const std::vector<std::string> rest_keys = Keys(rest);
  keys.insert(keys.end(), rest_keys.begin(), rest_keys.end());
  CHECK(keys == expected);
}

TEST_CASE("a page stops once it holds max_bytes, and the first record goes even when bigger") {
  TempDir dir;
  auto engine = Open(dir.path());
  std::vector<ObjectWrite> writes;
  for (int i = 0; i < 20; ++i) {
    writes.push_back({"key" + std::to_string(100 + i), WithValue(std::string(100, 'v'))});  // all one size
  }
  Put(*engine, writes);
  const size_t one = Bytes(writes[0]);

  std::string cursor;
  CHECK(Scan(*engine, 0, 0, &cursor, 3 * one, kUnlimited).size() == 3);
  cursor.clear();
  CHECK(Scan(*engine, 0, 0, &cursor, 3 * one + 1, kUnlimited).size() == 4);
  CHECK_FALSE(cursor.empty());

  const ObjectWrite big{"big", WithValue(std::string(100'000, 'b'))};
  Put(*engine, {big});
  const uint64_t at = KeyPosition(big.key);
  cursor.clear();
  const std::vector<ObjectWrite> alone = Scan(*engine, at - 1, at, &cursor, 1, kUnlimited);
  REQUIRE(alone.size() == 1);
  CHECK(alone[0].key == big.key);
  CHECK(alone[0].object == big.object);
  CHECK(cursor.empty());
  // Over the whole ring, every page of a 0- or 1-byte limit holds one record.
  for (const size_t max_bytes : {size_t{0}, size_t{1}}) {
    CHECK(ScanAll(*engine, at, at, max_bytes, kUnlimited).size() == 21);
    cursor.clear();
    CHECK(Scan(*engine, at, at, &cursor, max_bytes, kUnlimited).size() == 1);
  }
}

TEST_CASE("hints and meta records are never returned") {
  TempDir dir;
  auto engine = Open(dir.path());
  {
    std::string cursor;
    CHECK(Scan(*engine, 0, 0, &cursor, kUnlimited, kUnlimited).empty());  // only the format meta is stored
    CHECK(cursor.empty());
  }
  std::vector<Hint> hints;
  for (const std::string key : {"a", "b", "only-hinted"})
    hints.push_back({"n2", key, WithValue("hint"), kNow});
  REQUIRE(engine->WriteHints(hints).ok());
  REQUIRE(engine->PutMeta("a", "meta").ok());
  REQUIRE(engine->PutMeta(std::string(20, '\xff'), "meta").ok());
  Put(*engine, {{"a", WithValue("data")}, {"b", WithValue("data")}});

  for (const uint64_t start : {uint64_t{0}, kMax, KeyPosition("a")}) {
    const std::vector<ObjectWrite> all = ScanAll(*engine, start, start, kUnlimited, 1);
    REQUIRE(all.size() == 2);
    for (const ObjectWrite& write : all) CHECK(write.object == WithValue("data"));
  }
}

TEST_CASE("tombstones and expired siblings come as stored") {
  TempDir dir;
  auto engine = Open(dir.path());
  Object tombstone;
  tombstone.vv = VersionVector({{"a", 2}});
  tombstone.siblings = {Sibling{Dot{"a", 2}, true, "", kNow - 1'000'000, 0}};
  Object expired = WithValue("gone");
  expired.siblings[0].expires_at_ms = kNow - 1'000'000;
  Object conflict;
  conflict.vv = VersionVector({{"a", 1}, {"b", 1}});
  conflict.siblings = {Sibling{Dot{"a", 1}, false, "left", kNow, kNow - 5},
                       Sibling{Dot{"b", 1}, true, "", kNow, 0}};
  const std::vector<ObjectWrite> writes = {
      {"tombstone", tombstone}, {"expired", expired}, {"conflict", conflict}};
  Put(*engine, writes);

  std::vector<ObjectWrite> all = ScanAll(*engine, 5, 5, kUnlimited, kUnlimited);
  auto by_key = [](const ObjectWrite& a, const ObjectWrite& b) { return a.key < b.key; };
  std::sort(all.begin(), all.end(), by_key);
  std::vector<ObjectWrite> expected = writes;
  std::sort(expected.begin(), expected.end(), by_key);
  REQUIRE(all.size() == expected.size());
  for (size_t i = 0; i < all.size(); ++i) {
    CHECK(all[i].key == expected[i].key);
    CHECK(all[i].object == expected[i].object);
  }
}

TEST_CASE("an empty range returns nothing and an empty cursor") {
  Filled filled(500);
  std::vector<uint64_t> positions;
  for (const std::string& key : filled.keys) positions.push_back(KeyPosition(key));
  std::sort(positions.begin(), positions.end());
  // Between two neighbouring keys: after the first, up to just before the second.
  const auto gap = std::adjacent_find(positions.begin(), positions.end(),
                                      [](uint64_t a, uint64_t b) { return b - a > 1; });
  REQUIRE(gap != positions.end());
  std::string cursor;
  CHECK(Scan(*filled.engine, gap[0], gap[1] - 1, &cursor, kUnlimited, kUnlimited).empty());
  CHECK(cursor.empty());
  // Wrapping past 2^64-1 with no key there or at its far side.
  CHECK(
      Scan(*filled.engine, positions.back(), positions.front() - 1, &cursor, kUnlimited, kUnlimited).empty());
  CHECK(cursor.empty());
  // The whole ring of an engine with no data.
  TempDir empty_dir;
  auto empty = Open(empty_dir.path());
  CHECK(Scan(*empty, 42, 42, &cursor, kUnlimited, kUnlimited).empty());
  CHECK(cursor.empty());
}

TEST_CASE("corrupt records and malformed data keys are skipped, not a crash") {
  TempDir dir;
  {
    auto engine = Open(dir.path());
    Put(*engine, {{"a", WithValue("1")}, {"b", WithValue("2")}});
  }
  {
    leveldb::DB* raw = nullptr;
    REQUIRE(leveldb::DB::Open(leveldb::Options(), dir.path(), &raw).ok());
    std::unique_ptr<leveldb::DB> db(raw);
    REQUIRE(db->Put(leveldb::WriteOptions(), DataKey("c"), "\x01garbage").ok());
    REQUIRE(db->Put(leveldb::WriteOptions(), DataKey("d"), "").ok());
    REQUIRE(db->Put(leveldb::WriteOptions(), std::string("d\x01", 2), "x").ok());  // too short for a position
  }
  auto engine = Open(dir.path());
  for (const size_t max_count : {size_t{1}, kUnlimited}) {
    std::vector<std::string> keys = Keys(ScanAll(*engine, kMax, kMax, kUnlimited, max_count));
    std::sort(keys.begin(), keys.end());
    CHECK(keys == std::vector<std::string>{"a", "b"});
  }
}

TEST_CASE("a cursor from outside the range is refused") {
  Filled filled(50);
  const uint64_t start = 10;
  const uint64_t end = kMax / 2;
  const std::vector<std::string> outside = Expected(filled.keys, end, start);
  REQUIRE_FALSE(outside.empty());
  std::string cursor = DataKey(outside[0]);
  CHECK(filled.engine->ScanRange(start, end, &cursor, kUnlimited, kUnlimited).status().code() ==
        Code::kInvalidArgument);
  cursor = "garbage";
  CHECK(filled.engine->ScanRange(end, start, &cursor, kUnlimited, kUnlimited).status().code() ==
        Code::kInvalidArgument);
}

}  // namespace
}  // namespace dynkv::storage
