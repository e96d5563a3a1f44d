#include "antientropy/compare.h"

#include <algorithm>
#include <map>

namespace dynkv::antientropy {

std::vector<uint32_t> Differing(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (a[i] != b[i]) out.push_back(static_cast<uint32_t>(i));
  }
  return out;
}

std::vector<uint32_t> InBoth(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  std::vector<uint32_t> out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

std::vector<uint32_t> DifferingSegments(const std::vector<uint32_t>& branches, const std::vector<uint64_t>& local,
                                        const std::vector<uint64_t>& remote) {
  std::vector<uint32_t> out;
  for (uint32_t i : Differing(local, remote)) {
    const size_t branch = i / kLeavesPerBranch;
    if (branch >= branches.size()) break;
    out.push_back(branches[branch] * kLeavesPerBranch + i % kLeavesPerBranch);
  }
  return out;
}

KeyPlan PlanKeys(const std::vector<KeyClock>& local, const std::vector<KeyClock>& remote) {
  std::map<std::string_view, const KeyClock*> mine;
  for (const KeyClock& clock : local) mine[clock.key] = &clock;
  KeyPlan plan;
  for (const KeyClock& theirs : remote) {
    auto it = mine.find(theirs.key);
    if (it == mine.end()) {
      plan.pull.push_back(theirs.key);
      continue;
    }
    const KeyClock& ours = *it->second;
    mine.erase(it);
    if (ours.digest == theirs.digest) continue;
    const bool they_are_behind = theirs.vv.DescendedBy(ours.vv) && theirs.vv != ours.vv;
    const bool we_are_behind = ours.vv.DescendedBy(theirs.vv) && theirs.vv != ours.vv;
    if (!they_are_behind) plan.pull.push_back(theirs.key);
    if (!we_are_behind) plan.push.push_back(theirs.key);
  }
  for (const auto& [key, clock] : mine) plan.push.emplace_back(key);
  return plan;
}

}  // namespace dynkv::antientropy
