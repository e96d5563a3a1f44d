// Deadlines: the operations of one owner that wait on the clock, earliest
// first, behind a single Env timer. Each operation has one deadline; when
// it passes, `expire(id)` runs once. Nothing is swept: the timer is armed
// for the earliest deadline only (a few ms late, so that the deadlines of a
// busy second share firings).
//
// Entries are not removed when their operation finishes early: the owner's
// expire callback ignores ids it no longer knows. That keeps Set cheap; a
// finished entry costs its 16 bytes until its deadline passes.
//
// Most owners set now + the same timeout, so deadlines mostly come in
// order: those not earlier than the last one queued go to a FIFO (an append
// and, when due, a pop from the front: sequential memory), the others to a
// heap. With one heap only, popping the cold entries of finished requests
// seconds later (hundreds of thousands at 100K requests/s) cost 2.7% of a
// node serving GETs (issue 16's profile).
//
// Threads: the env's loop only.
#pragma once

#include <cstdint>
#include <deque>
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
  size_t size() const { return in_order_.size() + heap_.size(); }

 private:
  using Entry = std::pair<int64_t, uint64_t>;  // deadline, id
  void Arm();
  // The earliest entry of the two queues. REQUIRES: size() > 0.
  const Entry& Earliest() const;
  void PopEarliest();

  Env& env_;
  Expire expire_;
  std::deque<Entry> in_order_;  // deadlines non-decreasing, front first
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_;
  std::unique_ptr<Timer> timer_;
  int64_t armed_for_ = INT64_MAX;  // the deadline the timer fires for
};

}  // namespace dynkv
