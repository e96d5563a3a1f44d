// Internal to the ring module: range arithmetic shared by the ownership
// figures and the token allocator.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ring/ring.h"

namespace dynkv::ring {

// 2^64, the number of positions on the ring.
inline constexpr double kRingSize = 18446744073709551616.0;

// The position just before range i, i.e. the previous token: range i is
// (RangeStart(i), token(i)]. With one token it is that token (the whole ring).
// REQUIRES: i < ring.token_count()
inline uint64_t RangeStart(const Ring& ring, size_t i) {
  return ring.token(i == 0 ? ring.token_count() - 1 : i - 1);
}

// The number of positions in range i; the whole ring (2^64) when the ring
// has one token, which is why it is a double.
// REQUIRES: i < ring.token_count()
inline double RangeLength(const Ring& ring, size_t i) {
  if (ring.token_count() == 1) return kRingSize;
  return static_cast<double>(ring.token(i) - RangeStart(ring, i));
}

}  // namespace dynkv::ring
