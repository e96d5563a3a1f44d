// dynkv-sim: runs whole dynkv nodes in one process on a simulated clock and
// network, under seeded faults, with the chaos harness's workloads and
// checks (src/sim). The same seed and build give the same run: its trace
// hash says so.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "command_line.h"
#include "common/log.h"
#include "json_line.h"
#include "sim/nemesis.h"
#include "sim/sim_run.h"

namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

struct Args {
  uint64_t first = 0;
  uint64_t last = 0;
  bool json = false;
  bool verbose = false;
  dynkv::sim::SimRunOptions run;
};

// Turns a Status into the error CLI11 reports.
void Check(const dynkv::Status& status) {
  if (!status.ok()) throw CLI::ValidationError(status.message());
}

// Declares every flag on `app`, bound to `args`.
void Declare(CLI::App& app, Args& args) {
  using dynkv::tools::WholeNumber;
  app.description(R"(dynkv-sim (--seed S | --seeds A-B) [options]

Runs a cluster of whole dynkv nodes (the real node code, each with its own
LevelDB) in one process on a simulated clock and network. A seed drives
everything: message delay, loss, duplication and reordering, and the faults.
Clients run a workload; at the end every key is read with R=all and the
history is checked as tools/chaos/checker.py checks a real cluster's.)");
  app.footer(R"(Output: one line per seed,
  seed S: ok|FAIL ops=.. acked=.. lost=.. invented=.. trace=HEX
then a summary line on stderr with simulated seconds per wall second.
Exit status: 0 if every seed passed, 1 if one failed, 2 for bad arguments.)");
  app.set_help_flag("-h,--help", "this help");
  // A flag given twice: the last one counts.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  auto count = [&app](const char* name, auto* field, uint64_t min, uint64_t max, const char* description) {
    return app.add_option(name, *field, description)->type_name("N")->transform(WholeNumber(min, max));
  };
  // --seed and --seeds: the later on the command line counts.
  app.add_option_function<std::string>(
         "--seed", [&args](const std::string& v) { args.first = args.last = std::stoull(v); }, "run one seed")
      ->type_name("S")
      ->transform(WholeNumber(0, UINT64_MAX))
      ->trigger_on_parse();
  app.add_option_function<std::string>(
         "--seeds",
         [&args](const std::string& v) {
           const size_t dash = v.find('-');
           std::string first = v.substr(0, dash);
           std::string last = dash == std::string::npos ? "" : v.substr(dash + 1);
           const CLI::Validator number = WholeNumber(0, UINT64_MAX);
           if (dash == std::string::npos || !number(first).empty() || !number(last).empty() ||
               std::stoull(last) < std::stoull(first)) {
             throw CLI::ValidationError("--seeds needs a range A-B with A <= B, not '" + v + "'");
           }
           args.first = std::stoull(first);
           args.last = std::stoull(last);
         },
         "run seeds A to B, stopping at the first failure")
      ->type_name("A-B")
      ->trigger_on_parse();
  count("--nodes", &args.run.nodes, 1, 1000, "nodes in the cluster (default 5)");
  count("--n", &args.run.n, 1, 64, "replication factor (default 3)");
  count("--r", &args.run.r, 1, 64, "the clients' read quorum (default 2)")->type_name("R");
  count("--w", &args.run.w, 1, 64, "the clients' write quorum (default 2)")->type_name("W");
  app.add_option_function<std::string>(
         "--faults",
         [&args](const std::string& v) {
           auto faults = dynkv::sim::ParseFaults(v);
           Check(faults.status());
           args.run.faults = *faults;
         },
         R"(comma-separated: kill,pause,partition,drop,clock,
membership,slow,stall (default: none); membership is
one ring change at a time: a join, leave, remove or
replace; slow delays every message to and from one
node by 50-400 ms; stall holds one node's storage
thread for 1-5 s)")
      ->type_name("LIST");
  app.add_option("--min-throughput", args.run.min_throughput,
                 R"(fail a seed when, in any second of a pause, slow or
stall window, the other nodes' acknowledged
operations fall below R times their rate before it;
the lines then end with throughput=WORST)")
      ->type_name("R")
      ->check(CLI::Validator(
          [](std::string& v) -> std::string {
            char* end = nullptr;
            const double ratio = std::strtod(v.c_str(), &end);
            if (v.empty() || *end != '\0' || !(ratio > 0 && ratio <= 1)) {
              return "needs a ratio above 0 and at most 1, not '" + v + "'";
            }
            return "";
          },
          "", "Ratio"));
  count("--ops", &args.run.ops, 1, 100'000'000, "client operations per seed (default 2000)");
  app.add_option_function<std::string>(
         "--hints", [&args](const std::string& v) { args.run.hints = v == "on"; },
         "sloppy quorum and hinted handoff (default on)")
      ->type_name("on|off")
      ->check(CLI::IsMember({"on", "off"}).description(""));
  count("--anti-entropy", &args.run.anti_entropy_ms, 0, 3'600'000,
        R"(the nodes' anti_entropy.interval in ms (default:
the node's, 60000; 0: off); above 0 the run also
requires every replica's hash tree to agree with
the others' before the final reads)")
      ->type_name("MS");
  count("--racks", &args.run.racks, 1, 64,
        R"(racks the nodes stand in, round-robin (default 1);
a key's replicas go to distinct racks)")
      ->type_name("K");
  count("--datacenters", &args.run.datacenters, 1, 8,
        R"(datacenters the nodes alternate between (default 1);
each keeps n/D of a key's replicas
(replication.datacenters))")
      ->type_name("D");
  count("--keys", &args.run.keys, 1, 1'000'000,
        R"(keys the clients pick from at random (default 5);
many keys leave most of them cold, written a few
times in the run, so faults that strand a write
are not healed by the next read-modify-write)")
      ->type_name("K");
  app.add_option_function<std::string>(
         "--workload",
         [&args](const std::string& v) {
           args.run.workload = v == "set" ? dynkv::sim::Workload::kSet : dynkv::sim::Workload::kRegister;
         },
         "the clients' workload: set or register (default set)")
      ->type_name("set|register")
      ->check(CLI::IsMember({"set", "register"}).description(""));
  app.add_option_function<std::string>(
         "--conflicts", [&args](const std::string& v) { args.run.last_write_wins = v == "lww"; },
         "how the nodes resolve concurrent writes: siblings\nor lww (default siblings)")
      ->type_name("siblings|lww")
      ->check(CLI::IsMember({"siblings", "lww"}).description(""));
  app.add_flag("--json", args.json, "one JSON object per seed instead of a line")->check(dynkv::tools::NoValue());
  app.add_option("--trace", args.run.trace_path,
                 "write the run's event trace to FILE (with a range:\nthe last seed run, so the failing one)")
      ->type_name("FILE");
  app.add_flag("--verbose", args.verbose, "the nodes' warnings on stderr")->check(dynkv::tools::NoValue());
}

int Usage(const CLI::App& app, const std::string& problem) {
  std::fprintf(stderr, "dynkv-sim: %s\n\n%s", problem.c_str(), app.help().c_str());
  return kExitUsage;
}

// 0 when parsed; otherwise the exit status (help printed, or a usage error).
int ParseArgs(int argc, char** argv, Args* args) {
  CLI::App app("", "dynkv-sim");
  Declare(app, *args);
  if (std::optional<std::string> error = dynkv::tools::ParseOrHelp(app, argc, argv)) return Usage(app, *error);
  if (app.count("--seed") + app.count("--seeds") == 0) return Usage(app, "--seed S or --seeds A-B is required");
  dynkv::Status valid = dynkv::sim::ValidateRunOptions(args->run);
  if (!valid.ok()) return Usage(app, valid.message());
  return 0;
}

// `throughput`: with --min-throughput, the worst ratio too (after the
// contract's fields).
void Print(const dynkv::sim::SeedResult& r, bool json, bool throughput) {
  char ratio[48] = "";
  if (json) {
    dynkv::tools::Json line = {{"seed", r.seed},   {"ok", r.ok},     {"ops", r.ops},
                               {"acked", r.acked}, {"lost", r.lost}, {"invented", r.invented},
                               {"stale", r.stale}, {"trace", r.trace}};
    if (throughput) line["throughput"] = dynkv::tools::JsonDecimal(r.throughput, 3);
    std::printf("%s\n", dynkv::tools::JsonLine(line).c_str());
  } else {
    if (throughput) std::snprintf(ratio, sizeof(ratio), " throughput=%.2f", r.throughput);
    std::printf("seed %llu: %s ops=%llu acked=%llu lost=%llu invented=%llu trace=%s%s\n",
                static_cast<unsigned long long>(r.seed), r.ok ? "ok" : "FAIL",
                static_cast<unsigned long long>(r.ops), static_cast<unsigned long long>(r.acked),
                static_cast<unsigned long long>(r.lost), static_cast<unsigned long long>(r.invented),
                r.trace.c_str(), ratio);
  }
  std::fflush(stdout);
}

// What a person needs to look at a failed seed again.
void Explain(const dynkv::sim::SeedResult& r, int argc, char** argv) {
  if (!r.problem.empty())
    std::fprintf(stderr, "seed %llu: %s\n", static_cast<unsigned long long>(r.seed), r.problem.c_str());
  size_t shown = 0;
  for (const auto& [key, element] : r.verdict.lost) {
    if (shown++ < 10) std::fprintf(stderr, "  LOST %s in %s\n", element.c_str(), key.c_str());
  }
  for (const auto& [key, value] : r.verdict.invented) {
    if (shown++ < 20) std::fprintf(stderr, "  INVENTED %s in %s\n", value.c_str(), key.c_str());
  }
  for (const auto& [key, value] : r.verdict.stale) {
    if (shown++ < 30) std::fprintf(stderr, "  STALE read of %s missed %s\n", key.c_str(), value.c_str());
  }
  const char* slash = std::strrchr(argv[0], '/');
  std::string replay =
      std::string(slash != nullptr ? slash + 1 : argv[0]) + " --seed " + std::to_string(r.seed);
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--seed" || arg == "--seeds" || arg == "--trace") {
      ++i;
      continue;
    }
    if (arg.starts_with("--seed=") || arg.starts_with("--seeds=") || arg.starts_with("--trace=")) continue;
    replay += " " + arg;
  }
  std::fprintf(stderr, "replay: %s --trace seed-%llu.trace\n", replay.c_str(),
               static_cast<unsigned long long>(r.seed));
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (int status = ParseArgs(argc, argv, &args); status != 0) return status;
  dynkv::SetLogLevel(args.verbose ? dynkv::LogLevel::kWarn : dynkv::LogLevel::kError);
  const auto wall_start = std::chrono::steady_clock::now();
  int64_t simulated_ms = 0;
  uint64_t passed = 0;
  int exit_status = 0;
  for (uint64_t seed = args.first; seed <= args.last; ++seed) {
    const dynkv::sim::SeedResult result = dynkv::sim::RunSeed(seed, args.run);
    simulated_ms += result.simulated_ms;
    Print(result, args.json, args.run.min_throughput > 0);
    if (!result.ok) {
      Explain(result, argc, argv);
      exit_status = kExitFailed;
      break;
    }
    ++passed;
    if (seed == UINT64_MAX) break;
  }
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  std::fprintf(stderr, "dynkv-sim: %llu seed(s) passed; %.1f simulated s in %.1f wall s (%.1fx real time)\n",
               static_cast<unsigned long long>(passed), simulated_ms / 1000.0, wall_s,
               wall_s > 0 ? simulated_ms / 1000.0 / wall_s : 0.0);
  return exit_status;
}
