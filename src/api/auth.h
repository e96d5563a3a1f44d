// Client authentication and roles (security.clients; proto/client.proto:
// Authentication; docs/OPERATIONS.md: Client tokens and roles).
//
// A tokens file holds one "TOKEN ROLE" line per client. The node keeps only
// a SHA-256 digest of each token, and looks a presented token up by
// comparing its digest with every entry in constant time (CRYPTO_memcmp,
// no early exit), so neither the time taken nor a memcmp that stops at the
// first differing byte tells a client how close its guess was, and the
// length of a guess changes nothing but the one hash.
//
// Tokens are secrets: no message here (parse errors included) quotes a
// token or any other part of a tokens file line, since a line whose fields
// are swapped would put the token where a role is expected.
//
// Threads: the event loop's only.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client.pb.h"
#include "common/status.h"

namespace dynkv::api {

// What a connection may do; each role allows what the ones before it allow.
enum class Role : uint8_t { kNone = 0, kRead = 1, kWrite = 2, kAdmin = 3 };

// "none", "read", "write", "admin".
std::string_view RoleName(Role role);
// "read", "write" or "admin"; nullopt for anything else.
std::optional<Role> ParseRole(std::string_view name);

// The least role a client request needs: kNone for Ping and Auth; read for
// what only reads state; write for what writes keys; admin for what changes
// the cluster, and for any operation this table does not know (so one added
// later is admin until it is listed).
Role RequiredRole(const dynkv::client::Request& request);
// The request's operation as an operator reads it ("put", "remove_node").
std::string_view OperationName(const dynkv::client::Request& request);

// The PERMISSION_DENIED an operation gets from a connection with `held`.
Status PermissionDenied(std::string_view operation, Role needed, Role held);

// The tokens of one tokens file.
class TokenTable {
 public:
  // Shortest token accepted: a token is a bearer secret that a client may
  // guess at over the network (`openssl rand -hex 32` makes a good one).
  static constexpr size_t kMinTokenChars = 16;
  static constexpr size_t kMaxFileBytes = 1 << 20;

  // Parses the text of a tokens file: "TOKEN ROLE" lines, fields separated
  // by spaces or tabs; blank lines and lines starting with '#' are skipped.
  // A token is at least kMinTokenChars printable ASCII characters, listed
  // once. Errors read "<source>:<line>: explanation", quoting nothing from
  // the line; a file with no token is an error too.
  static Result<TokenTable> Parse(std::string_view text, std::string_view source);
  // Reads and parses the file at `path`.
  static Result<TokenTable> Load(const std::string& path);

  // The role of `token`; kNone when it is not in the table. Takes the same
  // time whichever entry matches, or none.
  Role Find(std::string_view token) const;
  size_t size() const { return entries_.size(); }

 private:
  using Digest = std::array<unsigned char, 32>;  // SHA-256
  struct Entry {
    Digest digest;
    Role role;
  };
  static Digest DigestOf(std::string_view token);

  std::vector<Entry> entries_;
};

// The node's tokens: the table read at start, replaced by Reload (SIGHUP)
// only when the file reads well.
class ClientAuth {
 public:
  ClientAuth(std::string path, TokenTable tokens) : path_(std::move(path)), tokens_(std::move(tokens)) {}

  // Rereads the file. On an error the old tokens stay and the error (naming
  // the file and line, never a token) is returned.
  Status Reload();
  // The role of `token`, or kNone (counted as a failure).
  Role Authenticate(std::string_view token);

  const std::string& path() const { return path_; }
  size_t tokens() const { return tokens_.size(); }
  // "clients.*" counters for the node's stats.
  void FillStats(std::map<std::string, double>* values) const;

 private:
  std::string path_;
  TokenTable tokens_;
  uint64_t accepted_ = 0;
  uint64_t failures_ = 0;
  uint64_t reloads_ = 0;
  uint64_t reload_failures_ = 0;
};

}  // namespace dynkv::api
