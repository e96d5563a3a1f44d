// dynkvd: one dynkv node. Usage: dynkvd --config FILE | --check-config FILE
#include <csignal>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/log.h"
#include "node/config.h"
#include "node/protobuf_log.h"
#include "node/node.h"

namespace {

constexpr int kExitRuntimeError = 1;
constexpr int kExitUsage = 2;

constexpr const char* kUsage =
    "usage: dynkvd --config FILE\n"
    "       dynkvd --check-config FILE\n"
    "\n"
    "Runs one dynkv node: a Dynamo-style key-value store node that serves\n"
    "clients (see the dynkv CLI) on listen.client and stores its data in data_dir.\n"
    "\n"
    "options:\n"
    "  --config FILE         the node's YAML config (see docs/OPERATIONS.md)\n"
    "  --check-config FILE   load and check FILE as --config would, print one\n"
    "                        line (FILE: ok (...)) and exit, without opening\n"
    "                        the data dir or any port\n"
    "  --version             print the version and exit\n"
    "  --help                print this help and exit\n"
    "\n"
    "It stops cleanly on SIGTERM or SIGINT. Exit status: 0 after a clean stop\n"
    "(or a config that checks ok), 1 when the node cannot start or run (data dir\n"
    "locked or corrupt, address in use), 2 for bad arguments or an invalid config.\n";

// The value of `--name VALUE` or `--name=VALUE` at argv[*i], advancing *i
// past it; nullopt when argv[*i] is not that option.
std::optional<std::string> OptionValue(std::string_view name, int argc, char** argv, int* i) {
  const std::string_view arg = argv[*i];
  if (arg == name && *i + 1 < argc) return argv[++*i];
  if (arg.size() > name.size() && arg.starts_with(name) && arg[name.size()] == '=') {
    return std::string(arg.substr(name.size() + 1));
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  // A client that vanishes mid-write must cost only its connection.
  std::signal(SIGPIPE, SIG_IGN);
  // Bad strings from a peer or a client cost a log line a minute, not one each.
  dynkv::node::RouteProtobufLog();
  std::string config_path;
  // --check-config: load and check the config exactly as a start does, then
  // exit (systemd's ExecStartPre), touching neither data dir nor ports.
  std::string check_path;
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
    if (auto path = OptionValue("--config", argc, argv, &i)) {
      config_path = std::move(*path);
    } else if (auto check = OptionValue("--check-config", argc, argv, &i)) {
      check_path = std::move(*check);
    } else {
      std::fprintf(stderr, "dynkvd: unexpected argument '%s'\n\n%s", arg.c_str(), kUsage);
      return kExitUsage;
    }
  }
  if (!config_path.empty() && !check_path.empty()) {
    std::fprintf(stderr, "dynkvd: give --config or --check-config, not both\n\n%s", kUsage);
    return kExitUsage;
  }
  const bool check_only = !check_path.empty();
  if (check_only) config_path = check_path;
  if (config_path.empty()) {
    std::fprintf(stderr, "dynkvd: --config FILE is required\n\n%s", kUsage);
    return kExitUsage;
  }

  auto config = dynkv::node::LoadConfigFile(config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "dynkvd: invalid config: %s\n", config.status().message().c_str());
    return kExitUsage;
  }
  // The certificate files are read as a start reads them.
  if (auto tls = dynkv::node::LoadNodeTls(*config); !tls.ok()) {
    std::fprintf(stderr, "dynkvd: invalid config: %s: %s\n", config_path.c_str(), tls.status().message().c_str());
    return kExitUsage;
  }
  if (check_only) {
    std::printf("%s: ok (%s)\n", config_path.c_str(), dynkv::node::Summary(*config).c_str());
    return 0;
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
