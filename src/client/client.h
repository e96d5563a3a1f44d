// C++ client library for dynkv (DESIGN.md: Wire protocol).
//
// Two faces over one implementation:
// - AsyncClient: runs on the caller's uv_loop_t; many requests in flight on
//   one connection (pipelining), each with its own timeout, answered by
//   callbacks in any order. For load generators and services.
// - Client: blocking calls with a private loop; for the CLI, tests and
//   simple programs. Pipeline() sends a whole batch before reading.
//
// Errors are Status values: the node's Error codes map one-to-one onto
// Code (TOO_LARGE, UNAVAILABLE, TIMEOUT, UNAUTHENTICATED, PERMISSION_DENIED,
// ...); a connection that cannot be
// made is UNAVAILABLE naming the address; no answer within the timeout is
// TIMEOUT.
//
// Threads: an AsyncClient belongs to its loop's thread; a Client to one
// thread at a time.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "client.pb.h"
#include "common/status.h"
#include "net/net.h"

namespace dynkv::client {

// Named R/W levels (see proto/client.proto); 1..N are plain counts.
inline constexpr uint32_t kDefault = 0;
inline constexpr uint32_t kOne = 1;
inline constexpr uint32_t kQuorum = 4294967293u;
inline constexpr uint32_t kAll = 4294967292u;
// A quorum of the replicas in the coordinator's datacenter, or in each
// datacenter (Cassandra's LOCAL_QUORUM and EACH_QUORUM).
inline constexpr uint32_t kLocalQuorum = 4294967291u;
inline constexpr uint32_t kEachQuorum = 4294967290u;

// Parses "default", "one", "quorum", "all", "local_quorum", "each_quorum"
// or a count.
Result<uint32_t> ParseQuorum(std::string_view text);

struct Options {
  net::HostPort node{"127.0.0.1", 7101};
  // Per-request timeout, from send to response.
  uint32_t timeout_ms = 5000;
  // Largest response frame accepted.
  size_t max_frame_bytes = 64u << 20;
  // TLS to a node with security.tls (ClientTls makes it from the cluster's
  // CA certificate); null: plaintext.
  std::shared_ptr<const net::TlsContext> tls;
  // The client token (security.clients on the node; proto/client.proto:
  // Authentication). Non-empty: each connection authenticates first, and a
  // refused token fails Connect with UNAUTHENTICATED. Empty: no AuthRequest.
  std::string token = {};
};

// A client TLS context that trusts the CA certificate(s) in `ca_file`.
Result<std::shared_ptr<const net::TlsContext>> ClientTls(const std::string& ca_file);

struct ReadOptions {
  uint32_t r = kDefault;
  uint32_t timeout_ms = 0;  // sent to the node; 0: its default
};

struct WriteOptions {
  uint32_t w = kDefault;
  uint32_t ttl_s = 0;       // 0: never expires
  std::string context;      // from a previous Get or Put of the same key
  uint32_t timeout_ms = 0;  // sent to the node; 0: its default
};

struct Value {
  std::string value;
  uint64_t write_time_ms = 0;
  uint64_t expires_at_ms = 0;  // 0: never
};

// What a key holds: its live siblings and the context that covers them.
// Get returns it; so does Put, for the key after the write (the new value
// among the siblings), because a context can only be used safely together
// with the siblings it covers.
struct GetReply {
  std::vector<Value> siblings;  // empty: the key is absent
  std::string context;
};

// The Status for a wire Error.
Status StatusFromError(const dynkv::client::Error& error);

// Builders shared by both faces (the request id is set when sent).
Request MakeGet(std::string_view key, const ReadOptions& options);
Request MakePut(std::string_view key, std::string_view value, const WriteOptions& options);
Request MakeDelete(std::string_view key, const WriteOptions& options);
Request MakePing();
Request MakeStats();
Request MakeAuth(std::string_view token);

class AsyncClient {
 public:
  using Callback = std::function<void(Result<Response>)>;

  // REQUIRES: loop outlives the client; call from the loop's thread.
  AsyncClient(uv_loop_t* loop, Options options);
  ~AsyncClient();  // Close()s
  AsyncClient(const AsyncClient&) = delete;
  AsyncClient& operator=(const AsyncClient&) = delete;

  // Connects, and authenticates when options.token is set; done(OK) or the
  // error (UNAUTHENTICATED for a refused token). Requests may be sent
  // before: they wait for the connection, and go right behind the
  // AuthRequest, which the node takes first.
  void Connect(std::function<void(Status)> done);
  // Sends `request` with a fresh id. done gets the Response (which may
  // itself carry an Error), or UNAVAILABLE / TIMEOUT. Every call gets
  // exactly one callback, also when the client closes first.
  void Call(Request request, Callback done);
  // Fails every outstanding request with UNAVAILABLE and closes the socket.
  void Close();

  size_t in_flight() const;
  // The connection failed or was lost (the node closed it, perhaps as idle:
  // limits.idle_timeout); every call fails at once from now on, so make a
  // new client.
  bool down() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A connection the node closed between calls (limits.idle_timeout) is made
// again before the next request: nothing was sent on it, so nothing is sent
// twice. One lost during a call stays lost: later calls fail at once.
class Client {
 public:
  static Result<std::unique_ptr<Client>> Connect(const Options& options);
  ~Client();

  Result<GetReply> Get(std::string_view key, const ReadOptions& options = {});
  // Returns every live sibling after the write and the context covering them.
  Result<GetReply> Put(std::string_view key, std::string_view value, const WriteOptions& options = {});
  Status Delete(std::string_view key, const WriteOptions& options = {});
  Result<PingResponse> Ping();
  Result<StatsResponse> Stats();
  // Cluster administration: every node known to the node asked, with its
  // own up/down judgement; each node's share of the ring; make the node
  // leave the cluster and stop; remove a dead node from the cluster; the
  // ranges the node receives or sends under the ring change in progress.
  Result<MembersResponse> Members();
  Result<RingResponse> Ring();
  // The key's ring position and replicas as the node asked sees them.
  Result<PreflistResponse> Preflist(std::string_view key);
  Status Leave();
  Status RemoveNode(std::string_view node_id);
  Result<TransfersResponse> Transfers();
  // Anti-entropy: starts a repair on the node (`start`), or only reports the
  // last or running one.
  Result<RepairResponse> Repair(bool start);

  // Sends every request before waiting for any answer; the results come back
  // in request order.
  std::vector<Result<Response>> Pipeline(std::vector<Request> requests);

 private:
  explicit Client(const Options& options);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dynkv::client
