// Phi accrual failure detection (Hayashibara, Defago, Yared, Katayama: "The
// phi accrual failure detector", SRDS 2004), in Cassandra's variant: the
// inter-arrival times of a peer's heartbeats are taken as exponentially
// distributed with the mean of a sliding window, so
//
//   phi(t) = -log10(P(next arrival later than t)) = (t - last) / (mean * ln 10).
//
// A peer whose phi passes the threshold is suspected. With a steady
// heartbeat every `mean` ms, phi reaches threshold T after T * ln(10) * mean
// ms of silence (T = 8: about 18.4 intervals).
//
// Local to one node and never gossiped. Owned by one thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dynkv::gossip {

struct FailureDetectorOptions {
  // Suspect a peer once phi exceeds this (Cassandra's phi_convict_threshold).
  double phi_threshold = 8.0;
  // Inter-arrival samples kept per peer (Cassandra keeps 1000).
  size_t window_size = 1000;
  // The sample recorded at a peer's first heartbeat, before any interval is
  // known. 0: twice the expected interval, as Cassandra does.
  int64_t initial_interval_ms = 0;
  // Longer gaps are not samples (a pause or a partition would inflate the
  // mean and slow the next detection); the arrival still restarts the clock.
  // 0: ten expected intervals.
  int64_t max_interval_ms = 0;
};

// Arrival windows for many peers, keyed by node id.
class PhiAccrualDetector {
 public:
  // `expected_interval_ms`: the heartbeat period (the gossip interval),
  // which fills the options left 0. REQUIRES: expected_interval_ms > 0
  PhiAccrualDetector(FailureDetectorOptions options, int64_t expected_interval_ms);

  // A newer heartbeat of `node_id` was seen at `now_ms`.
  void Report(const std::string& node_id, int64_t now_ms);
  // 0 for a peer never reported.
  double Phi(const std::string& node_id, int64_t now_ms) const;
  double MeanIntervalMs(const std::string& node_id) const;  // 0 when never reported
  int64_t LastArrivalMs(const std::string& node_id) const;  // -1 when never reported
  bool Suspects(const std::string& node_id, int64_t now_ms) const {
    return Phi(node_id, now_ms) > options_.phi_threshold;
  }
  // Forgets a peer (it restarted or left); its next Report starts afresh.
  void Forget(const std::string& node_id);
  // With sampled heartbeats (gossip.h: GossipOptions::max_digests) news of
  // a peer comes about every `interval_ms` on average, far apart and in
  // bursts: phi takes it as the least mean (the window's early samples,
  // from rounds that listed every node, would make a mean too short), and
  // gaps up to ten of them are samples. 0: heartbeats are not sampled.
  void SetSampledInterval(int64_t interval_ms) { sampled_interval_ms_ = interval_ms; }
  const FailureDetectorOptions& options() const { return options_; }

 private:
  // A ring buffer of the latest intervals with their running sum.
  struct ArrivalWindow {
    std::vector<int64_t> intervals;
    size_t next = 0;  // slot the next sample overwrites once full
    int64_t sum = 0;
    int64_t last_ms = 0;
  };
  void AddSample(ArrivalWindow* window, int64_t interval_ms) const;

  FailureDetectorOptions options_;
  int64_t sampled_interval_ms_ = 0;
  std::map<std::string, ArrivalWindow> windows_;
};

}  // namespace dynkv::gossip
