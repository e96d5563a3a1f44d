// AsyncClient: the client protocol on a net::RpcChannel, which keeps the
// calls in flight, their ids and deadlines. What is the client's own: a
// Response with id 0 carries the node's Error for the whole connection.
#include <memory>
#include <optional>
#include <utility>

#include "client/client.h"
#include "net/rpc_channel.h"
#include "net/tls.h"

namespace dynkv::client {

namespace {

net::RpcChannelOptions ChannelOptions(const Options& options) {
  net::RpcChannelOptions channel;
  channel.address = options.node;
  channel.call_timeout_ms = options.timeout_ms;
  channel.connect_timeout_ms = options.timeout_ms;
  channel.max_frame_bytes = options.max_frame_bytes;
  channel.tls = options.tls;
  return channel;
}

Status ConnectionStatus(const Response& response) {
  return response.has_error() ? StatusFromError(response.error()) : Status::Ok();
}

// The outcome of an AuthRequest.
Status AuthStatus(const Result<Response>& answer) {
  if (!answer.ok()) return answer.status();
  if (answer->has_error()) return StatusFromError(answer->error());
  if (!answer->has_auth()) return Status::Internal("the node answered an AuthRequest with the wrong message type");
  return Status::Ok();
}

// Connect() with a token: done once both the connection and the AuthRequest
// have their outcome (the connection's error first).
struct AuthenticatedConnect {
  std::function<void(Status)> done;
  std::optional<Status> connected;
  std::optional<Status> authenticated;

  void Settle() {
    if (!done || !connected) return;
    if (!connected->ok()) return std::exchange(done, nullptr)(*connected);
    if (authenticated) std::exchange(done, nullptr)(*authenticated);
  }
};

}  // namespace

Result<std::shared_ptr<const net::TlsContext>> ClientTls(const std::string& ca_file) {
  net::TlsFiles files;
  files.ca_file = ca_file;
  auto context = net::TlsContext::Create(net::TlsContext::Mode::kClient, files);
  if (!context.ok()) return context.status();
  return std::shared_ptr<const net::TlsContext>(std::move(*context));
}

struct AsyncClient::Impl {
  Impl(uv_loop_t* loop, const Options& options)
      : token(options.token), channel(loop, ChannelOptions(options), &ConnectionStatus) {}

  std::string token;
  net::RpcChannel<Request, Response> channel;
};

AsyncClient::AsyncClient(uv_loop_t* loop, Options options) : impl_(std::make_unique<Impl>(loop, options)) {}

AsyncClient::~AsyncClient() = default;

void AsyncClient::Connect(std::function<void(Status)> done) {
  if (impl_->token.empty()) return impl_->channel.Connect(std::move(done));
  auto state = std::make_shared<AuthenticatedConnect>();
  state->done = std::move(done);
  // Queued before the connection is up, so it is the first frame sent.
  impl_->channel.Call(MakeAuth(impl_->token), [state](Result<Response> answer) {
    state->authenticated = AuthStatus(answer);
    state->Settle();
  });
  impl_->channel.Connect([state](Status status) {
    state->connected = std::move(status);
    state->Settle();
  });
}

void AsyncClient::Call(Request request, Callback done) {
  impl_->channel.Call(std::move(request), std::move(done));
}

void AsyncClient::Close() { impl_->channel.Close(); }

size_t AsyncClient::in_flight() const { return impl_->channel.in_flight(); }

bool AsyncClient::down() const { return impl_->channel.down(); }

}  // namespace dynkv::client
