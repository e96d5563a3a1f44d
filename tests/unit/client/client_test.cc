// The blocking Client against a FakeNode on its own thread.
#include "client/client.h"

#include <doctest/doctest.h>

#include <chrono>
#include <set>
#include <thread>

#include "fake_node.h"

namespace dynkv::client {
namespace {

std::unique_ptr<Client> ConnectTo(const net::HostPort& node, uint32_t timeout_ms = 5000) {
  Options options;
  options.node = node;
  options.timeout_ms = timeout_ms;
  Result<std::unique_ptr<Client>> client = Client::Connect(options);
  REQUIRE(client.ok());
  return std::move(*client);
}

TEST_CASE("Put, Get, Delete, Ping and Stats map their responses") {
  FakeNodeThread node;
  std::unique_ptr<Client> client = ConnectTo(node.address());

  Result<GetReply> put = client->Put("k", "v");
  REQUIRE(put.ok());
  CHECK(put->context == "ctx:k");
  REQUIRE(put->siblings.size() == 1);
  CHECK(put->siblings[0].value == "v");

  Result<GetReply> got = client->Get("k");
  REQUIRE(got.ok());
  REQUIRE(got->siblings.size() == 1);
  CHECK(got->siblings[0].value == "v");
  CHECK(got->siblings[0].write_time_ms == 1000);
  CHECK(got->siblings[0].expires_at_ms == 2000);
  CHECK(got->context == "ctx:k");

  CHECK(client->Delete("k").ok());
  got = client->Get("k");
  REQUIRE(got.ok());
  CHECK(got->siblings.empty());

  Result<PingResponse> ping = client->Ping();
  REQUIRE(ping.ok());
  CHECK(ping->node_id() == "fake");

  Result<StatsResponse> stats = client->Stats();
  REQUIRE(stats.ok());
  CHECK(stats->values().at("requests") == 6);
}

TEST_CASE("Transfers returns the node's TransfersResponse whole") {
  TransfersResponse leaving;
  leaving.set_node_id("n2");
  leaving.set_status("leaving");
  leaving.set_ring_version(0x8000000000000001ull);
  leaving.set_change("leave n2");
  Transfer* transfer = leaving.add_transfers();
  transfer->set_range_start(0xffffffffffffff00ull);
  transfer->set_range_end(0x10);
  transfer->set_from_node("n2");
  transfer->set_to_node("n3");
  transfer->set_direction("out");
  transfer->set_state("done");
  transfer->set_keys(3);
  transfer->set_bytes(300);
  leaving.set_ranges_total(1);
  leaving.set_ranges_done(1);
  leaving.set_keys(3);
  leaving.set_bytes(300);
  FakeNodeThread node({.transfers = {leaving}});
  std::unique_ptr<Client> client = ConnectTo(node.address());

  Result<TransfersResponse> transfers = client->Transfers();
  REQUIRE(transfers.ok());
  CHECK(transfers->SerializeAsString() == leaving.SerializeAsString());
}

TEST_CASE("Transfers from a node that does not know it is the node's error") {
  FakeNodeThread node;
  std::unique_ptr<Client> client = ConnectTo(node.address());
  Result<TransfersResponse> transfers = client->Transfers();
  REQUIRE_FALSE(transfers.ok());
  CHECK(transfers.status().code() == Code::kInvalidArgument);
  CHECK(transfers.status().message() == "unknown operation");
}

TEST_CASE("1,000 pipelined requests on one connection are all answered, each with its own") {
  // The node answers only once all 1,000 are in, newest first.
  FakeNodeThread node({.answer_batch = 1000});
  std::unique_ptr<Client> client = ConnectTo(node.address());

  std::vector<Request> requests;
  for (int i = 0; i < 1000; ++i) {
    requests.push_back(MakePut("key-" + std::to_string(i), "value-" + std::to_string(i), {}));
  }
  std::vector<Result<Response>> answers = client->Pipeline(std::move(requests));

  REQUIRE(answers.size() == 1000);
  std::set<uint64_t> ids;
  for (int i = 0; i < 1000; ++i) {
    CAPTURE(i);
    REQUIRE(answers[i].ok());
    REQUIRE(answers[i]->has_put());
    CHECK(answers[i]->put().context() == "ctx:key-" + std::to_string(i));
    ids.insert(answers[i]->id());
  }
  CHECK(ids.size() == 1000);
  CHECK(ids.count(0) == 0);
}

TEST_CASE("Pipeline turns Error responses into Status values, in request order") {
  FakeNodeThread node({.answer_batch = 3});
  std::unique_ptr<Client> client = ConnectTo(node.address());
  std::vector<Result<Response>> answers =
      client->Pipeline({MakePing(), MakeGet("error:5", {}), MakeGet("missing", {})});
  REQUIRE(answers.size() == 3);
  CHECK(answers[0].ok());
  CHECK(answers[1].status().code() == Code::kOverloaded);
  REQUIRE(answers[2].ok());
  CHECK(answers[2]->get().siblings_size() == 0);
}

TEST_CASE("a node that never answers gives TIMEOUT naming the node") {
  FakeNodeThread node({.silent = true});
  std::unique_ptr<Client> client = ConnectTo(node.address(), 100);
  Result<GetReply> got = client->Get("k");
  REQUIRE_FALSE(got.ok());
  CHECK(got.status().code() == Code::kTimeout);
  CHECK(got.status().message() == "no answer from " + node.address().ToString() + " within 100 ms");
}

TEST_CASE("a refused connection is UNAVAILABLE naming the address") {
  Options options;
  options.node = {"127.0.0.1", ClosedPort()};
  Result<std::unique_ptr<Client>> client = Client::Connect(options);
  REQUIRE_FALSE(client.ok());
  CHECK(client.status().code() == Code::kUnavailable);
  CHECK(client.status().message().find(options.node.ToString()) != std::string::npos);
}

TEST_CASE("a connect that gets no answer fails with UNAVAILABLE after the timeout") {
  // A socket that listens with the smallest backlog and never accepts: once
  // its queue is full, the kernel drops further SYNs and connects hang.
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv_tcp_t server;
  uv_tcp_init(&loop, &server);
  sockaddr_in any;
  uv_ip4_addr("127.0.0.1", 0, &any);
  REQUIRE(uv_tcp_bind(&server, reinterpret_cast<const sockaddr*>(&any), 0) == 0);
  REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&server), 0, [](uv_stream_t*, int) {}) == 0);
  sockaddr_in bound;
  int length = sizeof(bound);
  uv_tcp_getsockname(&server, reinterpret_cast<sockaddr*>(&bound), &length);

  Options options;
  options.node = {"127.0.0.1", ntohs(bound.sin_port)};
  options.timeout_ms = 100;
  std::vector<std::unique_ptr<Client>> queued;
  Status failure;
  for (int i = 0; i < 8 && failure.ok(); ++i) {
    Result<std::unique_ptr<Client>> client = Client::Connect(options);
    if (client.ok()) {
      queued.push_back(std::move(*client));
    } else {
      failure = client.status();
    }
  }
  CHECK(failure.code() == Code::kUnavailable);
  CHECK(failure.message() == "cannot connect to " + options.node.ToString() + ": no answer within 100 ms");

  queued.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&server), nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("each Error code from the node becomes the matching Code") {
  FakeNodeThread node;
  std::unique_ptr<Client> client = ConnectTo(node.address());
  struct Case {
    ErrorCode wire;
    Code code;
  };
  for (const Case& c : {Case{INVALID_ARGUMENT, Code::kInvalidArgument}, Case{TOO_LARGE, Code::kTooLarge},
                        Case{UNAVAILABLE, Code::kUnavailable}, Case{TIMEOUT, Code::kTimeout},
                        Case{OVERLOADED, Code::kOverloaded}, Case{STORAGE_ERROR, Code::kStorageError},
                        Case{UNAUTHENTICATED, Code::kUnauthenticated}, Case{INTERNAL, Code::kInternal}}) {
    std::string key = "error:" + std::to_string(static_cast<int>(c.wire));
    CAPTURE(key);
    Result<GetReply> got = client->Get(key);
    REQUIRE_FALSE(got.ok());
    CHECK(got.status().code() == c.code);
    CHECK(got.status().message() == "fake error " + std::to_string(static_cast<int>(c.wire)));
  }
}

TEST_CASE("a connection the node closed while it sat unused is made again for the next request") {
  FakeNodeThread node({.close_after_answer = 1});
  std::unique_ptr<Client> client = ConnectTo(node.address());
  REQUIRE(client->Put("k", "v").ok());
  // The node closes the connection after its answer, as an idle timeout
  // would; the client's loop does not run meanwhile.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  Result<GetReply> got = client->Get("k");
  REQUIRE(got.ok());
  REQUIRE(got->siblings.size() == 1);
  CHECK(got->siblings[0].value == "v");
  CHECK(node.requests_seen() == 2);
}

TEST_CASE("a node that closes mid-flight fails every outstanding call with UNAVAILABLE") {
  FakeNodeThread node({.answer_batch = 100, .close_after = 5});
  std::unique_ptr<Client> client = ConnectTo(node.address());
  std::vector<Request> requests(5, MakeGet("k", {}));
  std::vector<Result<Response>> answers = client->Pipeline(std::move(requests));
  REQUIRE(answers.size() == 5);
  for (const Result<Response>& answer : answers) {
    CHECK(answer.status().code() == Code::kUnavailable);
    CHECK(answer.status().message().find(node.address().ToString()) != std::string::npos);
  }
  // The connection is gone: later calls fail at once rather than hang.
  CHECK(client->Ping().status().code() == Code::kUnavailable);
}

TEST_CASE("an id-0 Error from the node fails every call in flight with that error") {
  FakeNodeThread node({.answer_batch = 100, .connection_error_after = 3});
  std::unique_ptr<Client> client = ConnectTo(node.address());
  std::vector<Result<Response>> answers = client->Pipeline({MakePing(), MakePing(), MakePing()});
  REQUIRE(answers.size() == 3);
  for (const Result<Response>& answer : answers) {
    CHECK(answer.status().code() == Code::kTooLarge);
    CHECK(answer.status().message() == FakeNode::kConnectionError);
  }
}

TEST_CASE("a response over max_frame_bytes fails the call with TOO_LARGE") {
  FakeNodeThread node;
  Options options;
  options.node = node.address();
  options.max_frame_bytes = 1000;
  Result<std::unique_ptr<Client>> client = Client::Connect(options);
  REQUIRE(client.ok());
  // The fake node echoes the value in the Put's response, as a node does.
  Result<GetReply> got = (*client)->Put("big", std::string(5000, 'b'));
  REQUIRE_FALSE(got.ok());
  CHECK(got.status().code() == Code::kTooLarge);
  CAPTURE(got.status().message());
  CHECK(got.status().message().find("exceeds limit 1000") != std::string::npos);
}

}  // namespace
}  // namespace dynkv::client
