#include "sim/sim_network.h"

#include <algorithm>

namespace dynkv::sim {

void SimLoop::At(int64_t time_ms, std::function<void()> fn) {
  queue_.push(Event{std::max(time_ms, now()), next_seq_++, std::move(fn)});
}

void SimLoop::RunUntil(int64_t time_ms) {
  while (!queue_.empty() && queue_.top().time <= time_ms) {
    // Copy out before popping: the event may schedule more.
    Event event = queue_.top();
    queue_.pop();
    clock_.Set(event.time);
    event.fn();
  }
  if (time_ms > now()) clock_.Set(time_ms);
}

SimNetwork::SimNetwork(SimLoop* loop, uint64_t seed, LinkOptions options)
    : loop_(loop), random_(seed), options_(options) {}

void SimNetwork::Partition(const std::vector<std::set<std::string>>& groups) {
  group_of_.clear();
  for (size_t i = 0; i < groups.size(); ++i) {
    for (const std::string& endpoint : groups[i]) group_of_[endpoint] = static_cast<int>(i) + 1;
  }
}

bool SimNetwork::CanReach(const std::string& from, const std::string& to) const {
  auto group = [this](const std::string& endpoint) {
    auto it = group_of_.find(endpoint);
    return it == group_of_.end() ? 0 : it->second;
  };
  return group(from) == group(to) && blocked_.count({from, to}) == 0;
}

void SimNetwork::Send(const std::string& from, const std::string& to, std::function<void()> deliver,
                      std::function<void()> refused) {
  ++stats_.sent;
  if (!CanReach(from, to)) {
    ++stats_.cut;
    return;
  }
  if (random_.Chance(options_.drop)) {
    ++stats_.dropped;
    return;
  }
  const int copies = random_.Chance(options_.duplicate) ? 2 : 1;
  stats_.duplicated += copies - 1;
  for (int i = 0; i < copies; ++i) {
    loop_->After(Delay() + Extra(from) + Extra(to),
                 [this, from, to, deliver, refused] { Arrive(from, to, deliver, refused); });
  }
}

void SimNetwork::Arrive(const std::string& from, const std::string& to, const std::function<void()>& deliver,
                        const std::function<void()>& refused) {
  if (!CanReach(from, to)) {
    ++stats_.cut;
    return;
  }
  if (crashed(to)) {
    ++stats_.refused;
    if (refused) loop_->After(Delay(), refused);
    return;
  }
  ++stats_.delivered;
  deliver();
}

}  // namespace dynkv::sim
