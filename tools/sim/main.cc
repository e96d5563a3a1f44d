// dynkv-sim: runs whole dynkv nodes in one process on a simulated clock and
// network, under seeded faults, with the chaos harness's workloads and
// checks (src/sim). The same seed and build give the same run: its trace
// hash says so.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

#include "common/log.h"
#include "sim/nemesis.h"
#include "sim/sim_run.h"

namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr const char* kUsage =
    "usage: dynkv-sim (--seed S | --seeds A-B) [options]\n"
    "\n"
    "Runs a cluster of whole dynkv nodes (the real node code, each with its own\n"
    "LevelDB) in one process on a simulated clock and network. A seed drives\n"
    "everything: message delay, loss, duplication and reordering, and the faults.\n"
    "Clients run a workload; at the end every key is read with R=all and the\n"
    "history is checked as tools/chaos/checker.py checks a real cluster's.\n"
    "\n"
    "options:\n"
    "  --seed S               run one seed\n"
    "  --seeds A-B            run seeds A to B, stopping at the first failure\n"
    "  --nodes N              nodes in the cluster (default 5)\n"
    "  --n N --r R --w W      replication factor and the clients' quorums (3, 2, 2)\n"
    "  --faults LIST          comma-separated: kill,pause,partition,drop,clock,\n"
    "                         membership,slow,stall (default: none); membership is\n"
    "                         one ring change at a time: a join, leave, remove or\n"
    "                         replace; slow delays every message to and from one\n"
    "                         node by 50-400 ms; stall holds one node's storage\n"
    "                         thread for 1-5 s\n"
    "  --min-throughput R     fail a seed when, in any second of a pause, slow or\n"
    "                         stall window, the other nodes' acknowledged\n"
    "                         operations fall below R times their rate before it;\n"
    "                         the lines then end with throughput=WORST\n"
    "  --ops N                client operations per seed (default 2000)\n"
    "  --hints on|off         sloppy quorum and hinted handoff (default on)\n"
    "  --anti-entropy MS      the nodes' anti_entropy.interval in ms (default:\n"
    "                         the node's, 60000; 0: off); above 0 the run also\n"
    "                         requires every replica's hash tree to agree with\n"
    "                         the others' before the final reads\n"
    "  --keys K               keys the clients pick from at random (default 5);\n"
    "                         many keys leave most of them cold, written a few\n"
    "                         times in the run, so faults that strand a write\n"
    "                         are not healed by the next read-modify-write\n"
    "  --workload set|register  (default set)\n"
    "  --conflicts siblings|lww how the nodes resolve concurrent writes (siblings)\n"
    "  --json                 one JSON object per seed instead of a line\n"
    "  --trace FILE           write the run's event trace to FILE (with a range:\n"
    "                         the last seed run, so the failing one)\n"
    "  --verbose              the nodes' warnings on stderr\n"
    "  --help                 this help\n"
    "\n"
    "Output: one line per seed,\n"
    "  seed S: ok|FAIL ops=.. acked=.. lost=.. invented=.. trace=HEX\n"
    "then a summary line on stderr with simulated seconds per wall second.\n"
    "Exit status: 0 if every seed passed, 1 if one failed, 2 for bad arguments.\n";

struct Args {
  uint64_t first = 0;
  uint64_t last = 0;
  bool have_seed = false;
  bool json = false;
  bool verbose = false;
  dynkv::sim::SimRunOptions run;
};

bool ParseNumber(const std::string& text, uint64_t* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || text[0] == '-') return false;
  *out = value;
  return true;
}

int Usage(const std::string& problem) {
  std::fprintf(stderr, "dynkv-sim: %s\n\n%s", problem.c_str(), kUsage);
  return kExitUsage;
}

// 0 when parsed; otherwise the exit status (help printed, or a usage error).
int ParseArgs(int argc, char** argv, Args* args, bool* help) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      *help = true;
      return 0;
    }
    if (flag == "--json") {
      args->json = true;
      continue;
    }
    if (flag == "--verbose") {
      args->verbose = true;
      continue;
    }
    static const std::set<std::string> kValueFlags = {"--seed",     "--seeds",     "--nodes", "--n",
                                                      "--r",        "--w",         "--ops",   "--faults", "--keys", "--hints", "--anti-entropy", "--min-throughput",
                                                      "--workload", "--conflicts", "--trace"};
    if (kValueFlags.count(flag) == 0) return Usage("unknown option " + flag);
    if (i + 1 >= argc) return Usage(flag + " needs a value");
    const std::string value = argv[++i];
    uint64_t number = 0;
    auto number_of = [&](uint64_t* out, uint64_t min, uint64_t max) {
      return ParseNumber(value, out) && *out >= min && *out <= max;
    };
    if (flag == "--seed") {
      if (!ParseNumber(value, &args->first)) return Usage("--seed needs a number, not '" + value + "'");
      args->last = args->first;
      args->have_seed = true;
    } else if (flag == "--seeds") {
      const size_t dash = value.find('-');
      if (dash == std::string::npos || !ParseNumber(value.substr(0, dash), &args->first) ||
          !ParseNumber(value.substr(dash + 1), &args->last) || args->last < args->first) {
        return Usage("--seeds needs a range A-B with A <= B, not '" + value + "'");
      }
      args->have_seed = true;
    } else if (flag == "--nodes" && number_of(&number, 1, 1000)) {
      args->run.nodes = number;
    } else if (flag == "--n" && number_of(&number, 1, 64)) {
      args->run.n = static_cast<uint32_t>(number);
    } else if (flag == "--r" && number_of(&number, 1, 64)) {
      args->run.r = static_cast<uint32_t>(number);
    } else if (flag == "--w" && number_of(&number, 1, 64)) {
      args->run.w = static_cast<uint32_t>(number);
    } else if (flag == "--ops" && number_of(&number, 1, 100'000'000)) {
      args->run.ops = number;
    } else if (flag == "--min-throughput") {
      char* end = nullptr;
      const double ratio = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !(ratio > 0 && ratio <= 1)) {
        return Usage("--min-throughput needs a ratio above 0 and at most 1, not '" + value + "'");
      }
      args->run.min_throughput = ratio;
    } else if (flag == "--hints" && (value == "on" || value == "off")) {
      args->run.hints = value == "on";
    } else if (flag == "--anti-entropy" && number_of(&number, 0, 3'600'000)) {
      args->run.anti_entropy_ms = static_cast<int64_t>(number);
    } else if (flag == "--keys" && number_of(&number, 1, 1'000'000)) {
      args->run.keys = number;
    } else if (flag == "--faults") {
      auto faults = dynkv::sim::ParseFaults(value);
      if (!faults.ok()) return Usage(faults.status().message());
      args->run.faults = *faults;
    } else if (flag == "--workload" && (value == "set" || value == "register")) {
      args->run.workload = value == "set" ? dynkv::sim::Workload::kSet : dynkv::sim::Workload::kRegister;
    } else if (flag == "--conflicts" && (value == "siblings" || value == "lww")) {
      args->run.last_write_wins = value == "lww";
    } else if (flag == "--trace") {
      args->run.trace_path = value;
    } else {
      return Usage("bad option or value: " + flag + " " + value);
    }
  }
  if (!args->have_seed) return Usage("--seed S or --seeds A-B is required");
  dynkv::Status valid = dynkv::sim::ValidateRunOptions(args->run);
  if (!valid.ok()) return Usage(valid.message());
  return 0;
}

// `throughput`: with --min-throughput, the worst ratio too (after the
// contract's fields).
void Print(const dynkv::sim::SeedResult& r, bool json, bool throughput) {
  char ratio[48] = "";
  if (json) {
    if (throughput) std::snprintf(ratio, sizeof(ratio), ", \"throughput\": %.3f", r.throughput);
    std::printf(
        "{\"seed\": %llu, \"ok\": %s, \"ops\": %llu, \"acked\": %llu, \"lost\": %llu, \"invented\": %llu, "
        "\"stale\": %llu, \"trace\": \"%s\"%s}\n",
        static_cast<unsigned long long>(r.seed), r.ok ? "true" : "false",
        static_cast<unsigned long long>(r.ops), static_cast<unsigned long long>(r.acked),
        static_cast<unsigned long long>(r.lost), static_cast<unsigned long long>(r.invented),
        static_cast<unsigned long long>(r.stale), r.trace.c_str(), ratio);
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
    replay += " " + arg;
  }
  std::fprintf(stderr, "replay: %s --trace seed-%llu.trace\n", replay.c_str(),
               static_cast<unsigned long long>(r.seed));
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  bool help = false;
  if (int status = ParseArgs(argc, argv, &args, &help); status != 0) return status;
  if (help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
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
