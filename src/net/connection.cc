// Connection: one framed TCP stream on libuv.
//
// Lifetime: the Impl holds the uv_tcp_t, the flush handle, the write request
// and both write buffers, which libuv may touch until the handles' close
// callbacks. So the Impl lives until both callbacks *and* until the
// Connection is gone: a Connection destroyed while its handles are still
// closing leaves the Impl orphaned (owner == nullptr) and the last close
// callback deletes it.
//
// States: kOpen -> kDraining (CloseAfterWrites: no more reads or sends,
// buffered bytes still go out) -> kClosing (uv_close called) -> kClosed.
//
// Writes are coalesced: Send appends to `pending` and arms a prepare handle,
// which libuv runs once per loop iteration just before it polls. So every
// frame sent during one turn of the loop (all the responses a batch of
// storage completions produces, say) leaves in one write. The write is tried
// directly first (uv_try_write): a socket with room takes it whole, with no
// write request and none of the epoll re-arming a completed uv_write costs.
// Only what does not fit goes out through uv_write from `in_flight`, and
// frames sent meanwhile wait in `pending` for its completion. Both strings
// keep their capacity, so steady-state writing allocates nothing.
//
// TLS (when the connection has a session): the socket reads into `tls_in`
// and the session decrypts into the decoder; Flush hands `pending` to the
// session and writes the ciphertext it makes (`tls_wire`) instead.
// Plaintext waits in `pending` until the handshake is done.
#include <optional>

#include "net/address.h"
#include "net/net.h"
#include "net/tls.h"

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
  // Ciphertext read size: one whole TLS record (16 KiB of plaintext plus
  // its header and tag) fits.
  static constexpr size_t kTlsReadBytes = (16u << 10) + 512;

  Impl(uv_tcp_t* handle, size_t max_frame_bytes, ConnectionHandler* handler, Framing framing)
      : handle(handle), handler(handler), decoder(max_frame_bytes), framing(framing) {
    handle->data = this;
    write_request.data = this;
    // Only fills in the struct, so it cannot fail.
    uv_prepare_init(handle->loop, &flush_handle);
    flush_handle.data = this;
  }

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(handle); }

  void StartReading() {
    if (state != State::kOpen || reading) return;
    int rc = uv_read_start(stream(), &Impl::OnAlloc, &Impl::OnRead);
    if (rc < 0) return CloseWith(Status::Unavailable("cannot read from " + peer + ": " + UvError(rc)));
    reading = true;
    DeliverFrames();  // the frames read before a StopReading
  }

  void StopReading() {
    if (!reading) return;
    uv_read_stop(stream());
    reading = false;
  }

  // Writes `pending` at the end of this loop turn.
  void ScheduleFlush() {
    if (flush_scheduled || writing) return;  // a completing write flushes anyway
    flush_scheduled = true;
    uv_prepare_start(&flush_handle, &Impl::OnFlushTime);
  }

  static void OnFlushTime(uv_prepare_t* prepare) {
    auto* self = static_cast<Impl*>(prepare->data);
    self->CancelScheduledFlush();
    if (self->state == State::kOpen || self->state == State::kDraining) self->Flush();
  }

  void CancelScheduledFlush() {
    if (!flush_scheduled) return;
    flush_scheduled = false;
    uv_prepare_stop(&flush_handle);
  }

  void Flush() {
    CancelScheduledFlush();
    if (writing) return;
    std::string* out = &pending;
    if (tls) {
      Status status = tls->Send(&pending, &tls_wire);
      if (!status.ok()) return CloseWith(std::move(status));
      out = &tls_wire;
    }
    if (out->empty()) return;
    uv_buf_t buffer = uv_buf_init(out->data(), static_cast<unsigned>(out->size()));
    int written = uv_try_write(stream(), &buffer, 1);
    if (written < 0 && written != UV_EAGAIN) return CloseWith(WriteFailed(written));
    size_t done = written > 0 ? static_cast<size_t>(written) : 0;
    if (done == out->size()) return out->clear();
    in_flight.swap(*out);
    out->clear();
    buffer = uv_buf_init(in_flight.data() + done, static_cast<unsigned>(in_flight.size() - done));
    int rc = uv_write(&write_request, stream(), &buffer, 1, &Impl::OnWritten);
    if (rc < 0) return CloseWith(WriteFailed(rc));
    writing = true;
  }

  Status WriteFailed(int uv_error) const {
    return Status::Unavailable("cannot write to " + peer + ": " + UvError(uv_error));
  }

  void CloseAfterWrites() {
    if (state != State::kOpen) return;
    if (!reason) reason = Status::Ok();
    state = State::kDraining;
    StopReading();
    if (tls) tls->Shutdown();
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
    CancelScheduledFlush();
    uv_close(reinterpret_cast<uv_handle_t*>(&flush_handle), &Impl::OnFlushHandleClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(handle), &Impl::OnClosed);
  }

  void DeliverFrames() {
    if (framing == Framing::kRaw) {
      const std::string_view bytes = decoder.TakeBuffered();
      if (!bytes.empty() && state == State::kOpen && reading) handler->OnFrame(*owner, bytes);
      return;
    }
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
    if (self->tls) {
      self->tls_in.resize(kTlsReadBytes);
      *buffer = uv_buf_init(self->tls_in.data(), static_cast<unsigned>(self->tls_in.size()));
      return;
    }
    size_t capacity = 0;
    buffer->base = self->decoder.WritableSpace(kReadBytes, &capacity);
    buffer->len = capacity;
  }

  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
    auto* self = static_cast<Impl*>(stream->data);
    if (nread > 0 && self->tls) {
      self->ReceiveTls(std::string_view(self->tls_in.data(), static_cast<size_t>(nread)));
    } else if (nread > 0) {
      self->decoder.Commit(static_cast<size_t>(nread));
      self->DeliverFrames();
    } else if (nread == UV_EOF && self->tls && !self->tls->established() && !self->tls->context().server()) {
      self->CloseWith(Status::Unauthenticated("TLS handshake failed: " + self->peer +
                                              " closed the connection (is it speaking plaintext, or did it refuse"
                                              " this side's certificate?)"));
    } else if (nread == UV_EOF) {
      self->CloseWith(Status::Unavailable(self->peer + " closed the connection"));
    } else if (nread < 0) {
      self->CloseWith(
          Status::Unavailable("cannot read from " + self->peer + ": " + UvError(static_cast<int>(nread))));
    }
  }

  void ReceiveTls(std::string_view ciphertext) {
    if (tls->nothing_received() && tls->context().server() &&
        static_cast<unsigned char>(ciphertext[0]) != kTlsHandshakeRecord) {
      return RefusePlaintext();
    }
    Status status = tls->Receive(ciphertext, decoder);
    // Frames that came before a close or an error still count. The handler
    // may destroy the Connection (this Impl lives on, orphaned, until its
    // handles close), so only the Impl is touched from here on.
    DeliverFrames();
    if (state != State::kOpen && state != State::kDraining) return;
    if (status.ok()) return ScheduleFlush();  // handshake replies, with this turn's frames
    if (tls->context().server()) ReportTlsRefusal(tls->context().stats(), peer, status);
    if (!reason) reason = std::move(status);
    CloseAfterWrites();  // the alert goes out first
  }

  // A plaintext client on a TLS port: the handler may answer in plaintext
  // (a refusal it can read), then the connection closes.
  void RefusePlaintext() {
    ++tls->context().stats().plaintext_refused;
    tls.reset();
    StopReading();
    if (!reason) reason = Status::Unauthenticated(peer + " spoke plaintext to a port that requires TLS");
    handler->OnPlaintextRefused(*owner);  // may close or destroy the Connection
    CloseAfterWrites();
  }

  static void OnWritten(uv_write_t* request, int status) {
    auto* self = static_cast<Impl*>(request->data);
    self->writing = false;
    if (status < 0) {
      // UV_ECANCELED: the socket is closing and the reason is already set.
      if (status != UV_ECANCELED) {
        self->CloseWith(self->WriteFailed(status));
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

  static void OnFlushHandleClosed(uv_handle_t* handle) { static_cast<Impl*>(handle->data)->OneHandleClosed(); }

  static void OnClosed(uv_handle_t* handle) {
    auto* self = static_cast<Impl*>(handle->data);
    delete reinterpret_cast<uv_tcp_t*>(handle);
    self->handle = nullptr;
    self->OneHandleClosed();
  }

  // The connection is closed once both of its handles are (libuv runs close
  // callbacks in no promised order).
  void OneHandleClosed() {
    if (--open_handles > 0) return;
    state = State::kClosed;
    if (owner == nullptr) {
      delete this;
      return;
    }
    // Last use of `this`: the handler may destroy the Connection, and with
    // it this Impl, so `why` must not live in it.
    Status why = std::move(*reason);
    handler->OnClose(*owner, why);
  }

  uv_tcp_t* handle;
  ConnectionHandler* handler;
  Connection* owner = nullptr;  // null once the Connection is destroyed
  FrameDecoder decoder;
  const Framing framing;
  std::string pending;    // plaintext frames not yet written (or encrypted)
  std::string in_flight;  // what the write in progress holds
  std::unique_ptr<TlsSession> tls;  // null: plaintext
  std::string tls_in;     // ciphertext read
  std::string tls_wire;   // ciphertext to write
  uv_write_t write_request;
  uv_prepare_t flush_handle;
  bool flush_scheduled = false;
  int open_handles = 2;  // the socket and flush_handle
  bool writing = false;
  bool reading = false;
  State state = State::kOpen;
  std::optional<Status> reason;
  std::string peer = "?";
};

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) { impl_->owner = this; }

std::unique_ptr<Connection> Connection::Adopt(uv_tcp_t* handle, size_t max_frame_bytes,
                                              ConnectionHandler* handler, Framing framing,
                                              std::shared_ptr<const TlsContext> tls, const std::string& server_host) {
  auto impl = std::make_unique<Impl>(handle, max_frame_bytes, handler, framing);
  if (tls) {
    impl->tls = std::make_unique<TlsSession>(std::move(tls), server_host);
    impl->ScheduleFlush();  // a client's ClientHello
  }
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
  impl_->ScheduleFlush();
}

void Connection::SendRaw(std::string_view framed_bytes) {
  if (impl_->state != Impl::State::kOpen) return;
  impl_->pending.append(framed_bytes);
  impl_->ScheduleFlush();
}

void Connection::CloseAfterWrites() { impl_->CloseAfterWrites(); }

void Connection::Close() { impl_->CloseWith(Status::Ok()); }

bool Connection::open() const { return impl_->state == Impl::State::kOpen; }

std::string Connection::peer_address() const { return impl_->peer; }

size_t Connection::pending_write_bytes() const {
  return impl_->pending.size() + impl_->tls_wire.size() + impl_->in_flight.size();
}

void Connection::StopReading() { impl_->StopReading(); }

size_t Connection::partial_frame_bytes() const {
  return impl_->decoder.buffered_bytes() + (impl_->tls ? impl_->tls->partial_bytes() : 0);
}

uint64_t Connection::bytes_received() const { return impl_->decoder.bytes_received(); }

}  // namespace dynkv::net
