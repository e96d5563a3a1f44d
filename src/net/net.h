// Net module: the public surface (DESIGN.md: Wire protocol, Threads).
//
// - HostPort parsing ("127.0.0.1:7101", "[::1]:7101", "localhost:7101").
// - The frame codec: a 4-byte big-endian length, then one protobuf message.
// - libuv wrappers for a TCP listener and a TCP connection that speak
//   frames. Each wrapper owns its handle (handle.data = this), goes
//   open -> closing -> closed, tolerates Close() twice, and frees the handle
//   only in libuv's close callback; a loop whose wrappers are all closed
//   ends with uv_loop_close() == 0.
//
// Threads: everything here except the frame codec belongs to the thread
// that runs its uv_loop_t.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace google::protobuf {
class MessageLite;
}

namespace dynkv::net {

struct HostPort {
  std::string host;
  uint16_t port = 0;
  // For connecting only: the local address the connection leaves from, so a
  // node's peer traffic comes from its own listen address (Cassandra's
  // listen_address). Used when it is a numeric address other than 0.0.0.0
  // or ::; empty, a name or a wildcard leave the choice to the kernel, as
  // does a destination of the other family. Neither parsed nor printed.
  std::string source_host = "";
  std::string ToString() const;  // "host:port", IPv6 hosts in brackets
};

// INVALID_ARGUMENT with the offending text for anything that is not
// HOST:PORT with a port in 1..65535.
Result<HostPort> ParseHostPort(std::string_view text);

// ---- Frame codec ---------------------------------------------------------

inline constexpr size_t kFrameHeaderBytes = 4;

// Appends one frame (length header + serialized message) to *out.
void AppendFrame(std::string* out, const google::protobuf::MessageLite& message);

// Splits a byte stream into frame payloads. Reuses one buffer, so reading
// allocates nothing once the buffer has grown to the largest frame seen.
class FrameDecoder {
 public:
  enum class State { kFrame, kNeedMore, kTooLarge };

  explicit FrameDecoder(size_t max_frame_bytes);

  // Room for at least `hint` more bytes (libuv's alloc callback), then
  // Commit(n) for the n bytes actually read into it.
  char* WritableSpace(size_t hint, size_t* capacity);
  void Commit(size_t bytes);
  // Convenience for tests and non-libuv callers: WritableSpace + copy + Commit.
  void Append(std::string_view bytes);

  // Every byte read and not yet taken, as one payload (for protocols that
  // are not framed: HTTP, RESP); empty when none.
  std::string_view TakeBuffered();
  // kFrame: *payload is the next frame's body, valid until the next call
  // on this decoder. kNeedMore: wait for more bytes. kTooLarge: the next
  // frame announces more than max_frame_bytes (see announced_bytes()); the
  // stream cannot go on and the connection should be closed.
  State Next(std::string_view* payload);
  uint64_t announced_bytes() const { return announced_bytes_; }
  size_t max_frame_bytes() const { return max_frame_bytes_; }
  // Bytes read and not yet taken: after Next() said kNeedMore, a frame begun
  // and not complete.
  size_t buffered_bytes() const { return end_ - begin_; }
  // Every byte committed since the decoder was made.
  uint64_t bytes_received() const { return bytes_received_; }

 private:
  size_t max_frame_bytes_;
  uint64_t announced_bytes_ = 0;
  std::string buffer_;
  size_t begin_ = 0;  // first unconsumed byte
  size_t end_ = 0;    // one past the last byte read
  uint64_t bytes_received_ = 0;
};

// ---- Connections ---------------------------------------------------------

class Connection;

class TlsContext;

class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  // One complete frame's payload, valid only during the call.
  virtual void OnFrame(Connection& connection, std::string_view payload) = 0;
  // The peer announced a frame over max_frame_bytes; `why` is TOO_LARGE
  // "frame of N bytes exceeds limit M". Reading has stopped and OnFrame is
  // not called again, but the connection is still writable during this
  // call: Send() a final frame here (the node's Error response). When this
  // returns, the connection flushes what is buffered, closes, and OnClose
  // follows with the same `why`.
  virtual void OnFrameTooLarge(Connection& /*connection*/, const Status& /*why*/) {}
  // A TLS port's connection whose first byte is not a TLS handshake: a
  // plaintext client. What Send() queues here goes out in plaintext, so
  // the client can read why it was refused; then the connection closes and
  // OnClose follows with UNAUTHENTICATED.
  virtual void OnPlaintextRefused(Connection& /*connection*/) {}
  // The socket is closed: `why` is OK after this side's Close() or
  // CloseAfterWrites(), UNAVAILABLE when the peer closed or a read or write
  // failed, TOO_LARGE after an oversized frame. Called once, from libuv's
  // close callback; the handler may destroy the Connection from here. Not
  // called for a Connection destroyed before its socket finished closing.
  virtual void OnClose(Connection& connection, const Status& why) = 0;
};

struct ConnectAttempt;

// Lets the caller of Connection::ConnectTo give up on it (a connect
// timeout, shutdown). Dropping it cancels nothing.
class PendingConnect {
 public:
  PendingConnect() = default;
  // Closes the socket being connected; `done` is then never called.
  // Harmless after `done` ran, or twice.
  void Cancel();

 private:
  friend class Connection;
  explicit PendingConnect(std::weak_ptr<ConnectAttempt> attempt) : attempt_(std::move(attempt)) {}
  std::weak_ptr<ConnectAttempt> attempt_;
};

// How a Connection cuts its byte stream for the handler's OnFrame.
enum class Framing {
  kLengthPrefixed,  // the frame codec above: one call per protobuf message
  kRaw,             // the bytes of each read as they come (HTTP, RESP): the
                    // handler parses them; max_frame_bytes bounds one read
};

// One framed TCP connection. Writes are coalesced: frames sent while a
// write is in flight go out together in the next write.
class Connection {
 public:
  // Wraps an accepted or connected handle; takes ownership of it (the
  // handle must have been uv_tcp_init'ed and heap-allocated with new).
  // With `tls`, the bytes on the socket are TLS: a server context answers a
  // handshake; a client context starts one and checks the server's
  // certificate names `server_host`. A failed handshake closes the
  // connection (OnClose: UNAUTHENTICATED with the reason). Frames sent
  // meanwhile wait for the handshake.
  static std::unique_ptr<Connection> Adopt(uv_tcp_t* handle, size_t max_frame_bytes,
                                           ConnectionHandler* handler,
                                           Framing framing = Framing::kLengthPrefixed,
                                           std::shared_ptr<const TlsContext> tls = nullptr,
                                           const std::string& server_host = "");
  // Starts connecting (host names resolve off the loop; every address is
  // tried in turn, from address.source_host when that is used and of the
  // same family); done(OK, connection) once connected, or the error
  // (UNAVAILABLE naming the address and the cause). `done` is called once,
  // never before ConnectTo returns, unless the attempt is cancelled. With
  // `tls` (a client context) the connection speaks TLS to address.host
  // (see Adopt); `done` comes when TCP is up, the handshake follows.
  static PendingConnect ConnectTo(uv_loop_t* loop, const HostPort& address, size_t max_frame_bytes,
                                  ConnectionHandler* handler,
                                  std::function<void(Status, std::unique_ptr<Connection>)> done,
                                  std::shared_ptr<const TlsContext> tls = nullptr);

  // Close()s. The handle itself is freed in libuv's close callback, so the
  // loop must run once more; OnClose is not called.
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Starts delivering frames to the handler; after StopReading, the frames
  // already read come first (OnFrame may run inside this call).
  void StartReading();
  // Stops reading the socket and delivering frames until StartReading();
  // frames already read wait. From OnFrame too: later frames wait.
  void StopReading();
  // Appends a frame built from `message` to the outgoing buffer. Ignored
  // once closing (after Close or CloseAfterWrites).
  void Send(const google::protobuf::MessageLite& message);
  // Appends already-framed bytes. Ignored once closing.
  void SendRaw(std::string_view framed_bytes);
  // Sends what is buffered, then closes. Idempotent.
  void CloseAfterWrites();
  // Closes now; buffered bytes are dropped. Idempotent. OnClose follows.
  void Close();

  bool open() const;  // until Close() or CloseAfterWrites()
  std::string peer_address() const;  // "host:port" of the other end
  size_t pending_write_bytes() const;
  // Bytes read and not yet delivered: with kLengthPrefixed framing, while
  // reading, a frame begun and not complete; 0 with kRaw. With TLS, also a
  // record or a handshake begun and not complete (TlsSession::partial_bytes).
  size_t partial_frame_bytes() const;
  uint64_t bytes_received() const;  // since the connection was made

 private:
  struct Impl;
  explicit Connection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A listening TCP socket that hands each accepted connection to on_accept,
// which owns it from then on (Connection::Adopt it).
class Listener {
 public:
  using OnAccept = std::function<void(uv_tcp_t* accepted)>;

  // Binds and listens (port 0 picks a free port); fails with the address
  // and the cause (in use, permission denied) as UNAVAILABLE. Host names
  // resolve synchronously: this runs at start-up. After a failure the loop
  // must still run once to free the socket.
  static Result<std::unique_ptr<Listener>> Listen(uv_loop_t* loop, const HostPort& address, OnAccept on_accept);

  ~Listener();  // Close()s
  void Close();  // idempotent
  uint16_t port() const;  // the bound port (useful with port 0)

 private:
  struct Impl;
  explicit Listener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dynkv::net
