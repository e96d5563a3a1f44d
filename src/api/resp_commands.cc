#include "api/resp_commands.h"

#include <fnmatch.h>

#include <utility>

#include "api/resp.h"

namespace dynkv::api {

namespace pb = dynkv::client;

namespace {

// Redis' wording, so clients and people recognise them.
std::string UnknownSubcommand(const RespCommands::Args& args) {
  return RespErrorReply("ERR unknown subcommand '" + args[1] + "'. Try " + LowerAscii(args[0]) + " HELP.");
}

// The settings `CONFIG GET` shows (redis-benchmark asks for save and
// appendonly): what a Redis with dynkv's behaviour would say.
const std::vector<std::pair<std::string, std::string>>& ConfigValues() {
  static const std::vector<std::pair<std::string, std::string>> values = {
      {"save", ""}, {"appendonly", "no"}, {"databases", "1"}};
  return values;
}

}  // namespace

std::string LowerAscii(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower;
}

std::string RespErrorFor(const pb::Error& error) {
  if (error.code() == pb::INVALID_ARGUMENT) return RespErrorReply("ERR " + error.message());
  return RespErrorReply(pb::ErrorCode_Name(error.code()) + " " + error.message());
}

RespCommands::RespCommands(ClientService& service, const Clock& clock, RespNodeInfo info, KeyEstimate keys)
    : service_(service), clock_(clock), info_(std::move(info)), keys_(std::move(keys)) {}

const std::map<std::string, RespCommands::Command, std::less<>>& RespCommands::Table() {
  static const std::map<std::string, Command, std::less<>> table = {
      {"ping", {-1, &RespCommands::Ping}},        {"echo", {2, &RespCommands::Echo}},
      {"select", {2, &RespCommands::Select}},     {"command", {-1, &RespCommands::CommandInfo}},
      {"config", {-2, &RespCommands::Config}},    {"hello", {-1, &RespCommands::Hello, KeyArgs::kNone, Role::kNone}},
      {"client", {-2, &RespCommands::Client}},    {"info", {-1, &RespCommands::Info}},
      {"dbsize", {1, &RespCommands::DbSize}},     {"quit", {-1, &RespCommands::Quit, KeyArgs::kNone, Role::kNone}},
      {"get", {2, &RespCommands::Get, KeyArgs::kFirst}},
      {"set", {-3, &RespCommands::Set, KeyArgs::kFirst, Role::kWrite}},
      {"del", {-2, &RespCommands::Del, KeyArgs::kAll, Role::kWrite}},
      {"exists", {-2, &RespCommands::Exists, KeyArgs::kAll}},
      {"mget", {-2, &RespCommands::MGet, KeyArgs::kAll}},
      {"mset", {-3, &RespCommands::MSet, KeyArgs::kEveryOther, Role::kWrite}},
      {"expire", {-3, &RespCommands::Expire, KeyArgs::kFirst, Role::kWrite}},
      {"ttl", {2, &RespCommands::Ttl, KeyArgs::kFirst}},
      {"dynkv.siblings", {2, &RespCommands::Siblings, KeyArgs::kFirst}},
  };
  return table;
}

bool RespCommands::IsQuit(const Args& args) { return !args.empty() && LowerAscii(args[0]) == "quit"; }

std::vector<std::string> RespCommands::KeysOf(const Args& args) {
  auto it = Table().find(LowerAscii(args[0]));
  if (it == Table().end() || args.size() < 2) return {};
  switch (it->second.keys) {
    case KeyArgs::kNone: return {};
    case KeyArgs::kFirst: return {args[1]};
    case KeyArgs::kAll: return {args.begin() + 1, args.end()};
    case KeyArgs::kEveryOther: break;
  }
  std::vector<std::string> keys;
  for (size_t i = 1; i < args.size(); i += 2) keys.push_back(args[i]);
  return keys;
}

void RespCommands::Run(const Args& args, RespClient& client, Reply reply) {
  const std::string name = LowerAscii(args[0]);
  if (name == "auth") return reply(Auth(args, client));
  auto it = Table().find(name);
  if (service_.auth() != nullptr) {
    // Before anything else, as Redis does: even an unknown command gets -NOAUTH.
    static const Command kUnknown{0, nullptr};
    std::string refusal = Refusal(name, it == Table().end() ? kUnknown : it->second, client);
    if (!refusal.empty()) return reply(std::move(refusal));
  }
  if (it == Table().end()) {
    std::string message = "ERR unknown command '" + args[0].substr(0, 128) + "', with args beginning with: ";
    for (size_t i = 1; i < args.size() && message.size() < 512; ++i) message += "'" + args[i].substr(0, 128) + "' ";
    return reply(RespErrorReply(message));
  }
  const int arity = it->second.arity;
  const int count = static_cast<int>(std::min<size_t>(args.size(), 1 << 30));
  if ((arity > 0 && count != arity) || (arity < 0 && count < -arity)) {
    return reply(RespErrorReply("ERR wrong number of arguments for '" + name + "' command"));
  }
  (this->*(it->second.handler))(args, client.id, std::move(reply));
}

std::string RespCommands::Auth(const Args& args, RespClient& client) {
  if (args.size() < 2 || args.size() > 3) return RespErrorReply("ERR wrong number of arguments for 'auth' command");
  ClientAuth* auth = service_.auth();
  if (auth == nullptr) {
    // Redis' answer when it has no password set.
    return RespErrorReply(
        "ERR AUTH <password> called without any password configured for the default user. "
        "Are you sure your configuration is correct?");
  }
  client.role = auth->Authenticate(args.back());
  if (client.role == Role::kNone) return RespErrorReply("WRONGPASS invalid username-password pair or user is disabled.");
  return RespSimpleReply("OK");
}

std::string RespCommands::Refusal(const std::string& name, const Command& command, const RespClient& client) {
  if (client.role >= command.role) return {};
  if (client.role == Role::kNone) {
    service_.Count("clients.unauthenticated");
    return RespErrorReply("NOAUTH Authentication required.");
  }
  service_.Count("clients.permission_denied");
  return RespErrorReply("NOPERM '" + name + "' needs the '" + std::string(RoleName(command.role)) +
                        "' role; this connection's token has '" + std::string(RoleName(client.role)) + "'");
}

void RespCommands::Call(pb::Request request, std::function<void(pb::Response)> done) {
  service_.Handle(request, std::move(done));
}

// ---- Connection and server commands -------------------------------------------

void RespCommands::Ping(const Args& args, uint64_t, Reply reply) {
  if (args.size() > 2) return reply(RespErrorReply("ERR wrong number of arguments for 'ping' command"));
  reply(args.size() == 2 ? RespBulkReply(args[1]) : RespSimpleReply("PONG"));
}

void RespCommands::Echo(const Args& args, uint64_t, Reply reply) { reply(RespBulkReply(args[1])); }

void RespCommands::Select(const Args& args, uint64_t, Reply reply) {
  reply(args[1] == "0" ? RespSimpleReply("OK") : RespErrorReply("ERR DB index is out of range (dynkv has database 0 only)"));
}

// redis-cli asks `COMMAND DOCS` for its hints and does without them on an
// empty answer; nothing else needs the table.
void RespCommands::CommandInfo(const Args& args, uint64_t, Reply reply) {
  if (args.size() >= 2 && LowerAscii(args[1]) == "count") return reply(RespIntegerReply(static_cast<int64_t>(Table().size())));
  std::string out;
  RespArrayHeader(&out, 0);
  reply(std::move(out));
}

void RespCommands::Config(const Args& args, uint64_t, Reply reply) {
  const std::string sub = LowerAscii(args[1]);
  if (sub != "get") {
    if (sub == "set" || sub == "resetstat" || sub == "rewrite") {
      return reply(RespErrorReply("ERR CONFIG " + args[1] + " is not supported: dynkv is configured by its YAML file"));
    }
    return reply(UnknownSubcommand(args));
  }
  std::vector<std::pair<std::string, std::string>> found;
  for (const auto& [name, value] : ConfigValues()) {
    for (size_t i = 2; i < args.size(); ++i) {
      if (fnmatch(LowerAscii(args[i]).c_str(), name.c_str(), 0) == 0) {
        found.emplace_back(name, value);
        break;
      }
    }
  }
  std::string out;
  RespArrayHeader(&out, found.size() * 2);
  for (const auto& [name, value] : found) {
    RespBulk(&out, name);
    RespBulk(&out, value);
  }
  reply(std::move(out));
}

void RespCommands::Hello(const Args& args, uint64_t client_id, Reply reply) {
  if (args.size() >= 2 && args[1] != "2") {
    return reply(RespErrorReply("NOPROTO sorry, this protocol version is not supported (dynkv speaks RESP2)"));
  }
  for (size_t i = 2; i < args.size(); ++i) {
    if (LowerAscii(args[i]) == "auth") {
      return reply(RespErrorReply("ERR HELLO with AUTH is not supported on dynkv's RESP port; send AUTH first"));
    }
  }
  std::string out;
  RespArrayHeader(&out, 14);
  for (const char* field : {"server", "dynkv", "version"}) RespBulk(&out, field);
  RespBulk(&out, info_.version);
  RespBulk(&out, "proto");
  RespInteger(&out, 2);
  RespBulk(&out, "id");
  RespInteger(&out, static_cast<int64_t>(client_id));
  for (const char* field : {"mode", "standalone", "role", "master", "modules"}) RespBulk(&out, field);
  RespArrayHeader(&out, 0);
  reply(std::move(out));
}

void RespCommands::Client(const Args& args, uint64_t client_id, Reply reply) {
  const std::string sub = LowerAscii(args[1]);
  if (sub == "setname" || sub == "setinfo") return reply(RespSimpleReply("OK"));
  if (sub == "getname") return reply("$-1\r\n");
  if (sub == "id") return reply(RespIntegerReply(static_cast<int64_t>(client_id)));
  reply(UnknownSubcommand(args));
}

void RespCommands::Info(const Args&, uint64_t, Reply reply) {
  const std::optional<uint64_t> keys = keys_ ? keys_() : std::nullopt;
  std::string text = "# Server\r\nredis_version:7.0.0\r\ndynkv_version:" + info_.version +
                     "\r\nnode_id:" + info_.node_id + "\r\nredis_mode:standalone\r\n\r\n# Keyspace\r\n";
  if (keys) text += "db0:keys=" + std::to_string(*keys) + ",expires=0,avg_ttl=0\r\n";
  reply(RespBulkReply(text));
}

void RespCommands::DbSize(const Args&, uint64_t, Reply reply) {
  const std::optional<uint64_t> keys = keys_ ? keys_() : std::nullopt;
  if (!keys) return reply(RespErrorReply("ERR DBSIZE is not known yet: this node's hash tree is still being built"));
  reply(RespIntegerReply(static_cast<int64_t>(*keys)));
}

// The server closes the connection after this reply.
void RespCommands::Quit(const Args&, uint64_t, Reply reply) { reply(RespSimpleReply("OK")); }

}  // namespace dynkv::api
