#include "net/peer_backoff.h"

#include <algorithm>
#include <cmath>

namespace dynkv::net {
namespace {

// Into [0, 1]; NaN counts as 0.
double UnitInterval(double x) { return std::isnan(x) ? 0.0 : std::clamp(x, 0.0, 1.0); }

}  // namespace

uint64_t Backoff::CeilingMs(uint32_t failures) const {
  if (failures == 0) return 0;
  const uint64_t cap = options_.max_ms;
  uint64_t ceiling = options_.initial_ms;
  // Doubling stops at the cap (or at 0), so it neither overflows nor loops
  // long, however many failures.
  for (uint32_t i = 1; i < failures && ceiling != 0 && ceiling < cap; ++i) ceiling *= 2;
  return std::min(ceiling, cap);
}

uint64_t Backoff::NextDelayMs(double unit_random) {
  if (failures_ < UINT32_MAX) ++failures_;
  const uint64_t ceiling = CeilingMs(failures_);
  const double fraction = UnitInterval(options_.jitter) * UnitInterval(unit_random);
  const auto below = static_cast<uint64_t>(fraction * static_cast<double>(ceiling));
  return ceiling - std::min(below, ceiling);
}

}  // namespace dynkv::net
