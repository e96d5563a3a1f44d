// The handoff module's options: the `handoff` section of the node's YAML
// config (docs/OPERATIONS.md), with their defaults, in one place.
#pragma once

#include <cstdint>

namespace dynkv::handoff {

// Default hint window (Cassandra's max_hint_window: 3 h).
inline constexpr int64_t kDefaultHintWindowMs = 3 * 3600 * 1000;

struct HandoffOptions {
  // handoff.max_bytes_per_sec: the hint delivery rate, all targets together.
  uint64_t max_bytes_per_sec = 10ull << 20;
  // handoff.hint_window: hints older than this are dropped (anti-entropy
  // covers what they held).
  int64_t hint_window_ms = kDefaultHintWindowMs;
  // handoff.stream_max_bytes_per_sec: what a node pulls when ranges move to
  // it (join, leave, removal, replacement), all sources together.
  uint64_t stream_max_bytes_per_sec = 32ull << 20;
  // handoff.transfer_limit: range pulls a node runs at once (Riak's
  // transfer_limit is 2).
  uint32_t transfer_limit = 2;
};

}  // namespace dynkv::handoff
