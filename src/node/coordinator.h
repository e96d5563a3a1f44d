// Coordinator: runs replicated reads and writes (DESIGN.md: Coordination).
// Any node coordinates any request: it plans the request from the key's
// preference list (quorum::PlanWrite/PlanRead), sends what the plan says to
// the replicas (itself through the LocalReplica, the others over the peer
// transport, through the Env), feeds every reply and the deadline into a quorum tally, and
// answers once the tally decides. After answering a read it waits for the
// remaining replies and repairs stale replicas.
//
// It also answers the replication requests of other coordinators
// (MintWrite, ReplicaSync, ReplicaRead, HintBatch).
//
// Threads: the event loop's only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "common/env.h"
#include "common/object.h"
#include "common/status.h"
#include "net/peer_transport.h"
#include "quorum/replica.h"
#include "quorum/tally.h"
#include "ring/ring.h"

namespace dynkv::node {

// Who is in the cluster and how to reach them: the membership, seen from
// the coordinator.
class ClusterView {
 public:
  virtual ~ClusterView() = default;
  virtual std::shared_ptr<const ring::Ring> CurrentRing() const = 0;
  virtual bool IsUp(const std::string& node_id) const = 0;
  // The peer address of a known node; empty when unknown.
  virtual std::string PeerAddress(const std::string& node_id) const = 0;
  // False in the first moments after a start, before this node has heard
  // the cluster: its ring and its judgement of the others are not yet to be
  // trusted (a partial ring would make N look smaller than it is).
  virtual bool Ready() const = 0;
};

// Where a stand-in keeps the writes of a down node (hinted handoff).
class HintSink {
 public:
  virtual ~HintSink() = default;
  // Stores `object` as a hint for `target`, durably, then done(status).
  virtual void StoreHint(const std::string& target, const std::string& key, const Object& object,
                         std::function<void(Status)> done) = 0;
};

struct CoordinatorOptions {
  std::string self_id;
  uint32_t n = 3;          // replication.n (capped by the nodes in the ring)
  uint32_t default_r = 2;
  uint32_t default_w = 2;
  bool sloppy_quorum = true;
  bool hinted_writes_count = true;
  uint32_t default_timeout_ms = 5000;
};

struct CoordinatorStats {
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t read_repairs = 0;       // repair writes sent to stale replicas
  uint64_t hinted_writes = 0;      // writes sent to a stand-in as a hint
  uint64_t forwarded_mints = 0;    // writes minted on another replica
};

class Coordinator {
 public:
  using ObjectDone = std::function<void(Result<Object>)>;

  // REQUIRES: everything passed outlives the coordinator.
  Coordinator(Env& env, quorum::LocalReplica& replica, const ClusterView& cluster, HintSink& hints,
              CoordinatorOptions options);
  ~Coordinator();

  // A client read: done(merged object) once R replicas replied.
  // `requested_r` as on the wire (0: default; named levels).
  void Get(const std::string& key, uint32_t requested_r, uint32_t timeout_ms, ObjectDone done);
  // A client write of `sibling` (a value or a tombstone) with the client's
  // context: done(the object on the replica that minted it) once W replicas
  // have it durably.
  void Put(const std::string& key, VersionVector context, Sibling sibling, uint32_t requested_w,
           uint32_t timeout_ms, ObjectDone done);

  // Answers a replication request from another node; false when `request`
  // is not one (so the caller tries another handler).
  bool HandlePeer(const peer::PeerRequest& request, net::PeerRequestHandler::Reply& reply);

  // Decides every request whose deadline has passed (TIMEOUT with how many
  // replicas answered). Called from the node's sweep timer.
  void ExpireOverdue();

  const CoordinatorStats& stats() const { return stats_; }
  size_t in_progress() const { return reads_.size() + writes_.size(); }

 private:
  struct ReadOp;
  struct WriteOp;

  Result<std::vector<ring::Replica>> PreferenceList(const std::string& key, uint32_t* n) const;
  int64_t DeadlineFor(uint32_t timeout_ms) const;

  // Replica calls, local or remote.
  void Mint(const std::string& node, const std::string& key, const VersionVector& context, const Sibling& sibling,
            ObjectDone done);
  void Sync(const std::string& node, const std::string& key, const Object& object, const std::string& hint_for,
            std::function<void(Status)> done);
  void Read(const std::string& node, const std::string& key, ObjectDone done);
  // A peer call to node `node_id`, at the address the cluster knows for it.
  void CallNode(const std::string& node_id, peer::PeerRequest request, Env::PeerCallback done);

  void OnMinted(uint64_t op_id, Result<Object> minted);
  void SettleWrite(uint64_t op_id);
  void SettleRead(uint64_t op_id);

  void HandleMint(const peer::MintWrite& mint, net::PeerRequestHandler::Reply reply);
  void HandleSync(const peer::ReplicaSync& sync, net::PeerRequestHandler::Reply reply);
  void HandleHintBatch(const peer::HintBatch& batch, net::PeerRequestHandler::Reply reply);

  Env& env_;
  const Clock& clock_;
  quorum::LocalReplica& replica_;
  const ClusterView& cluster_;
  HintSink& hints_;
  CoordinatorOptions options_;
  CoordinatorStats stats_;
  uint64_t next_op_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<ReadOp>> reads_;
  std::unordered_map<uint64_t, std::unique_ptr<WriteOp>> writes_;
};

}  // namespace dynkv::node
