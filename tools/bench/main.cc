// dynkv-bench: a closed-loop load generator for dynkv and, with the same
// generator and bookkeeping, for Redis (issue 6). See Usage() in options.cc.
//
// The main thread only steers: it moves the workers through the phases
// (connect, load, warm-up, measure, stop), prints a progress line each
// second, and reports. The workers do all I/O on their own uv loops.
#include <uv.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "key_generator.h"
#include "options.h"
#include "report.h"
#include "store.h"
#include "worker.h"

namespace dynkv::bench {

namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr uint64_t kSecondNs = 1'000'000'000;

double Seconds(uint64_t nanos) { return static_cast<double>(nanos) / 1e9; }

class BenchRun {
 public:
  BenchRun(const BenchOptions& options, const ZipfianConstants* zipf, ContextTable* contexts)
      : options_(options),
        shared_(options, zipf, contexts),
        start_ns_(uv_hrtime()),
        last_tick_ns_(start_ns_) {
    const uint32_t threads = std::min(options.threads, options.connections);
    std::vector<std::vector<net::HostPort>> nodes(threads);
    for (uint32_t i = 0; i < options.connections; ++i) {
      nodes[i % threads].push_back(options.nodes[i % options.nodes.size()]);
    }
    for (uint32_t t = 0; t < threads; ++t) {
      workers_.push_back(std::make_unique<Worker>(static_cast<int>(t), shared_, std::move(nodes[t])));
    }
  }

  // Runs every phase; fills `summary`. False when no connection came up.
  bool Execute(Summary* summary) {
    for (auto& worker : workers_) worker->Start();
    const uint64_t connect_limit = uint64_t{options_.timeout_ms} * 1'000'000 + 5 * kSecondNs;
    Wait(
        "connect", [&] { return shared_.ready_workers == workers(); }, uv_hrtime() + connect_limit);
    if (live_connections() == 0) {
      std::fprintf(stderr, "dynkv-bench: no connection could be made\n");
      Finish();
      return false;
    }
    if (options_.load) {
      const uint64_t begin = EnterPhase(Phase::kLoad);
      Wait(
          "load", [&] { return shared_.loaded_workers == workers(); }, std::nullopt);
      summary->load_s = Seconds(uv_hrtime() - begin);
    }
    if (options_.warmup_s > 0) {
      const uint64_t begin = EnterPhase(Phase::kWarmup);
      Wait(
          "warmup", [&] { return shared_.live_connections == 0; },
          begin + static_cast<uint64_t>(options_.warmup_s * 1e9));
      summary->warmup_s = Seconds(uv_hrtime() - begin);
    }
    shared_.ops_budget = static_cast<int64_t>(options_.ops);
    const uint64_t measure_begin = EnterPhase(Phase::kMeasure);
    std::optional<uint64_t> deadline;
    if (options_.ops == 0) deadline = measure_begin + static_cast<uint64_t>(options_.duration_s * 1e9);
    Wait(
        "measure", [&] { return shared_.drained_workers == workers(); }, deadline);
    Finish();
    for (auto& worker : workers_) summary->measured.Add(worker->measured());
    const uint64_t end = std::max(summary->measured.last_completion_ns, measure_begin);
    summary->measured_s = Seconds(end - measure_begin);
    return true;
  }

 private:
  int workers() const { return static_cast<int>(workers_.size()); }

  int live_connections() {
    std::lock_guard<std::mutex> lock(shared_.mutex);
    return shared_.live_connections;
  }

  uint64_t EnterPhase(Phase phase) {
    shared_.phase = phase;
    for (auto& worker : workers_) worker->Wake();
    return uv_hrtime();
  }

  // Stops sending, waits for the answers in flight (each has its own
  // timeout), then gives up on whatever is still missing.
  void Finish() {
    EnterPhase(Phase::kStop);
    const uint64_t limit = uint64_t{options_.timeout_ms} * 1'000'000 + 2 * kSecondNs;
    if (!Wait(
            "stop", [&] { return shared_.drained_workers == workers(); }, uv_hrtime() + limit)) {
      std::fprintf(stderr, "dynkv-bench: giving up on requests still in flight\n");
      shared_.force_close = true;
      for (auto& worker : workers_) worker->Wake();
    }
    for (auto& worker : workers_) worker->Join();
  }

  // Waits until `done` (read under the shared mutex) or the deadline,
  // printing a progress line each second. True when `done`.
  bool Wait(const char* phase, const std::function<bool()>& done, std::optional<uint64_t> deadline_ns) {
    std::unique_lock<std::mutex> lock(shared_.mutex);
    while (!done()) {
      const uint64_t now = uv_hrtime();
      if (deadline_ns && now >= *deadline_ns) return false;
      uint64_t wake = last_tick_ns_ + kSecondNs;
      if (deadline_ns) wake = std::min(wake, *deadline_ns);
      shared_.changed.wait_for(lock, std::chrono::nanoseconds(wake > now ? wake - now : 0));
      if (uv_hrtime() >= last_tick_ns_ + kSecondNs) {
        lock.unlock();
        Progress(phase);
        lock.lock();
      }
    }
    return true;
  }

  void Progress(const char* phase) {
    const uint64_t now = uv_hrtime();
    IntervalStats interval;
    for (auto& worker : workers_) interval.Add(worker->TakeInterval());
    if (options_.progress) {
      std::fprintf(
          stderr, "%s\n",
          ProgressLine(Seconds(now - start_ns_), phase, interval, Seconds(now - last_tick_ns_)).c_str());
    }
    last_tick_ns_ = now;
  }

  const BenchOptions& options_;
  RunShared shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
  const uint64_t start_ns_;
  uint64_t last_tick_ns_;
};

int Main(int argc, char** argv) {
  bool help = false;
  auto parsed = ParseArgs(argc, argv, &help);
  if (help) {
    std::fputs(Usage().c_str(), stdout);
    return 0;
  }
  if (!parsed.ok()) {
    std::fprintf(stderr, "dynkv-bench: %s\n(run 'dynkv-bench --help' for usage)\n",
                 parsed.status().message().c_str());
    return kExitUsage;
  }
  const BenchOptions& options = *parsed;
  // A peer that closes its end must fail a write, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);

  std::optional<ZipfianConstants> zipf;
  if (options.distribution == Distribution::kZipfian)
    zipf = MakeZipfianConstants(options.keys, options.zipf_theta);
  std::unique_ptr<ContextTable> contexts;
  if (options.target == Target::kDynkv) contexts = std::make_unique<ContextTable>(options.keys);
  if (contexts && !options.contexts_path.empty()) {
    if (Status loaded = contexts->Load(options.contexts_path); !loaded.ok()) {
      std::fprintf(stderr, "dynkv-bench: %s\n", loaded.message().c_str());
      return kExitFailed;
    }
  }

  Summary summary(options);
  BenchRun run(options, zipf ? &*zipf : nullptr, contexts.get());
  const bool executed = run.Execute(&summary);
  if (contexts && !options.contexts_path.empty()) {
    if (Status saved = contexts->Save(options.contexts_path); !saved.ok()) {
      std::fprintf(stderr, "dynkv-bench: %s\n", saved.message().c_str());
      return kExitFailed;
    }
  }
  if (!executed) return kExitFailed;

  // With --json -, stdout carries the JSON alone.
  PrintReport(summary, options.json_path == "-" ? stderr : stdout);
  if (!options.json_path.empty()) {
    Status written = WriteJson(summary, options.json_path);
    if (!written.ok()) {
      std::fprintf(stderr, "dynkv-bench: %s\n", written.ToString().c_str());
      return kExitFailed;
    }
  }
  const bool clean = summary.error_count() == 0 && summary.measured.load_errors.empty() && summary.ops() > 0;
  return clean ? 0 : kExitFailed;
}

}  // namespace

}  // namespace dynkv::bench

int main(int argc, char** argv) { return dynkv::bench::Main(argc, argv); }
