#include "common/deadlines.h"

#include <algorithm>

namespace dynkv {

void Deadlines::Set(uint64_t id, int64_t deadline_ms) {
  if (in_order_.empty() || in_order_.back().first <= deadline_ms) {
    in_order_.emplace_back(deadline_ms, id);
  } else {
    heap_.push({deadline_ms, id});
  }
  if (deadline_ms < armed_for_) Arm();
}

const Deadlines::Entry& Deadlines::Earliest() const {
  if (heap_.empty()) return in_order_.front();
  if (in_order_.empty()) return heap_.top();
  return std::min(in_order_.front(), heap_.top());
}

void Deadlines::PopEarliest() {
  if (!heap_.empty() && (in_order_.empty() || heap_.top() < in_order_.front())) {
    heap_.pop();
  } else {
    in_order_.pop_front();
  }
}

void Deadlines::ExpireDue() {
  const int64_t now = env_.clock().MonotonicMs();
  // An expire callback may Set more deadlines: take one entry at a time.
  while (size() > 0 && Earliest().first <= now) {
    const uint64_t id = Earliest().second;
    PopEarliest();
    expire_(id);
  }
}

void Deadlines::Arm() {
  timer_.reset();
  armed_for_ = INT64_MAX;
  if (size() == 0) return;
  const int64_t deadline = Earliest().first;
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
