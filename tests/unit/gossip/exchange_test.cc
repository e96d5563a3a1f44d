// The digest exchange and the merge rules: what a SYN, ACK and ACK2 carry,
// and which remote states win.
#include <doctest/doctest.h>

#include <algorithm>

#include "gossip/gossip.h"
#include "gossip_test_util.h"

namespace dynkv::gossip {
namespace {

using test::Exchange;
using test::MakeNode;

const NodeState* StateIn(const std::vector<NodeState>& states, const std::string& node_id) {
  auto it =
      std::find_if(states.begin(), states.end(), [&](const NodeState& s) { return s.node_id == node_id; });
  return it == states.end() ? nullptr : &*it;
}

TEST_CASE("a SYN has one digest per known node, and a first exchange teaches both sides everything") {
  auto a = MakeNode("a", 10);
  auto b = MakeNode("b", 20);
  Syn syn = a->MakeSyn();
  REQUIRE(syn.digests.size() == 1);
  CHECK(syn.digests[0] == GossipDigest{"a", 10, a->self().MaxVersion()});

  Result<Ack> ack = b->OnSyn("a", syn, 0);
  REQUIRE(ack.ok());
  // b does not know a: it asks for all of it, and pushes itself (a did not list b).
  REQUIRE(ack->requests.size() == 1);
  CHECK(ack->requests[0] == GossipDigest{"a", 10, 0});
  REQUIRE(ack->states.size() == 1);
  CHECK(ack->states[0] == b->self());

  std::optional<Ack2> ack2 = a->OnAck(b->self().peer_address, *ack, 0);
  REQUIRE(ack2.has_value());
  REQUIRE(ack2->states.size() == 1);
  CHECK(ack2->states[0] == a->self());
  b->OnAck2("a", *ack2, 0);

  REQUIRE(a->Find("b") != nullptr);
  REQUIRE(b->Find("a") != nullptr);
  CHECK(*a->Find("b") == b->self());
  CHECK(*b->Find("a") == a->self());
  CHECK(a->MakeSyn().digests.size() == 2);
}

TEST_CASE("digests and deltas carry only the fields newer than the other side has") {
  auto a = MakeNode("a", 10);
  auto b = MakeNode("b", 20);
  Exchange(*a, *b, 0);
  const uint64_t b_knows_a = b->Find("a")->MaxVersion();

  a->SetTokens({7, 8, 9});
  b->Tick(100);  // b's heartbeat moves on
  Result<Ack> ack = b->OnSyn("a", a->MakeSyn(), 100);
  REQUIRE(ack.ok());
  // b asks for a's fields above what it has, and sends only its new heartbeat.
  REQUIRE(ack->requests.size() == 1);
  CHECK(ack->requests[0] == GossipDigest{"a", 10, b_knows_a});
  REQUIRE(ack->states.size() == 1);
  const NodeState& b_delta = ack->states[0];
  CHECK(b_delta.heartbeat == b->self().heartbeat);
  CHECK(b_delta.status_version == 0);
  CHECK(b_delta.addresses_version == 0);
  CHECK(b_delta.tokens_version == 0);
  CHECK(b_delta.location_version == 0);
  CHECK_FALSE(b_delta.IsComplete());

  std::optional<Ack2> ack2 = a->OnAck(b->self().peer_address, *ack, 100);
  REQUIRE(ack2.has_value());
  REQUIRE(ack2->states.size() == 1);
  const NodeState& a_delta = ack2->states[0];
  CHECK(a_delta.tokens == std::vector<uint64_t>{7, 8, 9});
  CHECK(a_delta.tokens_version > b_knows_a);
  CHECK(a_delta.heartbeat == 0);  // a's heartbeat did not move
  CHECK(a_delta.status_version == 0);
  CHECK(a_delta.addresses_version == 0);

  b->OnAck2("a", *ack2, 100);
  CHECK(*b->Find("a") == a->self());
  CHECK(*a->Find("b") == b->self());
}

TEST_CASE("nodes in step exchange nothing beyond the digests") {
  auto a = MakeNode("a", 10);
  auto b = MakeNode("b", 20);
  Exchange(*a, *b, 0);
  Result<Ack> ack = b->OnSyn("a", a->MakeSyn(), 0);
  REQUIRE(ack.ok());
  CHECK(ack->requests.empty());
  CHECK(ack->states.empty());
  CHECK_FALSE(a->OnAck(b->self().peer_address, *ack, 0).has_value());
}

TEST_CASE("a node learns third parties from whoever knows them") {
  auto a = MakeNode("a", 10);
  auto b = MakeNode("b", 20);
  auto c = MakeNode("c", 30);
  Exchange(*b, *a, 0);
  Exchange(*c, *a, 0);  // a now knows b and c; c learns b from a's ACK
  REQUIRE(c->Find("b") != nullptr);
  CHECK(*c->Find("b") == b->self());
  Exchange(*a, *b, 0);  // b learns c from a's SYN digests (it asks) or pushes
  REQUIRE(b->Find("c") != nullptr);
  CHECK(*b->Find("c") == c->self());
}

TEST_CASE("a state from an older generation is ignored") {
  auto a_old = MakeNode("a", 10);
  auto a_new = MakeNode("a", 11);
  auto b = MakeNode("b", 20);
  Exchange(*a_new, *b, 0);
  for (int i = 0; i < 50; ++i) a_old->Tick(i);  // the old incarnation has higher versions
  a_old->SetStatus(NodeStatus::kLeaving);
  b->OnAck2("a", Ack2{{a_old->self()}}, 100);
  CHECK(*b->Find("a") == a_new->self());

  // And a SYN with the stale digest gets a's current state back.
  Result<Ack> ack = b->OnSyn("x", Syn{"dynkv", {{"a", 10, 1000}}}, 100);
  REQUIRE(ack.ok());
  const NodeState* pushed = StateIn(ack->states, "a");
  REQUIRE(pushed != nullptr);
  CHECK(*pushed == a_new->self());
  CHECK(ack->requests.empty());
}

TEST_CASE("a newer generation replaces the whole state and is reported as a restart") {
  auto a = MakeNode("a", 10);
  auto b = MakeNode("b", 20);
  test::RecordingListener events;
  b->AddListener(&events);
  Exchange(*a, *b, 0);
  CHECK(events.Take() == std::vector<std::string>{"join:a"});

  auto a2 = MakeNode("a", 11);  // restarted: new generation, new tokens, versions from 1 again
  a2->SetStatus(NodeStatus::kJoining);
  Exchange(*a2, *b, 100);
  CHECK(events.Take() == std::vector<std::string>{"restart:a"});
  CHECK(*b->Find("a") == a2->self());
  CHECK(b->Find("a")->status == NodeStatus::kJoining);
}

TEST_CASE("an incomplete state for an unknown node or a new generation is rejected") {
  auto a = MakeNode("a", 10);
  auto b = MakeNode("b", 20);
  b->OnAck2("a", Ack2{{a->self().DeltaAbove(2)}}, 0);
  CHECK(b->Find("a") == nullptr);
  CHECK(b->Stats().states_rejected == 1);

  Exchange(*a, *b, 0);
  auto a2 = MakeNode("a", 11);
  b->OnAck2("a", Ack2{{a2->self().DeltaAbove(3)}}, 0);
  CHECK(b->Find("a")->generation == 10);
  CHECK(b->Stats().states_rejected == 2);
}

TEST_CASE("a node is the only authority on its own state") {
  auto a = MakeNode("a", 10);
  auto b = MakeNode("b", 20);
  Exchange(*a, *b, 0);
  NodeState forged = a->self();
  forged.status = NodeStatus::kLeft;
  forged.status_version = a->self().MaxVersion() + 100;
  const NodeState before = a->self();
  a->OnAck2("b", Ack2{{forged}}, 0);
  CHECK(a->self() == before);
}

TEST_CASE("a SYN from another cluster is refused") {
  auto a = MakeNode("a", 10);
  auto b = MakeNode("b", 20);
  Syn syn = a->MakeSyn();
  syn.cluster_name = "other";
  Result<Ack> ack = b->OnSyn("a", syn, 0);
  REQUIRE_FALSE(ack.ok());
  CHECK(ack.status().code() == Code::kInvalidArgument);
  CHECK(b->Find("a") == nullptr);
}

}  // namespace
}  // namespace dynkv::gossip
