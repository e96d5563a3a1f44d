#include <doctest/doctest.h>

#include "net/net.h"

namespace dynkv::net {
namespace {

TEST_CASE("ParseHostPort accepts IPv4, bracketed IPv6 and host names") {
  struct Case {
    const char* text;
    const char* host;
    uint16_t port;
  };
  for (const Case& c : {Case{"127.0.0.1:7101", "127.0.0.1", 7101}, Case{"[::1]:7101", "::1", 7101},
                        Case{"[fe80::1:2]:1", "fe80::1:2", 1}, Case{"localhost:65535", "localhost", 65535},
                        Case{"node-3.example_zone.com:80", "node-3.example_zone.com", 80}}) {
    CAPTURE(c.text);
    Result<HostPort> parsed = ParseHostPort(c.text);
    REQUIRE(parsed.ok());
    CHECK(parsed->host == c.host);
    CHECK(parsed->port == c.port);
    CHECK(parsed->ToString() == c.text);  // round trips
  }
}

TEST_CASE("ParseHostPort rejects what is not HOST:PORT, quoting the text") {
  for (const char* text :
       {"", "7101", "127.0.0.1", "127.0.0.1:", ":7101", "127.0.0.1:0", "127.0.0.1:65536",
        "127.0.0.1:99999999999", "127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1:80x", "127.0.0.1: 80",
        "::1:7101", "[::1]", "[]:80", "[::1:80", "[not-v6]:80", "host name:80", "a/b:80"}) {
    CAPTURE(text);
    Result<HostPort> parsed = ParseHostPort(text);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == Code::kInvalidArgument);
    CHECK(parsed.status().message().find('"' + std::string(text) + '"') != std::string::npos);
  }
}

TEST_CASE("ParseHostPort explains the common mistakes") {
  CHECK(ParseHostPort("::1:7101").status().message().find("brackets") != std::string::npos);
  CHECK(ParseHostPort("127.0.0.1:0").status().message().find("1..65535") != std::string::npos);
  CHECK(ParseHostPort("127.0.0.1").status().message().find("HOST:PORT") != std::string::npos);
}

TEST_CASE("HostPort::ToString brackets IPv6 hosts only") {
  CHECK(HostPort{"10.0.0.1", 9}.ToString() == "10.0.0.1:9");
  CHECK(HostPort{"2001:db8::1", 9}.ToString() == "[2001:db8::1]:9");
  CHECK(HostPort{"db1", 9}.ToString() == "db1:9");
}

}  // namespace
}  // namespace dynkv::net
