// Worker: one thread with its own uv loop and its share of the connections.
// Every connection keeps a fixed number of requests in flight (a closed
// loop): each response is recorded and replaced by the next request.
//
// The run goes through phases that the main thread sets (RunShared::phase)
// and announces with Wake(): kLoad writes every key once, kWarmup runs the
// workload unmeasured, kMeasure records, kStop sends nothing more. A
// request belongs to the phase it was sent in; latencies are recorded from
// send to response on the worker's thread (uv_hrtime).
//
// Threads: Start/Wake/Join and the snapshots are called by the main
// thread; everything else runs on the worker's thread. Stats are guarded
// by a mutex that the main thread takes once a second.
#pragma once

#include <uv.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "histogram.h"
#include "key_generator.h"
#include "options.h"
#include "store.h"

namespace dynkv::bench {

enum class Phase { kConnect, kLoad, kWarmup, kMeasure, kStop };

// What the main thread and the workers share.
struct RunShared {
  RunShared(const BenchOptions& options, const ZipfianConstants* zipf, ContextTable* contexts)
      : options(options), zipf(zipf), contexts(contexts) {}

  const BenchOptions& options;
  const ZipfianConstants* zipf;  // null unless zipfian
  ContextTable* contexts;        // dynkv only
  std::atomic<Phase> phase{Phase::kConnect};
  std::atomic<bool> force_close{false};  // give up on what is in flight
  std::atomic<uint64_t> next_load_key{0};
  std::atomic<int64_t> ops_budget{0};  // kMeasure requests left to send, with --ops

  // Workers report here; the main thread waits on `changed`.
  std::mutex mutex;
  std::condition_variable changed;
  int ready_workers = 0;     // every connection connected or failed
  int loaded_workers = 0;    // nothing more to load, nothing in flight
  int drained_workers = 0;   // nothing more to send in kMeasure/kStop, nothing in flight
  int live_connections = 0;  // connected and not lost
};

// Counts since the last snapshot, for the progress line.
struct IntervalStats {
  uint64_t ops = 0;  // successful, any phase
  uint64_t errors = 0;
  LatencyHistogram latency;  // kWarmup and kMeasure requests

  void Add(const IntervalStats& other);
};

// Everything measured, for the report.
struct MeasuredStats {
  std::array<LatencyHistogram, kOpKinds> latency;  // successful kMeasure requests by kind
  uint64_t get_hits = 0;
  uint64_t get_misses = 0;
  std::map<std::string, uint64_t> errors;  // kMeasure failures by code
  uint64_t last_completion_ns = 0;         // uv_hrtime of the last kMeasure response
  uint64_t loaded = 0;                     // successful kLoad writes
  std::map<std::string, uint64_t> load_errors;

  void Add(const MeasuredStats& other);
};

class Worker {
 public:
  Worker(int index, RunShared& shared, std::vector<net::HostPort> connection_nodes);
  ~Worker();  // Join()s
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void Start();
  // The phase (or force_close) changed.
  void Wake();
  void Join();

  IntervalStats TakeInterval();
  // REQUIRES: Join() returned.
  const MeasuredStats& measured() const { return measured_; }

 private:
  struct InFlight {
    uint64_t start_ns = 0;
    OpKind kind = OpKind::kGet;
    Phase phase = Phase::kConnect;
  };
  class Conn;

  void Run();
  static void OnWake(uv_async_t* handle);
  void OnConnected(Conn& conn, const Status& status);
  void OnDone(Conn& conn, uint32_t slot, Outcome outcome);
  void Record(const InFlight& request, const Outcome& outcome, uint64_t now_ns);
  // Fills `conn` up to the phase's depth.
  void Pump(Conn& conn);
  bool NextOp(Phase phase, Op* op, char* key_buffer);
  void CheckIdle();
  void Report(int RunShared::*counter, bool* reported);
  void CloseAll();

  const int index_;
  RunShared& shared_;
  const BenchOptions& options_;
  std::vector<net::HostPort> connection_nodes_;
  std::thread thread_;

  // Owned by the worker thread.
  uv_loop_t loop_;
  uv_async_t wake_;
  std::vector<std::unique_ptr<Conn>> conns_;
  size_t connects_pending_ = 0;
  uint64_t in_flight_ = 0;
  bool reported_ready_ = false;
  bool reported_loaded_ = false;
  bool reported_drained_ = false;
  bool closed_ = false;
  KeyChooser keys_;
  ValueSource values_;
  OpChooser ops_;

  // Guards wake_ against a Wake() racing with its close.
  std::mutex wake_mutex_;
  bool wake_open_ = false;

  std::mutex stats_mutex_;
  IntervalStats interval_;
  MeasuredStats measured_;
};

}  // namespace dynkv::bench
