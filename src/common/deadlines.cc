#include "common/deadlines.h"

#include <algorithm>

namespace dynkv {

void Deadlines::Set(uint64_t id, int64_t deadline_ms) {
  heap_.push({deadline_ms, id});
  if (deadline_ms < armed_for_) Arm();
}

void Deadlines::ExpireDue() {
  const int64_t now = env_.clock().MonotonicMs();
  // An expire callback may Set more deadlines: take one entry at a time.
  while (!heap_.empty() && heap_.top().first <= now) {
    const uint64_t id = heap_.top().second;
    heap_.pop();
    expire_(id);
  }
}

void Deadlines::Arm() {
  timer_.reset();
  armed_for_ = INT64_MAX;
  if (heap_.empty()) return;
  const int64_t deadline = heap_.top().first;
  const int64_t delay = std::max<int64_t>(deadline - env_.clock().MonotonicMs(), 0) + kSlackMs;
  auto timer = env_.StartTimer(delay, 0, [this] {
    armed_for_ = INT64_MAX;  // this firing is spent
    ExpireDue();
    Arm();
  });
  if (!timer.ok()) return;  // the loop is closing: nothing will wait for an answer
  timer_ = std::move(*timer);
  armed_for_ = deadline;
}

}  // namespace dynkv
