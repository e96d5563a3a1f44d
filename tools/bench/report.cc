#include "report.h"

#include <cinttypes>
#include <fstream>

#include "json_line.h"

namespace dynkv::bench {

namespace {

double Millis(uint64_t nanos) { return static_cast<double>(nanos) / 1e6; }
double PerSecond(uint64_t n, double seconds) { return seconds > 0 ? static_cast<double>(n) / seconds : 0; }

std::string Printf(const char* format, auto... args) {
  char buffer[512];
  std::snprintf(buffer, sizeof(buffer), format, args...);
  return buffer;
}

std::string ErrorList(const std::map<std::string, uint64_t>& errors) {
  if (errors.empty()) return "none";
  std::string text;
  for (const auto& [code, n] : errors) {
    if (!text.empty()) text += ", ";
    text += code + " " + std::to_string(n);
  }
  return text;
}

std::string TableRow(const char* name, const LatencyHistogram& h, double seconds) {
  return Printf("%-5s %11" PRIu64 " %11.0f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f\n", name, h.count(),
                PerSecond(h.count(), seconds), Millis(h.Percentile(50)), Millis(h.Percentile(90)),
                Millis(h.Percentile(99)), Millis(h.Percentile(99.9)), Millis(h.max()), h.mean() / 1e6);
}

// Latencies in microseconds, one decimal.
nlohmann::ordered_json JsonLatency(const LatencyHistogram& h) {
  auto us = [](double nanos) { return tools::JsonDecimal(nanos / 1e3, 1); };
  return {{"min", us(static_cast<double>(h.min()))},
          {"mean", us(h.mean())},
          {"p50", us(static_cast<double>(h.Percentile(50)))},
          {"p90", us(static_cast<double>(h.Percentile(90)))},
          {"p99", us(static_cast<double>(h.Percentile(99)))},
          {"p999", us(static_cast<double>(h.Percentile(99.9)))},
          {"max", us(static_cast<double>(h.max()))}};
}

}  // namespace

uint64_t Summary::ops() const {
  uint64_t n = 0;
  for (const LatencyHistogram& h : measured.latency) n += h.count();
  return n;
}

uint64_t Summary::error_count() const {
  uint64_t n = 0;
  for (const auto& [code, count] : measured.errors) n += count;
  return n;
}

LatencyHistogram Summary::all_latencies() const {
  LatencyHistogram all;
  for (const LatencyHistogram& h : measured.latency) all.Add(h);
  return all;
}

void PrintReport(const Summary& s, std::FILE* out) {
  const BenchOptions& o = s.options;
  std::string nodes;
  for (const net::HostPort& node : o.nodes) {
    if (!nodes.empty()) nodes += ',';
    nodes += node.ToString();
  }
  std::fprintf(out, "dynkv-bench: %s at %s%s, %u connections x pipeline %u, %u thread(s)\n",
               TargetName(o.target), nodes.c_str(), o.routing ? " (routed by key)" : "", o.connections,
               o.pipeline, o.threads);
  std::fprintf(out, "workload: get:put:del %u:%u:%u, %" PRIu64 " keys %s%s, %u-byte values\n", o.mix[0],
               o.mix[1], o.mix[2], o.keys, DistributionName(o.distribution),
               o.distribution == Distribution::kZipfian ? Printf(" (theta %.2f)", o.zipf_theta).c_str() : "",
               o.value_size);
  if (o.load) {
    std::fprintf(out, "load: %" PRIu64 " keys in %.2f s (%.0f keys/s), errors: %s\n", s.measured.loaded,
                 s.load_s, PerSecond(s.measured.loaded, s.load_s), ErrorList(s.measured.load_errors).c_str());
  }
  std::fprintf(out, "measured %.2f s after %.1f s warm-up: %" PRIu64 " ops, %.0f ops/s, errors: %s\n\n",
               s.measured_s, s.warmup_s, s.ops(), PerSecond(s.ops(), s.measured_s),
               ErrorList(s.measured.errors).c_str());
  std::fprintf(out, "%-5s %11s %11s %9s %9s %9s %9s %9s %9s\n", "op", "ops", "ops/s", "p50 ms", "p90 ms",
               "p99 ms", "p99.9 ms", "max ms", "mean ms");
  for (int i = 0; i < kOpKinds; ++i) {
    if (s.measured.latency[i].count() == 0) continue;
    std::fputs(TableRow(OpName(static_cast<OpKind>(i)), s.measured.latency[i], s.measured_s).c_str(), out);
  }
  std::fputs(TableRow("all", s.all_latencies(), s.measured_s).c_str(), out);
  if (s.measured.latency[static_cast<int>(OpKind::kGet)].count() > 0) {
    std::fprintf(out, "\ngets: %" PRIu64 " found, %" PRIu64 " missing\n", s.measured.get_hits,
                 s.measured.get_misses);
  }
}

Status WriteJson(const Summary& s, const std::string& path) {
  const BenchOptions& o = s.options;
  nlohmann::ordered_json nodes = nlohmann::ordered_json::array();
  for (const net::HostPort& node : o.nodes) nodes.push_back(node.ToString());
  nlohmann::ordered_json load = nullptr;
  if (o.load) {
    load = {{"keys", s.measured.loaded},
            {"seconds", tools::JsonDecimal(s.load_s, 3)},
            {"ops_per_sec", tools::JsonDecimal(PerSecond(s.measured.loaded, s.load_s), 1)},
            {"errors", s.measured.load_errors}};
  }
  nlohmann::ordered_json by_op = nlohmann::ordered_json::object();
  for (int i = 0; i < kOpKinds; ++i) {
    const LatencyHistogram& h = s.measured.latency[i];
    if (h.count() == 0) continue;
    by_op[OpName(static_cast<OpKind>(i))] = {{"ops", h.count()},
                                             {"ops_per_sec", tools::JsonDecimal(PerSecond(h.count(), s.measured_s), 1)},
                                             {"latency_us", JsonLatency(h)}};
  }
  const nlohmann::ordered_json report = {
      {"target", TargetName(o.target)},
      {"nodes", nodes},
      {"connections", o.connections},
      {"pipeline", o.pipeline},
      {"threads", o.threads},
      {"mix", {{"get", o.mix[0]}, {"put", o.mix[1]}, {"del", o.mix[2]}}},
      {"keys", o.keys},
      {"value_size", o.value_size},
      {"distribution", DistributionName(o.distribution)},
      {"zipf_theta", tools::JsonDecimal(o.zipf_theta, 3)},
      {"r", o.r},
      {"w", o.w},
      {"routing", o.routing},
      {"seed", o.seed},
      {"load", load},
      {"warmup_s", tools::JsonDecimal(s.warmup_s, 3)},
      {"duration_s", tools::JsonDecimal(s.measured_s, 3)},
      {"ops", s.ops()},
      {"ops_per_sec", tools::JsonDecimal(PerSecond(s.ops(), s.measured_s), 1)},
      {"error_count", s.error_count()},
      {"errors", s.measured.errors},
      {"latency_us", JsonLatency(s.all_latencies())},
      {"by_op", by_op},
      {"get_hits", s.measured.get_hits},
      {"get_misses", s.measured.get_misses}};
  const std::string text = report.dump(2) + "\n";
  if (path == "-") {
    std::fputs(text.c_str(), stdout);
    return Status::Ok();
  }
  std::ofstream file(path, std::ios::trunc);
  file << text;
  file.close();
  if (!file) return Status::Unavailable("cannot write " + path);
  return Status::Ok();
}

std::string ProgressLine(double elapsed_s, const char* phase, const IntervalStats& interval,
                         double interval_s) {
  std::string line = Printf("%7.1fs %-8s %9.0f ops/s", elapsed_s, phase, PerSecond(interval.ops, interval_s));
  if (interval.latency.count() > 0) {
    line += Printf("  p50 %.3f ms  p99 %.3f ms  max %.3f ms", Millis(interval.latency.Percentile(50)),
                   Millis(interval.latency.Percentile(99)), Millis(interval.latency.max()));
  }
  return line + Printf("  errors %" PRIu64, interval.errors);
}

}  // namespace dynkv::bench
