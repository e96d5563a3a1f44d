// Connection: one framed TCP stream on libuv.
//
// Lifetime: the Impl holds the uv_tcp_t, the write request and both write
// buffers, which libuv may touch until the handle's close callback. So the
// Impl lives until that callback *and* until the Connection is gone: a
// Connection destroyed while its socket is still closing leaves the Impl
// orphaned (owner == nullptr) and the close callback deletes it.
//
// States: kOpen -> kDraining (CloseAfterWrites: no more reads or sends,
// buffered bytes still go out) -> kClosing (uv_close called) -> kClosed.
//
// Writes are coalesced: Send appends to `pending`; when no write is in
// flight, `pending` is swapped into `in_flight` and written whole, so frames
// sent meanwhile leave together in the next write. Both strings keep their
// capacity, so steady-state writing allocates nothing.
#include <optional>

#include "net/address.h"
#include "net/net.h"

namespace dynkv::net {

struct Connection::Impl {
  enum class State { kOpen, kDraining, kClosing, kClosed };

  // A write buffer above this is released after use rather than kept, so
  // one huge value does not pin memory for the connection's lifetime.
  static constexpr size_t kKeepBufferBytes = 1u << 20;
  // Read size. libuv suggests 64 KiB, but every connection keeps its read
  // buffer, and 16 KiB already holds a hundred small requests; a large
  // frame is read whole anyway (FrameDecoder::WritableSpace).
  static constexpr size_t kReadBytes = 16u << 10;

  Impl(uv_tcp_t* handle, size_t max_frame_bytes, ConnectionHandler* handler)
      : handle(handle), handler(handler), decoder(max_frame_bytes) {
    handle->data = this;
    write_request.data = this;
  }

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(handle); }

  void StartReading() {
    if (state != State::kOpen || reading) return;
    int rc = uv_read_start(stream(), &Impl::OnAlloc, &Impl::OnRead);
    if (rc < 0) return CloseWith(Status::Unavailable("cannot read from " + peer + ": " + UvError(rc)));
    reading = true;
  }

  void StopReading() {
    if (!reading) return;
    uv_read_stop(stream());
    reading = false;
  }

  void Flush() {
    if (writing || pending.empty()) return;
    in_flight.swap(pending);
    pending.clear();
    uv_buf_t buffer;
    buffer.base = in_flight.data();
    buffer.len = in_flight.size();
    int rc = uv_write(&write_request, stream(), &buffer, 1, &Impl::OnWritten);
    if (rc < 0) return CloseWith(Status::Unavailable("cannot write to " + peer + ": " + UvError(rc)));
    writing = true;
  }

  void CloseAfterWrites() {
    if (state != State::kOpen) return;
    if (!reason) reason = Status::Ok();
    state = State::kDraining;
    StopReading();
    Flush();
    if (!writing && state == State::kDraining) StartClose();
  }

  // The first reason to close is the one OnClose reports.
  void CloseWith(Status why) {
    if (state == State::kClosing || state == State::kClosed) return;
    if (!reason) reason = std::move(why);
    StartClose();
  }

  void StartClose() {
    state = State::kClosing;
    StopReading();
    uv_close(reinterpret_cast<uv_handle_t*>(handle), &Impl::OnClosed);
  }

  void DeliverFrames() {
    while (state == State::kOpen && reading) {
      std::string_view payload;
      switch (decoder.Next(&payload)) {
        case FrameDecoder::State::kNeedMore:
          return;
        case FrameDecoder::State::kFrame:
          handler->OnFrame(*owner, payload);  // may close or destroy the Connection
          break;
        case FrameDecoder::State::kTooLarge:
          return RejectOversizedFrame();
      }
    }
  }

  // The stream cannot go on, but the handler gets one chance to write a
  // final frame (the node's Error response) before the socket closes.
  void RejectOversizedFrame() {
    StopReading();
    Status why = Status::TooLarge("frame of " + std::to_string(decoder.announced_bytes()) +
                                  " bytes exceeds limit " + std::to_string(decoder.max_frame_bytes()));
    if (!reason) reason = why;
    handler->OnFrameTooLarge(*owner, why);  // may close or destroy the Connection
    CloseAfterWrites();
  }

  static void OnAlloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buffer) {
    auto* self = static_cast<Impl*>(handle->data);
    size_t capacity = 0;
    buffer->base = self->decoder.WritableSpace(kReadBytes, &capacity);
    buffer->len = capacity;
  }

  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
    auto* self = static_cast<Impl*>(stream->data);
    if (nread > 0) {
      self->decoder.Commit(static_cast<size_t>(nread));
      self->DeliverFrames();
    } else if (nread == UV_EOF) {
      self->CloseWith(Status::Unavailable(self->peer + " closed the connection"));
    } else if (nread < 0) {
      self->CloseWith(
          Status::Unavailable("cannot read from " + self->peer + ": " + UvError(static_cast<int>(nread))));
    }
  }

  static void OnWritten(uv_write_t* request, int status) {
    auto* self = static_cast<Impl*>(request->data);
    self->writing = false;
    if (status < 0) {
      // UV_ECANCELED: the socket is closing and the reason is already set.
      if (status != UV_ECANCELED) {
        self->CloseWith(Status::Unavailable("cannot write to " + self->peer + ": " + UvError(status)));
      }
      return;
    }
    if (self->in_flight.capacity() > kKeepBufferBytes) {
      std::string().swap(self->in_flight);
    } else {
      self->in_flight.clear();
    }
    if (self->state != State::kOpen && self->state != State::kDraining) return;
    self->Flush();
    if (!self->writing && self->state == State::kDraining) self->StartClose();
  }

  static void OnClosed(uv_handle_t* handle) {
    auto* self = static_cast<Impl*>(handle->data);
    delete reinterpret_cast<uv_tcp_t*>(handle);
    self->handle = nullptr;
    self->state = State::kClosed;
    if (self->owner == nullptr) {
      delete self;
      return;
    }
    // Last use of `self`: the handler may destroy the Connection, and with
    // it this Impl, so `why` must not live in it.
    Status why = std::move(*self->reason);
    self->handler->OnClose(*self->owner, why);
  }

  uv_tcp_t* handle;
  ConnectionHandler* handler;
  Connection* owner = nullptr;  // null once the Connection is destroyed
  FrameDecoder decoder;
  std::string pending;
  std::string in_flight;
  uv_write_t write_request;
  bool writing = false;
  bool reading = false;
  State state = State::kOpen;
  std::optional<Status> reason;
  std::string peer = "?";
};

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) { impl_->owner = this; }

std::unique_ptr<Connection> Connection::Adopt(uv_tcp_t* handle, size_t max_frame_bytes,
                                              ConnectionHandler* handler) {
  auto impl = std::make_unique<Impl>(handle, max_frame_bytes, handler);
  // Requests and responses are small and latency-bound; never wait to fill
  // a segment (Nagle), the coalescing above already batches them.
  uv_tcp_nodelay(handle, 1);
  sockaddr_storage address;
  int length = sizeof(address);
  if (uv_tcp_getpeername(handle, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    impl->peer = FormatSocketAddress(reinterpret_cast<sockaddr*>(&address));
  }
  return std::unique_ptr<Connection>(new Connection(std::move(impl)));
}

Connection::~Connection() {
  impl_->CloseWith(Status::Ok());
  if (impl_->state == Impl::State::kClosed) return;
  impl_->owner = nullptr;
  impl_.release();  // NOLINT: OnClosed deletes the orphaned Impl
}

void Connection::StartReading() { impl_->StartReading(); }

void Connection::Send(const google::protobuf::MessageLite& message) {
  if (impl_->state != Impl::State::kOpen) return;
  AppendFrame(&impl_->pending, message);
  impl_->Flush();
}

void Connection::SendRaw(std::string_view framed_bytes) {
  if (impl_->state != Impl::State::kOpen) return;
  impl_->pending.append(framed_bytes);
  impl_->Flush();
}

void Connection::CloseAfterWrites() { impl_->CloseAfterWrites(); }

void Connection::Close() { impl_->CloseWith(Status::Ok()); }

bool Connection::open() const { return impl_->state == Impl::State::kOpen; }

std::string Connection::peer_address() const { return impl_->peer; }

size_t Connection::pending_write_bytes() const { return impl_->pending.size() + impl_->in_flight.size(); }

}  // namespace dynkv::net
