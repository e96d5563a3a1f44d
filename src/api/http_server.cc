#include "api/http_server.h"

#include <http_parser.h>

namespace dynkv::api {

namespace {

std::string_view Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

}  // namespace

std::string FormatHttpResponse(const HttpResponse& response, bool head) {
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " + std::string(Reason(response.status)) +
                    "\r\nContent-Type: " + response.content_type +
                    "\r\nContent-Length: " + std::to_string(response.body.size()) + "\r\nConnection: close\r\n\r\n";
  if (!head) out += response.body;
  return out;
}

// One connection: its parser, the URL as it arrives, and whether the
// request is complete.
struct HttpServer::Session {
  std::unique_ptr<net::Connection> connection;
  http_parser parser;
  std::string url;
  size_t bytes = 0;
  bool complete = false;
  bool answered = false;
};

namespace {

int OnUrl(http_parser* parser, const char* at, size_t length) {
  static_cast<std::string*>(parser->data)->append(at, length);
  return 0;
}

int OnComplete(http_parser* parser) {
  http_parser_pause(parser, 1);  // one request per connection: stop here
  return 0;
}

const http_parser_settings kSettings = [] {
  http_parser_settings settings;
  http_parser_settings_init(&settings);
  settings.on_url = &OnUrl;
  settings.on_message_complete = &OnComplete;
  return settings;
}();

}  // namespace

HttpServer::HttpServer(uv_loop_t* loop, Handler handler, uint32_t max_connections)
    : loop_(loop), handler_(std::move(handler)), max_connections_(max_connections) {}

HttpServer::~HttpServer() { Shutdown(); }

Status HttpServer::Listen(const net::HostPort& address) {
  auto listener = net::Listener::Listen(loop_, address, [this](uv_tcp_t* accepted) { Accept(accepted); });
  if (!listener.ok()) return listener.status().WithContext("listen.http");
  listener_ = std::move(*listener);
  return Status::Ok();
}

void HttpServer::Shutdown() {
  if (listener_) listener_->Close();
  for (auto& [connection, session] : sessions_) connection->Close();
}

uint16_t HttpServer::port() const { return listener_ ? listener_->port() : 0; }

void HttpServer::Accept(uv_tcp_t* accepted) {
  auto connection = net::Connection::Adopt(accepted, kMaxRequestBytes, this, net::Framing::kRaw);
  if (sessions_.size() >= max_connections_) {
    connection->SendRaw(FormatHttpResponse({503, "text/plain; charset=utf-8", "too many connections\n"}, false));
    connection->CloseAfterWrites();
    net::Connection* raw = connection.get();
    auto session = std::make_unique<Session>();
    session->connection = std::move(connection);
    session->answered = true;
    sessions_[raw] = std::move(session);
    return;
  }
  auto session = std::make_unique<Session>();
  http_parser_init(&session->parser, HTTP_REQUEST);
  session->parser.data = &session->url;
  session->connection = std::move(connection);
  net::Connection* raw = session->connection.get();
  sessions_[raw] = std::move(session);
  raw->StartReading();
}

void HttpServer::OnFrame(net::Connection& connection, std::string_view bytes) {
  auto it = sessions_.find(&connection);
  if (it == sessions_.end() || it->second->answered) return;
  Session& session = *it->second;
  session.bytes += bytes.size();
  if (session.bytes > kMaxRequestBytes) {
    return Answer(session, {400, "text/plain; charset=utf-8", "request larger than 16 KiB\n"});
  }
  http_parser_execute(&session.parser, &kSettings, bytes.data(), bytes.size());
  const http_errno error = HTTP_PARSER_ERRNO(&session.parser);
  if (error != HPE_OK && error != HPE_PAUSED) {
    return Answer(session, {400, "text/plain; charset=utf-8",
                            std::string("bad request: ") + http_errno_description(error) + "\n"});
  }
  if (error != HPE_PAUSED) return;  // the request is not complete yet
  const auto method = static_cast<http_method>(session.parser.method);
  if (method != HTTP_GET && method != HTTP_HEAD) {
    return Answer(session, {405, "text/plain; charset=utf-8", "only GET and HEAD\n"});
  }
  http_parser_url url;
  http_parser_url_init(&url);
  std::string_view path = "/";
  if (http_parser_parse_url(session.url.data(), session.url.size(), 0, &url) == 0 &&
      (url.field_set & (1 << UF_PATH)) != 0) {
    path = std::string_view(session.url).substr(url.field_data[UF_PATH].off, url.field_data[UF_PATH].len);
  }
  Answer(session, handler_(path));
}

void HttpServer::Answer(Session& session, const HttpResponse& response) {
  session.answered = true;
  const bool head = static_cast<http_method>(session.parser.method) == HTTP_HEAD;
  session.connection->SendRaw(FormatHttpResponse(response, head));
  session.connection->CloseAfterWrites();
}

void HttpServer::OnClose(net::Connection& connection, const Status&) { sessions_.erase(&connection); }

}  // namespace dynkv::api
