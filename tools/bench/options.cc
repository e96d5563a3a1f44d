#include "options.h"

#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <string_view>

#include "client/client.h"

namespace dynkv::bench {

const char kUsage[] = R"(usage: dynkv-bench [options]

Drives a dynkv node (or Redis, with the same generator) with a closed-loop
load: every connection keeps --pipeline requests in flight. Prints a table
on stdout, a progress line each second on stderr, and JSON with --json.

target
  --target dynkv|redis   store to measure (default dynkv)
  --node HOST:PORT       default 127.0.0.1:7101 (dynkv) or 127.0.0.1:6379 (redis)
  --nodes A,B,C          spread the connections over several nodes
  --r R, --w W           dynkv replicas per read / write: a count, one,
                         quorum, all or default (the node's; the default)
  --timeout MS           per-request timeout (default 10000)
  --routing              dynkv: send each key's request to a replica of it
                         (token-aware: the client fetches the ring from the
                         nodes given and routes by it); default: to the
                         connection's node, which forwards
  --contexts FILE        keep the contexts seen for each key in FILE between
                         runs (read at the start when it exists, written at
                         the end), so a later run's puts replace values as
                         a Redis SET does instead of adding siblings
load shape
  --connections N        TCP connections (default 50)
  --pipeline N           requests in flight per connection (default 1)
  --threads N            event-loop threads sharing the connections (default 1)
  --mix G:P:D            get:put:del weights (default 50:50:0)
  --keys N               key count; keys are key:000000000000 .. (default 1000000)
  --value-size BYTES     default 100
  --distribution uniform|zipfian
  --zipf-theta X         zipfian skew, 0 < X < 1 (default 0.99, as YCSB)
  --seed N               random seed (default 1)
run
  --load                 write every key once before the warm-up (pipelined)
  --load-pipeline N      requests in flight per connection while loading (default 64)
  --warmup SECONDS       unmeasured load before measuring (default 1)
  --duration SECONDS     measure this long (default 10)
  --ops N                or measure exactly N operations
output
  --json FILE            write the results as JSON to FILE ('-': stdout)
  --quiet                no progress lines
  --help

Exit status: 0 when every measured request succeeded, 1 when some failed or
the run could not start, 2 for bad usage.
)";

const char* OpName(OpKind kind) {
  switch (kind) {
    case OpKind::kGet:
      return "get";
    case OpKind::kPut:
      return "put";
    case OpKind::kDel:
      return "del";
  }
  return "?";
}

const char* TargetName(Target target) { return target == Target::kDynkv ? "dynkv" : "redis"; }

const char* DistributionName(Distribution distribution) {
  return distribution == Distribution::kUniform ? "uniform" : "zipfian";
}

namespace {

Status BadValue(std::string_view flag, std::string_view value, std::string_view expected) {
  return Status::InvalidArgument("--" + std::string(flag) + " " + std::string(value) + ": expected " +
                                 std::string(expected));
}

Status ParseCount(std::string_view flag, std::string_view text, uint64_t min, uint64_t max, uint64_t* out) {
  uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < min ||
      value > max) {
    return BadValue(flag, text, "an integer in " + std::to_string(min) + ".." + std::to_string(max));
  }
  *out = value;
  return Status::Ok();
}

template <typename T>
Status ParseCountInto(std::string_view flag, std::string_view text, uint64_t min, uint64_t max, T* out) {
  uint64_t value = 0;
  DYNKV_RETURN_IF_ERROR(ParseCount(flag, text, min, max, &value));
  *out = static_cast<T>(value);
  return Status::Ok();
}

Status ParseSeconds(std::string_view flag, std::string_view text, double min, double* out) {
  double value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || !std::isfinite(value) ||
      value < min || value > 86400) {
    return BadValue(flag, text, "a number of seconds in " + std::to_string(min) + "..86400");
  }
  *out = value;
  return Status::Ok();
}

Status ParseMix(std::string_view text, uint32_t mix[kOpKinds]) {
  uint32_t parsed[kOpKinds] = {0, 0, 0};
  std::string_view rest = text;
  for (int i = 0; i < kOpKinds; ++i) {
    const size_t colon = rest.find(':');
    const bool last = i == kOpKinds - 1;
    if (last != (colon == std::string_view::npos)) return BadValue("mix", text, "GET:PUT:DEL, e.g. 50:50:0");
    std::string_view part = last ? rest : rest.substr(0, colon);
    DYNKV_RETURN_IF_ERROR(ParseCountInto("mix", part, 0, 1'000'000, &parsed[i]));
    if (!last) rest.remove_prefix(colon + 1);
  }
  if (parsed[0] + parsed[1] + parsed[2] == 0) return BadValue("mix", text, "at least one non-zero weight");
  std::copy(parsed, parsed + kOpKinds, mix);
  return Status::Ok();
}

Status ParseNodes(std::string_view flag, std::string_view text, std::vector<net::HostPort>* nodes) {
  nodes->clear();
  while (!text.empty()) {
    const size_t comma = text.find(',');
    auto node = net::ParseHostPort(text.substr(0, comma));
    if (!node.ok()) return node.status().WithContext("--" + std::string(flag));
    nodes->push_back(*node);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  if (nodes->empty()) return BadValue(flag, text, "HOST:PORT[,HOST:PORT...]");
  return Status::Ok();
}

Status ParseLevel(std::string_view flag, std::string_view text, uint32_t* out) {
  auto level = client::ParseQuorum(text);
  if (!level.ok()) return level.status().WithContext("--" + std::string(flag));
  *out = *level;
  return Status::Ok();
}

Status ParseTarget(std::string_view text, Target* target) {
  if (text == "dynkv") {
    *target = Target::kDynkv;
  } else if (text == "redis") {
    *target = Target::kRedis;
  } else {
    return BadValue("target", text, "dynkv or redis");
  }
  return Status::Ok();
}

Status ParseDistribution(std::string_view text, Distribution* distribution) {
  if (text == "uniform") {
    *distribution = Distribution::kUniform;
  } else if (text == "zipfian") {
    *distribution = Distribution::kZipfian;
  } else {
    return BadValue("distribution", text, "uniform or zipfian");
  }
  return Status::Ok();
}

Status ParseTheta(std::string_view text, double* theta) {
  double value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || !(value > 0 && value < 1)) {
    return BadValue("zipf-theta", text, "a number between 0 and 1 (exclusive)");
  }
  *theta = value;
  return Status::Ok();
}

using Setter = std::function<Status(BenchOptions&, std::string_view)>;

const std::map<std::string_view, Setter>& ValueFlags() {
  static const std::map<std::string_view, Setter> flags = {
      {"target", [](BenchOptions& o, std::string_view v) { return ParseTarget(v, &o.target); }},
      {"node", [](BenchOptions& o, std::string_view v) { return ParseNodes("node", v, &o.nodes); }},
      {"nodes", [](BenchOptions& o, std::string_view v) { return ParseNodes("nodes", v, &o.nodes); }},
      {"connections",
       [](BenchOptions& o, std::string_view v) {
         return ParseCountInto("connections", v, 1, 10000, &o.connections);
       }},
      {"pipeline", [](BenchOptions& o,
                      std::string_view v) { return ParseCountInto("pipeline", v, 1, 10000, &o.pipeline); }},
      {"threads",
       [](BenchOptions& o, std::string_view v) { return ParseCountInto("threads", v, 1, 256, &o.threads); }},
      {"mix", [](BenchOptions& o, std::string_view v) { return ParseMix(v, o.mix); }},
      {"keys", [](BenchOptions& o,
                  std::string_view v) { return ParseCount("keys", v, 1, 999'999'999'999, &o.keys); }},
      {"value-size",
       [](BenchOptions& o, std::string_view v) {
         return ParseCountInto("value-size", v, 1, 64u << 20, &o.value_size);
       }},
      {"distribution",
       [](BenchOptions& o, std::string_view v) { return ParseDistribution(v, &o.distribution); }},
      {"zipf-theta", [](BenchOptions& o, std::string_view v) { return ParseTheta(v, &o.zipf_theta); }},
      {"duration",
       [](BenchOptions& o, std::string_view v) { return ParseSeconds("duration", v, 0.01, &o.duration_s); }},
      {"ops",
       [](BenchOptions& o, std::string_view v) { return ParseCount("ops", v, 1, UINT64_MAX / 2, &o.ops); }},
      {"warmup",
       [](BenchOptions& o, std::string_view v) { return ParseSeconds("warmup", v, 0, &o.warmup_s); }},
      {"r", [](BenchOptions& o, std::string_view v) { return ParseLevel("r", v, &o.r); }},
      {"w", [](BenchOptions& o, std::string_view v) { return ParseLevel("w", v, &o.w); }},
      {"load-pipeline",
       [](BenchOptions& o, std::string_view v) {
         return ParseCountInto("load-pipeline", v, 1, 10000, &o.load_pipeline);
       }},
      {"timeout",
       [](BenchOptions& o, std::string_view v) {
         return ParseCountInto("timeout", v, 1, 3'600'000, &o.timeout_ms);
       }},
      {"json",
       [](BenchOptions& o, std::string_view v) {
         o.json_path = std::string(v);
         return Status::Ok();
       }},
      {"contexts",
       [](BenchOptions& o, std::string_view v) {
         o.contexts_path = std::string(v);
         return Status::Ok();
       }},
      {"seed",
       [](BenchOptions& o, std::string_view v) { return ParseCount("seed", v, 0, UINT64_MAX, &o.seed); }},
  };
  return flags;
}

}  // namespace

Result<BenchOptions> ParseArgs(int argc, char** argv, bool* help) {
  BenchOptions options;
  *help = false;
  bool node_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (!arg.starts_with("--"))
      return Status::InvalidArgument("unexpected argument '" + std::string(arg) + "'");
    arg.remove_prefix(2);
    std::string_view value;
    bool has_value = false;
    if (size_t eq = arg.find('='); eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    if (arg == "help" || arg == "load" || arg == "quiet" || arg == "routing") {
      if (has_value) return Status::InvalidArgument("--" + std::string(arg) + " takes no value");
      if (arg == "help") *help = true;
      if (arg == "load") options.load = true;
      if (arg == "quiet") options.progress = false;
      if (arg == "routing") options.routing = true;
      continue;
    }
    auto flag = ValueFlags().find(arg);
    if (flag == ValueFlags().end()) return Status::InvalidArgument("unknown option --" + std::string(arg));
    if (!has_value) {
      if (i + 1 >= argc) return Status::InvalidArgument("--" + std::string(arg) + " needs a value");
      value = argv[++i];
    }
    DYNKV_RETURN_IF_ERROR(flag->second(options, value));
    if (arg == "node" || arg == "nodes") node_given = true;
  }
  if (!node_given) {
    options.nodes = {options.target == Target::kDynkv ? net::HostPort{"127.0.0.1", 7101}
                                                      : net::HostPort{"127.0.0.1", 6379}};
  }
  if (options.target == Target::kRedis &&
      (options.r != 0 || options.w != 0 || !options.contexts_path.empty() || options.routing)) {
    return Status::InvalidArgument("--r, --w, --contexts and --routing apply to dynkv only");
  }
  return options;
}

}  // namespace dynkv::bench
