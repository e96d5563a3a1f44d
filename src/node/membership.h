// Membership: the node's view of the cluster, wired from the gossip module:
// the GossipDriver (rounds, exchanges, failure detection) and the
// RingTracker (the ring, token taking, readiness). It answers the
// coordinator as its ClusterView and the client service as its
// ClusterAdmin (`dynkv members`, `ring`, `leave`, `remove`), and stops the
// node after it left or was removed.
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
#include "api/client_service.h"
#include "quorum/coordinator.h"
#include "quorum/options.h"
#include "ring/ring.h"

namespace dynkv::node {

struct MembershipOptions {
  gossip::DriverOptions driver;  // self.tokens empty: take them on joining
  gossip::RingTrackerOptions ring;
  uint32_t replication_n = quorum::ReplicationOptions{}.n;  // for the replicated shares of `dynkv ring`
};

class Membership final : public api::ClusterAdmin, public quorum::ClusterView {
 public:
  using PersistTokens = gossip::RingTracker::PersistTokens;
  using Reply = gossip::GossipDriver::Reply;

  // REQUIRES: env outlives the membership.
  static Result<std::unique_ptr<Membership>> Create(Env& env, MembershipOptions options,
                                                    PersistTokens persist_tokens);
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

  // quorum::ClusterView
  std::shared_ptr<const ring::Ring> CurrentRing() const override { return tracker_->CurrentRing(); }
  bool IsUp(const std::string& node_id) const override { return driver_->gossiper().IsUp(node_id); }
  std::string PeerAddress(const std::string& node_id) const override;
  bool Ready() const override { return tracker_->Ready(); }
  const gossip::Gossiper& gossiper() const { return driver_->gossiper(); }

  // api::ClusterAdmin
  void FillMembers(dynkv::client::MembersResponse* out) const override;
  void FillRing(dynkv::client::RingResponse* out) const override;
  Status RemoveNode(const std::string& node_id) override;
  void Leave() override;
  void FillTransfers(dynkv::client::TransfersResponse* out) const override;
  // "gossip.*", "failure_detector.phi.<node>", "ring.*" and "node.ready" counters.
  void FillStats(std::map<std::string, double>* values) const;

 private:
  Membership(MembershipOptions options, std::unique_ptr<gossip::GossipDriver> driver,
             PersistTokens persist_tokens);
  void AfterRound();
  void RequestStop();

  MembershipOptions options_;
  std::unique_ptr<gossip::GossipDriver> driver_;
  std::unique_ptr<gossip::RingTracker> tracker_;
  bool leaving_ = false;
  bool stop_requested_ = false;
  std::function<void()> on_stop_;
};

}  // namespace dynkv::node
