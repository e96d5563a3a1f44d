// The Redis commands of the node's RESP port (listen.resp; issue 15), each
// run as requests to the ClientService, so a RESP client is served with the
// same replication, validation, limits and metrics as a dynkv client.
//
// Semantics (docs/OPERATIONS.md: Redis protocol):
// - Every key is replicated as usual, with the node's default R and W.
// - SET reads the key first and writes with the context that read returned:
//   it replaces what the read saw, so SETs one after another behave as in
//   Redis, while SETs that race through different nodes still become
//   siblings. Through one node, SETs of a key run one at a time; those
//   that wait together without NX or XX are applied as one write of the
//   last value (a valid order of concurrent SETs: each acknowledged one was
//   written and overwritten at once), so a hot key neither piles up
//   siblings nor waits a round trip per SET.
// - GET returns the newest sibling by write time (ties: the larger value);
//   DYNKV.SIBLINGS returns them all, newest first.
// - TTLs are whole seconds (dynkv's granularity): PX rounds up.
// - EXPIRE rewrites the newest sibling with the TTL (siblings collapse).
// - DBSIZE is an estimate: this node's key count over its share of the ring.
//
// Threads: the event loop's only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/client_service.h"
#include "client.pb.h"
#include "common/clock.h"

namespace dynkv::api {

// One RESP connection: its id (HELLO, CLIENT ID) and, when the node checks
// client tokens (security.clients), the role its AUTH established.
struct RespClient {
  uint64_t id = 0;
  Role role = Role::kNone;
};

struct RespNodeInfo {
  std::string node_id;
  std::string version;
};

class RespCommands {
 public:
  using Args = std::vector<std::string>;
  // The reply, RESP-encoded; called exactly once per command, now or later.
  using Reply = std::function<void(std::string)>;
  // The number of keys in the cluster, estimated; nullopt while unknown.
  using KeyEstimate = std::function<std::optional<uint64_t>()>;

  // REQUIRES: service and clock outlive the commands.
  RespCommands(ClientService& service, const Clock& clock, RespNodeInfo info, KeyEstimate keys);

  // Runs one command (args non-empty; args[0] its name, any case) for
  // `client`, which AUTH updates. With client tokens (the service's
  // auth()), a command needs AUTH first (-NOAUTH) and a role that allows
  // it (-NOPERM), as the client port's requests do: reads need read, SET,
  // DEL, MSET and EXPIRE need write; AUTH, HELLO and QUIT need nothing.
  void Run(const Args& args, RespClient& client, Reply reply);

  static bool IsQuit(const Args& args);
  // The keys a command reads or writes (none for the server commands):
  // the server runs a connection's commands on one key in the order sent.
  static std::vector<std::string> KeysOf(const Args& args);

 private:
  using Handler = void (RespCommands::*)(const Args&, uint64_t client_id, Reply reply);
  struct SetOptions {
    bool nx = false;
    bool xx = false;
    uint32_t ttl_s = 0;
  };
  struct QueuedSet {
    std::string value;
    SetOptions options;
    Reply reply;
  };
  enum class KeyArgs { kNone, kFirst, kAll, kEveryOther };  // which arguments are keys
  struct Command {
    int arity;  // as Redis counts it: N exactly, or -N for at least N (the name included)
    Handler handler;
    KeyArgs keys = KeyArgs::kNone;
    Role role = Role::kRead;  // needed with client tokens
  };
  static const std::map<std::string, Command, std::less<>>& Table();

  // One request to the service; its response to `done`.
  void Call(dynkv::client::Request request, std::function<void(dynkv::client::Response)> done);
  // Reads `key`; `done` gets the GetResponse, or the reply is an error.
  void Read(const std::string& key, const Reply& reply, std::function<void(dynkv::client::GetResponse)> done);
  // Writes `value` over what `context` covers; +OK-style callers reply.
  void Write(const std::string& key, std::string value, const std::string& context, uint32_t ttl_s,
             const Reply& reply, std::function<void()> done);
  void Remove(const std::string& key, const std::string& context, const Reply& reply, std::function<void()> done);
  // Reads every key in one batch; `done` gets the results in order, or the
  // reply is the first error.
  void ReadAll(const std::vector<std::string>& keys, const Reply& reply,
               std::function<void(std::vector<dynkv::client::GetResponse>)> done);

  // Runs the SETs of `key` in `run` (one, or several plain ones: the last
  // value is written), then the next that waited.
  void StartSets(const std::string& key, std::vector<QueuedSet> run);
  void FinishSets(const std::string& key);

  // AUTH [user] token (Redis 6's forms; the user is ignored).
  std::string Auth(const Args& args, RespClient& client);
  // Empty when `client` may run `command`, else the -NOAUTH or -NOPERM reply.
  std::string Refusal(const std::string& name, const Command& command, const RespClient& client);

  // Connection and server commands (resp_commands.cc).
  void Ping(const Args& args, uint64_t client_id, Reply reply);
  void Echo(const Args& args, uint64_t client_id, Reply reply);
  void Select(const Args& args, uint64_t client_id, Reply reply);
  void CommandInfo(const Args& args, uint64_t client_id, Reply reply);
  void Config(const Args& args, uint64_t client_id, Reply reply);
  void Hello(const Args& args, uint64_t client_id, Reply reply);
  void Client(const Args& args, uint64_t client_id, Reply reply);
  void Info(const Args& args, uint64_t client_id, Reply reply);
  void DbSize(const Args& args, uint64_t client_id, Reply reply);
  void Quit(const Args& args, uint64_t client_id, Reply reply);
  // Key commands (resp_keys.cc).
  void Get(const Args& args, uint64_t client_id, Reply reply);
  void Set(const Args& args, uint64_t client_id, Reply reply);
  void Del(const Args& args, uint64_t client_id, Reply reply);
  void Exists(const Args& args, uint64_t client_id, Reply reply);
  void MGet(const Args& args, uint64_t client_id, Reply reply);
  void MSet(const Args& args, uint64_t client_id, Reply reply);
  void Expire(const Args& args, uint64_t client_id, Reply reply);
  void Ttl(const Args& args, uint64_t client_id, Reply reply);
  void Siblings(const Args& args, uint64_t client_id, Reply reply);

  ClientService& service_;
  const Clock& clock_;
  RespNodeInfo info_;
  KeyEstimate keys_;
  // Keys with a SET in flight, and the SETs waiting behind it.
  std::map<std::string, std::deque<QueuedSet>> sets_;
};

// The error reply for a dynkv error: "-ERR message" for a bad request,
// else "-CODE message" (TIMEOUT, UNAVAILABLE, OVERLOADED, TOO_LARGE, ...).
std::string RespErrorFor(const dynkv::client::Error& error);
// Lower-cases an ASCII command name.
std::string LowerAscii(std::string_view text);

}  // namespace dynkv::api
