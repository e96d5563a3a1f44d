// StorageWorker (storage.h): one thread that owns the Engine.
//
// The thread takes everything queued (up to kMaxCallsPerDrain) as one drain
// and runs it in queue order as one group commit: updates see earlier
// updates of the same drain through an overlay, their new objects go to
// LevelDB in one Write, and the drain's completions are handed to the owner
// in one Post. Group commit as in LevelDB's own DBImpl::Write writer queue.
#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "storage/record.h"
#include "storage/storage.h"

namespace dynkv::storage {

namespace {

// Bounds a drain so the first call of a long queue waits for at most this
// many others before its completion is posted.
constexpr size_t kMaxCallsPerDrain = 1024;

// While the engine refuses writes, an idle thread asks it this often to
// take them again (Engine::RetryWrites), so that writes resume, and the
// stats say so, without waiting for a write to try.
constexpr std::chrono::milliseconds kRetryWritesEvery{1000};

// Updates in flight, counted per hash slot of their key on the owner's
// thread: Update adds one, and the posted completion takes it away before
// it runs `done`. While a key's slot is not zero, reads of it queue behind
// its updates instead of answering from the cache; keys that share a slot
// only lose that shortcut. Shared with the posted completions, which may
// run after the worker is gone.
class InFlightUpdates {
 public:
  static constexpr size_t kNone = SIZE_MAX;

  size_t Add(std::string_view key) {
    const size_t slot = Slot(key);
    ++counts_[slot];
    return slot;
  }
  void Remove(size_t slot) {
    if (slot != kNone) --counts_[slot];
  }
  bool Any(std::string_view key) const { return counts_[Slot(key)] != 0; }

 private:
  static constexpr size_t kSlots = size_t{1} << 16;  // 256 KiB: few reads share a slot with a write in flight
  static size_t Slot(std::string_view key) { return std::hash<std::string_view>()(key) % kSlots; }
  std::array<uint32_t, kSlots> counts_{};
};

struct ReadCall {
  std::string key;
  StorageWorker::Done done;
};
struct UpdateCall {
  std::string key;
  StorageWorker::Mutate mutate;
  StorageWorker::Done done;
  size_t in_flight_slot = InFlightUpdates::kNone;
};
struct RunCall {
  std::function<void(Engine&)> fn;
};
using Call = std::variant<ReadCall, UpdateCall, RunCall>;

// One drain's worth of reads and updates over the engine.
class GroupCommit {
 public:
  GroupCommit(Engine& engine, std::shared_ptr<InFlightUpdates> in_flight, size_t calls)
      : engine_(engine), in_flight_(std::move(in_flight)) {
    completions_.reserve(calls);
  }

  void Read(ReadCall& call);
  void Update(UpdateCall& call);
  // Writes the pending objects in one engine Write. If it fails, every
  // completion that depends on them (the updates, and reads that saw them)
  // gets the error instead.
  void Commit();
  // Hands the completions gathered so far to `post` in one call.
  void PostCompletions(const StorageWorker::Post& post);

 private:
  struct Completion {
    StorageWorker::Done done;
    Result<Object> result;
    bool awaits_commit;
    size_t in_flight_slot = InFlightUpdates::kNone;
  };

  // The mutated object; *before: the digest of the record it replaces.
  Result<Object> Apply(UpdateCall& call, uint64_t* before);

  // An object not yet written, and the digest of the record it replaces
  // (for the engine's ChangeObserver; 0 without one).
  struct Pending {
    Object object;
    uint64_t before = 0;
  };

  Engine& engine_;
  const std::shared_ptr<InFlightUpdates> in_flight_;
  std::unordered_map<std::string, Pending> overlay_;
  std::vector<std::string> overlay_order_;           // overlay_'s keys, first update first
  std::vector<Completion> completions_;
  size_t first_uncommitted_ = 0;  // completions before it no longer await a commit
};

void GroupCommit::Read(ReadCall& call) {
  auto it = overlay_.find(call.key);
  if (it != overlay_.end()) {
    completions_.push_back({std::move(call.done), it->second.object, true});
  } else {
    completions_.push_back({std::move(call.done), engine_.Get(call.key), false});
  }
}

Result<Object> GroupCommit::Apply(UpdateCall& call, uint64_t* before) {
  auto it = overlay_.find(call.key);
  if (it != overlay_.end()) {
    *before = it->second.before;
    return call.mutate(it->second.object);
  }
  Result<Object> stored = engine_.Get(call.key);
  if (!stored.ok()) return stored.status();
  const ChangeObserver* observer = engine_.change_observer();
  *before = observer != nullptr ? observer->Digest(call.key, *stored) : 0;
  return call.mutate(*stored);
}

void GroupCommit::Update(UpdateCall& call) {
  uint64_t before = 0;
  Result<Object> next = Apply(call, &before);
  if (!next.ok()) {
    completions_.push_back({std::move(call.done), next.status(), false, call.in_flight_slot});
    return;
  }
  // Checked here so that one bad object fails alone instead of failing the
  // whole batch in Engine::Write.
  if (Status valid = CheckObject(*next); !valid.ok()) {
    completions_.push_back({std::move(call.done), Status::Internal("update produced " + valid.message()), false,
                            call.in_flight_slot});
    return;
  }
  const bool first_update_of_key = overlay_.insert_or_assign(call.key, Pending{*next, before}).second;
  if (first_update_of_key) overlay_order_.push_back(call.key);
  completions_.push_back({std::move(call.done), std::move(next), true, call.in_flight_slot});
}

void GroupCommit::Commit() {
  if (!overlay_order_.empty()) {
    std::vector<ObjectWrite> writes;
    std::vector<uint64_t> befores;
    writes.reserve(overlay_order_.size());
    befores.reserve(overlay_order_.size());
    for (std::string& key : overlay_order_) {
      Pending& pending = overlay_[key];
      befores.push_back(pending.before);
      writes.push_back({std::move(key), std::move(pending.object)});
    }
    const Status written = engine_.Write(writes);
    if (!written.ok()) {
      for (size_t i = first_uncommitted_; i < completions_.size(); ++i) {
        if (completions_[i].awaits_commit) completions_[i].result = written;
      }
    } else if (ChangeObserver* observer = engine_.change_observer()) {
      for (size_t i = 0; i < writes.size(); ++i) {
        observer->OnChanged(writes[i].key, befores[i], observer->Digest(writes[i].key, writes[i].object));
      }
    }
    overlay_.clear();
    overlay_order_.clear();
  }
  first_uncommitted_ = completions_.size();
}

void GroupCommit::PostCompletions(const StorageWorker::Post& post) {
  if (completions_.empty()) return;
  post([completions = std::move(completions_), in_flight = in_flight_]() mutable {
    for (Completion& c : completions) {
      in_flight->Remove(c.in_flight_slot);
      c.done(std::move(c.result));
    }
  });
  completions_.clear();
  first_uncommitted_ = 0;
}

Status Stopped() { return Status::Unavailable("storage worker is stopped"); }

}  // namespace

struct StorageWorker::State {
  State(Engine& e, Post p, std::function<void()> w, Defer d)
      : engine(e), post(std::move(p)), on_work(std::move(w)), defer(std::move(d)) {}

  // `may_defer`: the call comes from the owner's thread and its wake-up may
  // wait for the end of the owner's loop turn (Defer).
  bool Enqueue(Call& call, bool may_defer);
  // The deferred wake-up: wakes the thread if it sleeps.
  void WakeDeferred();
  void Loop();
  // Waits until calls are queued or the worker stops; false when it waited
  // kRetryWritesEvery in vain while the engine refuses writes.
  // REQUIRES: lock holds mu.
  bool WaitForWork(std::unique_lock<std::mutex>& lock);
  // Moves up to kMaxCallsPerDrain calls from the queue into *drain.
  // REQUIRES: mu held, queue not empty.
  void TakeDrain(std::vector<Call>* drain);
  void RunDrain(std::vector<Call>& drain);

  Engine& engine;
  const Post post;
  const std::function<void()> on_work;  // manual workers: what to call when work arrives
  const Defer defer;
  // Lets a deferred wake-up that runs after the worker is gone do nothing.
  const std::shared_ptr<int> alive = std::make_shared<int>(0);
  const std::shared_ptr<InFlightUpdates> in_flight = std::make_shared<InFlightUpdates>();  // owner's thread only
  std::mutex mu;
  std::condition_variable wake;
  std::vector<Call> queue;  // guarded by mu
  bool stopping = false;    // guarded by mu
  // The thread waits on `wake` and nobody has notified it yet (guarded by
  // mu): only the call that finds it so notifies, so a busy worker costs its
  // callers no futex wake.
  bool asleep = false;
  bool wake_deferred = false;  // a WakeDeferred is scheduled; owner's thread only
  std::atomic<size_t> depth{0};
  std::thread thread;
};

bool StorageWorker::State::Enqueue(Call& call, bool may_defer) {
  const bool deferring = may_defer && defer != nullptr;
  bool notify = false;
  bool first = false;
  {
    std::lock_guard lock(mu);
    if (stopping) return false;
    first = queue.empty();
    queue.push_back(std::move(call));
    depth.fetch_add(1, std::memory_order_relaxed);
    if (!deferring || queue.size() >= StorageWorker::kDeferredWakeAt) notify = std::exchange(asleep, false);
  }
  if (notify) wake.notify_one();
  if (deferring && !std::exchange(wake_deferred, true)) {
    defer([this, alive = std::weak_ptr<int>(alive)] {
      if (!alive.expired()) WakeDeferred();
    });
  }
  if (first && on_work) on_work();
  return true;
}

void StorageWorker::State::WakeDeferred() {
  wake_deferred = false;
  bool notify = false;
  {
    std::lock_guard lock(mu);
    notify = std::exchange(asleep, false);
  }
  if (notify) wake.notify_one();
}

void StorageWorker::State::TakeDrain(std::vector<Call>* drain) {
  drain->clear();
  if (queue.size() <= kMaxCallsPerDrain) {
    // Both vectors keep their capacity, so a steady load allocates nothing.
    std::swap(queue, *drain);
    return;
  }
  drain->assign(std::make_move_iterator(queue.begin()),
                std::make_move_iterator(queue.begin() + kMaxCallsPerDrain));
  queue.erase(queue.begin(), queue.begin() + kMaxCallsPerDrain);
}

bool StorageWorker::State::WaitForWork(std::unique_lock<std::mutex>& lock) {
  while (queue.empty() && !stopping) {
    asleep = true;
    if (!engine.writes_refused()) {
      wake.wait(lock);
    } else if (wake.wait_for(lock, kRetryWritesEvery) == std::cv_status::timeout && queue.empty() &&
               !stopping) {
      asleep = false;
      return false;
    }
  }
  asleep = false;
  return true;
}

void StorageWorker::State::Loop() {
  pthread_setname_np(pthread_self(), "dynkv-storage");
  std::vector<Call> drain;
  for (;;) {
    {
      std::unique_lock lock(mu);
      if (!WaitForWork(lock)) {
        lock.unlock();
        static_cast<void>(engine.RetryWrites());  // the engine logs the outcome
        continue;
      }
      if (queue.empty()) return;  // stopping, and everything is done
      TakeDrain(&drain);
    }
    RunDrain(drain);
    depth.fetch_sub(drain.size(), std::memory_order_relaxed);
    drain.clear();
  }
}

void StorageWorker::State::RunDrain(std::vector<Call>& drain) {
  GroupCommit group(engine, in_flight, drain.size());
  for (Call& call : drain) {
    if (auto* read = std::get_if<ReadCall>(&call)) {
      group.Read(*read);
    } else if (auto* update = std::get_if<UpdateCall>(&call)) {
      group.Update(*update);
    } else {
      // fn sees, and its own posts follow, everything queued before it.
      group.Commit();
      group.PostCompletions(post);
      std::get<RunCall>(call).fn(engine);
    }
  }
  group.Commit();
  group.PostCompletions(post);
}

StorageWorker::StorageWorker(Engine& engine, Post post, Defer defer)
    : state_(std::make_unique<State>(engine, std::move(post), nullptr, std::move(defer))) {
  state_->thread = std::thread([state = state_.get()] { state->Loop(); });
}

StorageWorker::StorageWorker(Engine& engine, Post post, std::function<void()> on_work, ManualTag)
    : state_(std::make_unique<State>(engine, std::move(post), std::move(on_work), nullptr)) {}

std::unique_ptr<StorageWorker> StorageWorker::Manual(Engine& engine, Post post, std::function<void()> on_work) {
  return std::unique_ptr<StorageWorker>(
      new StorageWorker(engine, std::move(post), std::move(on_work), ManualTag{}));
}

bool StorageWorker::RunQueued() {
  std::vector<Call> drain;
  {
    std::lock_guard lock(state_->mu);
    if (state_->queue.empty()) return false;
    state_->TakeDrain(&drain);
  }
  state_->RunDrain(drain);
  state_->depth.fetch_sub(drain.size(), std::memory_order_relaxed);
  // Work left beyond one drain: ask to be run again.
  bool more = false;
  {
    std::lock_guard lock(state_->mu);
    more = !state_->queue.empty();
  }
  if (more && state_->on_work) state_->on_work();
  return true;
}

void StorageWorker::DiscardQueued() {
  std::lock_guard lock(state_->mu);
  state_->depth.fetch_sub(state_->queue.size(), std::memory_order_relaxed);
  state_->queue.clear();
}

StorageWorker::~StorageWorker() { Stop(); }

void StorageWorker::Read(std::string key, Done done) {
  Call call = ReadCall{std::move(key), std::move(done)};
  if (state_->Enqueue(call, true)) return;
  state_->post([done = std::move(std::get<ReadCall>(call).done)] { done(Stopped()); });
}

std::optional<Object> StorageWorker::ReadCached(std::string_view key) {
  Object object;
  if (state_->in_flight->Any(key) || !state_->engine.GetCached(key, &object)) return std::nullopt;
  return object;
}

void StorageWorker::Update(std::string key, Mutate mutate, Done done) {
  const size_t slot = state_->in_flight->Add(key);
  Call call = UpdateCall{std::move(key), std::move(mutate), std::move(done), slot};
  if (state_->Enqueue(call, true)) return;
  state_->post([done = std::move(std::get<UpdateCall>(call).done), in_flight = state_->in_flight, slot] {
    in_flight->Remove(slot);
    done(Stopped());
  });
}

void StorageWorker::Run(std::function<void(Engine&)> fn) {
  Call call = RunCall{std::move(fn)};
  // After Stop() there is no thread to run fn on and no completion to
  // carry an error, so fn is dropped.
  static_cast<void>(state_->Enqueue(call, false));
}

void StorageWorker::Run(std::function<void(Engine&)> fn, std::function<void()> then) {
  Run([fn = std::move(fn), then = std::move(then), post = state_->post](Engine& engine) mutable {
    fn(engine);
    post(std::move(then));
  });
}

void StorageWorker::Stop() {
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
  }
  state_->wake.notify_all();
  if (!state_->thread.joinable() && state_->on_work) {
    while (RunQueued()) {
    }  // a manual worker finishes its queue here
    return;
  }
  // From inside a Run on the worker thread, joining would wait for itself;
  // the thread still finishes the queue and the destructor joins it.
  if (state_->thread.joinable() && state_->thread.get_id() != std::this_thread::get_id()) {
    state_->thread.join();
  }
}

size_t StorageWorker::queue_depth() const { return state_->depth.load(std::memory_order_relaxed); }

}  // namespace dynkv::storage
