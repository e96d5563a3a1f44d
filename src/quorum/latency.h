// How fast each peer answers, as the coordinator sees it (issue 18: gray
// failures). Pure: times come in, no clock, no I/O.
//
// Per peer, a smoothed response time and its mean deviation over answered
// calls (Jacobson and Karels, as TCP's retransmission timer keeps them:
// RFC 6298, alpha 1/8, beta 1/4), and the calls still outstanding. A peer
// that stopped answering (paused, or its disk stalled) is seen at once by
// the age of its oldest outstanding call, long before the failure detector
// judges it down (Cassandra's dynamic snitch scores replicas by latency for
// the same reason).
//
// Threads: the coordinator's loop only.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "quorum/options.h"

namespace dynkv::quorum {

struct PeerLatencyOptions {
  // A mint not answered within srtt + 4 * rttvar, bounded by these, is
  // retried at another replica (replication.failover_min, failover_max).
  int64_t failover_min_ms = ReplicationOptions{}.failover_min_ms;
  int64_t failover_max_ms = ReplicationOptions{}.failover_max_ms;
  // Calls outstanding to one peer past which the coordinator stops sending
  // it more (replication.max_pending_per_peer): writes go to a stand-in
  // instead, reads skip it.
  uint32_t max_pending_per_peer = ReplicationOptions{}.max_pending_per_peer;
};

class PeerLatency {
 public:
  explicit PeerLatency(PeerLatencyOptions options) : options_(options) {}

  void Sent(const std::string& node, uint64_t call, int64_t now_ms);
  // `ok`: a reply (it counts as a sample); else an error or a timeout.
  void Answered(const std::string& node, uint64_t call, int64_t now_ms, bool ok);

  // How long to wait for a mint at `node` before trying another replica.
  // failover_max_ms for a node never heard.
  int64_t FailoverAfterMs(const std::string& node) const;
  // The response time to expect from `node` now: its smoothed time, or the
  // age of its oldest outstanding call when that is longer. 0 for a node
  // never heard and with nothing outstanding.
  int64_t ExpectedMs(const std::string& node, int64_t now_ms) const;
  size_t Outstanding(const std::string& node) const;
  bool Saturated(const std::string& node) const { return Outstanding(node) >= options_.max_pending_per_peer; }
  // The smoothed response time (ms), -1 when never measured.
  double SmoothedMs(const std::string& node) const;
  std::map<std::string, double> Smoothed() const;

 private:
  struct Peer {
    bool measured = false;
    double srtt = 0;
    double rttvar = 0;
    std::map<uint64_t, int64_t> outstanding;  // call -> sent at; calls are numbered in send order
  };

  const PeerLatencyOptions options_;
  std::map<std::string, Peer> peers_;
};

}  // namespace dynkv::quorum
