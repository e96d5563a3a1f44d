// PeerClient: the pool's connection to one peer (see peer_transport.h).
//
// It holds at most one RpcChannel. A channel that is down stays in place as
// the record of why, until a call after `retry_at_ms_` replaces it with a
// new one (a new connection attempt). `retry_at_ms_` comes from the backoff
// after a failed attempt, and is "now" after a lost connection, which is
// retried at once.
//
// Channel callbacks run user code (call callbacks, PeerEvents) that may
// destroy this client (PeerPool::Forget, or the pool itself); so each
// report to PeerEvents is the last thing its path does.
//
// Threads: the pool's loop.
#pragma once

#include <memory>
#include <string>

#include "net/peer_transport.h"

namespace dynkv::net {

class PeerClient {
 public:
  using Channel = RpcChannel<peer::PeerRequest, peer::PeerResponse>;

  // REQUIRES: everything referenced outlives the client (the pool owns it).
  PeerClient(uv_loop_t* loop, std::string address, HostPort host_port, const PeerPoolOptions& options,
             const Clock& clock, const PeerPool::UnitRandom& random, PeerEvents* events, PeerStats& stats);
  // Close()s.
  ~PeerClient();
  PeerClient(const PeerClient&) = delete;
  PeerClient& operator=(const PeerClient&) = delete;

  void Call(peer::PeerRequest request, PeerPool::Callback done, uint32_t timeout_ms, CallMode mode);
  // Fails the calls in flight with UNAVAILABLE; later calls fail at once.
  void Close();

  size_t in_flight() const { return channel_ ? channel_->in_flight() : 0; }
  size_t buffered_bytes() const { return channel_ ? channel_->buffered_bytes() : 0; }

 private:
  void StartAttempt();
  // Whether a probe at `now` gives up the connect in progress.
  bool ConnectIsStale(int64_t now) const;
  void OnConnect(const Status& status);
  void OnLost(const Status& why);
  // Counts a call's outcome on the channel of attempt `attempt`; closes that
  // channel after max_timeouts_in_a_row timeouts in a row.
  void CountOutcome(uint64_t attempt, const Status& status);

  uv_loop_t* loop_;
  const std::string address_;  // as the pool's caller wrote it; names the peer in events
  RpcChannelOptions channel_options_;
  const Clock& clock_;
  const PeerPool::UnitRandom& random_;
  PeerEvents* events_;
  PeerStats& stats_;
  Backoff backoff_;
  int64_t retry_at_ms_ = 0;  // no new attempt before this (clock_.MonotonicMs())
  int64_t attempt_started_ms_ = 0;
  int64_t last_connect_ms_ = -1;  // how long the last connect that succeeded took; -1: none yet
  uint64_t attempts_ = 0;
  uint32_t max_timeouts_in_a_row_;
  uint32_t stale_connect_ms_;
  uint32_t timeouts_in_a_row_ = 0;  // on the current channel
  bool closed_ = false;
  std::unique_ptr<Channel> channel_;
};

}  // namespace dynkv::net
