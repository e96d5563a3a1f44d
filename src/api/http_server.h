// The node's HTTP port (listen.http, optional; issue 15): what operators'
// tools ask of a node over HTTP, `GET /metrics` for Prometheus and
// `GET /health` for a load balancer's check. One request per connection,
// answered and closed (Connection: close); parsed with Debian's
// libhttp-parser. A request that does not parse, or is larger than 16 KiB,
// gets 400 and the connection closes; a method other than GET or HEAD gets
// 405. Answers are built from memory on the loop: nothing here waits.
//
// Threads: the event loop's only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "net/net.h"

namespace dynkv::api {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Renders a response as HTTP/1.1 bytes, Connection: close; without the
// body for HEAD.
std::string FormatHttpResponse(const HttpResponse& response, bool head);

class HttpServer final : public net::ConnectionHandler {
 public:
  // The answer to a GET (or HEAD) of `path` (the URL's path, without the query).
  using Handler = std::function<HttpResponse(std::string_view path)>;
  static constexpr size_t kMaxRequestBytes = 16 << 10;

  // REQUIRES: loop outlives the server.
  HttpServer(uv_loop_t* loop, Handler handler, uint32_t max_connections = 64);
  ~HttpServer() override;

  Status Listen(const net::HostPort& address);
  // Stops accepting and closes every connection. Idempotent.
  void Shutdown();
  uint16_t port() const;
  size_t connections() const { return sessions_.size(); }

  // net::ConnectionHandler
  void OnFrame(net::Connection& connection, std::string_view bytes) override;
  void OnClose(net::Connection& connection, const Status& why) override;

 private:
  struct Session;
  void Accept(uv_tcp_t* accepted);
  void Answer(Session& session, const HttpResponse& response);

  uv_loop_t* loop_;
  Handler handler_;
  uint32_t max_connections_;
  std::unique_ptr<net::Listener> listener_;
  std::map<net::Connection*, std::unique_ptr<Session>> sessions_;
};

}  // namespace dynkv::api
