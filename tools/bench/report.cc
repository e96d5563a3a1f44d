#include "report.h"

#include <cinttypes>
#include <fstream>
#include <sstream>

namespace dynkv::bench {

namespace {

double Millis(uint64_t nanos) { return static_cast<double>(nanos) / 1e6; }
double Micros(uint64_t nanos) { return static_cast<double>(nanos) / 1e3; }
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

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += Printf("\\u%04x", c);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string JsonErrors(const std::map<std::string, uint64_t>& errors) {
  std::string out = "{";
  for (const auto& [code, n] : errors) {
    if (out.size() > 1) out += ", ";
    out += JsonString(code) + ": " + std::to_string(n);
  }
  return out + "}";
}

std::string JsonLatency(const LatencyHistogram& h) {
  return Printf(
      R"({"min": %.1f, "mean": %.1f, "p50": %.1f, "p90": %.1f, "p99": %.1f, "p999": %.1f, "max": %.1f})",
      Micros(h.min()), h.mean() / 1e3, Micros(h.Percentile(50)), Micros(h.Percentile(90)),
      Micros(h.Percentile(99)), Micros(h.Percentile(99.9)), Micros(h.max()));
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
  std::ostringstream j;
  j << "{\n  \"target\": " << JsonString(TargetName(o.target)) << ",\n  \"nodes\": [";
  for (size_t i = 0; i < o.nodes.size(); ++i) j << (i ? ", " : "") << JsonString(o.nodes[i].ToString());
  j << "],\n";
  j << Printf("  \"connections\": %u, \"pipeline\": %u, \"threads\": %u,\n", o.connections, o.pipeline,
              o.threads);
  j << Printf("  \"mix\": {\"get\": %u, \"put\": %u, \"del\": %u},\n", o.mix[0], o.mix[1], o.mix[2]);
  j << Printf("  \"keys\": %" PRIu64 ", \"value_size\": %u, \"distribution\": ", o.keys, o.value_size)
    << JsonString(DistributionName(o.distribution)) << Printf(", \"zipf_theta\": %.3f,\n", o.zipf_theta);
  j << Printf("  \"r\": %u, \"w\": %u, \"routing\": %s, \"seed\": %" PRIu64 ",\n", o.r, o.w,
              o.routing ? "true" : "false", o.seed);
  if (o.load) {
    j << Printf("  \"load\": {\"keys\": %" PRIu64 ", \"seconds\": %.3f, \"ops_per_sec\": %.1f, \"errors\": ",
                s.measured.loaded, s.load_s, PerSecond(s.measured.loaded, s.load_s))
      << JsonErrors(s.measured.load_errors) << "},\n";
  } else {
    j << "  \"load\": null,\n";
  }
  j << Printf("  \"warmup_s\": %.3f, \"duration_s\": %.3f,\n", s.warmup_s, s.measured_s);
  j << Printf("  \"ops\": %" PRIu64 ", \"ops_per_sec\": %.1f, \"error_count\": %" PRIu64 ", \"errors\": ",
              s.ops(), PerSecond(s.ops(), s.measured_s), s.error_count())
    << JsonErrors(s.measured.errors) << ",\n";
  j << "  \"latency_us\": " << JsonLatency(s.all_latencies()) << ",\n  \"by_op\": {";
  bool first = true;
  for (int i = 0; i < kOpKinds; ++i) {
    const LatencyHistogram& h = s.measured.latency[i];
    if (h.count() == 0) continue;
    j << (first ? "\n" : ",\n") << "    " << JsonString(OpName(static_cast<OpKind>(i)))
      << Printf(": {\"ops\": %" PRIu64 ", \"ops_per_sec\": %.1f, \"latency_us\": ", h.count(),
                PerSecond(h.count(), s.measured_s))
      << JsonLatency(h) << "}";
    first = false;
  }
  j << (first ? "},\n" : "\n  },\n");
  j << Printf("  \"get_hits\": %" PRIu64 ", \"get_misses\": %" PRIu64 "\n}\n", s.measured.get_hits,
              s.measured.get_misses);
  if (path == "-") {
    std::fputs(j.str().c_str(), stdout);
    return Status::Ok();
  }
  std::ofstream file(path, std::ios::trunc);
  file << j.str();
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
