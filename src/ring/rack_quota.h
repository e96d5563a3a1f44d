// Internal to the ring module: how a walk of the ring spreads a group's
// replicas over its racks, shared by the preference lists and the token
// allocator so that both walk the same way.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace dynkv::ring {

// With `want` replicas over racks of s_r nodes, the even spread fills every
// rack to a level L (the smallest with sum_r min(s_r, L) >= want): each rack
// may take L-1 nodes outright, and `extra` racks, the first reached, an
// L-th.
struct RackQuota {
  size_t want = 0;
  size_t level = 0;
  size_t extra = 0;
  size_t taken = 0;

  // Whether a node of a rack that already has `in_rack` replicas is taken.
  bool Take(uint32_t in_rack) {
    if (taken == want) return false;
    if (in_rack + 1 < level || (in_rack + 1 == level && extra > 0)) {
      if (in_rack + 1 == level) --extra;
      ++taken;
      return true;
    }
    return false;
  }
};

// The quota for `want` replicas over `racks`, rack ids whose node counts
// are rack_owners[id].
inline RackQuota PlanRackQuota(size_t want, const std::vector<uint32_t>& racks,
                               const std::vector<uint32_t>& rack_owners) {
  RackQuota quota;
  quota.want = want;
  if (want == 0) return quota;
  const auto cover = [&](size_t level) {
    size_t sum = 0;
    for (uint32_t rack : racks) sum += std::min<size_t>(rack_owners[rack], level);
    return sum;
  };
  quota.level = 1;
  while (cover(quota.level) < want) ++quota.level;
  quota.extra = want - cover(quota.level - 1);
  return quota;
}

}  // namespace dynkv::ring
