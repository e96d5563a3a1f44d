#include "quorum/coordinator.h"
#include "quorum/coordinator_ops.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "common/key_hash.h"
#include "common/log.h"
#include "net/peer_transport.h"
#include "quorum/datacenter_levels.h"
#include "quorum/dvv.h"
#include "quorum/object_wire.h"

namespace dynkv::quorum {


namespace {

peer::PeerResponse ObjectResponse(const Object& object) {
  peer::PeerResponse response;
  ToProto(object, response.mutable_object());
  return response;
}

Result<Object> ObjectFrom(Result<peer::PeerResponse> response) {
  if (!response.ok()) return response.status();
  if (!response->has_object()) return Status::Internal("a replica answered without an object");
  return FromProto(response->object());
}

}  // namespace

std::string_view StageName(ReadStage stage) {
  return stage == ReadStage::kWaitingForR ? "waiting_for_r" : "repairing";
}

std::string_view StageName(WriteStage stage) {
  return stage == WriteStage::kMinting ? "minting" : "waiting_for_w";
}

Coordinator::Coordinator(Env& env, LocalReplica& replica, const ClusterView& cluster, HintSink& hints,
                         CoordinatorOptions options)
    : env_(env),
      clock_(env.clock()),
      replica_(replica),
      cluster_(cluster),
      hints_(hints),
      options_(std::move(options)),
      deadlines_(env, [this](uint64_t id) { Expire(id); }),
      mint_deadlines_(env, [this](uint64_t id) { OnMintSlow(id); }),
      latency_(options_.latency) {}

Coordinator::~Coordinator() = default;

int64_t Coordinator::DeadlineFor(uint32_t timeout_ms) const {
  return clock_.MonotonicMs() + (timeout_ms != 0 ? timeout_ms : options_.default_timeout_ms);
}

std::optional<ReadStage> Coordinator::read_stage(uint64_t id) const {
  auto it = reads_.find(id);
  if (it == reads_.end()) return std::nullopt;
  return it->second->stage;
}

std::optional<WriteStage> Coordinator::write_stage(uint64_t id) const {
  auto it = writes_.find(id);
  if (it == writes_.end()) return std::nullopt;
  return it->second->stage;
}

// N is replication.n capped by the nodes that own tokens, so a cluster of
// one answers with N = 1 (DESIGN.md: a node with no seeds is a cluster of one).
Status Coordinator::Overloaded(const Status& planned) {
  if (planned.code() != Code::kUnavailable) return planned;
  return Status::Overloaded(planned.message() + "; replicas have too many requests outstanding "
                                                "(replication.max_pending_per_peer): retry later");
}

Result<std::vector<ring::Replica>> Coordinator::PreferenceList(const std::string& key, uint32_t* n,
                                                               bool* saturated) const {
  if (!cluster_.Ready()) {
    return Status::Unavailable(
        "this node started moments ago and has not heard from the cluster yet; retry, or "
        "ask another node");
  }
  std::shared_ptr<const ring::Ring> ring = cluster_.CurrentRing();
  if (ring->empty()) return Status::Unavailable("no node owns part of the ring yet: the cluster is starting");
  *n = static_cast<uint32_t>(ring->ReplicaCount(options_.n));
  // A peer with too many calls outstanding is as good as down for a new request.
  auto is_up = [this, saturated](const std::string& id) {
    if (id == options_.self_id) return true;
    if (!cluster_.IsUp(id)) return false;
    if (!latency_.Saturated(id)) return true;
    if (saturated != nullptr) *saturated = true;
    return false;
  };
  const uint64_t position = KeyPosition(key);
  std::vector<ring::Replica> strict = ring->PreferenceList(position, *n, is_up, ring::Quorum::kStrict);
  // With every primary up the sloppy list is the strict one: skip the second walk.
  const bool all_up = std::all_of(strict.begin(), strict.end(), [](const ring::Replica& r) { return r.up; });
  if (!options_.sloppy_quorum || all_up) return strict;
  return WithUncoveredPrimaries(ring->PreferenceList(position, *n, is_up, ring::Quorum::kSloppy), strict);
}

Result<ReadPlan> Coordinator::PlanReadFor(const std::vector<ring::Replica>& list, uint32_t n,
                                          uint32_t requested_r) const {
  if (IsDatacenterLevel(requested_r)) {
    return PlanDatacenterRead(list, *cluster_.CurrentRing(), requested_r, options_.datacenter);
  }
  auto r = ResolveQuorum(requested_r, options_.default_r, n, "r");
  if (!r.ok()) return r.status();
  return PlanRead(list, n, *r);
}

Result<WritePlan> Coordinator::PlanWriteFor(const std::vector<ring::Replica>& list, uint32_t n,
                                            uint32_t requested_w) const {
  WriteOptions options{n, 1, options_.sloppy_quorum, options_.hinted_writes_count};
  if (IsDatacenterLevel(requested_w)) {
    return PlanDatacenterWrite(list, *cluster_.CurrentRing(), requested_w, options_.datacenter, options);
  }
  auto w = ResolveQuorum(requested_w, options_.default_w, n, "w");
  if (!w.ok()) return w.status();
  options.w = *w;
  return PlanWrite(list, options);
}

// While the ring moves the key's range, the nodes it moves to get the write
// too; their acks never count for W (CASSANDRA-8058: counting them raised
// W and timed writes out).
void Coordinator::AddPendingReplicas(const std::string& key, WritePlan* plan) {
  for (const std::string& node : cluster_.PendingReplicas(KeyPosition(key))) {
    const bool listed = std::any_of(plan->targets.begin(), plan->targets.end(),
                                    [&](const WriteTarget& t) { return t.node_id == node; });
    if (listed) continue;
    plan->targets.push_back(WriteTarget{node, "", false});
    ++stats_.pending_writes;
  }
}

// The deadline found operation `id` in some stage: the tally says what that means.
void Coordinator::Expire(uint64_t id) {
  const int64_t now = clock_.MonotonicMs();
  if (auto w = writes_.find(id); w != writes_.end()) {
    WriteOp& op = *w->second;
    ++(op.stage == WriteStage::kMinting ? stats_.timeouts_minting : stats_.timeouts_waiting_for_w);
    op.tally.OnDeadline(static_cast<uint64_t>(now - op.started_ms));
    return SettleWrite(id);
  }
  if (auto r = reads_.find(id); r != reads_.end()) {
    ReadOp& op = *r->second;
    ++(op.stage == ReadStage::kWaitingForR ? stats_.timeouts_waiting_for_r : stats_.timeouts_repairing);
    op.tally.OnDeadline(static_cast<uint64_t>(now - op.started_ms));
    SettleRead(id);
  }
}

// ---- Reads -------------------------------------------------------------------

void Coordinator::Get(const std::string& key, uint32_t requested_r, uint32_t timeout_ms, ObjectDone done) {
  ++stats_.reads;
  uint32_t n = 0;
  bool saturated = false;
  auto list = PreferenceList(key, &n, &saturated);
  if (!list.ok()) return done(list.status());
  auto plan = PlanReadFor(*list, n, requested_r);
  if (!plan.ok()) {
    if (saturated) ++stats_.overloaded;
    return done(saturated ? Overloaded(plan.status()) : plan.status());
  }

  const uint64_t id = next_op_++;
  reads_.emplace(
      id, std::make_unique<ReadOp>(ReadOp{key, clock_.MonotonicMs(), ReadTally(*plan), std::move(done)}));
  deadlines_.Set(id, DeadlineFor(timeout_ms));
  for (const ReadTarget& target : plan->targets) {
    Read(target.node_id, key, [this, id, node = target.node_id](Result<Object> object) {
      auto it = reads_.find(id);
      if (it == reads_.end()) return;
      if (object.ok())
        it->second->tally.OnReply(node, *object);
      else
        it->second->tally.OnError(node, object.status());
      SettleRead(id);
    });
  }
}

// waiting_for_r: answer once the tally decides; repairing: once every
// replica answered (or the deadline passed), send the merge to the stale ones.
void Coordinator::SettleRead(uint64_t id) {
  auto it = reads_.find(id);
  if (it == reads_.end()) return;
  ReadOp& op = *it->second;
  const bool finished = op.tally.finished();
  const std::vector<std::string> repairs = finished ? op.tally.RepairTargets() : std::vector<std::string>();
  if (op.stage == ReadStage::kWaitingForR && op.tally.state() != TallyState::kWaiting) {
    op.stage = ReadStage::kRepairing;
    ObjectDone done = std::exchange(op.done, nullptr);
    if (op.tally.state() != TallyState::kSucceeded) {
      done(op.tally.status());
    } else if (finished && repairs.empty()) {
      // Nothing left to repair with the merge: hand it over instead of a copy.
      Object merged = op.tally.TakeMerged();
      reads_.erase(it);
      return done(std::move(merged));
    } else {
      done(op.tally.merged());
    }
  }
  if (!finished) return;
  // Read repair, after answering: each stale replica merges the result.
  for (const std::string& node : repairs) {
    ++stats_.read_repairs;
    Sync(node, op.key, op.tally.merged(), "", [node](Status status) {
      if (!status.ok()) DYNKV_LOG(kDebug) << "read repair of a key on " << node << ": " << status.ToString();
    });
  }
  reads_.erase(it);
}

void Coordinator::FillStats(std::map<std::string, double>* values) const {
  auto& v = *values;
  const CoordinatorStats& c = stats_;
  v["coordinator.reads"] = static_cast<double>(c.reads);
  v["coordinator.writes"] = static_cast<double>(c.writes);
  v["coordinator.read_repairs"] = static_cast<double>(c.read_repairs);
  v["coordinator.hinted_writes"] = static_cast<double>(c.hinted_writes);
  v["coordinator.forwarded_mints"] = static_cast<double>(c.forwarded_mints);
  v["coordinator.pending_writes"] = static_cast<double>(c.pending_writes);
  v["coordinator.mint_failovers"] = static_cast<double>(c.mint_failovers);
  v["coordinator.late_mints"] = static_cast<double>(c.late_mints);
  v["coordinator.replanned"] = static_cast<double>(c.replanned);
  v["coordinator.overloaded"] = static_cast<double>(c.overloaded);
  v["coordinator.timeouts.waiting_for_r"] = static_cast<double>(c.timeouts_waiting_for_r);
  v["coordinator.timeouts.repairing"] = static_cast<double>(c.timeouts_repairing);
  v["coordinator.timeouts.minting"] = static_cast<double>(c.timeouts_minting);
  v["coordinator.timeouts.waiting_for_w"] = static_cast<double>(c.timeouts_waiting_for_w);
  for (const auto& [node, ms] : latency_.Smoothed()) v["coordinator.latency_ms." + node] = ms;
}

// ---- Replica calls, local or remote ------------------------------------------

void Coordinator::Mint(const std::string& node, const std::string& key, const VersionVector& context,
                       const Sibling& sibling, ObjectDone done) {
  if (node == options_.self_id) return replica_.Write(key, context, sibling, std::move(done));
  peer::PeerRequest request;
  peer::MintWrite* mint = request.mutable_mint_write();
  mint->set_key(key);
  mint->set_context(dvv::EncodeContext(context));
  mint->set_value(sibling.value);
  mint->set_tombstone(sibling.tombstone);
  mint->set_expires_at_ms(sibling.expires_at_ms);
  CallNode(node, std::move(request), [done = std::move(done)](Result<peer::PeerResponse> response) {
    done(ObjectFrom(std::move(response)));
  });
}

void Coordinator::Sync(const std::string& node, const std::string& key, const Object& object,
                       const std::string& hint_for, std::function<void(Status)> done) {
  if (node == options_.self_id) {
    if (!hint_for.empty()) return hints_.StoreHint(hint_for, key, object, std::move(done));
    return replica_.Apply(key, object,
                          [done = std::move(done)](Result<Object> stored) { done(stored.status()); });
  }
  peer::PeerRequest request;
  peer::ReplicaSync* sync = request.mutable_replica_sync();
  sync->set_key(key);
  ToProto(object, sync->mutable_object());
  sync->set_hint_for(hint_for);
  CallNode(node, std::move(request),
           [done = std::move(done)](Result<peer::PeerResponse> response) { done(response.status()); });
}

void Coordinator::Read(const std::string& node, const std::string& key, ObjectDone done) {
  if (node == options_.self_id) return replica_.Read(key, std::move(done));
  peer::PeerRequest request;
  request.mutable_replica_read()->set_key(key);
  CallNode(node, std::move(request), [done = std::move(done)](Result<peer::PeerResponse> response) {
    done(ObjectFrom(std::move(response)));
  });
}

void Coordinator::CallNode(const std::string& node_id, peer::PeerRequest request, Env::PeerCallback done) {
  const std::string address = cluster_.PeerAddress(node_id);
  if (address.empty()) return done(Status::Unavailable("node " + node_id + " has no known peer address"));
  const uint64_t call = next_call_++;
  latency_.Sent(node_id, call, clock_.MonotonicMs());
  env_.CallPeer(address, std::move(request), 0,
                [this, node_id, call, done = std::move(done)](Result<peer::PeerResponse> response) {
                  latency_.Answered(node_id, call, clock_.MonotonicMs(), response.ok());
                  done(std::move(response));
                });
}

// ---- The replica side ---------------------------------------------------------

bool ReplicaService::Handle(const peer::PeerRequest& request, Reply& reply) {
  switch (request.op_case()) {
    case peer::PeerRequest::kMintWrite:
      HandleMint(request.mint_write(), std::move(reply));
      return true;
    case peer::PeerRequest::kReplicaSync:
      HandleSync(request.replica_sync(), std::move(reply));
      return true;
    case peer::PeerRequest::kReplicaRead:
      replica_.Read(request.replica_read().key(), [reply = std::move(reply)](Result<Object> object) {
        reply(object.ok() ? ObjectResponse(*object) : net::PeerErrorResponse(object.status()));
      });
      return true;
    default:
      return false;
  }
}

void ReplicaService::HandleMint(const peer::MintWrite& mint, Reply reply) {
  auto context = dvv::DecodeContext(mint.context());
  if (!context.ok()) return reply(net::PeerErrorResponse(context.status()));
  Sibling sibling;
  sibling.value = mint.value();
  sibling.tombstone = mint.tombstone();
  sibling.expires_at_ms = mint.expires_at_ms();
  replica_.Write(mint.key(), std::move(*context), std::move(sibling),
                 [reply = std::move(reply)](Result<Object> object) {
                   reply(object.ok() ? ObjectResponse(*object) : net::PeerErrorResponse(object.status()));
                 });
}

void ReplicaService::HandleSync(const peer::ReplicaSync& sync, Reply reply) {
  auto object = FromProto(sync.object());
  if (!object.ok()) return reply(net::PeerErrorResponse(object.status()));
  auto answer = [reply = std::move(reply)](Status status) {
    reply(status.ok() ? peer::PeerResponse() : net::PeerErrorResponse(status));
  };
  if (!sync.hint_for().empty())
    return hints_.StoreHint(sync.hint_for(), sync.key(), *object, std::move(answer));
  replica_.Apply(sync.key(), std::move(*object),
                 [answer = std::move(answer)](Result<Object> stored) { answer(stored.status()); });
}

}  // namespace dynkv::quorum
