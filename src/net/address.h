// Socket addresses for a HostPort (internal to the net module): numeric
// hosts parse in place; names go through getaddrinfo.
#pragma once

#include <uv.h>

#include <string>
#include <vector>

#include "common/status.h"
#include "net/net.h"

namespace dynkv::net {

// True and *out filled when host is an IPv4 or IPv6 literal.
bool ParseNumericAddress(const HostPort& address, sockaddr_storage* out);

// Every address in an addrinfo list, with `port` set.
std::vector<sockaddr_storage> CollectAddresses(const addrinfo* list, uint16_t port);

// Numeric parse or a synchronous lookup; blocks, so only for start-up.
Result<std::vector<sockaddr_storage>> ResolveNow(uv_loop_t* loop, const HostPort& address);

// "host:port" of a socket address ("?" if it is neither IPv4 nor IPv6).
std::string FormatSocketAddress(const sockaddr* address);

// The usual short text for a libuv error code: "connection refused".
std::string UvError(int code);

}  // namespace dynkv::net
