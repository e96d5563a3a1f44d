#include "worker.h"

#include <algorithm>
#include <cstdio>

namespace dynkv::bench {

void IntervalStats::Add(const IntervalStats& other) {
  ops += other.ops;
  errors += other.errors;
  latency.Add(other.latency);
}

void MeasuredStats::Add(const MeasuredStats& other) {
  for (int i = 0; i < kOpKinds; ++i) latency[i].Add(other.latency[i]);
  get_hits += other.get_hits;
  get_misses += other.get_misses;
  for (const auto& [code, n] : other.errors) errors[code] += n;
  last_completion_ns = std::max(last_completion_ns, other.last_completion_ns);
  loaded += other.loaded;
  for (const auto& [code, n] : other.load_errors) load_errors[code] += n;
}

// One connection and its request slots. A slot is a request in flight; the
// store answers by slot, so the worker knows its kind, phase and start.
class Worker::Conn final : public StoreConnection::Listener {
 public:
  Conn(Worker& worker, uint32_t slots) : worker(worker), requests(slots) {
    free_slots.reserve(slots);
    for (uint32_t i = slots; i > 0; --i) free_slots.push_back(i - 1);
  }

  void OnConnected(const Status& status) override { worker.OnConnected(*this, status); }
  void OnDone(uint32_t slot, Outcome outcome) override { worker.OnDone(*this, slot, std::move(outcome)); }

  Worker& worker;
  std::unique_ptr<StoreConnection> store;
  std::vector<InFlight> requests;  // by slot
  std::vector<uint32_t> free_slots;
  uint32_t in_flight = 0;
  bool alive = false;     // connected and not lost
  bool reported = false;  // OnConnected seen
};

Worker::Worker(int index, RunShared& shared, std::vector<net::HostPort> connection_nodes)
    : index_(index),
      shared_(shared),
      options_(shared.options),
      connection_nodes_(std::move(connection_nodes)),
      keys_(options_.distribution, options_.keys, shared.zipf, options_.seed * 1000003 + index),
      values_(options_.value_size, options_.seed * 1000033 + index),
      ops_(options_.mix, options_.seed * 1000037 + index) {}

Worker::~Worker() { Join(); }

void Worker::Start() {
  // Initialised here, before the thread exists, so Wake() is safe at once.
  uv_loop_init(&loop_);
  uv_async_init(&loop_, &wake_, &Worker::OnWake);
  wake_.data = this;
  wake_open_ = true;
  thread_ = std::thread([this] { Run(); });
}

void Worker::Wake() {
  std::lock_guard<std::mutex> lock(wake_mutex_);
  if (wake_open_) uv_async_send(&wake_);
}

void Worker::Join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::Run() {
  const uint32_t slots = std::max(options_.pipeline, options_.load ? options_.load_pipeline : 1u);
  for (const net::HostPort& node : connection_nodes_) {
    auto conn = std::make_unique<Conn>(*this, slots);
    if (options_.target == Target::kDynkv) {
      const bool writes = options_.load || options_.mix[1] > 0 || options_.mix[2] > 0 ||
                          !options_.contexts_path.empty();
      DynkvSettings settings{options_.r, options_.w, options_.timeout_ms, slots, writes, options_.routing,
                             options_.nodes, options_.tls, options_.token};
      conn->store = MakeDynkvConnection(&loop_, node, settings, shared_.contexts, conn.get());
    } else {
      conn->store = MakeRedisConnection(&loop_, node, conn.get());
    }
    conns_.push_back(std::move(conn));
  }
  connects_pending_ = conns_.size();
  for (auto& conn : conns_) conn->store->Connect();
  if (conns_.empty()) Report(&RunShared::ready_workers, &reported_ready_);
  uv_run(&loop_, UV_RUN_DEFAULT);
  conns_.clear();  // their handles closed during the run
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

void Worker::Report(int RunShared::*counter, bool* reported) {
  if (*reported) return;
  *reported = true;
  {
    std::lock_guard<std::mutex> lock(shared_.mutex);
    ++(shared_.*counter);
  }
  shared_.changed.notify_all();
}

void Worker::OnConnected(Conn& conn, const Status& status) {
  if (conn.reported) return;
  conn.reported = true;
  conn.alive = status.ok();
  if (!status.ok()) {
    std::fprintf(stderr, "dynkv-bench: %s\n", status.ToString().c_str());
  } else {
    std::lock_guard<std::mutex> lock(shared_.mutex);
    ++shared_.live_connections;
  }
  if (--connects_pending_ == 0) Report(&RunShared::ready_workers, &reported_ready_);
}

void Worker::OnWake(uv_async_t* handle) {
  auto* self = static_cast<Worker*>(handle->data);
  if (self->shared_.force_close.load()) return self->CloseAll();
  for (auto& conn : self->conns_) self->Pump(*conn);
  self->CheckIdle();
}

bool Worker::NextOp(Phase phase, Op* op, char* key_buffer) {
  switch (phase) {
    case Phase::kLoad: {
      const uint64_t index = shared_.next_load_key.fetch_add(1, std::memory_order_relaxed);
      if (index >= options_.keys) return false;
      op->kind = OpKind::kPut;
      op->key_index = index;
      break;
    }
    case Phase::kMeasure:
      if (options_.ops > 0 && shared_.ops_budget.fetch_sub(1, std::memory_order_relaxed) <= 0) return false;
      [[fallthrough]];
    case Phase::kWarmup:
      op->kind = ops_.Next();
      op->key_index = keys_.Next();
      break;
    default:
      return false;
  }
  FormatKey(op->key_index, key_buffer);
  op->key = std::string_view(key_buffer, kKeyBytes);
  op->value = op->kind == OpKind::kPut ? values_.Next() : std::string_view();
  return true;
}

void Worker::Pump(Conn& conn) {
  char key[kKeyBytes];
  while (conn.alive && !conn.free_slots.empty()) {
    const Phase phase = shared_.phase.load();
    const uint32_t depth = phase == Phase::kLoad ? options_.load_pipeline : options_.pipeline;
    if (conn.in_flight >= depth) return;
    Op op;
    if (!NextOp(phase, &op, key)) return;
    const uint32_t slot = conn.free_slots.back();
    conn.free_slots.pop_back();
    conn.requests[slot] = InFlight{uv_hrtime(), op.kind, phase};
    ++conn.in_flight;
    ++in_flight_;
    conn.store->Issue(slot, op);  // may answer at once (a lost connection)
  }
}

void Worker::OnDone(Conn& conn, uint32_t slot, Outcome outcome) {
  const InFlight request = conn.requests[slot];
  conn.free_slots.push_back(slot);
  --conn.in_flight;
  --in_flight_;
  Record(request, outcome, uv_hrtime());
  if (outcome.connection_lost && conn.alive) {
    conn.alive = false;
    std::lock_guard<std::mutex> lock(shared_.mutex);
    --shared_.live_connections;
  }
  Pump(conn);
  CheckIdle();
}

void Worker::Record(const InFlight& request, const Outcome& outcome, uint64_t now_ns) {
  const uint64_t latency = now_ns - request.start_ns;
  std::lock_guard<std::mutex> lock(stats_mutex_);
  if (outcome.ok) {
    ++interval_.ops;
  } else {
    ++interval_.errors;
  }
  switch (request.phase) {
    case Phase::kLoad:
      if (outcome.ok)
        ++measured_.loaded;
      else
        ++measured_.load_errors[outcome.error];
      break;
    case Phase::kWarmup:
      if (outcome.ok) interval_.latency.Record(latency);
      break;
    case Phase::kMeasure:
      measured_.last_completion_ns = std::max(measured_.last_completion_ns, now_ns);
      if (!outcome.ok) {
        ++measured_.errors[outcome.error];
        break;
      }
      interval_.latency.Record(latency);
      measured_.latency[static_cast<int>(request.kind)].Record(latency);
      if (request.kind == OpKind::kGet) ++(outcome.found ? measured_.get_hits : measured_.get_misses);
      break;
    default:
      break;
  }
}

// Tells the main thread when this worker has nothing left to do in the
// current phase, and closes everything once the run is over.
void Worker::CheckIdle() {
  if (in_flight_ > 0 || closed_) return;
  switch (shared_.phase.load()) {
    case Phase::kLoad:
      if (shared_.next_load_key.load() >= options_.keys ||
          std::none_of(conns_.begin(), conns_.end(), [](const auto& c) { return c->alive; })) {
        Report(&RunShared::loaded_workers, &reported_loaded_);
      }
      break;
    case Phase::kMeasure:
      // With --ops, the budget may be spent; without, the clock decides.
      if ((options_.ops > 0 && shared_.ops_budget.load() <= 0) ||
          std::none_of(conns_.begin(), conns_.end(), [](const auto& c) { return c->alive; })) {
        Report(&RunShared::drained_workers, &reported_drained_);
      }
      break;
    case Phase::kStop:
      Report(&RunShared::drained_workers, &reported_drained_);
      CloseAll();
      break;
    default:
      break;
  }
}

void Worker::CloseAll() {
  if (closed_) return;
  closed_ = true;
  for (auto& conn : conns_) {
    conn->alive = false;
    conn->store->Close();  // fails what is in flight through OnDone
  }
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    wake_open_ = false;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
  Report(&RunShared::drained_workers, &reported_drained_);
}

IntervalStats Worker::TakeInterval() {
  IntervalStats taken;
  std::lock_guard<std::mutex> lock(stats_mutex_);
  taken.ops = interval_.ops;
  taken.errors = interval_.errors;
  taken.latency.Add(interval_.latency);
  interval_.ops = 0;
  interval_.errors = 0;
  interval_.latency.Reset();
  return taken;
}

}  // namespace dynkv::bench
