// gossip::RingTracker over real GossipDrivers on the simulator's Env: nodes
// gossip through a small in-test network, and the test holds each node's
// "persist tokens" callback to decide when (and whether) it succeeds.
#include "gossip/ring_tracker.h"

#include <doctest/doctest.h>

#include <algorithm>
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

struct NodeOptions {
  std::string id;
  std::vector<std::string> seeds;
  std::vector<uint64_t> tokens;  // empty: a new node that joins
  NodeStatus status = NodeStatus::kJoining;
  RingTrackerOptions ring;
  uint64_t generation = 1'000;
  bool tells_replication = true;  // false: a node of a version before the digest
};

// The persist calls of one node, each held until the test completes it.
struct PersistCalls {
  std::vector<std::vector<uint64_t>> tokens;
  std::vector<MovementRecord> records;
  std::vector<std::function<void(Status)>> done;
  size_t size() const { return tokens.size(); }
};

// One node: env, driver and ring tracker, wired as the node wires them.
class Node {
 public:
  Node(sim::SimLoop& loop, sim::SimRandom& random, Network& net, const NodeOptions& o)
      : env_(loop, random, net, EnvOptions(o.id)) {
    DriverOptions options;
    options.self.node_id = o.id;
    options.self.generation = o.generation;
    options.self.client_address = o.id + ".test:6000";
    options.self.peer_address = PeerAddressOf(o.id);
    options.self.tokens = o.tokens;
    options.self.status = o.status;
    if (o.tells_replication) {
      options.self.replication_digest = ring::ReplicationDigest(o.ring.replication_n, o.ring.datacenters);
    }
    options.gossip.interval_ms = kIntervalMs;
    options.gossip.seeds = o.seeds;
    auto driver = GossipDriver::Create(env_, std::move(options));
    REQUIRE(driver.ok());
    driver_ = std::move(*driver);
    tracker_ = std::make_unique<RingTracker>(
        *driver_, o.ring,
        [this](const std::vector<uint64_t>& tokens, const MovementRecord& record, std::function<void(Status)> done) {
          persist.tokens.push_back(tokens);
          persist.records.push_back(record);
          persist.done.push_back(std::move(done));
        });
    driver_->SetOnRound([this] { tracker_->OnRound(); });
    net.Listen(PeerAddressOf(o.id), [this](const peer::PeerRequest& request, GossipDriver::Reply& reply) {
      return driver_->Handle(request, reply);
    });
  }
  ~Node() {
    driver_->SetOnRound(nullptr);
    tracker_.reset();
  }

  GossipDriver& driver() { return *driver_; }
  RingTracker& tracker() { return *tracker_; }
  const NodeState& self() { return driver_->gossiper().self(); }
  const NodeState* Find(const std::string& id) { return driver_->gossiper().Find(id); }
  // What the membership does once the node's ranges have streamed in.
  void TurnNormal() {
    driver_->gossiper().SetStatus(NodeStatus::kNormal);
    tracker_->Invalidate();
  }
  void Start() { REQUIRE(driver_->Start().ok()); }

  PersistCalls persist;

 private:
  sim::SimEnv env_;
  std::unique_ptr<GossipDriver> driver_;
  std::unique_ptr<RingTracker> tracker_;
};

class Fixture {
 public:
  Fixture() : net(loop) { SetLogLevel(LogLevel::kError); }  // the drivers log every join and change
  std::unique_ptr<Node> Add(const NodeOptions& options) {
    return std::make_unique<Node>(loop, random, net, options);
  }
  void Rounds(int n) { loop.RunFor(n * kIntervalMs); }

  sim::SimLoop loop;
  sim::SimRandom random{9};
  Network net;
};

NodeOptions Joining(const std::string& id, std::vector<std::string> seeds, uint32_t delay_rounds,
                    uint32_t vnodes = 8) {
  NodeOptions o;
  o.id = id;
  o.seeds = std::move(seeds);
  o.ring.vnodes = vnodes;
  o.ring.join_delay_rounds = delay_rounds;
  return o;
}

bool SortedAndDistinct(const std::vector<uint64_t>& tokens) {
  return std::adjacent_find(tokens.begin(), tokens.end(), std::greater_equal<uint64_t>()) == tokens.end();
}

TEST_CASE("a node is not Ready before join_delay_rounds rounds, and Ready after") {
  Fixture f;
  auto a = f.Add(Joining("a", {}, /*delay_rounds=*/3));
  a->Start();
  CHECK(!a->tracker().Ready());
  f.Rounds(2);
  CHECK(a->driver().rounds() == 2);
  CHECK(!a->tracker().Ready());
  f.Rounds(1);
  CHECK(a->tracker().Ready());
  f.Rounds(5);
  CHECK(a->tracker().Ready());

  // With nobody to hear from, a node is Ready at once.
  auto alone = f.Add(Joining("z", {}, /*delay_rounds=*/0));
  CHECK(alone->tracker().Ready());
}

TEST_CASE("a joining node takes exactly vnodes tokens once Ready, persists them, then announces them, still JOINING") {
  Fixture f;
  auto a = f.Add(Joining("a", {}, /*delay_rounds=*/3, /*vnodes=*/8));
  a->Start();
  f.Rounds(2);
  CHECK(a->persist.size() == 0);  // not Ready: no tokens yet

  f.Rounds(1);
  REQUIRE(a->persist.size() == 1);
  const std::vector<uint64_t> tokens = a->persist.tokens[0];
  CHECK(tokens.size() == 8);
  CHECK(SortedAndDistinct(tokens));
  // Persisting: nothing announced yet.
  CHECK(a->self().status == NodeStatus::kJoining);
  CHECK(a->self().tokens.empty());
  CHECK(a->tracker().CurrentRing()->empty());
  f.Rounds(5);
  CHECK(a->persist.size() == 1);  // one allocation at a time

  CHECK(a->persist.records[0] == "join");
  a->persist.done[0](Status::Ok());
  // Pending: in the next ring, not yet in the current one that serves.
  CHECK(a->self().status == NodeStatus::kJoining);
  CHECK(a->self().tokens == tokens);
  CHECK(a->tracker().CurrentRing()->empty());
  CHECK(a->tracker().CurrentPlacement()->next().TokensOf("a") == tokens);
  CHECK(!a->tracker().CurrentPlacement()->still());
  a->TurnNormal();
  CHECK(a->tracker().CurrentRing()->TokensOf("a") == tokens);
  CHECK(a->tracker().CurrentPlacement()->still());
  f.Rounds(10);
  CHECK(a->persist.size() == 1);  // never again
}

TEST_CASE("a node's tokens reach the others only once persisted") {
  Fixture f;
  auto a = f.Add(Joining("a", {PeerAddressOf("b")}, /*delay_rounds=*/5));
  NodeOptions b_options;
  b_options.id = "b";
  b_options.tokens = {1'000, 2'000, 3'000};
  b_options.status = NodeStatus::kNormal;
  b_options.ring.join_delay_rounds = 0;
  auto b = f.Add(b_options);
  a->Start();
  b->Start();
  f.Rounds(5);
  REQUIRE(a->persist.size() == 1);
  // a allocated against the ring it heard: b's tokens are not taken again.
  for (uint64_t t : a->persist.tokens[0])
    CHECK(std::count(b_options.tokens.begin(), b_options.tokens.end(), t) == 0);

  f.Rounds(10);  // the persist is held; gossip goes on
  REQUIRE(b->Find("a") != nullptr);
  CHECK(b->Find("a")->status == NodeStatus::kJoining);
  CHECK(b->Find("a")->tokens.empty());
  CHECK(!b->tracker().CurrentRing()->HasNode("a"));

  a->persist.done[0](Status::Ok());
  f.Rounds(10);
  CHECK(b->Find("a")->status == NodeStatus::kJoining);
  CHECK(!b->tracker().CurrentRing()->HasNode("a"));
  CHECK(b->tracker().CurrentPlacement()->next().TokensOf("a") == a->persist.tokens[0]);
  a->TurnNormal();
  f.Rounds(10);
  CHECK(b->Find("a")->status == NodeStatus::kNormal);
  CHECK(b->tracker().CurrentRing()->TokensOf("a") == a->persist.tokens[0]);
}

TEST_CASE("a failed persist leaves the node JOINING and is retried on a later round") {
  Fixture f;
  auto a = f.Add(Joining("a", {}, /*delay_rounds=*/2));
  a->Start();
  f.Rounds(2);
  REQUIRE(a->persist.size() == 1);
  a->persist.done[0](Status::StorageError("disk full"));
  CHECK(a->self().status == NodeStatus::kJoining);
  CHECK(a->self().tokens.empty());

  f.Rounds(1);
  REQUIRE(a->persist.size() == 2);
  a->persist.done[1](Status::Ok());
  CHECK(a->self().status == NodeStatus::kJoining);
  CHECK(a->self().tokens == a->persist.tokens[1]);
}

TEST_CASE("StopJoining stops a node from taking tokens") {
  Fixture f;
  SUBCASE("before it is Ready") {
    auto a = f.Add(Joining("a", {}, /*delay_rounds=*/3));
    a->Start();
    f.Rounds(1);
    a->tracker().StopJoining();
    f.Rounds(10);
    CHECK(a->persist.size() == 0);
    CHECK(a->self().tokens.empty());
  }
  SUBCASE("while its tokens are being persisted") {
    auto a = f.Add(Joining("a", {}, /*delay_rounds=*/2));
    a->Start();
    f.Rounds(2);
    REQUIRE(a->persist.size() == 1);
    a->tracker().StopJoining();
    a->persist.done[0](Status::Ok());
    CHECK(a->self().tokens.empty());
    CHECK(a->self().status == NodeStatus::kJoining);
    f.Rounds(5);
    CHECK(a->persist.size() == 1);
  }
}

TEST_CASE("joining nodes take turns by node id: a smaller-id joining node that is up goes first") {
  Fixture f;
  auto a = f.Add(Joining("a", {PeerAddressOf("b")}, /*delay_rounds=*/5));
  auto b = f.Add(Joining("b", {PeerAddressOf("a")}, /*delay_rounds=*/5));
  a->Start();
  b->Start();
  f.Rounds(5);
  REQUIRE(b->tracker().Ready());
  REQUIRE(b->Find("a") != nullptr);
  REQUIRE(a->persist.size() == 1);  // a's turn
  CHECK(b->persist.size() == 0);    // b waits for a, which is up and has no tokens yet

  f.Rounds(10);  // however long a takes
  CHECK(b->persist.size() == 0);

  const std::vector<uint64_t> a_tokens = a->persist.tokens[0];
  a->persist.done[0](Status::Ok());
  f.Rounds(10);
  // One change at a time: b waits while a's join is under way.
  CHECK(b->persist.size() == 0);
  a->TurnNormal();
  f.Rounds(10);
  REQUIRE(b->persist.size() == 1);
  // b allocated against a's tokens, not against the same empty ring.
  for (uint64_t t : b->persist.tokens[0]) CHECK(std::count(a_tokens.begin(), a_tokens.end(), t) == 0);
  b->persist.done[0](Status::Ok());
  b->TurnNormal();
  f.Rounds(10);
  CHECK(a->tracker().CurrentRing()->nodes() == std::vector<std::string>{"a", "b"});
  CHECK(b->tracker().CurrentRing()->nodes() == std::vector<std::string>{"a", "b"});
}

TEST_CASE("a smaller-id joining node that is down does not hold the others up") {
  Fixture f;
  auto a = f.Add(Joining("a", {PeerAddressOf("b")}, /*delay_rounds=*/20));
  auto b = f.Add(Joining("b", {PeerAddressOf("a")}, /*delay_rounds=*/20));
  a->Start();
  b->Start();
  f.Rounds(5);
  REQUIRE(b->Find("a") != nullptr);
  // a crashes before its turn: its address refuses.
  a->driver().Stop();
  f.net.crashed.insert(PeerAddressOf("a"));
  f.Rounds(20);
  CHECK(!b->driver().gossiper().IsUp("a"));
  CHECK(a->persist.size() == 0);
  CHECK(b->persist.size() == 1);
}

TEST_CASE("CurrentRing holds the members' tokens and drops nodes without tokens and LEFT nodes") {
  Fixture f;
  NodeOptions a_options;
  a_options.id = "a";
  a_options.seeds = {PeerAddressOf("b")};
  a_options.tokens = {10, 20, 30};
  a_options.status = NodeStatus::kNormal;
  a_options.ring.join_delay_rounds = 2;
  NodeOptions b_options = a_options;
  b_options.id = "b";
  b_options.seeds = {PeerAddressOf("a")};
  b_options.tokens = {15, 25, 35};
  auto a = f.Add(a_options);
  auto b = f.Add(b_options);
  auto c =
      f.Add(Joining("c", {PeerAddressOf("a")}, /*delay_rounds=*/1'000));  // joining, never takes tokens here
  a->Start();
  b->Start();
  c->Start();
  f.Rounds(20);
  REQUIRE(a->Find("c") != nullptr);

  std::shared_ptr<const ring::Ring> ring = a->tracker().CurrentRing();
  CHECK(ring->nodes() == std::vector<std::string>{"a", "b"});
  CHECK(ring->TokensOf("a") == std::vector<uint64_t>{10, 20, 30});
  CHECK(ring->TokensOf("b") == std::vector<uint64_t>{15, 25, 35});
  CHECK(a->persist.size() == 0);  // a node that has tokens never takes more

  b->driver().Stop();
  bool left = false;
  b->driver().Leave([&] { left = true; });
  f.Rounds(1);
  REQUIRE(left);
  REQUIRE(a->Find("b") != nullptr);
  CHECK(a->Find("b")->status == NodeStatus::kLeft);
  CHECK(a->tracker().CurrentRing()->nodes() == std::vector<std::string>{"a"});
  f.Rounds(5);  // gossip carries the LEFT state to c too
  CHECK(!c->tracker().CurrentRing()->HasNode("b"));
  CHECK(c->tracker().CurrentRing()->HasNode("a"));
}

TEST_CASE("a node back on an empty disk under a known id takes its old tokens back and is REPLACING") {
  Fixture f;
  NodeOptions b_options;
  b_options.id = "b";
  b_options.tokens = {1'000, 2'000, 3'000};
  b_options.status = NodeStatus::kNormal;
  b_options.ring.join_delay_rounds = 0;
  b_options.seeds = {PeerAddressOf("a")};
  auto b = f.Add(b_options);
  NodeOptions old_a = b_options;
  old_a.id = "a";
  old_a.tokens = {1'500, 2'500};
  old_a.seeds = {PeerAddressOf("b")};
  auto a = f.Add(old_a);
  a->Start();
  b->Start();
  f.Rounds(10);
  REQUIRE(b->Find("a") != nullptr);
  REQUIRE(b->tracker().CurrentRing()->TokensOf("a") == old_a.tokens);
  // a loses its disk: it comes back with no tokens, a newer generation.
  a->driver().Stop();
  a.reset();
  NodeOptions new_a = Joining("a", {PeerAddressOf("b")}, /*delay_rounds=*/5);
  new_a.generation = 2'000;
  a = f.Add(new_a);
  a->Start();
  f.Rounds(5);
  REQUIRE(a->persist.size() == 1);
  CHECK(a->persist.tokens[0] == old_a.tokens);
  CHECK(a->persist.records[0] == "replace");
  a->persist.done[0](Status::Ok());
  CHECK(a->self().status == NodeStatus::kReplacing);
  f.Rounds(5);
  // In both rings with its tokens, but it serves nothing yet: pending for all of it.
  std::shared_ptr<const ring::Placement> placement = b->tracker().CurrentPlacement();
  CHECK(placement->current().TokensOf("a") == old_a.tokens);
  CHECK(!placement->Serving("a"));
  CHECK(!placement->GainedBy("a").empty());
}

TEST_CASE("nodes with another replication setting are named on both sides, until they leave") {
  Fixture f;
  const std::vector<std::string> seeds = {PeerAddressOf("a")};
  NodeOptions a = Joining("a", {}, 1), b = Joining("b", seeds, 1), c = Joining("c", seeds, 1),
              d = Joining("d", seeds, 1);
  c.ring.datacenters = {{"dc1", 3}};  // the same count, placed per datacenter: another placement
  d.ring.replication_n = 5;
  d.tells_replication = false;  // an older node says nothing: nothing to compare
  auto na = f.Add(a), nb = f.Add(b), nc = f.Add(c), nd = f.Add(d);
  for (auto* node : {na.get(), nb.get(), nc.get(), nd.get()}) node->Start();
  f.Rounds(30);
  CHECK(na->tracker().replication_differs() == std::set<std::string>{"c"});
  CHECK(nb->tracker().replication_differs() == std::set<std::string>{"c"});
  CHECK(nc->tracker().replication_differs() == std::set<std::string>{"a", "b"});
  CHECK(nd->tracker().replication_differs().empty());  // with no digest of its own it compares nothing

  nc->driver().gossiper().SetStatus(NodeStatus::kLeft);
  f.Rounds(30);
  CHECK(na->tracker().replication_differs().empty());
  CHECK(ring::ReplicationDigest(3, {}) != ring::ReplicationDigest(3, {{"dc1", 3}}));
  CHECK(ring::ReplicationDigest(3, {{"dc1", 2}, {"dc2", 1}}) ==
        ring::ReplicationDigest(7, {{"dc1", 2}, {"dc2", 1}}));
}

}  // namespace
}  // namespace dynkv::gossip
