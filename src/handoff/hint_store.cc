// HintStore (handoff.h): hints kept in storage's 'h' key kind, every call run
// on the StorageWorker's thread.
#include <atomic>
#include <utility>

#include "handoff/handoff.h"
#include "quorum/dvv.h"

namespace dynkv::handoff {

namespace {

// DropExpired reads and deletes at most this many hints per LevelDB batch.
constexpr size_t kDropChunk = 1024;

void Add(std::atomic<uint64_t>& counter, uint64_t n) { counter.fetch_add(n, std::memory_order_relaxed); }

// Saturating: a corrupt hint overwritten by Store may be counted twice, and
// pending must not wrap.
void Subtract(std::atomic<uint64_t>& counter, uint64_t n) {
  uint64_t current = counter.load(std::memory_order_relaxed);
  while (!counter.compare_exchange_weak(current, current > n ? current - n : 0, std::memory_order_relaxed)) {
  }
}

uint64_t Load(const std::atomic<uint64_t>& counter) { return counter.load(std::memory_order_relaxed); }

}  // namespace

namespace internal {
struct HintCounters {
  std::atomic<uint64_t> pending{0};
  std::atomic<uint64_t> stored{0};
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> dropped{0};
  std::atomic<uint64_t> bytes_delivered{0};
};
}  // namespace internal

namespace {

Status StoreHint(storage::Engine& engine, internal::HintCounters& counters, Hint hint) {
  Result<Hint> current = engine.GetHint(hint.target, hint.key);
  if (!current.ok()) return current.status();
  const bool is_new = current->object.empty();
  if (!is_new) {
    hint.object = dvv::Sync(current->object, hint.object);
    hint.stored_at_ms = current->stored_at_ms;  // the window runs from the first write
  }
  DYNKV_RETURN_IF_ERROR(engine.WriteHints(std::span(&hint, 1)));
  Add(counters.stored, 1);
  if (is_new) Add(counters.pending, 1);
  return Status::Ok();
}

Result<bool> AcknowledgeHints(storage::Engine& engine, internal::HintCounters& counters,
                              const std::string& target, const std::vector<Hint>& delivered) {
  std::vector<Hint> deletes;
  uint64_t bytes = 0;
  for (const Hint& hint : delivered) {
    Result<Hint> stored = engine.GetHint(target, hint.key);
    if (!stored.ok()) return stored.status();
    // Changed since it was read: the target has not seen the newer part yet.
    if (stored->object.empty() || stored->object != hint.object) continue;
    deletes.push_back(Hint{target, hint.key, Object(), 0});
    bytes += hint.ApproximateBytes();
  }
  DYNKV_RETURN_IF_ERROR(engine.WriteHints(deletes));
  Add(counters.delivered, deletes.size());
  Add(counters.bytes_delivered, bytes);
  Subtract(counters.pending, deletes.size());
  std::string cursor;
  Result<std::vector<Hint>> next = engine.ScanHints(target, &cursor, 1, 1);
  if (!next.ok()) return next.status();
  return !next->empty();
}

Result<uint64_t> DropExpiredHints(storage::Engine& engine, internal::HintCounters& counters,
                                  int64_t cutoff_ms) {
  Result<std::vector<std::string>> targets = engine.ListHintTargets();
  if (!targets.ok()) return targets.status();
  uint64_t dropped = 0;
  for (const std::string& target : *targets) {
    std::string cursor;
    do {
      Result<std::vector<Hint>> hints = engine.ScanHints(target, &cursor, SIZE_MAX, kDropChunk);
      if (!hints.ok()) return hints.status();
      std::vector<Hint> deletes;
      for (const Hint& hint : *hints) {
        if (hint.stored_at_ms < cutoff_ms) deletes.push_back(Hint{target, hint.key, Object(), 0});
      }
      DYNKV_RETURN_IF_ERROR(engine.WriteHints(deletes));
      dropped += deletes.size();
      Add(counters.dropped, deletes.size());
      Subtract(counters.pending, deletes.size());
    } while (!cursor.empty());
  }
  return dropped;
}

}  // namespace

uint64_t BatchBytes(std::span<const Hint> hints) {
  uint64_t bytes = 0;
  for (const Hint& hint : hints) bytes += hint.ApproximateBytes();
  return bytes;
}

HintStore::HintStore(storage::StorageWorker& worker, Post post)
    : worker_(worker), post_(std::move(post)), counters_(std::make_shared<internal::HintCounters>()) {}

void HintStore::Open(Done<Result<std::vector<std::string>>> done) {
  worker_.Run([counters = counters_, post = post_, done = std::move(done)](storage::Engine& engine) mutable {
    Result<uint64_t> count = engine.CountHints();
    Result<std::vector<std::string>> targets = count.ok() ? engine.ListHintTargets() : count.status();
    if (count.ok()) counters->pending.store(*count, std::memory_order_relaxed);
    post([done = std::move(done), targets = std::move(targets)]() mutable { done(std::move(targets)); });
  });
}

void HintStore::Store(std::string target, std::string key, Object object, int64_t now_ms, Done<Status> done) {
  Hint hint{std::move(target), std::move(key), std::move(object), now_ms};
  worker_.Run([counters = counters_, post = post_, hint = std::move(hint),
               done = std::move(done)](storage::Engine& engine) mutable {
    Status status = StoreHint(engine, *counters, std::move(hint));
    post([done = std::move(done), status = std::move(status)] { done(status); });
  });
}

void HintStore::NextBatch(std::string target, size_t max_bytes, size_t max_count,
                          Done<Result<std::vector<Hint>>> done) {
  NextBatch(std::move(target), std::string(), max_bytes, max_count, [done = std::move(done)](Result<Page> page) {
    if (!page.ok()) return done(page.status());
    done(std::move(page->hints));
  });
}

void HintStore::NextBatch(std::string target, std::string after, size_t max_bytes, size_t max_count,
                          Done<Result<Page>> done) {
  worker_.Run([post = post_, target = std::move(target), after = std::move(after), max_bytes, max_count,
               done = std::move(done)](storage::Engine& engine) mutable {
    Result<Page> page = Page{{}, std::move(after)};
    Result<std::vector<Hint>> hints = engine.ScanHints(target, &page->next, max_bytes, max_count);
    if (hints.ok()) {
      page->hints = std::move(*hints);
    } else {
      page = hints.status();
    }
    post([done = std::move(done), page = std::move(page)]() mutable { done(std::move(page)); });
  });
}

void HintStore::Acknowledge(std::string target, std::vector<Hint> delivered, Done<Result<bool>> done) {
  worker_.Run([counters = counters_, post = post_, target = std::move(target),
               delivered = std::move(delivered), done = std::move(done)](storage::Engine& engine) mutable {
    Result<bool> more = AcknowledgeHints(engine, *counters, target, delivered);
    post([done = std::move(done), more = std::move(more)]() mutable { done(std::move(more)); });
  });
}

void HintStore::DropExpired(int64_t now_ms, int64_t window_ms, Done<Result<uint64_t>> done) {
  worker_.Run([counters = counters_, post = post_, cutoff_ms = now_ms - window_ms,
               done = std::move(done)](storage::Engine& engine) mutable {
    Result<uint64_t> dropped = DropExpiredHints(engine, *counters, cutoff_ms);
    post([done = std::move(done), dropped = std::move(dropped)]() mutable { done(std::move(dropped)); });
  });
}

HintStats HintStore::stats() const {
  HintStats stats;
  stats.pending = Load(counters_->pending);
  stats.stored = Load(counters_->stored);
  stats.delivered = Load(counters_->delivered);
  stats.dropped = Load(counters_->dropped);
  stats.bytes_delivered = Load(counters_->bytes_delivered);
  return stats;
}

}  // namespace dynkv::handoff
