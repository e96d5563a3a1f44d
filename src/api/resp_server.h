// The node's Redis-protocol port (listen.resp, optional; issue 15): RESP2
// connections whose commands RespCommands runs. A client may pipeline:
// commands run as they arrive, many at once, and their replies go out in
// the order the commands came, as Redis promises. A command on a key that
// an earlier command of the same connection has not finished with waits
// for it (and those after it wait in turn), so a connection reads its own
// writes in the order it sent them.
//
// Bad input closes only its connection: bytes that are not RESP get
// "-ERR Protocol error: ..." and the connection closes after it; so does a
// client that sends more than `max_buffered_bytes` without reading its
// replies. Past `max_connections` a new connection gets an error and closes.
// With GuardConnections, a connection whose replies go unread stops being
// read and run, and one that does not read them, holds a command half sent
// or idles too long is closed (net/connection_guard.h).
//
// Threads: the event loop's only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/resp_commands.h"
#include "common/clock.h"
#include "common/status.h"
#include "net/connection_guard.h"
#include "net/net.h"

namespace dynkv::api {

struct RespServerOptions {
  uint32_t max_connections = 4096;
  size_t max_bulk_bytes = 32 << 20;        // one argument; the client port's frame limit
  size_t max_buffered_bytes = 64 << 20;    // received and not yet run, per connection
  uint32_t max_commands_in_flight = 1024;  // per connection; more wait in the buffer
  // Keys read or written at once by all connections (a command counts its
  // keys, at least 1); past it connections wait their turn. Redis clients
  // do not retry OVERLOADED, so the port holds its load well under what
  // the coordinator sheds (replication.max_pending_per_peer, 2048).
  uint32_t max_keys_in_flight = 512;
  std::shared_ptr<const net::TlsContext> tls;  // security.tls; null: plaintext
};

class RespServer final : public net::ConnectionHandler {
 public:
  // REQUIRES: loop and commands outlive the server.
  RespServer(uv_loop_t* loop, RespCommands& commands, RespServerOptions options);
  ~RespServer() override;

  Status Listen(const net::HostPort& address);
  // Stops accepting and reading; every connection closes once the commands
  // it sent are answered and written. Idempotent.
  void Shutdown();
  uint16_t port() const;
  // From now on holds back or closes connections past `limits`.
  // REQUIRES: clock outlives the server.
  void GuardConnections(const net::ConnectionLimits& limits, const Clock& clock);
  size_t connections() const { return sessions_.size(); }
  // "resp.*" counters for the node's stats.
  void FillStats(std::map<std::string, double>* values) const;

  // net::ConnectionHandler
  void OnFrame(net::Connection& connection, std::string_view bytes) override;
  void OnClose(net::Connection& connection, const Status& why) override;
  void OnPlaintextRefused(net::Connection& connection) override;

 private:
  struct Session;
  void Accept(uv_tcp_t* accepted);
  // Runs the commands buffered, as many as may be in flight.
  void Pump(const std::shared_ptr<Session>& session);
  void Start(const std::shared_ptr<Session>& session, const std::vector<std::string>& args,
             std::vector<std::string> keys, uint32_t cost);
  // Whether a command of `cost` keys must wait for the budget.
  bool MustWait(const Session& session, uint32_t cost) const;
  // Pumps the connections that wait for the budget, in turn, while the
  // first one's next command fits.
  void WakeWaiting();
  // Sends the replies that are ready, in order.
  void Flush(Session& session);
  // Replies with a protocol error and closes after it.
  void Fail(Session& session, std::string_view error);
  // The guard's look at one connection; a connection it resumes runs the
  // commands it holds.
  void Sweep(const std::shared_ptr<Session>& session, int64_t now_ms);
  void Enforce(Session& session, net::GuardVerdict verdict);

  uv_loop_t* loop_;
  RespCommands& commands_;
  RespServerOptions options_;
  std::unique_ptr<net::Listener> listener_;
  net::ConnectionLimits limits_;
  const Clock* clock_ = nullptr;  // set by GuardConnections
  std::unique_ptr<net::SweepTimer> sweep_;
  net::GuardStats guard_stats_;
  std::map<net::Connection*, std::shared_ptr<Session>> sessions_;
  std::deque<std::weak_ptr<Session>> waiting_;  // for the budget, in turn
  uint32_t keys_in_flight_ = 0;
  const Session* waking_ = nullptr;  // the connection WakeWaiting pumps now
  uint64_t next_client_id_ = 1;
  uint64_t commands_run_ = 0;
  uint64_t protocol_errors_ = 0;
  uint64_t budget_waits_ = 0;  // times a connection waited for the budget
  uint64_t refused_ = 0;
};

}  // namespace dynkv::api
