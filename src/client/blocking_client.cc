// Client: the blocking face. It owns a private loop and an AsyncClient on
// it, and runs the loop until the calls it waits for have their answers.
#include "client/client.h"
#include "common/log.h"

namespace dynkv::client {
namespace {

// An answer of the expected kind, or the Status that replaces it.
Result<Response> Expect(Result<Response> answer, Response::ResultCase expected, std::string_view operation) {
  if (!answer.ok()) return answer;
  if (answer->has_error()) return StatusFromError(answer->error());
  if (answer->result_case() != expected) {
    return Status::Internal("the node answered " + std::string(operation) + " with the wrong message type");
  }
  return answer;
}

}  // namespace

struct Client::Impl {
  explicit Impl(const Options& options) : options(options) { uv_loop_init(&loop); }

  ~Impl() {
    async.reset();                  // closes its socket and timer...
    uv_run(&loop, UV_RUN_DEFAULT);  // ...which libuv frees here
    int rc = uv_loop_close(&loop);
    if (rc != 0) DYNKV_LOG(kError) << "client loop left open: " << uv_strerror(rc);
  }

  // Runs the loop until finished() holds. Every wait has a live timer or
  // connect attempt behind it; a loop with nothing left to run is a bug,
  // reported by finished() still being false.
  template <typename Predicate>
  void RunUntil(Predicate finished) {
    while (!finished() && uv_run(&loop, UV_RUN_ONCE) != 0) {
    }
  }

  // A new connection, made before Connect() returns or fails.
  Status Connect() {
    async = std::make_unique<AsyncClient>(&loop, options);
    std::optional<Status> connected;
    async->Connect([&connected](Status status) { connected = std::move(status); });
    RunUntil([&connected] { return connected.has_value(); });
    if (!connected) return Status::Internal("the client's loop stopped while connecting");
    return *connected;
  }

  // The loop does not run between calls, so a close by the node while the
  // connection sat unused (an idle timeout) is taken in first, and the
  // connection made again. One lost during a call stays lost, as does one
  // that cannot be made again: calls fail at once with the reason.
  void ReconnectIfLost() {
    if (async->down()) return;
    uv_run(&loop, UV_RUN_NOWAIT);
    if (!async->down()) return;
    async.reset();
    (void)Connect();
  }

  Result<Response> Call(Request request) {
    ReconnectIfLost();
    std::optional<Result<Response>> answer;
    async->Call(std::move(request), [&answer](Result<Response> result) { answer = std::move(result); });
    RunUntil([&answer] { return answer.has_value(); });
    if (!answer) return Status::Internal("the client's loop stopped before an answer came");
    return std::move(*answer);
  }

  // Calls `request` and moves out the `field` of an answer of `expected` kind.
  template <typename T>
  Result<T> CallFor(Request request, Response::ResultCase expected, std::string_view operation,
                    T* (Response::*field)()) {
    Result<Response> answer = Expect(Call(std::move(request)), expected, operation);
    if (!answer.ok()) return answer.status();
    return std::move(*((*answer).*field)());
  }

  const Options options;
  uv_loop_t loop;
  std::unique_ptr<AsyncClient> async;
};

Client::Client(const Options& options) : impl_(std::make_unique<Impl>(options)) {}

Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::Connect(const Options& options) {
  std::unique_ptr<Client> client(new Client(options));
  DYNKV_RETURN_IF_ERROR(client->impl_->Connect());
  return client;
}

namespace {

// GetResponse and PutResponse carry the same siblings + context.
template <typename ObjectProto>
GetReply ToReply(ObjectProto& object) {
  GetReply reply;
  reply.siblings.reserve(object.siblings_size());
  for (Sibling& sibling : *object.mutable_siblings()) {
    reply.siblings.push_back(
        Value{std::move(*sibling.mutable_value()), sibling.write_time_ms(), sibling.expires_at_ms()});
  }
  reply.context = std::move(*object.mutable_context());
  return reply;
}

}  // namespace

Result<GetReply> Client::Get(std::string_view key, const ReadOptions& options) {
  Result<Response> answer = Expect(impl_->Call(MakeGet(key, options)), Response::kGet, "Get");
  if (!answer.ok()) return answer.status();
  return ToReply(*answer->mutable_get());
}

Result<GetReply> Client::Put(std::string_view key, std::string_view value, const WriteOptions& options) {
  Result<Response> answer = Expect(impl_->Call(MakePut(key, value, options)), Response::kPut, "Put");
  if (!answer.ok()) return answer.status();
  return ToReply(*answer->mutable_put());
}

Status Client::Delete(std::string_view key, const WriteOptions& options) {
  return Expect(impl_->Call(MakeDelete(key, options)), Response::kDelete, "Delete").status();
}

Result<PingResponse> Client::Ping() {
  return impl_->CallFor(MakePing(), Response::kPing, "Ping", &Response::mutable_ping);
}

Result<StatsResponse> Client::Stats() {
  return impl_->CallFor(MakeStats(), Response::kStats, "Stats", &Response::mutable_stats);
}

Result<MembersResponse> Client::Members() {
  Request request;
  request.mutable_members();
  return impl_->CallFor(std::move(request), Response::kMembers, "Members", &Response::mutable_members);
}

Result<RingResponse> Client::Ring() {
  Request request;
  request.mutable_ring();
  return impl_->CallFor(std::move(request), Response::kRing, "Ring", &Response::mutable_ring);
}

Result<PreflistResponse> Client::Preflist(std::string_view key) {
  Request request;
  request.mutable_preflist()->set_key(std::string(key));
  return impl_->CallFor(std::move(request), Response::kPreflist, "Preflist", &Response::mutable_preflist);
}

Status Client::Leave() {
  Request request;
  request.mutable_leave();
  return impl_->CallFor(std::move(request), Response::kLeave, "Leave", &Response::mutable_leave).status();
}

Status Client::RemoveNode(std::string_view node_id) {
  Request request;
  request.mutable_remove_node()->set_node_id(std::string(node_id));
  return impl_->CallFor(std::move(request), Response::kRemoveNode, "RemoveNode", &Response::mutable_remove_node)
      .status();
}

Result<TransfersResponse> Client::Transfers() {
  Request request;
  request.mutable_transfers();
  return impl_->CallFor(std::move(request), Response::kTransfers, "Transfers", &Response::mutable_transfers);
}

Result<RepairResponse> Client::Repair(bool start) {
  Request request;
  request.mutable_repair()->set_start(start);
  return impl_->CallFor(std::move(request), Response::kRepair, "Repair", &Response::mutable_repair);
}

std::vector<Result<Response>> Client::Pipeline(std::vector<Request> requests) {
  impl_->ReconnectIfLost();
  std::vector<std::optional<Result<Response>>> answers(requests.size());
  size_t remaining = requests.size();
  for (size_t i = 0; i < requests.size(); ++i) {
    impl_->async->Call(std::move(requests[i]), [&answers, &remaining, i](Result<Response> result) {
      answers[i] = std::move(result);
      --remaining;
    });
  }
  impl_->RunUntil([&remaining] { return remaining == 0; });

  std::vector<Result<Response>> out;
  out.reserve(answers.size());
  for (std::optional<Result<Response>>& answer : answers) {
    if (!answer) {
      out.emplace_back(Status::Internal("the client's loop stopped before an answer came"));
    } else if (answer->ok() && (*answer)->has_error()) {
      out.emplace_back(StatusFromError((*answer)->error()));
    } else {
      out.push_back(std::move(*answer));
    }
  }
  return out;
}

}  // namespace dynkv::client
