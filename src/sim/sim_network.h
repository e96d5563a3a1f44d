// A deterministic simulation of time and of an unreliable network, for
// in-process cluster tests (DESIGN.md: pure cores, thin drivers). Nothing
// here knows about gossip or any message type: a message is a closure that
// the network runs at its destination, late, twice or never.
//
// - SimLoop: a ManualClock and a queue of timed events. RunUntil(t) runs the
//   due events in time order (ties in the order they were scheduled),
//   setting the clock to each event's time. No threads, no sleeps.
// - SimNetwork: delivers closures between named endpoints (addresses) with a
//   random delay, loss and duplication, partitions (groups of endpoints that
//   cannot reach each other; messages vanish, as with a timeout) and crashed
//   endpoints (the sender learns the message was refused, as with a TCP
//   reset).
//
// Everything random comes from one seeded generator, so a run is a function
// of its seed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"

namespace dynkv::sim {

// Deterministic for one seed (plain modulo; the std distributions are
// implementation-defined).
class SimRandom {
 public:
  explicit SimRandom(uint64_t seed) : engine_(seed) {}
  uint64_t Next() { return engine_(); }
  // REQUIRES: n > 0
  uint64_t Below(uint64_t n) { return engine_() % n; }
  // Uniform in [lo, hi]. REQUIRES: lo <= hi
  int64_t Between(int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(Below(hi - lo + 1)); }
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  bool Chance(double p) { return Uniform() < p; }

 private:
  std::mt19937_64 engine_;
};

class SimLoop {
 public:
  explicit SimLoop(int64_t start_ms = 1'700'000'000'000) : clock_(start_ms) {}
  SimLoop(const SimLoop&) = delete;
  SimLoop& operator=(const SimLoop&) = delete;

  int64_t now() const { return clock_.MonotonicMs(); }
  ManualClock& clock() { return clock_; }

  // Runs `fn` at `time_ms` (now, if that is in the past).
  void At(int64_t time_ms, std::function<void()> fn);
  void After(int64_t delay_ms, std::function<void()> fn) { At(now() + delay_ms, std::move(fn)); }

  // Runs every event due at or before `time_ms`, including those they
  // schedule, then leaves the clock at `time_ms`.
  void RunUntil(int64_t time_ms);
  void RunFor(int64_t ms) { RunUntil(now() + ms); }
  size_t pending() const { return queue_.size(); }

 private:
  struct Event {
    int64_t time;
    uint64_t seq;
    std::function<void()> fn;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.time != b.time ? a.time > b.time : a.seq > b.seq;
    }
  };

  ManualClock clock_;
  uint64_t next_seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, Later> queue_;
};

struct LinkOptions {
  int64_t min_delay_ms = 1;  // one-way delay, uniform in [min, max]
  int64_t max_delay_ms = 5;
  double drop = 0;       // probability a message is lost
  double duplicate = 0;  // probability a delivered message arrives twice
};

struct NetworkStats {
  uint64_t sent = 0;
  uint64_t delivered = 0;
  uint64_t dropped = 0;  // lost at random
  uint64_t cut = 0;      // lost to a partition
  uint64_t refused = 0;  // sent to a crashed endpoint
  uint64_t duplicated = 0;
};

class SimNetwork {
 public:
  SimNetwork(SimLoop* loop, uint64_t seed, LinkOptions options = {});

  // Runs `deliver` after a delay unless the message is lost or cut. If `to`
  // is crashed when the message arrives, `refused` (when set) runs at the
  // sender after another delay instead. A partition is checked both when
  // the message is sent and when it arrives.
  void Send(const std::string& from, const std::string& to, std::function<void()> deliver,
            std::function<void()> refused = {});

  void set_options(const LinkOptions& options) { options_ = options; }
  const LinkOptions& options() const { return options_; }

  // Endpoints in different groups cannot reach each other; endpoints in no
  // group form one more group. Partition({{"a"}}) cuts "a" off from all.
  void Partition(const std::vector<std::set<std::string>>& groups);
  // A one-way cut: nothing from `from` reaches `to`; the other way works.
  void Block(const std::string& from, const std::string& to) { blocked_.insert({from, to}); }
  // A slow node (a gray failure): every message from or to `endpoint`
  // takes `extra_ms` more; 0 ends it.
  void Slow(const std::string& endpoint, int64_t extra_ms) {
    if (extra_ms > 0) {
      slow_[endpoint] = extra_ms;
    } else {
      slow_.erase(endpoint);
    }
  }
  // Ends every partition and one-way cut.
  void Heal() {
    group_of_.clear();
    blocked_.clear();
  }
  bool CanReach(const std::string& from, const std::string& to) const;

  void Crash(const std::string& endpoint) { crashed_.insert(endpoint); }
  void Restore(const std::string& endpoint) { crashed_.erase(endpoint); }
  bool crashed(const std::string& endpoint) const { return crashed_.count(endpoint) > 0; }

  const NetworkStats& stats() const { return stats_; }
  SimRandom& random() { return random_; }

 private:
  int64_t Delay() { return random_.Between(options_.min_delay_ms, options_.max_delay_ms); }
  int64_t Extra(const std::string& endpoint) const {
    auto it = slow_.find(endpoint);
    return it == slow_.end() ? 0 : it->second;
  }
  void Arrive(const std::string& from, const std::string& to, const std::function<void()>& deliver,
              const std::function<void()>& refused);

  SimLoop* loop_;
  SimRandom random_;
  LinkOptions options_;
  std::map<std::string, int> group_of_;
  std::set<std::pair<std::string, std::string>> blocked_;
  std::map<std::string, int64_t> slow_;  // endpoint -> extra delay of its messages
  std::set<std::string> crashed_;
  NetworkStats stats_;
};

}  // namespace dynkv::sim
