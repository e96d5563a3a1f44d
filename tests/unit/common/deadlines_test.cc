// Deadlines (common/deadlines.h) on the simulator's Env: a manual clock and
// an event queue, so every firing happens at a known simulated time.
#include "common/deadlines.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "peer.pb.h"
#include "sim/sim_env.h"
#include "storage/storage.h"

namespace dynkv {
namespace {

// Nothing listens anywhere: Deadlines makes no peer calls.
class NoPeers final : public sim::PeerRouter {
 public:
  void Route(const std::string&, const std::string&, peer::PeerRequest,
             std::function<void(peer::PeerResponse)>, std::function<void()> refused) override {
    refused();
  }
};

// The SimEnv, with its timers counted: how many were started and how many
// times their callbacks ran.
class CountingEnv final : public Env {
 public:
  explicit CountingEnv(Env& base) : base_(base) {}

  const Clock& clock() const override { return base_.clock(); }
  Result<std::unique_ptr<Timer>> StartTimer(int64_t delay_ms, int64_t repeat_ms,
                                            std::function<void()> fn) override {
    ++timers_started;
    return base_.StartTimer(delay_ms, repeat_ms, [this, fn = std::move(fn)] {
      ++firings;
      fn();
    });
  }
  void Post(std::function<void()> fn) override { base_.Post(std::move(fn)); }
  void CallPeer(const std::string& address, peer::PeerRequest request, uint32_t timeout_ms,
                PeerCallback done) override {
    base_.CallPeer(address, std::move(request), timeout_ms, std::move(done));
  }
  void ForgetPeer(const std::string& address) override { base_.ForgetPeer(address); }
  void SetPeerUnreachable(std::function<void(const std::string&)> fn) override {
    base_.SetPeerUnreachable(std::move(fn));
  }
  uint64_t Random() override { return base_.Random(); }
  std::unique_ptr<storage::StorageWorker> StartStorage(storage::Engine& engine) override {
    return base_.StartStorage(engine);
  }

  int timers_started = 0;
  int firings = 0;

 private:
  Env& base_;
};

struct Expiry {
  uint64_t id;
  int64_t at_ms;
};

sim::SimEnvOptions EnvOptions() {
  sim::SimEnvOptions options;
  options.node_id = "n1";
  options.peer_address = "n1.test:7000";
  return options;
}

class Fixture {
 public:
  Fixture() : random_(7), sim_env_(loop_, random_, router_, EnvOptions()), env_(sim_env_) {}

  sim::SimLoop& loop() { return loop_; }
  CountingEnv& env() { return env_; }
  int64_t now() const { return loop_.now(); }

  // A Deadlines whose expire records (id, time) and then runs `also`, if set.
  std::unique_ptr<Deadlines> Make() {
    return std::make_unique<Deadlines>(env_, [this](uint64_t id) {
      expired.push_back({id, loop_.now()});
      if (also) also(id);
    });
  }

  std::vector<Expiry> expired;
  std::function<void(uint64_t)> also;

 private:
  sim::SimLoop loop_;
  sim::SimRandom random_;
  NoPeers router_;
  sim::SimEnv sim_env_;
  CountingEnv env_;
};

std::map<uint64_t, int> CountById(const std::vector<Expiry>& expired) {
  std::map<uint64_t, int> counts;
  for (const Expiry& e : expired) ++counts[e.id];
  return counts;
}

TEST_CASE("each deadline expires once, at or after it passes and at most kSlackMs late") {
  Fixture f;
  auto deadlines = f.Make();
  const int64_t t0 = f.now();
  // Spread out, unordered, some close together and some far apart.
  const std::map<uint64_t, int64_t> due = {{1, t0 + 250}, {2, t0 + 10},   {3, t0 + 11},  {4, t0 + 900},
                                           {5, t0 + 17},  {6, t0 + 2000}, {7, t0 + 400}, {8, t0 + 401}};
  for (const auto& [id, at] : due) deadlines->Set(id, at);
  CHECK(deadlines->size() == due.size());

  // Step the clock one ms at a time, so a firing is seen at its own time.
  for (int i = 0; i < 3000; ++i) f.loop().RunFor(1);

  const std::map<uint64_t, int> counts = CountById(f.expired);
  REQUIRE(counts.size() == due.size());
  for (const auto& [id, n] : counts) CHECK_MESSAGE(n == 1, "id " << id);
  for (const Expiry& e : f.expired) {
    const int64_t deadline = due.at(e.id);
    CHECK_MESSAGE(e.at_ms >= deadline, "id " << e.id << " expired early");
    CHECK_MESSAGE(e.at_ms <= deadline + Deadlines::kSlackMs,
                  "id " << e.id << " expired " << e.at_ms - deadline << " ms late");
  }
  CHECK(deadlines->size() == 0);
  // Nothing more fires once all are spent.
  const int firings = f.env().firings;
  f.loop().RunFor(10'000);
  CHECK(f.env().firings == firings);
  CHECK(f.expired.size() == due.size());
}

TEST_CASE("deadlines expire earliest first, also within one firing") {
  Fixture f;
  auto deadlines = f.Make();
  const int64_t t0 = f.now();
  // Set latest first: each Set brings the timer forward.
  deadlines->Set(30, t0 + 300);
  deadlines->Set(20, t0 + 200);
  deadlines->Set(10, t0 + 100);
  // Three close ones, set in reverse, that one firing covers.
  deadlines->Set(43, t0 + 504);
  deadlines->Set(42, t0 + 502);
  deadlines->Set(41, t0 + 500);
  f.loop().RunFor(1000);

  std::vector<uint64_t> order;
  for (const Expiry& e : f.expired) order.push_back(e.id);
  CHECK(order == std::vector<uint64_t>{10, 20, 30, 41, 42, 43});
  // The first expiry came when the earliest deadline passed, not the one set first.
  REQUIRE(!f.expired.empty());
  CHECK(f.expired[0].at_ms >= t0 + 100);
  CHECK(f.expired[0].at_ms <= t0 + 100 + Deadlines::kSlackMs);
}

TEST_CASE("deadlines mostly in order with some earlier ones mixed in expire earliest first") {
  // Most owners set now + one timeout (the FIFO path), some a shorter one
  // (the heap path); the two must interleave by deadline.
  Fixture f;
  auto deadlines = f.Make();
  const int64_t t0 = f.now();
  std::mt19937 random(7);
  std::vector<std::pair<int64_t, uint64_t>> set;
  for (uint64_t id = 0; id < 200; ++id) {
    const int64_t deadline = t0 + 100 + static_cast<int64_t>(id) * 3 - (id % 5 == 0 ? random() % 250 : 0);
    deadlines->Set(id, deadline);
    set.emplace_back(deadline, id);
  }
  CHECK(deadlines->size() == 200);
  f.loop().RunFor(2000);
  REQUIRE(f.expired.size() == 200);
  std::stable_sort(set.begin(), set.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < set.size(); ++i) {
    CHECK(f.expired[i].at_ms >= set[i].first);  // never early
    if (i > 0) CHECK(f.expired[i - 1].at_ms <= f.expired[i].at_ms);
  }
  std::vector<int64_t> deadline_of(200);
  for (const auto& [deadline, id] : set) deadline_of[id] = deadline;
  for (size_t i = 1; i < f.expired.size(); ++i) {
    CHECK(deadline_of[f.expired[i - 1].id] <= deadline_of[f.expired[i].id]);  // earliest first
  }
  CHECK(deadlines->size() == 0);
}

TEST_CASE("a deadline set from inside an expire callback expires too") {
  Fixture f;
  auto deadlines = f.Make();
  const int64_t t0 = f.now();
  Deadlines* d = deadlines.get();
  int64_t later_deadline = 0;
  f.also = [&](uint64_t id) {
    if (id == 1) {
      later_deadline = f.now() + 50;
      d->Set(2, later_deadline);  // a new, later deadline (the timer must be re-armed for it)
      d->Set(3, f.now());         // one already due: this firing takes it
    }
    if (id == 2) d->Set(4, f.now() + 1000);  // and again from the second firing
  };
  deadlines->Set(1, t0 + 100);
  for (int i = 0; i < 2000; ++i) f.loop().RunFor(1);

  std::vector<uint64_t> order;
  for (const Expiry& e : f.expired) order.push_back(e.id);
  REQUIRE(order == std::vector<uint64_t>{1, 3, 2, 4});
  CHECK(f.expired[1].at_ms == f.expired[0].at_ms);  // 3 went in the firing that set it
  CHECK(f.expired[2].at_ms >= later_deadline);
  CHECK(f.expired[2].at_ms <= later_deadline + Deadlines::kSlackMs);
  CHECK(f.expired[3].at_ms >= f.expired[2].at_ms + 1000);
  CHECK(f.expired[3].at_ms <= f.expired[2].at_ms + 1000 + Deadlines::kSlackMs);
  CHECK(deadlines->size() == 0);
}

TEST_CASE("deadlines close together share timer firings") {
  Fixture f;
  auto deadlines = f.Make();
  const int64_t t0 = f.now() + 1000;
  // A busy second: 1000 operations, one deadline per ms, ten per ms at the start.
  constexpr int kSpread = 1000;
  uint64_t id = 1;
  for (int i = 0; i < 10; ++i) deadlines->Set(id++, t0);
  for (int ms = 0; ms < kSpread; ++ms) deadlines->Set(id++, t0 + ms);
  const uint64_t total = id - 1;
  f.loop().RunFor(3000);

  CHECK(f.expired.size() == total);
  // Each firing covers at least kSlackMs + 1 ms of deadlines.
  const int most = kSpread / (Deadlines::kSlackMs + 1) + 2;
  CHECK(f.env().firings <= most);
  CHECK(f.env().firings >= 1);
  // Set in increasing order: no timer is started beyond one per firing.
  CHECK(f.env().timers_started <= f.env().firings + 1);
  INFO("firings: " << f.env().firings << " for " << total << " deadlines");
  CHECK(static_cast<uint64_t>(f.env().firings) * 5 < total);
}

TEST_CASE("one timer firing takes every deadline that falls in the slack") {
  Fixture f;
  auto deadlines = f.Make();
  const int64_t t0 = f.now();
  for (uint64_t i = 0; i <= static_cast<uint64_t>(Deadlines::kSlackMs); ++i)
    deadlines->Set(i + 1, t0 + 100 + i);
  f.loop().RunFor(500);
  CHECK(f.expired.size() == static_cast<size_t>(Deadlines::kSlackMs + 1));
  CHECK(f.env().firings == 1);
}

TEST_CASE("ExpireDue expires the passed deadlines at once and leaves the others") {
  Fixture f;
  auto deadlines = f.Make();
  const int64_t t0 = f.now();
  deadlines->Set(1, t0 - 10);  // already past
  deadlines->Set(2, t0);       // due now
  deadlines->Set(3, t0 + 100);
  deadlines->ExpireDue();
  std::vector<uint64_t> order;
  for (const Expiry& e : f.expired) order.push_back(e.id);
  CHECK(order == std::vector<uint64_t>{1, 2});
  CHECK(f.expired[0].at_ms == t0);  // inside the call: no time passed
  CHECK(deadlines->size() == 1);

  f.loop().RunFor(200);
  REQUIRE(f.expired.size() == 3);
  CHECK(f.expired[2].id == 3);
  CHECK(CountById(f.expired).at(1) == 1);
}

TEST_CASE("no expire runs once the Deadlines is destroyed") {
  Fixture f;
  auto deadlines = f.Make();
  deadlines->Set(1, f.now() + 100);
  deadlines->Set(2, f.now() + 200);
  f.loop().RunFor(150);
  CHECK(f.expired.size() == 1);
  deadlines.reset();
  f.loop().RunFor(1000);
  CHECK(f.expired.size() == 1);
  CHECK(f.env().firings == 1);
}

}  // namespace
}  // namespace dynkv
