#include "node/coordinator.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "common/key_hash.h"
#include "common/log.h"
#include "handoff/handoff.h"
#include "quorum/dvv.h"
#include "quorum/object_wire.h"

namespace dynkv::node {

struct Coordinator::ReadOp {
  std::string key;
  int64_t started_ms = 0;
  int64_t deadline_ms = 0;
  quorum::ReadTally tally;
  ObjectDone done;  // empty once answered
};

struct Coordinator::WriteOp {
  std::string key;
  int64_t started_ms = 0;
  int64_t deadline_ms = 0;
  quorum::WritePlan plan;
  quorum::WriteTally tally;
  ObjectDone done;  // empty once answered
  Object minted;    // the object on the replica that minted the dot
};

namespace {

peer::PeerResponse ObjectResponse(const Object& object) {
  peer::PeerResponse response;
  quorum::ToProto(object, response.mutable_object());
  return response;
}

Result<Object> ObjectFrom(Result<peer::PeerResponse> response) {
  if (!response.ok()) return response.status();
  if (!response->has_object()) return Status::Internal("a replica answered without an object");
  return quorum::FromProto(response->object());
}

}  // namespace

Coordinator::Coordinator(Env& env, quorum::LocalReplica& replica, const ClusterView& cluster, HintSink& hints,
                         CoordinatorOptions options)
    : env_(env),
      clock_(env.clock()),
      replica_(replica),
      cluster_(cluster),
      hints_(hints),
      options_(std::move(options)) {}

Coordinator::~Coordinator() = default;

int64_t Coordinator::DeadlineFor(uint32_t timeout_ms) const {
  return clock_.MonotonicMs() + (timeout_ms != 0 ? timeout_ms : options_.default_timeout_ms);
}

// N is replication.n capped by the nodes that own tokens, so a cluster of
// one answers with N = 1 (DESIGN.md: a node with no seeds is a cluster of one).
Result<std::vector<ring::Replica>> Coordinator::PreferenceList(const std::string& key, uint32_t* n) const {
  if (!cluster_.Ready()) {
    return Status::Unavailable("this node started moments ago and has not heard from the cluster yet; retry, or "
                               "ask another node");
  }
  std::shared_ptr<const ring::Ring> ring = cluster_.CurrentRing();
  if (ring->empty()) return Status::Unavailable("no node owns part of the ring yet: the cluster is starting");
  *n = static_cast<uint32_t>(std::min<size_t>(options_.n, ring->nodes().size()));
  auto is_up = [this](const std::string& id) { return id == options_.self_id || cluster_.IsUp(id); };
  const uint64_t position = KeyPosition(key);
  std::vector<ring::Replica> strict = ring->PreferenceList(position, *n, is_up, ring::Quorum::kStrict);
  // With every primary up the sloppy list is the strict one: skip the second walk.
  const bool all_up = std::all_of(strict.begin(), strict.end(), [](const ring::Replica& r) { return r.up; });
  if (!options_.sloppy_quorum || all_up) return strict;
  return quorum::WithUncoveredPrimaries(ring->PreferenceList(position, *n, is_up, ring::Quorum::kSloppy), strict);
}

// ---- Reads -------------------------------------------------------------------

void Coordinator::Get(const std::string& key, uint32_t requested_r, uint32_t timeout_ms, ObjectDone done) {
  ++stats_.reads;
  uint32_t n = 0;
  auto list = PreferenceList(key, &n);
  if (!list.ok()) return done(list.status());
  auto r = quorum::ResolveQuorum(requested_r, options_.default_r, n, "r");
  if (!r.ok()) return done(r.status());
  auto plan = quorum::PlanRead(*list, n, *r);
  if (!plan.ok()) return done(plan.status());

  const uint64_t id = next_op_++;
  const int64_t now = clock_.MonotonicMs();
  auto op = std::make_unique<ReadOp>(ReadOp{key, now, DeadlineFor(timeout_ms), quorum::ReadTally(*plan),
                                            std::move(done)});
  reads_.emplace(id, std::move(op));
  for (const quorum::ReadTarget& target : plan->targets) {
    Read(target.node_id, key, [this, id, node = target.node_id](Result<Object> object) {
      auto it = reads_.find(id);
      if (it == reads_.end()) return;
      if (object.ok()) it->second->tally.OnReply(node, *object);
      else it->second->tally.OnError(node, object.status());
      SettleRead(id);
    });
  }
}

void Coordinator::SettleRead(uint64_t id) {
  auto it = reads_.find(id);
  if (it == reads_.end()) return;
  ReadOp& op = *it->second;
  const bool finished = op.tally.finished();
  const std::vector<std::string> repairs = finished ? op.tally.RepairTargets() : std::vector<std::string>();
  if (op.done && op.tally.state() != quorum::TallyState::kWaiting) {
    ObjectDone done = std::exchange(op.done, nullptr);
    if (op.tally.state() != quorum::TallyState::kSucceeded) {
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

// ---- Writes ------------------------------------------------------------------

void Coordinator::Put(const std::string& key, VersionVector context, Sibling sibling, uint32_t requested_w,
                      uint32_t timeout_ms, ObjectDone done) {
  ++stats_.writes;
  uint32_t n = 0;
  auto list = PreferenceList(key, &n);
  if (!list.ok()) return done(list.status());
  auto w = quorum::ResolveQuorum(requested_w, options_.default_w, n, "w");
  if (!w.ok()) return done(w.status());
  quorum::WriteOptions write_options{n, *w, options_.sloppy_quorum, options_.hinted_writes_count};
  auto plan = quorum::PlanWrite(*list, write_options);
  if (!plan.ok()) return done(plan.status());

  const uint64_t id = next_op_++;
  const std::string minter = plan->targets.front().node_id;
  auto op = std::make_unique<WriteOp>(WriteOp{key, clock_.MonotonicMs(), DeadlineFor(timeout_ms), *plan,
                                              quorum::WriteTally(*plan), std::move(done), Object{}});
  writes_.emplace(id, std::move(op));
  if (minter != options_.self_id) ++stats_.forwarded_mints;
  Mint(minter, key, context, sibling, [this, id](Result<Object> minted) { OnMinted(id, std::move(minted)); });
}

// The minting replica answered: its copy counts, and the others get it.
void Coordinator::OnMinted(uint64_t id, Result<Object> minted) {
  auto it = writes_.find(id);
  if (it == writes_.end()) return;
  WriteOp& op = *it->second;
  const std::string& minter = op.plan.targets.front().node_id;
  if (!minted.ok()) {
    // Nothing was minted, so no other replica can get the write.
    for (const quorum::WriteTarget& target : op.plan.targets) op.tally.OnError(target.node_id, minted.status());
    return SettleWrite(id);
  }
  op.minted = std::move(*minted);
  op.tally.OnAck(minter);
  // A send may fail at once, inside the call, and settle and erase the op:
  // from here on, work from copies and never touch `op` again.
  const std::string key = op.key;
  const Object object = op.minted;
  const std::vector<quorum::WriteTarget> others(op.plan.targets.begin() + 1, op.plan.targets.end());
  const std::vector<quorum::KeptHint> kept_hints = op.plan.kept_hints;
  for (const quorum::WriteTarget& target : others) {
    if (!target.hint_for.empty()) ++stats_.hinted_writes;
    Sync(target.node_id, key, object, target.hint_for, [this, id, node = target.node_id](Status status) {
      auto it = writes_.find(id);
      if (it == writes_.end()) return;
      if (status.ok()) it->second->tally.OnAck(node);
      else it->second->tally.OnError(node, status);
      SettleWrite(id);
    });
  }
  for (const quorum::KeptHint& kept : kept_hints) {
    ++stats_.hinted_writes;
    Sync(kept.keeper, key, object, kept.hint_for, [](Status) {});  // never counts towards W
  }
  SettleWrite(id);
}

void Coordinator::SettleWrite(uint64_t id) {
  auto it = writes_.find(id);
  if (it == writes_.end()) return;
  WriteOp& op = *it->second;
  if (op.tally.state() == quorum::TallyState::kWaiting) return;
  ObjectDone done = std::move(op.done);
  Result<Object> result = op.tally.state() == quorum::TallyState::kSucceeded ? Result<Object>(std::move(op.minted))
                                                                              : Result<Object>(op.tally.status());
  writes_.erase(it);  // late acks find nothing and are dropped
  done(std::move(result));
}

void Coordinator::ExpireOverdue() {
  const int64_t now = clock_.MonotonicMs();
  std::vector<uint64_t> overdue;
  for (const auto& [id, op] : writes_) {
    if (op->deadline_ms <= now) overdue.push_back(id);
  }
  // Settling one op runs its callback, which may settle others: look each up again.
  for (uint64_t id : overdue) {
    auto it = writes_.find(id);
    if (it == writes_.end()) continue;
    it->second->tally.OnDeadline(static_cast<uint64_t>(now - it->second->started_ms));
    SettleWrite(id);
  }
  overdue.clear();
  for (const auto& [id, op] : reads_) {
    if (op->deadline_ms <= now) overdue.push_back(id);
  }
  for (uint64_t id : overdue) {
    auto it = reads_.find(id);
    if (it == reads_.end()) continue;
    it->second->tally.OnDeadline(static_cast<uint64_t>(now - it->second->started_ms));
    SettleRead(id);
  }
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
  CallNode(node, std::move(request),
              [done = std::move(done)](Result<peer::PeerResponse> response) { done(ObjectFrom(std::move(response))); });
}

void Coordinator::Sync(const std::string& node, const std::string& key, const Object& object,
                       const std::string& hint_for, std::function<void(Status)> done) {
  if (node == options_.self_id) {
    if (!hint_for.empty()) return hints_.StoreHint(hint_for, key, object, std::move(done));
    return replica_.Apply(key, object, [done = std::move(done)](Result<Object> stored) { done(stored.status()); });
  }
  peer::PeerRequest request;
  peer::ReplicaSync* sync = request.mutable_replica_sync();
  sync->set_key(key);
  quorum::ToProto(object, sync->mutable_object());
  sync->set_hint_for(hint_for);
  CallNode(node, std::move(request),
              [done = std::move(done)](Result<peer::PeerResponse> response) { done(response.status()); });
}

void Coordinator::Read(const std::string& node, const std::string& key, ObjectDone done) {
  if (node == options_.self_id) return replica_.Read(key, std::move(done));
  peer::PeerRequest request;
  request.mutable_replica_read()->set_key(key);
  CallNode(node, std::move(request),
              [done = std::move(done)](Result<peer::PeerResponse> response) { done(ObjectFrom(std::move(response))); });
}

void Coordinator::CallNode(const std::string& node_id, peer::PeerRequest request, Env::PeerCallback done) {
  const std::string address = cluster_.PeerAddress(node_id);
  if (address.empty()) return done(Status::Unavailable("node " + node_id + " has no known peer address"));
  env_.CallPeer(address, std::move(request), 0, std::move(done));
}

// ---- Requests from other coordinators ----------------------------------------

bool Coordinator::HandlePeer(const peer::PeerRequest& request, net::PeerRequestHandler::Reply& reply) {
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
    case peer::PeerRequest::kHintBatch:
      HandleHintBatch(request.hint_batch(), std::move(reply));
      return true;
    default:
      return false;
  }
}

void Coordinator::HandleMint(const peer::MintWrite& mint, net::PeerRequestHandler::Reply reply) {
  auto context = dvv::DecodeContext(mint.context());
  if (!context.ok()) return reply(net::PeerErrorResponse(context.status()));
  Sibling sibling;
  sibling.value = mint.value();
  sibling.tombstone = mint.tombstone();
  sibling.expires_at_ms = mint.expires_at_ms();
  replica_.Write(mint.key(), std::move(*context), std::move(sibling), [reply = std::move(reply)](Result<Object> object) {
    reply(object.ok() ? ObjectResponse(*object) : net::PeerErrorResponse(object.status()));
  });
}

void Coordinator::HandleSync(const peer::ReplicaSync& sync, net::PeerRequestHandler::Reply reply) {
  auto object = quorum::FromProto(sync.object());
  if (!object.ok()) return reply(net::PeerErrorResponse(object.status()));
  auto answer = [reply = std::move(reply)](Status status) {
    reply(status.ok() ? peer::PeerResponse() : net::PeerErrorResponse(status));
  };
  if (!sync.hint_for().empty()) return hints_.StoreHint(sync.hint_for(), sync.key(), *object, std::move(answer));
  replica_.Apply(sync.key(), std::move(*object), [answer = std::move(answer)](Result<Object> stored) {
    answer(stored.status());
  });
}

// Hints handed over by a stand-in: merged like any replica write; the
// batch is acknowledged once every write in it is durable.
void Coordinator::HandleHintBatch(const peer::HintBatch& batch, net::PeerRequestHandler::Reply reply) {
  auto writes = handoff::FromHintBatch(batch);
  if (!writes.ok()) return reply(net::PeerErrorResponse(writes.status()));
  if (writes->empty()) return reply(peer::PeerResponse());
  auto remaining = std::make_shared<size_t>(writes->size());
  auto failure = std::make_shared<Status>();
  auto shared_reply = std::make_shared<net::PeerRequestHandler::Reply>(std::move(reply));
  for (storage::ObjectWrite& write : *writes) {
    replica_.Apply(std::move(write.key), std::move(write.object), [remaining, failure, shared_reply](Result<Object> stored) {
      if (!stored.ok()) *failure = stored.status();
      if (--*remaining == 0) (*shared_reply)(failure->ok() ? peer::PeerResponse() : net::PeerErrorResponse(*failure));
    });
  }
}

}  // namespace dynkv::node
