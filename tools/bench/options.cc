#include "options.h"

#include <charconv>
#include <cmath>
#include <string_view>

#include "client/client.h"
#include "command_line.h"

namespace dynkv::bench {

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
    auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), parsed[i]);
    if (part.empty() || error != std::errc() || end != part.data() + part.size() || parsed[i] > 1'000'000) {
      return BadValue("mix", text, "GET:PUT:DEL weights in 0..1000000, e.g. 50:50:0");
    }
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

Status ParseTheta(std::string_view text, double* theta) {
  double value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || !(value > 0 && value < 1)) {
    return BadValue("zipf-theta", text, "a number between 0 and 1 (exclusive)");
  }
  *theta = value;
  return Status::Ok();
}

// Turns a Status of the checks above into the error CLI11 reports.
void Check(const Status& status) {
  if (!status.ok()) throw CLI::ValidationError(status.message());
}

// Declares every flag on `app`, bound to `o`; `quiet` is --quiet.
void Declare(CLI::App& app, BenchOptions& o, bool& quiet) {
  app.description(R"(Drives a dynkv node (or Redis, with the same generator) with a closed-loop
load: every connection keeps --pipeline requests in flight. Prints a table
on stdout, a progress line each second on stderr, and JSON with --json.)");
  app.footer(R"(Exit status: 0 when every measured request succeeded, 1 when some failed or
the run could not start, 2 for bad usage.)");
  app.set_help_flag("--help", "this help")->group("output");
  // A flag given twice: the last one counts.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  auto count = [&app](const char* name, auto* field, uint64_t min, uint64_t max, const char* description) {
    return app.add_option(name, *field, description)->type_name("N")->transform(tools::WholeNumber(min, max));
  };
  auto seconds = [&app](const char* name, double* field, double min, const char* description) {
    return app
        .add_option_function<std::string>(
            name, [=](const std::string& v) { Check(ParseSeconds(name + 2, v, min, field)); }, description)
        ->type_name("SECONDS");
  };

  app.option_defaults()->group("target");
  app.add_option_function<std::string>(
         "--target", [&o](const std::string& v) { o.target = v == "dynkv" ? Target::kDynkv : Target::kRedis; },
         "store to measure (default dynkv)")
      ->type_name("dynkv|redis")
      ->check(CLI::IsMember({"dynkv", "redis"}).description(""));
  app.add_option_function<std::string>(
         "--node,--nodes", [&o](const std::string& v) { Check(ParseNodes("node", v, &o.nodes)); },
         "the node, or several to spread the connections over (default\n"
         "127.0.0.1:7101 for dynkv, 127.0.0.1:6379 for redis)")
      ->type_name("HOST:PORT[,HOST:PORT...]");
  const char* level = "dynkv replicas per read / write: a count, one,\nquorum, all or default (the node's; the default)";
  app.add_option_function<std::string>(
         "--r", [&o](const std::string& v) { Check(ParseLevel("r", v, &o.r)); }, level)
      ->type_name("R");
  app.add_option_function<std::string>(
         "--w", [&o](const std::string& v) { Check(ParseLevel("w", v, &o.w)); }, level)
      ->type_name("W");
  count("--timeout", &o.timeout_ms, 1, 3'600'000, "per-request timeout (default 10000)")->type_name("MS");
  app.add_flag("--routing", o.routing,
               "dynkv: send each key's request to a replica of it\n"
               "(token-aware: the client fetches the ring from the\n"
               "nodes given and routes by it); default: to the\n"
               "connection's node, which forwards")
      ->check(tools::NoValue());
  app.add_option("--ca", o.ca_file, "dynkv: speak TLS, trusting the CA certificate(s) in FILE")->type_name("FILE");
  app.add_option("--token", o.token,
                 "dynkv: the client token every connection\n"
                 "authenticates with (a node with security.clients)")
      ->type_name("TOKEN");
  app.add_option("--contexts", o.contexts_path,
                 "keep the contexts seen for each key in FILE between\n"
                 "runs (read at the start when it exists, written at\n"
                 "the end), so a later run's puts replace values as\n"
                 "a Redis SET does instead of adding siblings")
      ->type_name("FILE");

  app.option_defaults()->group("load shape");
  count("--connections", &o.connections, 1, 10000, "TCP connections (default 50)");
  count("--pipeline", &o.pipeline, 1, 10000, "requests in flight per connection (default 1)");
  count("--threads", &o.threads, 1, 256, "event-loop threads sharing the connections (default 1)");
  app.add_option_function<std::string>(
         "--mix", [&o](const std::string& v) { Check(ParseMix(v, o.mix)); }, "get:put:del weights (default 50:50:0)")
      ->type_name("G:P:D");
  count("--keys", &o.keys, 1, 999'999'999'999, "key count; keys are key:000000000000 .. (default 1000000)");
  count("--value-size", &o.value_size, 1, 64u << 20, "default 100")->type_name("BYTES");
  app.add_option_function<std::string>(
         "--distribution",
         [&o](const std::string& v) {
           o.distribution = v == "uniform" ? Distribution::kUniform : Distribution::kZipfian;
         },
         "key popularity (default uniform)")
      ->type_name("uniform|zipfian")
      ->check(CLI::IsMember({"uniform", "zipfian"}).description(""));
  app.add_option_function<std::string>(
         "--zipf-theta", [&o](const std::string& v) { Check(ParseTheta(v, &o.zipf_theta)); },
         "zipfian skew, 0 < X < 1 (default 0.99, as YCSB)")
      ->type_name("X");
  count("--seed", &o.seed, 0, UINT64_MAX, "random seed (default 1)");

  app.option_defaults()->group("run");
  app.add_flag("--load", o.load, "write every key once before the warm-up (pipelined)")->check(tools::NoValue());
  count("--load-pipeline", &o.load_pipeline, 1, 10000,
        "requests in flight per connection while loading (default 64)");
  seconds("--warmup", &o.warmup_s, 0, "unmeasured load before measuring (default 1)");
  seconds("--duration", &o.duration_s, 0.01, "measure this long (default 10)");
  count("--ops", &o.ops, 1, UINT64_MAX / 2, "or measure exactly N operations");

  app.option_defaults()->group("output");
  app.add_option("--json", o.json_path, "write the results as JSON to FILE ('-': stdout)")->type_name("FILE");
  app.add_flag("--quiet", quiet, "no progress lines")->check(tools::NoValue());
}

}  // namespace

std::string Usage() {
  CLI::App app("", "dynkv-bench");
  BenchOptions options;
  bool quiet = false;
  Declare(app, options, quiet);
  return app.help();
}

Result<BenchOptions> ParseArgs(int argc, char** argv, bool* help) {
  BenchOptions options;
  *help = false;
  bool quiet = false;
  CLI::App app("", "dynkv-bench");
  Declare(app, options, quiet);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    *help = true;
    return BenchOptions();
  } catch (const CLI::ParseError& e) {
    return Status::InvalidArgument(e.what());
  }
  options.progress = !quiet;
  if (app.get_option("--node")->count() == 0) {
    options.nodes = {options.target == Target::kDynkv ? net::HostPort{"127.0.0.1", 7101}
                                                      : net::HostPort{"127.0.0.1", 6379}};
  }
  if (options.target == Target::kRedis &&
      (options.r != 0 || options.w != 0 || !options.contexts_path.empty() || options.routing ||
       !options.ca_file.empty() || !options.token.empty())) {
    return Status::InvalidArgument("--r, --w, --contexts, --routing, --ca and --token apply to dynkv only");
  }
  if (!options.ca_file.empty()) {
    auto tls = client::ClientTls(options.ca_file);
    if (!tls.ok()) return tls.status().WithContext("--ca");
    options.tls = std::move(*tls);
  }
  return options;
}

}  // namespace dynkv::bench
