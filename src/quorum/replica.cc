#include "quorum/replica.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <tuple>
#include <utility>

#include "quorum/dvv.h"
#include "storage/keys.h"

namespace dynkv::quorum {

namespace {

Status CheckLimits(const std::string& key, const Object& object, const ReplicaLimits& limits) {
  if (object.siblings.size() > limits.max_siblings) {
    // The key is quoted printable: an error message is a UTF-8 string on the wire.
    return Status::TooLarge("key '" + storage::PrintableKey(key) + "' would have " +
                            std::to_string(object.siblings.size()) + " siblings; the limit is " +
                            std::to_string(limits.max_siblings) +
                            " (limits.max_siblings): read the key and write back with its context to merge them");
  }
  const size_t bytes = object.ApproximateBytes();
  if (bytes > limits.max_object_bytes) {
    return Status::TooLarge("key '" + storage::PrintableKey(key) + "' would hold " + std::to_string(bytes) +
                            " bytes across its siblings; the limit is " + std::to_string(limits.max_object_bytes) +
                            " (limits.max_object_bytes)");
  }
  return Status::Ok();
}

Object Resolve(Object object, ConflictMode mode) {
  // Not a conditional expression: its `: object` arm would copy the object.
  if (mode == ConflictMode::kLastWriteWins) return KeepNewestSibling(std::move(object));
  return object;
}

}  // namespace

Object KeepNewestSibling(Object object) {
  if (object.siblings.size() <= 1) return object;
  auto newest = std::max_element(object.siblings.begin(), object.siblings.end(),
                                 [](const Sibling& a, const Sibling& b) {
                                   return std::tie(a.write_time_ms, a.dot) < std::tie(b.write_time_ms, b.dot);
                                 });
  Sibling kept = std::move(*newest);
  object.siblings.clear();
  object.siblings.push_back(std::move(kept));
  return object;
}

LocalReplica::LocalReplica(storage::StorageWorker& worker, const Clock& clock, ActorId actor, ReplicaLimits limits,
                           ConflictMode mode, ActorRenewal renewal, std::shared_ptr<MintCounter> counter)
    : worker_(worker),
      clock_(clock),
      actor_(std::move(actor)),
      limits_(limits),
      mode_(mode),
      renewal_(std::move(renewal)),
      counter_(counter ? std::move(counter) : std::make_shared<MintCounter>(0, nullptr)) {}

Status MintCounter::Note(uint64_t counter) {
  if (counter <= high_) return Status::Ok();
  if (counter > lease_ && persist_) {
    const uint64_t lease = counter + kLease;
    DYNKV_RETURN_IF_ERROR(persist_(lease));
    lease_ = lease;
  }
  high_ = counter;
  return Status::Ok();
}

void LocalReplica::RenewActor(uint64_t random, std::function<void(Status)> done) {
  if (!renewal_) return done(Status::Internal("this replica cannot renew its actor"));
  auto renewed = std::make_shared<Result<ActorId>>(Status::Internal("the actor was not renewed"));
  worker_.Run([renewal = renewal_, random, renewed](storage::Engine& engine) { *renewed = renewal(engine, random); },
              [this, alive = std::weak_ptr<int>(lifetime_), renewed, done = std::move(done)] {
                if (alive.expired()) return;
                if (!renewed->ok()) return done(renewed->status());
                actor_ = std::move(**renewed);
                done(Status::Ok());
              });
}

void LocalReplica::Read(std::string key, Done done) {
  if (std::optional<Object> cached = worker_.ReadCached(key)) return done(std::move(*cached));
  worker_.Read(std::move(key), std::move(done));
}

void LocalReplica::Write(std::string key, VersionVector context, Sibling sibling, Done done) {
  sibling.write_time_ms = clock_.NowMs();
  // The mutation runs on the storage thread; it captures copies only.
  auto mutate = [key, context = std::move(context), sibling = std::move(sibling), actor = actor_, limits = limits_,
                 mode = mode_, counter = counter_](const Object& current) -> Result<Object> {
    const uint64_t floor = current.empty() ? counter->floor() : 0;
    Object next = Resolve(dvv::Update(current, context, actor, sibling, floor), mode);
    DYNKV_RETURN_IF_ERROR(CheckLimits(key, next, limits));
    DYNKV_RETURN_IF_ERROR(counter->Note(next.vv.Get(actor)));
    return next;
  };
  worker_.Update(std::move(key), std::move(mutate), std::move(done));
}

void LocalReplica::Apply(std::string key, Object object, Done done) {
  auto mutate = [object = std::move(object), mode = mode_](const Object& current) -> Result<Object> {
#ifdef DYNKV_PLANTED_BUG_SYNC_OVERWRITES
    // Test builds only (meson_options.txt): the bug the simulator must catch.
    static_cast<void>(current);
    return Resolve(object, mode);
#else
    return Resolve(dvv::Sync(current, object), mode);
#endif
  };
  worker_.Update(std::move(key), std::move(mutate), std::move(done));
}

}  // namespace dynkv::quorum
