#include "api/client_service.h"

#include <memory>
#include <utility>
#include <vector>

#include "quorum/dvv.h"

namespace dynkv::api {

namespace pb = dynkv::client;

namespace {

// The service's own deadline is a backstop: the coordinator's comes first
// and says how many replicas answered.
constexpr uint32_t kBackstopMs = 250;

pb::Error MakeError(const Status& status) {
  pb::Error error;
  error.set_code(WireErrorCode(status.code()));
  error.set_message(status.message());
  return error;
}

template <typename ResultProto>
ResultProto ErrorResult(const Status& status) {
  ResultProto result;
  *result.mutable_error() = MakeError(status);
  return result;
}

// Fills the live siblings of `object` and its context.
template <typename Proto>
void FillObject(const Object& object, int64_t now_ms, Proto* out) {
  for (const Sibling& s : object.siblings) {
    if (!s.LiveAt(now_ms)) continue;
    pb::Sibling* sibling = out->add_siblings();
    sibling->set_value(s.value);
    sibling->set_write_time_ms(static_cast<uint64_t>(s.write_time_ms));
    sibling->set_expires_at_ms(static_cast<uint64_t>(s.expires_at_ms));
  }
  out->set_context(dvv::EncodeContext(object.vv));
}

// A single-operation Response from the operation's result: its error, or
// its value moved into the field that `mutable_ok` names.
template <typename ResultProto, typename OkProto>
pb::Response ResponseFrom(uint64_t id, ResultProto result, OkProto* (pb::Response::*mutable_ok)()) {
  pb::Response response;
  response.set_id(id);
  if (result.has_error()) *response.mutable_error() = std::move(*result.mutable_error());
  else *(response.*mutable_ok)() = std::move(*result.mutable_ok());
  return response;
}

}  // namespace

pb::ErrorCode WireErrorCode(Code code) {
  switch (code) {
    case Code::kInvalidArgument: return pb::INVALID_ARGUMENT;
    case Code::kTooLarge: return pb::TOO_LARGE;
    case Code::kUnavailable: return pb::UNAVAILABLE;
    case Code::kTimeout: return pb::TIMEOUT;
    case Code::kOverloaded: return pb::OVERLOADED;
    case Code::kStorageError:
    case Code::kCorruption: return pb::STORAGE_ERROR;
    case Code::kUnauthenticated: return pb::UNAUTHENTICATED;
    case Code::kPermissionDenied: return pb::PERMISSION_DENIED;
    case Code::kOk:
    case Code::kNotFound:
    case Code::kInternal: return pb::INTERNAL;
  }
  return pb::INTERNAL;
}

ClientService::ClientService(quorum::Coordinator& coordinator, const storage::Engine& engine, Env& env,
                             ServiceOptions options)
    : coordinator_(coordinator),
      engine_(engine),
      clock_(env.clock()),
      options_(std::move(options)),
      started_ms_(clock_.MonotonicMs()),
      deadlines_(env, [this](uint64_t token) { Expire(token); }) {}

void ClientService::HandleFrom(ClientSession& session, const pb::Request& request, Reply reply) {
  if (request.has_auth()) return reply(Authenticate(session, request));
  if (auth_ != nullptr) {
    Status allowed = Authorize(session, request);
    if (!allowed.ok()) return reply(ErrorResponse(request.id(), allowed));
  }
  Handle(request, std::move(reply));
}

pb::Response ClientService::Authenticate(ClientSession& session, const pb::Request& request) {
  Count("requests.auth");
  pb::Response response;
  response.set_id(request.id());
  if (auth_ == nullptr) {
    response.mutable_auth()->set_role(std::string(RoleName(Role::kAdmin)));
    response.mutable_auth()->set_open(true);
    return response;
  }
  session.role = auth_->Authenticate(request.auth().token());
  session.token_refused = session.role == Role::kNone;
  // One message for every refusal: it must not tell an unknown token from
  // a malformed one.
  if (session.token_refused) return ErrorResponse(request.id(), Status::Unauthenticated("the token was refused"));
  response.mutable_auth()->set_role(std::string(RoleName(session.role)));
  return response;
}

Status ClientService::Authorize(const ClientSession& session, const pb::Request& request) {
  const Role needed = RequiredRole(request);
  if (session.role >= needed) return Status::Ok();
  if (session.role == Role::kNone) {
    Count("clients.unauthenticated");
    return Status::Unauthenticated(
        std::string(OperationName(request)) +
        (session.token_refused ? ": the token this connection presented was refused"
                               : ": this node requires a token; authenticate first (dynkv --token or $DYNKV_TOKEN)"));
  }
  Count("clients.permission_denied");
  return PermissionDenied(OperationName(request), needed, session.role);
}

void ClientService::Handle(const pb::Request& request, Reply reply) {
  switch (request.op_case()) {
    case pb::Request::kPing: {
      Count("requests.ping");
      pb::Response response;
      response.set_id(request.id());
      response.mutable_ping()->set_node_id(options_.node_id);
      response.mutable_ping()->set_version(options_.version);
      return reply(std::move(response));
    }
    case pb::Request::kStats: {
      Count("requests.stats");
      pb::Response response;
      response.set_id(request.id());
      FillStats(response.mutable_stats());
      return reply(std::move(response));
    }
    case pb::Request::kMembers:
    case pb::Request::kRing:
    case pb::Request::kPreflist:
    case pb::Request::kRemoveNode:
    case pb::Request::kTransfers:
      return reply(HandleAdmin(request));
    case pb::Request::kRepair: {
      Count("requests.repair");
      if (!repair_) return reply(ErrorResponse(request.id(), Status::Unavailable("this node runs no anti-entropy")));
      pb::Response response;
      response.set_id(request.id());
      repair_(request.repair().start(), response.mutable_repair());
      return reply(std::move(response));
    }
    case pb::Request::kLeave: {
      // Reply first: a node with no peers to tell stops at once.
      pb::Response response = HandleAdmin(request);
      const bool accepted = !response.has_error();
      reply(std::move(response));
      if (accepted) admin_->Leave();
      return;
    }
    case pb::Request::OP_NOT_SET:
      return reply(ErrorResponse(request.id(), Status::InvalidArgument("request has no operation")));
    default:
      break;
  }
  if (pending_.size() >= options_.max_pending_requests) {
    return reply(ErrorResponse(request.id(),
                               Status::Overloaded(std::to_string(pending_.size()) +
                                                  " requests are in progress on this node "
                                                  "(limits.max_pending_requests); retry later")));
  }
  switch (request.op_case()) {
    case pb::Request::kGet: return HandleGet(request, std::move(reply));
    case pb::Request::kPut: return HandlePut(request, std::move(reply));
    case pb::Request::kDelete: return HandleDelete(request, std::move(reply));
    case pb::Request::kBatchGet: return HandleBatchGet(request, std::move(reply));
    case pb::Request::kBatchPut: return HandleBatchPut(request, std::move(reply));
    default:
      return reply(ErrorResponse(request.id(), Status::InvalidArgument("unknown operation")));
  }
}

ClientService::Token ClientService::Track(std::string_view op, uint64_t request_id, uint32_t timeout_ms,
                                         Reply reply) {
  const uint32_t timeout = timeout_ms != 0 ? timeout_ms : options_.default_timeout_ms;
  const Token token = next_token_++;
  pending_.emplace(token, Pending{request_id, std::move(reply), op, clock_.MonotonicMicros()});
  deadlines_.Set(token, clock_.MonotonicMs() + timeout + kBackstopMs);
  return token;
}

void ClientService::Finish(Token token, pb::Response response) {
  auto it = pending_.find(token);
  if (it == pending_.end()) return;  // already answered with TIMEOUT
  Reply reply = std::move(it->second.reply);
  const std::string code = response.has_error() ? pb::ErrorCode_Name(response.error().code()) : "ok";
  request_metrics_.Record(it->second.op, code,
                          static_cast<double>(clock_.MonotonicMicros() - it->second.started_us) / 1e6);
  pending_.erase(it);
  if (response.has_error()) Count("errors." + code);
  reply(std::move(response));
}

void ClientService::Expire(Token token) {
  auto it = pending_.find(token);
  if (it == pending_.end()) return;  // answered in time
  // Like Dynamo and Riak, a write that times out is not rolled back: it
  // may still be applied.
  Finish(token, ErrorResponse(it->second.request_id, Status::Timeout("no answer in time; a write may still be applied")));
}

Status ClientService::CheckKey(const std::string& key) const {
  if (key.empty()) return Status::InvalidArgument("key is empty");
  if (key.size() > options_.max_key_bytes) {
    return Status::TooLarge("key is " + std::to_string(key.size()) + " bytes; the limit is " +
                            std::to_string(options_.max_key_bytes) + " (limits.max_key_bytes)");
  }
  return Status::Ok();
}

void ClientService::StartGet(const pb::GetRequest& get, std::function<void(pb::GetResult)> done) {
  Status status = CheckKey(get.key());
  if (!status.ok()) return done(ErrorResult<pb::GetResult>(status));
  coordinator_.Get(get.key(), get.r(), get.timeout_ms(), [this, done = std::move(done)](Result<Object> object) {
    if (!object.ok()) return done(ErrorResult<pb::GetResult>(object.status()));
    pb::GetResult result;
    FillObject(*object, clock_.NowMs(), result.mutable_ok());
    done(std::move(result));
  });
}

void ClientService::StartPut(const pb::PutRequest& put, std::function<void(pb::PutResult)> done) {
  Status status = CheckKey(put.key());
  if (!status.ok()) return done(ErrorResult<pb::PutResult>(status));
  if (put.value().size() > options_.max_value_bytes) {
    return done(ErrorResult<pb::PutResult>(Status::TooLarge(
        "value is " + std::to_string(put.value().size()) + " bytes; the limit is " +
        std::to_string(options_.max_value_bytes) + " (limits.max_value_bytes)")));
  }
  auto context = dvv::DecodeContext(put.context());
  if (!context.ok()) return done(ErrorResult<pb::PutResult>(context.status()));

  Sibling sibling;
  sibling.value = put.value();
  if (put.ttl_s() != 0) sibling.expires_at_ms = clock_.NowMs() + int64_t{put.ttl_s()} * 1000;
  coordinator_.Put(put.key(), std::move(*context), std::move(sibling), put.w(), put.timeout_ms(),
                   [this, done = std::move(done)](Result<Object> object) {
                   if (!object.ok()) return done(ErrorResult<pb::PutResult>(object.status()));
                   pb::PutResult result;
                   FillObject(*object, clock_.NowMs(), result.mutable_ok());
                   done(std::move(result));
                 });
}

void ClientService::HandleGet(const pb::Request& request, Reply reply) {
  Count("requests.get");
  const Token token = Track("get", request.id(), request.get().timeout_ms(), std::move(reply));
  StartGet(request.get(), [this, token, id = request.id()](pb::GetResult result) {
    Finish(token, ResponseFrom(id, std::move(result), &pb::Response::mutable_get));
  });
}

void ClientService::HandlePut(const pb::Request& request, Reply reply) {
  Count("requests.put");
  const Token token = Track("put", request.id(), request.put().timeout_ms(), std::move(reply));
  StartPut(request.put(), [this, token, id = request.id()](pb::PutResult result) {
    Finish(token, ResponseFrom(id, std::move(result), &pb::Response::mutable_put));
  });
}

void ClientService::HandleDelete(const pb::Request& request, Reply reply) {
  Count("requests.delete");
  const pb::DeleteRequest& del = request.delete_();
  const Token token = Track("delete", request.id(), del.timeout_ms(), std::move(reply));
  auto finish_error = [&](const Status& status) { Finish(token, ErrorResponse(request.id(), status)); };
  Status status = CheckKey(del.key());
  if (!status.ok()) return finish_error(status);
  auto context = dvv::DecodeContext(del.context());
  if (!context.ok()) return finish_error(context.status());

  // A delete is a tombstone sibling that replaces what the context covers
  // (DESIGN.md: Storage); the reaper removes it after the grace period.
  Sibling tombstone;
  tombstone.tombstone = true;
  coordinator_.Put(del.key(), std::move(*context), std::move(tombstone), del.w(), del.timeout_ms(),
                   [this, token, id = request.id()](Result<Object> object) {
                   if (!object.ok()) return Finish(token, ErrorResponse(id, object.status()));
                   pb::Response response;
                   response.set_id(id);
                   response.mutable_delete_();
                   Finish(token, std::move(response));
                 });
}

template <typename Items, typename Results, typename Start>
void ClientService::RunBatch(std::string_view op, uint64_t request_id, const Items& items, Results* (pb::Response::*results_of)(),
                             Reply reply, Start start) {
  const Token token = Track(op, request_id, 0, std::move(reply));
  auto response = std::make_shared<pb::Response>();
  response->set_id(request_id);
  auto* results = ((*response).*results_of)()->mutable_results();
  for (int i = 0; i < items.size(); ++i) results->Add();
  auto remaining = std::make_shared<int>(items.size());
  if (*remaining == 0) return Finish(token, std::move(*response));
  for (int i = 0; i < items.size(); ++i) {
    start(items[i], [this, token, response, results, remaining, i](auto result) {
      *results->Mutable(i) = std::move(result);
      if (--*remaining == 0) Finish(token, std::move(*response));
    });
  }
}

void ClientService::HandleBatchGet(const pb::Request& request, Reply reply) {
  Count("requests.batch_get");
  RunBatch("batch_get", request.id(), request.batch_get().gets(), &pb::Response::mutable_batch_get, std::move(reply),
           [this](const pb::GetRequest& get, auto done) { StartGet(get, std::move(done)); });
}

void ClientService::HandleBatchPut(const pb::Request& request, Reply reply) {
  Count("requests.batch_put");
  RunBatch("batch_put", request.id(), request.batch_put().puts(), &pb::Response::mutable_batch_put, std::move(reply),
           [this](const pb::PutRequest& put, auto done) { StartPut(put, std::move(done)); });
}

pb::Response ErrorResponse(uint64_t request_id, const Status& status) {
  pb::Response response;
  response.set_id(request_id);
  *response.mutable_error() = MakeError(status);
  return response;
}

pb::Response ClientService::HandleAdmin(const pb::Request& request) {
  if (admin_ == nullptr) return ErrorResponse(request.id(), Status::Unavailable("this node has no membership"));
  pb::Response response;
  response.set_id(request.id());
  switch (request.op_case()) {
    case pb::Request::kMembers:
      Count("requests.members");
      admin_->FillMembers(response.mutable_members());
      break;
    case pb::Request::kRing:
      Count("requests.ring");
      admin_->FillRing(response.mutable_ring());
      break;
    case pb::Request::kPreflist: {
      Count("requests.preflist");
      if (Status key = CheckKey(request.preflist().key()); !key.ok()) return ErrorResponse(request.id(), key);
      admin_->FillPreflist(request.preflist().key(), response.mutable_preflist());
      break;
    }
    case pb::Request::kLeave:
      Count("requests.leave");
      response.mutable_leave();
      break;
    case pb::Request::kTransfers:
      Count("requests.transfers");
      admin_->FillTransfers(response.mutable_transfers());
      break;
    default: {
      Count("requests.remove_node");
      Status status = admin_->RemoveNode(request.remove_node().node_id());
      if (!status.ok()) return ErrorResponse(request.id(), status);
      response.mutable_remove_node();
    }
  }
  return response;
}

void ClientService::FillStats(pb::StatsResponse* stats) const {
  stats->set_node_id(options_.node_id);
  for (const auto& [name, value] : StatsValues()) (*stats->mutable_values())[name] = value;
}

std::map<std::string, double> ClientService::StatsValues() const {
  std::map<std::string, double> values;
  for (const auto& [name, value] : counters_) values[name] = value;
  values["requests.pending"] = static_cast<double>(pending_.size());
  values["uptime_s"] = static_cast<double>(clock_.MonotonicMs() - started_ms_) / 1000.0;
  std::map<std::string, double> coordinator;
  coordinator_.FillStats(&coordinator);
  for (const auto& [name, value] : coordinator) values[name] = value;
  const storage::StorageStats s = engine_.Stats();
  values["storage.gets"] = static_cast<double>(s.gets);
  values["storage.cache.hits"] = static_cast<double>(s.cache_hits);
  values["storage.cache.misses"] = static_cast<double>(s.cache_misses);
  values["storage.cache.bytes"] = static_cast<double>(s.cache_bytes);
  values["storage.cache.entries"] = static_cast<double>(s.cache_entries);
  values["storage.write_batches"] = static_cast<double>(s.write_batches);
  values["storage.objects_written"] = static_cast<double>(s.objects_written);
  values["storage.values_compressed"] = static_cast<double>(s.values_compressed);
  values["storage.bytes_before_compression"] = static_cast<double>(s.bytes_before_compression);
  values["storage.bytes_after_compression"] = static_cast<double>(s.bytes_after_compression);
  values["storage.records_reaped"] = static_cast<double>(s.records_reaped);
  values["storage.siblings_reaped"] = static_cast<double>(s.siblings_reaped);
  values["storage.reap_records_scanned"] = static_cast<double>(s.reap_records_scanned);
  values["storage.writes_refused"] = static_cast<double>(s.writes_refused);
  values["storage.disk_full"] = static_cast<double>(s.disk_full);
  values["storage.write_errors"] = static_cast<double>(s.write_errors);
  values["storage.reopens"] = static_cast<double>(s.reopens);
  if (auth_ != nullptr) auth_->FillStats(&values);
  std::map<std::string, double> more;
  for (const StatsSource& source : stats_sources_) source(&more);
  for (const auto& [name, value] : more) values[name] = value;
  return values;
}

}  // namespace dynkv::api
