#include "api/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <vector>

namespace dynkv::api {

namespace {

// Stats that are levels, not counts since start.
const std::set<std::string_view> kGauges = {
    "node.ready",          "requests.pending",       "uptime_s",           "ring.tokens",
    "storage.cache.bytes", "storage.cache.entries",  "connections.open",   "gossip.peers_up",
    "gossip.peers_down",   "gossip.peers_left",      "handoff.hints_pending", "transfers.running",
    "transfers.segments_pending", "anti_entropy.tree_ready", "anti_entropy.tree_bytes",
    "resp.connections_open", "resp.keys_in_flight", "storage.writes_refused", "storage.disk_full",
    "clients.tokens",      "ring.replication_differs"};

// Families whose last name component is a label: prefix, label name, gauge?
struct Labeled {
  std::string_view prefix;
  std::string_view label;
  bool gauge;
  std::string_view help;
};
const Labeled kLabeled[] = {
    {"failure_detector.phi.", "peer", true, "phi accrual suspicion of each peer, as this node sees it"},
    {"coordinator.latency_ms.", "peer", true, "the coordinator's smoothed response time of each peer, ms"},
    {"coordinator.timeouts.", "stage", false, "requests whose deadline passed, by the stage it found them in"},
};

struct Sample {
  std::string labels;  // rendered, with braces, or empty
  double value;
};

struct Family {
  std::string help;
  std::string type;
  std::vector<Sample> samples;
};

std::string MetricName(std::string_view stat) {
  std::string name = "dynkv_";
  for (char c : stat) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    name += ok ? c : '_';
  }
  return name;
}

std::string LabelValue(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(buffer, sizeof(buffer), "%.0f", value);
    return buffer;
  }
  // The shortest form that reads back as the same double (0.0002, not
  // 0.00020000000000000001): bucket bounds are compared as text.
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  return buffer;
}

void AddStat(const std::string& stat, double value, std::map<std::string, Family>* families) {
  for (const Labeled& l : kLabeled) {
    if (stat.rfind(l.prefix, 0) != 0) continue;
    std::string name = MetricName(l.prefix.substr(0, l.prefix.size() - 1)) + (l.gauge ? "" : "_total");
    Family& family = (*families)[name];
    family.help = std::string(l.help);
    family.type = l.gauge ? "gauge" : "counter";
    family.samples.push_back(
        {"{" + std::string(l.label) + "=\"" + LabelValue(stat.substr(l.prefix.size())) + "\"}", value});
    return;
  }
  const bool gauge = kGauges.count(stat) > 0;
  Family& family = (*families)[MetricName(stat) + (gauge ? "" : "_total")];
  family.help = "dynkv stat " + stat;
  family.type = gauge ? "gauge" : "counter";
  family.samples.push_back({"", value});
}

void AddRequests(const RequestMetrics& requests, std::map<std::string, Family>* families) {
  Family& total = (*families)["dynkv_requests_total"];
  total.help = "client requests answered, by operation and outcome";
  total.type = "counter";
  Family& duration = (*families)["dynkv_request_duration_seconds"];
  duration.help = "client request latency at the node, by operation and outcome";
  duration.type = "histogram";
  for (const auto& [key, histogram] : requests.by_op_and_code()) {
    const std::string labels = "op=\"" + LabelValue(key.first) + "\",code=\"" + LabelValue(key.second) + "\"";
    total.samples.push_back({"{" + labels + "}", static_cast<double>(histogram.count)});
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      cumulative += histogram.buckets[i];
      duration.samples.push_back(
          {"_bucket{" + labels + ",le=\"" + Number(kLatencyBuckets[i]) + "\"}", static_cast<double>(cumulative)});
    }
    duration.samples.push_back({"_bucket{" + labels + ",le=\"+Inf\"}", static_cast<double>(histogram.count)});
    duration.samples.push_back({"_sum{" + labels + "}", histogram.sum_seconds});
    duration.samples.push_back({"_count{" + labels + "}", static_cast<double>(histogram.count)});
  }
}

}  // namespace

void LatencyHistogram::Observe(double seconds) {
  ++count;
  sum_seconds += seconds;
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    if (seconds <= kLatencyBuckets[i]) {
      ++buckets[i];
      return;
    }
  }
}

void RequestMetrics::Record(std::string_view op, std::string_view code, double seconds) {
  by_op_and_code_[{std::string(op), std::string(code)}].Observe(seconds);
}

std::string RenderPrometheus(const std::map<std::string, double>& stats, const RequestMetrics& requests) {
  std::map<std::string, Family> families;
  for (const auto& [stat, value] : stats) {
    // Requests by operation come with their outcome from RequestMetrics.
    if (stat.rfind("requests.", 0) == 0 && stat != "requests.pending") continue;
    AddStat(stat, value, &families);
  }
  AddRequests(requests, &families);
  std::string out;
  for (const auto& [name, family] : families) {
    out += "# HELP " + name + " " + family.help + "\n";
    out += "# TYPE " + name + " " + family.type + "\n";
    for (const Sample& sample : family.samples) {
      // A histogram's samples carry their suffix in `labels`.
      out += name + sample.labels + " " + Number(sample.value) + "\n";
    }
  }
  return out;
}

}  // namespace dynkv::api
