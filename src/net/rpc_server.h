// RpcServer: the serving side of RpcChannel. Accepts connections, reads
// framed Requests, hands each to a handler and writes back its Responses,
// many in flight per connection, in whatever order they finish.
//
// Bad input closes only the connection that sent it: an oversized frame or
// bytes that do not parse get an error Response with id 0 and the
// connection closes once it is written; every other connection is served
// on. Above max_connections a new connection gets an OVERLOADED error and
// is closed. With GuardConnections, connections that do not read their
// responses, hold a request half sent, or idle are held back or closed
// (connection_guard.h), checked after each response and by a sweep.
//
// Lifetimes: sessions live in `sessions_`, keyed by a session id, and are
// destroyed when their connection reports OnClose. A reply names its
// session by id and the server by a weak token, so a reply that comes after
// its connection or the server is gone is dropped.
//
// Threads: the thread that runs the loop; replies too.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "net/connection_guard.h"
#include "net/net.h"

namespace dynkv::net {

struct RpcServerOptions {
  // Largest request frame accepted.
  size_t max_frame_bytes = 32u << 20;
  // Connections served at once; more are refused with OVERLOADED.
  uint32_t max_connections = 4096;
  // Requests of one connection in progress at once; while it has this many
  // its further requests are not read (they wait in the socket buffers).
  // Bounds the work, and the memory, one connection holds however fast it
  // sends. 0: no limit.
  uint32_t max_requests_per_connection = 0;
  // A server context: every connection speaks TLS. Null: plaintext.
  std::shared_ptr<const TlsContext> tls;
};

struct RpcServerStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0;  // over max_connections
  uint64_t requests_received = 0;
  uint64_t responses_sent = 0;
  uint64_t bad_frames = 0;      // oversized, or not a Request
  uint64_t bytes_received = 0;  // frames read, headers included
  uint64_t bytes_sent = 0;      // frames written, headers included
  GuardStats guard;             // held back or closed by GuardConnections
};

// Request and Response are protobuf messages with a uint64 `id` field.
template <typename Request, typename Response>
class RpcServer {
 public:
  // Sends the response to one request (its id is filled in). Call exactly
  // once, now or later, from the loop's thread.
  using Reply = std::function<void(Response)>;
  using Handler = std::function<void(const Request&, Reply)>;
  // Makes the handler of one new connection, for servers that keep state
  // per connection (what a client authenticated as).
  using HandlerFactory = std::function<Handler()>;
  // Builds the Response that reports `status`: with id 0 for the whole
  // connection, or with a request's id during Shutdown.
  using ErrorResponse = std::function<Response(const Status&)>;

  // REQUIRES: loop outlives the server.
  RpcServer(uv_loop_t* loop, RpcServerOptions options, Handler handler, ErrorResponse error_response)
      : loop_(loop),
        options_(options),
        handler_(std::move(handler)),
        error_response_(std::move(error_response)) {}
  // Closes the listener and every connection now; unwritten replies are lost.
  ~RpcServer() {
    listener_.reset();
    sessions_.clear();
  }
  RpcServer(const RpcServer&) = delete;
  RpcServer& operator=(const RpcServer&) = delete;

  // From now on each new connection gets a handler of its own from
  // `factory` instead of the one given to the constructor.
  void SetHandlerFactory(HandlerFactory factory) { handler_factory_ = std::move(factory); }

  Status Listen(const HostPort& address) {
    auto listener = Listener::Listen(loop_, address, [this](uv_tcp_t* handle) { Accept(handle); });
    if (!listener.ok()) return listener.status();
    listener_ = std::move(*listener);
    return Status::Ok();
  }

  // Stops accepting. Each connection closes once the requests it sent have
  // been answered and the answers written; requests that arrive meanwhile
  // are answered with UNAVAILABLE. Idempotent.
  void Shutdown() {
    if (listener_) listener_->Close();
    shutting_down_ = true;
    // Draining may close a session synchronously, but OnClose (which erases
    // it) always comes later, from libuv.
    for (auto& [id, session] : sessions_) session->Drain();
  }

  // From now on enforces `limits` on every connection; `port` names the
  // port in log lines ("client", "peer"). REQUIRES: clock outlives the
  // server.
  void GuardConnections(const ConnectionLimits& limits, const Clock& clock, std::string port) {
    guard_ = Guard{limits, &clock, std::move(port)};
    for (auto& [id, session] : sessions_) session->StartGuard();
    sweep_ = std::make_unique<SweepTimer>(loop_, SweepTimer::kDefaultIntervalMs, [this] {
      const int64_t now = guard_->clock->MonotonicMs();
      // A resumed connection delivers the requests it holds, and a handler
      // may destroy the server; sessions only go in OnClose, from libuv.
      std::weak_ptr<int> alive = lifetime_;
      for (auto& [id, session] : sessions_) {
        session->Sweep(now);
        if (alive.expired()) return;
      }
    });
  }

  // REQUIRES: Listen succeeded.
  uint16_t port() const { return listener_->port(); }
  size_t connections() const { return sessions_.size(); }
  const RpcServerStats& stats() const { return stats_; }

 private:
  class Session;

  void Accept(uv_tcp_t* handle) {
    const uint64_t id = next_session_id_++;
    auto session = std::make_unique<Session>(*this, id, handler_factory_ ? handler_factory_() : handler_);
    Session* raw = session.get();
    sessions_.emplace(id, std::move(session));
    raw->Attach(Connection::Adopt(handle, options_.max_frame_bytes, raw, Framing::kLengthPrefixed, options_.tls));
    ++stats_.connections_accepted;
    if (sessions_.size() > options_.max_connections) {
      ++stats_.connections_refused;
      raw->Refuse(Status::Overloaded("the server has " + std::to_string(options_.max_connections) +
                                     " connections already; retry later"));
    }
  }

  struct Guard {
    ConnectionLimits limits;
    const Clock* clock;
    std::string port;
  };

  Reply MakeReply(uint64_t session_id, uint64_t request_id) {
    return [this, alive = std::weak_ptr<int>(lifetime_), session_id, request_id](Response response) {
      if (alive.expired()) return;
      auto it = sessions_.find(session_id);
      if (it == sessions_.end()) return;  // the connection went while the request was in progress
      response.set_id(request_id);
      it->second->Answer(response);
    };
  }

  uv_loop_t* loop_;
  RpcServerOptions options_;
  Handler handler_;
  HandlerFactory handler_factory_;
  ErrorResponse error_response_;
  RpcServerStats stats_;
  std::unique_ptr<Listener> listener_;
  std::optional<Guard> guard_;  // set by GuardConnections
  std::unique_ptr<SweepTimer> sweep_;
  bool shutting_down_ = false;
  uint64_t next_session_id_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Session>> sessions_;
  // Expires with the server, so late replies can tell.
  std::shared_ptr<int> lifetime_ = std::make_shared<int>(0);
};

// One accepted connection.
template <typename Request, typename Response>
class RpcServer<Request, Response>::Session final : public ConnectionHandler {
 public:
  Session(RpcServer& server, uint64_t id, Handler handler)
      : server_(server), id_(id), handler_(std::move(handler)) {}

  void Attach(std::unique_ptr<Connection> connection) {
    connection_ = std::move(connection);
    StartGuard();
    connection_->StartReading();
    if (server_.shutting_down_) Drain();
  }

  void StartGuard() {
    if (server_.guard_) guard_.emplace(server_.guard_->clock->MonotonicMs());
  }

  void Sweep(int64_t now_ms) {
    const ConnectionSample sample{connection_->pending_write_bytes(), connection_->partial_frame_bytes(),
                                  requests_read_, connection_->bytes_received(), unanswered_};
    Enforce(guard_->Check(sample, now_ms, server_.guard_->limits));
  }

  void Answer(const Response& response) {
    --unanswered_;
    Send(response);
    if (draining_ && unanswered_ == 0) return connection_->CloseAfterWrites();
    ReadIfAllowed();
  }

  // Reads on unless the guard holds the connection back or it has all the
  // requests in progress it may have.
  void ReadIfAllowed() {
    const uint32_t cap = server_.options_.max_requests_per_connection;
    if ((guard_ && guard_->paused()) || (cap > 0 && unanswered_ >= cap)) return;
    connection_->StartReading();  // nothing when it reads already
  }

  // Sends a connection-level error (id 0), then closes.
  void Refuse(const Status& why) {
    Send(server_.error_response_(why));
    connection_->CloseAfterWrites();
  }

  void Drain() {
    draining_ = true;
    if (unanswered_ == 0) connection_->CloseAfterWrites();
  }

  void OnFrame(Connection& connection, std::string_view payload) override {
    RpcServerStats& stats = server_.stats_;
    stats.bytes_received += kFrameHeaderBytes + payload.size();
    Request request;
    if (!request.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      ++stats.bad_frames;
      DYNKV_LOG(kDebug) << "closing " << connection.peer_address() << ": a frame does not parse";
      return Refuse(Status::InvalidArgument("a frame of " + std::to_string(payload.size()) +
                                            " bytes does not parse as a request; closing the connection"));
    }
    ++stats.requests_received;
    ++requests_read_;
    if (draining_) {
      Response refusal = server_.error_response_(Status::Unavailable("the server is shutting down"));
      refusal.set_id(request.id());
      return Send(refusal);
    }
    ++unanswered_;
    std::weak_ptr<int> alive = server_.lifetime_;
    // The handler may answer at once, shut the server down, or destroy it.
    handler_(request, server_.MakeReply(id_, request.id()));
    if (alive.expired()) return;
    // Checked after the handler, so that an answer that came at once never
    // resumes reading from inside this delivery; a later Answer does.
    const uint32_t cap = server_.options_.max_requests_per_connection;
    if (cap > 0 && unanswered_ >= cap) connection_->StopReading();
  }

  void OnFrameTooLarge(Connection& connection, const Status& why) override {
    ++server_.stats_.bad_frames;
    DYNKV_LOG(kDebug) << "closing " << connection.peer_address() << ": " << why.message();
    Send(server_.error_response_(why));
  }

  // A plaintext client on a TLS port reads this refusal as an ordinary
  // connection-level error.
  void OnPlaintextRefused(Connection&) override {
    Send(server_.error_response_(Status::Unauthenticated(
        "this port requires TLS: connect with TLS and the cluster's CA certificate (dynkv --ca FILE)")));
  }

  void OnClose(Connection&, const Status&) override { server_.sessions_.erase(id_); }

 private:
  void Send(const Response& response) {
    if (!connection_->open()) return;
    connection_->Send(response);
    ++server_.stats_.responses_sent;
    server_.stats_.bytes_sent += kFrameHeaderBytes + static_cast<uint64_t>(response.GetCachedSize());
    const size_t output = connection_->pending_write_bytes();
    if (guard_ && output > server_.guard_->limits.max_output_bytes) {
      Enforce(guard_->AfterOutput(output, server_.guard_->clock->MonotonicMs(), server_.guard_->limits));
    }
  }

  void Enforce(GuardVerdict verdict) {
    net::Enforce(verdict, *connection_, server_.guard_->port, server_.guard_->limits, &server_.stats_.guard);
    if (verdict == GuardVerdict::kResume) ReadIfAllowed();
  }

  RpcServer& server_;
  uint64_t id_;
  Handler handler_;  // the server's, or this connection's own
  std::unique_ptr<Connection> connection_;
  size_t unanswered_ = 0;  // requests handed to the handler and not yet answered
  uint64_t requests_read_ = 0;
  std::optional<ConnectionGuard> guard_;  // when the server guards its connections
  bool draining_ = false;
};

}  // namespace dynkv::net
