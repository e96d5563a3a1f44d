// The pieces both client faces share: R/W parsing, request builders and
// the wire Error -> Status mapping.
#include <charconv>

#include "client/client.h"

namespace dynkv::client {

Result<uint32_t> ParseQuorum(std::string_view text) {
  if (text == "default") return kDefault;
  if (text == "one") return kOne;
  if (text == "quorum") return kQuorum;
  if (text == "all") return kAll;
  if (text == "local_quorum") return kLocalQuorum;
  if (text == "each_quorum") return kEachQuorum;
  uint32_t count = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
  // Values from kEachQuorum up are reserved for named levels.
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || count >= kEachQuorum) {
    return Status::InvalidArgument("bad R/W level \"" + std::string(text) +
                                   "\": expected one, quorum, all, local_quorum, each_quorum, default or a "
                                   "replica count");
  }
  return count;
}

namespace {

Code CodeFromWire(ErrorCode code) {
  switch (code) {
    case INVALID_ARGUMENT:
      return Code::kInvalidArgument;
    case TOO_LARGE:
      return Code::kTooLarge;
    case UNAVAILABLE:
      return Code::kUnavailable;
    case TIMEOUT:
      return Code::kTimeout;
    case OVERLOADED:
      return Code::kOverloaded;
    case STORAGE_ERROR:
      return Code::kStorageError;
    case UNAUTHENTICATED:
      return Code::kUnauthenticated;
    case PERMISSION_DENIED:
      return Code::kPermissionDenied;
    default:
      return Code::kInternal;  // INTERNAL, unset, or newer than this client
  }
}

}  // namespace

Status StatusFromError(const Error& error) { return Status(CodeFromWire(error.code()), error.message()); }

Request MakeGet(std::string_view key, const ReadOptions& options) {
  Request request;
  GetRequest* get = request.mutable_get();
  get->set_key(std::string(key));
  get->set_r(options.r);
  get->set_timeout_ms(options.timeout_ms);
  return request;
}

Request MakePut(std::string_view key, std::string_view value, const WriteOptions& options) {
  Request request;
  PutRequest* put = request.mutable_put();
  put->set_key(std::string(key));
  put->set_value(std::string(value));
  put->set_context(options.context);
  put->set_w(options.w);
  put->set_ttl_s(options.ttl_s);
  put->set_timeout_ms(options.timeout_ms);
  return request;
}

Request MakeDelete(std::string_view key, const WriteOptions& options) {
  Request request;
  DeleteRequest* del = request.mutable_delete_();
  del->set_key(std::string(key));
  del->set_context(options.context);
  del->set_w(options.w);
  del->set_timeout_ms(options.timeout_ms);
  return request;
}

Request MakePing() {
  Request request;
  request.mutable_ping();
  return request;
}

Request MakeStats() {
  Request request;
  request.mutable_stats();
  return request;
}

Request MakeAuth(std::string_view token) {
  Request request;
  request.mutable_auth()->set_token(std::string(token));
  return request;
}

}  // namespace dynkv::client
