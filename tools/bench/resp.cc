#include "resp.h"

#include <charconv>
#include <cstdint>

namespace dynkv::bench {

namespace {

// Bulk strings from these commands are values; anything bigger than the
// largest value Redis accepts (512 MB) is a broken stream.
constexpr int64_t kMaxBulkBytes = 512ll << 20;

void AppendBulk(std::string* out, std::string_view arg) {
  out->push_back('$');
  char digits[20];
  auto [end, error] = std::to_chars(digits, digits + sizeof(digits), arg.size());
  out->append(digits, end);
  out->append("\r\n");
  out->append(arg);
  out->append("\r\n");
}

}  // namespace

void AppendCommand(std::string* out, std::string_view a, std::string_view b) {
  out->append("*2\r\n");
  AppendBulk(out, a);
  AppendBulk(out, b);
}

void AppendCommand(std::string* out, std::string_view a, std::string_view b, std::string_view c) {
  out->append("*3\r\n");
  AppendBulk(out, a);
  AppendBulk(out, b);
  AppendBulk(out, c);
}

ParseState ParseReply(std::string_view bytes, RespReply* reply, size_t* consumed) {
  const size_t line_end = bytes.find("\r\n");
  if (line_end == std::string_view::npos) {
    // A header line is short; a long one without CRLF is not RESP.
    return bytes.size() > 1024 ? ParseState::kBad : ParseState::kNeedMore;
  }
  if (line_end == 0) return ParseState::kBad;
  const std::string_view line = bytes.substr(1, line_end - 1);
  const size_t after_line = line_end + 2;
  switch (bytes[0]) {
    case '+':
      reply->kind = RespReply::Kind::kSimple;
      *consumed = after_line;
      return ParseState::kReply;
    case '-':
      reply->kind = RespReply::Kind::kError;
      reply->error_code = line.substr(0, line.find(' '));
      *consumed = after_line;
      return ParseState::kReply;
    case ':':
      reply->kind = RespReply::Kind::kInteger;
      *consumed = after_line;
      return ParseState::kReply;
    case '$': {
      int64_t length = 0;
      auto [end, error] = std::from_chars(line.data(), line.data() + line.size(), length);
      if (error != std::errc() || end != line.data() + line.size() || length < -1 || length > kMaxBulkBytes) {
        return ParseState::kBad;
      }
      if (length == -1) {
        reply->kind = RespReply::Kind::kNil;
        *consumed = after_line;
        return ParseState::kReply;
      }
      const size_t total = after_line + static_cast<size_t>(length) + 2;
      if (bytes.size() < total) return ParseState::kNeedMore;
      if (bytes.substr(total - 2, 2) != "\r\n") return ParseState::kBad;
      reply->kind = RespReply::Kind::kBulk;
      *consumed = total;
      return ParseState::kReply;
    }
    default:
      return ParseState::kBad;
  }
}

}  // namespace dynkv::bench
