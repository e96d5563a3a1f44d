// Data movement on whole simulated nodes (DESIGN.md: Data movement): joins,
// leaves and removals move every key to its new replicas, the moved data is
// what the old replicas held, and a node killed mid-stream on either end
// ends with every key on every current replica. Every node is the real
// NodeServices of dynkvd on the simulator's clock and network.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/log.h"
#include "sim/sim_cluster.h"
#include "test_dir.h"

namespace dynkv::sim {
namespace {

namespace pb = dynkv::client;

constexpr int64_t kMaxSettleMs = 180'000;

std::string TestDir(const std::string& name) { return FreshTestDir("movement_" + name); }

std::string Key(int i) { return "key-" + std::to_string(i); }

class Movement {
 public:
  Movement(const std::string& name, size_t capacity, SimClusterOptions options = {})
      : cluster_(11, TestDir(name), Options(capacity, options)) {
    SetLogLevel(LogLevel::kError);
  }
  static SimClusterOptions Options(size_t capacity, SimClusterOptions options) {
    options.nodes = capacity;
    options.replication.n = 3;
    return options;
  }

  SimCluster& sim() { return cluster_; }

  // Starts nodes [0, count) and runs until they serve.
  void StartFirst(size_t count) {
    for (size_t i = 0; i < count; ++i) REQUIRE(cluster_.Start(i).ok());
    REQUIRE(cluster_.RunUntil([&] { return cluster_.Converged(); }, kMaxSettleMs));
  }

  // A client request to node `via`, run until answered.
  pb::Response Call(size_t via, pb::Request request) {
    std::optional<pb::Response> answer;
    cluster_.Request("test", via, std::move(request), [&](pb::Response r) { answer = std::move(r); });
    REQUIRE(cluster_.RunUntil([&] { return answer.has_value(); }, 20'000));
    return *answer;
  }

  void WriteAll(size_t via, int keys, uint32_t w) {
    for (int i = 0; i < keys; ++i) {
      pb::Request request;
      request.mutable_put()->set_key(Key(i));
      request.mutable_put()->set_value("value-" + std::to_string(i));
      request.mutable_put()->set_w(w);
      pb::Response response = Call(via, std::move(request));
      REQUIRE_MESSAGE(!response.has_error(), response.error().message());
    }
  }

  // Keys node i stores (reads its own LevelDB), of keys [0, keys).
  int StoredCount(size_t i, int keys) {
    int found = 0;
    for (int k = 0; k < keys; ++k) {
      Result<Object> object = cluster_.Stored(i, Key(k));
      REQUIRE(object.ok());
      found += object->empty() ? 0 : 1;
    }
    return found;
  }

  // Every running node sees the node at `i` LEFT (or `i` is the node and stopped).
  bool AllSeeLeft(size_t i) {
    for (size_t j = 0; j < cluster_.size(); ++j) {
      if (j == i || !cluster_.running(j)) continue;
      const gossip::NodeState* state = cluster_.membership(j)->gossiper().Find(cluster_.id(i));
      if (state == nullptr || state->status != gossip::NodeStatus::kLeft) return false;
    }
    return true;
  }

  void LeaveAndWait(size_t i) {
    cluster_.Leave(i);
    REQUIRE(cluster_.RunUntil([&] { return !cluster_.running(i) && AllSeeLeft(i); }, kMaxSettleMs));
    REQUIRE(cluster_.RunUntil([&] { return cluster_.Converged(); }, kMaxSettleMs));
  }

  void JoinAndWait(size_t i) {
    REQUIRE(cluster_.Start(i).ok());
    REQUIRE(cluster_.RunUntil([&] { return cluster_.Converged(); }, kMaxSettleMs));
  }

  // Checks that node i stores every key of [0, keys) it replicates (in
  // node 0's ring); returns how many it replicates.
  int HoldsWhatItReplicates(size_t i, int keys) {
    int replicated = 0;
    for (int k = 0; k < keys; ++k) {
      std::vector<size_t> replicas = cluster_.ReplicasOf(0, Key(k));
      if (std::find(replicas.begin(), replicas.end(), i) == replicas.end()) continue;
      ++replicated;
      Result<Object> stored = cluster_.Stored(i, Key(k));
      REQUIRE(stored.ok());
      CHECK_MESSAGE(!stored->empty(), Key(k) << " missing on " << cluster_.id(i));
    }
    return replicated;
  }

  const gossip::NodeState* StateSeenBy(size_t by, size_t of) {
    return cluster_.membership(by)->gossiper().Find(cluster_.id(of));
  }

 private:
  SimCluster cluster_;
};

TEST_CASE("two joins, two leaves and a death: the new nodes serve every key (issue scenario 1)") {
  Movement m("join_leave", 5);
  m.StartFirst(3);
  m.WriteAll(0, 400, 3);
  m.JoinAndWait(3);
  m.JoinAndWait(4);
  m.LeaveAndWait(0);
  m.LeaveAndWait(1);
  m.sim().Kill(2);
  // Three nodes are left in the ring (node 2 is down, not removed): each
  // replicates every key, so each survivor must hold all of them.
  CHECK(m.StoredCount(3, 400) == 400);
  CHECK(m.StoredCount(4, 400) == 400);
  int found = 0;
  for (int k = 0; k < 400; ++k) {
    pb::Request request;
    request.mutable_get()->set_key(Key(k));
    request.mutable_get()->set_r(1);
    pb::Response response = m.Call(3, std::move(request));
    found += !response.has_error() && response.get().siblings_size() > 0;
  }
  CHECK(found == 400);
}

TEST_CASE("a removed dead node's ranges are recreated on the survivors (issue scenario 2)") {
  Movement m("remove", 4);
  m.StartFirst(4);
  m.WriteAll(1, 400, 3);
  m.sim().Kill(0);
  REQUIRE(m.sim().RunUntil([&] { return m.sim().AllSeeUp(0, false); }, 30'000));
  REQUIRE(m.sim().mutable_membership(1)->RemoveNode(m.sim().id(0)).ok());
  REQUIRE(m.sim().RunUntil([&] { return m.AllSeeLeft(0); }, kMaxSettleMs));
  m.sim().Kill(1);
  m.sim().Kill(2);
  CHECK(m.StoredCount(3, 400) == 400);
}

TEST_CASE("a joining node is JOINING while its ranges stream in, then holds what the old replicas hold") {
  SimClusterOptions options;
  options.handoff.stream_max_bytes_per_sec = 20'000;  // slow enough to watch the stream
  Movement m("equal", 4, options);
  m.StartFirst(3);
  m.WriteAll(0, 300, 3);
  REQUIRE(m.sim().Start(3).ok());
  REQUIRE(m.sim().RunUntil(
      [&] {
        const gossip::NodeState* s = m.StateSeenBy(0, 3);
        return s != nullptr && !s->tokens.empty();
      },
      30'000));
  CHECK(m.StateSeenBy(0, 3)->status == gossip::NodeStatus::kJoining);
  REQUIRE(m.sim().RunUntil([&] { return m.sim().Converged(); }, kMaxSettleMs));
  CHECK(m.sim().services(3)->transfers().stats().keys_received > 0);
  // Per key the new node replicates: its object (siblings and version
  // vector) equals the one on every old replica that still replicates it.
  const std::string new_id = m.sim().id(3);
  int moved = 0;
  for (int k = 0; k < 300; ++k) {
    std::vector<size_t> replicas = m.sim().ReplicasOf(0, Key(k));
    if (std::find(replicas.begin(), replicas.end(), size_t{3}) == replicas.end()) continue;
    ++moved;
    Result<Object> on_new = m.sim().Stored(3, Key(k));
    REQUIRE(on_new.ok());
    for (size_t r : replicas) {
      if (r == 3) continue;
      Result<Object> on_old = m.sim().Stored(r, Key(k));
      REQUIRE(on_old.ok());
      CHECK(*on_new == *on_old);
    }
  }
  CHECK(moved > 0);
  // Each key came once, from one replica; the others were compared with it.
  const handoff::TransferStats& stats = m.sim().services(3)->transfers().stats();
  CHECK(stats.keys_received == static_cast<uint64_t>(moved));
  CHECK(stats.comparisons >= 2);
}

// A client that routes by key (issue 15) learns the ring from any node.
TEST_CASE("the ring answer names every node's token positions and client address") {
  Movement m("ring_answer", 3);
  m.StartFirst(3);
  dynkv::client::RingResponse ring;
  m.sim().membership(1)->FillRing(&ring);
  REQUIRE(ring.shares_size() == 3);
  const auto tokens = m.sim().membership(1)->CurrentRing();
  for (const dynkv::client::RingShare& share : ring.shares()) {
    const std::vector<uint64_t> positions(share.positions().begin(), share.positions().end());
    CHECK(positions == tokens->TokensOf(share.node_id()));
    CHECK(positions.size() == share.tokens());
    const size_t i = m.sim().IndexOf(share.node_id());
    REQUIRE(i < 3);
    CHECK(share.client_address() == m.sim().membership(i)->gossiper().self().client_address);
  }
}

// CASSANDRA-2434: a new replica must not inherit the one replica's missed
// write it streamed from; it compares with the others before it serves.
TEST_CASE("a joining node gets the writes the replica it pulled from had missed") {
  Movement m("missed", 4);
  m.StartFirst(3);
  m.WriteAll(0, 300, 3);
  // Each old node misses a third of the keys (as if a write had timed out there).
  for (int k = 0; k < 300; ++k) {
    REQUIRE(m.sim().Tamper(static_cast<size_t>(k % 3), Key(k), [](const Object&) { return Object{}; }).ok());
  }
  m.JoinAndWait(3);
  CHECK(m.HoldsWhatItReplicates(3, 300) > 0);
}

TEST_CASE("a node killed mid-stream, on either end, ends with every key on every current replica") {
  for (const bool kill_receiver : {true, false}) {
    CAPTURE(kill_receiver);
    SimClusterOptions options;
    options.handoff.stream_max_bytes_per_sec = 10'000;
    Movement m(kill_receiver ? "kill_receiver" : "kill_source", 4, options);
    m.StartFirst(3);
    m.WriteAll(0, 300, 3);
    REQUIRE(m.sim().Start(3).ok());
    REQUIRE(m.sim().RunUntil([&] { return m.sim().services(3)->transfers().stats().keys_received > 0; },
                             60'000));
    const size_t victim = kill_receiver ? 3 : 1;
    m.sim().Kill(victim);
    m.sim().RunFor(5'000);
    REQUIRE(m.sim().Start(victim).ok());
    REQUIRE(m.sim().RunUntil([&] { return m.sim().Converged(); }, kMaxSettleMs));
    for (int k = 0; k < 300; ++k) {
      for (size_t r : m.sim().ReplicasOf(0, Key(k))) {
        Result<Object> stored = m.sim().Stored(r, Key(k));
        REQUIRE(stored.ok());
        CHECK_MESSAGE(!stored->empty(), Key(k) << " missing on " << m.sim().id(r));
      }
    }
  }
}

TEST_CASE("a node back on an empty data dir takes its tokens back and streams its ranges in before it serves") {
  Movement m("replace", 4);
  m.StartFirst(4);
  m.WriteAll(0, 300, 3);
  const std::vector<uint64_t> tokens = m.StateSeenBy(0, 3)->tokens;
  REQUIRE(m.sim().Replace(3).ok());
  REQUIRE(m.sim().RunUntil(
      [&] {
        const gossip::NodeState* s = m.StateSeenBy(0, 3);
        return s != nullptr && s->status == gossip::NodeStatus::kReplacing;
      },
      60'000));
  REQUIRE(m.sim().RunUntil([&] { return m.sim().Converged(); }, kMaxSettleMs));
  CHECK(m.StateSeenBy(0, 3)->tokens == tokens);
  CHECK(m.HoldsWhatItReplicates(3, 300) > 0);
}

TEST_CASE("once every node runs the new ring, an old owner drops the keys it no longer replicates, not before") {
  Movement m("cleanup", 4);
  m.StartFirst(3);
  m.WriteAll(0, 300, 3);
  m.JoinAndWait(3);
  // Moments after the join every old node still has every key.
  for (size_t i = 0; i < 3; ++i) CHECK(m.StoredCount(i, 300) == 300);
  m.sim().RunFor(40'000);
  int dropped = 0;
  for (int k = 0; k < 300; ++k) {
    std::vector<size_t> replicas = m.sim().ReplicasOf(0, Key(k));
    for (size_t i = 0; i < 4; ++i) {
      Result<Object> stored = m.sim().Stored(i, Key(k));
      REQUIRE(stored.ok());
      const bool replica = std::find(replicas.begin(), replicas.end(), i) != replicas.end();
      if (replica) CHECK_MESSAGE(!stored->empty(), Key(k) << " missing on replica " << m.sim().id(i));
      if (!replica) {
        CHECK_MESSAGE(stored->empty(), Key(k) << " kept on " << m.sim().id(i));
        if (i < 3) ++dropped;  // the new node never had it
      }
    }
  }
  CHECK(dropped > 0);
  uint64_t deleted = 0;
  for (size_t i = 0; i < 3; ++i) deleted += m.sim().services(i)->transfers().stats().cleanup_keys_deleted;
  CHECK_MESSAGE(deleted == static_cast<uint64_t>(dropped), deleted << " deleted, " << dropped << " expected");
}

}  // namespace
}  // namespace dynkv::sim

namespace dynkv::sim {
namespace {

// Node i's coordinator judges every node in `others` down (or up).
bool JudgesAll(SimCluster& sim, size_t i, const std::vector<size_t>& others, bool up) {
  for (size_t o : others) {
    if (sim.membership(i)->IsUp(sim.id(o)) != up) return false;
  }
  return true;
}

// A stand-in that mints a write keeps the object in its own data (no
// primary is up to hold it). The cleanup after a ring change deletes that
// stray copy; a later stand-in write must still not mint a dot the key has
// already used, or the owners, whose version vector covers the old dot,
// drop the new value as already seen (found by the chaos run's membership
// and partition faults: acknowledged adds lost after a removal or a leave).
TEST_CASE("a stand-in's writes survive when the cleanup deleted its stray copy of an earlier one") {
  constexpr int kKeys = 150;
  Movement m("stray_dots", 6);
  m.StartFirst(5);
  SimCluster& sim = m.sim();
  const std::vector<size_t> majority = {0, 1, 2};
  auto partition = [&](const std::vector<size_t>& side) {
    std::set<std::string> group;
    for (size_t i : side) group.insert(sim.peer_address(i));
    sim.network().Partition({group});
    REQUIRE(sim.RunUntil([&] { return JudgesAll(sim, 3, majority, false); }, 30'000));
  };
  auto heal = [&] {
    sim.network().Heal();
    REQUIRE(sim.RunUntil([&] { return sim.Converged(); }, kMaxSettleMs));
    REQUIRE(sim.RunUntil(
        [&] {
          for (size_t i : sim.members()) {
            if (!sim.running(i)) continue;
            Result<uint64_t> hints = sim.HintsKept(i);
            if (!hints.ok() || *hints > 0) return false;
          }
          return true;
        },
        kMaxSettleMs, 500));
  };
  auto put = [&](size_t via, int k, const std::string& value, const std::string& context) {
    pb::Request request;
    request.mutable_put()->set_key(Key(k));
    request.mutable_put()->set_value(value);
    request.mutable_put()->set_context(context);
    request.mutable_put()->set_w(2);
    return !m.Call(via, std::move(request)).has_error();
  };
  auto get = [&](size_t via, int k) {
    pb::Request request;
    request.mutable_get()->set_key(Key(k));
    request.mutable_get()->set_r(3);
    pb::Response response = m.Call(via, std::move(request));
    REQUIRE_MESSAGE(!response.has_error(), response.error().message());
    return response.get();
  };

  // 1. Cut off from every primary, nodes 4 and 5 take the writes as stand-ins.
  partition({3, 4});
  for (int k = 0; k < kKeys; ++k) put(3, k, "first", "");
  heal();
  // 2. A client reads every key and writes over what it saw: the owners'
  //    version vectors now cover the stand-ins' dots.
  for (int k = 0; k < kKeys; ++k) REQUIRE(put(0, k, "second", get(0, k).context()));
  // 3. A ring change; once it is still, the cleanup drops the stray copies.
  m.JoinAndWait(5);
  sim.RunFor(40'000);
  uint64_t renewals = 0;
  for (size_t i : {3, 4}) renewals += sim.services(i)->transfers().stats().actor_renewals;
  CHECK(renewals > 0);  // the stand-ins deleted copies they had minted
  // 4. Cut off again: blind writes (the stand-ins have nothing to read).
  partition({3, 4});
  std::vector<int> acknowledged;
  for (int k = 0; k < kKeys; ++k) {
    if (put(3, k, "third", "")) acknowledged.push_back(k);
  }
  heal();
  REQUIRE(acknowledged.size() > 0);
  for (int k : acknowledged) {
    pb::GetResponse read = get(0, k);
    bool found = false;
    for (const pb::Sibling& s : read.siblings()) found = found || s.value() == "third";
    CHECK_MESSAGE(found, Key(k) << ": the acknowledged third write is lost");
  }
}

}  // namespace
}  // namespace dynkv::sim
