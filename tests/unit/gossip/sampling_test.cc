// Gossip that stays bounded as the cluster grows (gossip.h, top): partial
// SYNs with the table's hash once settled, full ones while unsettled,
// suspicions that convict on a timeout when heartbeats are sampled, and
// refutation by a new incarnation.
#include <doctest/doctest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gossip/gossip.h"
#include "gossip_test_util.h"

namespace dynkv::gossip {
namespace {

using test::Exchange;
using test::MakeNode;
using test::PeerAddress;

constexpr int64_t kInterval = 100;  // GossipOptions' default

// `count` nodes n10, n11, ... that list at most `max_digests` nodes in a
// settled SYN.
struct Cluster {
  std::vector<std::unique_ptr<Gossiper>> nodes;
  int64_t now = 0;

  Cluster(size_t count, size_t max_digests) {
    for (size_t i = 0; i < count; ++i) {
      nodes.push_back(
          MakeNode("n" + std::to_string(10 + i), 10 + i, {}, GossipOptions{}.forget_left_ms, max_digests));
    }
  }
  Gossiper& operator[](size_t i) { return *nodes[i]; }
  // Every node ticks and exchanges with every other, `rounds` times: all
  // learn everything, and their heartbeats move.
  void RunAllPairs(int rounds) {
    for (int r = 0; r < rounds; ++r, now += kInterval) {
      for (auto& from : nodes) {
        from->Tick(now);
        for (auto& to : nodes) {
          if (from != to) Exchange(*from, *to, now);
        }
      }
    }
  }
  // Every node knows every other, and has had no change for kUnsettledRounds.
  void Settle() {
    RunAllPairs(3);
    TickOnly(static_cast<int>(kUnsettledRounds));
  }
  // Ticks every node `rounds` times with no exchange (their tables settle).
  void TickOnly(int rounds) {
    for (int r = 0; r < rounds; ++r, now += kInterval) {
      for (auto& node : nodes) node->Tick(now);
    }
  }
};

TEST_CASE("a settled node of a table larger than max_digests sends a sample and the table's hash") {
  Cluster cluster(10, 4);
  cluster.Settle();
  for (auto& node : cluster.nodes) {
    CAPTURE(node->self().node_id);
    REQUIRE(node->Members().size() == 10);
    CHECK_FALSE(node->ListsAll());
    const Syn syn = node->MakeSyn();
    CHECK(syn.partial);
    CHECK(syn.table_hash == node->TableHash());
    REQUIRE(syn.digests.size() == 4);
    CHECK(syn.digests[0].node_id == node->self().node_id);
    std::set<std::string> listed;
    for (const GossipDigest& digest : syn.digests) listed.insert(digest.node_id);
    CHECK(listed.size() == 4);  // no node twice
  }
  // Tables that differ only in heartbeats hash the same on every node.
  for (auto& node : cluster.nodes) CHECK(node->TableHash() == cluster[0].TableHash());
  // A table of at most max_digests nodes is always listed whole.
  Cluster small(4, 4);
  small.RunAllPairs(3);
  small.TickOnly(10);
  CHECK(small[0].ListsAll());
  CHECK(small[0].MakeSyn().digests.size() == 4);
  CHECK_FALSE(small[0].MakeSyn().partial);
}

TEST_CASE("a partial SYN pushes no unlisted node") {
  Cluster cluster(10, 4);
  cluster.Settle();
  Gossiper& from = cluster[0];
  Gossiper& to = cluster[1];
  const Syn syn = from.MakeSyn();
  REQUIRE(syn.partial);
  Result<Ack> ack = to.OnSyn(from.self().node_id, syn, cluster.now);
  REQUIRE(ack.ok());
  CHECK_FALSE(ack->table_differs);
  CHECK(ack->states.size() + ack->requests.size() <= syn.digests.size());
  std::set<std::string> listed;
  for (const GossipDigest& digest : syn.digests) listed.insert(digest.node_id);
  for (const NodeState& state : ack->states) CHECK(listed.count(state.node_id) == 1);
}

TEST_CASE("a partial SYN always lists its receiver, whose newer heartbeat comes back") {
  Cluster cluster(10, 4);
  cluster.Settle();
  Gossiper& from = cluster[0];
  for (int r = 0; r < 20; ++r) {
    cluster.now += kInterval;
    for (const OutgoingSyn& out : from.Tick(cluster.now)) {
      REQUIRE(out.syn.partial);
      Gossiper* to = nullptr;
      for (auto& node : cluster.nodes) {
        if (node->self().peer_address == out.to) to = node.get();
      }
      REQUIRE(to != nullptr);
      size_t listed = 0;
      for (const GossipDigest& digest : out.syn.digests) listed += digest.node_id == to->self().node_id;
      CHECK(listed == 1);
      const uint64_t before = from.Find(to->self().node_id)->heartbeat;
      to->Tick(cluster.now);
      Result<Ack> ack = to->OnSyn(from.self().node_id, out.syn, cluster.now);
      REQUIRE(ack.ok());
      from.OnAck(out.to, *ack, cluster.now);
      CHECK(from.Find(to->self().node_id)->heartbeat > before);
    }
  }
}

TEST_CASE("a change unsettles a node; a partial SYN that meets a different table unsettles both sides") {
  Cluster cluster(10, 4);
  cluster.Settle();
  Gossiper& changed = cluster[0];
  Gossiper& settled = cluster[1];
  changed.SetStatus(NodeStatus::kLeaving);
  CHECK(changed.ListsAll());  // its next SYNs list every node
  CHECK_FALSE(changed.MakeSyn().partial);
  REQUIRE_FALSE(settled.ListsAll());
  const Syn syn = settled.MakeSyn();
  REQUIRE(syn.partial);
  Result<Ack> ack = changed.OnSyn(settled.self().node_id, syn, cluster.now);
  REQUIRE(ack.ok());
  CHECK(ack->table_differs);
  CHECK(changed.Stats().tables_differed == 1);
  settled.OnAck(changed.self().peer_address, *ack, cluster.now);
  CHECK(settled.ListsAll());
  // Its next full exchange brings the change; kUnsettledRounds later it
  // samples again.
  Exchange(settled, changed, cluster.now);
  CHECK(settled.Find(changed.self().node_id)->status == NodeStatus::kLeaving);
  CHECK(settled.TableHash() == changed.TableHash());
  for (uint64_t r = 0; r <= kUnsettledRounds; ++r) settled.Tick(cluster.now += kInterval);
  CHECK_FALSE(settled.ListsAll());
}

// Five nodes that sample (max_digests 2); b has direct evidence against a
// and c has heard b's suspicion.
struct SampledSuspicion {
  Cluster cluster{5, 2};
  Gossiper& a = cluster[0];
  Gossiper& b = cluster[1];
  Gossiper& c = cluster[2];

  SampledSuspicion() {
    cluster.RunAllPairs(40);
    REQUIRE(c.IsUp(a.self().node_id));
    b.OnPeerUnreachable(PeerAddress(a.self().node_id), cluster.now);
    Exchange(b, c, cluster.now);
    REQUIRE(c.Find(b.self().node_id)->suspects.size() == 1);
  }
  // c's rounds until it judges a down, at most `limit` ms: the ms it took, or -1.
  int64_t UntilDownAtC(int64_t limit) {
    const int64_t from = cluster.now;
    for (const int64_t end = cluster.now + limit; cluster.now < end; cluster.now += kInterval) {
      c.Tick(cluster.now);
      if (!c.IsUp(a.self().node_id)) return cluster.now - from;
    }
    return -1;
  }
};

TEST_CASE("with sampled heartbeats a heard suspicion convicts after the suspicion timeout") {
  SampledSuspicion s;
  // 2 * ceil(log2(5)) rounds; phi alone at half the threshold would take
  // about 4 * ln(10) = 9.2 mean intervals.
  const int64_t timeout = 2 * 3 * kInterval;
  const int64_t took = s.UntilDownAtC(5'000);
  CHECK(took >= timeout);
  CHECK(took <= timeout + kInterval);
  CHECK(s.c.Stats().suspicion_convictions == 1);
}

TEST_CASE("a suspected node refutes with a new incarnation, which clears the suspicion where it arrives") {
  SampledSuspicion s;
  const uint64_t before = s.a.self().alive_version;
  Exchange(s.b, s.a, s.cluster.now);  // a hears that b suspects it
  CHECK(s.a.self().alive_version > before);
  CHECK(s.a.Stats().refutations == 1);
  Exchange(s.b, s.a, s.cluster.now);  // the same suspicion again: no second refutation
  CHECK(s.a.Stats().refutations == 1);
  Exchange(s.a, s.c, s.cluster.now);  // the new incarnation reaches c
  CHECK(s.c.Find(s.a.self().node_id)->alive_version == s.a.self().alive_version);
  // Past the timeout (600 ms), short of phi's full threshold (1.8 s here).
  CHECK(s.UntilDownAtC(1'200) == -1);
  CHECK(s.c.Stats().suspicion_convictions == 0);
}

TEST_CASE("a suspicion at an older incarnation than the one known counts for nothing") {
  SampledSuspicion s;
  Gossiper& d = s.cluster[3];
  Exchange(s.b, s.a, s.cluster.now);  // a refutes
  Exchange(s.a, d, s.cluster.now);    // d knows the new incarnation
  Exchange(s.b, d, s.cluster.now);    // then hears b's older suspicion
  REQUIRE(d.Find(s.b.self().node_id)->suspects.size() == 1);
  REQUIRE(d.Find(s.b.self().node_id)->suspects[0].incarnation < d.Find(s.a.self().node_id)->alive_version);
  for (int r = 0; r < 12; ++r) d.Tick(s.cluster.now += kInterval);  // past the timeout, short of phi
  CHECK(d.IsUp(s.a.self().node_id));
  CHECK(d.Stats().suspicion_convictions == 0);
}

}  // namespace
}  // namespace dynkv::gossip
