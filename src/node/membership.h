// Membership: the node's view of the cluster, wired from the gossip module:
// the GossipDriver (rounds, exchanges, failure detection) and the
// RingTracker (the ring, token taking, readiness). It answers the
// coordinator as its ClusterView and the client service as its
// ClusterAdmin (`dynkv members`, `ring`, `leave`, `remove`, `transfers`),
// the transfer driver as its MovementHost (DESIGN.md: Data movement), and
// stops the node after it left or was removed.
//
// Changes of this node's own: a join or a replacement turns NORMAL once its
// ranges have streamed in (OnStreamed); a leave waits for a still ring,
// turns LEAVING, and goes (LEFT, then stop) once its ranges have moved
// (FinishLeave). Each is recorded in the data dir first, so a restart goes
// on with it.
//
// Threads: the env's loop only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client.pb.h"
#include "common/env.h"
#include "common/status.h"
#include "gossip/gossip.h"
#include "gossip/gossip_driver.h"
#include "gossip/ring_tracker.h"
#include "handoff/transfer_driver.h"
#include "api/client_service.h"
#include "quorum/coordinator.h"
#include "quorum/options.h"
#include "ring/ring.h"

namespace dynkv::node {

struct MembershipOptions {
  gossip::DriverOptions driver;  // self.tokens empty: take them on joining
  gossip::RingTrackerOptions ring;
  uint32_t replication_n = quorum::ReplicationOptions{}.n;  // for the replicated shares of `dynkv ring`
  // False for a membership with no storage behind it (the simulator's
  // gossip-only nodes): joins and leaves finish without a transfer driver.
  bool moves_data = true;
};

class Membership final : public api::ClusterAdmin, public quorum::ClusterView, public handoff::MovementHost {
 public:
  using PersistTokens = gossip::RingTracker::PersistTokens;
  // Makes the movement record durable (identity.h StoreMovement); done(status) on the loop.
  using PersistMovement = std::function<void(const gossip::MovementRecord&, std::function<void(Status)>)>;
  using Reply = gossip::GossipDriver::Reply;

  // REQUIRES: env outlives the membership.
  static Result<std::unique_ptr<Membership>> Create(Env& env, MembershipOptions options,
                                                    PersistTokens persist_tokens, PersistMovement persist_movement);
  ~Membership() override;

  // Starts the gossip timer; Stop ends it (idempotent).
  Status Start() { return driver_->Start(); }
  void Stop() { driver_->Stop(); }
  // Called once when the node must stop: after `dynkv leave`, or when
  // another node removed this one.
  void SetOnStop(std::function<void()> on_stop) { on_stop_ = std::move(on_stop); }

  // Answers gossip requests from peers (SYN, ACK2, leave notices); false for others.
  bool Handle(const peer::PeerRequest& request, Reply& reply) { return driver_->Handle(request, reply); }

  // REQUIRES: `listener` outlives the membership.
  void AddListener(gossip::MembershipListener* listener) { driver_->gossiper().AddListener(listener); }
  // The driver `dynkv transfers` reports; REQUIRES: it outlives the membership or is reset first.
  void SetTransfers(const handoff::TransferDriver* transfers) { transfers_ = transfers; }

  // quorum::ClusterView
  std::shared_ptr<const ring::Ring> CurrentRing() const override { return tracker_->CurrentRing(); }
  // A replacing node is up but serves nothing yet: reads and W skip it.
  bool IsUp(const std::string& node_id) const override;
  std::string PeerAddress(const std::string& node_id) const override;
  bool Ready() const override { return tracker_->Ready(); }
  std::vector<std::string> PendingReplicas(uint64_t position) const override;
  std::vector<std::string> Owners(uint64_t position) const override;
  // Runs before a leaving node goes (after its ranges moved): the handoff
  // driver hands over the hints it keeps, then calls `go`.
  void SetBeforeLeave(std::function<void(std::function<void()> go)> before) { before_leave_ = std::move(before); }

  // handoff::MovementHost
  std::shared_ptr<const ring::Placement> Placement() const override { return tracker_->CurrentPlacement(); }
  const gossip::Gossiper& gossiper() const override { return driver_->gossiper(); }
  void AnnounceMovement(uint64_t ring_version, uint64_t streamed_version) override {
    driver_->gossiper().SetMovement(ring_version, streamed_version);
  }
  void OnStreamed() override;
  void FinishLeave() override;
  void FinishRemoval(const std::string& node_id) override;

  // The fraction of keys this node is a replica of (RingShare.replica_share);
  // 0 when it owns no ring position.
  double SelfReplicaShare() const;

  // api::ClusterAdmin
  void FillMembers(dynkv::client::MembersResponse* out) const override;
  void FillRing(dynkv::client::RingResponse* out) const override;
  void FillPreflist(const std::string& key, dynkv::client::PreflistResponse* out) const override;
  Status RemoveNode(const std::string& node_id) override;
  void Leave() override;
  void FillTransfers(dynkv::client::TransfersResponse* out) const override;
  // "gossip.*", "failure_detector.phi.<node>", "ring.*" and "node.ready" counters.
  void FillStats(std::map<std::string, double>* values) const;

 private:
  Membership(MembershipOptions options, std::unique_ptr<gossip::GossipDriver> driver,
             PersistTokens persist_tokens, PersistMovement persist_movement);
  void AfterRound();
  void MaybeStartLeaving();
  void SetOwnStatus(gossip::NodeStatus status);
  void RequestStop();

  MembershipOptions options_;
  std::unique_ptr<gossip::GossipDriver> driver_;
  std::unique_ptr<gossip::RingTracker> tracker_;
  PersistMovement persist_movement_;
  const handoff::TransferDriver* transfers_ = nullptr;
  bool leave_requested_ = false;
  bool leaving_ = false;  // LEAVING announced (or being recorded)
  bool finishing_join_ = false;
  bool stop_requested_ = false;
  bool said_waiting_ = false;
  std::function<void()> on_stop_;
  std::function<void(std::function<void()>)> before_leave_;
  std::shared_ptr<int> lifetime_ = std::make_shared<int>(0);  // expires with the membership
};

}  // namespace dynkv::node
