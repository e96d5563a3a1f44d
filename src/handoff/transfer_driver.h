// TransferDriver: data movement when the ring changes (DESIGN.md: Data
// movement; Riak's ownership handoff and Cassandra's bootstrap streaming are
// the references, and CASSANDRA-2434 the lesson).
//
// The membership's ring::Placement says which segments are moving and to
// whom. Every node runs the same driver:
// - Receiving. A node pending for a segment pulls it from one live current
//   replica of it: StreamRange requests, one contiguous scan each, batch by
//   batch; each batch is merged (dvv::Sync) and durable before the next is
//   asked for, throttled, at most transfer_limit pulls at once. It starts
//   only once every live node announces the same ring change (they all send
//   it the writes of its new ranges by then). A failed pull keeps its cursor
//   and retries, from another replica when that one is down; a restarted
//   node starts its ranges again. Then, so that it cannot inherit one
//   replica's missed write (CASSANDRA-2434), it compares what it holds with
//   every other live current replica: one anti-entropy exchange per replica
//   over all the segments it gets from it (SetCompare; without one it pulls
//   every segment from every live replica instead, a full merge). A segment
//   is done once it was pulled and every other replica of it was compared
//   or is down. When every segment is done the node announces it
//   (streamed_version) and the host turns it NORMAL if it was joining or
//   replacing.
// - Sending. StreamRange requests are answered from the local engine.
// - Finishing. A leaving node leaves (LEFT, then stops) once every pending
//   node announces it has streamed this change; any node finishes a
//   removal under the same rule.
// - Cleanup. Once the ring is still and every live node runs it, a node
//   hands the data of ranges it no longer replicates to their replicas
//   (hint batches, merged by dvv::Sync) and deletes each key only if it
//   did not change meanwhile, and only when every replica took it.
//
// Threads: the env's loop only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "client.pb.h"
#include "common/env.h"
#include "gossip/gossip.h"
#include "peer.pb.h"
#include "quorum/replica.h"
#include "ring/placement.h"
#include "storage/storage.h"

namespace dynkv::handoff {

class RangeCleanup;

struct TransferOptions {
  // handoff.stream_max_bytes_per_sec: what this node pulls, all sources
  // together (a stream at full speed competes with client requests).
  uint64_t max_bytes_per_sec = 32ull << 20;
  // handoff.transfer_limit: pulls running at once (Riak's transfer_limit).
  uint32_t transfer_limit = 2;
  uint32_t batch_max_bytes = 256 << 10;
  uint32_t batch_max_count = 1000;
  int64_t tick_ms = 200;
  uint32_t request_timeout_ms = 10000;
  // Pulls start this long after every live node runs the change, so
  // writes routed by the old ring have finished.
  int64_t settle_ms = 1000;
  // Cleanup waits this long after the ring is still everywhere (above the
  // request timeout, for the same reason), and runs again this often.
  int64_t cleanup_delay_ms = 10000;
  int64_t cleanup_interval_ms = 60000;
};

// The membership, as the driver sees it.
class MovementHost {
 public:
  virtual ~MovementHost() = default;
  virtual std::shared_ptr<const ring::Placement> Placement() const = 0;
  virtual const gossip::Gossiper& gossiper() const = 0;
  virtual bool Ready() const = 0;
  // Gossips the change this node runs and the one it has streamed.
  virtual void AnnounceMovement(uint64_t ring_version, uint64_t streamed_version) = 0;
  // Every incoming segment of the change has arrived.
  virtual void OnStreamed() = 0;
  // Every pending node has streamed: this leaving node may go.
  virtual void FinishLeave() = 0;
  virtual void FinishRemoval(const std::string& node_id) = 0;
};

struct TransferStats {
  uint64_t keys_received = 0;
  uint64_t bytes_received = 0;
  uint64_t batches_received = 0;
  uint64_t keys_sent = 0;  // as a source
  uint64_t bytes_sent = 0;
  uint64_t pulls_failed = 0;
  uint64_t segments_done = 0;
  uint64_t changes_streamed = 0;
  uint64_t cleanup_keys_handed = 0;
  uint64_t cleanup_keys_deleted = 0;
  uint64_t actor_renewals = 0;  // new actors taken by the cleanup
  uint64_t comparisons = 0;     // exchanges with other replicas after pulls
};

class TransferDriver {
 public:
  using Reply = std::function<void(peer::PeerResponse)>;

  // REQUIRES: everything passed outlives the driver, and the env answers or
  // drops its peer calls before the driver goes (callbacks hold `this`).
  TransferDriver(Env& env, storage::StorageWorker& worker, quorum::LocalReplica& replica, MovementHost& host,
                 TransferOptions options);
  ~TransferDriver();

  Status Start();
  void Stop();  // idempotent

  // Answers StreamRange; false for other requests.
  bool Handle(const peer::PeerRequest& request, Reply& reply);

  // Compares this node's data over `ranges` ((start, end] each) with node
  // `peer`'s and moves what differs both ways (an anti-entropy exchange);
  // done(OK) once it did. The node wires it (antientropy sits above handoff).
  using Range = std::pair<uint64_t, uint64_t>;
  using Compare = std::function<void(const std::string& peer, std::vector<Range> ranges,
                                     std::function<void(Status)> done)>;
  void SetCompare(Compare compare) { compare_ = std::move(compare); }

  // `dynkv transfers`.
  void FillTransfers(dynkv::client::TransfersResponse* out) const;
  // "transfers.*" counters.
  void FillStats(std::map<std::string, double>* values) const;
  const TransferStats& stats() const { return stats_; }

 private:
  struct Source {
    std::string node_id;
    std::string cursor;
    bool done = false;      // sent all of the segment
    bool compared = false;  // an exchange over the segment with it succeeded
    bool in_flight = false;
    uint32_t failures = 0;
    int64_t retry_at_ms = 0;
    uint64_t keys = 0;
    uint64_t bytes = 0;
  };
  struct Incoming {
    ring::Segment segment;
    std::vector<Source> sources;
    bool done = false;
  };
  // An exchange with one replica over every segment it has to be compared for.
  struct Comparison {
    bool running = false;
    uint32_t failures = 0;
    int64_t retry_at_ms = 0;
  };
  struct Sent {
    uint64_t keys = 0;
    uint64_t bytes = 0;
    bool done = false;
  };

  void Tick();
  void Replan(const ring::Placement& placement);
  bool EveryoneRuns(uint64_t version) const;
  bool Streamed(const std::string& node_id, uint64_t version) const;
  void PullMore();
  void WakeWhenThrottleOpens(int64_t now);
  void Pull(size_t segment, size_t source);
  void OnBatch(size_t segment, size_t source, uint64_t plan, Result<peer::PeerResponse> response);
  void PullFailed(size_t segment, size_t source, const Status& status);
  // May segment i be pulled from its source j now (one source at a time
  // when comparisons finish the job)?
  bool MayPull(size_t i, size_t j, int64_t now) const;
  void CompareMore();
  void OnCompared(const std::string& peer, uint64_t plan, Status status);
  void CheckSegment(Incoming& incoming);
  void CheckStreamed();
  void FinishChanges(const ring::Placement& placement);
  void Serve(const peer::StreamRange& range, const std::string& to, Reply reply);

  Env& env_;
  const Clock& clock_;
  storage::StorageWorker& worker_;
  quorum::LocalReplica& replica_;
  MovementHost& host_;
  TransferOptions options_;
  TransferStats stats_;
  std::unique_ptr<Timer> tick_timer_;
  std::unique_ptr<RangeCleanup> cleanup_;

  uint64_t plan_ = 0;  // the placement version the incoming list is for
  std::vector<Incoming> incoming_;
  std::vector<std::pair<uint64_t, uint64_t>> done_segments_;  // carried over changes while still pending
  uint64_t streamed_ = 0;                                      // the last plan fully received
  int64_t everyone_runs_since_ms_ = -1;
  size_t in_flight_ = 0;
  int64_t next_pull_ms_ = 0;  // throttle: no pull starts before
  // Wakes PullMore when the throttle opens, so pulls follow the byte rate
  // rather than the tick (the tick alone allowed transfer_limit batches per
  // tick_ms whatever the rate).
  std::unique_ptr<Timer> throttle_timer_;
  int64_t throttle_wake_ms_ = -1;  // when throttle_timer_ fires; -1: not armed
  bool leave_finished_ = false;
  // As a source: what went to each (segment, receiver), for `transfers`.
  std::map<std::tuple<uint64_t, uint64_t, std::string>, Sent> sent_;
  Compare compare_;
  std::map<std::string, Comparison> comparisons_;  // of the current plan, by replica
  std::shared_ptr<int> lifetime_ = std::make_shared<int>(0);
};

}  // namespace dynkv::handoff
