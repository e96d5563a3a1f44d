// Peer transport: node-to-node requests on the peer port (DESIGN.md: Wire
// protocol; proto/peer.proto).
//
// - PeerPool: the sending side. One multiplexed connection per remote peer
//   address, made on the first call and remade after it fails, with capped
//   exponential backoff (peer_backoff.h). While a peer is backing off, calls
//   to it fail at once with UNAVAILABLE; the first call after the backoff
//   makes a new attempt (no timer reconnects on its own). A connection that
//   was up and is lost is retried on the next call, without delay. Frames
//   sent while a write is in flight leave together in the next write
//   (net::Connection).
// - PeerEvents: what the pool learns about reachability -- refused, reset or
//   timed-out connections, and connections made -- as evidence for the
//   failure detector.
// - PeerServer: the receiving side. Hands each PeerRequest to a
//   PeerRequestHandler and writes back its PeerResponses in any order.
//
// Threads: everything here belongs to the thread that runs its loop.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "common/clock.h"
#include "common/status.h"
#include "net/net.h"
#include "net/peer_backoff.h"
#include "net/rpc_channel.h"
#include "net/rpc_server.h"
#include "peer.pb.h"

namespace dynkv::net {

// ---- Errors ----------------------------------------------------------------

// The Status a PeerError stands for, and back. Codes without a wire code
// of their own travel as PEER_INTERNAL; PEER_WRONG_CLUSTER arrives as
// INVALID_ARGUMENT.
Status StatusFromPeerError(const peer::PeerError& error);
peer::PeerError PeerErrorFromStatus(const Status& status);
// A PeerResponse carrying PeerErrorFromStatus(status) (the server sets the id).
peer::PeerResponse PeerErrorResponse(const Status& status);

// ---- Sending ---------------------------------------------------------------

// Reachability evidence, reported as it happens and not deduplicated: one
// call per connection made, per failed attempt and per lost connection.
// A handler may call into the pool, even Forget() the peer it hears about.
class PeerEvents {
 public:
  virtual ~PeerEvents() = default;
  // A connection to `address` (as given to PeerPool::Call) was made.
  virtual void OnPeerReachable(const std::string& address) = 0;
  // A connection attempt was refused, failed or timed out, or a connection
  // that was up was closed or reset by the other side; `why` says which.
  virtual void OnPeerUnreachable(const std::string& address, const Status& why) = 0;
};

struct PeerPoolOptions {
  // Put into PeerRequest.from_node of every request that has none.
  std::string local_node_id;
  // Timeout of a call that names none, from Call() to its response.
  uint32_t call_timeout_ms = 5000;
  // A connection attempt that takes longer fails (and counts as evidence).
  uint32_t connect_timeout_ms = 2000;
  // A connection on which this many calls in a row time out is closed, and
  // the next call opens a new one at once: after a partition heals, a
  // connection whose packets the network dropped silently can otherwise
  // hold calls for TCP's retransmission backoff (seconds to minutes). The
  // calls still in flight on it fail with UNAVAILABLE. 0: never.
  uint32_t max_timeouts_in_a_row = 3;
  // A probe (CallMode::kProbe) replaces a connect unanswered for this long.
  uint32_t stale_connect_ms = 250;
  // Largest response frame accepted.
  size_t max_frame_bytes = 64u << 20;
  BackoffOptions backoff;
  // The local address connections leave from (HostPort::source_host): the
  // node's peer listen host, so the other side and packet filters see which
  // node is talking. Empty, a name or a wildcard: the kernel's choice.
  std::string source_host;
  // security.tls: a client context presenting this node's certificate; each
  // peer's certificate must be the CA's and name the address connected to.
  std::shared_ptr<const TlsContext> tls;
};

struct PeerStats {
  RpcChannelStats traffic;   // requests sent, responses received, timeouts, bytes
  uint64_t failed_fast = 0;  // calls refused at once while their peer was backing off
  uint64_t connect_attempts = 0;
  uint64_t connects = 0;          // attempts that succeeded
  uint64_t reconnects = 0;        // connects that were not the first attempt to their peer
  uint64_t connect_failures = 0;  // refused, unreachable or timed out
  uint64_t connections_lost = 0;  // closed or reset by the other side after being up
  uint64_t connections_reset = 0;  // closed here after max_timeouts_in_a_row calls timed out
  uint64_t stale_connects_replaced = 0;  // unanswered connects a probe gave up for a new one
};

// How a call treats a peer it is not connected to.
enum class CallMode {
  // Waits for a connect in progress; fails at once while the peer is
  // backing off after failed attempts.
  kNormal,
  // For the calls that probe whether a peer is back (gossip's SYN: gossip
  // picks the peers it believes down at its own, slow rate): never fails
  // for the backoff, and gives up a connect that has gone unanswered for
  // stale_connect_ms (or four times the last connect to that peer, if
  // longer; a second for a peer never reached) for a new one. After a partition heals, the next probe so
  // connects at once instead of waiting for TCP to resend a SYN the
  // network dropped (1 s, then 3 s...) or for the backoff to run out.
  kProbe,
};

class PeerClient;

class PeerPool {
 public:
  // The response, or UNAVAILABLE / TIMEOUT, or the Status of the
  // PeerError the peer answered with.
  using Callback = std::function<void(Result<peer::PeerResponse>)>;
  // A uniform draw from [0, 1], for backoff jitter.
  using UnitRandom = std::function<double()>;

  // `clock` times the backoff (MonotonicMs); `random` draws its jitter (a
  // seeded generator when empty); `events` may be null.
  // REQUIRES: loop, clock and events outlive the pool; call from the loop's
  // thread.
  PeerPool(uv_loop_t* loop, PeerPoolOptions options, const Clock& clock, UnitRandom random,
           PeerEvents* events);
  // Close()s.
  ~PeerPool();
  PeerPool(const PeerPool&) = delete;
  PeerPool& operator=(const PeerPool&) = delete;

  // Sends `request` to the peer at `address` ("HOST:PORT") with a fresh id.
  // Exactly one callback per call; at once (inside Call) when the pool is
  // closed, the address does not parse (INVALID_ARGUMENT) or the peer is
  // backing off (UNAVAILABLE). timeout_ms 0: options.call_timeout_ms.
  void Call(const std::string& address, peer::PeerRequest request, Callback done, uint32_t timeout_ms = 0,
            CallMode mode = CallMode::kNormal);
  // Sets where reachability evidence goes, for owners built after the pool.
  // REQUIRES: no call made yet (peers already made keep the old sink).
  void SetEvents(PeerEvents* events) { events_ = events; }
  // Drops the connection to `address` (a node that left), failing its calls
  // with UNAVAILABLE. A later Call starts afresh, with no backoff.
  void Forget(const std::string& address);
  // Fails every outstanding call with UNAVAILABLE and closes every
  // connection; later calls fail at once. Idempotent.
  void Close();

  size_t in_flight() const;
  // Bytes queued for `address` and not yet written (0 for an unknown peer):
  // a backlog signal, for callers that hold back from a slow peer.
  size_t buffered_bytes(const std::string& address) const;
  const PeerStats& stats() const { return stats_; }

 private:
  uv_loop_t* loop_;
  PeerPoolOptions options_;
  const Clock& clock_;
  UnitRandom random_;
  PeerEvents* events_;
  PeerStats stats_;
  bool closed_ = false;
  std::unordered_map<std::string, std::unique_ptr<PeerClient>> peers_;
};

// ---- Receiving -------------------------------------------------------------

class PeerRequestHandler {
 public:
  using Reply = std::function<void(peer::PeerResponse)>;
  virtual ~PeerRequestHandler() = default;
  // Called for each request. Call `reply` exactly once, now or later, from
  // the loop's thread; the server fills in the response id. A reply after
  // the connection or the server is gone is dropped.
  virtual void Handle(const peer::PeerRequest& request, Reply reply) = 0;
};

struct PeerServerOptions {
  // Largest request frame accepted; above it the sender gets a PEER_TOO_LARGE
  // error with id 0 and the connection closes.
  size_t max_frame_bytes = 64u << 20;
  // Peer connections served at once.
  uint32_t max_connections = 1024;
  // security.tls: a kServerMutual context; connections without a
  // certificate the cluster CA signed are refused. Null: plaintext.
  std::shared_ptr<const TlsContext> tls;
};

using PeerServerStats = RpcServerStats;

class PeerServer {
 public:
  // REQUIRES: loop and handler outlive the server.
  PeerServer(uv_loop_t* loop, PeerRequestHandler& handler, PeerServerOptions options = {});
  // Closes the listener and every connection now.
  ~PeerServer();

  // Binds and listens on the peer port (port 0 picks a free one).
  Status Listen(const HostPort& address);
  // Stops accepting; each connection closes once the requests it sent are
  // answered and written (new ones meanwhile get PEER_UNAVAILABLE).
  // Idempotent.
  void Shutdown();

  // Holds back or closes connections past `limits` (connection_guard.h).
  // REQUIRES: clock outlives the server.
  void GuardConnections(const ConnectionLimits& limits, const Clock& clock) {
    server_.GuardConnections(limits, clock, "peer");
  }

  // REQUIRES: Listen succeeded.
  uint16_t port() const { return server_.port(); }
  size_t connections() const { return server_.connections(); }
  const PeerServerStats& stats() const { return server_.stats(); }

 private:
  RpcServer<peer::PeerRequest, peer::PeerResponse> server_;
};

}  // namespace dynkv::net
