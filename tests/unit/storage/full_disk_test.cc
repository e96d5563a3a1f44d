// A full disk under the LevelDB engine (storage.h: Engine::RetryWrites),
// on a real tmpfs that each test mounts: writes are refused with an error
// that says the disk is full, reads go on, writes resume once space is
// freed, and every acknowledged write survives.
#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "small_disk.h"
#include "storage/storage.h"

namespace dynkv::storage {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;

// Random bytes: neither zstd nor snappy makes them smaller, so a value
// takes its size on the disk.
std::string RandomValue(size_t bytes, std::mt19937_64& random) {
  std::string value(bytes, '\0');
  for (char& c : value) c = static_cast<char>(random());
  return value;
}

Object WithValue(std::string value) {
  Object object;
  object.vv = VersionVector({{"a", 1}});
  object.siblings = {Sibling{Dot{"a", 1}, false, std::move(value), kNow, 0}};
  return object;
}

Options OptionsFor(const std::string& dir) {
  Options options;
  options.data_dir = dir;
  options.reopen_interval_ms = 0;  // every write may try to reopen
  options.write_buffer_bytes = 256 << 10;
  return options;
}

std::unique_ptr<Engine> Open(const Options& options) {
  auto engine = OpenLevelDbEngine(options);
  REQUIRE_MESSAGE(engine.ok(), engine.status().ToString());
  return std::move(engine.value());
}

Status Put(Engine& engine, const std::string& key, const std::string& value) {
  const ObjectWrite write{key, WithValue(value)};
  return engine.Write(std::span(&write, 1));
}

std::string Value(Engine& engine, const std::string& key) {
  auto object = engine.Get(key);
  REQUIRE_MESSAGE(object.ok(), object.status().ToString());
  return object->siblings.empty() ? std::string("<absent>") : object->siblings.front().value;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Every key of `acked` reads back its value from a fresh open of the dir.
void CheckAllReadable(const Options& options, const std::map<std::string, std::string>& acked) {
  auto engine = Open(options);
  for (const auto& [key, value] : acked) CHECK_MESSAGE(Value(*engine, key) == value, "key " << key);
}

#define SKIP_WITHOUT_MOUNT(disk)              \
  if (!(disk).mounted()) {                    \
    MESSAGE("skipped: " << (disk).why_not()); \
    return;                                   \
  }

TEST_CASE(
    "a write the full disk fails refuses later writes, reads go on, and writes resume once space is freed") {
  SmallDisk disk(2 << 20);
  SKIP_WITHOUT_MOUNT(disk);
  const Options options = OptionsFor(disk.Sub("data"));
  std::mt19937_64 random(1);
  std::map<std::string, std::string> acked;
  {
    auto engine = Open(options);
    for (int i = 0; i < 10; ++i) {
      const std::string key = "before" + std::to_string(i);
      acked[key] = RandomValue(100, random);
      REQUIRE(Put(*engine, key, acked[key]).ok());
    }
    REQUIRE(engine->WriteHints(std::vector<Hint>{{"node2", "hinted", WithValue("h"), kNow}}).ok());

    // The log append of a value bigger than the space left fails half-way.
    disk.Fill(64 << 10);
    const Status failed = Put(*engine, "too-big", RandomValue(256 << 10, random));
    REQUIRE(failed.code() == Code::kStorageError);
    CHECK(Contains(failed.message(), "data dir " + options.data_dir + " is full"));
    CHECK(Contains(failed.message(), "No space left on device"));
    StorageStats stats = engine->Stats();
    CHECK(stats.writes_refused == 1);
    CHECK(stats.disk_full == 1);
    CHECK(stats.write_errors == 1);
    CHECK(engine->writes_refused());

    // A small write would fit, but LevelDB would put it after the torn
    // record, where a reopen drops it: it is refused without reaching LevelDB.
    const Status refused = Put(*engine, "small", "s");
    CHECK(refused.code() == Code::kStorageError);
    CHECK(Contains(refused.message(), "is full"));
    CHECK(engine->PutMeta("m", "v").code() == Code::kStorageError);
    CHECK(engine->Stats().write_errors == 1);
    CHECK_FALSE(engine->RetryWrites().ok());

    // Reads, hints included, go on.
    CHECK(Value(*engine, "before3") == acked["before3"]);
    CHECK(Value(*engine, "too-big") == "<absent>");
    std::string cursor;
    auto hints = engine->ScanHints("node2", &cursor, 1 << 20, 10);
    REQUIRE(hints.ok());
    CHECK(hints->size() == 1);

    disk.Unfill();
    acked["after"] = "a";
    REQUIRE(Put(*engine, "after", "a").ok());
    stats = engine->Stats();
    CHECK(stats.writes_refused == 0);
    CHECK(stats.disk_full == 0);
    CHECK(stats.reopens == 1);
    CHECK(Value(*engine, "before3") == acked["before3"]);
    CHECK(Value(*engine, "after") == "a");
  }
  CheckAllReadable(options, acked);
}

TEST_CASE("every acknowledged write survives filling the disk by writing, and freeing it") {
  SmallDisk disk(4 << 20);
  SKIP_WITHOUT_MOUNT(disk);
  const Options options = OptionsFor(disk.Sub("data"));
  std::mt19937_64 random(2);
  std::map<std::string, std::string> acked;
  {
    auto engine = Open(options);
    disk.Fill(1 << 20);
    // Values of 24 KiB fill the logs and the tables that compactions make,
    // so the failure may come from a log append or from a compaction.
    int refused = 0;
    for (int i = 0; i < 200 && refused < 5; ++i) {
      const std::string key = "k" + std::to_string(i);
      const std::string value = RandomValue(24 << 10, random);
      const Status status = Put(*engine, key, value);
      if (status.ok()) {
        acked[key] = value;
      } else {
        CHECK_MESSAGE(Contains(status.message(), "is full"), status.ToString());
        ++refused;
      }
    }
    REQUIRE(refused == 5);
    REQUIRE(engine->writes_refused());
    for (const auto& [key, value] : acked) CHECK_MESSAGE(Value(*engine, key) == value, "key " << key);

    disk.Unfill();
    for (int i = 0; i < 20; ++i) {
      const std::string key = "after" + std::to_string(i);
      acked[key] = RandomValue(1 << 10, random);
      REQUIRE_MESSAGE(Put(*engine, key, acked[key]).ok(), "after" << i);
    }
    CHECK(engine->Stats().reopens >= 1);
  }
  CheckAllReadable(options, acked);
}

TEST_CASE("an idle storage worker reopens the database by itself once space is freed") {
  SmallDisk disk(2 << 20);
  SKIP_WITHOUT_MOUNT(disk);
  Options options = OptionsFor(disk.Sub("data"));
  options.reopen_interval_ms = 60'000;  // no write retries: only the worker's own
  auto engine = Open(options);
  StorageWorker worker(*engine, [](std::function<void()> fn) { fn(); });
  std::mt19937_64 random(3);

  disk.Fill(64 << 10);
  std::promise<Status> written;
  worker.Run([&](Engine& e) { written.set_value(Put(e, "too-big", RandomValue(256 << 10, random))); });
  REQUIRE(written.get_future().get().code() == Code::kStorageError);
  REQUIRE(engine->writes_refused());

  disk.Unfill();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (engine->writes_refused() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK_FALSE(engine->writes_refused());
  CHECK(engine->Stats().reopens == 1);
  std::promise<Status> after;
  worker.Run([&](Engine& e) { after.set_value(Put(e, "after", "a")); });
  CHECK(after.get_future().get().ok());
}

}  // namespace
}  // namespace dynkv::storage
