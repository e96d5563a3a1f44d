// AsyncClient: the client protocol on a net::RpcChannel, which keeps the
// calls in flight, their ids and deadlines. What is the client's own: a
// Response with id 0 carries the node's Error for the whole connection.
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

}  // namespace

Result<std::shared_ptr<const net::TlsContext>> ClientTls(const std::string& ca_file) {
  net::TlsFiles files;
  files.ca_file = ca_file;
  auto context = net::TlsContext::Create(net::TlsContext::Mode::kClient, files);
  if (!context.ok()) return context.status();
  return std::shared_ptr<const net::TlsContext>(std::move(*context));
}

struct AsyncClient::Impl {
  Impl(uv_loop_t* loop, const Options& options) : channel(loop, ChannelOptions(options), &ConnectionStatus) {}

  net::RpcChannel<Request, Response> channel;
};

AsyncClient::AsyncClient(uv_loop_t* loop, Options options) : impl_(std::make_unique<Impl>(loop, options)) {}

AsyncClient::~AsyncClient() = default;

void AsyncClient::Connect(std::function<void(Status)> done) { impl_->channel.Connect(std::move(done)); }

void AsyncClient::Call(Request request, Callback done) {
  impl_->channel.Call(std::move(request), std::move(done));
}

void AsyncClient::Close() { impl_->channel.Close(); }

size_t AsyncClient::in_flight() const { return impl_->channel.in_flight(); }

bool AsyncClient::down() const { return impl_->channel.down(); }

}  // namespace dynkv::client
