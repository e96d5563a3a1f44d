// SimCluster's membership changes on a small cluster of whole nodes: a node
// added joins, a node that leaves and a dead node that is removed end LEFT
// in every view and out of every ring, a node that lost its disk comes back
// under its id, and the membership nemesis makes those changes one at a
// time within its bounds. Each change is waited for with a bounded
// MembershipSettled, as the protocol may take time (a join streams first).
#include "sim/sim_cluster.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "../storage/temp_dir.h"
#include "common/log.h"
#include "sim/checker.h"
#include "sim/nemesis.h"

namespace dynkv::sim {
namespace {

using gossip::NodeStatus;

constexpr uint64_t kSeed = 5;
constexpr size_t kNodes = 4;
constexpr uint32_t kVnodes = 8;
constexpr int64_t kConvergeMs = 60'000;

SimClusterOptions Options() {
  SimClusterOptions options;
  options.nodes = kNodes;
  options.replication.n = 3;
  options.vnodes = kVnodes;
  return options;
}

// A started, converged cluster of kNodes whole nodes.
struct Fixture {
  storage::TempDir dir;
  SimCluster cluster{kSeed, dir.path(), Options()};

  Fixture() {
    SetLogLevel(LogLevel::kError);  // the nodes log every change
    REQUIRE(cluster.StartAll().ok());
    REQUIRE(cluster.RunUntil([this] { return cluster.Converged(); }, kConvergeMs));
    REQUIRE(cluster.MembershipSettled());
  }

  void Settle() {
    REQUIRE(cluster.RunUntil([this] { return cluster.MembershipSettled(); }, Nemesis::kMaxSettleMs));
  }

  // Node `viewer`'s view of node `subject`; null if it does not know it.
  const gossip::NodeState* Seen(size_t viewer, size_t subject) const {
    return cluster.membership(viewer)->gossiper().Find(cluster.id(subject));
  }

  bool InRing(size_t viewer, size_t subject) const {
    const auto ring = cluster.membership(viewer)->CurrentRing();
    const std::vector<std::string>& nodes = ring->nodes();
    return std::find(nodes.begin(), nodes.end(), cluster.id(subject)) != nodes.end();
  }

  // Every member sees `subject` LEFT and leaves it out of its ring.
  void CheckGoneEverywhere(size_t subject) const {
    for (size_t i : cluster.members()) {
      CAPTURE(cluster.id(i));
      const gossip::NodeState* seen = Seen(i, subject);
      REQUIRE(seen != nullptr);
      CHECK(seen->status == NodeStatus::kLeft);
      CHECK_FALSE(InRing(i, subject));
    }
  }
};

std::vector<size_t> Indexes(size_t from, size_t to) {
  std::vector<size_t> out;
  for (size_t i = from; i < to; ++i) out.push_back(i);
  return out;
}

TEST_CASE("a node added to a running cluster joins it and is NORMAL in every view") {
  Fixture f;
  Result<size_t> added = f.cluster.AddNode();
  REQUIRE(added.ok());
  CHECK(*added == kNodes);
  CHECK(f.cluster.id(*added) == "n5");
  CHECK(f.cluster.size() == kNodes + 1);
  CHECK(f.cluster.running(*added));
  f.Settle();

  CHECK(f.cluster.members() == Indexes(0, kNodes + 1));
  const gossip::NodeState& self = f.cluster.membership(*added)->gossiper().self();
  CHECK(self.tokens.size() == kVnodes);
  for (size_t i = 0; i < f.cluster.size(); ++i) {
    CAPTURE(f.cluster.id(i));
    const gossip::NodeState* seen = f.Seen(i, *added);
    REQUIRE(seen != nullptr);
    CHECK(seen->status == NodeStatus::kNormal);
    CHECK(seen->generation == self.generation);
    CHECK(seen->tokens == self.tokens);
    CHECK(f.InRing(i, *added));
    CHECK(f.cluster.membership(i)->CurrentRing()->nodes().size() == kNodes + 1);
  }
  CHECK(f.cluster.Converged());
}

TEST_CASE("a node that leaves ends LEFT in every view, out of every ring, stopped, and not a member") {
  Fixture f;
  const size_t leaver = 3;
  f.cluster.Leave(leaver);
  CHECK(f.cluster.departed(leaver));
  f.Settle();

  CHECK_FALSE(f.cluster.running(leaver));
  CHECK(f.cluster.members() == Indexes(0, kNodes - 1));
  f.CheckGoneEverywhere(leaver);
  // The cluster that shrank converges without it.
  CHECK(f.cluster.Converged());
  // It is not started again by anything that restores members.
  f.cluster.RunFor(5'000);
  CHECK_FALSE(f.cluster.running(leaver));
  CHECK(f.cluster.MembershipSettled());
}

TEST_CASE("a dead node removed through another ends LEFT in every view; a live one cannot be removed") {
  Fixture f;
  const size_t dead = 2;
  const size_t via = 0;

  // A node its coordinator judges up is refused, and stays a member.
  Status refused = f.cluster.Remove(1, via);
  CHECK(refused.code() == Code::kInvalidArgument);
  CHECK_FALSE(f.cluster.departed(1));

  f.cluster.Kill(dead);
  // Nobody has noticed yet: the removal is refused as for a live node.
  CHECK(f.cluster.Remove(dead, via).code() == Code::kInvalidArgument);
  CHECK_FALSE(f.cluster.departed(dead));
  // Asked of a node that is not running, nobody answers.
  CHECK(f.cluster.Remove(1, dead).code() == Code::kUnavailable);

  REQUIRE(f.cluster.RunUntil([&] { return f.cluster.AllSeeUp(dead, false); }, kConvergeMs));
  REQUIRE(f.cluster.Remove(dead, via).ok());
  CHECK(f.cluster.departed(dead));
  f.Settle();

  CHECK_FALSE(f.cluster.running(dead));
  CHECK(f.cluster.members() == std::vector<size_t>{0, 1, 3});
  f.CheckGoneEverywhere(dead);
  CHECK(f.cluster.Converged());
}

TEST_CASE("a node that lost its disk comes back under its id, with a new generation and its old tokens") {
  Fixture f;
  const size_t lost = 1;
  const gossip::NodeState before = f.cluster.membership(lost)->gossiper().self();
  REQUIRE(before.tokens.size() == kVnodes);
  const int64_t replaced_at = f.cluster.loop().now();
  REQUIRE(f.cluster.Replace(lost).ok());
  CHECK(f.cluster.running(lost));
  CHECK_FALSE(f.cluster.departed(lost));
  f.Settle();

  const gossip::NodeState& after = f.cluster.membership(lost)->gossiper().self();
  CHECK(after.node_id == before.node_id);
  CHECK(after.generation > before.generation);
  // The cluster remembered its tokens and gave them back (gossip's earlier
  // state of the id): it takes back its own ranges.
  CHECK(after.tokens == before.tokens);
  CHECK(f.cluster.members() == Indexes(0, kNodes));
  for (size_t i = 0; i < kNodes; ++i) {
    if (i == lost) continue;
    CAPTURE(f.cluster.id(i));
    const gossip::NodeState* seen = f.Seen(i, lost);
    REQUIRE(seen != nullptr);
    CHECK(seen->status == NodeStatus::kNormal);
    CHECK(seen->generation == after.generation);
    CHECK(seen->tokens == before.tokens);
    // The same node again, not a new one.
    CHECK(f.cluster.FirstEvent(i, "restart", before.node_id, replaced_at) >= replaced_at);
    CHECK(f.cluster.FirstEvent(i, "join", before.node_id, replaced_at) < 0);
  }
}

TEST_CASE("the membership nemesis changes one node at a time, within its bounds, each change settled") {
  Fixture f;
  History history;
  Nemesis nemesis(f.cluster, history, {"membership"});
  nemesis.Start();
  // max(N, 3) and nodes + 3 members.
  const size_t min_members = 3;
  const size_t max_members = kNodes + 3;
  size_t fewest = kNodes;
  size_t most = kNodes;
  f.cluster.RunUntil(
      [&] {
        const size_t members = f.cluster.members().size();
        fewest = std::min(fewest, members);
        most = std::max(most, members);
        return false;
      },
      90'000);
  REQUIRE(nemesis.Stop().ok());
  REQUIRE(f.cluster.RunUntil([&] { return !nemesis.recovering(); }, Nemesis::kMaxSettleMs));
  CHECK(nemesis.status().ok());

  REQUIRE(history.faults.size() >= 5);
  for (size_t k = 0; k < history.faults.size(); ++k) {
    const FaultWindow& window = history.faults[k];
    CAPTURE(window.node);
    CHECK(window.fault == "membership");
    CHECK(window.start_ms <= window.end_ms);
    if (k > 0) CHECK(history.faults[k - 1].end_ms < window.start_ms);  // one at a time
  }
  CHECK(fewest >= min_members);
  CHECK(most <= max_members);
  CHECK(f.cluster.size() > kNodes);  // some node joined
  CHECK(f.cluster.MembershipSettled());
  for (size_t i = 0; i < f.cluster.size(); ++i) {
    if (f.cluster.departed(i)) CHECK_FALSE(f.cluster.running(i));
  }
}

}  // namespace
}  // namespace dynkv::sim
