// dynkv: the command-line client. The command line is a public contract
// (issue 2): keep every form below working; add, never change.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base64.h"
#include "cluster_commands.h"
#include "repair_command.h"
#include "client/client.h"
#include "json.h"

namespace dynkv::cli {

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInterrupted = 130;         // 128 + SIGINT, as shells report it
constexpr uint32_t kResponseMarginMs = 1000;  // wait this long past the node's own deadline

constexpr const char* kUsage = R"usage(usage: dynkv [--node HOST:PORT] [--timeout MS] COMMAND ...

commands:
  put KEY VALUE [--w W] [--ttl SECONDS] [--context CTX] [--json]
        store VALUE under KEY; VALUE '-' reads it from stdin. Without
        --context the write is blind: it is kept beside any existing
        siblings. --json prints the key's siblings and context afterwards.
  get KEY [--r R] [--json]
        print each sibling's value on its own line (nothing for a missing
        key); --json prints {"key": ..., "siblings": [...], "context": "..."}
  del KEY [--w W] [--context CTX]
        delete KEY. Without --context it first reads the key and deletes
        the siblings that read sees (a concurrent write stays).
  ping  check that the node answers
  stats [--json]
        print the node's counters
  members [--json]
        every node the node knows: status, up/down as that node judges
        it, generation, addresses, phi and tokens. A node back on an empty
        data dir under a known id shows as "joining (replacing)" while it
        streams its old ranges back in
  ring [--json]
        each node's tokens, share of the ring and share of the replicas
  transfers [--json]
        the ring change in progress as the node sees it, and the ranges it
        receives (in) or sends (out) under it: range, direction, from ->
        to, state, keys and bytes moved so far ("the ring is still: no
        transfers" when nothing moves)
  leave
        make the node announce that it leaves the cluster, then follow it
        (its transfers, once a second) until it has left or stopped;
        gives up after an hour, the leave going on. Ctrl-C stops the
        waiting, not the leave (exit status 130)
  remove NODE_ID
        remove a dead node from the cluster (ask any live node)
  repair [--json]
        anti-entropy now: the node compares every range it replicates with
        each of its other replicas (hash trees) and moves only the keys
        that differ; prints progress once a second and a summary. Exit
        status 0 only when every range was compared with every live
        replica. Ctrl-C stops the following, not the repair (exit 130)

options:
  --node HOST:PORT  node to ask (default: $DYNKV_NODE or 127.0.0.1:7101)
  --timeout MS      per-request timeout in milliseconds (default 5000)
  --r R, --w W      replicas to wait for: a count, one, quorum, all or
                    default (the node's configured value)
  --ttl SECONDS     the value expires after SECONDS
  --context CTX     the context printed by get --json or put --json
  --help, --version

Errors go to stderr; exit status 0 on success, 1 when the request fails,
2 for bad usage, 130 when leave or repair is interrupted.
)usage";

struct Invocation {
  std::string node = "127.0.0.1:7101";
  uint32_t timeout_ms = 5000;
  std::string command;
  std::vector<std::string> args;             // positionals after the command
  std::map<std::string, std::string> flags;  // --name value (or "" for switches)
};

const std::set<std::string> kValueFlags = {"node", "timeout", "w", "r", "ttl", "context"};
const std::set<std::string> kSwitches = {"json", "help", "version"};
const std::map<std::string, std::set<std::string>> kCommandFlags = {
    {"put", {"w", "ttl", "context", "json"}}, {"get", {"r", "json"}}, {"del", {"w", "context"}},
    {"ping", {}},                              {"stats", {"json"}},
    {"members", {"json"}},                     {"ring", {"json"}},
    {"transfers", {"json"}},                   {"leave", {}},
    {"remove", {}},                            {"repair", {"json"}}};
const std::map<std::string, size_t> kCommandArity = {{"put", 2},       {"get", 1},   {"del", 1},
                                                     {"ping", 0},      {"stats", 0}, {"members", 0},
                                                     {"ring", 0},      {"leave", 0}, {"remove", 1},
                                                     {"transfers", 0}, {"repair", 0}};

[[noreturn]] void UsageError(const std::string& message) {
  std::fprintf(stderr, "dynkv: %s\n(run 'dynkv --help' for usage)\n", message.c_str());
  std::exit(kExitUsage);
}

[[noreturn]] void Fail(const Status& status) {
  std::fprintf(stderr, "dynkv: %s\n", status.ToString().c_str());
  std::exit(kExitError);
}

uint32_t ParseUint(const std::string& flag, const std::string& text, uint32_t min) {
  char* end = nullptr;
  errno = 0;
  const unsigned long value = std::strtoul(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || text[0] == '-' || value < min || value > UINT32_MAX) {
    UsageError("--" + flag + " needs a whole number of at least " + std::to_string(min) + ", not '" + text + "'");
  }
  return static_cast<uint32_t>(value);
}

Invocation Parse(int argc, char** argv) {
  Invocation inv;
  if (const char* env = std::getenv("DYNKV_NODE"); env != nullptr && *env != '\0') inv.node = env;
  bool options_done = false;
  std::vector<std::string> positionals;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (options_done || arg.size() < 3 || arg.rfind("--", 0) != 0) {
      positionals.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    std::string name = arg.substr(2);
    std::string value;
    const size_t eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (kSwitches.count(name)) {
      if (inline_value) UsageError("--" + name + " takes no value");
    } else if (kValueFlags.count(name)) {
      if (!inline_value) {
        if (i + 1 >= argc) UsageError("--" + name + " needs a value");
        value = argv[++i];
      }
    } else {
      UsageError("unknown option '" + arg + "'");
    }
    inv.flags[name] = value;
  }
  if (inv.flags.count("help")) {
    std::fputs(kUsage, stdout);
    std::exit(0);
  }
  if (inv.flags.count("version")) {
    std::puts("dynkv 0.1.0");
    std::exit(0);
  }
  if (positionals.empty()) UsageError("no command given");
  inv.command = positionals[0];
  inv.args.assign(positionals.begin() + 1, positionals.end());
  auto allowed = kCommandFlags.find(inv.command);
  if (allowed == kCommandFlags.end()) UsageError("unknown command '" + inv.command + "'");
  for (const auto& [name, value] : inv.flags) {
    if (name != "node" && name != "timeout" && !allowed->second.count(name)) {
      UsageError(inv.command + " does not take --" + name);
    }
  }
  if (inv.args.size() != kCommandArity.at(inv.command)) {
    UsageError(inv.command + " takes " + std::to_string(kCommandArity.at(inv.command)) + " argument(s), got " +
               std::to_string(inv.args.size()));
  }
  if (inv.flags.count("node")) inv.node = inv.flags["node"];
  if (inv.flags.count("timeout")) inv.timeout_ms = ParseUint("timeout", inv.flags["timeout"], 1);
  return inv;
}

uint32_t QuorumFlag(const Invocation& inv, const std::string& name) {
  auto it = inv.flags.find(name);
  if (it == inv.flags.end()) return client::kDefault;
  auto level = client::ParseQuorum(it->second);
  if (!level.ok()) UsageError("--" + name + ": " + level.status().message());
  return *level;
}

std::string ContextFlag(const Invocation& inv) {
  auto it = inv.flags.find("context");
  if (it == inv.flags.end()) return "";
  auto bytes = Base64Decode(it->second);
  if (!bytes) UsageError("--context is not a context printed by 'get --json' or 'put --json'");
  return *bytes;
}

void PrintJson(const std::string& key, const client::GetReply& reply) {
  std::string out = "{\"key\": " + JsonString(key) + ", \"siblings\": [";
  for (size_t i = 0; i < reply.siblings.size(); ++i) {
    if (i > 0) out += ", ";
    out += JsonString(reply.siblings[i].value);
  }
  out += "], \"context\": " + JsonString(Base64Encode(reply.context)) + "}\n";
  std::fputs(out.c_str(), stdout);
}

std::string ReadStdin() {
  std::string value((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (std::cin.bad()) Fail(Status::InvalidArgument("cannot read the value from stdin"));
  return value;
}

int RunPut(client::Client& c, const Invocation& inv) {
  client::WriteOptions options;
  options.w = QuorumFlag(inv, "w");
  options.context = ContextFlag(inv);
  options.timeout_ms = inv.timeout_ms;
  if (inv.flags.count("ttl")) options.ttl_s = ParseUint("ttl", inv.flags.at("ttl"), 1);
  const std::string value = inv.args[1] == "-" ? ReadStdin() : inv.args[1];
  auto reply = c.Put(inv.args[0], value, options);
  if (!reply.ok()) Fail(reply.status());
  if (inv.flags.count("json")) PrintJson(inv.args[0], *reply);
  return 0;
}

int RunGet(client::Client& c, const Invocation& inv) {
  client::ReadOptions options;
  options.r = QuorumFlag(inv, "r");
  options.timeout_ms = inv.timeout_ms;
  auto reply = c.Get(inv.args[0], options);
  if (!reply.ok()) Fail(reply.status());
  if (inv.flags.count("json")) {
    PrintJson(inv.args[0], *reply);
  } else {
    for (const auto& sibling : reply->siblings) {
      std::fwrite(sibling.value.data(), 1, sibling.value.size(), stdout);
      std::fputc('\n', stdout);
    }
  }
  return 0;
}

int RunDel(client::Client& c, const Invocation& inv) {
  client::WriteOptions options;
  options.w = QuorumFlag(inv, "w");
  options.timeout_ms = inv.timeout_ms;
  if (inv.flags.count("context")) {
    options.context = ContextFlag(inv);
  } else {
    client::ReadOptions read;
    read.timeout_ms = inv.timeout_ms;
    auto current = c.Get(inv.args[0], read);
    if (!current.ok()) Fail(current.status().WithContext("reading the key before deleting it"));
    options.context = current->context;
  }
  Status status = c.Delete(inv.args[0], options);
  if (!status.ok()) Fail(status);
  return 0;
}

int RunPing(client::Client& c) {
  auto pong = c.Ping();
  if (!pong.ok()) Fail(pong.status());
  std::printf("pong from %s (dynkv %s)\n", pong->node_id().c_str(), pong->version().c_str());
  return 0;
}

int RunStats(client::Client& c, const Invocation& inv) {
  auto stats = c.Stats();
  if (!stats.ok()) Fail(stats.status());
  const std::map<std::string, double> sorted(stats->values().begin(), stats->values().end());
  const bool json = inv.flags.count("json") > 0;
  std::string out = json ? "{\"node_id\": " + JsonString(stats->node_id()) : "node_id " + stats->node_id() + "\n";
  for (const auto& [name, value] : sorted) {
    const std::string number = JsonNumber(value);
    out += json ? ", " + JsonString(name) + ": " + number : name + " " + number + "\n";
  }
  if (json) out += "}\n";
  std::fputs(out.c_str(), stdout);
  return 0;
}

// Set by SIGINT while leave waits: the one state a signal handler may touch.
volatile std::sig_atomic_t interrupted = 0;

void OnInterrupt(int) { interrupted = 1; }

int RunLeave(client::Client& c, const client::Options& options, const Invocation& inv) {
  auto node_id = AskToLeave(c, inv.node);
  if (!node_id.ok()) Fail(node_id.status());
  // From here on Ctrl-C ends the waiting only. No SA_RESTART: the sleep
  // between polls ends at once.
  struct sigaction action = {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  LeaveWait wait;
  wait.node_id = *node_id;
  wait.address = inv.node;
  wait.connect = options;
  wait.interrupted = &interrupted;
  auto outcome = WaitUntilLeft(c, wait);
  if (!outcome.ok()) Fail(outcome.status());
  return *outcome == LeaveOutcome::kInterrupted ? kExitInterrupted : 0;
}

// Ctrl-C stops following the repair, not the repair.
int RunRepairCommand(client::Client& c, const Invocation& inv) {
  struct sigaction action = {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  RepairWait wait;
  wait.json = inv.flags.count("json") > 0;
  wait.interrupted = &interrupted;
  auto code = RunRepair(c, wait);
  if (!code.ok()) Fail(code.status());
  return *code;
}

int Run(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  const Invocation inv = Parse(argc, argv);
  auto address = net::ParseHostPort(inv.node);
  if (!address.ok()) UsageError("--node: " + address.status().message());
  client::Options options;
  options.node = *address;
  options.timeout_ms = inv.timeout_ms + kResponseMarginMs;
  auto connected = client::Client::Connect(options);
  if (!connected.ok()) Fail(connected.status());
  client::Client& c = **connected;
  if (inv.command == "put") return RunPut(c, inv);
  if (inv.command == "get") return RunGet(c, inv);
  if (inv.command == "del") return RunDel(c, inv);
  if (inv.command == "ping") return RunPing(c);
  if (inv.command == "stats") return RunStats(c, inv);
  if (inv.command == "leave") return RunLeave(c, options, inv);
  if (inv.command == "repair") return RunRepairCommand(c, inv);
  const bool json = inv.flags.count("json") > 0;
  Status status;
  if (inv.command == "members") status = PrintMembers(c, json);
  if (inv.command == "ring") status = PrintRing(c, json);
  if (inv.command == "transfers") status = PrintTransfers(c, json);
  if (inv.command == "remove") status = RemoveNode(c, inv.args[0]);
  if (!status.ok()) Fail(status);
  return 0;
}

}  // namespace

}  // namespace dynkv::cli

int main(int argc, char** argv) { return dynkv::cli::Run(argc, argv); }
