// ClientServer: the client port. A net::RpcServer for client Requests that
// hands each one to the ClientService: many in flight per connection,
// answered in whatever order they finish.
//
// Bad input closes only the connection that sent it: an oversized frame or
// bytes that do not parse get an Error (id 0) and the connection closes
// after it is written; every other client is served on.
//
// Threads: the event loop's only.
#pragma once

#include <uv.h>

#include <map>
#include <string>

#include "client.pb.h"
#include "net/rpc_server.h"
#include "api/client_service.h"
#include "api/request_limits.h"

namespace dynkv::api {

struct ServerOptions {
  size_t max_frame_bytes = Limits{}.max_frame_bytes;
  uint32_t max_connections = Limits{}.max_connections;
  // Requests of one connection in progress at once; more wait unread, as
  // on the Redis port (RespServerOptions::max_commands_in_flight).
  uint32_t max_requests_per_connection = 1024;
  std::shared_ptr<const net::TlsContext> tls;  // security.tls; null: plaintext
};

class ClientServer {
 public:
  // REQUIRES: loop and service outlive the server.
  ClientServer(uv_loop_t* loop, ClientService& service, ServerOptions options);

  Status Listen(const net::HostPort& address) { return server_.Listen(address); }
  // Stops accepting; every connection closes once the requests it sent are
  // answered and written. Idempotent.
  void Shutdown() { server_.Shutdown(); }
  // Holds back or closes connections past `limits` (net/connection_guard.h).
  // REQUIRES: clock outlives the server.
  void GuardConnections(const net::ConnectionLimits& limits, const Clock& clock) {
    server_.GuardConnections(limits, clock, "client");
  }

  size_t connections() const { return server_.connections(); }
  // "connections.*" counters for the node's stats.
  void FillStats(std::map<std::string, double>* values) const;

 private:
  net::RpcServer<dynkv::client::Request, dynkv::client::Response> server_;
};

}  // namespace dynkv::api
