// Storage module: the public surface (DESIGN.md: Storage).
//
// - Engine: one LevelDB database per node data dir. Keys are laid out by
//   ring position (kind byte + 8-byte big-endian XXH3 position + user key),
//   so every ring range is one contiguous scan. Objects are stored through
//   the record codec: siblings + version vector + tombstones + TTL expiry,
//   values zstd-compressed when that saves space. A cache with a byte
//   budget keeps the records of hot keys (lru_cache.h: CLOCK eviction; all
//   records while it has room, then a key once read twice; writes refresh
//   cached keys) and answers GetCached from another thread. LevelDB's
//   table files are read with pread, so the process's memory is the two
//   caches and the memtables, not the mapped database (leveldb_setup.h).
// - StorageWorker: runs every Engine call on one dedicated thread, so the
//   event loop never blocks on disk. Updates queued together are applied in
//   one LevelDB write batch (group commit).
//
// Threads: an Engine is thread-compatible, not thread-safe; in the node only
// the StorageWorker's thread touches it, except GetCached, which one other
// thread (the event loop) may call meanwhile. Stats() may be read from any
// thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/object.h"
#include "common/status.h"

namespace dynkv::storage {

struct Options {
  // Directory of the LevelDB database; created if missing.
  std::string data_dir;
  // Byte budget of the LRU cache of hot records, charged at their real heap
  // size. 0 disables the cache.
  uint64_t cache_bytes = 64ull << 20;
  // Values of at least this many bytes are zstd-compressed when that makes
  // them smaller. 0 disables compression.
  uint32_t compress_min_bytes = 512;
  // zstd compression level, 1 (fast) to 19 (small).
  int compress_level = 3;
  // fsync every write batch. Without it a write survives a killed process
  // (it is in the OS page cache) but not a power loss.
  bool sync = false;
  // LevelDB memtable size.
  uint64_t write_buffer_bytes = 16ull << 20;
  // LevelDB's own cache of uncompressed blocks.
  uint64_t block_cache_bytes = 8ull << 20;
  // LevelDB's table block size, before compression (its default, 4 KiB).
  uint32_t block_bytes = 4096;
  // While writes are refused after a failed one (Engine::RetryWrites), a
  // write tries to reopen the database at most this often. 0: every write.
  uint32_t reopen_interval_ms = 1000;
};

// Counters since the engine opened. Safe to read from any thread.
struct StorageStats {
  uint64_t gets = 0;
  uint64_t cache_hits = 0;
  uint64_t cache_misses = 0;
  uint64_t cache_bytes = 0;    // bytes charged to the cache now
  uint64_t cache_entries = 0;  // objects in the cache now
  uint64_t write_batches = 0;  // LevelDB writes (group commits)
  uint64_t objects_written = 0;
  uint64_t values_compressed = 0;
  uint64_t bytes_before_compression = 0;  // of the values that were compressed
  uint64_t bytes_after_compression = 0;
  uint64_t records_reaped = 0;        // records deleted by Reap
  uint64_t siblings_reaped = 0;       // expired siblings and old tombstones removed by Reap
  uint64_t reap_records_scanned = 0;  // records Reap read; none while nothing can expire
  // Writes after a failed one (Engine::RetryWrites).
  uint64_t writes_refused = 0;  // 1 while writes are refused, 0 otherwise
  uint64_t disk_full = 0;       // 1 while they are refused because the disk is full (ENOSPC, EDQUOT)
  uint64_t write_errors = 0;    // LevelDB writes that failed
  uint64_t reopens = 0;         // times the database was reopened to take writes again
};

// One key's new object. An empty Object deletes the key's record.
struct ObjectWrite {
  std::string key;
  Object object;
};

// A hint (DESIGN.md: Hinted handoff): an object a stand-in node keeps for
// `target`, a replica that was down when the write came, until it can be
// handed over. At most one hint per (target, key); later writes merge into it.
struct Hint {
  std::string target;  // node id of the replica the hint is kept for
  std::string key;     // user key
  Object object;
  int64_t stored_at_ms = 0;  // wall clock when the first write of this hint was stored

  // Bytes of key and values, for batch limits and throttling.
  size_t ApproximateBytes() const { return key.size() + object.ApproximateBytes(); }
};

// Told of every change to a data record, on the thread that makes it (the
// StorageWorker's), once the change is durable: anti-entropy keeps its hash
// trees by it (DESIGN.md: Anti-entropy). Digests are the observer's own;
// an empty object's must be 0.
class ChangeObserver {
 public:
  virtual ~ChangeObserver() = default;
  virtual uint64_t Digest(std::string_view key, const Object& object) const = 0;
  // The record of `key` went from one of digest `before` to one of digest
  // `after` (0: absent).
  virtual void OnChanged(std::string_view key, uint64_t before, uint64_t after) = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;

  // Client writes, merges, deletes and Reap report to `observer` from now
  // on; nullptr stops it. REQUIRES: called on the thread that runs the
  // engine's calls (or before any run), and observer outlives its use.
  void set_change_observer(ChangeObserver* observer) { observer_ = observer; }
  ChangeObserver* change_observer() const { return observer_; }

  // The stored object of `key`; an empty Object when there is none. Expired
  // siblings are returned as stored: readers decide what is live.
  virtual Result<Object> Get(std::string_view key) = 0;

  // The object of `key` if the record cache holds it, without touching the
  // disk; false otherwise. Unlike the other calls, it may run on one other
  // thread (the node's event loop) while they run on theirs. Engines
  // without a cache (test fakes) answer false.
  virtual bool GetCached(std::string_view key, Object* object);

  // Applies all writes atomically in one LevelDB batch; the cache sees them
  // only once the batch is durable.
  virtual Status Write(std::span<const ObjectWrite> writes) = 0;

  // Node metadata (node id, epoch, format version), kept under its own key
  // kind. NotFound when absent.
  virtual Result<std::string> GetMeta(std::string_view name) = 0;
  virtual Status PutMeta(std::string_view name, std::string_view value) = 0;

  // Background expiry (DESIGN.md: TTL). Scans up to `max_records` data
  // records after `*cursor` (an opaque position; empty means the start) and
  // removes siblings that expired at least `grace_ms` ago and tombstones
  // written at least `grace_ms` ago; a record left with no siblings is
  // deleted. Sets `*cursor` to where the next call goes on, empty once a
  // full pass is done. Keeping tombstones for the grace period stops a late
  // replica from bringing a deleted value back. A pass that can find
  // nothing (no sibling written since open, or seen by the last whole pass,
  // expires or is a tombstone old enough by now_ms - grace_ms) reads nothing
  // and ends at once.
  virtual Status Reap(std::string* cursor, size_t max_records, int64_t now_ms, int64_t grace_ms) = 0;

  virtual StorageStats Stats() const = 0;

  // Writes after a failed one (a full disk: ENOSPC). LevelDB may lose a
  // write it accepts after one that failed, and keeps failing every write
  // after a failed compaction (write_gate.h says how), so once a write
  // fails every later write is refused with a STORAGE_ERROR naming the data
  // dir (and saying the disk is full when it is), without touching the
  // database, until the engine has closed and reopened it: the reopen
  // replays the log into a table, starts a new log and clears LevelDB's
  // error, losing nothing that was acknowledged. Reads go on meanwhile.
  //
  // RetryWrites tries that now, when the disk has room for it; OK once
  // writes are taken again (and when they never stopped). Writes try it
  // themselves at most every Options::reopen_interval_ms, and an idle
  // StorageWorker every second. A reopen that fails leaves the database
  // closed (reads fail too) until a later attempt opens it. Engines that
  // never refuse writes (test fakes) answer OK.
  virtual Status RetryWrites();
  // True while writes are refused. Any thread.
  virtual bool writes_refused() const;

  // Data movement (DESIGN.md: Data movement): up to `max_count` data
  // records whose ring position lies in (start, end] -- wrapping past
  // 2^64-1 when start > end, the whole ring when start == end -- in ring
  // order, after `*cursor` (an opaque position; empty means the start of
  // the range), stopping once they hold `max_bytes` of keys and values (the
  // first record is returned even when bigger). Objects come as stored
  // (expired siblings and tombstones included: the receiver merges them).
  // Sets `*cursor` to where the next call goes on, empty once the range is
  // done. Hints and metadata are never returned. Corrupt records are
  // skipped and logged. One contiguous LevelDB scan per call (two when the
  // range wraps).
  virtual Result<std::vector<ObjectWrite>> ScanRange(uint64_t start, uint64_t end, std::string* cursor,
                                                     size_t max_bytes, size_t max_count);


  // Hints live under their own key kind (keys.h: 'h' + target + ring
  // position + user key): one target's hints are one contiguous scan in ring
  // order, and data scans (Reap, ranges) never see them. Engines that keep
  // no hints (test fakes) answer Internal.
  //
  // The hint of (target, key); an empty object when there is none.
  virtual Result<Hint> GetHint(std::string_view target, std::string_view key);
  // Applies all hint puts atomically, as durable as Write. A Hint with an
  // empty object deletes the hint of (target, key).
  virtual Status WriteHints(std::span<const Hint> hints);
  // Up to `max_count` hints of `target` in ring order, after `*cursor` (an
  // opaque position; empty means the first), stopping once they hold
  // `max_bytes` (the first hint is returned even when bigger). Sets `*cursor`
  // to where the next call goes on, empty when no hints are left. Corrupt
  // hints are skipped and logged.
  virtual Result<std::vector<Hint>> ScanHints(std::string_view target, std::string* cursor, size_t max_bytes,
                                              size_t max_count);
  // Every node that has at least one hint kept for it, sorted.
  virtual Result<std::vector<std::string>> ListHintTargets();
  // Hints kept, for all targets (a full scan of the hint kind: start-up use).
  virtual Result<uint64_t> CountHints();

 protected:
  ChangeObserver* observer_ = nullptr;
};

// Opens (creating if needed) the database in options.data_dir. A locked
// data dir (another process has it), a corrupt one, or one that is not a
// dynkv data dir fails with a message that names the directory and the
// cause; never a crash.
Result<std::unique_ptr<Engine>> OpenLevelDbEngine(const Options& options);

// Runs Engine calls on one dedicated thread.
class StorageWorker {
 public:
  // Hands a completion back to the owner's thread (in the node: a uv_async
  // wake-up of the event loop). Called on the worker thread; must be
  // thread-safe. A batch's completions are handed over in one call.
  using Post = std::function<void(std::function<void()>)>;
  // Computes the new object from the current one; runs on the worker
  // thread. An error leaves the key untouched and is passed to Done.
  using Mutate = std::function<Result<Object>(const Object& current)>;
  using Done = std::function<void(Result<Object>)>;
  // Runs its argument once on the owner's thread, before that thread next
  // waits for events (in the node: a uv_prepare of the event loop).
  using Defer = std::function<void(std::function<void()>)>;

  // REQUIRES: engine outlives the worker. With `defer`, a Read or Update
  // queued while the thread sleeps wakes it only when the owner's loop turn
  // ends, so the thread takes the whole turn's calls as one drain (one
  // LevelDB write, one hand-over back) instead of waking for the first and
  // draining the rest in small batches behind it. Run always wakes it at once.
  StorageWorker(Engine& engine, Post post, Defer defer = nullptr);
  // With a Defer, a turn that queues this many calls wakes the thread at
  // once instead of at the turn's end: a long turn (pipelined clients:
  // hundreds of requests read in one turn) would otherwise leave the thread
  // idle while the loop parses, then the loop idle while it drains.
  // (docs/BENCHMARKS.md, issue 16: batches of 5 calls became 16-19, CPU
  // per SET -5%, context switches halved.)
  static constexpr size_t kDeferredWakeAt = 32;
  // A worker with no thread of its own, for the simulator's deterministic
  // executor: calls queue until RunQueued() runs them on the caller's
  // thread, as the thread would. `on_work` runs on the queuing thread when
  // a call is queued onto an empty queue.
  static std::unique_ptr<StorageWorker> Manual(Engine& engine, Post post, std::function<void()> on_work);
  ~StorageWorker();  // Stop()s
  StorageWorker(const StorageWorker&) = delete;
  StorageWorker& operator=(const StorageWorker&) = delete;

  // done(object) with the stored object (empty when absent), via post.
  void Read(std::string key, Done done);
  // The stored object of `key` at once, on the calling thread, when the
  // engine's record cache holds it and no Update of the key is in flight
  // (queued, or finished and its completion not yet run); nullopt
  // otherwise, and then Read. A hit answers what a Read queued now would,
  // without the two thread hops. Call from the thread Post hands over to.
  std::optional<Object> ReadCached(std::string_view key);
  // Read-modify-write of one key. Updates of the same key apply in the
  // order they were queued, each seeing the previous one. done(new object)
  // once the batch holding it is durable, or the error.
  void Update(std::string key, Mutate mutate, Done done);
  // Runs fn(engine) on the worker thread, in queue order (maintenance such
  // as Reap, meta reads at start-up).
  void Run(std::function<void(Engine&)> fn);
  // The same, then `then` is handed to post (to the caller's thread).
  void Run(std::function<void(Engine&)> fn, std::function<void()> then);

  // Finishes every queued call, posts their completions, joins the thread.
  // Calls after Stop() are completed with an error. Idempotent.
  void Stop();

  // Manual workers only. RunQueued: runs what is queued as one drain (at
  // most the thread's drain size); false when nothing was queued.
  // DiscardQueued: forgets what is queued, unrun and unanswered (the
  // simulator's kill: what never reached LevelDB is lost).
  bool RunQueued();
  void DiscardQueued();

  // Calls queued and not yet finished; for load shedding and stats.
  size_t queue_depth() const;

 private:
  struct State;
  struct ManualTag {};
  StorageWorker(Engine& engine, Post post, std::function<void()> on_work, ManualTag);
  std::unique_ptr<State> state_;
};

}  // namespace dynkv::storage
