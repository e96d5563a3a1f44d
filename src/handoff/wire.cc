// Objects on the peer wire: hint batches and stream batches (handoff.h).
#include "handoff/handoff.h"
#include "quorum/object_wire.h"

namespace dynkv::handoff {

void ToSyncs(std::span<const storage::ObjectWrite> writes,
             google::protobuf::RepeatedPtrField<peer::ReplicaSync>* out) {
  out->Clear();
  out->Reserve(static_cast<int>(writes.size()));
  for (const storage::ObjectWrite& write : writes) {
    peer::ReplicaSync* sync = out->Add();
    sync->set_key(write.key);
    quorum::ToProto(write.object, sync->mutable_object());
  }
}

Result<std::vector<storage::ObjectWrite>> FromSyncs(
    const google::protobuf::RepeatedPtrField<peer::ReplicaSync>& syncs, std::string_view what) {
  std::vector<storage::ObjectWrite> writes;
  writes.reserve(syncs.size());
  for (const peer::ReplicaSync& sync : syncs) {
    Result<Object> object = quorum::FromProto(sync.object());
    if (!object.ok()) return object.status().WithContext(std::string(what));
    if (object->empty()) return Status::InvalidArgument(std::string(what) + ": an empty object");
    writes.push_back({sync.key(), std::move(*object)});
  }
  return writes;
}

void ToHintBatch(std::span<const Hint> hints, peer::HintBatch* out) {
  out->Clear();
  for (const Hint& hint : hints) {
    peer::ReplicaSync* write = out->add_writes();
    write->set_key(hint.key);
    quorum::ToProto(hint.object, write->mutable_object());
  }
}

Result<std::vector<storage::ObjectWrite>> FromHintBatch(const peer::HintBatch& batch) {
  return FromSyncs(batch.writes(), "hint batch");
}

void MergeAll(quorum::LocalReplica& replica, std::vector<storage::ObjectWrite> writes,
              std::function<void(Status)> done) {
  if (writes.empty()) return done(Status::Ok());
  auto remaining = std::make_shared<size_t>(writes.size());
  auto failure = std::make_shared<Status>();
  auto shared_done = std::make_shared<std::function<void(Status)>>(std::move(done));
  for (storage::ObjectWrite& write : writes) {
    replica.Apply(std::move(write.key), std::move(write.object),
                  [remaining, failure, shared_done](Result<Object> stored) {
                    if (!stored.ok()) *failure = stored.status();
                    if (--*remaining == 0) (*shared_done)(*failure);
                  });
  }
}

}  // namespace dynkv::handoff
