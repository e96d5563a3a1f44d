#include "node/client_server.h"

#include <utility>

#include "client.pb.h"
#include "common/log.h"
#include "node/client_service.h"

namespace dynkv::node {

namespace pb = dynkv::client;

namespace {

// A connection-level error: id 0, since no request id could be read.
pb::Response ConnectionError(const Status& status) {
  pb::Response response;
  response.set_id(0);
  response.mutable_error()->set_code(WireErrorCode(status.code()));
  response.mutable_error()->set_message(status.message());
  return response;
}

}  // namespace

// One client connection. Owned by the server's session table; removed (and
// so destroyed) when its connection reports OnClose.
class ClientServer::Session final : public net::ConnectionHandler {
 public:
  Session(ClientServer& server, uint64_t id) : server_(server), id_(id) {}

  void Attach(std::unique_ptr<net::Connection> connection) {
    connection_ = std::move(connection);
    connection_->StartReading();
  }

  void Reply(const pb::Response& response) {
    if (connection_->open()) connection_->Send(response);
  }

  void Refuse(const Status& why) {
    connection_->Send(ConnectionError(why));
    connection_->CloseAfterWrites();
  }

  void CloseAfterWrites() { connection_->CloseAfterWrites(); }

  void OnFrame(net::Connection&, std::string_view payload) override {
    pb::Request request;
    if (!request.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      DYNKV_LOG(kDebug) << "closing " << connection_->peer_address() << ": a frame is not a Request";
      return Refuse(Status::InvalidArgument("a frame of " + std::to_string(payload.size()) +
                                            " bytes does not parse as a dynkv Request; closing the connection"));
    }
    ClientServer* server = &server_;
    const uint64_t id = id_;
    server_.service_.Handle(request, [server, id](pb::Response response) {
      // The connection may have gone while the request was in progress.
      auto it = server->sessions_.find(id);
      if (it != server->sessions_.end()) it->second->Reply(response);
    });
  }

  void OnFrameTooLarge(net::Connection& connection, const Status& why) override {
    DYNKV_LOG(kDebug) << "closing " << connection.peer_address() << ": " << why.message();
    connection.Send(ConnectionError(why));
  }

  void OnClose(net::Connection&, const Status&) override { server_.Remove(id_); }

 private:
  ClientServer& server_;
  uint64_t id_;
  std::unique_ptr<net::Connection> connection_;
};

ClientServer::ClientServer(uv_loop_t* loop, ClientService& service, ServerOptions options)
    : loop_(loop), service_(service), options_(options) {}

ClientServer::~ClientServer() = default;

Status ClientServer::Listen(const net::HostPort& address) {
  auto listener = net::Listener::Listen(loop_, address, [this](uv_tcp_t* handle) { Accept(handle); });
  if (!listener.ok()) return listener.status();
  listener_ = std::move(*listener);
  return Status::Ok();
}

void ClientServer::Accept(uv_tcp_t* handle) {
  const uint64_t id = next_session_id_++;
  auto session = std::make_unique<Session>(*this, id);
  Session* raw = session.get();
  sessions_.emplace(id, std::move(session));
  raw->Attach(net::Connection::Adopt(handle, options_.max_frame_bytes, raw));
  service_.Count("connections.accepted");
  if (sessions_.size() > options_.max_connections) {
    service_.Count("connections.refused");
    raw->Refuse(Status::Overloaded("the node has " + std::to_string(options_.max_connections) +
                                   " client connections (limits.max_connections); retry later"));
  }
}

void ClientServer::Remove(uint64_t session_id) { sessions_.erase(session_id); }

void ClientServer::Shutdown() {
  if (listener_) listener_->Close();
  for (auto& [id, session] : sessions_) session->CloseAfterWrites();
}

}  // namespace dynkv::node
