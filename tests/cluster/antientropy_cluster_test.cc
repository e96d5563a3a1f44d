// Active anti-entropy on whole simulated nodes (DESIGN.md: Anti-entropy):
// replicas made to diverge in every way agree after one exchange; a delete
// is never resurrected by an exchange with a replica that missed it, and
// its tombstone is reaped only once every replica has exchanged since; the
// tree is rebuilt after a crash; writes a replica missed with hints off
// reach it with no read and no command.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/log.h"
#include "quorum/dvv.h"
#include "sim/sim_cluster.h"
#include "test_dir.h"

namespace dynkv::sim {
namespace {

namespace pb = dynkv::client;

constexpr int64_t kMaxMs = 180'000;

std::string TestDir(const std::string& name) { return FreshTestDir("aae_" + name); }

std::string Key(int i) { return "key-" + std::to_string(i); }

Sibling Value(const std::string& actor, uint64_t counter, std::string value, int64_t expires_at_ms = 0) {
  return Sibling{Dot{actor, counter}, false, std::move(value), 1'000, expires_at_ms};
}

class Cluster {
 public:
  Cluster(const std::string& name, size_t nodes, SimClusterOptions options = {})
      : sim_(17, TestDir(name), Options(nodes, options)) {
    SetLogLevel(LogLevel::kError);
    for (size_t i = 0; i < nodes; ++i) REQUIRE(sim_.Start(i).ok());
    REQUIRE(sim_.RunUntil([&] { return sim_.Converged(); }, kMaxMs));
    REQUIRE(sim_.RunUntil([&] { return TreesReady(); }, kMaxMs));
  }
  static SimClusterOptions Options(size_t nodes, SimClusterOptions options) {
    options.nodes = nodes;
    options.replication.n = static_cast<uint32_t>(std::min<size_t>(3, nodes));
    options.replication.r = 1;
    options.replication.w = 1;
    return options;
  }

  SimCluster& sim() { return sim_; }

  bool TreesReady() {
    for (size_t i = 0; i < sim_.size(); ++i) {
      if (sim_.running(i) && !sim_.services(i)->anti_entropy().tree_ready()) return false;
    }
    return true;
  }

  pb::Response Call(size_t via, pb::Request request) {
    std::optional<pb::Response> answer;
    sim_.Request("test", via, std::move(request), [&](pb::Response r) { answer = std::move(r); });
    REQUIRE(sim_.RunUntil([&] { return answer.has_value(); }, 20'000));
    return *answer;
  }
  void Put(size_t via, const std::string& key, const std::string& value, uint32_t w) {
    pb::Request request;
    request.mutable_put()->set_key(key);
    request.mutable_put()->set_value(value);
    request.mutable_put()->set_w(w);
    pb::Response response = Call(via, std::move(request));
    REQUIRE_MESSAGE(!response.has_error(), response.error().message());
  }
  pb::GetResponse Get(size_t via, const std::string& key, uint32_t r) {
    pb::Request request;
    request.mutable_get()->set_key(key);
    request.mutable_get()->set_r(r);
    pb::Response response = Call(via, std::move(request));
    REQUIRE_MESSAGE(!response.has_error(), response.error().message());
    return response.get();
  }
  Object Stored(size_t i, const std::string& key) {
    Result<Object> object = sim_.Stored(i, key);
    REQUIRE(object.ok());
    return *object;
  }
  void Tamper(size_t i, const std::string& key, std::function<Object(const Object&)> change) {
    REQUIRE(sim_.Tamper(i, key, std::move(change)).ok());
  }
  // `dynkv repair` on node i, run to its end.
  pb::RepairResponse Repair(size_t i) {
    pb::Request request;
    request.mutable_repair()->set_start(true);
    pb::Response started = Call(i, request);
    REQUIRE_MESSAGE(!started.has_error(), started.error().message());
    pb::RepairResponse status = started.repair();
    REQUIRE(sim_.RunUntil(
        [&] {
          pb::Request poll;
          poll.mutable_repair();
          status = Call(i, poll).repair();
          return !status.running();
        },
        kMaxMs, 200));
    return status;
  }

 private:
  SimCluster sim_;
};

TEST_CASE("replicas made to diverge in every way are identical after one exchange") {
  SimClusterOptions options;
  options.anti_entropy.interval_ms = 0;  // only `dynkv repair` exchanges
  Cluster c("diverge", 2, options);      // N=2: a repair on n1 is one exchange with n2
  for (int k = 0; k < 100; ++k) c.Put(0, Key(k), "v" + std::to_string(k), 2);
  // A write only one replica got.
  for (int k = 100; k < 110; ++k) {
    c.Tamper(0, Key(k), [](const Object&) {
      Object o;
      o.vv = VersionVector({{"lost.1", 1}});
      o.siblings.push_back(Value("lost.1", 1, "missed"));
      return o;
    });
  }
  // A replica that lost part of its data.
  for (int k = 0; k < 20; ++k) c.Tamper(1, Key(k), [](const Object&) { return Object{}; });
  // A concurrent sibling only one replica holds.
  for (int k = 20; k < 30; ++k) {
    c.Tamper(1, Key(k), [](const Object& current) {
      Object extra;
      extra.vv = VersionVector({{"other.1", 3}});
      extra.siblings.push_back(Value("other.1", 3, "sibling"));
      return dvv::Sync(current, extra);
    });
  }
  // A delete only one replica got.
  for (int k = 30; k < 40; ++k) {
    c.Tamper(0, Key(k), [](const Object& current) {
      Sibling tombstone{Dot{}, true, "", 2'000, 0};
      return dvv::Update(current, current.vv, "deleter.1", tombstone);
    });
  }
  // An expired sibling only one replica holds.
  for (int k = 40; k < 50; ++k) {
    c.Tamper(1, Key(k), [](const Object& current) {
      Object expired;
      expired.vv = VersionVector({{"ttl.1", 1}});
      expired.siblings.push_back(Value("ttl.1", 1, "expired", 1'500));
      return dvv::Sync(current, expired);
    });
  }
  REQUIRE_FALSE(c.sim().TreeDifferences(0).empty());

  const pb::RepairResponse repair = c.Repair(0);
  CHECK(repair.ranges_done() == repair.ranges_total());
  CHECK(repair.ranges_total() > 0);
  CHECK(repair.not_compared_size() == 0);
  CHECK(repair.keys_repaired() > 0);
  for (int k = 0; k < 110; ++k) {
    CHECK_MESSAGE(c.Stored(0, Key(k)) == c.Stored(1, Key(k)), Key(k) << " differs after the exchange");
  }
  CHECK(c.sim().TreeDifferences(0).empty());
  // What the replicas now hold is the union, as dvv::Sync makes it.
  CHECK(c.Stored(1, Key(105)).siblings.at(0).value == "missed");
  CHECK(c.Stored(0, Key(5)).siblings.at(0).value == "v5");
  CHECK(c.Stored(1, Key(5)).siblings.at(0).value == "v5");
  CHECK(c.Stored(0, Key(25)).siblings.size() == 2);
  CHECK(c.Get(1, Key(35), 1).siblings_size() == 0);  // the delete won on both
  CHECK(c.Stored(1, Key(35)).siblings.at(0).tombstone);
  CHECK(c.Stored(0, Key(45)).siblings.size() == 2);
  CHECK(c.Get(0, Key(45), 2).siblings_size() == 1);  // the expired one reads as absent

  // Another exchange finds nothing to move.
  const uint64_t moved = c.sim().services(0)->anti_entropy().stats().keys_pulled +
                         c.sim().services(0)->anti_entropy().stats().keys_pushed;
  c.Repair(0);
  CHECK(c.sim().services(0)->anti_entropy().stats().keys_pulled +
            c.sim().services(0)->anti_entropy().stats().keys_pushed ==
        moved);
}

TEST_CASE("a repair on every node makes all replicas of a 4-node cluster agree") {
  SimClusterOptions options;
  options.anti_entropy.interval_ms = 0;
  Cluster c("repair_all", 4, options);
  for (int k = 0; k < 200; ++k) c.Put(k % 4, Key(k), "v", 3);
  for (int k = 0; k < 200; k += 3) {
    const size_t node = static_cast<size_t>(k) % 4;
    c.Tamper(node, Key(k), [](const Object&) { return Object{}; });
  }
  REQUIRE_FALSE(c.sim().TreeDifferences(0).empty());
  for (size_t i = 0; i < 4; ++i) {
    const pb::RepairResponse repair = c.Repair(i);
    CHECK(repair.ranges_done() == repair.ranges_total());
  }
  CHECK(c.sim().TreeDifferences(0).empty());
  for (int k = 0; k < 200; ++k) {
    for (size_t r : c.sim().ReplicasOf(0, Key(k))) CHECK_FALSE(c.Stored(r, Key(k)).empty());
  }
}

TEST_CASE("with hints off, writes a replica missed reach it in the background, with no read") {
  SimClusterOptions options;
  options.anti_entropy.interval_ms = 2'000;
  options.replication.sloppy_quorum = false;  // no stand-ins, no hints
  Cluster c("background", 3, options);
  c.sim().Kill(2);
  REQUIRE(c.sim().RunUntil([&] { return c.sim().AllSeeUp(2, false); }, 30'000));
  for (int k = 0; k < 300; ++k) c.Put(0, Key(k), "while-down", 2);
  REQUIRE(c.sim().Start(2).ok());
  REQUIRE(c.sim().RunUntil([&] { return c.sim().Converged() && c.TreesReady(); }, kMaxMs));
  REQUIRE(c.sim().RunUntil([&] { return c.sim().TreeDifferences(0).empty(); }, kMaxMs, 1'000));
  for (int k = 0; k < 300; ++k) CHECK_FALSE(c.Stored(2, Key(k)).empty());
  CHECK(c.sim().services(2)->anti_entropy().stats().keys_pulled +
            c.sim().services(0)->anti_entropy().stats().keys_pushed +
            c.sim().services(1)->anti_entropy().stats().keys_pushed >
        0);
}

TEST_CASE("a delete is never resurrected, and its tombstone goes only once every replica exchanged since") {
  SimClusterOptions options;
  options.anti_entropy.interval_ms = 2'000;
  options.replication.sloppy_quorum = false;
  options.handoff.hint_window_ms = 5'000;  // the propagation delay
  options.reap_interval_ms = 1'000;
  Cluster c("tombstone", 3, options);
  for (int k = 0; k < 50; ++k) c.Put(0, Key(k), "doomed", 3);
  c.sim().RunFor(10'000);  // exchanges before the delete
  c.sim().network().Partition({{c.sim().peer_address(2)}});
  REQUIRE(c.sim().RunUntil([&] { return !c.sim().membership(0)->IsUp(c.sim().id(2)); }, 30'000));
  for (int k = 0; k < 50; ++k) {
    pb::Request request;
    request.mutable_delete_()->set_key(Key(k));
    request.mutable_delete_()->set_context(c.Get(0, Key(k), 2).context());
    request.mutable_delete_()->set_w(2);
    pb::Response response = c.Call(0, std::move(request));
    REQUIRE_MESSAGE(!response.has_error(), response.error().message());
  }
  // n3 missed the deletes; whatever n1 and n2 reap meanwhile, they keep the tombstones.
  c.sim().RunFor(60'000);
  for (int k = 0; k < 50; ++k) {
    const Object on1 = c.Stored(0, Key(k));
    REQUIRE(on1.siblings.size() == 1);
    CHECK(on1.siblings[0].tombstone);
    CHECK_FALSE(c.Stored(2, Key(k)).siblings.at(0).tombstone);
  }
  c.sim().network().Heal();
  REQUIRE(c.sim().RunUntil([&] { return c.sim().Converged(); }, kMaxMs));
  // Exchanges bring n3 the tombstones, then every replica reaps them.
  REQUIRE(c.sim().RunUntil(
      [&] {
        for (size_t i = 0; i < 3; ++i) {
          if (!c.Stored(i, Key(0)).empty()) return false;
        }
        return true;
      },
      kMaxMs, 1'000));
  c.sim().RunFor(20'000);  // more exchanges after the reaping
  for (int k = 0; k < 50; ++k) {
    for (size_t i = 0; i < 3; ++i) {
      const Object stored = c.Stored(i, Key(k));
      for (const Sibling& s : stored.siblings) CHECK_MESSAGE(s.tombstone, Key(k) << " came back on n" << i + 1);
    }
    CHECK(c.Get(1, Key(k), 3).siblings_size() == 0);
  }
  // A key written again after its tombstone was reaped keeps the new value.
  c.Put(2, Key(7), "reborn", 3);
  c.sim().RunFor(10'000);
  for (size_t i = 0; i < 3; ++i) CHECK(c.Get(i, Key(7), 3).siblings_size() == 1);
}

TEST_CASE("after a crash the tree is rebuilt from the data, and agrees with the other replicas") {
  SimClusterOptions options;
  options.anti_entropy.interval_ms = 0;
  Cluster c("crash", 3, options);
  for (int k = 0; k < 300; ++k) c.Put(0, Key(k), "v", 3);
  REQUIRE(c.sim().TreeDifferences(0).empty());
  c.sim().Kill(1);
  REQUIRE(c.sim().Start(1).ok());
  REQUIRE(c.sim().RunUntil([&] { return c.sim().Converged() && c.TreesReady(); }, kMaxMs));
  CHECK(c.sim().services(1)->anti_entropy().stats().rebuilds == 1);
  CHECK(c.sim().TreeDifferences(0).empty());
}

}  // namespace
}  // namespace dynkv::sim
