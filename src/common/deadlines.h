// Deadlines: the operations of one owner that wait on the clock, earliest
// first, behind a single Env timer. Each operation has one deadline; when
// it passes, `expire(id)` runs once. Nothing is swept: the timer is armed
// for the earliest deadline only (a few ms late, so that the deadlines of a
// busy second share firings).
//
// Entries are not removed when their operation finishes early: the owner's
// expire callback ignores ids it no longer knows. That keeps Set at one heap
// push; a finished entry costs its 16 bytes until its deadline passes.
//
// Threads: the env's loop only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <utility>
#include <vector>

#include "common/env.h"

namespace dynkv {

class Deadlines {
 public:
  using Expire = std::function<void(uint64_t id)>;
  // How late a deadline may fire, so that close ones share a timer firing.
  static constexpr int64_t kSlackMs = 5;

  // REQUIRES: env outlives this.
  Deadlines(Env& env, Expire expire) : env_(env), expire_(std::move(expire)) {}

  // Operation `id` expires once the monotonic clock reaches `deadline_ms`.
  void Set(uint64_t id, int64_t deadline_ms);
  // Runs expire for every deadline already passed, now (for tests and
  // shutdown); the timer does this by itself.
  void ExpireDue();
  size_t size() const { return heap_.size(); }

 private:
  using Entry = std::pair<int64_t, uint64_t>;  // deadline, id
  void Arm();

  Env& env_;
  Expire expire_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_;
  std::unique_ptr<Timer> timer_;
  int64_t armed_for_ = INT64_MAX;  // the deadline the timer fires for
};

}  // namespace dynkv
