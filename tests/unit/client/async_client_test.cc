// AsyncClient and a FakeNode sharing one loop. Every test ends with
// uv_loop_close() == 0.
#include <doctest/doctest.h>

#include "client/client.h"
#include "fake_node.h"

namespace dynkv::client {
namespace {

struct TestLoop {
  TestLoop() { uv_loop_init(&loop); }
  ~TestLoop() {
    if (closed) return;
    uv_walk(
        &loop,
        [](uv_handle_t* h, void*) {
          if (!uv_is_closing(h)) uv_close(h, nullptr);
        },
        nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&loop);
  }
  int Close() {
    int rc = uv_loop_close(&loop);
    closed = rc == 0;
    return rc;
  }
  uv_loop_t loop;
  bool closed = false;
};

Options OptionsFor(const net::HostPort& node) {
  Options options;
  options.node = node;
  return options;
}

TEST_CASE("responses that come back out of order reach the right callbacks") {
  TestLoop loop;
  FakeNode node(&loop.loop, {.answer_batch = 10});
  AsyncClient client(&loop.loop, OptionsFor(node.address()));
  client.Connect([](Status status) { CHECK(status.ok()); });

  std::vector<int> answered;  // request numbers, in the order answered
  for (int i = 0; i < 10; ++i) {
    client.Call(MakePut("key-" + std::to_string(i), "v", {}), [&, i](Result<Response> result) {
      CHECK(result.ok());  // no REQUIRE: it would throw through libuv
      if (result.ok()) CHECK(result->put().context() == "ctx:key-" + std::to_string(i));
      answered.push_back(i);
      if (answered.size() == 10) {
        client.Close();
        node.Close();
      }
    });
  }
  CHECK(client.in_flight() == 10);
  uv_run(&loop.loop, UV_RUN_DEFAULT);

  CHECK(answered == std::vector<int>{9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
  CHECK(client.in_flight() == 0);
  CHECK(loop.Close() == 0);
}

TEST_CASE("calls made before the connection is up wait for it") {
  TestLoop loop;
  FakeNode node(&loop.loop, {});
  AsyncClient client(&loop.loop, OptionsFor(node.address()));
  int answers = 0;
  auto done = [&](Result<Response> result) {
    CHECK(result.ok());
    if (++answers == 2) {
      client.Close();
      node.Close();
    }
  };
  client.Call(MakePing(), done);  // before Connect
  bool connected = false;
  client.Connect([&](Status status) {
    CHECK(status.ok());
    connected = true;
  });
  client.Call(MakePing(), done);  // while connecting
  uv_run(&loop.loop, UV_RUN_DEFAULT);

  CHECK(connected);
  CHECK(answers == 2);
  CHECK(node.requests_seen() == 2);
  CHECK(loop.Close() == 0);
}

TEST_CASE("Close fails outstanding calls with UNAVAILABLE and leaves the loop closable") {
  TestLoop loop;
  FakeNode node(&loop.loop, {.silent = true});
  AsyncClient client(&loop.loop, OptionsFor(node.address()));
  client.Connect([](Status status) { CHECK(status.ok()); });
  std::vector<Status> failures;
  for (int i = 0; i < 3; ++i) {
    client.Call(MakePing(), [&](Result<Response> result) { failures.push_back(result.status()); });
  }
  node.on_request = [&](const Request&) {
    if (node.requests_seen() < 3) return;
    client.Close();
    client.Close();  // twice is harmless
    node.Close();
  };
  uv_run(&loop.loop, UV_RUN_DEFAULT);

  REQUIRE(failures.size() == 3);
  for (const Status& status : failures) CHECK(status.code() == Code::kUnavailable);
  // After Close, a call is answered at once.
  bool answered = false;
  client.Call(MakePing(), [&](Result<Response> result) {
    answered = true;
    CHECK(result.status().code() == Code::kUnavailable);
  });
  CHECK(answered);
  CHECK(loop.Close() == 0);
}

TEST_CASE("Close while connecting cancels the connect and frees everything") {
  TestLoop loop;
  FakeNode node(&loop.loop, {});
  AsyncClient client(&loop.loop, OptionsFor(node.address()));
  Status connect_result;
  client.Connect([&](Status status) { connect_result = status; });
  Status call_result;
  client.Call(MakePing(), [&](Result<Response> result) { call_result = result.status(); });
  client.Close();
  node.Close();
  uv_run(&loop.loop, UV_RUN_DEFAULT);

  CHECK(connect_result.code() == Code::kUnavailable);
  CHECK(call_result.code() == Code::kUnavailable);
  CHECK(node.requests_seen() == 0);
  CHECK(loop.Close() == 0);
}

TEST_CASE("a refused connection fails Connect and the calls waiting for it") {
  TestLoop loop;
  net::HostPort address{"127.0.0.1", ClosedPort()};
  AsyncClient client(&loop.loop, OptionsFor(address));
  Status connect_result;
  Status call_result;
  client.Call(MakePing(), [&](Result<Response> result) { call_result = result.status(); });
  client.Connect([&](Status status) { connect_result = status; });
  uv_run(&loop.loop, UV_RUN_DEFAULT);

  CHECK(connect_result.code() == Code::kUnavailable);
  CHECK(connect_result.message().find(address.ToString()) != std::string::npos);
  CHECK(call_result.code() == Code::kUnavailable);
  CHECK(call_result.message().find(address.ToString()) != std::string::npos);
  client.Close();
  uv_run(&loop.loop, UV_RUN_DEFAULT);
  CHECK(loop.Close() == 0);
}

TEST_CASE("a timed-out call gets TIMEOUT once, and a late answer is ignored") {
  TestLoop loop;
  // Answers arrive only when the second request comes in, after the first
  // has timed out.
  FakeNode node(&loop.loop, {.answer_batch = 2});
  Options options = OptionsFor(node.address());
  options.timeout_ms = 50;
  AsyncClient client(&loop.loop, options);
  client.Connect([](Status status) { CHECK(status.ok()); });
  std::vector<Status> first;
  std::vector<Status> second;
  client.Call(MakePing(), [&](Result<Response> result) {
    first.push_back(result.status());
    client.Call(MakePing(), [&](Result<Response> late) {
      second.push_back(late.status());
      client.Close();
      node.Close();
    });
  });
  uv_run(&loop.loop, UV_RUN_DEFAULT);

  REQUIRE(first.size() == 1);
  CHECK(first[0].code() == Code::kTimeout);
  REQUIRE(second.size() == 1);
  CHECK(second[0].ok());
  CHECK(loop.Close() == 0);
}

TEST_CASE("a client destroyed from its own callback leaves the loop closable") {
  TestLoop loop;
  FakeNode node(&loop.loop, {});
  auto client = std::make_unique<AsyncClient>(&loop.loop, OptionsFor(node.address()));
  client->Connect([](Status status) { CHECK(status.ok()); });
  int answers = 0;
  for (int i = 0; i < 3; ++i) {
    client->Call(MakePing(), [&](Result<Response> result) {
      ++answers;
      if (result.ok()) {
        client.reset();  // the other two fail with UNAVAILABLE from here
        node.Close();
      } else {
        CHECK(result.status().code() == Code::kUnavailable);
      }
    });
  }
  uv_run(&loop.loop, UV_RUN_DEFAULT);

  CHECK(answers == 3);
  CHECK(loop.Close() == 0);
}

}  // namespace
}  // namespace dynkv::client
