#include "net/address.h"

#include <cstring>

namespace dynkv::net {

bool ParseNumericAddress(const HostPort& address, sockaddr_storage* out) {
  std::memset(out, 0, sizeof(*out));
  if (uv_ip4_addr(address.host.c_str(), address.port, reinterpret_cast<sockaddr_in*>(out)) == 0) return true;
  return uv_ip6_addr(address.host.c_str(), address.port, reinterpret_cast<sockaddr_in6*>(out)) == 0;
}

std::vector<sockaddr_storage> CollectAddresses(const addrinfo* list, uint16_t port) {
  std::vector<sockaddr_storage> out;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    sockaddr_storage storage{};
    std::memcpy(&storage, ai->ai_addr, ai->ai_addrlen);
    if (ai->ai_family == AF_INET) {
      reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
    } else {
      reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
    }
    out.push_back(storage);
  }
  return out;
}

Result<std::vector<sockaddr_storage>> ResolveNow(uv_loop_t* loop, const HostPort& address) {
  sockaddr_storage numeric;
  if (ParseNumericAddress(address, &numeric)) return std::vector<sockaddr_storage>{numeric};

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  uv_getaddrinfo_t request;
  // A null callback makes uv_getaddrinfo synchronous.
  int rc = uv_getaddrinfo(loop, &request, nullptr, address.host.c_str(), nullptr, &hints);
  if (rc != 0) {
    return Status::Unavailable("cannot resolve " + address.host + ": " + UvError(rc));
  }
  std::vector<sockaddr_storage> found = CollectAddresses(request.addrinfo, address.port);
  uv_freeaddrinfo(request.addrinfo);
  if (found.empty())
    return Status::Unavailable("cannot resolve " + address.host + ": no IPv4 or IPv6 address");
  return found;
}

std::string FormatSocketAddress(const sockaddr* address) {
  char text[64] = {0};
  HostPort out;
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    uv_ip4_name(in, text, sizeof(text));
    out.port = ntohs(in->sin_port);
  } else if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    uv_ip6_name(in6, text, sizeof(text));
    out.port = ntohs(in6->sin6_port);
  } else {
    return "?";
  }
  out.host = text;
  return out.ToString();
}

std::string UvError(int code) { return uv_strerror(code); }

}  // namespace dynkv::net
