// Listener: bind + listen, then hand each accepted socket to on_accept.
#include "common/log.h"
#include "net/address.h"
#include "net/net.h"

namespace dynkv::net {
namespace {

// Backlog as nginx and redis use it; the kernel caps it at somaxconn.
constexpr int kBacklog = 511;

void DeleteTcpHandle(uv_handle_t* handle) { delete reinterpret_cast<uv_tcp_t*>(handle); }

Status ListenError(const HostPort& address, int code) {
  std::string where = address.ToString();
  if (code == UV_EADDRINUSE) return Status::Unavailable(where + " is already in use");
  if (code == UV_EACCES) return Status::Unavailable(where + ": permission denied");
  if (code == UV_EADDRNOTAVAIL) return Status::Unavailable(where + ": not an address of this machine");
  return Status::Unavailable("cannot listen on " + where + ": " + UvError(code));
}

}  // namespace

struct Listener::Impl {
  uv_tcp_t* handle = nullptr;  // freed by DeleteTcpHandle once closed
  OnAccept on_accept;
  uint16_t port = 0;

  void Close() {
    if (handle == nullptr) return;
    uv_close(reinterpret_cast<uv_handle_t*>(handle), &DeleteTcpHandle);
    handle = nullptr;
  }

  static void OnConnection(uv_stream_t* server, int status) {
    auto* self = static_cast<Impl*>(server->data);
    if (status < 0) {
      DYNKV_LOG(kWarn) << "accept on port " << self->port << " failed: " << UvError(status);
      return;
    }
    auto* accepted = new uv_tcp_t;
    uv_tcp_init(server->loop, accepted);
    int rc = uv_accept(server, reinterpret_cast<uv_stream_t*>(accepted));
    if (rc < 0) {
      DYNKV_LOG(kWarn) << "accept on port " << self->port << " failed: " << UvError(rc);
      uv_close(reinterpret_cast<uv_handle_t*>(accepted), &DeleteTcpHandle);
      return;
    }
    self->on_accept(accepted);
  }
};

Listener::Listener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Listener::~Listener() { Close(); }

void Listener::Close() { impl_->Close(); }

uint16_t Listener::port() const { return impl_->port; }

Result<std::unique_ptr<Listener>> Listener::Listen(uv_loop_t* loop, const HostPort& address,
                                                   OnAccept on_accept) {
  Result<std::vector<sockaddr_storage>> resolved = ResolveNow(loop, address);
  if (!resolved.ok()) return resolved.status().WithContext("cannot listen on " + address.ToString());

  auto impl = std::make_unique<Impl>();
  impl->on_accept = std::move(on_accept);
  impl->handle = new uv_tcp_t;
  uv_tcp_init(loop, impl->handle);
  impl->handle->data = impl.get();
  // The impl closes the handle on every failure below; the Listener that
  // would own it is only made on success.
  const auto* where = reinterpret_cast<const sockaddr*>(&resolved->front());
  int rc = uv_tcp_bind(impl->handle, where, 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(impl->handle), kBacklog, &Impl::OnConnection);
  if (rc < 0) {
    impl->Close();
    return ListenError(address, rc);
  }
  sockaddr_storage bound;
  int length = sizeof(bound);
  if (uv_tcp_getsockname(impl->handle, reinterpret_cast<sockaddr*>(&bound), &length) == 0) {
    impl->port = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                             : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  return std::unique_ptr<Listener>(new Listener(std::move(impl)));
}

}  // namespace dynkv::net
