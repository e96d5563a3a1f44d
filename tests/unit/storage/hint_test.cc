// Hints in the LevelDB engine (storage.h: GetHint, WriteHints, ScanHints,
// ListHintTargets, CountHints; keys.h: the 'h' key kind).
#include <doctest/doctest.h>
#include <leveldb/db.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "common/key_hash.h"
#include "storage/keys.h"
#include "storage/storage.h"
#include "temp_dir.h"

namespace dynkv::storage {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;

Object WithValue(std::string value, int64_t write_time_ms = kNow) {
  Object object;
  object.vv = VersionVector({{"a", 1}});
  object.siblings = {Sibling{Dot{"a", 1}, false, std::move(value), write_time_ms, 0}};
  return object;
}

Hint MakeHint(std::string target, std::string key, std::string value, int64_t stored_at_ms = kNow) {
  return Hint{std::move(target), std::move(key), WithValue(std::move(value)), stored_at_ms};
}

std::unique_ptr<Engine> Open(const std::string& dir) {
  Options options;
  options.data_dir = dir;
  auto engine = OpenLevelDbEngine(options);
  REQUIRE_MESSAGE(engine.ok(), engine.status().ToString());
  return std::move(engine.value());
}

void PutHints(Engine& engine, const std::vector<Hint>& hints) {
  const Status written = engine.WriteHints(hints);
  REQUIRE_MESSAGE(written.ok(), written.ToString());
}

Hint GetHint(Engine& engine, const std::string& target, const std::string& key) {
  auto hint = engine.GetHint(target, key);
  REQUIRE_MESSAGE(hint.ok(), hint.status().ToString());
  return *hint;
}

std::vector<Hint> Scan(Engine& engine, const std::string& target, std::string* cursor, size_t max_bytes,
                       size_t max_count) {
  auto hints = engine.ScanHints(target, cursor, max_bytes, max_count);
  REQUIRE_MESSAGE(hints.ok(), hints.status().ToString());
  return *hints;
}

std::vector<std::string> Keys(const std::vector<Hint>& hints) {
  std::vector<std::string> keys;
  for (const Hint& hint : hints) keys.push_back(hint.key);
  return keys;
}

bool ByRingPosition(const std::string& a, const std::string& b) {
  return KeyPosition(a) != KeyPosition(b) ? KeyPosition(a) < KeyPosition(b) : a < b;
}

TEST_CASE("hint keys parse back and keep each target's hints together") {
  std::string_view target;
  std::string_view user_key;
  const std::string key = HintKey("node-2", std::string("k\0y", 3));
  REQUIRE(ParseHintKey(key, &target, &user_key));
  CHECK(target == "node-2");
  CHECK(user_key == std::string("k\0y", 3));
  CHECK(HintKey("node-2", "k").starts_with(HintTargetPrefix("node-2")));
  // A target whose id extends another's is still a separate range.
  CHECK_FALSE(HintKey("node-22", "k").starts_with(HintTargetPrefix("node-2")));
  CHECK_FALSE(ParseHintKey(DataKey("k"), &target, &user_key));
  CHECK_FALSE(ParseHintKey("h", &target, &user_key));
  CHECK_FALSE(ParseHintKey(std::string("h\x06node-2\x01\x02", 10), &target, &user_key));
  CHECK(PrefixSuccessor("ab") == "ac");
  CHECK(PrefixSuccessor(std::string("a\xff", 2)) == "b");
  CHECK(PrefixSuccessor("\xff").empty());
}

TEST_CASE("hints round-trip, survive a reopen, and are deleted by an empty object") {
  TempDir dir;
  const std::string big(5000, 'z');
  {
    auto engine = Open(dir.path());
    CHECK(GetHint(*engine, "n2", "k").object.empty());
    PutHints(*engine, {MakeHint("n2", "k", "v", kNow - 5), MakeHint("n3", "k", big)});
  }
  auto engine = Open(dir.path());
  const Hint n2 = GetHint(*engine, "n2", "k");
  CHECK(n2.object == WithValue("v"));
  CHECK(n2.stored_at_ms == kNow - 5);
  CHECK(GetHint(*engine, "n3", "k").object == WithValue(big));
  PutHints(*engine, {Hint{"n2", "k", Object{}, 0}});
  CHECK(GetHint(*engine, "n2", "k").object.empty());
  CHECK(GetHint(*engine, "n3", "k").object == WithValue(big));
}

TEST_CASE("a hint batch with an invalid object writes nothing") {
  TempDir dir;
  auto engine = Open(dir.path());
  Hint bad = MakeHint("n2", "bad", "x");
  bad.object.siblings[0].dot.counter = 9;
  const std::vector<Hint> batch = {MakeHint("n2", "good", "g"), bad};
  CHECK(engine->WriteHints(batch).code() == Code::kInvalidArgument);
  CHECK(GetHint(*engine, "n2", "good").object.empty());
}

TEST_CASE("hints and data never see each other") {
  TempDir dir;
  auto engine = Open(dir.path());
  const ObjectWrite data{"k", WithValue("data", 0)};
  REQUIRE(engine->Write(std::span(&data, 1)).ok());
  Object expired_tombstone = WithValue("", 0);
  expired_tombstone.siblings[0].tombstone = true;
  PutHints(*engine, {Hint{"n2", "k", expired_tombstone, kNow}, MakeHint("n2", "other", "hint")});

  auto object = engine->Get("other");
  REQUIRE(object.ok());
  CHECK(object->empty());
  CHECK(engine->Get("k")->siblings[0].value == "data");
  CHECK(GetHint(*engine, "n2", "k").object == expired_tombstone);

  // Reap would delete a tombstone written long ago, but only in data.
  std::string cursor;
  REQUIRE(engine->Reap(&cursor, 100, kNow, 0).ok());
  CHECK(engine->Stats().records_reaped == 0);
  CHECK(GetHint(*engine, "n2", "k").object == expired_tombstone);

  // Hint scans see hints only, whatever data or meta is stored.
  REQUIRE(engine->PutMeta("hzz", "meta").ok());
  std::string hint_cursor;
  const std::vector<Hint> hints = Scan(*engine, "n2", &hint_cursor, 1 << 20, 100);
  CHECK(hints.size() == 2);
  CHECK(*engine->CountHints() == 2);
  CHECK(*engine->ListHintTargets() == std::vector<std::string>{"n2"});
}

TEST_CASE("a hint scan goes in ring order from its cursor within its limits") {
  TempDir dir;
  auto engine = Open(dir.path());
  std::vector<std::string> keys;
  std::vector<Hint> hints;
  for (int i = 0; i < 20; ++i) {
    keys.push_back("key" + std::to_string(100 + i));  // all one length, so all one size
    hints.push_back(MakeHint("n2", keys.back(), std::string(100, 'v')));
  }
  hints.push_back(MakeHint("n1", "elsewhere", "x"));
  hints.push_back(MakeHint("n3", "elsewhere", "x"));
  PutHints(*engine, hints);
  std::sort(keys.begin(), keys.end(), ByRingPosition);

  SUBCASE("by count") {
    std::string cursor;
    std::vector<std::string> seen;
    for (int call = 0; call < 4; ++call) {
      const std::vector<Hint> batch = Scan(*engine, "n2", &cursor, 1 << 20, 6);
      CHECK(batch.size() == (call < 3 ? 6u : 2u));
      for (const Hint& hint : batch) CHECK(hint.target == "n2");
      const std::vector<std::string> batch_keys = Keys(batch);
      seen.insert(seen.end(), batch_keys.begin(), batch_keys.end());
      CHECK(cursor.empty() == (call == 3));
    }
    CHECK(seen == keys);
  }
  SUBCASE("by bytes: stops once the limit is reached") {
    std::string cursor;
    const size_t one = hints[0].ApproximateBytes();
    CHECK(Scan(*engine, "n2", &cursor, 3 * one, 100).size() == 3);
    cursor.clear();
    CHECK(Scan(*engine, "n2", &cursor, 3 * one + 1, 100).size() == 4);
    CHECK_FALSE(cursor.empty());
  }
  SUBCASE("a hint bigger than the byte limit still goes, alone") {
    std::string cursor;
    CHECK(Keys(Scan(*engine, "n2", &cursor, 1, 100)) == std::vector<std::string>{keys[0]});
  }
  SUBCASE("a target without hints") {
    std::string cursor;
    CHECK(Scan(*engine, "n9", &cursor, 1 << 20, 100).empty());
    CHECK(cursor.empty());
  }
  CHECK(*engine->ListHintTargets() == std::vector<std::string>{"n1", "n2", "n3"});
  CHECK(*engine->CountHints() == 22);
}

TEST_CASE("corrupt hints are skipped, not a crash") {
  TempDir dir;
  {
    auto engine = Open(dir.path());
    PutHints(*engine, {MakeHint("n2", "a", "1"), MakeHint("n2", "b", "2")});
  }
  {
    leveldb::Options options;
    leveldb::DB* raw = nullptr;
    REQUIRE(leveldb::DB::Open(options, dir.path(), &raw).ok());
    std::unique_ptr<leveldb::DB> db(raw);
    REQUIRE(db->Put(leveldb::WriteOptions(), HintKey("n2", "c"), "\x01garbage").ok());
    REQUIRE(db->Put(leveldb::WriteOptions(), HintKey("n2", "d"), "").ok());
    REQUIRE(db->Put(leveldb::WriteOptions(), std::string("h\x7fn", 3), "x").ok());
  }
  auto engine = Open(dir.path());
  std::string cursor;
  std::vector<std::string> keys = Keys(Scan(*engine, "n2", &cursor, 1 << 20, 100));
  std::sort(keys.begin(), keys.end());
  CHECK(keys == std::vector<std::string>{"a", "b"});
  CHECK(GetHint(*engine, "n2", "c").object.empty());
  CHECK(*engine->ListHintTargets() == std::vector<std::string>{"n2"});
  CHECK(*engine->CountHints() == 4);  // every well-formed key, whatever its value
}

}  // namespace
}  // namespace dynkv::storage
