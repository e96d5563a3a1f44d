// Connection::ConnectTo: resolve (off the loop, for names), then try each
// address in turn until one accepts; with a source address, each socket is
// bound to it (port 0: the kernel picks the port) before it connects.
//
// The attempt owns itself (`self`) while libuv holds pointers into it: the
// resolve request and the socket being connected. Every way of finishing
// goes through a libuv callback, so `done` never runs inside ConnectTo.
#include "net/address.h"
#include "net/net.h"

namespace dynkv::net {
namespace {

// A numeric host other than the wildcards, as a socket address with port 0.
bool SpecificAddress(const std::string& host, sockaddr_storage* out) {
  if (host.empty() || !ParseNumericAddress(HostPort{host, 0}, out)) return false;
  if (out->ss_family == AF_INET) return reinterpret_cast<sockaddr_in*>(out)->sin_addr.s_addr != INADDR_ANY;
  const in6_addr& v6 = reinterpret_cast<sockaddr_in6*>(out)->sin6_addr;
  return !IN6_IS_ADDR_UNSPECIFIED(&v6);
}

}  // namespace

struct ConnectAttempt {
  using Done = std::function<void(Status, std::unique_ptr<Connection>)>;

  uv_loop_t* loop = nullptr;
  HostPort address;
  size_t max_frame_bytes = 0;
  std::shared_ptr<const TlsContext> tls;  // null: plaintext
  ConnectionHandler* handler = nullptr;
  Done done;
  std::shared_ptr<ConnectAttempt> self;

  bool bind_source = false;
  sockaddr_storage source{};  // when bind_source

  std::vector<sockaddr_storage> candidates;
  size_t next_candidate = 0;
  uv_getaddrinfo_t resolve_request;
  bool resolving = false;
  uv_tcp_t* socket = nullptr;  // being connected, or closing to report a failure
  uv_connect_t connect_request;

  Status result;
  std::unique_ptr<Connection> connection;
  bool cancelled = false;
  bool finished = false;

  void Start() {
    bind_source = SpecificAddress(address.source_host, &source);
    NewSocket();
    sockaddr_storage numeric;
    if (ParseNumericAddress(address, &numeric)) {
      candidates.push_back(numeric);
      return TryNextCandidate("");
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    resolve_request.data = this;
    int rc = uv_getaddrinfo(loop, &resolve_request, &OnResolved, address.host.c_str(), nullptr, &hints);
    if (rc < 0) return Fail("cannot resolve " + address.host + ": " + UvError(rc));
    resolving = true;
  }

  void NewSocket() {
    socket = new uv_tcp_t;
    // Only fills in the struct (the socket is made at connect time), so it
    // cannot fail.
    uv_tcp_init(loop, socket);
    socket->data = nullptr;
  }

  // A socket whose connect failed cannot be reused for another address.
  void DiscardSocket() {
    uv_close(reinterpret_cast<uv_handle_t*>(socket),
             [](uv_handle_t* handle) { delete reinterpret_cast<uv_tcp_t*>(handle); });
    socket = nullptr;
  }

  void TryNextCandidate(std::string last_error) {
    while (next_candidate < candidates.size()) {
      const sockaddr_storage& candidate = candidates[next_candidate++];
      if (socket == nullptr) NewSocket();
      // An address of the other family cannot leave from the source: the
      // kernel chooses, as it would without one.
      const bool from_source = bind_source && candidate.ss_family == source.ss_family;
      int rc = from_source ? uv_tcp_bind(socket, reinterpret_cast<const sockaddr*>(&source), 0) : 0;
      if (rc < 0) {
        last_error = "cannot bind to source address " + address.source_host + ": " + UvError(rc);
        DiscardSocket();
        continue;
      }
      connect_request.data = this;
      rc = uv_tcp_connect(&connect_request, socket, reinterpret_cast<const sockaddr*>(&candidate),
                          &OnConnected);
      if (rc == 0) return;
      last_error = UvError(rc);
      DiscardSocket();
    }
    Fail(last_error.empty() ? std::string("no address to try") : last_error);
  }

  // Reports through the socket's close callback, which libuv always runs
  // later, from the loop.
  void Fail(const std::string& cause) {
    result = Status::Unavailable("cannot connect to " + address.ToString() + ": " + cause);
    CloseSocketThenFinish();
  }

  void CloseSocketThenFinish() {
    if (socket == nullptr) NewSocket();
    if (uv_is_closing(reinterpret_cast<uv_handle_t*>(socket))) return;
    socket->data = this;
    uv_close(reinterpret_cast<uv_handle_t*>(socket), &OnSocketClosed);
  }

  void Cancel() {
    if (finished || cancelled) return;
    cancelled = true;
    done = nullptr;
    if (resolving) uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_request));
    if (socket != nullptr) CloseSocketThenFinish();
  }

  // Finishes once libuv holds nothing of ours.
  void MaybeFinish() {
    if (resolving || socket != nullptr || finished) return;
    finished = true;
    std::shared_ptr<ConnectAttempt> keep = std::move(self);
    if (!cancelled && done) {
      Done call = std::move(done);
      call(std::move(result), std::move(connection));
    }
  }

  static void OnResolved(uv_getaddrinfo_t* request, int status, addrinfo* found) {
    auto* attempt = static_cast<ConnectAttempt*>(request->data);
    attempt->resolving = false;
    if (status == 0) attempt->candidates = CollectAddresses(found, attempt->address.port);
    uv_freeaddrinfo(found);
    if (attempt->cancelled) return attempt->MaybeFinish();
    if (status < 0) return attempt->Fail("cannot resolve " + attempt->address.host + ": " + UvError(status));
    attempt->TryNextCandidate("cannot resolve " + attempt->address.host + ": no IPv4 or IPv6 address");
  }

  static void OnConnected(uv_connect_t* request, int status) {
    auto* attempt = static_cast<ConnectAttempt*>(request->data);
    if (attempt->cancelled) return;  // the socket is closing; OnSocketClosed finishes
    if (status < 0) {
      attempt->DiscardSocket();
      return attempt->TryNextCandidate(UvError(status));
    }
    attempt->connection = Connection::Adopt(attempt->socket, attempt->max_frame_bytes, attempt->handler,
                                            Framing::kLengthPrefixed, attempt->tls, attempt->address.host);
    attempt->socket = nullptr;
    attempt->MaybeFinish();
  }

  static void OnSocketClosed(uv_handle_t* handle) {
    auto* attempt = static_cast<ConnectAttempt*>(handle->data);
    delete reinterpret_cast<uv_tcp_t*>(handle);
    attempt->socket = nullptr;
    attempt->MaybeFinish();
  }
};

void PendingConnect::Cancel() {
  if (std::shared_ptr<ConnectAttempt> attempt = attempt_.lock()) attempt->Cancel();
}

PendingConnect Connection::ConnectTo(uv_loop_t* loop, const HostPort& address, size_t max_frame_bytes,
                                     ConnectionHandler* handler,
                                     std::function<void(Status, std::unique_ptr<Connection>)> done,
                                     std::shared_ptr<const TlsContext> tls) {
  auto attempt = std::make_shared<ConnectAttempt>();
  attempt->tls = std::move(tls);
  attempt->loop = loop;
  attempt->address = address;
  attempt->max_frame_bytes = max_frame_bytes;
  attempt->handler = handler;
  attempt->done = std::move(done);
  attempt->self = attempt;
  attempt->Start();
  return PendingConnect(attempt);
}

}  // namespace dynkv::net
