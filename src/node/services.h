// NodeServices: one node's modules wired together on an Env, everything of
// dynkvd but its sockets (DESIGN.md: The node environment and the
// simulator). It opens the storage engine and the node's identity, then
// builds the storage worker (Env::StartStorage), the local replica, the
// handoff driver, the coordinator and the replica service, the membership
// (gossip driver and ring tracker) and the client service, and runs the
// expiry passes on an env timer. dynkvd puts it behind the client and peer ports (node.h); the
// simulator runs several in one thread (sim/sim_cluster.h).
//
// Threads: the env's loop only.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "antientropy/anti_entropy.h"
#include "antientropy/tree_keeper.h"
#include "common/env.h"
#include "common/status.h"
#include "handoff/handoff_driver.h"
#include "handoff/transfer_driver.h"
#include "net/peer_transport.h"
#include "api/client_service.h"
#include "node/config.h"
#include "node/identity.h"
#include "node/membership.h"
#include "quorum/coordinator.h"
#include "quorum/replica.h"
#include "storage/storage.h"

namespace dynkv::node {

inline constexpr const char* kVersion = "0.1.0";

// The gossip driver's options for a node with `config` and `identity`.
// `alone_at_first`: a first start that names no other seed (it serves at once).
MembershipOptions MembershipOptionsFor(const Config& config, const Identity& identity, bool alone_at_first);

class NodeServices {
 public:
  // Opens config.storage.data_dir and wires the modules; nothing runs until
  // Start. Errors name what failed (a locked or corrupt data dir, a data
  // dir of another node). REQUIRES: env outlives the services.
  static Result<std::unique_ptr<NodeServices>> Open(const Config& config, Env& env);
  ~NodeServices();

  // Starts gossip, hint delivery and expiry passes.
  Status Start();
  // Called once when the node must stop: after `dynkv leave`, or when
  // another node removed this one.
  void SetOnStop(std::function<void()> on_stop);

  // Stops every timer and driver; requests in flight are still answered.
  // Idempotent.
  void StopDrivers();
  // Finishes the storage work queued so far and hands back its
  // completions; later storage calls fail. Idempotent. `checkpoint`: a
  // clean stop, which leaves the anti-entropy tree for the next start (a
  // crash leaves none, and the next start rebuilds it).
  void StopStorage(bool checkpoint = false);

  api::ClientService& client_service() { return *service_; }
  // Replication, hint and gossip requests of other nodes.
  net::PeerRequestHandler& peer_handler();
  Membership& membership() { return *membership_; }
  quorum::Coordinator& coordinator() { return *coordinator_; }
  handoff::TransferDriver& transfers() { return *transfers_; }
  antientropy::AntiEntropyDriver& anti_entropy() { return *anti_entropy_; }
  // Touch only on the storage thread (worker().Run).
  antientropy::TreeKeeper& tree_keeper() { return *keeper_; }
  storage::StorageWorker& worker() { return *worker_; }
  const Identity& identity() const { return identity_; }
  // Why this node does not serve reads and writes as a full member now
  // (not ready, joining, leaving); empty when it does (GET /health).
  std::string NotServingReason() const;

 private:
  class PeerDispatch;
  class DownListener;
  NodeServices(const Config& config, Env& env);

  Status OpenStorage();
  Status OpenMembership();
  void OpenServing();
  bool IsAlone() const;
  void StartReap();
  void OpenAntiEntropy();

  Config config_;
  Env& env_;
  Identity identity_;
  bool first_start_alone_ = false;  // see OpenStorage
  std::unique_ptr<antientropy::TreeKeeper> keeper_;  // the engine's observer: outlives it
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<storage::StorageWorker> worker_;
  std::unique_ptr<quorum::LocalReplica> replica_;
  std::unique_ptr<Membership> membership_;
  std::unique_ptr<handoff::HandoffDriver> handoff_;
  std::unique_ptr<handoff::TransferDriver> transfers_;
  std::unique_ptr<antientropy::AntiEntropyDriver> anti_entropy_;
  std::unique_ptr<quorum::Coordinator> coordinator_;
  std::unique_ptr<DownListener> down_listener_;
  std::unique_ptr<quorum::ReplicaService> replica_service_;
  std::unique_ptr<api::ClientService> service_;
  std::unique_ptr<PeerDispatch> peer_dispatch_;
  std::unique_ptr<Timer> reap_timer_;  // TTL and tombstone expiry
  bool drivers_stopped_ = false;
};

}  // namespace dynkv::node
