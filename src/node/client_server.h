// ClientServer: the client port. Accepts connections, reads framed
// Requests, hands them to the ClientService and writes back its Responses,
// many in flight per connection, in whatever order they finish.
//
// Bad input closes only the connection that sent it: an oversized frame or
// bytes that do not parse get an Error (id 0) and the connection closes
// after it is written; every other client is served on.
//
// Threads: the event loop's only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "net/net.h"
#include "node/client_service.h"

namespace dynkv::node {

struct ServerOptions {
  size_t max_frame_bytes = 32u << 20;
  uint32_t max_connections = 4096;
};

class ClientServer {
 public:
  // REQUIRES: loop and service outlive the server.
  ClientServer(uv_loop_t* loop, ClientService& service, ServerOptions options);
  ~ClientServer();

  Status Listen(const net::HostPort& address);
  // Stops accepting; every connection closes once its queued responses are
  // written. Idempotent.
  void Shutdown();

  size_t connections() const { return sessions_.size(); }

 private:
  class Session;

  void Accept(uv_tcp_t* handle);
  void Remove(uint64_t session_id);

  uv_loop_t* loop_;
  ClientService& service_;
  ServerOptions options_;
  std::unique_ptr<net::Listener> listener_;
  uint64_t next_session_id_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Session>> sessions_;
};

}  // namespace dynkv::node
