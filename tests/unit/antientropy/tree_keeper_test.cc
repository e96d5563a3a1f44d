// antientropy::TreeKeeper over a real LevelDB engine: the tree kept by every
// write, merge, delete and reap equals one rebuilt from the data; a rebuild
// that runs while writes go on ends right; the checkpoint of a clean stop
// comes back once and only once; masked hashes and key clocks count exactly
// the keys inside the coverage.
#include "antientropy/tree_keeper.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <random>

#include "../storage/temp_dir.h"
#include "common/key_hash.h"

namespace dynkv::antientropy {
namespace {

using storage::TempDir;

Object Versioned(uint64_t counter, int64_t expires_at_ms = 0, bool tombstone = false) {
  Object object;
  object.vv = VersionVector({{"n1.e", counter}});
  object.siblings.push_back(
      Sibling{Dot{"n1.e", counter}, tombstone, tombstone ? "" : "value", 1000, expires_at_ms});
  return object;
}

class Fixture {
 public:
  Fixture() : keeper(dir.Sub("tree")) {
    storage::Options options;
    options.data_dir = dir.Sub("data");
    auto opened = storage::OpenLevelDbEngine(options);
    REQUIRE(opened.ok());
    engine = std::move(*opened);
    engine->set_change_observer(&keeper);
    // Completions run on the worker thread: the tests only wait on them.
    worker = std::make_unique<storage::StorageWorker>(*engine, [](std::function<void()> fn) { fn(); });
  }
  ~Fixture() { worker->Stop(); }

  // Runs fn on the storage thread and waits for it.
  void OnWorker(std::function<void(storage::Engine&)> fn) {
    std::promise<void> done;
    worker->Run([&](storage::Engine& e) {
      fn(e);
      done.set_value();
    });
    done.get_future().wait();
  }
  void Put(const std::string& key, Object object) {
    std::promise<Status> done;
    worker->Update(
        key, [object](const Object&) -> Result<Object> { return object; },
        [&done](Result<Object> r) { done.set_value(r.status()); });
    REQUIRE(done.get_future().get().ok());
  }
  void BuildAll(TreeKeeper& k) {
    OnWorker([&k](storage::Engine& e) {
      k.StartRebuild();
      for (;;) {
        auto done = k.RebuildStep(e);
        REQUIRE(done.ok());
        if (*done) break;
      }
    });
  }
  // A tree built from scratch from what the engine holds now.
  HashTree Scratch() {
    TreeKeeper scratch(dir.Sub("scratch"));
    BuildAll(scratch);
    return scratch.tree();
  }

  TempDir dir;
  TreeKeeper keeper;
  std::unique_ptr<storage::Engine> engine;
  std::unique_ptr<storage::StorageWorker> worker;
};

TEST_CASE("writes, overwrites and deletes keep the tree equal to one rebuilt from the data") {
  Fixture f;
  f.BuildAll(f.keeper);
  REQUIRE(f.keeper.ready());
  std::mt19937_64 rng(3);
  for (int i = 0; i < 3000; ++i) {
    const std::string key = "key-" + std::to_string(rng() % 800);
    f.Put(key, rng() % 6 == 0 ? Object{} : Versioned(1 + rng() % 40));
  }
  CHECK(f.keeper.tree() == f.Scratch());
  CHECK(f.keeper.tree() != HashTree());
}

TEST_CASE("reaped siblings and records leave the tree as they leave the data") {
  Fixture f;
  f.BuildAll(f.keeper);
  for (int i = 0; i < 300; ++i) {
    const bool expiring = i % 3 == 0, tombstone = i % 3 == 1;
    f.Put("key-" + std::to_string(i), Versioned(1 + i, expiring ? 2000 : 0, tombstone));
  }
  const HashTree before = f.keeper.tree();
  f.OnWorker([](storage::Engine& e) {
    std::string cursor;
    do {
      REQUIRE(e.Reap(&cursor, 50, 1'000'000, 0).ok());
    } while (!cursor.empty());
  });
  CHECK(f.keeper.tree() != before);
  CHECK(f.keeper.tree() == f.Scratch());
}

TEST_CASE("a rebuild while writes go on ends equal to the data") {
  Fixture f;
  for (int i = 0; i < 2000; ++i) f.Put("key-" + std::to_string(i), Versioned(1));
  std::mt19937_64 rng(5);
  f.OnWorker([&f](storage::Engine&) { f.keeper.StartRebuild(); });
  bool done = false;
  while (!done) {
    f.OnWorker([&](storage::Engine& e) {
      auto step = f.keeper.RebuildStep(e);
      REQUIRE(step.ok());
      done = *step;
    });
    // Writes land in branches already scanned and in branches still to come.
    for (int i = 0; i < 3; ++i) {
      f.Put("key-" + std::to_string(rng() % 2500), rng() % 4 == 0 ? Object{} : Versioned(2 + rng() % 9));
    }
  }
  CHECK(f.keeper.ready());
  CHECK(f.keeper.tree() == f.Scratch());
}

TEST_CASE("a clean stop's checkpoint is loaded once, then gone; a damaged one is refused") {
  Fixture f;
  f.BuildAll(f.keeper);
  for (int i = 0; i < 100; ++i) f.Put("key-" + std::to_string(i), Versioned(1 + i));
  f.OnWorker([&f](storage::Engine&) { REQUIRE(f.keeper.Save().ok()); });
  const std::string path = f.dir.Sub("tree");
  REQUIRE(std::filesystem::exists(path));

  TreeKeeper reopened(path);
  REQUIRE(reopened.Load().ok());
  CHECK(reopened.ready());
  CHECK(reopened.tree() == f.keeper.tree());
  CHECK_FALSE(std::filesystem::exists(path));  // a crash from here on leaves none
  TreeKeeper after_crash(path);
  CHECK(after_crash.Load().code() == Code::kNotFound);
  CHECK_FALSE(after_crash.ready());

  f.OnWorker([&f](storage::Engine&) { REQUIRE(f.keeper.Save().ok()); });
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(10);
    file.put('\x7f');
  }
  TreeKeeper damaged(path);
  CHECK(damaged.Load().code() == Code::kCorruption);
  CHECK_FALSE(damaged.ready());
}

TEST_CASE("masked hashes and clocks count exactly the keys inside the coverage") {
  Fixture f;
  f.BuildAll(f.keeper);
  std::map<std::string, Object> stored;
  for (int i = 0; i < 5000; ++i) {
    const std::string key = "key-" + std::to_string(i);
    stored[key] = Versioned(1 + i % 7);
    f.Put(key, stored[key]);
  }
  // Ranges cutting through segments, one wrapping past 2^64-1.
  const std::vector<RingRange> ranges = {{0x1000'0000'0000'1234ull, 0x3000'0000'0000'0042ull},
                                         {0xf000'0000'0000'0777ull, 0x0000'4000'0000'0000ull}};
  const Coverage coverage(ranges);
  REQUIRE_FALSE(coverage.partial().empty());
  std::vector<uint64_t> expected(kBranches, 0);
  std::map<uint32_t, std::vector<std::string>> keys_by_segment;
  for (const auto& [key, object] : stored) {
    const uint64_t p = KeyPosition(key);
    if (!coverage.Contains(p)) continue;
    expected[BranchOf(SegmentOf(p))] ^= ObjectDigest(key, object);
    keys_by_segment[SegmentOf(p)].push_back(key);
  }
  f.OnWorker([&](storage::Engine& e) {
    auto branches = f.keeper.Branches(e, coverage);
    REQUIRE(branches.ok());
    CHECK(*branches == expected);
    std::vector<uint32_t> segments;
    for (uint32_t s : coverage.partial()) segments.push_back(s);
    segments.push_back(keys_by_segment.begin()->first);
    std::sort(segments.begin(), segments.end());
    segments.erase(std::unique(segments.begin(), segments.end()), segments.end());
    auto clocks = f.keeper.Clocks(e, coverage, segments);
    REQUIRE(clocks.ok());
    size_t want = 0;
    for (uint32_t s : segments) want += keys_by_segment[s].size();
    CHECK(clocks->size() == want);
    for (const KeyClock& c : *clocks) {
      CHECK(coverage.Contains(KeyPosition(c.key)));
      CHECK(c.digest == ObjectDigest(c.key, stored[c.key]));
      CHECK(c.vv == stored[c.key].vv);
    }
  });
}

}  // namespace
}  // namespace dynkv::antientropy
