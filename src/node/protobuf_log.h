// The protobuf runtime's own log lines (google::protobuf::SetLogHandler),
// routed into the node's log and throttled. The runtime logs an error for
// every string field that does not hold valid UTF-8, on each parse and each
// serialization; the frame is refused all the same (proto3 string fields
// must be UTF-8, and a request that does not parse gets INVALID_ARGUMENT and
// closes its connection), so without a throttle anyone who can reach a port
// writes a log line per message (issue 14).
#pragma once

namespace dynkv::node {

// At most one line per minute from each place in the runtime that logs,
// with a count of those held back. Errors the runtime cannot go on from
// (FATAL) are always written. Call once at start-up, before any thread that
// parses messages starts (SetLogHandler is not thread-safe).
void RouteProtobufLog();

}  // namespace dynkv::node
