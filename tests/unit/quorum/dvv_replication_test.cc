// The no-lost-write property (DESIGN.md: Causality) on a simulated cluster:
// clients read a context from one replica and write through another while
// replicas sync in random pairs. After a full sync a written sibling is gone
// exactly when some write's context covered its dot.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "dvv_test_util.h"
#include "quorum/dvv.h"

namespace dynkv::dvv {
namespace {

constexpr size_t kReplicas = 3;
constexpr size_t kClients = 4;
constexpr int kSteps = 300;

struct Cluster {
  std::vector<Object> replicas = std::vector<Object>(kReplicas);
  std::vector<VersionVector> client_contexts = std::vector<VersionVector>(kClients);
  std::map<Dot, Sibling> written;                 // every write, by the dot it got
  std::vector<VersionVector> contexts_of_writes;  // the context each write carried
};

void ClientWrites(dvv_test::Rng& rng, int step, Cluster* cluster) {
  const size_t client = rng.Below(kClients);
  const size_t r = rng.Below(kReplicas);
  Sibling sibling = dvv_test::RandomSibling(rng);
  // A unique value, so a sibling found at the end names the write it came from.
  if (!sibling.tombstone) sibling.value = "client" + std::to_string(client) + "-step" + std::to_string(step);
  VersionVector& context = cluster->client_contexts[client];
  Object& replica = cluster->replicas[r];
  const ActorId actor = dvv_test::ReplicaActor(r);
  const Dot dot{actor, std::max(replica.vv.Get(actor), context.Get(actor)) + 1};
  replica = Update(replica, context, actor, sibling);
  sibling.dot = dot;
  REQUIRE(std::count(replica.siblings.begin(), replica.siblings.end(), sibling) == 1);
  REQUIRE(cluster->written.count(dot) == 0);
  cluster->written[dot] = sibling;
  cluster->contexts_of_writes.push_back(context);
  // Half the clients take the context a put returns; the others keep writing
  // from their stale one, making siblings.
  if (rng.OneIn(2)) context = replica.vv;
}

void RunSchedule(dvv_test::Rng& rng, Cluster* cluster) {
  for (int step = 0; step < kSteps; ++step) {
    const uint64_t action = rng.Below(4);
    if (action == 0) {
      cluster->client_contexts[rng.Below(kClients)] = cluster->replicas[rng.Below(kReplicas)].vv;
    } else if (action == 1 || action == 2) {
      ClientWrites(rng, step, cluster);
    } else {
      const size_t from = rng.Below(kReplicas);
      const size_t to = rng.Below(kReplicas);
      Object& target = cluster->replicas[to];
      target = Sync(target, cluster->replicas[from]);
      if (rng.OneIn(2)) cluster->replicas[from] = target;
    }
  }
}

// Anti-entropy around the ring of replicas, twice, so each one hears from all.
void SyncAll(Cluster* cluster) {
  for (size_t i = 0; i < 2 * kReplicas; ++i) {
    Object& next = cluster->replicas[(i + 1) % kReplicas];
    next = Sync(next, cluster->replicas[i % kReplicas]);
  }
}

bool CoveredByAWrite(const Cluster& cluster, const Dot& dot) {
  for (const VersionVector& context : cluster.contexts_of_writes) {
    if (context.Covers(dot)) return true;
  }
  return false;
}

TEST_CASE("no write is lost and none is invented across replicas, clients and syncs") {
  const uint64_t base = dvv_test::BaseSeed();
  size_t superseded_writes = 0;
  size_t surviving_writes = 0;
  for (uint64_t round = 0; round < 200; ++round) {
    const uint64_t seed = base + round;
    CAPTURE(seed);
    dvv_test::Rng rng(seed);
    Cluster cluster;
    RunSchedule(rng, &cluster);
    SyncAll(&cluster);

    const Object& final_object = cluster.replicas[0];
    CAPTURE(final_object);
    REQUIRE(dvv_test::InvariantViolation(final_object) == "");
    for (size_t r = 1; r < kReplicas; ++r) CHECK(cluster.replicas[r] == final_object);

    std::map<Dot, Sibling> present;
    for (const Sibling& s : final_object.siblings) present[s.dot] = s;
    for (const auto& [dot, sibling] : cluster.written) {
      const bool superseded = CoveredByAWrite(cluster, dot);
      INFO("write ", dot.actor, ":", dot.counter, " superseded=", superseded);
      CHECK(present.count(dot) == (superseded ? 0u : 1u));
      ++(superseded ? superseded_writes : surviving_writes);
    }
    for (const auto& [dot, sibling] : present) {
      INFO("final sibling ", dot.actor, ":", dot.counter);
      REQUIRE(cluster.written.count(dot) == 1);
      CHECK(cluster.written.at(dot) == sibling);
    }
  }
  // The schedules must exercise both outcomes, or the checks above prove little.
  CHECK(superseded_writes > 0);
  CHECK(surviving_writes > 200);
}

}  // namespace
}  // namespace dynkv::dvv
