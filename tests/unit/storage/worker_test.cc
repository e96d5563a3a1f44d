#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storage/storage.h"
#include "temp_dir.h"

namespace dynkv::storage {
namespace {

// Collects what the worker posts; the test thread runs it, as the event
// loop would.
class PostBox {
 public:
  StorageWorker::Post Poster() {
    return [this](std::function<void()> fn) {
      std::lock_guard lock(mu_);
      posted_.push_back(std::move(fn));
      ++posts_;
      arrived_.notify_all();
    };
  }

  // Waits for posts and runs them until `done()` holds.
  void RunUntil(const std::function<bool()>& done) {
    while (!done()) {
      std::vector<std::function<void()>> batch;
      {
        std::unique_lock lock(mu_);
        arrived_.wait(lock, [this] { return !posted_.empty(); });
        batch.swap(posted_);
      }
      for (auto& fn : batch) fn();
    }
  }

  // Runs what has been posted so far.
  void RunPosted() {
    std::vector<std::function<void()>> batch;
    {
      std::lock_guard lock(mu_);
      batch.swap(posted_);
    }
    for (auto& fn : batch) fn();
  }

  size_t posts() {
    std::lock_guard lock(mu_);
    return posts_;
  }

 private:
  std::mutex mu_;
  std::condition_variable arrived_;
  std::vector<std::function<void()>> posted_;
  size_t posts_ = 0;
};

// An in-memory Engine whose writes can be made to fail.
class FakeEngine final : public Engine {
 public:
  Result<Object> Get(std::string_view key) override {
    auto it = objects_.find(std::string(key));
    return it == objects_.end() ? Object{} : it->second;
  }
  Status Write(std::span<const ObjectWrite> writes) override {
    ++write_calls;
    if (fail_writes) return Status::StorageError("disk on fire");
    last_write_size = writes.size();
    for (const ObjectWrite& w : writes) {
      if (w.object.empty()) {
        objects_.erase(w.key);
      } else {
        objects_[w.key] = w.object;
      }
    }
    return Status::Ok();
  }
  Result<std::string> GetMeta(std::string_view) override { return Status::NotFound("none"); }
  Status PutMeta(std::string_view, std::string_view) override { return Status::Ok(); }
  Status Reap(std::string*, size_t, int64_t, int64_t) override { return Status::Ok(); }
  StorageStats Stats() const override { return {}; }

  // Touched by the worker thread while it runs, read by the test after a
  // completion (the post's mutex orders them).
  int write_calls = 0;
  size_t last_write_size = 0;
  bool fail_writes = false;

 private:
  std::map<std::string, Object> objects_;
};

Object Counter(uint64_t n) {
  Object object;
  object.vv = VersionVector({{"a", n}});
  object.siblings = {Sibling{Dot{"a", n}, false, std::to_string(n), 0, 0}};
  return object;
}

uint64_t CounterValue(const Object& object) {
  return object.siblings.empty() ? 0 : std::stoull(object.siblings[0].value);
}

Result<Object> Increment(const Object& current) { return Counter(CounterValue(current) + 1); }

// Holds the worker thread inside a Run until Release(), so that calls
// queued meanwhile all land in the next drain.
class Gate {
 public:
  void Block(StorageWorker& worker) {
    worker.Run([this](Engine&) {
      entered_.set_value();
      release_.get_future().wait();
    });
    entered_.get_future().wait();
  }
  void Release() { release_.set_value(); }

 private:
  std::promise<void> entered_;
  std::promise<void> release_;
};

// A real LevelDB engine (with its record cache) in `dir`.
std::unique_ptr<Engine> OpenEngine(const TempDir& dir) {
  Options options;
  options.data_dir = dir.path();
  auto engine = OpenLevelDbEngine(options);
  REQUIRE_MESSAGE(engine.ok(), engine.status().ToString());
  return std::move(engine.value());
}

TEST_CASE("updates of one key queued back to back each see the one before") {
  TempDir dir;
  auto engine = OpenEngine(dir);
  PostBox box;
  StorageWorker worker(*engine, box.Poster());
  std::vector<uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    worker.Update("counter", Increment, [&](Result<Object> r) {
      REQUIRE(r.ok());
      seen.push_back(CounterValue(*r));
    });
  }
  uint64_t read_value = 0;
  bool read_done = false;
  worker.Read("counter", [&](Result<Object> r) {
    REQUIRE(r.ok());
    read_value = CounterValue(*r);
    read_done = true;
  });
  box.RunUntil([&] { return read_done; });
  REQUIRE(seen.size() == 1000);
  for (size_t i = 0; i < seen.size(); ++i) CHECK(seen[i] == i + 1);
  CHECK(read_value == 1000);
  worker.Stop();
  CHECK(CounterValue(*engine->Get("counter")) == 1000);
}

TEST_CASE("a cached key is read at once, unless an update of it is in flight") {
  TempDir dir;
  auto engine = OpenEngine(dir);
  PostBox box;
  StorageWorker worker(*engine, box.Poster());
  CHECK_FALSE(worker.ReadCached("counter").has_value());  // never written
  bool written = false;
  worker.Update("counter", Increment, [&](Result<Object> r) { written = r.ok(); });
  box.RunUntil([&] { return written; });
  auto cached = worker.ReadCached("counter");
  REQUIRE(cached.has_value());
  CHECK(CounterValue(*cached) == 1);

  // Queued, then committed on the worker thread: until its completion has
  // run here, a read must not answer from the cache, as a queued Read would
  // see the update.
  written = false;
  worker.Update("counter", Increment, [&](Result<Object> r) { written = r.ok(); });
  CHECK_FALSE(worker.ReadCached("counter").has_value());
  bool committed = false;
  worker.Run([&](Engine&) { committed = true; });
  while (box.posts() < 2) std::this_thread::yield();  // the update's completion is posted, not run
  CHECK_FALSE(worker.ReadCached("counter").has_value());
  box.RunUntil([&] { return written; });
  cached = worker.ReadCached("counter");
  REQUIRE(cached.has_value());
  CHECK(CounterValue(*cached) == 2);
  worker.Stop();
  CHECK(committed);
}

TEST_CASE("a drain's updates go to the engine in one write and come back in one post") {
  FakeEngine engine;
  PostBox box;
  StorageWorker worker(engine, box.Poster());
  Gate gate;
  gate.Block(worker);
  int done = 0;
  for (int i = 0; i < 10; ++i) {
    worker.Update("k" + std::to_string(i), Increment, [&](Result<Object> r) { done += r.ok(); });
  }
  worker.Update("k0", Increment, [&](Result<Object> r) { done += r.ok() && CounterValue(*r) == 2; });
  CHECK(worker.queue_depth() == 12);  // the blocked Run and 11 updates
  gate.Release();
  box.RunUntil([&] { return done == 11; });
  CHECK(engine.write_calls == 1);
  CHECK(engine.last_write_size == 10);
  CHECK(box.posts() == 1);
  worker.Stop();
  CHECK(worker.queue_depth() == 0);
}

TEST_CASE("a failing mutate fails only its own update") {
  FakeEngine engine;
  PostBox box;
  StorageWorker worker(engine, box.Poster());
  Gate gate;
  gate.Block(worker);
  std::vector<Result<Object>> results;
  auto record = [&](Result<Object> r) { results.push_back(std::move(r)); };
  worker.Update("k", Increment, record);
  worker.Update(
      "k", [](const Object&) -> Result<Object> { return Status::TooLarge("too many siblings"); }, record);
  worker.Update(
      "other", [](const Object&) -> Result<Object> { return Status::TooLarge("no"); }, record);
  worker.Update("k", Increment, record);
  gate.Release();
  box.RunUntil([&] { return results.size() == 4; });
  REQUIRE(results[0].ok());
  CHECK(CounterValue(*results[0]) == 1);
  CHECK(results[1].status().code() == Code::kTooLarge);
  CHECK(results[1].status().message() == "too many siblings");
  CHECK(results[2].status().code() == Code::kTooLarge);
  REQUIRE(results[3].ok());
  CHECK(CounterValue(*results[3]) == 2);
  CHECK(CounterValue(*engine.Get("k")) == 2);
  CHECK(engine.Get("other")->empty());
}

TEST_CASE("an update that yields a malformed object fails alone") {
  FakeEngine engine;
  PostBox box;
  StorageWorker worker(engine, box.Poster());
  Gate gate;
  gate.Block(worker);
  std::vector<Result<Object>> results;
  auto record = [&](Result<Object> r) { results.push_back(std::move(r)); };
  worker.Update(
      "bad",
      [](const Object&) -> Result<Object> {
        Object object = Counter(1);
        object.siblings[0].dot.counter = 5;  // not covered by the version vector
        return object;
      },
      record);
  worker.Update("good", Increment, record);
  gate.Release();
  box.RunUntil([&] { return results.size() == 2; });
  CHECK(results[0].status().code() == Code::kInternal);
  CHECK(results[1].ok());
  CHECK(engine.Get("bad")->empty());
}

TEST_CASE("a failed write fails every update of the drain and the reads that saw them") {
  FakeEngine engine;
  PostBox box;
  StorageWorker worker(engine, box.Poster());
  std::vector<Result<Object>> results;
  auto record = [&](Result<Object> r) { results.push_back(std::move(r)); };
  worker.Update("b", Increment, record);
  box.RunUntil([&] { return results.size() == 1; });
  REQUIRE(results[0].ok());
  results.clear();

  Gate gate;
  gate.Block(worker);
  engine.fail_writes = true;
  worker.Update("a", Increment, record);
  worker.Read("a", record);
  worker.Read("b", record);
  worker.Update("b", Increment, record);
  gate.Release();
  box.RunUntil([&] { return results.size() == 4; });
  CHECK(results[0].status().code() == Code::kStorageError);
  CHECK(results[0].status().message() == "disk on fire");
  CHECK(results[1].status().code() == Code::kStorageError);
  REQUIRE(results[2].ok());
  CHECK(CounterValue(*results[2]) == 1);
  CHECK(results[3].status().code() == Code::kStorageError);
  CHECK(engine.write_calls == 2);
}

TEST_CASE("Run sees the updates queued before it") {
  FakeEngine engine;
  PostBox box;
  StorageWorker worker(engine, box.Poster());
  int completions = 0;
  for (int i = 0; i < 5; ++i) worker.Update("k", Increment, [&](Result<Object>) { ++completions; });
  std::promise<uint64_t> seen_by_run;
  worker.Run([&](Engine& e) { seen_by_run.set_value(CounterValue(*e.Get("k"))); });
  CHECK(seen_by_run.get_future().get() == 5);
  box.RunUntil([&] { return completions == 5; });
}

// Waits until the worker thread has run everything queued so far and gone
// to sleep: the tests of the deferred wake-up need it asleep. It sleeps
// microseconds after its last post; 200 ms leaves room for a loaded machine.
void Settle(StorageWorker& worker, PostBox& box) {
  bool ran = false;
  worker.Run([](Engine&) {}, [&] { ran = true; });
  box.RunUntil([&] { return ran; });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
}

TEST_CASE(
    "with a Defer, updates queued while the thread sleeps wait for the deferred wake-up, as one drain") {
  FakeEngine engine;
  PostBox box;
  std::vector<std::function<void()>> deferred;
  StorageWorker worker(engine, box.Poster(),
                       [&](std::function<void()> fn) { deferred.push_back(std::move(fn)); });
  Settle(worker, box);
  REQUIRE(deferred.empty());  // Run wakes the thread at once

  int done = 0;
  for (int i = 0; i < 3; ++i)
    worker.Update("k" + std::to_string(i), Increment, [&](Result<Object> r) { done += r.ok(); });
  worker.Read("k0", [&](Result<Object> r) { done += r.ok(); });
  CHECK(deferred.size() == 1);  // one wake-up for the turn
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(worker.queue_depth() == 4);  // nothing ran before the wake-up
  CHECK(box.posts() == 1);           // Settle's only

  deferred[0]();
  box.RunUntil([&] { return done == 4; });
  CHECK(engine.write_calls == 1);
  CHECK(engine.last_write_size == 3);

  SUBCASE("a turn that queues kDeferredWakeAt calls wakes the thread at once") {
    deferred.clear();
    Settle(worker, box);
    for (size_t i = 0; i < StorageWorker::kDeferredWakeAt; ++i) {
      worker.Update("j" + std::to_string(i), Increment, [&](Result<Object> r) { done += r.ok(); });
    }
    box.RunUntil([&] { return done == 4 + static_cast<int>(StorageWorker::kDeferredWakeAt); });
    CHECK(deferred.size() == 1);  // scheduled, never run
  }
}

TEST_CASE(
    "with a Defer, Stop finishes what waits for the wake-up, and a wake-up after the worker is gone does "
    "nothing") {
  FakeEngine engine;
  PostBox box;
  std::vector<std::function<void()>> deferred;
  auto worker = std::make_unique<StorageWorker>(
      engine, box.Poster(), [&](std::function<void()> fn) { deferred.push_back(std::move(fn)); });
  Settle(*worker, box);
  bool ok = false;
  worker->Update("k0", Increment, [&](Result<Object> r) { ok = r.ok(); });
  REQUIRE(deferred.size() == 1);
  worker.reset();  // Stop()s: finishes what is queued
  box.RunPosted();
  CHECK(ok);
  deferred[0]();
  CHECK(box.posts() == 2);  // Settle's and the update's
}

TEST_CASE("Stop finishes everything queued; later calls complete with an error") {
  FakeEngine engine;
  PostBox box;
  StorageWorker worker(engine, box.Poster());
  Gate gate;
  gate.Block(worker);
  int ok = 0;
  for (int i = 0; i < 2500; ++i)
    worker.Update("k" + std::to_string(i % 7), Increment, [&](Result<Object> r) { ok += r.ok(); });
  gate.Release();
  worker.Stop();
  box.RunPosted();
  CHECK(ok == 2500);
  CHECK(worker.queue_depth() == 0);

  std::vector<Result<Object>> late;
  worker.Update("k0", Increment, [&](Result<Object> r) { late.push_back(std::move(r)); });
  worker.Read("k0", [&](Result<Object> r) { late.push_back(std::move(r)); });
  bool ran = false;
  worker.Run([&](Engine&) { ran = true; });
  worker.Stop();
  box.RunPosted();
  REQUIRE(late.size() == 2);
  CHECK(late[0].status().code() == Code::kUnavailable);
  CHECK(late[1].status().code() == Code::kUnavailable);
  CHECK_FALSE(ran);
  CHECK(CounterValue(*engine.Get("k0")) == 358);  // ceil(2500 / 7) updates of k0
}

}  // namespace
}  // namespace dynkv::storage
