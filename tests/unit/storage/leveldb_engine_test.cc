#include <doctest/doctest.h>
#include <fcntl.h>
#include <leveldb/db.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/key_hash.h"
#include "storage/keys.h"
#include "storage/storage.h"
#include "temp_dir.h"

namespace dynkv::storage {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;

Object WithValue(std::string value, int64_t expires_at_ms = 0) {
  Object object;
  object.vv = VersionVector({{"a", 1}});
  object.siblings = {Sibling{Dot{"a", 1}, false, std::move(value), kNow, expires_at_ms}};
  return object;
}

Object TombstoneWrittenAt(int64_t write_time_ms) {
  Object object;
  object.vv = VersionVector({{"a", 1}});
  object.siblings = {Sibling{Dot{"a", 1}, true, "", write_time_ms, 0}};
  return object;
}

Options OptionsFor(const std::string& dir) {
  Options options;
  options.data_dir = dir;
  return options;
}

std::unique_ptr<Engine> Open(const Options& options) {
  auto engine = OpenLevelDbEngine(options);
  REQUIRE_MESSAGE(engine.ok(), engine.status().ToString());
  return std::move(engine.value());
}

std::string OpenError(const Options& options) {
  auto engine = OpenLevelDbEngine(options);
  REQUIRE_FALSE(engine.ok());
  CHECK(engine.status().code() == Code::kStorageError);
  return engine.status().message();
}

void Put(Engine& engine, const std::string& key, Object object) {
  const ObjectWrite write{key, std::move(object)};
  REQUIRE(engine.Write(std::span(&write, 1)).ok());
}

Object Get(Engine& engine, std::string_view key) {
  auto object = engine.Get(key);
  REQUIRE_MESSAGE(object.ok(), object.status().ToString());
  return *object;
}

std::unique_ptr<leveldb::DB> OpenRaw(const std::string& dir, bool create) {
  leveldb::Options options;
  options.create_if_missing = create;
  leveldb::DB* db = nullptr;
  const leveldb::Status status = leveldb::DB::Open(options, dir, &db);
  REQUIRE_MESSAGE(status.ok(), status.ToString());
  return std::unique_ptr<leveldb::DB>(db);
}

void Overwrite(const std::string& path, const std::string& bytes) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << bytes;
  REQUIRE(file.good());
}

// prefix + i; built by append, which GCC 12's -Wrestrict does not misread.
std::string Numbered(std::string prefix, int i) { return prefix.append(std::to_string(i)); }

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_CASE("objects are written, read back and deleted") {
  TempDir dir;
  auto engine = Open(OptionsFor(dir.path()));
  CHECK(Get(*engine, "k").empty());
  Put(*engine, "k", WithValue("v1"));
  CHECK(Get(*engine, "k") == WithValue("v1"));
  Put(*engine, "k", WithValue("v2"));
  CHECK(Get(*engine, "k") == WithValue("v2"));
  Put(*engine, "k", Object{});
  CHECK(Get(*engine, "k").empty());
}

TEST_CASE("a batch is applied whole, or not at all when one object is invalid") {
  TempDir dir;
  auto engine = Open(OptionsFor(dir.path()));
  Object uncovered = WithValue("x");
  uncovered.siblings[0].dot.counter = 2;
  const std::vector<ObjectWrite> writes = {{"good", WithValue("g")}, {"bad", uncovered}};
  CHECK(engine->Write(writes).code() == Code::kInvalidArgument);
  CHECK(Get(*engine, "good").empty());
  const std::vector<ObjectWrite> valid = {{"a", WithValue("1")}, {"b", WithValue("2")}, {"a", Object{}}};
  REQUIRE(engine->Write(valid).ok());
  CHECK(Get(*engine, "a").empty());
  CHECK(Get(*engine, "b") == WithValue("2"));
  CHECK(engine->Stats().write_batches == 1);
  CHECK(engine->Stats().objects_written == 3);
}

TEST_CASE("data and meta survive closing and reopening the engine") {
  TempDir dir;
  const std::string big(8000, 'q');
  {
    auto engine = Open(OptionsFor(dir.path()));
    for (int i = 0; i < 100; ++i) Put(*engine, "key" + std::to_string(i), WithValue(i % 2 ? big : "small"));
    Put(*engine, "key7", Object{});
    REQUIRE(engine->PutMeta("node_id", "n1").ok());
    CHECK(engine->Stats().values_compressed == 50);
    CHECK(engine->Stats().bytes_after_compression < engine->Stats().bytes_before_compression);
  }
  auto engine = Open(OptionsFor(dir.path()));
  for (int i = 0; i < 100; ++i) {
    const Object expected = i == 7 ? Object{} : WithValue(i % 2 ? big : "small");
    CHECK(Get(*engine, "key" + std::to_string(i)) == expected);
  }
  CHECK(*engine->GetMeta("node_id") == "n1");
}

TEST_CASE("meta values round-trip and are apart from data") {
  TempDir dir;
  auto engine = Open(OptionsFor(dir.path()));
  CHECK(engine->GetMeta("epoch").status().code() == Code::kNotFound);
  REQUIRE(engine->PutMeta("epoch", std::string("\x00\xff", 2)).ok());
  CHECK(*engine->GetMeta("epoch") == std::string("\x00\xff", 2));
  CHECK(Get(*engine, "epoch").empty());
  CHECK(*engine->GetMeta("format") == "dynkv-1");
}

TEST_CASE("data records are stored in ring-position order") {
  TempDir dir;
  {
    auto engine = Open(OptionsFor(dir.path()));
    for (int i = 0; i < 300; ++i) Put(*engine, "user:" + std::to_string(i), WithValue("v"));
  }
  auto db = OpenRaw(dir.path(), false);
  std::unique_ptr<leveldb::Iterator> it(db->NewIterator(leveldb::ReadOptions()));
  int records = 0;
  uint64_t previous = 0;
  for (it->Seek(std::string(1, kDataKeyKind)); it->Valid(); it->Next()) {
    uint64_t position = 0;
    std::string_view user_key;
    if (!ParseDataKey(std::string_view(it->key().data(), it->key().size()), &position, &user_key)) break;
    CHECK(position == KeyPosition(user_key));
    CHECK(position >= previous);
    previous = position;
    ++records;
  }
  CHECK(records == 300);
}

TEST_CASE("a data dir open in this process cannot be opened again") {
  TempDir dir;
  auto engine = Open(OptionsFor(dir.path()));
  const std::string error = OpenError(OptionsFor(dir.path()));
  CHECK(Contains(error, "in use"));
  CHECK(Contains(error, dir.path()));
  engine.reset();
  Open(OptionsFor(dir.path()));
}

TEST_CASE("a data dir held by another process is reported as in use") {
  TempDir dir;
  int ready[2];
  int release[2];
  REQUIRE(pipe(ready) == 0);
  REQUIRE(pipe(release) == 0);
  const std::string lock_path = dir.Sub("LOCK");
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Only async-signal-safe calls after fork: take the LOCK file the way
    // LevelDB's PosixEnv does (fcntl F_SETLK), report, and hold it until the
    // parent closes the release pipe.
    close(ready[0]);
    close(release[1]);
    const int fd = open(lock_path.c_str(), O_RDWR | O_CREAT, 0644);
    struct flock lock = {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    const char locked = fd >= 0 && fcntl(fd, F_SETLK, &lock) == 0 ? 'y' : 'n';
    if (write(ready[1], &locked, 1) != 1) _exit(2);
    char ignored;
    while (read(release[0], &ignored, 1) > 0) {
    }
    _exit(0);
  }
  close(ready[1]);
  close(release[0]);
  char child_locked = 'n';
  REQUIRE(read(ready[0], &child_locked, 1) == 1);
  REQUIRE(child_locked == 'y');
  const std::string error = OpenError(OptionsFor(dir.path()));
  CHECK(Contains(error, "in use by another process"));
  CHECK(Contains(error, dir.path()));
  close(release[1]);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  close(ready[0]);
  Open(OptionsFor(dir.path()));
}

TEST_CASE("a data dir with a garbage or missing CURRENT, or a garbage MANIFEST, is reported as corrupt") {
  TempDir dir;
  {
    auto engine = Open(OptionsFor(dir.path()));
    Put(*engine, "k", WithValue("v"));
  }
  SUBCASE("garbage CURRENT") { Overwrite(dir.Sub("CURRENT"), "garbage"); }
  SUBCASE("missing CURRENT") { REQUIRE(std::filesystem::remove(dir.Sub("CURRENT"))); }
  SUBCASE("MANIFEST") {
    std::ifstream current(dir.Sub("CURRENT"));
    std::string manifest;
    std::getline(current, manifest);
    REQUIRE(manifest.starts_with("MANIFEST-"));
    Overwrite(dir.Sub(manifest), std::string(200, '\x5a'));
  }
  const std::string error = OpenError(OptionsFor(dir.path()));
  CHECK(Contains(error, "is corrupt"));
  CHECK(Contains(error, dir.path()));
}

TEST_CASE("a LevelDB that is not a dynkv data dir is refused") {
  TempDir dir;
  SUBCASE("no format") {
    auto db = OpenRaw(dir.path(), true);
    REQUIRE(db->Put(leveldb::WriteOptions(), "hello", "world").ok());
    db.reset();
    const std::string error = OpenError(OptionsFor(dir.path()));
    CHECK(Contains(error, "is not a dynkv data dir (format missing)"));
    CHECK(Contains(error, dir.path()));
  }
  SUBCASE("another format") {
    REQUIRE(Open(OptionsFor(dir.path()))->PutMeta("format", "dynkv-99").ok());
    const std::string error = OpenError(OptionsFor(dir.path()));
    CHECK(Contains(error, "is not a dynkv data dir (format 'dynkv-99'"));
  }
}

TEST_CASE("a data dir that is a file is refused") {
  TempDir dir;
  Overwrite(dir.Sub("file"), "x");
  const std::string error = OpenError(OptionsFor(dir.Sub("file")));
  CHECK(Contains(error, dir.Sub("file") + " cannot be created"));
  CHECK(OpenLevelDbEngine(OptionsFor("")).status().code() == Code::kInvalidArgument);
}

TEST_CASE("a record that does not decode is a storage error, not a crash") {
  TempDir dir;
  {
    auto engine = Open(OptionsFor(dir.path()));
    Put(*engine, "good", WithValue("v"));
  }
  {
    auto db = OpenRaw(dir.path(), false);
    REQUIRE(db->Put(leveldb::WriteOptions(), DataKey("bad"), "\x01garbage").ok());
  }
  auto engine = Open(OptionsFor(dir.path()));
  auto bad = engine->Get("bad");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == Code::kStorageError);
  CHECK(Contains(bad.status().message(), "corrupt record for key bad"));
  CHECK(Get(*engine, "good") == WithValue("v"));
  std::string cursor;
  CHECK(engine->Reap(&cursor, 100, kNow, 0).ok());
}

TEST_CASE("reads are served from the cache, which writes fill while it has room") {
  TempDir dir;
  auto engine = Open(OptionsFor(dir.path()));
  Put(*engine, "k", WithValue("v"));
  const StorageStats before = engine->Stats();
  CHECK(before.cache_entries == 1);
  Get(*engine, "k");
  CHECK(Get(*engine, "k") == WithValue("v"));
  const StorageStats after = engine->Stats();
  CHECK(after.cache_hits == before.cache_hits + 2);
  CHECK(after.gets == before.gets + 2);
  Put(*engine, "k", WithValue("w"));  // a write refreshes the cached record
  CHECK(Get(*engine, "k") == WithValue("w"));
  CHECK(engine->Stats().cache_hits == after.cache_hits + 1);
  Put(*engine, "k", Object{});
  CHECK(engine->Stats().cache_entries == 0);
  CHECK(Get(*engine, "k").empty());

  TempDir uncached_dir;
  Options uncached = OptionsFor(uncached_dir.path());
  uncached.cache_bytes = 0;
  auto cold = Open(uncached);
  Put(*cold, "k", WithValue("v"));
  CHECK(Get(*cold, "k") == WithValue("v"));
  CHECK(cold->Stats().cache_hits == 0);
  CHECK(cold->Stats().cache_bytes == 0);
}

TEST_CASE("GetCached answers only from the cache") {
  TempDir dir;
  Options options = OptionsFor(dir.path());
  auto engine = Open(options);
  Object object;
  CHECK_FALSE(engine->GetCached("k", &object));  // never written
  CHECK(engine->Stats().cache_misses == 0);      // the Get that follows counts it
  Put(*engine, "k", WithValue("v"));
  REQUIRE(engine->GetCached("k", &object));
  CHECK(object == WithValue("v"));
  Put(*engine, "k", WithValue("w"));
  REQUIRE(engine->GetCached("k", &object));
  CHECK(object == WithValue("w"));
  Put(*engine, "k", Object{});
  CHECK_FALSE(engine->GetCached("k", &object));

  // A key on disk but not in the cache is left to Get.
  Put(*engine, "cold", WithValue("c"));
  engine.reset();
  engine = Open(options);
  CHECK_FALSE(engine->GetCached("cold", &object));
  CHECK(Get(*engine, "cold") == WithValue("c"));
  REQUIRE(engine->GetCached("cold", &object));  // read from disk into a cache with room
  CHECK(object == WithValue("c"));
}

// The node's loop looks keys up while the storage thread writes them.
TEST_CASE("GetCached on another thread during writes returns only whole written values") {
  TempDir dir;
  Options options = OptionsFor(dir.path());
  options.cache_bytes = 64 * 1024;  // small: admission and eviction happen during the run
  auto engine = Open(options);
  constexpr int kKeys = 200;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int round = 0; round < 20; ++round) {
      for (int i = 0; i < kKeys; ++i) Put(*engine, Numbered("k", i), WithValue(Numbered("value.", round)));
      for (int i = 0; i < kKeys; ++i) Get(*engine, Numbered("k", i));
    }
    done = true;
  });
  int hits = 0;
  bool all_whole = true;
  while (!done) {
    for (int i = 0; i < kKeys; ++i) {
      Object object;
      if (!engine->GetCached(Numbered("k", i), &object)) continue;
      ++hits;
      all_whole = all_whole && object.siblings.size() == 1 && object.siblings[0].value.starts_with("value.");
    }
  }
  writer.join();
  CHECK(all_whole);
  CHECK(hits > 0);
}

TEST_CASE("Reap removes siblings expired and tombstones written a grace period ago") {
  TempDir dir;
  auto engine = Open(OptionsFor(dir.path()));
  const int64_t grace = 1000;
  Object mixed;
  mixed.vv = VersionVector({{"a", 3}});
  mixed.siblings = {Sibling{Dot{"a", 1}, false, "expired long ago", kNow, kNow - 2000},
                    Sibling{Dot{"a", 2}, false, "expired within grace", kNow, kNow - 500},
                    Sibling{Dot{"a", 3}, false, "no ttl", kNow, 0}};
  Put(*engine, "mixed", mixed);
  Put(*engine, "old-tombstone", TombstoneWrittenAt(kNow - 5000));
  Put(*engine, "new-tombstone", TombstoneWrittenAt(kNow - 10));
  Put(*engine, "live", WithValue("v", kNow + 60'000));

  std::string cursor;
  REQUIRE(engine->Reap(&cursor, 100, kNow, grace).ok());
  CHECK(cursor.empty());
  Object expected = mixed;
  expected.siblings.erase(expected.siblings.begin());
  CHECK(Get(*engine, "mixed") == expected);
  CHECK(Get(*engine, "old-tombstone").empty());
  CHECK(Get(*engine, "new-tombstone") == TombstoneWrittenAt(kNow - 10));
  CHECK(Get(*engine, "live") == WithValue("v", kNow + 60'000));
  CHECK(engine->Stats().siblings_reaped == 2);
  CHECK(engine->Stats().records_reaped == 1);
  CHECK(*engine->GetMeta("format") == "dynkv-1");
}

TEST_CASE("Reap goes on from its cursor until a pass is done") {
  TempDir dir;
  auto engine = Open(OptionsFor(dir.path()));
  for (int i = 0; i < 10; ++i) Put(*engine, Numbered("k", i), WithValue("v", kNow - 1));
  Put(*engine, "live", WithValue("v"));
  std::string cursor;
  int calls = 0;
  do {
    REQUIRE(engine->Reap(&cursor, 3, kNow, 0).ok());
    ++calls;
    REQUIRE(calls < 10);
  } while (!cursor.empty());
  CHECK(calls == 4);  // 11 records, 3 per call
  CHECK(engine->Stats().records_reaped == 10);
  for (int i = 0; i < 10; ++i) CHECK(Get(*engine, Numbered("k", i)).empty());
  CHECK(Get(*engine, "live") == WithValue("v"));
}

// A whole pass; the records it read.
uint64_t FullPass(Engine& engine, int64_t now_ms, int64_t grace_ms, size_t batch = 100) {
  const uint64_t before = engine.Stats().reap_records_scanned;
  std::string cursor;
  int calls = 0;
  do {
    REQUIRE(engine.Reap(&cursor, batch, now_ms, grace_ms).ok());
    REQUIRE(++calls < 1000);
  } while (!cursor.empty());
  return engine.Stats().reap_records_scanned - before;
}

TEST_CASE("a pass when nothing can expire reads nothing, and later TTLs and tombstones are still reaped") {
  TempDir dir;
  auto engine = Open(OptionsFor(dir.path()));
  const int64_t grace = 1000;
  for (int i = 0; i < 20; ++i) Put(*engine, Numbered("k", i), WithValue("v"));
  CHECK(FullPass(*engine, kNow, grace) == 20);  // the first pass reads all: the data dir is not new to it
  CHECK(FullPass(*engine, kNow, grace) == 0);

  Put(*engine, "ttl", WithValue("v", kNow + 5000));
  Put(*engine, "tombstone", TombstoneWrittenAt(kNow));
  CHECK(FullPass(*engine, kNow, grace) == 0);  // nothing reapable before kNow + grace
  CHECK(Get(*engine, "tombstone") == TombstoneWrittenAt(kNow));
  CHECK(FullPass(*engine, kNow + grace, grace) > 0);
  CHECK(Get(*engine, "tombstone").empty());
  CHECK_FALSE(Get(*engine, "ttl").empty());
  // The pass that reaped the tombstone saw the TTL still to come.
  CHECK(FullPass(*engine, kNow + 2000, grace) == 0);
  CHECK(FullPass(*engine, kNow + 5000 + grace, grace) > 0);
  CHECK(Get(*engine, "ttl").empty());
  CHECK(FullPass(*engine, kNow + 100'000, grace) == 0);
  CHECK(engine->Stats().records_reaped == 2);
}

TEST_CASE("after reopening, a pass still finds what was written before") {
  TempDir dir;
  {
    auto engine = Open(OptionsFor(dir.path()));
    Put(*engine, "ttl", WithValue("v", kNow - 1));
    Put(*engine, "live", WithValue("v"));
  }
  auto engine = Open(OptionsFor(dir.path()));
  FullPass(*engine, kNow, 0);
  CHECK(Get(*engine, "ttl").empty());
  CHECK(Get(*engine, "live") == WithValue("v"));
}

// k0..k9 and `extra`, in the order a scan meets them (keys.h).
std::vector<std::string> RingOrder(const std::string& extra) {
  std::vector<std::string> keys{extra};
  for (int i = 0; i < 10; ++i) keys.push_back(Numbered("k", i));
  std::sort(keys.begin(), keys.end(),
            [](const std::string& a, const std::string& b) { return DataKey(a) < DataKey(b); });
  return keys;
}

TEST_CASE("a write during a pass, behind its cursor, is reaped by a later pass") {
  TempDir dir;
  auto engine = Open(OptionsFor(dir.path()));
  for (int i = 0; i < 10; ++i) Put(*engine, Numbered("k", i), WithValue("v"));
  FullPass(*engine, kNow, 0);
  Put(*engine, "trigger", WithValue("v", kNow));  // expired: the next pass runs
  std::string cursor;
  REQUIRE(engine->Reap(&cursor, 3, kNow, 0).ok());
  REQUIRE_FALSE(cursor.empty());
  const std::string behind = RingOrder("trigger").front();  // scanned by that first call
  Put(*engine, behind, WithValue("v", kNow + 20));
  while (!cursor.empty()) REQUIRE(engine->Reap(&cursor, 3, kNow, 0).ok());
  CHECK_FALSE(Get(*engine, behind).empty());
  FullPass(*engine, kNow + 20, 0);
  CHECK(Get(*engine, behind).empty());
  CHECK(Get(*engine, "trigger").empty());
}

TEST_CASE("an older pass that ends after a newer one began does not hide records from it") {
  TempDir dir;
  auto engine = Open(OptionsFor(dir.path()));
  for (int i = 0; i < 10; ++i) Put(*engine, Numbered("k", i), WithValue("v"));
  FullPass(*engine, kNow, 0);
  const std::vector<std::string> order = RingOrder("trigger");
  // Read by the old pass's second call, not by the new pass's first.
  const std::string target = order[4] == "trigger" ? order[5] : order[4];
  Put(*engine, "trigger", WithValue("v", kNow - 100));
  Put(*engine, target, WithValue("v", kNow + 10));
  std::string old_cursor;
  REQUIRE(engine->Reap(&old_cursor, 3, kNow, 0).ok());
  REQUIRE(engine->Reap(&old_cursor, 3, kNow, 0).ok());
  std::string new_cursor;
  REQUIRE(engine->Reap(&new_cursor, 3, kNow, 0).ok());
  REQUIRE_FALSE(new_cursor.empty());
  while (!old_cursor.empty()) REQUIRE(engine->Reap(&old_cursor, 3, kNow, 0).ok());
  CHECK_FALSE(Get(*engine, target).empty());
  FullPass(*engine, kNow + 10, 0);
  CHECK(Get(*engine, target).empty());
}

TEST_CASE("the cache never serves a value older than the last write") {
  TempDir dir;
  Options options = OptionsFor(dir.path());
  options.cache_bytes = 4096;  // a handful of entries: admission and eviction both happen
  auto engine = Open(options);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 50; ++i) {
      const std::string key = Numbered("k", i);
      const std::string value = Numbered(key + ".", round);
      // Reads before and between writes, so keys get admitted on a second miss.
      Get(*engine, key);
      Get(*engine, key);
      const ObjectWrite writes[] = {{key, WithValue("stale")}, {key, WithValue(value)}};
      REQUIRE(engine->Write(writes).ok());
      REQUIRE(Get(*engine, key) == WithValue(value));
    }
  }
  CHECK(engine->Stats().cache_bytes <= 4096);
  CHECK(engine->Stats().cache_hits > 0);
}

}  // namespace
}  // namespace dynkv::storage
