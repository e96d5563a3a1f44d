// LocalReplica: this node's copy of the keys it holds. Reads and client
// writes go through the storage worker; a client write mints its dot here
// (DESIGN.md: Coordination: "a write goes to one replica ..., which mints
// the dot"). The replication issue adds applying objects sent by peers
// (dvv::Sync) beside Write.
//
// Threads: call from the thread that owns the StorageWorker's Post target
// (the node's event loop); callbacks run there too.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/object.h"
#include "common/status.h"
#include "storage/storage.h"

namespace dynkv::quorum {

struct ReplicaLimits {
  uint32_t max_siblings = 100;              // per key, tombstones included
  uint64_t max_object_bytes = 16ull << 20;  // all siblings of a key together
};

// How concurrent writes of one key are resolved (DESIGN.md: Causality).
enum class ConflictMode {
  kSiblings,        // keep them all as siblings: nothing is lost (the default)
  kLastWriteWins,   // keep the sibling with the latest write time: concurrent writes are lost
};

// In last-write-wins mode: the object reduced to its newest sibling (latest
// write time, ties broken by dot), its version vector kept.
Object KeepNewestSibling(Object object);

// The highest counter this node has minted, for the floor of a dot minted
// into a key the node holds nothing of (dvv::Update). Kept on the storage
// thread; made durable ahead of use in blocks of kLease counters (a lease,
// as Riak keeps its vnode counter since kv679), so a restarted node starts
// above every counter it minted before.
class MintCounter {
 public:
  static constexpr uint64_t kLease = uint64_t{1} << 20;
  // Stores a new lease durably; runs on the storage thread.
  using Persist = std::function<Status(uint64_t lease)>;

  // `durable`: the lease stored last (0: none). Without `persist` the counter
  // lives in memory only (tests).
  MintCounter(uint64_t durable, Persist persist) : high_(durable), lease_(durable), persist_(std::move(persist)) {}

  uint64_t floor() const { return high_ + 1; }
  // `counter` was minted: raises the high mark, storing a new lease first
  // when it passes the durable one. An error leaves the counter as it was.
  Status Note(uint64_t counter);

 private:
  uint64_t high_;
  uint64_t lease_;
  Persist persist_;
};

class LocalReplica {
 public:
  using Done = std::function<void(Result<Object>)>;
  // Makes a new actor and records it durably (the node's identity does);
  // runs on the storage thread. `random` comes from the caller's Env.
  using ActorRenewal = std::function<Result<ActorId>(storage::Engine& engine, uint64_t random)>;

  // REQUIRES: worker and clock outlive the replica.
  // `counter`: the node's MintCounter; null gives one in memory from 0.
  LocalReplica(storage::StorageWorker& worker, const Clock& clock, ActorId actor, ReplicaLimits limits,
               ConflictMode mode = ConflictMode::kSiblings, ActorRenewal renewal = nullptr,
               std::shared_ptr<MintCounter> counter = nullptr);

  // The stored object (empty when absent); expired siblings included. A
  // key the record cache holds is answered at once, inside the call
  // (StorageWorker::ReadCached); any other later, from the event loop.
  void Read(std::string key, Done done);

  // Applies a client write: `sibling` holds the value (or a tombstone) and
  // its expiry; its dot and write time are set here. Fails with TOO_LARGE,
  // leaving the key as it was, when the result would break a limit.
  void Write(std::string key, VersionVector context, Sibling sibling, Done done);

  // Merges an object sent by another replica (replication, read repair,
  // hinted handoff) into the stored one with dvv::Sync. done(merged) once
  // durable.
  void Apply(std::string key, Object object, Done done);

  const ActorId& actor() const { return actor_; }

  // Writes queued from now on mint with a new actor, once it is durable;
  // done(OK) then, or done(error) with the actor unchanged (INTERNAL
  // without a renewal). Call it before deleting objects whose version
  // vector names actor(): a node's counter for a key lives in its stored
  // object, so a later write of a deleted key would mint a dot again that
  // other replicas already hold, and they would drop the new value as seen
  // (the kv679 lesson of Riak, as for a node back on an empty disk).
  void RenewActor(uint64_t random, std::function<void(Status)> done);

 private:
  storage::StorageWorker& worker_;
  const Clock& clock_;
  ActorId actor_;
  ReplicaLimits limits_;
  ConflictMode mode_;
  ActorRenewal renewal_;
  std::shared_ptr<MintCounter> counter_;  // touched on the storage thread only
  std::shared_ptr<int> lifetime_ = std::make_shared<int>(0);  // expires with the replica
};

}  // namespace dynkv::quorum
