#include "net/peer_transport.h"

namespace dynkv::net {

PeerServer::PeerServer(uv_loop_t* loop, PeerRequestHandler& handler, PeerServerOptions options)
    : server_(
          loop, RpcServerOptions{options.max_frame_bytes, options.max_connections, 0, options.tls},
          [&handler](const peer::PeerRequest& request, PeerRequestHandler::Reply reply) {
            handler.Handle(request, std::move(reply));
          },
          [](const Status& status) {
            peer::PeerResponse response;
            *response.mutable_error() = PeerErrorFromStatus(status);
            return response;
          }) {}

PeerServer::~PeerServer() = default;

Status PeerServer::Listen(const HostPort& address) { return server_.Listen(address); }

void PeerServer::Shutdown() { server_.Shutdown(); }

}  // namespace dynkv::net
