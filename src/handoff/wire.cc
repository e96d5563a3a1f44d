// Hints on the peer wire (handoff.h: ToHintBatch, FromHintBatch).
#include "handoff/handoff.h"
#include "quorum/object_wire.h"

namespace dynkv::handoff {

void ToHintBatch(std::span<const Hint> hints, peer::HintBatch* out) {
  out->Clear();
  for (const Hint& hint : hints) {
    peer::ReplicaSync* write = out->add_writes();
    write->set_key(hint.key);
    quorum::ToProto(hint.object, write->mutable_object());
  }
}

Result<std::vector<storage::ObjectWrite>> FromHintBatch(const peer::HintBatch& batch) {
  std::vector<storage::ObjectWrite> writes;
  writes.reserve(batch.writes_size());
  for (const peer::ReplicaSync& write : batch.writes()) {
    Result<Object> object = quorum::FromProto(write.object());
    if (!object.ok()) return object.status().WithContext("hint batch");
    // An empty object would read as a delete to storage::Engine::Write.
    if (object->empty()) return Status::InvalidArgument("hint batch: an empty object");
    writes.push_back({write.key(), std::move(*object)});
  }
  return writes;
}

}  // namespace dynkv::handoff
