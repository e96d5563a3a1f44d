// dynkv: the command-line client. The command line is a public contract
// (issue 2): keep every form below working; add, never change.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
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
#include "client/client.h"
#include "cluster_commands.h"
#include "command_line.h"
#include "json_line.h"
#include "repair_command.h"

namespace dynkv::cli {

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInterrupted = 130;         // 128 + SIGINT, as shells report it
constexpr uint32_t kResponseMarginMs = 1000;  // wait this long past the node's own deadline

// What each command does, as `--help` prints it under the command's line.
constexpr const char* kPutHelp = R"help(store VALUE under KEY; VALUE '-' reads it from stdin. Without
--context the write is blind: it is kept beside any existing
siblings. --json prints the key's siblings and context afterwards.)help";
constexpr const char* kGetHelp = R"help(print each sibling's value on its own line (nothing for a missing
key); --json prints {"key": ..., "siblings": [...], "context": "..."})help";
constexpr const char* kDelHelp = R"help(delete KEY. Without --context it first reads the key and deletes
the siblings that read sees (a concurrent write stays).)help";
constexpr const char* kPingHelp = "check that the node answers";
constexpr const char* kStatsHelp = "print the node's counters";
constexpr const char* kMembersHelp = R"help(every node the node knows: status, up/down as that node judges
it, generation, addresses, phi and tokens. A node back on an empty
data dir under a known id shows as "joining (replacing)" while it
streams its old ranges back in)help";
constexpr const char* kRingHelp = "each node's tokens, share of the ring and share of the replicas";
constexpr const char* kPreflistHelp = R"help(where KEY lives: its ring position and its replicas in order, each
with datacenter, rack, role (primary, or fallback standing in for a
down primary) and up or down, as the node asked sees them)help";
constexpr const char* kTransfersHelp = R"help(the ring change in progress as the node sees it, and the ranges it
receives (in) or sends (out) under it: range, direction, from ->
to, state, keys and bytes moved so far ("the ring is still: no
transfers" when nothing moves))help";
constexpr const char* kLeaveHelp = R"help(make the node announce that it leaves the cluster, then follow it
(its transfers, once a second) until it has left or stopped;
gives up after an hour, the leave going on. Ctrl-C stops the
waiting, not the leave (exit status 130))help";
constexpr const char* kRemoveHelp = "remove a dead node from the cluster (ask any live node)";
constexpr const char* kRepairHelp = R"help(anti-entropy now: the node compares every range it replicates with
each of its other replicas (hash trees) and moves only the keys
that differ; prints progress once a second and a summary. Exit
status 0 only when every range was compared with every live
replica. Ctrl-C stops the following, not the repair (exit 130))help";

constexpr const char* kFooter = R"help(Errors go to stderr; exit status 0 on success, 1 when the request fails,
2 for bad usage, 130 when leave or repair is interrupted.)help";

struct Invocation {
  std::string node = "127.0.0.1:7101";
  std::string ca_file;  // --ca: TLS, trusting this CA; empty: plaintext
  uint32_t timeout_ms = 5000;
  std::string token;  // empty: no AuthRequest
  std::string command;
  std::array<std::string, 2> args;  // the command's arguments, in order
  uint32_t r = client::kDefault;
  uint32_t w = client::kDefault;
  uint32_t ttl_s = 0;             // 0: no --ttl
  std::string context;            // the decoded bytes of --context
  bool context_given = false;
  bool json = false;
};

[[noreturn]] void UsageError(const std::string& message) {
  std::fprintf(stderr, "dynkv: %s\n(run 'dynkv --help' for usage)\n", message.c_str());
  std::exit(kExitUsage);
}

// --r and --w: a count, one, quorum, all, local_quorum, each_quorum or
// default, rewritten to the level.
CLI::Validator QuorumLevel() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        auto level = client::ParseQuorum(text);
        if (!level.ok()) return level.status().message();
        text = std::to_string(*level);
        return "";
      },
      "", "QuorumLevel");
}

// --context: base64 as get --json prints it, rewritten to the raw bytes.
CLI::Validator Context() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        auto bytes = Base64Decode(text);
        if (!bytes) return "is not a context printed by 'get --json' or 'put --json'";
        text = *bytes;
        return "";
      },
      "", "Context");
}

// The group of the global options that say how to connect securely
// (--ca, --token). The usage line is a contract (tests/integration/test_cli.py)
// that predates them: they are listed under "options:" only.
constexpr const char* kSecurityGroup = "security";

// " KEY VALUE [--w W] [--json]": a command's arguments and flags.
std::string Synopsis(const CLI::App& app) {
  std::string out;
  for (const CLI::Option* option : app.get_options()) {
    if (option->get_positional()) out += " " + option->get_name(true);
  }
  for (const CLI::Option* option : app.get_options()) {
    if (option->get_positional() || option == app.get_help_ptr() || option == app.get_version_ptr() ||
        option->get_group() == kSecurityGroup) {
      continue;
    }
    const bool takes_value = option->get_items_expected_max() > 0;
    out += " [" + option->get_name() + (takes_value ? " " + option->get_type_name() : "") + "]";
  }
  return out;
}

// Each line of `text` after `indent` spaces.
std::string Indented(const std::string& text, size_t indent) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out += std::string(indent, ' ') + text.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return out;
}

// `dynkv --help`, from the options declared: the usage line, each command
// with its arguments, flags and what it does, then every option once.
std::string HelpText(const CLI::App& app) {
  constexpr size_t kDescriptionColumn = 20;
  std::string out = "usage: dynkv" + Synopsis(app) + " COMMAND ...\n\ncommands:\n";
  std::vector<const CLI::Option*> options = app.get_options();
  std::set<std::string> listed;
  for (const CLI::Option* option : options) listed.insert(option->get_name());
  for (const CLI::App* command : app.get_subcommands([](const CLI::App*) { return true; })) {
    const std::string synopsis = "  " + command->get_name() + Synopsis(*command);
    // A short description fits on the command's line, as ping's does.
    const std::string& description = command->get_description();
    if (synopsis.size() + 2 <= 8 && description.find('\n') == std::string::npos) {
      out += synopsis + std::string(8 - synopsis.size(), ' ') + description + "\n";
    } else {
      out += synopsis + "\n" + Indented(description, 8);
    }
    for (const CLI::Option* option : command->get_options()) {
      if (!option->get_positional() && listed.insert(option->get_name()).second) options.push_back(option);
    }
  }
  out += "\noptions:\n";
  for (const CLI::Option* option : options) {
    std::string name = "  " + option->get_name();
    if (option->get_items_expected_max() > 0) name += " " + option->get_type_name();
    const std::string description = Indented(option->get_description(), kDescriptionColumn);
    if (name.size() + 2 > kDescriptionColumn) {
      out += name + "\n" + description;
    } else {
      out += name + std::string(kDescriptionColumn - name.size(), ' ') + description.substr(kDescriptionColumn);
    }
  }
  return out + "\n" + app.get_footer() + "\n";
}

// The command line as the contract reads it, in the order CLI11 reads it.
// The contract (since issue 2): a word of 3 or more characters that starts
// with "--" is a flag, wherever it stands (before the command too, as in
// `dynkv --json get k`); a flag that takes a value takes the next word,
// whatever it is; every other word, "-x" and "--" included, is the command
// or one of its arguments. CLI11 would read "-x" as an option and "--" as
// the end of them, and takes a command's flags only after the command; so
// the words go to it as: the command, each flag as --name=value, "--",
// the arguments.
std::vector<std::string> InContractOrder(int argc, char** argv) {
  static const std::set<std::string> kTakesValue = {"node", "ca", "timeout", "token", "r", "w", "ttl", "context"};
  std::vector<std::string> flags;
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.size() < 3 || !arg.starts_with("--")) {
      words.push_back(arg);
    } else if (arg.find('=') == std::string::npos && kTakesValue.count(arg.substr(2))) {
      if (i + 1 >= argc) UsageError(arg + " needs a value");
      flags.push_back(arg + "=" + argv[++i]);
    } else {
      flags.push_back(arg);
    }
  }
  std::vector<std::string> args = {argv[0]};
  if (!words.empty()) args.push_back(words.front());
  args.insert(args.end(), flags.begin(), flags.end());
  if (words.size() > 1) {
    args.push_back("--");
    args.insert(args.end(), words.begin() + 1, words.end());
  }
  return args;
}

// The command line: one CLI11 subcommand per command with the flags it
// takes; --node, --timeout and --token anywhere (fallthrough); --help anywhere
// prints the whole help (the commands have no help flag of their own).
Invocation Parse(int given_argc, char** given_argv) {
  std::vector<std::string> words = InContractOrder(given_argc, given_argv);
  std::vector<char*> pointers;
  for (std::string& word : words) pointers.push_back(word.data());
  const int argc = static_cast<int>(pointers.size());
  char** argv = pointers.data();
  Invocation inv;
  CLI::App app("dynkv", "dynkv");
  app.set_help_flag("--help", "print this help");
  app.set_version_flag("--version", "dynkv 0.1.0", "print the version");
  app.footer(kFooter);
  app.require_subcommand(1);
  app.fallthrough();
  // Repeated flags: the last one counts.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--node", inv.node, "node to ask (default: $DYNKV_NODE or 127.0.0.1:7101)")
      ->type_name("HOST:PORT")
      ->envname("DYNKV_NODE");
  app.add_option("--ca", inv.ca_file,
                 "speak TLS to the node, trusting the CA certificate(s) in\n"
                 "FILE (default: $DYNKV_CA; unset: plaintext)")
      ->type_name("FILE")
      ->envname("DYNKV_CA")
      ->group(kSecurityGroup);
  app.add_option("--timeout", inv.timeout_ms, "per-request timeout in milliseconds (default 5000)")
      ->type_name("MS")
      ->transform(tools::WholeNumber(1, UINT32_MAX));
  app.add_option("--token", inv.token,
                 "client token, for a node with security.clients (default:\n"
                 "$DYNKV_TOKEN, which other users cannot see in ps)")
      ->type_name("TOKEN")
      ->envname("DYNKV_TOKEN")
      ->group(kSecurityGroup);

  auto command = [&](const char* name, const char* description, std::vector<const char*> arguments) {
    CLI::App* sub = app.add_subcommand(name, description);
    sub->set_help_flag();
    for (size_t i = 0; i < arguments.size(); ++i) sub->add_option(arguments[i], inv.args[i])->required();
    return sub;
  };
  auto quorum = [&](CLI::App* sub, const char* name, const char* level, uint32_t* out) {
    sub->add_option(name, *out,
                    "replicas to wait for: a count, one, quorum, all,\n"
                    "local_quorum (a quorum of the node's datacenter),\n"
                    "each_quorum (a quorum in every datacenter) or\n"
                    "default (the node's configured value)")
        ->type_name(level)
        ->transform(QuorumLevel());
  };
  auto ttl = [&](CLI::App* sub) {
    sub->add_option("--ttl", inv.ttl_s, "the value expires after SECONDS")
        ->type_name("SECONDS")
        ->transform(tools::WholeNumber(1, UINT32_MAX));
  };
  auto context = [&](CLI::App* sub) {
    sub->add_option("--context", inv.context, "the context printed by get --json or put --json")
        ->type_name("CTX")
        ->transform(Context())
        ->each([&inv](const std::string&) { inv.context_given = true; });
  };
  auto json = [&](CLI::App* sub) {
    sub->add_flag("--json", inv.json, "print the answer as JSON")->check(tools::NoValue());
  };

  CLI::App* put = command("put", kPutHelp, {"KEY", "VALUE"});
  quorum(put, "--w", "W", &inv.w);
  ttl(put);
  context(put);
  json(put);
  CLI::App* get = command("get", kGetHelp, {"KEY"});
  quorum(get, "--r", "R", &inv.r);
  json(get);
  CLI::App* del = command("del", kDelHelp, {"KEY"});
  quorum(del, "--w", "W", &inv.w);
  context(del);
  command("ping", kPingHelp, {});
  json(command("stats", kStatsHelp, {}));
  json(command("members", kMembersHelp, {}));
  json(command("ring", kRingHelp, {}));
  json(command("preflist", kPreflistHelp, {"KEY"}));
  json(command("transfers", kTransfersHelp, {}));
  command("leave", kLeaveHelp, {});
  command("remove", kRemoveHelp, {"NODE_ID"});
  json(command("repair", kRepairHelp, {}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(HelpText(app).c_str(), stdout);
    std::exit(0);
  } catch (const CLI::CallForVersion& e) {
    std::exit(app.exit(e));
  } catch (const CLI::RequiredError& e) {
    // No command, or one that is not a command.
    if (!app.get_subcommands().empty()) UsageError(e.what());
    const std::vector<std::string> rest = app.remaining();
    UsageError(rest.empty() ? "no command given" : "unknown command '" + rest.front() + "'");
  } catch (const CLI::ExtrasError& e) {
    // CLI11 names them last first: name them as given, after the command.
    if (app.get_subcommands().empty()) UsageError(e.what());
    const std::vector<std::string> rest = app.remaining(true);
    const CLI::App& chosen = *app.get_subcommands().front();
    const auto separator = std::find(words.begin(), words.end(), "--");
    if (separator != words.end() && std::any_of(rest.begin(), rest.end(), [](const std::string& w) {
          return w.size() < 3 || !w.starts_with("--");
        })) {
      const size_t wanted = chosen.get_options([](const CLI::Option* o) { return o->get_positional(); }).size();
      UsageError(chosen.get_name() + " takes " + std::to_string(wanted) + " argument(s), got " +
                 std::to_string(words.end() - separator - 1));
    }
    std::string given;
    for (int i = 1; i < argc; ++i) {
      if (std::find(rest.begin(), rest.end(), argv[i]) != rest.end()) given += std::string(" ") + argv[i];
    }
    UsageError(app.get_subcommands().front()->get_name() + " does not take" + given);
  } catch (const CLI::ParseError& e) {
    UsageError(e.what());
  }
  const CLI::App* chosen = app.get_subcommands().front();
  inv.command = chosen->get_name();
  return inv;
}

[[noreturn]] void Fail(const Status& status) {
  std::fprintf(stderr, "dynkv: %s\n", status.ToString().c_str());
  std::exit(kExitError);
}

void PrintJson(const std::string& key, const client::GetReply& reply) {
  tools::Json siblings = tools::Json::array();
  for (const auto& sibling : reply.siblings) siblings.push_back(sibling.value);
  const tools::Json doc = {{"key", key}, {"siblings", siblings}, {"context", Base64Encode(reply.context)}};
  std::fputs((tools::JsonLine(doc) + "\n").c_str(), stdout);
}

std::string ReadStdin() {
  std::string value((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (std::cin.bad()) Fail(Status::InvalidArgument("cannot read the value from stdin"));
  return value;
}

int RunPut(client::Client& c, const Invocation& inv) {
  client::WriteOptions options;
  options.w = inv.w;
  options.context = inv.context;
  options.timeout_ms = inv.timeout_ms;
  options.ttl_s = inv.ttl_s;
  const std::string value = inv.args[1] == "-" ? ReadStdin() : inv.args[1];
  auto reply = c.Put(inv.args[0], value, options);
  if (!reply.ok()) Fail(reply.status());
  if (inv.json) PrintJson(inv.args[0], *reply);
  return 0;
}

int RunGet(client::Client& c, const Invocation& inv) {
  client::ReadOptions options;
  options.r = inv.r;
  options.timeout_ms = inv.timeout_ms;
  auto reply = c.Get(inv.args[0], options);
  if (!reply.ok()) Fail(reply.status());
  if (inv.json) {
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
  options.w = inv.w;
  options.timeout_ms = inv.timeout_ms;
  if (inv.context_given) {
    options.context = inv.context;
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
  if (inv.json) {
    tools::Json doc = {{"node_id", stats->node_id()}};
    for (const auto& [name, value] : sorted) doc[name] = tools::JsonNumber(value);
    std::fputs((tools::JsonLine(doc) + "\n").c_str(), stdout);
    return 0;
  }
  std::string out = "node_id " + stats->node_id() + "\n";
  for (const auto& [name, value] : sorted) {
    char number[64];
    std::snprintf(number, sizeof(number), "%.15g", value);
    out += name + " " + number + "\n";
  }
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
  wait.json = inv.json;
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
  if (!inv.ca_file.empty()) {
    auto tls = client::ClientTls(inv.ca_file);
    if (!tls.ok()) UsageError("--ca: " + tls.status().message());
    options.tls = std::move(*tls);
  }
  options.token = inv.token;
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
  const bool json = inv.json;
  Status status;
  if (inv.command == "members") status = PrintMembers(c, json);
  if (inv.command == "ring") status = PrintRing(c, json);
  if (inv.command == "preflist") status = PrintPreflist(c, inv.args[0], json);
  if (inv.command == "transfers") status = PrintTransfers(c, json);
  if (inv.command == "remove") status = RemoveNode(c, inv.args[0]);
  if (!status.ok()) Fail(status);
  return 0;
}

}  // namespace

}  // namespace dynkv::cli

int main(int argc, char** argv) { return dynkv::cli::Run(argc, argv); }
