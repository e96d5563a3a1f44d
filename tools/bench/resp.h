// The slice of RESP (the Redis serialization protocol,
// https://redis.io/docs/reference/protocol-spec/) that SET, GET and DEL
// need: commands as arrays of bulk strings; replies as simple strings,
// errors, integers and bulk strings.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace dynkv::bench {

// Appends "*N\r\n" then each argument as "$len\r\n<bytes>\r\n".
void AppendCommand(std::string* out, std::string_view a, std::string_view b);
void AppendCommand(std::string* out, std::string_view a, std::string_view b, std::string_view c);

struct RespReply {
  enum class Kind { kSimple, kError, kInteger, kBulk, kNil };
  Kind kind = Kind::kSimple;
  // kError: the first word of the message (its code, e.g. "ERR").
  std::string_view error_code;
};

enum class ParseState { kReply, kNeedMore, kBad };

// Reads one reply from the front of `bytes`; on kReply, *consumed is its
// length. kBad for anything these commands never answer (arrays, junk).
ParseState ParseReply(std::string_view bytes, RespReply* reply, size_t* consumed);

}  // namespace dynkv::bench
