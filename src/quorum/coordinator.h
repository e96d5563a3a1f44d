// Coordination (DESIGN.md: Coordination): the public surface of replicated
// reads and writes, for the node to wire.
//
// - Coordinator: any node coordinates any request. It plans the request
//   from the key's preference list (PlanWrite/PlanRead), sends what the
//   plan says to the replicas (itself through the LocalReplica, the others
//   as Env peer calls), feeds every reply into a tally, and answers once
//   the tally decides. Each operation moves through named stages, as Riak's
//   get and put FSMs do, and has one deadline (a Deadlines entry):
//     read:  waiting_for_r -> repairing (answered; waiting for the other
//            replies to repair stale replicas) -> done
//     write: minting (one replica mints the dot) -> waiting_for_w -> done
//   Whatever stage the deadline finds an operation in decides its answer.
// - Gray failures (issue 18): the minter is this node when it is a live
//   primary, else the primary expected to answer first (PeerLatency); a
//   mint not answered within the minter's adaptive bound, or that fails,
//   goes to the next live primary (a late first mint leaves the write on
//   its minter under a second dot: siblings of equal value, which the next
//   write with a context merges; nothing is lost or applied twice under one
//   dot). A peer judged down (OnPeerDown) is re-planned around at once:
//   its mint moves on, a write waiting on its copy sends a hint to a stand-in,
//   a read stops waiting for it. A peer with too many calls outstanding is
//   treated as down for new requests (a stand-in takes its writes).
// - ReplicaService: the replica side of other coordinators' requests
//   (MintWrite, ReplicaSync, ReplicaRead) on this node's LocalReplica.
//
// No net or libuv types: peers are reached through the Env, replies are
// wire messages (proto/peer.proto).
//
// Threads: the env's loop only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/deadlines.h"
#include "common/env.h"
#include "common/object.h"
#include "common/status.h"
#include "quorum/latency.h"
#include "quorum/options.h"
#include "quorum/replica.h"
#include "quorum/tally.h"
#include "ring/ring.h"

namespace dynkv::peer {
class MintWrite;
class ReplicaSync;
}  // namespace dynkv::peer

namespace dynkv::quorum {

// Who is in the cluster and how to reach them, seen from the coordinator.
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
  // Nodes the ring is moving the key's range to (DESIGN.md: Data movement),
  // judged up: they get every write too, which never counts for W, and no
  // read waits on them.
  virtual std::vector<std::string> PendingReplicas(uint64_t position) const {
    (void)position;
    return {};
  }
  // Every node that holds, or is about to hold, the key's range: its
  // current primaries and its pending replicas.
  virtual std::vector<std::string> Owners(uint64_t position) const {
    (void)position;
    return {};
  }
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
  // This node's id: its own replica is reached through the LocalReplica.
  std::string self_id;
  // Its location.datacenter: the local one of local_quorum.
  std::string datacenter;
  // Replicas per key, capped by the nodes in the ring.
  uint32_t n = ReplicationOptions{}.n;
  // Replies a read waits for, and copies a write waits for, when the
  // request says 0.
  uint32_t default_r = ReplicationOptions{}.r;
  uint32_t default_w = ReplicationOptions{}.w;
  bool sloppy_quorum = ReplicationOptions{}.sloppy_quorum;
  bool hinted_writes_count = ReplicationOptions{}.hinted_writes_count;
  // The deadline of a request that names none (request_timeout; the node
  // sets it from its config).
  uint32_t default_timeout_ms = 5000;
  // Mint failover bounds and the per-peer cap on calls outstanding.
  PeerLatencyOptions latency;
};

enum class ReadStage { kWaitingForR, kRepairing };
enum class WriteStage { kMinting, kWaitingForW };
std::string_view StageName(ReadStage stage);   // "waiting_for_r", "repairing"
std::string_view StageName(WriteStage stage);  // "minting", "waiting_for_w"

struct CoordinatorStats {
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t read_repairs = 0;     // repair writes sent to stale replicas
  uint64_t hinted_writes = 0;    // writes sent to a stand-in as a hint
  uint64_t forwarded_mints = 0;  // writes minted on another replica
  uint64_t pending_writes = 0;   // copies sent to a node a moving range goes to
  uint64_t mint_failovers = 0;   // mints moved to another replica (slow, failed or down)
  uint64_t late_mints = 0;       // mints answered after another replica had minted the write
  uint64_t replanned = 0;        // targets given up for down (a read's) or replaced by a stand-in (a write's)
  uint64_t overloaded = 0;       // requests refused because replicas had too many calls outstanding
  // Deadlines that passed, by the stage they found the operation in.
  uint64_t timeouts_waiting_for_r = 0;
  uint64_t timeouts_repairing = 0;  // the read was answered; some replies never came
  uint64_t timeouts_minting = 0;
  uint64_t timeouts_waiting_for_w = 0;
};

class Coordinator {
 public:
  using ObjectDone = std::function<void(Result<Object>)>;

  // REQUIRES: everything passed outlives the coordinator, and the env
  // answers or drops its peer calls before the coordinator goes (callbacks
  // hold `this`): the node closes its peer connections first
  // (UvEnv::ClosePeers); a killed simulated node ends its SimEnv with it.
  Coordinator(Env& env, LocalReplica& replica, const ClusterView& cluster, HintSink& hints,
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

  // The failure detector judged `node_id` down: requests waiting on it are
  // re-planned now rather than at their deadline.
  void OnPeerDown(const std::string& node_id);

  const CoordinatorStats& stats() const { return stats_; }
  // "coordinator.*" counters, and each peer's smoothed response time
  // ("coordinator.latency_ms.<node>").
  void FillStats(std::map<std::string, double>* values) const;
  const PeerLatency& latency() const { return latency_; }
  size_t in_progress() const { return reads_.size() + writes_.size(); }
  // The stage of operation `id` (ids count from 1 in the order operations
  // started); nothing once it is done.
  std::optional<ReadStage> read_stage(uint64_t id) const;
  std::optional<WriteStage> write_stage(uint64_t id) const;

 private:
  struct ReadOp;
  struct WriteOp;

  // `saturated` (may be null): set when a primary was left out for its
  // outstanding calls (the request then fails as OVERLOADED, not UNAVAILABLE).
  Result<std::vector<ring::Replica>> PreferenceList(const std::string& key, uint32_t* n, bool* saturated) const;
  // The plan for a request's r or w: a count or named level over the n of
  // the list, or a per-datacenter level (datacenter_levels.h).
  Result<ReadPlan> PlanReadFor(const std::vector<ring::Replica>& list, uint32_t n, uint32_t requested_r) const;
  Result<WritePlan> PlanWriteFor(const std::vector<ring::Replica>& list, uint32_t n, uint32_t requested_w) const;
  static Status Overloaded(const Status& planned);
  int64_t DeadlineFor(uint32_t timeout_ms) const;
  void AddPendingReplicas(const std::string& key, WritePlan* plan);

  // Replica calls, local or remote.
  void Mint(const std::string& node, const std::string& key, const VersionVector& context,
            const Sibling& sibling, ObjectDone done);
  void Sync(const std::string& node, const std::string& key, const Object& object,
            const std::string& hint_for, std::function<void(Status)> done);
  void Read(const std::string& node, const std::string& key, ObjectDone done);
  // A peer call to node `node_id`, at the address the cluster knows for it.
  void CallNode(const std::string& node_id, peer::PeerRequest request, Env::PeerCallback done);

  // Asks the next candidate to mint; false when none is left.
  bool MintNext(uint64_t op_id);
  const std::string* NextMinter(const WriteOp& op) const;
  void OnMinted(uint64_t op_id, const std::string& minter, Result<Object> minted);
  void OnMintSlow(uint64_t op_id);
  void SyncToTargets(uint64_t op_id, const std::vector<WriteTarget>& targets, const Object& object);
  // A stand-in (hint) for target `node_id` of a write waiting on its copy;
  // then the target counts as failed.
  void ReplaceTarget(uint64_t op_id, const std::string& node_id, const Status& why);
  void SettleWrite(uint64_t op_id);
  void SettleRead(uint64_t op_id);
  void Expire(uint64_t op_id);

  Env& env_;
  const Clock& clock_;
  LocalReplica& replica_;
  const ClusterView& cluster_;
  HintSink& hints_;
  CoordinatorOptions options_;
  CoordinatorStats stats_;
  Deadlines deadlines_;
  Deadlines mint_deadlines_;  // when each op's current minter counts as slow
  PeerLatency latency_;
  uint64_t next_call_ = 1;
  uint64_t next_op_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<ReadOp>> reads_;
  std::unordered_map<uint64_t, std::unique_ptr<WriteOp>> writes_;
};

// The replica side of replication: answers MintWrite (mint the dot here and
// store), ReplicaSync (merge a replica's object, or keep it as a hint) and
// ReplicaRead from other coordinators.
class ReplicaService {
 public:
  using Reply = std::function<void(peer::PeerResponse)>;

  // REQUIRES: replica and hints outlive the service.
  ReplicaService(LocalReplica& replica, HintSink& hints) : replica_(replica), hints_(hints) {}

  // Answers `request` (exactly one reply, maybe later); false when it is not
  // a replication request, so the caller tries another handler.
  bool Handle(const peer::PeerRequest& request, Reply& reply);

 private:
  void HandleMint(const peer::MintWrite& mint, Reply reply);
  void HandleSync(const peer::ReplicaSync& sync, Reply reply);

  LocalReplica& replica_;
  HintSink& hints_;
};

}  // namespace dynkv::quorum
