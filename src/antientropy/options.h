// The anti-entropy module's options (the config's anti_entropy section
// takes its defaults from here; docs/OPERATIONS.md says why they are what
// they are).
#pragma once

#include <cstdint>
#include <string>

namespace dynkv::antientropy {

struct ExchangeOptions {
  int64_t recheck_ms = 1000;  // pause between the two branch comparisons
  uint32_t request_timeout_ms = 10'000;
  uint32_t branches_per_round = 32;
  uint32_t segments_per_round = 256;
  uint32_t keys_per_fetch = 500;
  uint64_t push_batch_bytes = 256 << 10;
};

struct AntiEntropyOptions {
  // anti_entropy.interval: an exchange with the next replica peer this
  // often; 0: none in the background (`dynkv repair` still runs them).
  int64_t interval_ms = 60'000;
  // anti_entropy.max_bytes_per_sec: objects moved by exchanges, both ways.
  uint64_t max_bytes_per_sec = 8ull << 20;
  // anti_entropy.rebuild_interval: the tree is rebuilt from a scan this
  // often (and after a crash); 0: only after a crash.
  int64_t rebuild_interval_ms = 7LL * 24 * 3600 * 1000;
  // A tombstone counts as known to a peer only if it reached this node this
  // long before their exchange began: hints deliver writes late (the hint
  // window bounds how late).
  int64_t propagation_delay_ms = 3LL * 3600 * 1000;
  // After a failed exchange a peer waits interval * 2^failures, at most this.
  int64_t max_backoff_ms = 10 * 60'000;
  // Between two rebuild steps (a branch each), so client work interleaves.
  int64_t rebuild_step_ms = 5;
  ExchangeOptions exchange;
  std::string self_id;
};

}  // namespace dynkv::antientropy
