#include "api/resp.h"

#include <charconv>

namespace dynkv::api {

namespace {

Status ProtocolError(const std::string& what) { return Status::InvalidArgument("Protocol error: " + what); }

}  // namespace

bool RespParseInt(std::string_view text, int64_t* value) {
  if (text.empty()) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return error == std::errc() && end == text.data() + text.size();
}

bool RespParser::Line(size_t at, std::string_view* line, size_t* next) const {
  const size_t crlf = buffer_.find("\r\n", at);
  if (crlf == std::string::npos) return false;
  *line = std::string_view(buffer_).substr(at, crlf - at);
  *next = crlf + 2;
  return true;
}

void RespParser::Consume(size_t to) {
  begin_ = to;
  // Keep the buffer from growing without bound: drop what was parsed once
  // it is most of it.
  if (begin_ > 4096 && begin_ * 2 > buffer_.size()) {
    buffer_.erase(0, begin_);
    begin_ = 0;
  }
}

Result<bool> RespParser::Next(std::vector<std::string>* args) {
  // An empty array or a blank line carries no command; a client may send
  // millions of them, so they are skipped here in a loop.
  while (begin_ < buffer_.size()) {
    args->clear();
    Result<bool> parsed = buffer_[begin_] == '*' ? NextArray(args) : NextInline(args);
    if (!parsed.ok() || !*parsed || !args->empty()) return parsed;
  }
  args->clear();
  return false;
}

Result<bool> RespParser::NextArray(std::vector<std::string>* args) {
  std::string_view line;
  size_t at = 0;
  if (!Line(begin_, &line, &at)) {
    if (buffered() > limits_.max_inline_bytes) return ProtocolError("too big array header");
    return false;
  }
  int64_t count = 0;
  if (!RespParseInt(line.substr(1), &count) || count > static_cast<int64_t>(limits_.max_args)) {
    return ProtocolError("invalid multibulk length");
  }
  if (count <= 0) {  // an empty (or null) array: nothing to run, as Redis ignores it
    Consume(at);
    return true;  // with no args: Next goes on
  }
  std::vector<std::string> parsed;
  parsed.reserve(static_cast<size_t>(std::max<int64_t>(count, 0)));
  for (int64_t i = 0; i < count; ++i) {
    if (!Line(at, &line, &at)) return false;
    int64_t length = 0;
    if (line.empty() || line[0] != '$') {
      return ProtocolError(std::string("expected '$', got '") + (line.empty() ? ' ' : line[0]) + "'");
    }
    if (!RespParseInt(line.substr(1), &length) || length < 0 || static_cast<size_t>(length) > limits_.max_bulk_bytes) {
      return ProtocolError("invalid bulk length");
    }
    if (buffer_.size() - at < static_cast<size_t>(length) + 2) return false;
    if (buffer_.compare(at + static_cast<size_t>(length), 2, "\r\n") != 0) {
      return ProtocolError("bulk string not followed by CRLF");
    }
    parsed.emplace_back(buffer_, at, static_cast<size_t>(length));
    at += static_cast<size_t>(length) + 2;
  }
  *args = std::move(parsed);
  Consume(at);
  return true;
}

// Words separated by spaces, with double-quoted words as redis-cli types them.
Result<bool> RespParser::NextInline(std::vector<std::string>* args) {
  std::string_view line;
  size_t next = 0;
  if (!Line(begin_, &line, &next)) {
    if (buffered() > limits_.max_inline_bytes) return ProtocolError("too big inline request");
    return false;
  }
  std::string word;
  bool in_word = false, quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"') {
        quoted = false;
      } else if (c == '\\' && i + 1 < line.size()) {
        word += line[++i];
      } else {
        word += c;
      }
    } else if (c == '"') {
      quoted = in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) args->push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quoted) return ProtocolError("unbalanced quotes in request");
  if (in_word) args->push_back(std::move(word));
  Consume(next);
  return true;  // an empty line leaves no args: Next goes on
}

void RespSimple(std::string* out, std::string_view text) {
  out->push_back('+');
  out->append(text);
  out->append("\r\n");
}

void RespError(std::string* out, std::string_view text) {
  out->push_back('-');
  for (char c : text) out->push_back(c == '\r' || c == '\n' ? ' ' : c);
  out->append("\r\n");
}

void RespInteger(std::string* out, int64_t value) {
  out->push_back(':');
  out->append(std::to_string(value));
  out->append("\r\n");
}

void RespBulk(std::string* out, std::string_view bytes) {
  out->push_back('$');
  out->append(std::to_string(bytes.size()));
  out->append("\r\n");
  out->append(bytes);
  out->append("\r\n");
}

void RespNull(std::string* out) { out->append("$-1\r\n"); }

void RespArrayHeader(std::string* out, size_t count) {
  out->push_back('*');
  out->append(std::to_string(count));
  out->append("\r\n");
}

// The writers above, each into a reply of its own.
template <typename T>
std::string ReplyOf(void (*write)(std::string*, T), T value) {
  std::string out;
  write(&out, value);
  return out;
}

std::string RespSimpleReply(std::string_view text) { return ReplyOf(&RespSimple, text); }
std::string RespErrorReply(std::string_view text) { return ReplyOf(&RespError, text); }
std::string RespIntegerReply(int64_t value) { return ReplyOf(&RespInteger, value); }
std::string RespBulkReply(std::string_view bytes) { return ReplyOf(&RespBulk, bytes); }

}  // namespace dynkv::api
