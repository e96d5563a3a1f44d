// TlsContext and TlsSession: OpenSSL over memory BIOs (see tls.h).
#include "net/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include "common/log.h"
#include "net/net.h"

namespace dynkv::net {
namespace {

// Everything on OpenSSL's error queue, reasons only, oldest first; the
// queue is empty afterwards. "unknown" when it held nothing.
std::string DrainErrors() {
  std::string reasons;
  while (unsigned long code = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(code);
    std::string text = reason != nullptr ? reason : "error " + std::to_string(ERR_GET_REASON(code));
    if (reasons.find(text) != std::string::npos) continue;
    if (!reasons.empty()) reasons += "; ";
    reasons += text;
  }
  return reasons.empty() ? "unknown" : reasons;
}

// `what` names the file by its role ("CA file"), the path follows.
Status FileError(const char* what, const std::string& path, const std::string& why) {
  return Status::InvalidArgument(std::string(what) + " " + path + ": " + why);
}

// A clear message for the commonest mistake before OpenSSL's terse one.
Status Readable(const char* what, const std::string& path) {
  if (path.empty()) return Status::InvalidArgument(std::string("no ") + what + " given");
  std::ifstream file(path);
  if (!file) return FileError(what, path, std::strerror(errno));
  return Status::Ok();
}

Status LoadOwnCertificate(SSL_CTX* ctx, const TlsFiles& files) {
  DYNKV_RETURN_IF_ERROR(Readable("certificate file", files.cert_file));
  DYNKV_RETURN_IF_ERROR(Readable("private key file", files.key_file));
  if (SSL_CTX_use_certificate_chain_file(ctx, files.cert_file.c_str()) != 1) {
    return FileError("certificate file", files.cert_file, "not a PEM certificate: " + DrainErrors());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, files.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    const std::string why = DrainErrors();
    if (why.find("mismatch") == std::string::npos) {
      return FileError("private key file", files.key_file, "not a PEM private key: " + why);
    }
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return FileError("private key file", files.key_file, "does not match the certificate in " + files.cert_file);
  }
  return Status::Ok();
}

Status LoadCa(SSL_CTX* ctx, const TlsFiles& files, bool name_it_to_clients) {
  DYNKV_RETURN_IF_ERROR(Readable("CA file", files.ca_file));
  if (SSL_CTX_load_verify_locations(ctx, files.ca_file.c_str(), nullptr) != 1) {
    return FileError("CA file", files.ca_file, "not a PEM certificate: " + DrainErrors());
  }
  // A connecting node picks the certificate to present by this list.
  if (name_it_to_clients) SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(files.ca_file.c_str()));
  return Status::Ok();
}

bool IsIpAddress(const std::string& host) {
  unsigned char address[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), address) == 1 || inet_pton(AF_INET6, host.c_str(), address) == 1;
}

}  // namespace

Result<std::shared_ptr<TlsContext>> TlsContext::Create(Mode mode, const TlsFiles& files) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(mode == Mode::kClient ? TLS_client_method() : TLS_server_method());
  if (ctx == nullptr) return Status::Internal("cannot make a TLS context: " + DrainErrors());
  std::shared_ptr<TlsContext> context(new TlsContext(mode, ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Connections are long-lived: no session tickets to resume with, and no
  // renegotiation (RFC 8446 drops it; 1.2 peers may not ask for it).
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_num_tickets(ctx, 0);
  // The plaintext handed to SSL_write lives in a std::string that may move.
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (mode != Mode::kClient || !files.cert_file.empty()) DYNKV_RETURN_IF_ERROR(LoadOwnCertificate(ctx, files));
  if (mode != Mode::kServer) DYNKV_RETURN_IF_ERROR(LoadCa(ctx, files, mode == Mode::kServerMutual));
  int verify = SSL_VERIFY_NONE;
  if (mode == Mode::kServerMutual) verify = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  if (mode == Mode::kClient) verify = SSL_VERIFY_PEER;
  SSL_CTX_set_verify(ctx, verify, nullptr);
  return context;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

TlsSession::TlsSession(std::shared_ptr<const TlsContext> context, const std::string& server_host)
    : context_(std::move(context)) {
  ERR_clear_error();
  ssl_ = SSL_new(context_->native());
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  if (ssl_ == nullptr || in_ == nullptr || out_ == nullptr) {
    failed_ = true;  // out of memory: Receive and Send say so
    BIO_free(in_);
    BIO_free(out_);
    in_ = out_ = nullptr;
    return;
  }
  // An empty input BIO means "wait for more", not end of stream.
  BIO_set_mem_eof_return(in_, -1);
  SSL_set_bio(ssl_, in_, out_);
  if (context_->server()) {
    SSL_set_accept_state(ssl_);
    return;
  }
  SSL_set_connect_state(ssl_);
  if (IsIpAddress(server_host)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), server_host.c_str());
  } else if (!server_host.empty()) {
    SSL_set1_host(ssl_, server_host.c_str());
    SSL_set_tlsext_host_name(ssl_, server_host.c_str());
  }
  Handshake().ok();  // the ClientHello now waits in out_; a failure shows in Send
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

Status TlsSession::Handshake() {
  ERR_clear_error();
  const int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    established_ = true;
    ++context_->stats().handshakes;
    return Status::Ok();
  }
  const int error = SSL_get_error(ssl_, rc);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return Status::Ok();
  return Failure("handshake", rc);
}

Status TlsSession::Failure(const char* what, int ssl_result) {
  const bool handshaking = !established_ && !failed_;
  failed_ = true;
  if (handshaking) ++context_->stats().handshake_failures;
  const int error = SSL_get_error(ssl_, ssl_result);
  std::string why;
  const long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK) {
    why = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
    ERR_clear_error();
  } else if (error == SSL_ERROR_SSL) {
    why = DrainErrors();
  } else {
    why = "the other side closed the connection";
  }
  if (!handshaking) return Status::Unavailable(std::string("TLS ") + what + " failed: " + why);
  if (why.find("wrong version number") != std::string::npos || why.find("packet length") != std::string::npos) {
    why += " (is the other side speaking plaintext? then security.tls differs between the two)";
  }
  return Status::Unauthenticated("TLS handshake failed: " + why);
}

Status TlsSession::Receive(std::string_view ciphertext, FrameDecoder& plain) {
  if (failed_) return Status::Unavailable("TLS session already failed");
  if (!ciphertext.empty()) nothing_received_ = false;
  if (BIO_write(in_, ciphertext.data(), static_cast<int>(ciphertext.size())) != static_cast<int>(ciphertext.size())) {
    failed_ = true;
    return Status::Internal("TLS input buffer: " + DrainErrors());
  }
  if (!established_) {
    DYNKV_RETURN_IF_ERROR(Handshake());
    if (!established_) return Status::Ok();
  }
  for (;;) {
    size_t capacity = 0;
    char* space = plain.WritableSpace(16u << 10, &capacity);
    size_t read = 0;
    ERR_clear_error();
    const int rc = SSL_read_ex(ssl_, space, capacity, &read);
    if (rc == 1) {
      plain.Commit(read);
      continue;
    }
    const int error = SSL_get_error(ssl_, rc);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return Status::Ok();
    if (error == SSL_ERROR_ZERO_RETURN) return Status::Unavailable("the other side closed the TLS session");
    return Failure("read", rc);
  }
}

Status TlsSession::Send(std::string* plaintext, std::string* wire) {
  // A failed session sends nothing new, but its alert still goes out.
  Status status = Status::Ok();
  if (!failed_ && established_ && !plaintext->empty()) {
    size_t written = 0;
    ERR_clear_error();
    const int rc = SSL_write_ex(ssl_, plaintext->data(), plaintext->size(), &written);
    if (rc == 1) {
      plaintext->clear();  // without SSL_MODE_ENABLE_PARTIAL_WRITE, success means all of it
    } else {
      status = Failure("write", rc);
    }
  }
  if (out_ == nullptr) return status;
  const size_t pending = BIO_ctrl_pending(out_);
  if (pending > 0) {
    const size_t old_size = wire->size();
    wire->resize(old_size + pending);
    const int read = BIO_read(out_, wire->data() + old_size, static_cast<int>(pending));
    wire->resize(old_size + static_cast<size_t>(read > 0 ? read : 0));
  }
  return status;
}

void ReportTlsRefusal(TlsStats& stats, const std::string& peer, const Status& why) {
  // One line per 10 s at most: an outsider knocking on the port again and
  // again must not flood the log.
  constexpr int64_t kQuietMs = 10'000;
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count();
  int64_t last = stats.last_report_ms.load();
  if (last != 0 && now_ms - last < kQuietMs) return;
  if (!stats.last_report_ms.compare_exchange_strong(last, now_ms)) return;
  DYNKV_LOG(kWarn) << "refused a TLS connection from " << peer << ": " << why.message() << " ("
                   << stats.handshake_failures.load() << " failed handshakes on this port so far; at most one such"
                   << " line per 10 s)";
}

size_t TlsSession::partial_bytes() const {
  const size_t buffered = in_ != nullptr ? BIO_ctrl_pending(in_) : 0;
  const bool handshaking = !established_ && !nothing_received_ && !failed_;
  return buffered + (handshaking && buffered == 0 ? 1 : 0);
}

void TlsSession::Shutdown() {
  if (!established_ || failed_) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

}  // namespace dynkv::net
