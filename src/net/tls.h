// TLS for net::Connection, with OpenSSL (DESIGN.md: Security).
//
// OpenSSL never touches a socket here: each session reads ciphertext from
// one memory BIO and writes ciphertext to another, and the Connection moves
// those bytes with libuv as it moves plaintext without TLS. So nothing
// blocks the loop, and the handshake is just more bytes in both directions.
//
// - TlsContext: the certificates, loaded once at start-up, shared by every
//   connection of a port (or of a client). Its mode says who proves what:
//   a node's peer port demands a certificate signed by the cluster CA from
//   whoever connects (mutual TLS); a client port only proves itself;
//   connecting, the other side's certificate must be signed by the CA and
//   name the host connected to (an IP or DNS subjectAltName).
// - TlsSession: one connection's state: feed it what the socket read, give
//   it plaintext to send, and write out whatever ciphertext it produces.
//
// Threads: a context may be shared across threads once made; a session
// belongs to its connection's loop thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace dynkv::net {

class FrameDecoder;

// security.tls in the node's config; a client needs only ca_file.
struct TlsFiles {
  std::string cert_file;  // PEM certificate (chain) this side presents
  std::string key_file;   // its PEM private key
  std::string ca_file;    // PEM CA certificate(s) the other side's certificate must chain to
};

// Handshakes a context has seen, for stats (a port's counters).
struct TlsStats {
  std::atomic<uint64_t> handshakes{0};
  std::atomic<uint64_t> handshake_failures{0};
  std::atomic<uint64_t> plaintext_refused{0};  // a client that spoke plaintext to this port
  std::atomic<int64_t> last_report_ms{0};      // ReportTlsRefusal's rate limit
};

class TlsContext {
 public:
  enum class Mode {
    kServerMutual,  // accepts only peers presenting a certificate the CA signed
    kServer,        // presents its certificate; asks none of the other side
    kClient,        // checks the server's; presents cert_file when one is given
  };

  // INVALID_ARGUMENT naming the file and OpenSSL's reason for a file that
  // is missing, unreadable, not PEM, or a key that does not match the
  // certificate. kServer* need all three files; kClient needs ca_file.
  static Result<std::shared_ptr<TlsContext>> Create(Mode mode, const TlsFiles& files);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  Mode mode() const { return mode_; }
  bool server() const { return mode_ != Mode::kClient; }
  SSL_CTX* native() const { return ctx_; }
  TlsStats& stats() const { return stats_; }

 private:
  TlsContext(Mode mode, SSL_CTX* ctx) : mode_(mode), ctx_(ctx) {}
  const Mode mode_;
  SSL_CTX* const ctx_;
  mutable TlsStats stats_;
};

class TlsSession {
 public:
  // `server_host`: connecting only, the host connected to; the server's
  // certificate must name it. The session starts its handshake at once
  // (a client's first bytes are then waiting in Send's output).
  TlsSession(std::shared_ptr<const TlsContext> context, const std::string& server_host);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Takes bytes the socket read and appends the plaintext they carry to
  // `plain`. UNAUTHENTICATED when the handshake fails (the reason: a
  // certificate the CA did not sign, a wrong name, no certificate, ...),
  // UNAVAILABLE for a stream that is not TLS or is corrupt. After an error
  // the caller still flushes Send's output (the alert), then closes.
  Status Receive(std::string_view ciphertext, FrameDecoder& plain);
  // Encrypts *plaintext once the handshake is done (it waits in *plaintext
  // until then) and appends every byte the session has to send -- records,
  // handshake messages, alerts -- to *wire.
  Status Send(std::string* plaintext, std::string* wire);
  // Queues a close_notify; Send's next call writes it out.
  void Shutdown();

  bool established() const { return established_; }
  const TlsContext& context() const { return *context_; }
  // True until the first byte arrives; a server uses the first byte to tell
  // a plaintext client from a TLS one.
  bool nothing_received() const { return nothing_received_; }
  // Bytes of a TLS record or handshake begun and not complete (a handshake
  // under way counts at least 1), for the connection guard's frame_timeout:
  // a client that stalls half-way through a handshake is a slowloris too.
  size_t partial_bytes() const;

 private:
  Status Handshake();
  Status Failure(const char* what, int ssl_result);

  std::shared_ptr<const TlsContext> context_;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;   // owned by ssl_
  BIO* out_ = nullptr;  // owned by ssl_
  bool established_ = false;
  bool nothing_received_ = true;
  bool failed_ = false;
};

// Logs a connection this side refused (a failed handshake), at most one
// line per 10 s per port.
void ReportTlsRefusal(TlsStats& stats, const std::string& peer, const Status& why);

// The first byte of every TLS connection a client opens: a handshake
// record (RFC 8446 section 5.1, content type 22).
inline constexpr unsigned char kTlsHandshakeRecord = 0x16;

}  // namespace dynkv::net
