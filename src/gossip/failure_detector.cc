#include "gossip/failure_detector.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace dynkv::gossip {

PhiAccrualDetector::PhiAccrualDetector(FailureDetectorOptions options, int64_t expected_interval_ms)
    : options_(options) {
  options_.window_size = std::max<size_t>(options_.window_size, 1);
  if (options_.initial_interval_ms <= 0) options_.initial_interval_ms = 2 * expected_interval_ms;
  if (options_.max_interval_ms <= 0) options_.max_interval_ms = 10 * expected_interval_ms;
  options_.initial_interval_ms = std::max<int64_t>(options_.initial_interval_ms, 1);
}

void PhiAccrualDetector::AddSample(ArrivalWindow* window, int64_t interval_ms) const {
  if (window->intervals.size() < options_.window_size) {
    window->intervals.push_back(interval_ms);
  } else {
    window->sum -= window->intervals[window->next];
    window->intervals[window->next] = interval_ms;
    window->next = (window->next + 1) % options_.window_size;
  }
  window->sum += interval_ms;
}

void PhiAccrualDetector::Report(const std::string& node_id, int64_t now_ms) {
  auto [it, inserted] = windows_.try_emplace(node_id);
  ArrivalWindow& window = it->second;
  if (inserted) {
    AddSample(&window, options_.initial_interval_ms);
  } else {
    const int64_t interval = std::max<int64_t>(now_ms - window.last_ms, 0);
    if (interval <= std::max(options_.max_interval_ms, 10 * sampled_interval_ms_))
      AddSample(&window, interval);
  }
  window.last_ms = now_ms;
}

double PhiAccrualDetector::MeanIntervalMs(const std::string& node_id) const {
  auto it = windows_.find(node_id);
  if (it == windows_.end()) return 0;
  const ArrivalWindow& window = it->second;
  return static_cast<double>(window.sum) / static_cast<double>(window.intervals.size());
}

int64_t PhiAccrualDetector::LastArrivalMs(const std::string& node_id) const {
  auto it = windows_.find(node_id);
  return it == windows_.end() ? -1 : it->second.last_ms;
}

double PhiAccrualDetector::Phi(const std::string& node_id, int64_t now_ms) const {
  auto it = windows_.find(node_id);
  if (it == windows_.end()) return 0;
  // A mean below 1 ms (bursts of arrivals) would make phi explode.
  const double mean = std::max({MeanIntervalMs(node_id), static_cast<double>(sampled_interval_ms_), 1.0});
  const double silence = static_cast<double>(std::max<int64_t>(now_ms - it->second.last_ms, 0));
  return silence / (mean * std::numbers::ln10);
}

void PhiAccrualDetector::Forget(const std::string& node_id) { windows_.erase(node_id); }

}  // namespace dynkv::gossip
