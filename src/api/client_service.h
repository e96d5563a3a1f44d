// ClientService: answers client requests (proto/client.proto) on the event
// loop. It validates each request (sizes, R/W, context), runs it against
// the local replica, and replies exactly once: with the result, or with an
// Error when validation fails, the storage fails, or the deadline passes.
//
// Reads and writes go through the Coordinator, which replicates them.
//
// Threads: the event loop's only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/auth.h"
#include "api/metrics.h"
#include "api/request_limits.h"
#include "client.pb.h"
#include "common/deadlines.h"
#include "common/env.h"
#include "common/status.h"
#include "quorum/coordinator.h"
#include "storage/storage.h"

namespace dynkv::api {

// The cluster-administration side of the node, answered from its
// membership (`dynkv members`, `ring`, `leave`, `remove`).
class ClusterAdmin {
 public:
  virtual ~ClusterAdmin() = default;
  virtual void FillMembers(dynkv::client::MembersResponse* out) const = 0;
  virtual void FillRing(dynkv::client::RingResponse* out) const = 0;
  // The key's position and replicas as this node sees them (key already checked).
  virtual void FillPreflist(const std::string& key, dynkv::client::PreflistResponse* out) const = 0;
  // Marks a dead node as removed; INVALID_ARGUMENT for this node, an unknown
  // one, or one that is up.
  virtual Status RemoveNode(const std::string& node_id) = 0;
  // Announces that this node leaves, then stops it. The caller's reply is
  // written first: stopping closes connections only after their writes.
  virtual void Leave() = 0;
  // `dynkv transfers`: the ranges this node receives or sends under the
  // ring change in progress (proto/client.proto TransfersResponse).
  virtual void FillTransfers(dynkv::client::TransfersResponse* out) const = 0;
};

// What one client connection has authenticated as (security.clients).
struct ClientSession {
  Role role = Role::kNone;
  bool token_refused = false;  // its last AuthRequest's token was refused
};

struct ServiceOptions {
  std::string node_id;
  std::string version;
  uint64_t max_key_bytes = Limits{}.max_key_bytes;
  uint64_t max_value_bytes = Limits{}.max_value_bytes;
  uint32_t max_pending_requests = Limits{}.max_pending_requests;
  uint32_t default_timeout_ms = kDefaultRequestTimeoutMs;
};

class ClientService {
 public:
  using Reply = std::function<void(dynkv::client::Response)>;

  // REQUIRES: coordinator, engine and env outlive the service.
  ClientService(quorum::Coordinator& coordinator, const storage::Engine& engine, Env& env, ServiceOptions options);

  // REQUIRES: admin outlives the service. Without one, administration
  // requests get UNAVAILABLE.
  void SetClusterAdmin(ClusterAdmin* admin) { admin_ = admin; }
  // `dynkv repair`: starts a repair when `start`, then fills what it has
  // done. Without one, repair requests get UNAVAILABLE.
  using RepairHandler = std::function<void(bool start, dynkv::client::RepairResponse* out)>;
  void SetRepair(RepairHandler repair) { repair_ = std::move(repair); }

  // Adds counters from another part of the node (connections, gossip) to
  // every Stats answer.
  using StatsSource = std::function<void(std::map<std::string, double>*)>;
  void AddStatsSource(StatsSource source) { stats_sources_.push_back(std::move(source)); }

  // REQUIRES: auth outlives the service. With it, requests from client
  // connections (HandleFrom) need an accepted token whose role allows them;
  // without it (no security.clients) nothing is checked.
  void SetAuth(ClientAuth* auth) { auth_ = auth; }
  ClientAuth* auth() const { return auth_; }

  // A request from a client connection: an AuthRequest sets what `session`
  // may do; any other request is checked against it (with SetAuth), then
  // handled. `reply` is called exactly once, now or later.
  void HandleFrom(ClientSession& session, const dynkv::client::Request& request, Reply reply);
  // Handles one request without checking who sent it: for callers that
  // checked already (the RESP port) and tests. `reply` is called exactly
  // once, now or later.
  void Handle(const dynkv::client::Request& request, Reply reply);

  // Requests accepted and not yet answered.
  size_t pending() const { return pending_.size(); }

  // Adds to a named counter of the stats (e.g. "requests.get").
  void Count(const std::string& name, double delta = 1) { counters_[name] += delta; }

  // The stats as FillStats gives them, and requests by outcome with their
  // latency (`GET /metrics`).
  std::map<std::string, double> StatsValues() const;
  const RequestMetrics& request_metrics() const { return request_metrics_; }

 private:
  struct Pending {
    uint64_t request_id = 0;
    Reply reply;
    std::string_view op;  // a literal: get, put, delete, batch_get, batch_put
    int64_t started_us = 0;
  };
  using Token = uint64_t;

  // Registers a request that will be answered later, with its deadline.
  Token Track(std::string_view op, uint64_t request_id, uint32_t timeout_ms, Reply reply);
  // Answers a tracked request unless it already timed out.
  void Finish(Token token, dynkv::client::Response response);
  // Its deadline passed: TIMEOUT, unless it was answered.
  void Expire(Token token);

  void HandleGet(const dynkv::client::Request& request, Reply reply);
  void HandlePut(const dynkv::client::Request& request, Reply reply);
  void HandleDelete(const dynkv::client::Request& request, Reply reply);
  void HandleBatchGet(const dynkv::client::Request& request, Reply reply);
  void HandleBatchPut(const dynkv::client::Request& request, Reply reply);
  // Runs every item of a batch with `start` and answers once all are done,
  // with the results in request order.
  template <typename Items, typename Results, typename Start>
  void RunBatch(std::string_view op, uint64_t request_id, const Items& items, Results* (dynkv::client::Response::*results_of)(),
                Reply reply, Start start);
  void FillStats(dynkv::client::StatsResponse* stats) const;
  // Answers an AuthRequest and updates `session`.
  dynkv::client::Response Authenticate(ClientSession& session, const dynkv::client::Request& request);
  // OK when `session` may run `request`, else UNAUTHENTICATED or PERMISSION_DENIED.
  Status Authorize(const ClientSession& session, const dynkv::client::Request& request);
  // Answers members, ring, leave and remove_node requests, at once.
  dynkv::client::Response HandleAdmin(const dynkv::client::Request& request);

  // Validation shared by single and batched forms.
  Status CheckKey(const std::string& key) const;

  // Starts one read or write; `done` gets the outcome. Shared by single and batched forms.
  void StartGet(const dynkv::client::GetRequest& get, std::function<void(dynkv::client::GetResult)> done);
  void StartPut(const dynkv::client::PutRequest& put, std::function<void(dynkv::client::PutResult)> done);


  quorum::Coordinator& coordinator_;
  const storage::Engine& engine_;
  const Clock& clock_;
  ServiceOptions options_;
  ClusterAdmin* admin_ = nullptr;
  ClientAuth* auth_ = nullptr;
  RepairHandler repair_;
  RequestMetrics request_metrics_;
  std::vector<StatsSource> stats_sources_;
  int64_t started_ms_;

  Token next_token_ = 1;
  std::unordered_map<Token, Pending> pending_;
  Deadlines deadlines_;  // a backstop: the coordinator's deadline comes first
  std::map<std::string, double> counters_;
};

// The wire ErrorCode for a Status code.
dynkv::client::ErrorCode WireErrorCode(Code code);
// A Response carrying `status` as an Error; id 0 speaks of the whole connection.
dynkv::client::Response ErrorResponse(uint64_t request_id, const Status& status);

}  // namespace dynkv::api
