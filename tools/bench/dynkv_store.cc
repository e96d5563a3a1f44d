// dynkv through the client library's AsyncClient: what an application
// would use.
#include <fstream>
#include <iterator>

#include "client/client.h"
#include "client/routing_client.h"
#include "common/coding.h"
#include "store.h"

namespace dynkv::bench {

std::string ContextTable::Get(uint64_t index) const {
  std::lock_guard<std::mutex> lock(stripes_[index % kStripes]);
  return contexts_[index];
}

void ContextTable::Set(uint64_t index, std::string context) {
  std::lock_guard<std::mutex> lock(stripes_[index % kStripes]);
  contexts_[index] = std::move(context);
}

// File layout: a magic line, then per context: varint key index, then the
// length-prefixed context bytes.
constexpr std::string_view kContextsMagic = "dynkv-bench contexts 1\n";

Status ContextTable::Save(const std::string& path) const {
  std::string out(kContextsMagic);
  for (uint64_t i = 0; i < contexts_.size(); ++i) {
    std::lock_guard<std::mutex> lock(stripes_[i % kStripes]);
    if (contexts_[i].empty()) continue;
    PutVarint64(&out, i);
    PutLengthPrefixed(&out, contexts_[i]);
  }
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(out.data(), static_cast<std::streamsize>(out.size()));
  file.close();
  if (!file) return Status::Unavailable("cannot write contexts to " + path);
  return Status::Ok();
}

Status ContextTable::Load(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return Status::Ok();  // no earlier run
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  auto bad = [&](const std::string& why) { return Status::InvalidArgument("contexts file " + path + ": " + why); };
  if (!std::string_view(bytes).starts_with(kContextsMagic)) return bad("not a dynkv-bench contexts file");
  ByteReader reader(std::string_view(bytes).substr(kContextsMagic.size()));
  while (!reader.empty()) {
    uint64_t index = 0;
    std::string_view context;
    if (!reader.GetVarint64(&index) || !reader.GetLengthPrefixed(&context)) return bad("truncated");
    if (index >= contexts_.size()) {
      return bad("key index " + std::to_string(index) + " is beyond --keys " + std::to_string(contexts_.size()));
    }
    Set(index, std::string(context));
  }
  return Status::Ok();
}

namespace {

class DynkvConnection final : public StoreConnection {
 public:
  DynkvConnection(uv_loop_t* loop, const net::HostPort& node, const DynkvSettings& settings,
                  ContextTable* contexts, Listener* listener)
      : client_(loop, RoutingOptionsFor(node, settings)),
        settings_(settings),
        contexts_(contexts),
        listener_(listener),
        keys_(settings.slots) {}

  void Connect() override {
    client_.Start([this](Status status) { listener_->OnConnected(status); });
  }

  void Issue(uint32_t slot, const Op& op) override {
    keys_[slot] = op.key_index;
    client::Request request;
    switch (op.kind) {
      case OpKind::kGet:
        request = client::MakeGet(op.key, client::ReadOptions{settings_.r});
        break;
      case OpKind::kPut:
        request = client::MakePut(op.key, op.value, WriteOptionsFor(op.key_index));
        break;
      case OpKind::kDel:
        request = client::MakeDelete(op.key, WriteOptionsFor(op.key_index));
        break;
    }
    // [this, slot] fits std::function's inline storage: no allocation here.
    client_.Call(std::move(request),
                 [this, slot](Result<client::Response> response) { OnResponse(slot, std::move(response)); });
  }

  void Close() override { client_.Close(); }

 private:
  client::WriteOptions WriteOptionsFor(uint64_t key_index) const {
    client::WriteOptions options;
    options.w = settings_.w;
    options.context = contexts_->Get(key_index);
    return options;
  }

  void OnResponse(uint32_t slot, Result<client::Response> response) {
    Outcome outcome;
    if (!response.ok()) {
      outcome.ok = false;
      outcome.error = std::string(CodeName(response.status().code()));
      // The client fails calls with UNAVAILABLE only once its connection
      // is gone (a node's own UNAVAILABLE arrives as a Response). A routing
      // client goes on with the other nodes.
      outcome.connection_lost = response.status().code() == Code::kUnavailable && !settings_.routing;
      return listener_->OnDone(slot, std::move(outcome));
    }
    client::Response& r = *response;
    const uint64_t key_index = keys_[slot];
    switch (r.result_case()) {
      case client::Response::kError:
        outcome.ok = false;
        outcome.error = std::string(CodeName(client::StatusFromError(r.error()).code()));
        break;
      case client::Response::kGet:
        outcome.found = r.get().siblings_size() > 0;
        if (settings_.track_contexts && !r.get().context().empty())
          contexts_->Set(key_index, std::move(*r.mutable_get()->mutable_context()));
        break;
      case client::Response::kPut:
        contexts_->Set(key_index, std::move(*r.mutable_put()->mutable_context()));
        break;
      case client::Response::kDelete:
        contexts_->Set(key_index, std::string());
        break;
      default:
        outcome.ok = false;
        outcome.error = "UNEXPECTED_RESPONSE";
        break;
    }
    listener_->OnDone(slot, std::move(outcome));
  }

  // Unrouted: the connection's node only. Routed: every node, its own first.
  static client::RoutingOptions RoutingOptionsFor(const net::HostPort& node, const DynkvSettings& settings) {
    client::RoutingOptions options;
    options.nodes = {node};
    if (settings.routing) {
      for (const net::HostPort& other : settings.nodes) {
        if (other.ToString() != node.ToString()) options.nodes.push_back(other);
      }
    }
    options.timeout_ms = settings.timeout_ms;
    options.routing = settings.routing;
    options.tls = settings.tls;
    options.token = settings.token;
    return options;
  }

  client::RoutingClient client_;
  DynkvSettings settings_;
  ContextTable* contexts_;
  Listener* listener_;
  std::vector<uint64_t> keys_;  // key index of the request in each slot
};

}  // namespace

std::unique_ptr<StoreConnection> MakeDynkvConnection(uv_loop_t* loop, const net::HostPort& node,
                                                     const DynkvSettings& settings, ContextTable* contexts,
                                                     StoreConnection::Listener* listener) {
  return std::make_unique<DynkvConnection>(loop, node, settings, contexts, listener);
}

}  // namespace dynkv::bench
