#include "node/client_server.h"

#include <utility>

namespace dynkv::node {

namespace pb = dynkv::client;

namespace {

// An error on the whole connection (id 0, since no request id could be
// read), or on a request that arrives while the node shuts down.
pb::Response ErrorFor(const Status& status) {
  pb::Response response;
  response.mutable_error()->set_code(WireErrorCode(status.code()));
  response.mutable_error()->set_message(status.message());
  return response;
}

}  // namespace

ClientServer::ClientServer(uv_loop_t* loop, ClientService& service, ServerOptions options)
    : server_(
          loop, net::RpcServerOptions{options.max_frame_bytes, options.max_connections},
          [&service](const pb::Request& request, auto reply) { service.Handle(request, std::move(reply)); },
          &ErrorFor) {}

void ClientServer::FillStats(std::map<std::string, double>* values) const {
  const net::RpcServerStats& s = server_.stats();
  auto& v = *values;
  v["connections.accepted"] = static_cast<double>(s.connections_accepted);
  v["connections.refused"] = static_cast<double>(s.connections_refused);
  v["connections.open"] = static_cast<double>(server_.connections());
  v["connections.bad_frames"] = static_cast<double>(s.bad_frames);
  v["connections.bytes_received"] = static_cast<double>(s.bytes_received);
  v["connections.bytes_sent"] = static_cast<double>(s.bytes_sent);
}

}  // namespace dynkv::node
