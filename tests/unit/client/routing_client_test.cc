// RoutingClient against FakeNodes on one loop that answer Ring with a
// scripted ring: where each key's request goes, and what happens when a
// node is down or a connection breaks.
#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <optional>
#include <random>

#include "client/routing_client.h"
#include "common/key_hash.h"
#include "fake_node.h"
#include "ring/ring.h"

namespace dynkv::client {
namespace {

constexpr uint32_t kN = 2;

// Three fake nodes "a", "b", "c" with 8 tokens each, on one loop; each
// answers Ring with all three and records the keys it is sent.
struct ThreeNodes {
  ThreeNodes() {
    uv_loop_init(&loop);
    std::mt19937_64 random(42);
    for (const char* id : {"a", "b", "c"}) {
      auto node = std::make_unique<FakeNode>(&loop, FakeNodeOptions{});
      for (int i = 0; i < 8; ++i) tokens[id].push_back(random());
      const std::string name = id;
      node->on_request = [this, name](const Request& request) {
        if (request.has_ring()) ++ring_requests[name];
        if (request.has_put()) got[request.put().key()] = name;
        if (request.has_get()) got[request.get().key()] = name;
      };
      by_address[node->address().ToString()] = id;
      nodes[id] = std::move(node);
    }
    RingResponse ring;
    ring.set_n(kN);
    for (const auto& [id, node] : nodes) {
      RingShare* share = ring.add_shares();
      share->set_node_id(id);
      for (uint64_t token : tokens[id]) share->add_positions(token);
      share->set_client_address(node->address().ToString());
    }
    for (auto& [id, node] : nodes) node->ring = ring;
  }
  ~ThreeNodes() {
    for (auto& [id, node] : nodes) node->Close();
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
  }

  // The key's preference list by the nodes' own rules.
  std::vector<std::string> Replicas(const std::string& key) const {
    std::vector<std::string> ids;
    for (const ring::Replica& r : ring::Ring(tokens).PreferenceList(KeyPosition(key), kN)) ids.push_back(r.node_id);
    return ids;
  }
  // A key whose first replica is `id`.
  std::string KeyOwnedBy(const std::string& id) const {
    for (int i = 0;; ++i) {
      std::string key = "key-" + std::to_string(i);
      if (Replicas(key)[0] == id) return key;
    }
  }
  // A key whose replicas are `first` and `second`, in either order.
  std::string KeyReplicatedBy(const std::string& first, const std::string& second) const {
    for (int i = 0;; ++i) {
      std::string key = "key-" + std::to_string(i);
      std::vector<std::string> ids = Replicas(key);
      if ((ids[0] == first && ids[1] == second) || (ids[0] == second && ids[1] == first)) return key;
    }
  }
  RoutingOptions Contacts(std::vector<std::string> ids) const {
    RoutingOptions options;
    for (const std::string& id : ids) options.nodes.push_back(nodes.at(id)->address());
    return options;
  }
  // Runs the loop for `ms` of real time.
  void RunFor(uint64_t ms) {
    uv_timer_t timer;
    uv_timer_init(&loop, &timer);
    uv_timer_start(&timer, [](uv_timer_t*) {}, ms, 0);
    while (uv_run(&loop, UV_RUN_ONCE) != 0 && uv_is_active(reinterpret_cast<uv_handle_t*>(&timer))) {
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
    uv_run(&loop, UV_RUN_NOWAIT);
  }

  uv_loop_t loop;
  ring::TokenMap tokens;
  std::map<std::string, std::unique_ptr<FakeNode>> nodes;
  std::map<std::string, std::string> by_address;  // client address -> id
  std::map<std::string, std::string> got;         // key -> the node its last request reached
  std::map<std::string, int> ring_requests;
};

// A callback that keeps the answer.
AsyncClient::Callback Collect(std::vector<Result<Response>>* answers) {
  return [answers](Result<Response> answer) { answers->push_back(std::move(answer)); };
}

void RunUntil(uv_loop_t* loop, const std::function<bool()>& done) {
  while (!done() && uv_run(loop, UV_RUN_ONCE) != 0) {
  }
}

// Starts `client`: its first ring fetch.
Status Start(uv_loop_t* loop, RoutingClient& client) {
  std::optional<Status> started;
  client.Start([&](Status status) { started = status; });
  RunUntil(loop, [&] { return started.has_value(); });
  return started.value_or(Status::Internal("the loop stopped before the client started"));
}

TEST_CASE("each key's request goes to the first replica of its preference list, as the nodes place it") {
  ThreeNodes cluster;
  RoutingClient client(&cluster.loop, cluster.Contacts({"a"}));
  REQUIRE(Start(&cluster.loop, client).ok());
  CHECK(client.ring_nodes() == 3);

  std::vector<Result<Response>> answers;
  std::map<std::string, int> per_node;
  for (int i = 0; i < 60; ++i) {
    const std::string key = "key-" + std::to_string(i);
    client.Call(i % 2 == 0 ? MakePut(key, "v", {}) : MakeGet(key, {}), Collect(&answers));
  }
  RunUntil(&cluster.loop, [&] { return answers.size() == 60; });
  for (const Result<Response>& answer : answers) CHECK(answer.ok());
  for (int i = 0; i < 60; ++i) {
    const std::string key = "key-" + std::to_string(i);
    CHECK_MESSAGE(cluster.got[key] == cluster.Replicas(key)[0], key);
    CHECK(cluster.by_address[client.RouteOf(key)] == cluster.Replicas(key)[0]);
    ++per_node[cluster.got[key]];
  }
  CHECK(per_node.size() == 3);  // the test covers every node
  client.Close();
}

TEST_CASE("a node that is down is tried last; the ring is fetched again soon after") {
  ThreeNodes cluster;
  RoutingClient client(&cluster.loop, cluster.Contacts({"a"}));
  REQUIRE(Start(&cluster.loop, client).ok());

  cluster.nodes["b"]->Close();  // nothing listens there now
  const std::string key = cluster.KeyOwnedBy("b");
  std::vector<Result<Response>> answers;
  // Never connected, so never sent: the write goes on to the next replica.
  client.Call(MakePut(key, "v1", {}), Collect(&answers));
  RunUntil(&cluster.loop, [&] { return answers.size() == 1; });
  CHECK(answers[0].ok());
  CHECK(cluster.got[key] == cluster.Replicas(key)[1]);
  // b is believed down: the next request goes to the second replica first.
  CHECK(cluster.by_address[client.RouteOf(key)] == cluster.Replicas(key)[1]);
  client.Call(MakeGet(key, {}), Collect(&answers));
  RunUntil(&cluster.loop, [&] { return answers.size() == 2; });
  REQUIRE(answers[1].ok());
  CHECK(answers[1]->get().siblings(0).value() == "v1");

  // The failure asked for a refresh, due a second after the first fetch.
  const int fetched = cluster.ring_requests["a"] + cluster.ring_requests["c"];
  cluster.RunFor(1600);
  CHECK(cluster.ring_requests["a"] + cluster.ring_requests["c"] == fetched + 1);
  client.Close();
}

TEST_CASE("a read whose replicas and contact nodes are all down goes on to the ring's other nodes") {
  ThreeNodes cluster;
  RoutingClient client(&cluster.loop, cluster.Contacts({"a"}));
  REQUIRE(Start(&cluster.loop, client).ok());
  cluster.nodes["a"]->Close();
  cluster.nodes["b"]->Close();
  const std::string key = cluster.KeyReplicatedBy("a", "b");
  std::vector<Result<Response>> answers;
  client.Call(MakeGet(key, {}), Collect(&answers));
  RunUntil(&cluster.loop, [&] { return answers.size() == 1; });
  CHECK(answers[0].ok());
  CHECK(cluster.got[key] == "c");
  client.Close();
}

TEST_CASE("a write after the node closed an idle connection goes out on a new one") {
  ThreeNodes three;
  RoutingClient client(&three.loop, three.Contacts({"a"}));
  REQUIRE(Start(&three.loop, client).ok());
  const std::string key = three.KeyOwnedBy("b");
  std::vector<Result<Response>> answers;
  client.Call(MakePut(key, "one", {}), Collect(&answers));
  RunUntil(&three.loop, [&] { return answers.size() == 1; });
  REQUIRE(answers[0].ok());
  three.nodes["b"]->CloseConnections();  // as limits.idle_timeout does
  three.RunFor(50);
  client.Call(MakePut(key, "two", {}), Collect(&answers));
  RunUntil(&three.loop, [&] { return answers.size() == 2; });
  REQUIRE(answers[1].ok());
  CHECK_FALSE(answers[1]->has_error());
  CHECK(three.got[key] == "b");  // not taken for down: the key still goes to its replica
  client.Close();
}

TEST_CASE("a write whose connection broke after it was sent is not sent again; a read is") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    FakeNode breaks(&loop, {.close_after = 1});
    FakeNode breaks_too(&loop, {.close_after = 1});
    FakeNode stays(&loop, {});
    std::vector<Result<Response>> answers;
    RoutingOptions write_options{.nodes = {breaks.address(), stays.address()}, .routing = false};
    RoutingClient writer(&loop, write_options);
    writer.Call(MakePut("k", "v", {}), Collect(&answers));
    RunUntil(&loop, [&] { return answers.size() == 1; });
    REQUIRE(!answers[0].ok());
    CHECK(answers[0].status().code() == Code::kUnavailable);  // it may have been applied
    CHECK(stays.requests_seen() == 0);

    RoutingOptions read_options{.nodes = {breaks_too.address(), stays.address()}, .routing = false};
    RoutingClient reader(&loop, read_options);
    reader.Call(MakeGet("k", {}), Collect(&answers));
    RunUntil(&loop, [&] { return answers.size() == 2; });
    CHECK(answers[1].ok());
    CHECK(stays.requests_seen() == 1);
    writer.Close();
    reader.Close();
    breaks.Close();
    breaks_too.Close();
    stays.Close();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  CHECK(uv_loop_close(&loop) == 0);
}

}  // namespace
}  // namespace dynkv::client
