// RoutingClient: token-aware routing over AsyncClients, one per node.
//
// It keeps the cluster's ring (a RingRequest to any node: every node's
// tokens and client address) and sends a key's request to the first node
// of the key's preference list that it believes up, so that a replica
// coordinates it and no write is forwarded to one (one hop less, as
// Cassandra's token-aware drivers do). The rules of the ring are the
// node's own (ring::Ring), so the client and the nodes agree on every key.
//
// A node is believed up until a connection to it fails; then it is tried
// last for a backoff, 0.5 s doubling per failure in a row up to 8 s. The
// ring is fetched again every `ring_refresh_ms`, and soon (at most once a
// second) after a node answers UNAVAILABLE or a connection fails, since the
// cluster may have changed. Without a ring (routing off, or no node
// answered yet) requests go to the contact nodes, the first believed up.
// Requests that name no key (ping, stats, ...) go there too.
//
// Retries: a request whose connection failed goes on to the next node only
// when it cannot have changed anything (reads and administrative queries);
// a write fails with UNAVAILABLE, as AsyncClient's do, since it may have
// been applied. A node's own answers, errors included, are passed on.
//
// Threads: the loop's thread. Every Call gets exactly one callback.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "client/client.h"

namespace dynkv::client {

struct RoutingOptions {
  std::vector<net::HostPort> nodes;  // contact points, in order of preference
  uint32_t timeout_ms = 5000;        // per request, and per connect
  size_t max_frame_bytes = 64u << 20;
  bool routing = true;  // false: every request goes to the contact nodes
  std::string token = {};  // sent on every connection first (Options::token); empty: none
  uint32_t ring_refresh_ms = 30000;
  std::shared_ptr<const net::TlsContext> tls;  // see Options::tls
};

class RoutingClient {
 public:
  // REQUIRES: loop outlives the client; options.nodes is not empty.
  RoutingClient(uv_loop_t* loop, RoutingOptions options);
  ~RoutingClient();  // Close()s
  RoutingClient(const RoutingClient&) = delete;
  RoutingClient& operator=(const RoutingClient&) = delete;

  // One round trip to a contact node: the ring with routing, a ping
  // without. done(OK), or the error of the last node tried.
  void Start(std::function<void(Status)> done);
  // Sends `request` to the node its key routes to (see above).
  void Call(Request request, AsyncClient::Callback done);
  // Fails every outstanding request with UNAVAILABLE and closes every
  // connection.
  void Close();

  size_t in_flight() const;
  // The client address the next request for `key` goes to.
  std::string RouteOf(std::string_view key) const;
  // The number of nodes in the ring the client holds (0: none yet).
  size_t ring_nodes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dynkv::client
