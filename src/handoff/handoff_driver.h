// HandoffDriver: runs hinted handoff through the node's Env (DESIGN.md: Hinted
// handoff). It keeps the hints this node takes as a stand-in (HintSink for
// the Coordinator), hands them over in throttled batches once gossip shows
// their target up again, and drops hints older than the hint window. The
// decisions are handoff::HintDelivery's; this class moves the messages.
// Hints for a node that left or was removed go to the key's owners instead
// (its current replicas and pending ones; DESIGN.md: Data movement), and a
// leaving node hands every hint it keeps to the owners before it goes.
//
// Threads: the env's loop only (the HintStore's work runs on the storage
// worker and comes back through Env::Post).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "common/env.h"
#include "gossip/gossip.h"
#include "handoff/handoff.h"
#include "quorum/coordinator.h"
#include "quorum/replica.h"

namespace dynkv::handoff {

class HandoffDriver final : public quorum::HintSink, public gossip::MembershipListener {
 public:
  using Reply = std::function<void(peer::PeerResponse)>;

  // REQUIRES: everything passed outlives the driver.
  // `self_id`: this node's id (it merges its own share of handed-over hints).
  HandoffDriver(Env& env, storage::StorageWorker& worker, quorum::LocalReplica& replica,
                const quorum::ClusterView& cluster, const HandoffOptions& options, std::string self_id);
  ~HandoffDriver() override;

  // Counts the stored hints and starts the delivery and expiry timers.
  Status Start();
  void Stop();  // idempotent

  // HintSink: durable before done(OK).
  void StoreHint(const std::string& target, const std::string& key, const Object& object,
                 std::function<void(Status)> done) override;

  // gossip::MembershipListener
  void OnUp(const std::string& node_id) override {
    left_.erase(node_id);
    delivery_.OnUp(node_id);
  }
  void OnDown(const std::string& node_id) override { delivery_.OnDown(node_id); }
  void OnLeave(const std::string& node_id) override {
    left_.insert(node_id);
    delivery_.OnUp(node_id);  // delivered here, into the local data
  }

  // A batch of hints handed over by a stand-in (PeerRequest.hint_batch):
  // merged like any replica write, acknowledged once every write in it is
  // durable. False when `request` is not one.
  bool Handle(const peer::PeerRequest& request, Reply& reply);

  // Hands every hint kept here to the owners of its key, then done() (a
  // leaving node, before it goes). Retried while an owner is down.
  void HandOverAll(std::function<void()> done);

  // "handoff.*" counters for the node's stats.
  void FillStats(std::map<std::string, double>* values) const;

 private:
  void Deliver();
  void SendBatch(const std::string& target, std::vector<handoff::Hint> hints);
  void HandToOwners(const std::string& target, std::vector<handoff::Hint> hints);
  void HandOver(const Result<std::vector<std::string>>& targets);
  void CheckHandedOver();
  void Delivered(const std::string& target, std::vector<handoff::Hint> hints);
  void NotDeleted(const std::string& target);
  void DropExpired();
  void Receive(const peer::HintBatch& batch, Reply reply);

  Env& env_;
  const Clock& clock_;
  storage::StorageWorker& worker_;
  std::string self_id_;
  quorum::LocalReplica& replica_;
  const quorum::ClusterView& cluster_;
  HandoffOptions options_;
  handoff::HintStore store_;
  handoff::HintDelivery delivery_;
  std::unique_ptr<Timer> delivery_timer_;
  std::unique_ptr<Timer> expiry_timer_;
  uint64_t batches_failed_ = 0;
  uint64_t batches_not_deleted_ = 0;  // delivered, but this node could not delete them
  uint64_t hints_handed_ = 0;   // hints given to their key's owners instead of their target
  std::set<std::string> left_;  // targets that left or were removed
  // A target's scan of its hints. While this node cannot delete the hints
  // it delivered (its disk refuses writes: a full disk), delivery goes on
  // after them (`resume`) instead of sending the same first batch again;
  // past the last, it starts over after a backoff.
  struct Scan {
    std::string resume;      // where the next batch starts; empty: the first hint
    std::string after_batch;  // where the scan goes on after the batch in flight
  };
  std::map<std::string, Scan> scans_;
  std::function<void()> handed_over_;  // HandOverAll's done; set while it runs
  std::shared_ptr<int> lifetime_ = std::make_shared<int>(0);  // expires with the driver
};

}  // namespace dynkv::handoff
