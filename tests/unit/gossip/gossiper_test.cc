// Up/down judgement, transport evidence, leaving and removal, the choice of
// gossip targets, and the events listeners get.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <numbers>

#include "gossip/gossip.h"
#include "gossip_test_util.h"

namespace dynkv::gossip {
namespace {

using test::Exchange;
using test::MakeNode;
using test::PeerAddress;
using test::RecordingListener;

constexpr int64_t kInterval = 100;  // GossipOptions' default

const Member& MemberOf(const std::vector<Member>& members, const std::string& node_id) {
  for (const Member& m : members) {
    if (m.state.node_id == node_id) return m;
  }
  FAIL("no member " << node_id);
  return members.front();
}

// Every node ticks and opens an exchange with the next one, for `rounds`
// rounds from `*now`, so all of them see each other's heartbeats move.
void RunRing(const std::vector<Gossiper*>& nodes, int rounds, int64_t* now) {
  for (int r = 0; r < rounds; ++r, *now += kInterval) {
    for (size_t i = 0; i < nodes.size(); ++i) {
      nodes[i]->Tick(*now);
      Exchange(*nodes[i], *nodes[(i + 1) % nodes.size()], *now);
    }
  }
}

TEST_CASE("a peer is up once its heartbeat advances, down after silence past phi, up on a newer heartbeat") {
  auto a = MakeNode("a", 10);
  auto b = MakeNode("b", 20);
  RecordingListener events;
  b->AddListener(&events);
  int64_t now = 0;
  Exchange(*a, *b, now);
  CHECK_FALSE(b->IsUp("a"));  // only remembered so far
  CHECK(events.Take() == std::vector<std::string>{"join:a"});

  RunRing({a.get(), b.get()}, 30, &now);
  CHECK(b->IsUp("a"));
  CHECK(events.Take() == std::vector<std::string>{"up:a"});
  const int64_t last_heard = now - kInterval;
  const double mean = MemberOf(b->Members(), "a").mean_interval_ms;
  CHECK(mean == doctest::Approx(kInterval).epsilon(0.1));

  // a falls silent; b keeps its rounds.
  int64_t down_at = -1;
  for (; now < last_heard + 10'000 && down_at < 0; now += kInterval) {
    b->Tick(now);
    if (!b->IsUp("a")) down_at = now;
  }
  REQUIRE(down_at > 0);
  const double threshold_ms = 8 * std::numbers::ln10 * mean;
  CHECK(down_at - last_heard >= threshold_ms);
  CHECK(down_at - last_heard <= threshold_ms + kInterval);
  CHECK(MemberOf(b->Members(), "a").phi > 8);
  CHECK(b->Stats().convictions == 1);
  CHECK(events.Take() == std::vector<std::string>{"down:a"});

  a->Tick(now);
  Exchange(*a, *b, now);
  CHECK(b->IsUp("a"));
  CHECK(events.Take() == std::vector<std::string>{"up:a"});
}

TEST_CASE(
    "transport evidence marks a peer down at once; old heartbeats via others do not revive it, contact "
    "does") {
  auto a = MakeNode("a", 10);
  auto b = MakeNode("b", 20);
  auto c = MakeNode("c", 30);
  int64_t now = 0;
  RunRing({a.get(), b.get(), c.get()}, 5, &now);
  REQUIRE(b->IsUp("a"));
  RecordingListener events;
  b->AddListener(&events);

  b->OnPeerUnreachable(PeerAddress("a"), now);
  CHECK_FALSE(b->IsUp("a"));
  CHECK(events.Take() == std::vector<std::string>{"down:a"});
  CHECK(b->Stats().evidence_reports == 1);

  // c heard a's latest heartbeat before b did; b learns it from c, not from a.
  a->Tick(now);
  Exchange(*a, *c, now);
  Exchange(*c, *b, now);
  CHECK(b->Find("a")->heartbeat == a->self().heartbeat);
  CHECK_FALSE(b->IsUp("a"));

  now += kInterval;
  a->Tick(now);
  Exchange(*a, *b, now);
  CHECK(b->IsUp("a"));
  CHECK(events.Take() == std::vector<std::string>{"up:a"});
}

TEST_CASE("a node with evidence against a peer lists it as a suspect, and drops it once the peer is back") {
  auto a = MakeNode("a", 10);
  auto b = MakeNode("b", 20);
  int64_t now = 0;
  RunRing({a.get(), b.get()}, 5, &now);
  const uint64_t heard = b->Find("a")->heartbeat;
  const uint64_t version = b->self().MaxVersion();

  b->OnPeerUnreachable(PeerAddress("a"), now);
  REQUIRE(b->self().suspects.size() == 1);
  CHECK(b->self().suspects[0] == Suspicion{"a", 10, heard});
  CHECK(b->self().suspects_version > version);
  b->OnPeerUnreachable(PeerAddress("a"), now);  // the same evidence again: no new version
  CHECK(b->self().suspects.size() == 1);
  const uint64_t suspected_at = b->self().suspects_version;
  CHECK(b->self().DeltaAbove(version).suspects.size() == 1);

  now += kInterval;
  a->Tick(now);
  Exchange(*a, *b, now);
  REQUIRE(b->IsUp("a"));
  CHECK(b->self().suspects.empty());
  CHECK(b->self().suspects_version > suspected_at);
}

TEST_CASE("evidence about a peer already down here is not told again") {
  auto a = MakeNode("a", 10);
  auto b = MakeNode("b", 20);
  int64_t now = 0;
  RunRing({a.get(), b.get()}, 5, &now);
  b->OnPeerUnreachable(PeerAddress("a"), now);
  REQUIRE(b->self().suspects.size() == 1);
  // a comes back, then goes silent until phi convicts it.
  now += kInterval;
  a->Tick(now);
  Exchange(*a, *b, now);
  REQUIRE(b->IsUp("a"));
  REQUIRE(b->self().suspects.empty());
  while (b->IsUp("a")) b->Tick(now += kInterval);
  const uint64_t version = b->self().suspects_version;
  // A refused connect now (a recheck, a dead node picked as a down
  // target) is no news: no suspicion, no change to gossip.
  b->OnPeerUnreachable(PeerAddress("a"), now);
  CHECK(b->self().suspects.empty());
  CHECK(b->self().suspects_version == version);
  CHECK(b->Stats().evidence_reports == 2);
}

// `observer`'s rounds from `*now` until it judges `peer` down, at most
// `limit` ms: the ms from the peer's last heartbeat there to then, or -1.
int64_t SilenceUntilDown(Gossiper& observer, const std::string& peer, int64_t* now, int64_t limit) {
  const int64_t last = MemberOf(observer.Members(), peer).last_heartbeat_ms;
  for (const int64_t end = *now + limit; *now < end; *now += kInterval) {
    observer.Tick(*now);
    if (!observer.IsUp(peer)) return *now - last;
  }
  return -1;
}

// Three nodes; SetUp() has them see each other, then c learn from b that b
// suspects a.
struct SuspicionFixture {
  std::unique_ptr<Gossiper> a = MakeNode("a", 10);
  std::unique_ptr<Gossiper> b = MakeNode("b", 20);
  std::unique_ptr<Gossiper> c = MakeNode("c", 30);
  int64_t now = 0;

  void SetUp() {
    RunRing({a.get(), b.get(), c.get()}, 40, &now);
    REQUIRE(c->IsUp("a"));
    b->OnPeerUnreachable(PeerAddress("a"), now);
    b->Tick(now);
    Exchange(*b, *c, now);
  }
  // How long c hears nothing of a before it judges a down (-1: not within 10 s).
  int64_t SilenceAtC() { return SilenceUntilDown(*c, "a", &now, 10'000); }
};

TEST_CASE("a peer another node suspects is convicted at half the phi threshold") {
  SuspicionFixture f;
  f.SetUp();
  REQUIRE(f.c->IsUp("a"));  // hearsay alone convicts no one
  const double mean = MemberOf(f.c->Members(), "a").mean_interval_ms;
  const int64_t silence = f.SilenceAtC();
  REQUIRE(silence > 0);
  CHECK(silence >= 4 * std::numbers::ln10 * mean);
  CHECK(silence <= 4 * std::numbers::ln10 * mean + kInterval);
  CHECK(f.c->Stats().suspicion_convictions == 1);
}

TEST_CASE("a heartbeat newer than the suspicion refutes it: the full threshold applies again") {
  SuspicionFixture f;
  f.SetUp();
  // a is alive: c hears a newer heartbeat after the suspicion.
  f.a->Tick(f.now);
  Exchange(*f.a, *f.c, f.now);
  const double mean = MemberOf(f.c->Members(), "a").mean_interval_ms;
  const int64_t silence = f.SilenceAtC();
  REQUIRE(silence > 0);
  CHECK(silence >= 8 * std::numbers::ln10 * mean);
  CHECK(f.c->Stats().suspicion_convictions == 0);
}

TEST_CASE("an old heartbeat c already had does not refute a suspicion") {
  SuspicionFixture f;
  RunRing({f.a.get(), f.b.get(), f.c.get()}, 40, &f.now);
  // c heard a's newest heartbeat; b, which suspects a, knew an older one.
  f.a->Tick(f.now);
  Exchange(*f.a, *f.c, f.now);
  f.b->OnPeerUnreachable(PeerAddress("a"), f.now);
  REQUIRE(f.b->self().suspects[0].heartbeat < f.c->Find("a")->heartbeat);
  f.b->Tick(f.now);
  Exchange(*f.b, *f.c, f.now);
  Exchange(*f.c, *f.b, f.now);  // c passes that heartbeat on to b: nothing newer for c
  const double mean = MemberOf(f.c->Members(), "a").mean_interval_ms;
  const int64_t silence = f.SilenceAtC();
  REQUIRE(silence > 0);
  CHECK(silence <= 4 * std::numbers::ln10 * mean + kInterval);
}

TEST_CASE(
    "suspicions about an old generation or an unknown node change nothing; about itself, a refutation") {
  auto a = MakeNode("a", 10);
  auto b = MakeNode("b", 20);
  int64_t now = 0;
  RunRing({a.get(), b.get()}, 40, &now);
  NodeState claims = *b->Find("a");
  claims.suspects = {{"b", 20, b->self().heartbeat}, {"a", 9, 1}, {"x", 5, 1}};
  claims.suspects_version = a->self().MaxVersion() + 1;
  b->OnAck2("a", Ack2{{claims}}, now);
  REQUIRE(b->Find("a")->suspects.size() == 3);
  // b answers the one about itself with a new incarnation (sampling_test.cc).
  CHECK(b->self().alive_version > 0);
  CHECK(b->Stats().refutations == 1);
  // b's view of a: a's own claims do not touch a; b is this node.
  const double mean = MemberOf(b->Members(), "a").mean_interval_ms;
  const int64_t silence = SilenceUntilDown(*b, "a", &now, 10'000);
  CHECK(silence >= 8 * std::numbers::ln10 * mean);
  CHECK(b->Stats().suspicion_convictions == 0);
}

TEST_CASE("a node keeps at most kMaxSuspects suspects, the newest") {
  std::vector<std::unique_ptr<Gossiper>> nodes;
  std::vector<Gossiper*> ring;
  for (int i = 0; i < 20; ++i) {
    nodes.push_back(MakeNode("n" + std::to_string(10 + i), 10 + i));
    ring.push_back(nodes.back().get());
  }
  int64_t now = 0;
  RunRing(ring, 10, &now);
  Gossiper& first = *ring[0];
  for (size_t i = 1; i < ring.size(); ++i) first.OnPeerUnreachable(PeerAddress(ring[i]->self().node_id), now);
  REQUIRE(first.self().suspects.size() == kMaxSuspects);
  CHECK(first.self().suspects.front().node_id == ring[ring.size() - kMaxSuspects]->self().node_id);
  CHECK(first.self().suspects.back().node_id == ring.back()->self().node_id);
  CHECK(ValidateState(first.self()).ok());
}

TEST_CASE("evidence about an unknown address changes nothing") {
  auto a = MakeNode("a", 10);
  auto b = MakeNode("b", 20);
  int64_t now = 0;
  RunRing({a.get(), b.get()}, 3, &now);
  b->OnPeerUnreachable("nowhere.test:7000", now);
  CHECK(b->IsUp("a"));
  CHECK(b->Stats().evidence_reports == 0);
}

TEST_CASE("a leaving node pushes LEFT to its live peers, which stop watching it") {
  auto a = MakeNode("a", 10);
  auto b = MakeNode("b", 20);
  auto c = MakeNode("c", 30);
  int64_t now = 0;
  RunRing({a.get(), b.get(), c.get()}, 5, &now);
  RecordingListener events;
  b->AddListener(&events);

  std::vector<OutgoingLeave> notices = a->Leave();
  REQUIRE(notices.size() == 2);
  CHECK(a->self().status == NodeStatus::kLeft);
  for (const OutgoingLeave& out : notices) {
    CHECK(out.notice.state == a->self());
    Gossiper* target = out.to == PeerAddress("b") ? b.get() : c.get();
    CHECK(target->OnLeaveNotice("a", out.notice, now).ok());
  }
  CHECK(events.Take() == std::vector<std::string>{"change:a", "leave:a"});
  CHECK(b->Find("a")->status == NodeStatus::kLeft);
  CHECK(c->Find("a")->status == NodeStatus::kLeft);
  CHECK_FALSE(b->IsUp("a"));

  // Long silence (c falls silent too): a is never judged down again, never
  // a gossip target, and stays listed as left.
  for (int i = 0; i < 100; ++i, now += kInterval) {
    for (const OutgoingSyn& out : b->Tick(now)) CHECK(out.to != PeerAddress("a"));
  }
  CHECK(events.Take() == std::vector<std::string>{"down:c"});
  CHECK(b->Stats().peers_left == 1);
  CHECK(MemberOf(b->Members(), "a").state.status == NodeStatus::kLeft);
}

TEST_CASE("a LEFT node is forgotten after forget_left; a peer that still has it cannot bring it back") {
  auto a = MakeNode("a", 10);
  auto b = MakeNode("b", 20, {}, /*forget_left_ms=*/1000);
  auto c = MakeNode("c", 30);  // forgets after a day: still has a
  int64_t now = 0;
  RunRing({a.get(), b.get(), c.get()}, 5, &now);
  for (const OutgoingLeave& out : a->Leave()) {
    Gossiper* target = out.to == PeerAddress("b") ? b.get() : c.get();
    CHECK(target->OnLeaveNotice("a", out.notice, now).ok());
  }
  RunRing({b.get(), c.get()}, 5, &now);
  CHECK(b->Find("a") != nullptr);  // not yet
  RunRing({b.get(), c.get()}, 10, &now);
  CHECK(b->Find("a") == nullptr);
  CHECK(b->Stats().forgotten == 1);
  for (const Member& m : b->Members()) CHECK(m.state.node_id != "a");
  for (const GossipDigest& d : b->MakeSyn().digests) CHECK(d.node_id != "a");
  // c still gossips a's LEFT state, both ways: b takes none of it.
  REQUIRE(c->Find("a") != nullptr);
  Exchange(*c, *b, now);
  Exchange(*b, *c, now);
  CHECK(b->Find("a") == nullptr);
  CHECK(b->Stats().states_ignored >= 1);
  // a started again (a new generation) is a member again.
  auto a2 = MakeNode("a", 11);
  Exchange(*a2, *b, now);
  REQUIRE(b->Find("a") != nullptr);
  CHECK(b->Find("a")->generation == 11);
  CHECK(b->Find("a")->status == NodeStatus::kNormal);
}

TEST_CASE("a leave notice must carry status LEFT") {
  auto a = MakeNode("a", 10);
  auto b = MakeNode("b", 20);
  Status status = b->OnLeaveNotice("a", LeaveNotice{a->self()}, 0);
  CHECK(status.code() == Code::kInvalidArgument);
  CHECK(b->Find("a") == nullptr);
}

TEST_CASE("an operator removal of a dead node wins over its own newer heartbeats, and a restart rejoins") {
  auto a = MakeNode("a", 10);
  auto b = MakeNode("b", 20);
  auto c = MakeNode("c", 30);
  int64_t now = 0;
  RunRing({a.get(), b.get(), c.get()}, 5, &now);
  // a's last heartbeats reach c but not b; then a dies.
  for (int i = 0; i < 3; ++i) {
    a->Tick(now);
    Exchange(*a, *c, now);
  }
  REQUIRE(c->Find("a")->heartbeat > b->Find("a")->heartbeat);

  CHECK(b->RemoveNode("b").code() == Code::kInvalidArgument);   // itself
  CHECK(b->RemoveNode("zz").code() == Code::kInvalidArgument);  // unknown
  CHECK(b->RemoveNode("a").code() == Code::kInvalidArgument);   // still up here
  b->OnPeerUnreachable(PeerAddress("a"), now);
  RecordingListener b_events;
  b->AddListener(&b_events);
  REQUIRE(b->RemoveNode("a").ok());
  // First step: LEAVING by removal, so its ranges move.
  CHECK(b_events.Take() == std::vector<std::string>{"change:a"});
  CHECK(b->Find("a")->status == NodeStatus::kLeaving);
  CHECK(IsRemoval(*b->Find("a")));
  CHECK(b->RemoveNode("a").ok());  // again: nothing to do
  CHECK(b_events.Take().empty());

  RecordingListener c_events;
  c->AddListener(&c_events);
  Exchange(*c, *b, now);
  CHECK(c->Find("a")->status == NodeStatus::kLeaving);
  CHECK(c_events.Take() == std::vector<std::string>{"change:a"});
  // Second step, once the ranges have moved: LEFT, and it wins over the first.
  c->FinishRemoval("a");
  CHECK(c->Find("a")->status == NodeStatus::kLeft);
  CHECK(c_events.Take() == std::vector<std::string>{"change:a", "leave:a"});
  Exchange(*b, *c, now);
  CHECK(b->Find("a")->status == NodeStatus::kLeft);
  CHECK(b_events.Take() == std::vector<std::string>{"change:a", "leave:a"});
  b->FinishRemoval("a");  // already LEFT: nothing to do
  CHECK(b_events.Take().empty());

  // a comes back with a new generation and is a member again everywhere.
  auto a2 = MakeNode("a", 11);
  RunRing({a2.get(), b.get(), c.get()}, 3, &now);
  for (Gossiper* node : {b.get(), c.get()}) {
    CHECK(node->Find("a")->generation == 11);
    CHECK(node->Find("a")->status == NodeStatus::kNormal);
    CHECK(node->IsUp("a"));
  }
  CHECK(c_events.Take() == std::vector<std::string>{"restart:a", "up:a"});
}

TEST_CASE("a node removed while alive learns it, keeps its own state, and is not counted by others") {
  auto a = MakeNode("a", 10);
  auto b = MakeNode("b", 20);
  int64_t now = 0;
  RunRing({a.get(), b.get()}, 3, &now);
  b->OnPeerUnreachable(PeerAddress("a"), now);  // a mistaken report: a is alive
  REQUIRE(b->RemoveNode("a").ok());
  CHECK_FALSE(a->removed());

  a->Tick(now);
  Exchange(*a, *b, now);  // b's ACK pushes the removal to a
  CHECK(a->removed());
  CHECK(a->self().status == NodeStatus::kNormal);
  CHECK(b->Find("a")->status == NodeStatus::kLeaving);
  CHECK_FALSE(b->IsUp("a"));

  auto c = MakeNode("c", 30);
  b->FinishRemoval("a");
  Exchange(*b, *c, now);
  Exchange(*c, *a, now);  // a SYN from c, which knows of the removal, tells a as well
  CHECK(c->Find("a")->status == NodeStatus::kLeft);
}

TEST_CASE("a lone node gossips to a seed and never to itself") {
  auto a = MakeNode("a", 10, {PeerAddress("a"), PeerAddress("b")});
  std::vector<OutgoingSyn> out = a->Tick(0);
  REQUIRE(out.size() == 1);
  CHECK(out[0].to == PeerAddress("b"));
  CHECK(out[0].syn.digests.size() == 1);

  auto seed = MakeNode("s", 10, {PeerAddress("s")});
  CHECK(seed->Tick(0).empty());
}

// Three nodes that have heard each other; then a has evidence against c.
struct EvidenceAgainstC {
  std::unique_ptr<Gossiper> a = MakeNode("a", 10);
  std::unique_ptr<Gossiper> b = MakeNode("b", 20);
  std::unique_ptr<Gossiper> c = MakeNode("c", 30);
  int64_t now = 0;

  EvidenceAgainstC() {
    RunRing({a.get(), b.get(), c.get()}, 5, &now);
    a->OnPeerUnreachable(PeerAddress("c"), now);
  }
};

TEST_CASE("each round goes to a live peer, and to a down one about down / (live + 1) of the time") {
  EvidenceAgainstC f;
  auto& [a, b, c, now] = f;
  RunRing({a.get(), b.get()}, kRecheckRounds, &now);  // past the rechecks (next test)
  REQUIRE_FALSE(a->IsUp("c"));
  int to_b = 0;
  int to_c = 0;
  for (int i = 0; i < 200; ++i) {
    for (const OutgoingSyn& out : a->Tick(now)) {
      to_b += out.to == PeerAddress("b");
      to_c += out.to == PeerAddress("c");
    }
  }
  CHECK(to_b == 200);
  CHECK(to_c > 60);  // expected 100 (probability 1/2); 60..140 is over 5 sigma
  CHECK(to_c < 140);
}

TEST_CASE("a peer down on evidence is gossiped to every round for kRecheckRounds, so a live one is back") {
  EvidenceAgainstC f;
  auto& [a, b, c, now] = f;
  const int64_t evidence_at = now;
  // More evidence (the rechecks refused) does not extend the window.
  int rounds_to_c = 0;
  for (; now < evidence_at + 2 * kRecheckRounds * kInterval; now += kInterval) {
    bool to_c = false;
    for (const OutgoingSyn& out : a->Tick(now)) to_c = to_c || out.to == PeerAddress("c");
    if (now < evidence_at + kRecheckRounds * kInterval) {
      CHECK(to_c);
      a->OnPeerUnreachable(PeerAddress("c"), now);
    }
    rounds_to_c += to_c;
    Exchange(*a, *b, now);
    Exchange(*b, *a, now);
  }
  // Afterwards a down peer's odds, 1/2 a round here: expected 30 in all.
  CHECK(rounds_to_c > kRecheckRounds + 3);
  CHECK(rounds_to_c < 2 * kRecheckRounds - 3);
  CHECK_FALSE(a->IsUp("c"));

  // A live peer lost a connection: the next round's SYN reaches it, its
  // answer is contact, and its heartbeat brings it up.
  a->OnPeerUnreachable(PeerAddress("b"), now);
  REQUIRE_FALSE(a->IsUp("b"));
  b->Tick(now);
  now += kInterval;
  bool answered = false;
  for (const OutgoingSyn& out : a->Tick(now)) {
    if (out.to != PeerAddress("b")) continue;
    Result<Ack> ack = b->OnSyn("a", out.syn, now);
    REQUIRE(ack.ok());
    a->OnAck(out.to, *ack, now);
    answered = true;
  }
  CHECK(answered);
  CHECK(a->IsUp("b"));
  REQUIRE(a->self().suspects.size() == 1);  // c still is
  CHECK(a->self().suspects[0].node_id == "c");
}

TEST_CASE("members list this node first, then every known node with its judgement") {
  auto a = MakeNode("a", 10);
  auto b = MakeNode("b", 20);
  auto c = MakeNode("c", 30);
  int64_t now = 0;
  RunRing({a.get(), b.get(), c.get()}, 5, &now);
  b->OnPeerUnreachable(PeerAddress("c"), now);
  std::vector<Member> members = b->Members();
  REQUIRE(members.size() == 3);
  CHECK(members[0].self);
  CHECK(members[0].state == b->self());
  CHECK(members[0].up);
  CHECK(MemberOf(members, "a").up);
  CHECK_FALSE(MemberOf(members, "c").up);
  CHECK(MemberOf(members, "a").state == *b->Find("a"));
  GossipStats stats = b->Stats();
  CHECK(stats.rounds == 5);
  CHECK(stats.peers_up == 1);
  CHECK(stats.peers_down == 1);
}

TEST_CASE("Create rejects an invalid identity") {
  LocalNode local;
  local.node_id = "a";
  local.generation = 1;
  local.client_address = "a:1";
  local.peer_address = "a:2";
  CHECK(Gossiper::Create(local, {}, 1).ok());
  LocalNode no_id = local;
  no_id.node_id.clear();
  CHECK(Gossiper::Create(no_id, {}, 1).status().code() == Code::kInvalidArgument);
  LocalNode no_generation = local;
  no_generation.generation = 0;
  CHECK(Gossiper::Create(no_generation, {}, 1).status().code() == Code::kInvalidArgument);
  LocalNode long_id = local;
  long_id.node_id = std::string(300, 'a');  // the others would refuse its states
  CHECK(Gossiper::Create(long_id, {}, 1).status().code() == Code::kInvalidArgument);
  LocalNode bad_address = local;
  bad_address.peer_address = "a";
  CHECK(Gossiper::Create(bad_address, {}, 1).status().code() == Code::kInvalidArgument);
  GossipOptions bad_seed;
  bad_seed.seeds = {"a:0"};
  CHECK(Gossiper::Create(local, bad_seed, 1).status().code() == Code::kInvalidArgument);
}

TEST_CASE("removing a dead node that was still joining makes it LEFT at once: it never served") {
  auto a = MakeNode("a", 10);
  auto b = MakeNode("b", 20);
  int64_t now = 0;
  a->SetStatus(NodeStatus::kJoining);
  RunRing({a.get(), b.get()}, 3, &now);
  REQUIRE(b->Find("a")->status == NodeStatus::kJoining);
  b->OnPeerUnreachable(PeerAddress("a"), now);
  REQUIRE(b->RemoveNode("a").ok());
  CHECK(b->Find("a")->status == NodeStatus::kLeft);
}

}  // namespace
}  // namespace dynkv::gossip
