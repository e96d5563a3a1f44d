#include "quorum/replica.h"

#include <utility>

#include "quorum/dvv.h"

namespace dynkv::quorum {

namespace {

Status CheckLimits(const std::string& key, const Object& object, const ReplicaLimits& limits) {
  if (object.siblings.size() > limits.max_siblings) {
    return Status::TooLarge("key '" + key + "' would have " + std::to_string(object.siblings.size()) +
                            " siblings; the limit is " + std::to_string(limits.max_siblings) +
                            " (limits.max_siblings): read the key and write back with its context to merge them");
  }
  const size_t bytes = object.ApproximateBytes();
  if (bytes > limits.max_object_bytes) {
    return Status::TooLarge("key '" + key + "' would hold " + std::to_string(bytes) +
                            " bytes across its siblings; the limit is " + std::to_string(limits.max_object_bytes) +
                            " (limits.max_object_bytes)");
  }
  return Status::Ok();
}

}  // namespace

LocalReplica::LocalReplica(storage::StorageWorker& worker, const Clock& clock, ActorId actor, ReplicaLimits limits)
    : worker_(worker), clock_(clock), actor_(std::move(actor)), limits_(limits) {}

void LocalReplica::Read(std::string key, Done done) { worker_.Read(std::move(key), std::move(done)); }

void LocalReplica::Write(std::string key, VersionVector context, Sibling sibling, Done done) {
  sibling.write_time_ms = clock_.NowMs();
  // The mutation runs on the storage thread; it captures copies only.
  auto mutate = [key, context = std::move(context), sibling = std::move(sibling), actor = actor_,
                 limits = limits_](const Object& current) -> Result<Object> {
    Object next = dvv::Update(current, context, actor, sibling);
    Status status = CheckLimits(key, next, limits);
    if (!status.ok()) return status;
    return next;
  };
  worker_.Update(std::move(key), std::move(mutate), std::move(done));
}

}  // namespace dynkv::quorum
