// One connection to the store under test, behind one interface, so the
// same generator and the same bookkeeping measure dynkv and Redis.
//
// Threads: a StoreConnection and its Listener belong to the thread that
// runs their uv loop. ContextTable is shared by all threads.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "net/net.h"
#include "options.h"

namespace dynkv::bench {

struct Op {
  OpKind kind = OpKind::kGet;
  uint64_t key_index = 0;
  std::string_view key;
  std::string_view value;  // puts only
};

struct Outcome {
  bool ok = true;
  bool found = false;  // gets: the key held a value
  // When !ok: the error's code, e.g. "TIMEOUT" or, from Redis, "ERR".
  std::string error;
  // The connection is lost; nothing more can be sent on it.
  bool connection_lost = false;
};

class StoreConnection {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void OnConnected(const Status& status) = 0;
    // Exactly once per Issue(), possibly from within Issue() or Close().
    virtual void OnDone(uint32_t slot, Outcome outcome) = 0;
  };

  virtual ~StoreConnection() = default;
  virtual void Connect() = 0;
  // Sends `op`; the listener's OnDone(slot, ...) answers it. The views in
  // `op` need only live during the call.
  virtual void Issue(uint32_t slot, const Op& op) = 0;
  // Fails what is in flight and closes the socket. The object may be
  // destroyed once its loop has run again (so libuv's close callbacks ran).
  virtual void Close() = 0;
};

// The latest context the client has seen for each key: a dynkv write sends
// it back so that it replaces the key's value, as a Redis SET does, rather
// than adding a sibling (DESIGN.md: Causality). Shared by every thread.
// Save and Load carry it from one run to the next (--contexts): a run that
// starts without the contexts of the keys an earlier run wrote would write
// blind, and every blind put of an existing key adds a sibling.
class ContextTable {
 public:
  explicit ContextTable(uint64_t keys) : contexts_(keys) {}
  std::string Get(uint64_t index) const;
  void Set(uint64_t index, std::string context);

  // Writes every non-empty context to `path` (replacing it).
  Status Save(const std::string& path) const;
  // Reads what Save wrote. A missing file is an empty table; a file that is
  // not one, or holds a key index outside this table, is INVALID_ARGUMENT
  // naming the file.
  Status Load(const std::string& path);

 private:
  static constexpr size_t kStripes = 64;
  std::vector<std::string> contexts_;
  mutable std::array<std::mutex, kStripes> stripes_;
};

struct DynkvSettings {
  uint32_t r = 0;
  uint32_t w = 0;
  uint32_t timeout_ms = 10'000;
  uint32_t slots = 1;  // the most requests ever in flight on one connection
  // Record the contexts answers carry; a run without writes needs none.
  bool track_contexts = true;
  // Token-aware routing over every node given, the connection's own first.
  bool routing = false;
  std::vector<net::HostPort> nodes;
  std::shared_ptr<const net::TlsContext> tls;  // null: plaintext
  std::string token;  // empty: no AuthRequest
};

// REQUIRES: loop, contexts and listener outlive the connection.
std::unique_ptr<StoreConnection> MakeDynkvConnection(uv_loop_t* loop, const net::HostPort& node,
                                                     const DynkvSettings& settings, ContextTable* contexts,
                                                     StoreConnection::Listener* listener);

// Plain RESP (SET/GET/DEL) on its own libuv socket.
// REQUIRES: loop and listener outlive the connection.
std::unique_ptr<StoreConnection> MakeRedisConnection(uv_loop_t* loop, const net::HostPort& node,
                                                     StoreConnection::Listener* listener);

}  // namespace dynkv::bench
