// HintStore over a real LevelDB engine and StorageWorker; the test thread
// plays the event loop and runs what the store posts.
#include <doctest/doctest.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "../storage/temp_dir.h"
#include "common/key_hash.h"
#include "handoff/handoff.h"
#include "quorum/dvv.h"

namespace dynkv::handoff {
namespace {

using storage::TempDir;

constexpr int64_t kT0 = 1'700'000'000'000;
constexpr int64_t kHourMs = 3600 * 1000;

class PostBox {
 public:
  storage::StorageWorker::Post Poster() {
    return [this](std::function<void()> fn) {
      std::lock_guard lock(mu_);
      posted_.push_back(std::move(fn));
      arrived_.notify_all();
    };
  }

  // Runs posted completions until `done()` holds.
  void RunUntil(const std::function<bool()>& done) {
    while (!done()) {
      std::function<void()> fn;
      {
        std::unique_lock lock(mu_);
        arrived_.wait(lock, [this] { return !posted_.empty(); });
        fn = std::move(posted_.front());
        posted_.pop_front();
      }
      fn();
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable arrived_;
  std::deque<std::function<void()>> posted_;
};

// An engine, its worker and a HintStore on them, as the node has.
class Fixture {
 public:
  explicit Fixture(const std::string& dir) {
    storage::Options options;
    options.data_dir = dir;
    auto engine = storage::OpenLevelDbEngine(options);
    REQUIRE_MESSAGE(engine.ok(), engine.status().ToString());
    engine_ = std::move(engine.value());
    worker_ = std::make_unique<storage::StorageWorker>(*engine_, box_.Poster());
    store_ = std::make_unique<HintStore>(*worker_, box_.Poster());
    opened_targets_ =
        Wait<Result<std::vector<std::string>>>([&](auto done) { store_->Open(std::move(done)); });
  }
  ~Fixture() { worker_->Stop(); }

  // Makes one store call and waits for its completion.
  template <typename T>
  T Wait(const std::function<void(std::function<void(T)>)>& call) {
    std::optional<T> result;
    call([&](T value) { result.emplace(std::move(value)); });
    box_.RunUntil([&] { return result.has_value(); });
    return std::move(*result);
  }

  void Store(const std::string& target, const std::string& key, const Object& object, int64_t now_ms) {
    const Status status =
        Wait<Status>([&](auto done) { store_->Store(target, key, object, now_ms, std::move(done)); });
    REQUIRE_MESSAGE(status.ok(), status.ToString());
  }

  std::vector<Hint> NextBatch(const std::string& target, size_t max_bytes = 1 << 20,
                              size_t max_count = 1000) {
    auto hints = Wait<Result<std::vector<Hint>>>(
        [&](auto done) { store_->NextBatch(target, max_bytes, max_count, std::move(done)); });
    REQUIRE_MESSAGE(hints.ok(), hints.status().ToString());
    return *hints;
  }

  HintStore::Page NextPage(const std::string& target, const std::string& after, size_t max_count) {
    auto page = Wait<Result<HintStore::Page>>(
        [&](auto done) { store_->NextBatch(target, after, 1 << 20, max_count, std::move(done)); });
    REQUIRE_MESSAGE(page.ok(), page.status().ToString());
    return std::move(*page);
  }

  bool Acknowledge(const std::string& target, const std::vector<Hint>& hints) {
    auto more = Wait<Result<bool>>([&](auto done) { store_->Acknowledge(target, hints, std::move(done)); });
    REQUIRE_MESSAGE(more.ok(), more.status().ToString());
    return *more;
  }

  uint64_t DropExpired(int64_t now_ms, int64_t window_ms) {
    auto dropped =
        Wait<Result<uint64_t>>([&](auto done) { store_->DropExpired(now_ms, window_ms, std::move(done)); });
    REQUIRE_MESSAGE(dropped.ok(), dropped.status().ToString());
    return *dropped;
  }

  HintStore& store() { return *store_; }
  const Result<std::vector<std::string>>& opened_targets() const { return opened_targets_; }

 private:
  PostBox box_;
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<storage::StorageWorker> worker_;
  std::unique_ptr<HintStore> store_;
  Result<std::vector<std::string>> opened_targets_ = Status::Internal("not opened");
};

// A client write of `value` at replica `actor` over `context`.
Object Write(const Object& current, const VersionVector& context, const std::string& actor,
             const std::string& value) {
  return dvv::Update(current, context, actor, Sibling{Dot{}, false, value, kT0, 0});
}

std::vector<std::string> Values(const Object& object) {
  std::vector<std::string> values;
  for (const Sibling& sibling : object.siblings) values.push_back(sibling.value);
  std::sort(values.begin(), values.end());
  return values;
}

std::vector<std::string> Keys(const std::vector<Hint>& hints) {
  std::vector<std::string> keys;
  for (const Hint& hint : hints) keys.push_back(hint.key);
  return keys;
}

TEST_CASE("a stored hint is durable once done(OK) runs and counts as pending after a restart") {
  TempDir dir;
  const Object v1 = Write({}, {}, "a", "v1");
  {
    Fixture node(dir.path());
    CHECK(node.opened_targets()->empty());
    node.Store("n2", "k", v1, kT0);
    node.Store("n3", "k", v1, kT0);
    CHECK(node.store().stats().pending == 2);
    CHECK(node.store().stats().stored == 2);
  }
  Fixture node(dir.path());
  CHECK(*node.opened_targets() == std::vector<std::string>{"n2", "n3"});
  CHECK(node.store().stats().pending == 2);
  CHECK(node.store().stats().stored == 0);
  const std::vector<Hint> batch = node.NextBatch("n2");
  REQUIRE(batch.size() == 1);
  CHECK(batch[0].target == "n2");
  CHECK(batch[0].key == "k");
  CHECK(batch[0].object == v1);
  CHECK(batch[0].stored_at_ms == kT0);
}

TEST_CASE("writes to one key for one target merge: concurrent ones stay siblings, newer ones replace") {
  TempDir dir;
  Fixture node(dir.path());
  const Object from_a = Write({}, {}, "a", "x");
  const Object from_b = Write({}, {}, "b", "y");  // same (empty) context: concurrent with from_a
  node.Store("n2", "k", from_a, kT0);
  node.Store("n2", "k", from_b, kT0 + 1);
  std::vector<Hint> batch = node.NextBatch("n2");
  REQUIRE(batch.size() == 1);
  CHECK(Values(batch[0].object) == std::vector<std::string>{"x", "y"});
  CHECK(batch[0].stored_at_ms == kT0);
  CHECK(node.store().stats().pending == 1);
  CHECK(node.store().stats().stored == 2);

  // A write that has seen both replaces them.
  node.Store("n2", "k", Write(batch[0].object, batch[0].object.vv, "a", "z"), kT0 + 2);
  batch = node.NextBatch("n2");
  REQUIRE(batch.size() == 1);
  CHECK(Values(batch[0].object) == std::vector<std::string>{"z"});
}

TEST_CASE("Acknowledge deletes delivered hints but keeps one updated after it was read") {
  TempDir dir;
  Fixture node(dir.path());
  node.Store("n2", "k1", Write({}, {}, "a", "one"), kT0);
  node.Store("n2", "k2", Write({}, {}, "a", "two"), kT0);
  const std::vector<Hint> sent = node.NextBatch("n2");
  REQUIRE(sent.size() == 2);
  // While the batch is on its way, a newer write for k2 arrives.
  node.Store("n2", "k2", Write({}, {}, "b", "two-b"), kT0 + 1);

  CHECK(node.Acknowledge("n2", sent));  // k2 is still pending
  HintStats stats = node.store().stats();
  CHECK(stats.delivered == 1);
  CHECK(stats.pending == 1);
  CHECK(stats.bytes_delivered == sent[sent[0].key == "k1" ? 0 : 1].ApproximateBytes());

  const std::vector<Hint> rest = node.NextBatch("n2");
  REQUIRE(Keys(rest) == std::vector<std::string>{"k2"});
  CHECK(Values(rest[0].object) == std::vector<std::string>{"two", "two-b"});
  CHECK_FALSE(node.Acknowledge("n2", rest));
  CHECK(node.NextBatch("n2").empty());
  stats = node.store().stats();
  CHECK(stats.delivered == 2);
  CHECK(stats.pending == 0);
  CHECK(stats.bytes_delivered ==
        BatchBytes(std::vector<Hint>{sent[0].key == "k1" ? sent[0] : sent[1]}) + BatchBytes(rest));
}

TEST_CASE("NextBatch after a cursor pages through hints that are not deleted, each once") {
  // What delivery does while this node cannot delete what it delivered.
  TempDir dir;
  Fixture node(dir.path());
  for (int i = 0; i < 10; ++i) node.Store("n2", "key" + std::to_string(i), Write({}, {}, "a", "v"), kT0);
  node.Store("n3", "other", Write({}, {}, "a", "v"), kT0);

  std::vector<std::string> seen;
  std::string after;
  do {
    HintStore::Page page = node.NextPage("n2", after, 4);
    REQUIRE_FALSE(page.hints.empty());
    for (const Hint& hint : page.hints) seen.push_back(hint.key);
    after = std::move(page.next);
  } while (!after.empty());
  std::sort(seen.begin(), seen.end());
  CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end());
  CHECK(seen.size() == 10);
  CHECK(node.store().stats().pending == 11);  // nothing was deleted
}

TEST_CASE("NextBatch gives one target's hints in ring order within its limits") {
  TempDir dir;
  Fixture node(dir.path());
  for (int i = 0; i < 10; ++i) node.Store("n2", "key" + std::to_string(i), Write({}, {}, "a", "v"), kT0);
  node.Store("n3", "other", Write({}, {}, "a", "v"), kT0);

  std::vector<std::string> delivered;
  std::vector<uint64_t> positions;
  for (;;) {
    const std::vector<Hint> batch = node.NextBatch("n2", 1 << 20, 4);
    if (batch.empty()) break;
    CHECK(batch.size() <= 4);
    for (const Hint& hint : batch) {
      CHECK(hint.target == "n2");
      delivered.push_back(hint.key);
      positions.push_back(KeyPosition(hint.key));
    }
    node.Acknowledge("n2", batch);
  }
  CHECK(delivered.size() == 10);
  CHECK(std::is_sorted(positions.begin(), positions.end()));
  CHECK(node.NextBatch("n3").size() == 1);

  // The byte limit: a batch stops once it holds max_bytes.
  for (int i = 0; i < 10; ++i) node.Store("n4", "key" + std::to_string(i), Write({}, {}, "a", "v"), kT0);
  const uint64_t one = node.NextBatch("n4", 1, 1)[0].ApproximateBytes();
  CHECK(node.NextBatch("n4", 3 * one, 100).size() == 3);
}

TEST_CASE("DropExpired drops hints first stored more than the window ago") {
  TempDir dir;
  Fixture node(dir.path());
  node.Store("n2", "old", Write({}, {}, "a", "v"), kT0);
  node.Store("n3", "old", Write({}, {}, "a", "v"), kT0);
  node.Store("n2", "young", Write({}, {}, "a", "v"), kT0 + 2 * kHourMs);
  // A later write merged into an old hint does not make it young again.
  node.Store("n2", "old", Write({}, {}, "b", "w"), kT0 + 2 * kHourMs);

  CHECK(node.DropExpired(kT0 + kDefaultHintWindowMs, kDefaultHintWindowMs) == 0);  // exactly the window
  CHECK(node.DropExpired(kT0 + kDefaultHintWindowMs + 1, kDefaultHintWindowMs) == 2);
  CHECK(Keys(node.NextBatch("n2")) == std::vector<std::string>{"young"});
  CHECK(node.NextBatch("n3").empty());
  const HintStats stats = node.store().stats();
  CHECK(stats.dropped == 2);
  CHECK(stats.pending == 1);
  CHECK(stats.delivered == 0);
}

TEST_CASE("a hint that breaks object invariants is refused and not counted") {
  TempDir dir;
  Fixture node(dir.path());
  Object bad = Write({}, {}, "a", "v");
  bad.siblings[0].dot.counter = 7;
  const Status status = node.Wait<Status>([&](auto done) { node.store().Store("n2", "k", bad, kT0, done); });
  CHECK(status.code() == Code::kInvalidArgument);
  CHECK(node.store().stats().pending == 0);
  CHECK(node.store().stats().stored == 0);
  CHECK(node.NextBatch("n2").empty());
}

}  // namespace
}  // namespace dynkv::handoff
