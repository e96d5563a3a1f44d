// Racks and datacenters on whole simulated nodes (issue 17): the replicas
// of every key on distinct racks with each datacenter's count, and
// LOCAL_QUORUM never waiting on another datacenter: with the two
// datacenters cut apart, local_quorum reads and writes succeed on both
// sides while each_quorum and a cluster-wide quorum cannot.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "../storage/temp_dir.h"
#include "client/client.h"
#include "common/log.h"
#include "sim/sim_cluster.h"

namespace dynkv::sim {
namespace {

constexpr int64_t kConvergeMs = 60'000;
constexpr int64_t kReplyMs = 10'000;

// n1..n3 in dc1 and n4..n6 in dc2, one rack each per datacenter: r1..r3.
SimClusterOptions TwoDatacenters() {
  SimClusterOptions options;
  options.nodes = 6;
  options.vnodes = 8;
  options.replication.r = 2;
  options.replication.w = 2;
  options.replication.datacenters = {{"dc1", 3}, {"dc2", 2}};
  for (size_t i = 0; i < 6; ++i) {
    options.locations.push_back({i < 3 ? "dc1" : "dc2", "r" + std::to_string(i % 3 + 1)});
  }
  return options;
}

struct Fixture {
  storage::TempDir dir;
  SimCluster cluster{17, dir.path(), TwoDatacenters()};

  Fixture() {
    SetLogLevel(LogLevel::kError);
    REQUIRE(cluster.StartAll().ok());
    REQUIRE(cluster.RunUntil([this] { return cluster.Converged(); }, kConvergeMs));
    REQUIRE(cluster.MembershipSettled());
  }

  // Sends `request` from `client` to node i and runs until the reply.
  dynkv::client::Response Call(const std::string& client, size_t i, dynkv::client::Request request) {
    std::optional<dynkv::client::Response> reply;
    cluster.Request(client, i, std::move(request), [&reply](dynkv::client::Response r) { reply = std::move(r); });
    REQUIRE(cluster.RunUntil([&reply] { return reply.has_value(); }, kReplyMs));
    return *reply;
  }

  dynkv::client::Response Put(const std::string& client, size_t i, const std::string& key, uint32_t w) {
    dynkv::client::Request request;
    request.mutable_put()->set_key(key);
    request.mutable_put()->set_value(client + ":" + key);
    request.mutable_put()->set_w(w);
    return Call(client, i, std::move(request));
  }

  dynkv::client::Response Get(const std::string& client, size_t i, const std::string& key, uint32_t r) {
    dynkv::client::Request request;
    request.mutable_get()->set_key(key);
    request.mutable_get()->set_r(r);
    return Call(client, i, std::move(request));
  }

  // Cuts dc1 (and client "west") from dc2 (and client "east").
  void SplitDatacenters() {
    std::set<std::string> dc1{"west"}, dc2{"east"};
    for (size_t i = 0; i < 6; ++i) {
      (i < 3 ? dc1 : dc2).insert(cluster.peer_address(i));
      (i < 3 ? dc1 : dc2).insert(cluster.client_address(i));
    }
    cluster.network().Partition({dc1, dc2});
  }
};

std::vector<std::string> Values(const dynkv::client::Response& response) {
  std::vector<std::string> values;
  for (const auto& sibling : response.get().siblings()) values.push_back(sibling.value());
  return values;
}

}  // namespace

TEST_CASE("every key has 3 replicas in dc1 and 2 in dc2, each datacenter's on distinct racks") {
  Fixture f;
  for (int k = 0; k < 200; ++k) {
    const std::vector<size_t> replicas = f.cluster.ReplicasOf(0, "key" + std::to_string(k));
    REQUIRE(replicas.size() == 5);
    std::map<std::string, std::set<std::string>> racks;
    for (size_t i : replicas) racks[f.cluster.options().locations[i].datacenter].insert(
        f.cluster.options().locations[i].rack);
    CHECK(racks["dc1"].size() == 3);
    CHECK(racks["dc2"].size() == 2);
  }
}

TEST_CASE("with the datacenters cut apart, local_quorum reads and writes succeed on both sides") {
  Fixture f;
  f.SplitDatacenters();
  for (int k = 0; k < 20; ++k) {
    const std::string key = "key" + std::to_string(k);
    CAPTURE(key);
    const auto west = f.Put("west", 0, key, client::kLocalQuorum);
    CHECK_FALSE(west.has_error());
    const auto east = f.Put("east", 3 + k % 3, key, client::kLocalQuorum);
    CHECK_FALSE(east.has_error());
    // Each side reads its own write back, and never the other side's.
    CHECK(Values(f.Get("west", 1, key, client::kLocalQuorum)) == std::vector<std::string>{"west:" + key});
    CHECK(Values(f.Get("east", 4, key, client::kLocalQuorum)) == std::vector<std::string>{"east:" + key});
  }
  // A quorum of every datacenter, or of the whole cluster (3 of 5), cannot
  // be had on the side with 2 replicas; each_quorum on neither side.
  const auto each = f.Put("west", 0, "each", client::kEachQuorum);
  REQUIRE(each.has_error());
  CHECK(each.error().message().find("dc2") != std::string::npos);
  CHECK(f.Get("east", 3, "key1", client::kEachQuorum).has_error());
  CHECK(f.Put("east", 3, "other", client::kQuorum).has_error());
  // Healed, both writes are siblings everywhere: nothing was lost.
  f.cluster.network().Heal();
  REQUIRE(f.cluster.RunUntil([&f] { return f.cluster.Converged(); }, kConvergeMs));
  const auto both = f.Get("west", 2, "key1", client::kEachQuorum);
  REQUIRE_FALSE(both.has_error());
  std::vector<std::string> values = Values(both);
  std::sort(values.begin(), values.end());
  CHECK(values == std::vector<std::string>{"east:key1", "west:key1"});
}

TEST_CASE("local_quorum on a node of a datacenter that keeps no replica is refused") {
  storage::TempDir dir;
  SimClusterOptions options = TwoDatacenters();
  options.replication.datacenters = {{"dc1", 3}};
  SimCluster cluster{18, dir.path(), options};
  SetLogLevel(LogLevel::kError);
  REQUIRE(cluster.StartAll().ok());
  REQUIRE(cluster.RunUntil([&cluster] { return cluster.Converged(); }, kConvergeMs));
  std::optional<dynkv::client::Response> reply;
  dynkv::client::Request request;
  request.mutable_get()->set_key("k");
  request.mutable_get()->set_r(client::kLocalQuorum);
  cluster.Request("c", 4, request, [&reply](dynkv::client::Response r) { reply = std::move(r); });
  REQUIRE(cluster.RunUntil([&reply] { return reply.has_value(); }, kReplyMs));
  REQUIRE(reply->has_error());
  CHECK(reply->error().code() == dynkv::client::INVALID_ARGUMENT);
  CHECK(reply->error().message().find("dc2 keeps no replica") != std::string::npos);
}

}  // namespace dynkv::sim
