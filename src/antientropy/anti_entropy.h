// Active anti-entropy (DESIGN.md: Anti-entropy): the public surface of the
// module.
//
// Every node keeps a hash tree of its data (TreeKeeper, updated by every
// write through storage's ChangeObserver) and, every `interval`, exchanges
// it with the next of its replica peers in turn over the token ranges both
// replicate (Exchange): only the objects that differ move, merged with
// dvv::Sync. `dynkv repair` runs an exchange with every replica peer now.
//
// Exchanges run only while the ring is still (no data movement under way)
// and this node serves; one at a time per node, with a back-off for a peer
// that failed, and a byte rate for the objects moved.
//
// Tombstones: a tombstone may be reaped once every replica of its ranges
// has completed an exchange with this node since it was written here
// (ScyllaDB's tombstone_gc: repair), less a propagation delay for writes
// that reach a replica late (hints): TombstoneSafeBefore().
//
// Threads: the env's loop; the TreeKeeper is touched on the storage thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "antientropy/exchange.h"
#include "antientropy/options.h"
#include "antientropy/tree_keeper.h"
#include "client.pb.h"
#include "common/env.h"
#include "handoff/transfer_driver.h"
#include "peer.pb.h"
#include "quorum/replica.h"
#include "storage/storage.h"

namespace dynkv::antientropy {

struct AntiEntropyStats {
  uint64_t exchanges = 0;  // completed
  uint64_t exchanges_failed = 0;
  uint64_t branches_differing = 0;
  uint64_t segments_differing = 0;
  uint64_t keys_compared = 0;
  uint64_t keys_pulled = 0;
  uint64_t keys_pushed = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t rebuilds = 0;  // completed
};

class AntiEntropyDriver {
 public:
  using Reply = std::function<void(peer::PeerResponse)>;

  // REQUIRES: everything passed outlives the driver, and the env answers or
  // drops its peer calls before the driver goes. `keeper` is the engine's
  // ChangeObserver; its Load ran before the storage worker started.
  AntiEntropyDriver(Env& env, storage::StorageWorker& worker, TreeKeeper& keeper, quorum::LocalReplica& replica,
                    handoff::MovementHost& host, AntiEntropyOptions options);
  ~AntiEntropyDriver();

  // Starts the exchange timer, and a rebuild unless the keeper loaded a tree.
  Status Start();
  void Stop();  // idempotent

  // Peer requests of an exchange (AaeTree, AaeKeys, AaeFetch); false for
  // any other request.
  bool Handle(const peer::PeerRequest& request, Reply& reply);

  // `dynkv repair`: exchanges with every replica peer now, one after the
  // other (no-op while one runs). FillRepair reports the last or running one.
  void StartRepair();
  void FillRepair(dynkv::client::RepairResponse* out) const;

  // An exchange with `peer` over `ranges` now, whatever the ring (data
  // movement compares what a node received with the other replicas);
  // done(OK) once it completed. Runs beside background exchanges.
  void CompareNow(const std::string& peer, const std::vector<RingRange>& ranges, std::function<void(Status)> done);

  // Wall-clock ms before which a tombstone written here is known to every
  // replica peer (see above); 0 while any peer has not exchanged with this
  // node since it started.
  int64_t TombstoneSafeBefore() const;

  // "anti_entropy.*" counters for the node's stats.
  void FillStats(std::map<std::string, double>* values) const;
  const AntiEntropyStats& stats() const { return stats_; }
  // The tree is built (exchanges can run).
  bool tree_ready() const { return tree_ready_; }

 private:
  struct PeerState {
    int64_t next_try_ms = 0;    // monotonic
    int failures = 0;
    int64_t last_ok_start_ms = -1;  // wall clock when the last completed exchange began
  };
  struct Repair {
    bool running = false;
    int64_t started_ms = 0;
    int64_t finished_ms = 0;
    std::vector<std::string> peers;  // to exchange with, in order
    std::map<std::string, uint32_t> ranges;  // shared ranges per peer
    size_t next = 0;
    uint32_t ranges_total = 0;
    uint32_t ranges_done = 0;
    uint64_t keys_repaired = 0;
    uint64_t segments_differing = 0;
    std::vector<std::string> not_compared;  // live peers: "node: why"
    std::vector<std::string> down;
  };

  void Tick();
  // Shared token ranges with each replica peer, in the current ring.
  std::map<std::string, std::vector<RingRange>> PeerRanges() const;
  bool MayExchange() const;
  void RunExchange(const std::string& peer, std::vector<RingRange> ranges,
                   std::function<void(const ExchangeResult&)> then);
  void Record(const std::string& peer, int64_t started_wall_ms, const ExchangeResult& result);
  void RecordTotals(const ExchangeResult& result);
  void NextRepairPeer();
  void RetryRepairPeer(const std::string& peer, const std::string& why);
  void RebuildStep();
  void OnRebuildStep(Result<bool> done);
  ExchangeContext Context();

  void ServeTree(const peer::AaeTreeRequest& request, Reply reply);
  void ServeKeys(const peer::AaeKeysRequest& request, Reply reply);
  void ServeFetch(const peer::AaeFetchRequest& request, Reply reply);

  Env& env_;
  const Clock& clock_;
  storage::StorageWorker& worker_;
  TreeKeeper& keeper_;  // storage thread only
  quorum::LocalReplica& replica_;
  handoff::MovementHost& host_;
  const AntiEntropyOptions options_;
  ByteThrottle throttle_;
  AntiEntropyStats stats_;
  bool tree_ready_ = false;  // the loop's copy of keeper_.ready()
  bool rebuilding_ = false;
  int64_t last_rebuild_ms_ = 0;  // monotonic
  std::unique_ptr<Timer> tick_timer_;
  std::unique_ptr<Timer> rebuild_timer_;
  std::unique_ptr<Timer> repair_timer_;
  std::map<std::string, PeerState> peers_;
  std::string last_peer_;  // round robin starts after it
  std::shared_ptr<Exchange> running_;
  std::map<uint64_t, std::shared_ptr<Exchange>> comparing_;  // CompareNow's, by a number of their own
  uint64_t next_compare_ = 0;
  Repair repair_;
  std::shared_ptr<int> lifetime_ = std::make_shared<int>(0);
};

}  // namespace dynkv::antientropy
