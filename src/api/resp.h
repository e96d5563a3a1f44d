// RESP2, the Redis serialization protocol (redis.io/docs/reference/protocol-spec),
// for the node's Redis-protocol port (listen.resp; issue 15). Pure: bytes
// in, commands out, replies as bytes. No I/O.
//
// A command is either an array of bulk strings ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
// what clients send) or an inline line ("PING\r\n", what a person types
// into telnet). Anything else is a protocol error: the connection replies
// with it and closes, as Redis does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace dynkv::api {

struct RespLimits {
  size_t max_bulk_bytes = 512ull << 20;  // Redis' proto-max-bulk-len
  size_t max_args = 1 << 20;
  size_t max_inline_bytes = 64 << 10;
};

class RespParser {
 public:
  explicit RespParser(RespLimits limits = {}) : limits_(limits) {}

  void Append(std::string_view bytes) { buffer_.append(bytes); }
  // The next whole command: OK and true with *args filled; OK and false when
  // more bytes are needed; an error (INVALID_ARGUMENT, saying what is wrong)
  // when the stream is not RESP: stop reading it.
  Result<bool> Next(std::vector<std::string>* args);
  size_t buffered() const { return buffer_.size() - begin_; }

 private:
  // The line at `at` (without CRLF) and where the next one starts; false when incomplete.
  bool Line(size_t at, std::string_view* line, size_t* next) const;
  // One array or inline line; true with no args for an empty one.
  Result<bool> NextArray(std::vector<std::string>* args);
  Result<bool> NextInline(std::vector<std::string>* args);
  void Consume(size_t to);

  RespLimits limits_;
  std::string buffer_;
  size_t begin_ = 0;
};

// A decimal integer, the whole of `text` (a sign allowed); false otherwise.
bool RespParseInt(std::string_view text, int64_t* value);

// Replies, appended to *out.
void RespSimple(std::string* out, std::string_view text);  // +OK
void RespError(std::string* out, std::string_view text);   // -ERR ... (CR and LF become spaces)
void RespInteger(std::string* out, int64_t value);
void RespBulk(std::string* out, std::string_view bytes);
void RespNull(std::string* out);  // $-1
void RespArrayHeader(std::string* out, size_t count);
// One whole reply of one value, for a command that answers with it.
std::string RespSimpleReply(std::string_view text);
std::string RespErrorReply(std::string_view text);
std::string RespIntegerReply(int64_t value);
std::string RespBulkReply(std::string_view bytes);

}  // namespace dynkv::api
