// dynkvd: one dynkv node. Usage: dynkvd --config FILE
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "common/log.h"
#include "node/config.h"
#include "node/node.h"

namespace {

constexpr int kExitRuntimeError = 1;
constexpr int kExitUsage = 2;

constexpr const char* kUsage =
    "usage: dynkvd --config FILE\n"
    "\n"
    "Runs one dynkv node: a Dynamo-style key-value store node that serves\n"
    "clients (see the dynkv CLI) on listen.client and stores its data in data_dir.\n"
    "\n"
    "options:\n"
    "  --config FILE   the node's YAML config (see docs/OPERATIONS.md)\n"
    "  --version       print the version and exit\n"
    "  --help          print this help and exit\n"
    "\n"
    "It stops cleanly on SIGTERM or SIGINT. Exit status: 0 after a clean stop,\n"
    "1 when the node cannot start or run (data dir locked or corrupt, address\n"
    "in use), 2 for bad arguments or an invalid config.\n";

}  // namespace

int main(int argc, char** argv) {
  // A client that vanishes mid-write must cost only its connection.
  std::signal(SIGPIPE, SIG_IGN);
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--version") {
      std::printf("dynkvd %s\n", dynkv::node::kVersion);
      return 0;
    }
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config_path = arg.substr(std::strlen("--config="));
    } else {
      std::fprintf(stderr, "dynkvd: unexpected argument '%s'\n\n%s", arg.c_str(), kUsage);
      return kExitUsage;
    }
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "dynkvd: --config FILE is required\n\n%s", kUsage);
    return kExitUsage;
  }

  auto config = dynkv::node::LoadConfigFile(config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "dynkvd: invalid config: %s\n", config.status().message().c_str());
    return kExitUsage;
  }
  dynkv::SetLogLevel(config->log_level);

  auto node = dynkv::node::Node::Start(*config);
  if (!node.ok()) {
    std::fprintf(stderr, "dynkvd: cannot start node %s: %s\n", config->node_id.c_str(),
                 node.status().ToString().c_str());
    return kExitRuntimeError;
  }
  dynkv::Status status = (*node)->Run();
  if (!status.ok()) {
    std::fprintf(stderr, "dynkvd: %s\n", status.ToString().c_str());
    return kExitRuntimeError;
  }
  return 0;
}
