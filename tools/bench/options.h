// dynkv-bench's command line: what to run, against what, for how long.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "net/net.h"

namespace dynkv::bench {

enum class Target { kDynkv, kRedis };
enum class Distribution { kUniform, kZipfian };
enum class OpKind { kGet = 0, kPut = 1, kDel = 2 };
inline constexpr int kOpKinds = 3;

const char* OpName(OpKind kind);
const char* TargetName(Target target);
const char* DistributionName(Distribution distribution);

struct BenchOptions {
  Target target = Target::kDynkv;
  std::vector<net::HostPort> nodes;  // connections are spread over them in turn
  uint32_t connections = 50;
  uint32_t pipeline = 1;                 // requests in flight per connection
  uint32_t threads = 1;                  // event loops; connections are spread over them
  uint32_t mix[kOpKinds] = {50, 50, 0};  // get:put:del weights
  uint64_t keys = 1'000'000;
  uint32_t value_size = 100;
  Distribution distribution = Distribution::kUniform;
  double zipf_theta = 0.99;
  double duration_s = 10;  // used when ops == 0
  uint64_t ops = 0;        // > 0: measure this many operations instead
  double warmup_s = 1;
  uint32_t r = 0;  // dynkv only; 0: the node's default
  uint32_t w = 0;
  bool load = false;  // write every key once before the warm-up
  uint32_t load_pipeline = 64;
  uint32_t timeout_ms = 10'000;
  bool routing = false;  // dynkv only: token-aware, each key to a replica of it
  std::string ca_file;   // dynkv only: --ca, TLS trusting this CA
  std::shared_ptr<const net::TlsContext> tls;  // made from ca_file; null: plaintext
  std::string token;     // dynkv only: the client token each connection authenticates with
  std::string json_path;  // empty: no JSON; "-": stdout
  // dynkv only: where the contexts seen survive between runs (empty: they
  // do not). See ContextTable.
  std::string contexts_path;
  uint64_t seed = 1;
  bool progress = true;  // a line per second on stderr
};

// Parses argv. INVALID_ARGUMENT names the offending flag; `*help` is set
// for --help (the result is then the defaults).
Result<BenchOptions> ParseArgs(int argc, char** argv, bool* help);

// What --help prints.
std::string Usage();

}  // namespace dynkv::bench
