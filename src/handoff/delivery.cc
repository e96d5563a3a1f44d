// HintDelivery (handoff.h): the pure decision core of hint delivery.
#include <algorithm>

#include "handoff/handoff.h"

namespace dynkv::handoff {

void HintDelivery::OnUp(const std::string& target) {
  Target& t = targets_[target];
  t.up = true;
  t.pending = true;  // a cheap probe covers hints stored before we knew of them
  t.retry_at_ms = 0;
  t.backoff_ms = 0;
}

void HintDelivery::OnDown(const std::string& target) {
  auto it = targets_.find(target);
  if (it != targets_.end()) it->second.up = false;
}

void HintDelivery::OnHintStored(const std::string& target) {
  Target& t = targets_[target];
  t.pending = true;
  if (t.stage != Stage::kIdle) t.stored_while_busy = true;
}

void HintDelivery::Refill(int64_t now_ms) {
  const double capacity = static_cast<double>(options_.batch_max_bytes);
  if (!refilled_at_ms_) {
    tokens_ = capacity;  // start with one batch's burst
  } else if (now_ms > *refilled_at_ms_) {
    tokens_ += static_cast<double>(options_.max_bytes_per_sec) *
               static_cast<double>(now_ms - *refilled_at_ms_) / 1000.0;
    tokens_ = std::min(tokens_, capacity);
  }
  if (!refilled_at_ms_ || now_ms > *refilled_at_ms_) refilled_at_ms_ = now_ms;
}

bool HintDelivery::MayGrant() const {
  return options_.max_bytes_per_sec == 0 || tokens_ - static_cast<double>(reserved_) > 0;
}

std::vector<std::string> HintDelivery::Tick(int64_t now_ms) {
  Refill(now_ms);
  std::vector<std::string> granted;
  // Grants `entry` if it is ready; false once the byte budget is spent.
  auto visit = [&](std::pair<const std::string, Target>& entry) {
    Target& t = entry.second;
    if (!t.up || !t.pending || t.stage != Stage::kIdle || now_ms < t.retry_at_ms) return true;
    if (!MayGrant()) return false;
    t.stage = Stage::kFetching;
    t.stored_while_busy = false;
    reserved_ += options_.batch_max_bytes;
    granted.push_back(entry.first);
    return true;
  };
  // Round robin: start after the target granted last, so one target with a
  // long backlog cannot starve the others of the shared byte budget.
  const auto start = targets_.upper_bound(last_granted_);
  bool budget_left = true;
  for (auto it = start; budget_left && it != targets_.end(); ++it) budget_left = visit(*it);
  for (auto it = targets_.begin(); budget_left && it != start; ++it) budget_left = visit(*it);
  if (!granted.empty()) last_granted_ = granted.back();
  return granted;
}

void HintDelivery::OnBatchSent(const std::string& target, uint64_t bytes, int64_t now_ms) {
  auto it = targets_.find(target);
  if (it == targets_.end() || it->second.stage != Stage::kFetching) return;
  Refill(now_ms);
  it->second.stage = Stage::kSending;
  reserved_ -= options_.batch_max_bytes;
  tokens_ -= static_cast<double>(bytes);  // may go into debt, repaid before the next grant
}

HintDelivery::Target& HintDelivery::Finish(const std::string& target) {
  Target& t = targets_[target];
  if (t.stage == Stage::kFetching) reserved_ -= options_.batch_max_bytes;
  t.stage = Stage::kIdle;
  return t;
}

void HintDelivery::OnBatchAcked(const std::string& target, bool more_pending) {
  Target& t = Finish(target);
  t.pending = more_pending || t.stored_while_busy;
  t.stored_while_busy = false;
  t.backoff_ms = 0;
  t.retry_at_ms = 0;
}

void HintDelivery::OnBatchEmpty(const std::string& target) {
  Target& t = Finish(target);
  t.pending = t.stored_while_busy;
  t.stored_while_busy = false;
}

void HintDelivery::OnBatchFailed(const std::string& target, int64_t now_ms) {
  Target& t = Finish(target);
  t.stored_while_busy = false;
  t.backoff_ms =
      t.backoff_ms == 0 ? options_.retry_initial_ms : std::min(2 * t.backoff_ms, options_.retry_max_ms);
  t.retry_at_ms = now_ms + t.backoff_ms;
}

bool HintDelivery::InFlight(const std::string& target) const {
  auto it = targets_.find(target);
  return it != targets_.end() && it->second.stage != Stage::kIdle;
}

}  // namespace dynkv::handoff
