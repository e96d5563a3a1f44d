// Hinted handoff (DESIGN.md: Hinted handoff; Dynamo, DeCandia et al. 2007,
// section 4.6; Cassandra's hints).
//
// When a replica of a key is down, a stand-in node takes the write and keeps
// it as a hint for that replica; once gossip shows the replica alive again,
// the hints are handed over in batches, throttled, and deleted once it
// acknowledges them. Hints first stored more than the hint window ago are
// dropped: anti-entropy covers them.
//
// - HintStore: the durable hints (storage's 'h' key kind), run on the
//   StorageWorker's thread. Completions come back through `post`.
// - HintDelivery: a pure decision core (no I/O, no clock) that says when
//   to hand a batch to which target.
// - ToHintBatch / FromHintBatch: the wire form (peer.proto HintBatch).
//
// The node driver, on its event loop thread:
//   start-up        store.Open(done(targets)); OnHintStored(t) for each t.
//   membership      alive(t) -> delivery.OnUp(t) (also for nodes alive at
//                   start);  dead(t) / leave(t) -> delivery.OnDown(t).
//   hinted write    store.Store(...); on OK: ack the coordinator, then
//                   delivery.OnHintStored(target).
//   timer (~100 ms) for t in delivery.Tick(now): store.NextBatch(t,
//                   options.batch_max_bytes, options.batch_max_count):
//                     error        -> OnBatchFailed(t, now)
//                     empty        -> OnBatchEmpty(t)
//                     hints        -> send ToHintBatch(hints) to t,
//                                     OnBatchSent(t, BatchBytes(hints), now)
//                   peer answered OK -> store.Acknowledge(t, hints,
//                     done(more)): OK -> OnBatchAcked(t, *more), error ->
//                     OnBatchFailed(t, now)
//                   peer error / timeout -> OnBatchFailed(t, now)
//   timer (~1 min)  store.DropExpired(now, hint_window_ms, done(count)).
//   stats           store.stats().
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/object.h"
#include "common/status.h"
#include "handoff/options.h"
#include "peer.pb.h"
#include "quorum/replica.h"
#include "storage/storage.h"

namespace dynkv::handoff {

using storage::Hint;

// Counters since the store opened; read from any thread.
struct HintStats {
  uint64_t pending = 0;          // hints kept now, all targets
  uint64_t stored = 0;           // hinted writes made durable (new hints and merges)
  uint64_t delivered = 0;        // hints acknowledged by their target and deleted
  uint64_t dropped = 0;          // hints dropped after the hint window
  uint64_t bytes_delivered = 0;  // Hint::ApproximateBytes of the delivered hints
};

namespace internal {
struct HintCounters;  // hint_store.cc
}  // namespace internal

// Sum of Hint::ApproximateBytes: what OnBatchSent is charged.
uint64_t BatchBytes(std::span<const Hint> hints);

// The durable hints of this node. Every call runs through worker.Run, in the
// order called, and hands its completion to `post` (thread-safe, as
// StorageWorker::Post). Calls made after the worker stopped never complete.
class HintStore {
 public:
  using Post = storage::StorageWorker::Post;
  template <typename T>
  using Done = std::function<void(T)>;

  // REQUIRES: worker outlives every call queued through it.
  HintStore(storage::StorageWorker& worker, Post post);

  // Counts the hints kept (stats().pending) and answers with every target
  // that has hints. REQUIRES: called before any other call.
  void Open(Done<Result<std::vector<std::string>>> done);

  // Keeps `object` for `target` under `key`, merged (dvv::Sync) with the hint
  // already kept for them, so concurrent writes stay siblings. done(OK) only
  // once the hint is as durable as a data write: a stand-in acks after it.
  void Store(std::string target, std::string key, Object object, int64_t now_ms, Done<Status> done);

  // The first hints of `target` in ring order, up to max_count and about
  // max_bytes (storage.h ScanHints); empty when it has none.
  void NextBatch(std::string target, size_t max_bytes, size_t max_count,
                 Done<Result<std::vector<Hint>>> done);
  // Hints of a scan that goes on: `hints`, and `next`, where the scan goes
  // on after them (empty: they were the last).
  struct Page {
    std::vector<Hint> hints;
    std::string next;
  };
  // The same, after `after` (a Page::next; empty: from the first hint).
  void NextBatch(std::string target, std::string after, size_t max_bytes, size_t max_count,
                 Done<Result<Page>> done);

  // `target` has made `delivered` (as NextBatch returned them) durable.
  // Deletes each hint still stored exactly as delivered; one that a later
  // Store changed meanwhile stays, to go in a later batch. done(whether
  // `target` still has hints).
  void Acknowledge(std::string target, std::vector<Hint> delivered, Done<Result<bool>> done);

  // Drops every hint first stored more than window_ms before now_ms.
  // done(how many). One full pass over the hints on the worker thread.
  void DropExpired(int64_t now_ms, int64_t window_ms, Done<Result<uint64_t>> done);

  HintStats stats() const;

 private:
  storage::StorageWorker& worker_;
  const Post post_;
  std::shared_ptr<internal::HintCounters> counters_;  // shared with calls in flight
};

struct DeliveryOptions {
  // handoff.max_bytes_per_sec: hint bytes handed over per second, all
  // targets together. 0: no limit.
  uint64_t max_bytes_per_sec = 1 << 20;
  // Limits of one batch (one HintBatch message); pass them to NextBatch.
  // batch_max_bytes is also the throttle's burst.
  size_t batch_max_bytes = 256 << 10;
  size_t batch_max_count = 512;
  // After a failed batch the target waits retry_initial_ms, doubling with
  // each further failure up to retry_max_ms; reset by an ack or OnUp.
  int64_t retry_initial_ms = 1000;
  int64_t retry_max_ms = 60'000;
};

// When to hand which target a batch. Pure: no I/O, no clock (now_ms comes
// in), single-threaded (the event loop's). Invariants: at most one batch in
// flight per target (from Tick granting it until Acked/Empty/Failed); a
// target is granted only while up, believed to have hints, and past its
// retry time.
//
// Throttle: a token bucket over all targets (capacity batch_max_bytes,
// refilled at max_bytes_per_sec). A batch's size is known only once read,
// so as in Guava's RateLimiter (Cassandra's hint throttle) a batch is granted
// while the bucket is not in debt, and its real bytes are charged when sent;
// each grant reserves batch_max_bytes until then, so the targets of one Tick
// cannot overdraw together.
class HintDelivery {
 public:
  explicit HintDelivery(DeliveryOptions options) : options_(options) {}

  const DeliveryOptions& options() const { return options_; }

  // Gossip shows `target` alive: deliver to it from the next Tick, and probe
  // it once for hints. Resets its backoff.
  void OnUp(const std::string& target);
  // Gossip shows `target` dead or gone: nothing more is granted to it. A
  // batch in flight still ends with Acked or Failed.
  void OnDown(const std::string& target);
  // A hint for `target` was stored (wakes a target idle for lack of hints).
  void OnHintStored(const std::string& target);

  // The targets to read and send a batch to now, fairest first.
  std::vector<std::string> Tick(int64_t now_ms);

  // The batch granted to `target` went out holding `bytes`.
  void OnBatchSent(const std::string& target, uint64_t bytes, int64_t now_ms);
  // The target acknowledged it; more_pending from HintStore::Acknowledge.
  void OnBatchAcked(const std::string& target, bool more_pending);
  // The granted batch came back empty: `target` idles until OnHintStored.
  void OnBatchEmpty(const std::string& target);
  // Reading, sending or acknowledging failed: retry after a backoff.
  void OnBatchFailed(const std::string& target, int64_t now_ms);

  bool InFlight(const std::string& target) const;

 private:
  enum class Stage { kIdle, kFetching, kSending };
  struct Target {
    bool up = false;
    bool pending = false;            // believed to have hints
    bool stored_while_busy = false;  // OnHintStored during a batch
    Stage stage = Stage::kIdle;
    int64_t retry_at_ms = 0;
    int64_t backoff_ms = 0;
  };

  void Refill(int64_t now_ms);
  bool MayGrant() const;
  // Ends the batch of `target`, returning its reservation if still held.
  Target& Finish(const std::string& target);

  const DeliveryOptions options_;
  std::map<std::string, Target> targets_;
  std::string last_granted_;  // round robin starts after it
  double tokens_ = 0;
  std::optional<int64_t> refilled_at_ms_;
  uint64_t reserved_ = 0;  // batch_max_bytes per batch granted and not yet sent
};

// Objects as ReplicaSync messages (key and object, hint_for empty), and
// back: INVALID_ARGUMENT, naming `what`, when any object breaks object.h's
// invariants or is empty (an empty object would read as a delete).
void ToSyncs(std::span<const storage::ObjectWrite> writes,
             google::protobuf::RepeatedPtrField<peer::ReplicaSync>* out);
Result<std::vector<storage::ObjectWrite>> FromSyncs(
    const google::protobuf::RepeatedPtrField<peer::ReplicaSync>& syncs, std::string_view what);

// Merges every write into `replica` (dvv::Sync); done(OK) once all are
// durable, or the last error.
void MergeAll(quorum::LocalReplica& replica, std::vector<storage::ObjectWrite> writes,
              std::function<void(Status)> done);

// The wire form of hints handed to their target (hint_for left empty: the
// receiver is the replica they were kept for).
void ToHintBatch(std::span<const Hint> hints, peer::HintBatch* out);
// What a target merges (dvv::Sync) into its data; INVALID_ARGUMENT when any
// object breaks object.h's invariants.
Result<std::vector<storage::ObjectWrite>> FromHintBatch(const peer::HintBatch& batch);

}  // namespace dynkv::handoff
