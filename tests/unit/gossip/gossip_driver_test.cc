// gossip::GossipDriver on the simulator's Env: timers on a manual clock, and
// peer calls carried by a small in-test network between drivers, which can
// refuse (a crashed node) or silently drop (a paused or cut-off node).
#include "gossip/gossip_driver.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/log.h"
#include "peer.pb.h"
#include "sim/sim_env.h"
#include "sim_gossip_util.h"

namespace dynkv::gossip {
namespace {

using sim_test::EnvOptions;
using sim_test::kIntervalMs;
using sim_test::Network;
using sim_test::PeerAddressOf;

DriverOptions Options(const std::string& id, std::vector<std::string> seeds, std::string cluster = "dynkv") {
  DriverOptions options;
  options.self.node_id = id;
  options.self.generation = 1'000;
  options.self.client_address = id + ".test:6000";
  options.self.peer_address = PeerAddressOf(id);
  options.self.tokens = {std::hash<std::string>()(id)};
  options.self.status = NodeStatus::kNormal;
  options.gossip.cluster_name = std::move(cluster);
  options.gossip.interval_ms = kIntervalMs;
  options.gossip.seeds = std::move(seeds);
  return options;
}

// One node: its env and its driver, listening on the network.
class Node {
 public:
  Node(sim::SimLoop& loop, sim::SimRandom& random, Network& net, DriverOptions options)
      : env_(loop, random, net, EnvOptions(options.self.node_id)) {
    const std::string address = options.self.peer_address;
    auto driver = GossipDriver::Create(env_, std::move(options));
    REQUIRE(driver.ok());
    driver_ = std::move(*driver);
    net.Listen(address, [this](const peer::PeerRequest& request, GossipDriver::Reply& reply) {
      return driver_->Handle(request, reply);
    });
  }
  GossipDriver& driver() { return *driver_; }
  const Gossiper& gossiper() { return driver_->gossiper(); }

 private:
  sim::SimEnv env_;
  std::unique_ptr<GossipDriver> driver_;
};

class Fixture {
 public:
  Fixture() : net(loop) { SetLogLevel(LogLevel::kError); }  // the drivers log every join and change
  std::unique_ptr<Node> Add(DriverOptions options) {
    return std::make_unique<Node>(loop, random, net, std::move(options));
  }

  sim::SimLoop loop;
  sim::SimRandom random{5};
  Network net;
};

// What Handle answered, synchronously.
struct Answer {
  int calls = 0;
  peer::PeerResponse response;
  GossipDriver::Reply Reply() {
    return [this](peer::PeerResponse r) {
      ++calls;
      response = std::move(r);
    };
  }
};

TEST_CASE("a round runs every interval on the env timer and sends its SYN through CallPeer") {
  Fixture f;
  auto a = f.Add(Options("a", {PeerAddressOf("b")}));  // a seed nobody runs yet
  int on_round = 0;
  a->driver().SetOnRound([&] { ++on_round; });
  CHECK(a->driver().rounds() == 0);
  REQUIRE(a->driver().Start().ok());

  f.loop.RunFor(kIntervalMs - 1);
  CHECK(a->driver().rounds() == 0);
  f.loop.RunFor(1);
  CHECK(a->driver().rounds() == 1);
  f.loop.RunFor(9 * kIntervalMs);
  CHECK(a->driver().rounds() == 10);
  CHECK(on_round == 10);

  // A node that knows nobody gossips to its seed every round.
  const size_t syns = f.net.Count(PeerAddressOf("a"), peer::PeerRequest::kGossipSyn);
  CHECK(syns >= 10);
  REQUIRE(!f.net.sent.empty());
  const Network::Sent& first = f.net.sent.front();
  CHECK(first.to == PeerAddressOf("b"));
  CHECK(first.request.from_node() == "a");
  CHECK(first.request.gossip_syn().cluster_name() == "dynkv");
  CHECK(first.request.gossip_syn().digests_size() >= 1);

  a->driver().Stop();
  a->driver().Stop();  // idempotent
  f.loop.RunFor(10 * kIntervalMs);
  CHECK(a->driver().rounds() == 10);
  CHECK(f.net.Count(PeerAddressOf("a"), peer::PeerRequest::kGossipSyn) == syns);
}

TEST_CASE("two drivers learn each other through SYN, ACK and ACK2 and judge each other up") {
  Fixture f;
  auto a = f.Add(Options("a", {PeerAddressOf("b")}));
  auto b = f.Add(Options("b", {}));
  REQUIRE(a->driver().Start().ok());
  REQUIRE(b->driver().Start().ok());
  f.loop.RunFor(10 * kIntervalMs);

  REQUIRE(a->gossiper().Find("b") != nullptr);
  REQUIRE(b->gossiper().Find("a") != nullptr);
  CHECK(a->gossiper().IsUp("b"));
  CHECK(b->gossiper().IsUp("a"));
  CHECK(b->gossiper().Find("a")->tokens == std::vector<uint64_t>{std::hash<std::string>()("a")});
  CHECK(f.net.Count(PeerAddressOf("a"), peer::PeerRequest::kGossipAck2) +
            f.net.Count(PeerAddressOf("b"), peer::PeerRequest::kGossipAck2) >=
        1);
  // b found a by a's SYNs alone, and answers it by gossiping back.
  CHECK(f.net.Count(PeerAddressOf("b"), peer::PeerRequest::kGossipSyn) >= 1);

  std::map<std::string, double> stats;
  a->driver().FillStats(&stats);
  CHECK(stats.at("gossip.rounds") == 10);
  CHECK(stats.at("gossip.peers_up") == 1);
  CHECK(stats.count("failure_detector.phi.b") == 1);
}

TEST_CASE("Handle answers SYN with an ACK, ACK2 and leave notices with an empty response, and nothing else") {
  Fixture f;
  auto a = f.Add(Options("a", {}));
  auto b = f.Add(Options("b", {}));

  SUBCASE("SYN") {
    peer::PeerRequest request;
    request.set_from_node("a");
    ToProto(a->gossiper().MakeSyn(), request.mutable_gossip_syn());
    Answer answer;
    GossipDriver::Reply reply = answer.Reply();
    REQUIRE(b->driver().Handle(request, reply));
    REQUIRE(answer.calls == 1);
    REQUIRE(answer.response.has_gossip_ack());
    // b has never heard of a: it asks for a's whole state.
    REQUIRE(answer.response.gossip_ack().requests_size() >= 1);
    CHECK(answer.response.gossip_ack().requests(0).node_id() == "a");
  }
  SUBCASE("ACK2") {
    peer::PeerRequest request;
    request.set_from_node("a");
    ToProto(Ack2{{a->gossiper().self()}}, request.mutable_gossip_ack2());
    Answer answer;
    GossipDriver::Reply reply = answer.Reply();
    REQUIRE(b->driver().Handle(request, reply));
    REQUIRE(answer.calls == 1);
    CHECK(!answer.response.has_error());
    CHECK(!answer.response.has_gossip_ack());
    REQUIRE(b->gossiper().Find("a") != nullptr);  // applied
    CHECK(b->gossiper().Find("a")->peer_address == PeerAddressOf("a"));
  }
  SUBCASE("leave notice") {
    // b learns a first, then a says it left.
    peer::PeerRequest ack2;
    ack2.set_from_node("a");
    ToProto(Ack2{{a->gossiper().self()}}, ack2.mutable_gossip_ack2());
    Answer first;
    GossipDriver::Reply first_reply = first.Reply();
    REQUIRE(b->driver().Handle(ack2, first_reply));

    NodeState left = a->gossiper().self();
    left.status = NodeStatus::kLeft;
    left.status_version = left.MaxVersion() + 1;
    peer::PeerRequest request;
    request.set_from_node("a");
    ToProto(LeaveNotice{left}, request.mutable_leave());
    Answer answer;
    GossipDriver::Reply reply = answer.Reply();
    REQUIRE(b->driver().Handle(request, reply));
    REQUIRE(answer.calls == 1);
    CHECK(!answer.response.has_error());
    REQUIRE(b->gossiper().Find("a") != nullptr);
    CHECK(b->gossiper().Find("a")->status == NodeStatus::kLeft);
  }
  SUBCASE("a leave notice without the LEFT status is an error") {
    peer::PeerRequest request;
    request.set_from_node("a");
    ToProto(LeaveNotice{a->gossiper().self()}, request.mutable_leave());
    Answer answer;
    GossipDriver::Reply reply = answer.Reply();
    REQUIRE(b->driver().Handle(request, reply));
    REQUIRE(answer.calls == 1);
    CHECK(answer.response.has_error());
  }
  SUBCASE("a malformed SYN is an error, not a crash") {
    peer::PeerRequest request;
    request.set_from_node("a");
    request.mutable_gossip_syn()->set_cluster_name("dynkv");
    peer::GossipDigest* digest = request.mutable_gossip_syn()->add_digests();
    digest->set_node_id("");  // no node id
    digest->set_generation(1);
    Answer answer;
    GossipDriver::Reply reply = answer.Reply();
    REQUIRE(b->driver().Handle(request, reply));
    REQUIRE(answer.calls == 1);
    REQUIRE(answer.response.has_error());
    CHECK(answer.response.error().code() == peer::PEER_INVALID_ARGUMENT);
  }
  SUBCASE("other requests are not gossip") {
    Answer answer;
    GossipDriver::Reply reply = answer.Reply();
    peer::PeerRequest read;
    read.mutable_replica_read()->set_key("k");
    CHECK(!b->driver().Handle(read, reply));
    peer::PeerRequest batch;
    batch.mutable_hint_batch();
    CHECK(!b->driver().Handle(batch, reply));
    CHECK(answer.calls == 0);
    REQUIRE(static_cast<bool>(reply));  // left for the next handler
  }
}

TEST_CASE("a SYN from another cluster gets PEER_WRONG_CLUSTER and teaches nothing") {
  Fixture f;
  auto stranger = f.Add(Options("x", {PeerAddressOf("b")}, "other-cluster"));
  auto b = f.Add(Options("b", {}));

  peer::PeerRequest request;
  request.set_from_node("x");
  ToProto(stranger->gossiper().MakeSyn(), request.mutable_gossip_syn());
  Answer answer;
  GossipDriver::Reply reply = answer.Reply();
  REQUIRE(b->driver().Handle(request, reply));
  REQUIRE(answer.calls == 1);
  REQUIRE(answer.response.has_error());
  CHECK(answer.response.error().code() == peer::PEER_WRONG_CLUSTER);
  CHECK(!answer.response.has_gossip_ack());

  // Over the network, round after round: neither side learns the other.
  REQUIRE(stranger->driver().Start().ok());
  REQUIRE(b->driver().Start().ok());
  f.loop.RunFor(20 * kIntervalMs);
  CHECK(f.net.Count(PeerAddressOf("x"), peer::PeerRequest::kGossipSyn) >= 1);
  CHECK(b->gossiper().Find("x") == nullptr);
  CHECK(stranger->gossiper().Find("b") == nullptr);
}

TEST_CASE("a refused connection marks the peer down at once; a silent peer waits for phi") {
  Fixture f;
  auto a = f.Add(Options("a", {PeerAddressOf("b")}));
  auto b = f.Add(Options("b", {}));
  REQUIRE(a->driver().Start().ok());
  REQUIRE(b->driver().Start().ok());
  f.loop.RunFor(20 * kIntervalMs);
  REQUIRE(a->gossiper().IsUp("b"));

  SUBCASE("refused: direct evidence") {
    b->driver().Stop();
    f.net.crashed.insert(PeerAddressOf("b"));
    f.loop.RunFor(3 * kIntervalMs);  // a's next SYN is refused
    CHECK(!a->gossiper().IsUp("b"));
    std::map<std::string, double> stats;
    a->driver().FillStats(&stats);
    CHECK(stats.at("gossip.evidence_reports") >= 1);
    CHECK(stats.at("gossip.peers_down") == 1);
  }
  SUBCASE("silent: timeouts are not evidence") {
    b->driver().Stop();
    f.net.silent.insert(PeerAddressOf("b"));
    f.loop.RunFor(3 * kIntervalMs);
    CHECK(a->gossiper().IsUp("b"));
    f.loop.RunFor(50 * kIntervalMs);  // phi convicts it in time
    CHECK(!a->gossiper().IsUp("b"));
    std::map<std::string, double> stats;
    a->driver().FillStats(&stats);
    CHECK(stats.at("gossip.evidence_reports") == 0);
  }
}

TEST_CASE("Leave pushes the LEFT state to every live peer and calls done once they replied") {
  Fixture f;
  auto a = f.Add(Options("a", {PeerAddressOf("b")}));
  auto b = f.Add(Options("b", {PeerAddressOf("a")}));
  auto c = f.Add(Options("c", {PeerAddressOf("a")}));
  REQUIRE(a->driver().Start().ok());
  REQUIRE(b->driver().Start().ok());
  REQUIRE(c->driver().Start().ok());
  f.loop.RunFor(30 * kIntervalMs);
  REQUIRE(a->gossiper().IsUp("b"));
  REQUIRE(a->gossiper().IsUp("c"));

  a->driver().Stop();
  int done = 0;
  a->driver().Leave([&] { ++done; });
  CHECK(f.net.Count(PeerAddressOf("a"), peer::PeerRequest::kLeave) == 2);
  CHECK(done == 0);
  f.loop.RunFor(10);
  CHECK(done == 1);
  CHECK(b->gossiper().Find("a")->status == NodeStatus::kLeft);
  CHECK(c->gossiper().Find("a")->status == NodeStatus::kLeft);
}

TEST_CASE("Leave to an unanswering peer finishes after leave_timeout_ms") {
  Fixture f;
  DriverOptions options = Options("a", {PeerAddressOf("b")});
  options.leave_timeout_ms = 500;
  auto a = f.Add(options);
  auto b = f.Add(Options("b", {}));
  REQUIRE(a->driver().Start().ok());
  REQUIRE(b->driver().Start().ok());
  f.loop.RunFor(20 * kIntervalMs);
  REQUIRE(a->gossiper().IsUp("b"));

  f.net.silent.insert(PeerAddressOf("b"));
  int done = 0;
  a->driver().Leave([&] { ++done; });
  f.loop.RunFor(499);
  CHECK(done == 0);
  f.loop.RunFor(2);
  CHECK(done == 1);
}

}  // namespace
}  // namespace dynkv::gossip
