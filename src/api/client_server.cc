#include "api/client_server.h"

#include <memory>
#include <utility>

namespace dynkv::api {

namespace pb = dynkv::client;

ClientServer::ClientServer(uv_loop_t* loop, ClientService& service, ServerOptions options)
    : server_(
          loop,
          net::RpcServerOptions{options.max_frame_bytes, options.max_connections,
                                options.max_requests_per_connection, options.tls},
          [&service](const pb::Request& request, auto reply) { service.Handle(request, std::move(reply)); },
          // Id 0 for a connection-level error; the server sets a request's id itself.
          [](const Status& status) { return ErrorResponse(0, status); }) {
  // Each connection keeps what it authenticated as.
  server_.SetHandlerFactory([&service]() -> decltype(server_)::Handler {
    auto session = std::make_shared<ClientSession>();
    return [&service, session](const pb::Request& request, auto reply) {
      service.HandleFrom(*session, request, std::move(reply));
    };
  });
}

void ClientServer::FillStats(std::map<std::string, double>* values) const {
  const net::RpcServerStats& s = server_.stats();
  auto& v = *values;
  v["connections.accepted"] = static_cast<double>(s.connections_accepted);
  v["connections.refused"] = static_cast<double>(s.connections_refused);
  v["connections.open"] = static_cast<double>(server_.connections());
  v["connections.bad_frames"] = static_cast<double>(s.bad_frames);
  v["connections.bytes_received"] = static_cast<double>(s.bytes_received);
  v["connections.bytes_sent"] = static_cast<double>(s.bytes_sent);
  s.guard.Fill("connections.", values);
}

}  // namespace dynkv::api
