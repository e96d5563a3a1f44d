#include "api/auth.h"

#include <google/protobuf/descriptor.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <system_error>
#include <utility>

namespace dynkv::api {

namespace pb = dynkv::client;

namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// The fields of one line, split at spaces and tabs.
std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsBlank(line[i])) ++i;
    const size_t start = i;
    while (i < line.size() && !IsBlank(line[i])) ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

bool IsPrintableAscii(std::string_view text) {
  for (char c : text) {
    if (c < '!' || c > '~') return false;
  }
  return true;
}

Status LineError(std::string_view source, size_t line, std::string_view explanation) {
  return Status::InvalidArgument(std::string(source) + ":" + std::to_string(line) + ": " +
                                 std::string(explanation));
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kNone: return "none";
    case Role::kRead: return "read";
    case Role::kWrite: return "write";
    case Role::kAdmin: return "admin";
  }
  return "none";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role role : {Role::kRead, Role::kWrite, Role::kAdmin}) {
    if (name == RoleName(role)) return role;
  }
  return std::nullopt;
}

Role RequiredRole(const pb::Request& request) {
  switch (request.op_case()) {
    case pb::Request::kPing:
    case pb::Request::kAuth:
      return Role::kNone;
    case pb::Request::kGet:
    case pb::Request::kBatchGet:
    case pb::Request::kMembers:
    case pb::Request::kRing:
    case pb::Request::kPreflist:
    case pb::Request::kStats:
    case pb::Request::kTransfers:
      return Role::kRead;
    case pb::Request::kRepair:
      // Asking how the last repair went only reads; starting one moves data.
      return request.repair().start() ? Role::kAdmin : Role::kRead;
    case pb::Request::kPut:
    case pb::Request::kDelete:
    case pb::Request::kBatchPut:
      return Role::kWrite;
    case pb::Request::kLeave:
    case pb::Request::kRemoveNode:
    default:
      return Role::kAdmin;
  }
}

std::string_view OperationName(const pb::Request& request) {
  if (request.op_case() == pb::Request::OP_NOT_SET) return "a request with no operation";
  const auto* field = pb::Request::descriptor()->FindFieldByNumber(static_cast<int>(request.op_case()));
  return field != nullptr ? std::string_view(field->name()) : std::string_view("this operation");
}

Status PermissionDenied(std::string_view operation, Role needed, Role held) {
  return Status::PermissionDenied(std::string(operation) + " needs the '" + std::string(RoleName(needed)) +
                                  "' role; this connection's token has '" + std::string(RoleName(held)) + "'");
}

// ---- TokenTable ---------------------------------------------------------------

TokenTable::Digest TokenTable::DigestOf(std::string_view token) {
  Digest digest{};
  unsigned int size = 0;
  // EVP_Digest is one-shot and cannot fail for SHA-256 short of memory.
  EVP_Digest(token.data(), token.size(), digest.data(), &size, EVP_sha256(), nullptr);
  return digest;
}

Result<TokenTable> TokenTable::Parse(std::string_view text, std::string_view source) {
  TokenTable table;
  std::vector<size_t> lines;  // the line of each entry, for duplicates
  size_t number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++number;
    const std::vector<std::string_view> fields = Fields(line);
    if (fields.empty() || fields[0].starts_with('#')) continue;
    if (fields.size() != 2) {
      return LineError(source, number,
                       "expected 'TOKEN ROLE' (two fields), found " + std::to_string(fields.size()) +
                           (fields.size() == 1 ? " field" : " fields"));
    }
    const std::optional<Role> role = ParseRole(fields[1]);
    if (!role) return LineError(source, number, "the role (second field) is not read, write or admin");
    if (fields[0].size() < kMinTokenChars || !IsPrintableAscii(fields[0])) {
      return LineError(source, number,
                       "the token is not " + std::to_string(kMinTokenChars) +
                           " or more printable ASCII characters (e.g. the output of `openssl rand -hex 32`)");
    }
    const Digest digest = DigestOf(fields[0]);
    for (size_t i = 0; i < table.entries_.size(); ++i) {
      if (table.entries_[i].digest == digest) {
        return LineError(source, number, "the same token as line " + std::to_string(lines[i]) +
                                             "; expected each token once");
      }
    }
    table.entries_.push_back({digest, *role});
    lines.push_back(number);
  }
  if (table.entries_.empty()) {
    return Status::InvalidArgument(std::string(source) +
                                   ": holds no token; expected 'TOKEN ROLE' lines (ROLE is read, write or admin)");
  }
  return table;
}

Result<TokenTable> TokenTable::Load(const std::string& path) {
  auto cannot_read = [&path](std::string_view why) {
    return Status::InvalidArgument("cannot read tokens file " + path + ": " + std::string(why));
  };
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (file == nullptr) return cannot_read(std::generic_category().message(errno));
  std::string text;
  char buffer[8192];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, file.get())) {
    text.append(buffer, n);
    if (text.size() > kMaxFileBytes) return cannot_read("larger than 1MiB");
  }
  if (std::ferror(file.get())) return cannot_read(std::generic_category().message(errno));
  Result<TokenTable> table = Parse(text, path);
  // The file's bytes are secrets: wipe the last copies (best effort; the
  // string may have left earlier ones as it grew).
  OPENSSL_cleanse(text.data(), text.size());
  OPENSSL_cleanse(buffer, sizeof buffer);
  return table;
}

Role TokenTable::Find(std::string_view token) const {
  const Digest digest = DigestOf(token);
  // Every entry is compared, and the match is selected with a mask rather
  // than a branch, so the time does not depend on which entry matched.
  uint8_t role = 0;
  for (const Entry& entry : entries_) {
    const uint8_t equal = CRYPTO_memcmp(digest.data(), entry.digest.data(), digest.size()) == 0;
    role |= static_cast<uint8_t>(-equal) & static_cast<uint8_t>(entry.role);
  }
  return static_cast<Role>(role);
}

// ---- ClientAuth ---------------------------------------------------------------

Status ClientAuth::Reload() {
  Result<TokenTable> fresh = TokenTable::Load(path_);
  if (!fresh.ok()) {
    ++reload_failures_;
    return fresh.status();
  }
  tokens_ = std::move(*fresh);
  ++reloads_;
  return Status::Ok();
}

Role ClientAuth::Authenticate(std::string_view token) {
  const Role role = tokens_.Find(token);
  ++(role == Role::kNone ? failures_ : accepted_);
  return role;
}

void ClientAuth::FillStats(std::map<std::string, double>* values) const {
  auto& v = *values;
  v["clients.auth_accepted"] = static_cast<double>(accepted_);
  v["clients.auth_failures"] = static_cast<double>(failures_);
  v["clients.tokens"] = static_cast<double>(tokens_.size());
  v["clients.token_reloads"] = static_cast<double>(reloads_);
  v["clients.token_reload_failures"] = static_cast<double>(reload_failures_);
}

}  // namespace dynkv::api
