// Listener, Connection and ConnectTo over 127.0.0.1 in one loop. Every test
// ends with uv_loop_close() == 0: all handles were closed and freed.
#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "net/net.h"
#include "test_frames.h"
#include "test_loop.h"

namespace dynkv::net {
namespace {

// Records what a connection reports; tests add behaviour with the hooks.
struct TestHandler : ConnectionHandler {
  std::function<void(Connection&, std::string_view)> on_frame;
  std::function<void(Connection&, const Status&)> on_too_large;
  std::function<void(Connection&, const Status&)> on_close;
  std::vector<std::string> frames;
  std::vector<Status> too_large;
  std::vector<Status> closes;

  void OnFrame(Connection& connection, std::string_view payload) override {
    frames.emplace_back(payload);
    if (on_frame) on_frame(connection, payload);
  }
  void OnFrameTooLarge(Connection& connection, const Status& why) override {
    too_large.push_back(why);
    if (on_too_large) on_too_large(connection, why);
  }
  void OnClose(Connection& connection, const Status& why) override {
    closes.push_back(why);
    if (on_close) on_close(connection, why);
  }
};

// Listens on 127.0.0.1, port 0, and reads every accepted connection with
// `handler`. A connection that closes is destroyed inside OnClose, and the
// listener closes with it, so the loop can end.
struct TestServer {
  TestServer(uv_loop_t* loop, size_t max_frame_bytes, TestHandler* handler) {
    auto listening = Listener::Listen(loop, {"127.0.0.1", 0}, [this, max_frame_bytes, handler](uv_tcp_t* h) {
      connections.push_back(Connection::Adopt(h, max_frame_bytes, handler));
      connections.back()->StartReading();
    });
    REQUIRE(listening.ok());
    listener = std::move(*listening);
    handler->on_close = [this](Connection& closed, const Status&) {
      std::erase_if(connections, [&](const auto& c) { return c.get() == &closed; });
      listener->Close();
    };
  }
  HostPort address() const { return {"127.0.0.1", listener->port()}; }

  std::unique_ptr<Listener> listener;
  std::vector<std::unique_ptr<Connection>> connections;
};

void Echo(Connection& connection, std::string_view payload) { connection.SendRaw(Framed(payload)); }

TEST_CASE("frames round trip through an echo server, and each side reports one close") {
  TestLoop loop;
  TestHandler server_handler;
  server_handler.on_frame = Echo;
  TestServer server(loop.get(), 1024, &server_handler);

  std::vector<std::string> sent;
  for (int i = 0; i < 1000; ++i) sent.push_back("message " + std::to_string(i));
  sent.push_back("");  // an empty frame is a frame

  TestHandler client_handler;
  std::unique_ptr<Connection> client;
  Status connected = Status::Internal("done not called");
  size_t bytes_sent = 0;
  size_t buffered_after_send = 0;
  Connection::ConnectTo(loop.get(), server.address(), 1024, &client_handler,
                        [&](Status status, std::unique_ptr<Connection> connection) {
                          connected = status;
                          if (!status.ok()) return server.listener->Close();
                          client = std::move(connection);
                          client->StartReading();
                          // Sent back to back: they go out in a couple of writes.
                          for (const std::string& s : sent) {
                            client->SendRaw(Framed(s));
                            bytes_sent += kFrameHeaderBytes + s.size();
                          }
                          buffered_after_send = client->pending_write_bytes();
                        });
  client_handler.on_frame = [&](Connection& c, std::string_view) {
    if (client_handler.frames.size() < sent.size()) return;
    c.Close();
    c.Close();  // twice is harmless
  };
  loop.Run();

  REQUIRE(connected.ok());
  CHECK(buffered_after_send == bytes_sent);
  CHECK(client_handler.frames == sent);
  CHECK(server_handler.frames == sent);
  REQUIRE(client_handler.closes.size() == 1);
  CHECK(client_handler.closes[0].ok());  // closed by this side
  REQUIRE(server_handler.closes.size() == 1);
  CHECK(server_handler.closes[0].code() == Code::kUnavailable);
  CHECK(server_handler.closes[0].message().find("closed the connection") != std::string::npos);
  CHECK(server.connections.empty());
  CHECK_FALSE(client->open());
  CHECK(client->pending_write_bytes() == 0);
  CHECK(loop.Close() == 0);
}

// Sends are written once per loop turn, just before the loop waits for
// events. A frame sent from a timer, with nothing else going on, must still
// leave at once rather than wait for some later event to wake the loop.
TEST_CASE("a frame sent from a timer, with the loop otherwise idle, is delivered") {
  TestLoop loop;
  TestHandler server_handler;
  server_handler.on_frame = Echo;
  TestServer server(loop.get(), 1024, &server_handler);

  struct Timers {
    uv_timer_t send;
    uv_timer_t guard;
    std::unique_ptr<Connection> client;
    bool timed_out = false;
  } timers;
  uv_timer_init(loop.get(), &timers.send);
  uv_timer_init(loop.get(), &timers.guard);
  timers.send.data = timers.guard.data = &timers;
  auto close_timers = [&] {
    uv_close(reinterpret_cast<uv_handle_t*>(&timers.send), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&timers.guard), nullptr);
  };

  TestHandler client_handler;
  client_handler.on_frame = [&](Connection& c, std::string_view) {
    c.Close();
    close_timers();
  };
  Connection::ConnectTo(loop.get(), server.address(), 1024, &client_handler,
                        [&](Status status, std::unique_ptr<Connection> connection) {
                          CHECK(status.ok());
                          if (!status.ok()) return server.listener->Close();
                          timers.client = std::move(connection);
                          timers.client->StartReading();
                          uv_timer_start(&timers.send, [](uv_timer_t* t) {
                            static_cast<Timers*>(t->data)->client->SendRaw(Framed("from a timer"));
                          }, 20, 0);
                          uv_timer_start(&timers.guard, [](uv_timer_t* t) {
                            auto* self = static_cast<Timers*>(t->data);
                            self->timed_out = true;
                            self->client->Close();
                          }, 5000, 0);
                        });
  loop.Run();

  CHECK_FALSE(timers.timed_out);
  CHECK(client_handler.frames == std::vector<std::string>{"from a timer"});
  if (timers.timed_out) close_timers();
  loop.Run();
  CHECK(loop.Close() == 0);
}

TEST_CASE("CloseAfterWrites delivers everything buffered, then closes") {
  TestLoop loop;
  TestHandler server_handler;
  server_handler.on_frame = [](Connection& c, std::string_view) {
    for (int i = 0; i < 100; ++i) c.SendRaw(Framed(std::string(10000, 'a' + i % 26)));
    c.CloseAfterWrites();
    c.CloseAfterWrites();  // idempotent
    CHECK_FALSE(c.open());
    c.SendRaw(Framed("ignored once closing"));
  };
  TestServer server(loop.get(), 1024, &server_handler);

  TestHandler client_handler;
  std::unique_ptr<Connection> client;
  Connection::ConnectTo(loop.get(), server.address(), 1 << 20, &client_handler,
                        [&](Status status, std::unique_ptr<Connection> connection) {
                          CHECK(status.ok());  // no REQUIRE: it would throw through libuv
                          if (!status.ok()) return server.listener->Close();
                          client = std::move(connection);
                          client->StartReading();
                          client->SendRaw(Framed("go"));
                        });
  loop.Run();

  REQUIRE(client_handler.frames.size() == 100);
  CHECK(client_handler.frames[99] == std::string(10000, 'a' + 99 % 26));
  REQUIRE(client_handler.closes.size() == 1);
  CHECK(client_handler.closes[0].code() == Code::kUnavailable);  // the server closed
  REQUIRE(server_handler.closes.size() == 1);
  CHECK(server_handler.closes[0].ok());
  CHECK(loop.Close() == 0);
}

// A server that stops reading a client (its responses go unread) must
// still answer the requests it has already read once it reads again, even
// when the client sends nothing more.
TEST_CASE("StopReading holds the frames already read, and StartReading delivers them at once") {
  TestLoop loop;
  TestHandler server_handler;
  server_handler.on_frame = [](Connection& c, std::string_view) { c.StopReading(); };
  TestServer server(loop.get(), 1024, &server_handler);

  const std::string stream = Framed("one") + Framed("two") + Framed("three") + std::string("\0\0", 2);
  TestHandler client_handler;
  std::unique_ptr<Connection> client;
  Connection::ConnectTo(loop.get(), server.address(), 1024, &client_handler,
                        [&](Status status, std::unique_ptr<Connection> connection) {
                          CHECK(status.ok());
                          if (!status.ok()) return server.listener->Close();
                          client = std::move(connection);
                          client->StartReading();
                          client->SendRaw(stream);
                        });
  loop.RunUntil([&] { return server_handler.frames.size() == 1; });
  REQUIRE(server.connections.size() == 1);
  Connection& held = *server.connections[0];
  CHECK(held.bytes_received() == stream.size());
  CHECK(server_handler.frames == std::vector<std::string>{"one"});

  server_handler.on_frame = nullptr;
  held.StartReading();
  CHECK(server_handler.frames == std::vector<std::string>{"one", "two", "three"});
  CHECK(held.partial_frame_bytes() == 2);  // the half header that follows

  client->Close();
  loop.Run();
  CHECK(server.connections.empty());
  CHECK(loop.Close() == 0);
}

TEST_CASE("an oversized frame: the receiver may answer, then the connection closes with TOO_LARGE") {
  TestLoop loop;
  TestHandler server_handler;
  server_handler.on_frame = Echo;
  server_handler.on_too_large = [](Connection& c, const Status& why) {
    c.SendRaw(Framed("error: " + why.message()));
  };
  TestServer server(loop.get(), 100, &server_handler);

  TestHandler client_handler;
  std::unique_ptr<Connection> client;
  Connection::ConnectTo(loop.get(), server.address(), 1024, &client_handler,
                        [&](Status status, std::unique_ptr<Connection> connection) {
                          CHECK(status.ok());
                          if (!status.ok()) return server.listener->Close();
                          client = std::move(connection);
                          client->StartReading();
                          client->SendRaw(Framed("small"));
                          client->SendRaw(Framed(std::string(200, 'x')));
                          client->SendRaw(Framed("never read"));
                        });
  loop.Run();

  const std::string why = "frame of 200 bytes exceeds limit 100";
  CHECK(server_handler.frames == std::vector<std::string>{"small"});
  REQUIRE(server_handler.too_large.size() == 1);
  CHECK(server_handler.too_large[0].code() == Code::kTooLarge);
  CHECK(server_handler.too_large[0].message() == why);
  REQUIRE(server_handler.closes.size() == 1);
  CHECK(server_handler.closes[0].code() == Code::kTooLarge);
  CHECK(server_handler.closes[0].message() == why);
  // The answer written from OnFrameTooLarge reached the client before the close.
  CHECK(client_handler.frames == std::vector<std::string>{"small", "error: " + why});
  CHECK(client_handler.closes.size() == 1);
  CHECK(loop.Close() == 0);
}

TEST_CASE("an oversized frame closes the connection when the handler does nothing more") {
  TestLoop loop;
  TestHandler server_handler;
  TestServer server(loop.get(), 10, &server_handler);

  TestHandler client_handler;
  std::unique_ptr<Connection> client;
  Connection::ConnectTo(loop.get(), server.address(), 1024, &client_handler,
                        [&](Status status, std::unique_ptr<Connection> connection) {
                          CHECK(status.ok());
                          if (!status.ok()) return server.listener->Close();
                          client = std::move(connection);
                          client->StartReading();
                          client->SendRaw(Framed(std::string(11, 'x')));
                        });
  loop.Run();

  REQUIRE(server_handler.closes.size() == 1);
  CHECK(server_handler.closes[0].code() == Code::kTooLarge);
  CHECK(server_handler.frames.empty());
  CHECK(client_handler.closes.size() == 1);
  CHECK(loop.Close() == 0);
}

TEST_CASE("a Connection destroyed inside OnFrame, with writes pending, is freed without OnClose") {
  TestLoop loop;
  TestHandler server_handler;
  server_handler.on_frame = Echo;
  TestServer server(loop.get(), 1 << 20, &server_handler);

  TestHandler client_handler;
  std::unique_ptr<Connection> client;
  Connection::ConnectTo(loop.get(), server.address(), 1 << 20, &client_handler,
                        [&](Status status, std::unique_ptr<Connection> connection) {
                          CHECK(status.ok());
                          if (!status.ok()) return server.listener->Close();
                          client = std::move(connection);
                          client->StartReading();
                          for (int i = 0; i < 10; ++i) client->SendRaw(Framed(std::string(100000, 'y')));
                        });
  client_handler.on_frame = [&](Connection& c, std::string_view) {
    c.SendRaw(Framed(std::string(100000, 'z')));
    client.reset();
  };
  loop.Run();

  CHECK(client_handler.frames.size() == 1);
  CHECK(client_handler.closes.empty());
  CHECK(server_handler.closes.size() == 1);
  CHECK(loop.Close() == 0);
}

// A port that was free a moment ago and has nothing listening now.
uint16_t ClosedPort(TestLoop& loop) {
  auto listener = Listener::Listen(loop.get(), {"127.0.0.1", 0}, [](uv_tcp_t*) {});
  REQUIRE(listener.ok());
  uint16_t port = (*listener)->port();
  listener->reset();
  loop.Run();  // frees the listener's handle
  return port;
}

TEST_CASE("connecting to a closed port is UNAVAILABLE naming the address") {
  TestLoop loop;
  HostPort address{"127.0.0.1", ClosedPort(loop)};
  TestHandler handler;
  int calls = 0;
  Status result;
  Connection::ConnectTo(loop.get(), address, 1024, &handler,
                        [&](Status status, std::unique_ptr<Connection> connection) {
                          ++calls;
                          result = status;
                          CHECK(connection == nullptr);
                        });
  CHECK(calls == 0);  // never before ConnectTo returns
  loop.Run();

  CHECK(calls == 1);
  CHECK(result.code() == Code::kUnavailable);
  CHECK(result.message() == "cannot connect to " + address.ToString() + ": connection refused");
  CHECK(handler.closes.empty());
  CHECK(loop.Close() == 0);
}

TEST_CASE("ConnectTo resolves host names") {
  TestLoop loop;
  TestHandler server_handler;
  server_handler.on_frame = Echo;
  TestServer server(loop.get(), 1024, &server_handler);

  TestHandler client_handler;
  client_handler.on_frame = [](Connection& c, std::string_view) { c.Close(); };
  std::unique_ptr<Connection> client;
  Status result = Status::Internal("done not called");
  Connection::ConnectTo(loop.get(), {"localhost", server.listener->port()}, 1024, &client_handler,
                        [&](Status status, std::unique_ptr<Connection> connection) {
                          result = status;
                          if (!status.ok()) return server.listener->Close();
                          client = std::move(connection);
                          client->StartReading();
                          client->SendRaw(Framed("hi"));
                        });
  loop.Run();

  CHECK(result.ok());
  CHECK(client_handler.frames == std::vector<std::string>{"hi"});
  CHECK(loop.Close() == 0);
}

TEST_CASE("a cancelled ConnectTo never calls done and leaves nothing open") {
  TestLoop loop;
  auto listener = Listener::Listen(loop.get(), {"127.0.0.1", 0}, [](uv_tcp_t* accepted) {
    uv_close(reinterpret_cast<uv_handle_t*>(accepted),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  });
  REQUIRE(listener.ok());
  TestHandler handler;
  int calls = 0;
  auto done = [&](Status, std::unique_ptr<Connection>) { ++calls; };
  PendingConnect numeric =
      Connection::ConnectTo(loop.get(), {"127.0.0.1", (*listener)->port()}, 1024, &handler, done);
  PendingConnect named =
      Connection::ConnectTo(loop.get(), {"localhost", (*listener)->port()}, 1024, &handler, done);
  numeric.Cancel();
  named.Cancel();
  named.Cancel();  // twice is harmless
  (*listener)->Close();
  loop.Run();

  CHECK(calls == 0);
  numeric.Cancel();  // after the attempt is gone: harmless
  CHECK(loop.Close() == 0);
}

TEST_CASE("listening on a port in use names the address") {
  TestLoop loop;
  auto first = Listener::Listen(loop.get(), {"127.0.0.1", 0}, [](uv_tcp_t*) {});
  REQUIRE(first.ok());
  HostPort taken{"127.0.0.1", (*first)->port()};
  auto second = Listener::Listen(loop.get(), taken, [](uv_tcp_t*) {});
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == Code::kUnavailable);
  CHECK(second.status().message() == taken.ToString() + " is already in use");
  (*first)->Close();
  (*first)->Close();  // twice is harmless
  loop.Run();
  CHECK(loop.Close() == 0);
}

TEST_CASE("listening on an address of another machine fails with the address") {
  TestLoop loop;
  auto listener = Listener::Listen(loop.get(), {"192.0.2.1", 7101}, [](uv_tcp_t*) {});  // TEST-NET-1
  REQUIRE_FALSE(listener.ok());
  CHECK(listener.status().code() == Code::kUnavailable);
  CHECK(listener.status().message().find("192.0.2.1:7101") != std::string::npos);
  loop.Run();
  CHECK(loop.Close() == 0);
}

}  // namespace
}  // namespace dynkv::net
