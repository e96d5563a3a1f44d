// HostPort parsing: "host:port", "[v6]:port". Rejects anything ambiguous
// (a bare IPv6 address, which has colons of its own) with a message that
// quotes the text.
#include <uv.h>

#include <charconv>
#include <string>

#include "net/net.h"

namespace dynkv::net {
namespace {

Status Invalid(std::string_view text, std::string_view why) {
  std::string message = "bad address \"";
  message += text;
  message += "\": ";
  message += why;
  return Status::InvalidArgument(std::move(message));
}

bool IsHostNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_';
}

bool IsIpv6Literal(const std::string& host) {
  unsigned char scratch[16];
  return uv_inet_pton(AF_INET6, host.c_str(), scratch) == 0;
}

}  // namespace

std::string HostPort::ToString() const {
  std::string out;
  bool v6 = host.find(':') != std::string::npos;
  if (v6) out += '[';
  out += host;
  if (v6) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

Result<HostPort> ParseHostPort(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return Invalid(text, "expected HOST:PORT");
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);

  HostPort out;
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return Invalid(text, "expected [IPV6]:PORT");
    out.host = std::string(host.substr(1, host.size() - 2));
    if (!IsIpv6Literal(out.host)) return Invalid(text, "not an IPv6 address inside the brackets");
  } else {
    if (host.empty()) return Invalid(text, "the host is empty");
    if (host.find(':') != std::string_view::npos) {
      return Invalid(text, "put IPv6 addresses in brackets, as in [::1]:7101");
    }
    for (char c : host) {
      if (!IsHostNameChar(c)) return Invalid(text, "the host has characters a host name cannot have");
    }
    out.host = std::string(host);
  }

  if (port_text.empty()) return Invalid(text, "the port is missing");
  unsigned value = 0;
  auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
  if (error != std::errc() || end != port_text.data() + port_text.size() || value < 1 || value > 65535) {
    return Invalid(text, "the port must be a number in 1..65535");
  }
  out.port = static_cast<uint16_t>(value);
  return out;
}

}  // namespace dynkv::net
