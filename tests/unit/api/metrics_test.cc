// api::RenderPrometheus: the text exposition format (0.0.4) of the node's
// stats and request metrics: names, types, labels, escaping, histograms.
#include "api/metrics.h"

#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

namespace dynkv::api {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool Has(const std::string& text, const std::string& line) {
  for (const std::string& l : Lines(text)) {
    if (l == line) return true;
  }
  return false;
}

TEST_CASE("counters end in _total, levels are gauges, and each family has HELP and TYPE") {
  const std::string text = RenderPrometheus(
      {{"coordinator.reads", 7}, {"node.ready", 1}, {"storage.cache.bytes", 1024}, {"uptime_s", 12.5},
       {"resp.connections_open", 3}}, {});
  CHECK(Has(text, "# TYPE dynkv_coordinator_reads_total counter"));
  CHECK(Has(text, "dynkv_coordinator_reads_total 7"));
  CHECK(Has(text, "# TYPE dynkv_node_ready gauge"));
  CHECK(Has(text, "dynkv_node_ready 1"));
  CHECK(Has(text, "dynkv_storage_cache_bytes 1024"));
  CHECK(Has(text, "dynkv_uptime_s 12.5"));
  CHECK(Has(text, "dynkv_resp_connections_open 3"));  // a level, though its name says nothing
  CHECK(Has(text, "# HELP dynkv_coordinator_reads_total dynkv stat coordinator.reads"));
  CHECK(text.back() == '\n');
}

TEST_CASE("per-peer and per-stage stats become one family with a label, escaped") {
  const std::string text = RenderPrometheus({{"failure_detector.phi.node2", 0.5},
                                             {"failure_detector.phi.we\"ird\\id", 3},
                                             {"coordinator.timeouts.minting", 2}},
                                            {});
  CHECK(Has(text, "# TYPE dynkv_failure_detector_phi gauge"));
  CHECK(Has(text, "dynkv_failure_detector_phi{peer=\"node2\"} 0.5"));
  CHECK(Has(text, "dynkv_failure_detector_phi{peer=\"we\\\"ird\\\\id\"} 3"));
  CHECK(Has(text, "dynkv_coordinator_timeouts_total{stage=\"minting\"} 2"));
}

TEST_CASE("requests by operation and outcome, with cumulative latency buckets") {
  RequestMetrics requests;
  requests.Record("get", "ok", 0.0003);
  requests.Record("get", "ok", 0.004);
  requests.Record("put", "TIMEOUT", 5.0);
  // The stats' own per-operation counters give way to dynkv_requests_total.
  const std::string text = RenderPrometheus({{"requests.get", 2}, {"requests.pending", 0}}, requests);
  CHECK(text.find("dynkv_requests_get") == std::string::npos);
  CHECK(Has(text, "dynkv_requests_pending 0"));
  CHECK(Has(text, "# TYPE dynkv_requests_total counter"));
  CHECK(Has(text, "dynkv_requests_total{op=\"get\",code=\"ok\"} 2"));
  CHECK(Has(text, "dynkv_requests_total{op=\"put\",code=\"TIMEOUT\"} 1"));
  CHECK(Has(text, "# TYPE dynkv_request_duration_seconds histogram"));
  CHECK(Has(text, "dynkv_request_duration_seconds_bucket{op=\"get\",code=\"ok\",le=\"0.0002\"} 0"));
  CHECK(Has(text, "dynkv_request_duration_seconds_bucket{op=\"get\",code=\"ok\",le=\"0.0005\"} 1"));
  CHECK(Has(text, "dynkv_request_duration_seconds_bucket{op=\"get\",code=\"ok\",le=\"0.005\"} 2"));
  CHECK(Has(text, "dynkv_request_duration_seconds_bucket{op=\"get\",code=\"ok\",le=\"+Inf\"} 2"));
  CHECK(Has(text, "dynkv_request_duration_seconds_count{op=\"get\",code=\"ok\"} 2"));
  CHECK(Has(text, "dynkv_request_duration_seconds_bucket{op=\"put\",code=\"TIMEOUT\",le=\"2.5\"} 0"));
  CHECK(Has(text, "dynkv_request_duration_seconds_bucket{op=\"put\",code=\"TIMEOUT\",le=\"10\"} 1"));
}

}  // namespace
}  // namespace dynkv::api
