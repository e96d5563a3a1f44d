// Results of a run: the table on stdout, the JSON file, the progress line.
//
// JSON fields (latencies in microseconds, rates per second):
//   target, nodes[], connections, pipeline, threads, mix{get,put,del},
//   keys, value_size, distribution, zipf_theta, r, w, seed,
//   load: null or {keys, seconds, ops_per_sec, errors{CODE: n}},
//   warmup_s, duration_s (the measured time), ops (successful requests),
//   ops_per_sec, error_count, errors{CODE: n},
//   latency_us{min, mean, p50, p90, p99, p999, max},
//   by_op{get|put|del: {ops, ops_per_sec, latency_us{...}}},
//   get_hits, get_misses
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "options.h"
#include "worker.h"

namespace dynkv::bench {

struct Summary {
  explicit Summary(const BenchOptions& options) : options(options) {}

  const BenchOptions& options;
  MeasuredStats measured;
  double load_s = 0;  // 0 without --load
  double warmup_s = 0;
  double measured_s = 0;  // from the start of kMeasure to its last response

  uint64_t ops() const;
  uint64_t error_count() const;
  LatencyHistogram all_latencies() const;
};

void PrintReport(const Summary& summary, std::FILE* out);
// `path` "-" writes to stdout.
Status WriteJson(const Summary& summary, const std::string& path);

// "  3.0s measure   52311 ops/s  p50 0.912 ms  p99 2.104 ms  max 5.2 ms  errors 0"
std::string ProgressLine(double elapsed_s, const char* phase, const IntervalStats& interval,
                         double interval_s);

}  // namespace dynkv::bench
