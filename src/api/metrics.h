// The node's counters in Prometheus' text exposition format (version
// 0.0.4, prometheus.io/docs/instrumenting/exposition_formats), for
// `GET /metrics` (issue 15). Pure: no I/O, no clock.
//
// Every counter of `dynkv stats` appears, named dynkv_<name> with dots as
// underscores (counters end in _total), per-peer ones with a label
// (failure_detector.phi.<node> is dynkv_failure_detector_phi{peer="<node>"});
// requests by operation and outcome (dynkv_requests_total{op, code}) and
// their latency histograms (dynkv_request_duration_seconds{op, code}) come
// from RequestMetrics. prometheus-cpp would do this, but Debian 12 does not
// package it; the format is small.
//
// Threads: the event loop's only.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

namespace dynkv::api {

// Upper bounds of the latency buckets, in seconds (Prometheus' defaults
// with finer steps below 5 ms, where a node's answers lie).
inline constexpr std::array<double, 14> kLatencyBuckets = {0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                           0.05,   0.1,    0.25,  0.5,    1,     2.5,   10};

struct LatencyHistogram {
  std::array<uint64_t, kLatencyBuckets.size()> buckets{};  // not cumulative
  uint64_t count = 0;
  double sum_seconds = 0;
  void Observe(double seconds);
};

// Requests answered, by operation (get, put, ...) and outcome code (ok,
// TIMEOUT, ...).
class RequestMetrics {
 public:
  void Record(std::string_view op, std::string_view code, double seconds);
  const std::map<std::pair<std::string, std::string>, LatencyHistogram>& by_op_and_code() const {
    return by_op_and_code_;
  }

 private:
  std::map<std::pair<std::string, std::string>, LatencyHistogram> by_op_and_code_;
};

// The exposition of `stats` (the node's Stats values) and `requests`.
std::string RenderPrometheus(const std::map<std::string, double>& stats, const RequestMetrics& requests);

}  // namespace dynkv::api
