// Internal to the handoff module: the cleanup step of data movement
// (transfer_driver.h). Once the ring is still and every live node runs it,
// the data of ranges this node no longer replicates goes to the replicas
// that own it (hint batches, merged with dvv::Sync), and each key is then
// deleted here unless it changed meanwhile. A range is skipped, and tried
// again on the next pass, when any of its replicas is down or refuses.
// Before it deletes an object this node minted a dot into, the node takes a
// new actor (LocalReplica::RenewActor): its counter for that key goes with
// the object.
//
// Threads: the env's loop only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/env.h"
#include "handoff/transfer_driver.h"

namespace dynkv::handoff {

class RangeCleanup {
 public:
  // REQUIRES: everything passed outlives the cleanup.
  RangeCleanup(Env& env, storage::StorageWorker& worker, quorum::LocalReplica& replica, MovementHost& host,
               const TransferOptions& options, TransferStats& stats);

  // `agreed_ms`: how long every live node has run this placement (-1: not all do).
  void Tick(const ring::Placement& placement, int64_t agreed_ms);
  bool running() const { return running_; }

 private:
  struct Range {
    uint64_t start = 0;
    uint64_t end = 0;
    std::vector<std::string> owners;
  };

  std::vector<Range> NotOwned(const ring::Placement& placement) const;
  void NextBatch();
  void OnScanned(Result<std::vector<storage::ObjectWrite>> writes, std::string next);
  void Hand(std::vector<storage::ObjectWrite> writes, std::string next);
  // Renews this node's actor first when a key of the batch names it.
  void Delete(std::vector<storage::ObjectWrite> writes, std::string next);
  void DeleteUnchanged(std::vector<storage::ObjectWrite> writes, std::string next);
  void Advance(std::string next);
  void Finish();

  Env& env_;
  storage::StorageWorker& worker_;
  quorum::LocalReplica& replica_;
  MovementHost& host_;
  const TransferOptions& options_;
  TransferStats& stats_;
  bool running_ = false;
  uint64_t version_ = 0;  // the placement of the pass running or last run
  int64_t next_run_ms_ = 0;
  std::vector<Range> ranges_;
  size_t index_ = 0;
  std::string cursor_;
  uint64_t handed_ = 0;  // in this pass
  std::shared_ptr<int> lifetime_ = std::make_shared<int>(0);
};

}  // namespace dynkv::handoff
