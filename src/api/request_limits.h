// The client API's limits: the `limits` section of the node's YAML config
// (docs/OPERATIONS.md) and the request timeout, with their defaults, in one
// place. The client service, the client port and the replica take theirs
// from here.
#pragma once

#include <cstdint>

#include "net/connection_guard.h"
#include "quorum/replica.h"

namespace dynkv::api {

// request_timeout: the deadline of a request that names none.
inline constexpr uint32_t kDefaultRequestTimeoutMs = 5000;

struct Limits {
  uint64_t max_frame_bytes = 32ull << 20;  // largest request frame accepted
  uint64_t max_key_bytes = 4096;
  uint64_t max_value_bytes = 4ull << 20;
  // All siblings of one key together, and siblings per key; more is TOO_LARGE.
  uint64_t max_object_bytes = quorum::ReplicaLimits{}.max_object_bytes;
  uint32_t max_siblings = quorum::ReplicaLimits{}.max_siblings;
  uint32_t max_connections = 4096;        // client connections; more are refused
  uint32_t max_pending_requests = 20000;  // in progress on this node; more is OVERLOADED
  // Per connection: unread output, half-sent requests, idleness
  // (limits.max_output_bytes, ..., limits.idle_timeout).
  net::ConnectionLimits connections;
};

}  // namespace dynkv::api
