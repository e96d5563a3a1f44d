// Redis through plain RESP on a libuv socket. Writes are coalesced the way
// net::Connection coalesces dynkv frames (one write in flight; what is sent
// meanwhile leaves together next), so both stores get the same client-side
// syscall pattern. Replies come back in request order.
//
// Lifetime: libuv may touch the handle, the connect and write requests and
// the buffer being written until the handle's close callback, so they live
// in a heap Socket freed by that callback; a RedisConnection destroyed
// earlier only detaches from it.
#include <cstdio>
#include <cstring>
#include <deque>
#include <utility>

#include "resp.h"
#include "store.h"

namespace dynkv::bench {

namespace {

class RedisConnection;

struct Socket {
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_write_t write;
  std::string in_flight;   // bytes of the write in progress
  RedisConnection* owner;  // null once the connection is gone
};

std::string UvError(int rc) { return std::string(uv_err_name(rc)) + " (" + uv_strerror(rc) + ")"; }

class RedisConnection final : public StoreConnection {
 public:
  static constexpr size_t kReadBytes = 64u << 10;

  RedisConnection(uv_loop_t* loop, net::HostPort node, Listener* listener)
      : loop_(loop), node_(std::move(node)), listener_(listener) {}

  ~RedisConnection() override {
    if (socket_ == nullptr) return;
    socket_->owner = nullptr;
    CloseSocket();
  }

  void Connect() override {
    sockaddr_storage address;
    Status resolved = Resolve(&address);
    if (!resolved.ok()) return Fail(resolved);
    socket_ = new Socket{};
    socket_->owner = this;
    uv_tcp_init(loop_, &socket_->tcp);
    socket_->tcp.data = socket_;
    socket_->connect.data = socket_;
    socket_->write.data = socket_;
    state_ = State::kConnecting;
    int rc =
        uv_tcp_connect(&socket_->connect, &socket_->tcp, reinterpret_cast<sockaddr*>(&address), &OnConnect);
    if (rc < 0) Fail(Status::Unavailable("cannot connect to " + node_.ToString() + ": " + UvError(rc)));
  }

  void Issue(uint32_t slot, const Op& op) override {
    if (state_ == State::kDown || state_ == State::kClosed) {
      Outcome lost{false, false, "UNAVAILABLE", true};
      return listener_->OnDone(slot, std::move(lost));
    }
    switch (op.kind) {
      case OpKind::kGet:
        AppendCommand(&pending_, "GET", op.key);
        break;
      case OpKind::kPut:
        AppendCommand(&pending_, "SET", op.key, op.value);
        break;
      case OpKind::kDel:
        AppendCommand(&pending_, "DEL", op.key);
        break;
    }
    slots_.push_back(slot);
    if (state_ == State::kConnected) Flush();
  }

  void Close() override {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    CloseSocket();
    FailAll();
  }

 private:
  enum class State { kIdle, kConnecting, kConnected, kDown, kClosed };

  Status Resolve(sockaddr_storage* address) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    uv_getaddrinfo_t request;
    // Without a callback libuv resolves synchronously; this runs once per
    // connection, before any measurement.
    int rc = uv_getaddrinfo(loop_, &request, nullptr, node_.host.c_str(), std::to_string(node_.port).c_str(),
                            &hints);
    if (rc < 0 || request.addrinfo == nullptr) {
      return Status::Unavailable("cannot resolve " + node_.ToString() + ": " + UvError(rc));
    }
    std::memcpy(address, request.addrinfo->ai_addr, request.addrinfo->ai_addrlen);
    uv_freeaddrinfo(request.addrinfo);
    return Status::Ok();
  }

  static void OnConnect(uv_connect_t* request, int status) {
    auto* socket = static_cast<Socket*>(request->data);
    RedisConnection* self = socket->owner;
    if (self == nullptr || status == UV_ECANCELED) return;
    if (status < 0) {
      return self->Fail(
          Status::Unavailable("cannot connect to " + self->node_.ToString() + ": " + UvError(status)));
    }
    uv_tcp_nodelay(&socket->tcp, 1);
    int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&socket->tcp), &OnAlloc, &OnRead);
    if (rc < 0) return self->Fail(Status::Unavailable("cannot read from " + self->node_.ToString()));
    self->state_ = State::kConnected;
    self->Flush();
    self->listener_->OnConnected(Status::Ok());
  }

  void Flush() {
    if (writing_ || pending_.empty() || state_ != State::kConnected) return;
    socket_->in_flight.swap(pending_);
    pending_.clear();
    uv_buf_t buffer =
        uv_buf_init(socket_->in_flight.data(), static_cast<unsigned>(socket_->in_flight.size()));
    int rc = uv_write(&socket_->write, reinterpret_cast<uv_stream_t*>(&socket_->tcp), &buffer, 1, &OnWritten);
    if (rc < 0) return Lose("cannot write: " + UvError(rc));
    writing_ = true;
  }

  static void OnWritten(uv_write_t* request, int status) {
    auto* socket = static_cast<Socket*>(request->data);
    RedisConnection* self = socket->owner;
    if (self == nullptr || status == UV_ECANCELED) return;
    self->writing_ = false;
    if (status < 0) return self->Lose("cannot write: " + UvError(status));
    socket->in_flight.clear();
    self->Flush();
  }

  static void OnAlloc(uv_handle_t* handle, size_t, uv_buf_t* buffer) {
    auto* socket = static_cast<Socket*>(handle->data);
    RedisConnection* self = socket->owner;
    if (self == nullptr) {
      *buffer = uv_buf_init(nullptr, 0);
      return;
    }
    self->CompactReadBuffer();
    std::string& in = self->read_buffer_;
    *buffer = uv_buf_init(in.data() + self->read_end_, static_cast<unsigned>(in.size() - self->read_end_));
  }

  // Room for kReadBytes after the unparsed bytes, which move to the front
  // only when they must; usually every reply was parsed and nothing moves.
  void CompactReadBuffer() {
    if (read_begin_ == read_end_) {
      read_begin_ = read_end_ = 0;
    } else if (read_buffer_.size() - read_end_ < kReadBytes && read_begin_ > 0) {
      std::memmove(read_buffer_.data(), read_buffer_.data() + read_begin_, read_end_ - read_begin_);
      read_end_ -= read_begin_;
      read_begin_ = 0;
    }
    if (read_buffer_.size() - read_end_ < kReadBytes) read_buffer_.resize(read_end_ + kReadBytes);
  }

  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
    auto* socket = static_cast<Socket*>(stream->data);
    RedisConnection* self = socket->owner;
    if (self == nullptr) return;
    if (nread < 0) {
      return self->Lose(nread == UV_EOF ? "the server closed it" : UvError(static_cast<int>(nread)));
    }
    self->read_end_ += static_cast<size_t>(nread);
    self->DeliverReplies();
  }

  void DeliverReplies() {
    while (state_ == State::kConnected) {
      std::string_view unread(read_buffer_.data() + read_begin_, read_end_ - read_begin_);
      RespReply reply;
      size_t consumed = 0;
      switch (ParseReply(unread, &reply, &consumed)) {
        case ParseState::kNeedMore:
          return;
        case ParseState::kBad:
          return Lose("a reply does not parse as RESP");
        case ParseState::kReply:
          break;
      }
      read_begin_ += consumed;
      if (slots_.empty()) return Lose("a reply to no request");
      const uint32_t slot = slots_.front();
      slots_.pop_front();
      Outcome outcome;
      outcome.ok = reply.kind != RespReply::Kind::kError;
      outcome.found = reply.kind == RespReply::Kind::kBulk;
      if (!outcome.ok) outcome.error = std::string(reply.error_code);
      listener_->OnDone(slot, std::move(outcome));  // may Issue() or Close()
    }
  }

  // The connection failed before or after it was up.
  void Fail(const Status& why) {
    state_ = State::kDown;
    CloseSocket();
    listener_->OnConnected(why);
    FailAll();
  }

  void Lose(const std::string& why) {
    if (state_ == State::kDown || state_ == State::kClosed) return;
    std::fprintf(stderr, "dynkv-bench: connection to %s lost: %s\n", node_.ToString().c_str(), why.c_str());
    state_ = State::kDown;
    CloseSocket();
    FailAll();
  }

  void FailAll() {
    std::deque<uint32_t> failing;
    failing.swap(slots_);
    for (uint32_t slot : failing) listener_->OnDone(slot, Outcome{false, false, "UNAVAILABLE", true});
  }

  void CloseSocket() {
    if (socket_ == nullptr) return;
    Socket* socket = std::exchange(socket_, nullptr);
    socket->owner = nullptr;
    writing_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&socket->tcp),
             [](uv_handle_t* handle) { delete static_cast<Socket*>(handle->data); });
  }

  uv_loop_t* loop_;
  net::HostPort node_;
  Listener* listener_;
  State state_ = State::kIdle;
  Socket* socket_ = nullptr;  // owned until CloseSocket hands it to libuv
  bool writing_ = false;
  std::string pending_;         // commands not yet written
  std::deque<uint32_t> slots_;  // slots of the requests awaiting replies, oldest first
  std::string read_buffer_;
  size_t read_begin_ = 0;
  size_t read_end_ = 0;
};

}  // namespace

std::unique_ptr<StoreConnection> MakeRedisConnection(uv_loop_t* loop, const net::HostPort& node,
                                                     StoreConnection::Listener* listener) {
  return std::make_unique<RedisConnection>(loop, node, listener);
}

}  // namespace dynkv::bench
