// One node's storage for tests on the simulator's Env: a LevelDB engine in a
// fresh directory, its storage worker run by the sim loop, and a real
// LocalReplica over it; and the helpers around it. Shared by the quorum and
// handoff tests.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "peer.pb.h"
#include "quorum/dvv.h"
#include "quorum/object_wire.h"
#include "quorum/replica.h"
#include "sim/sim_env.h"
#include "storage/storage.h"
#include "storage/temp_dir.h"

namespace dynkv::sim_fixture {

// The node's replica actor.
inline constexpr const char* kActor = "n1.0000aaaa";
// Long enough for the storage worker to run what is queued.
inline constexpr int64_t kStorageRunMs = 20;

inline std::string AddressOf(const std::string& node_id) { return node_id + ".test:7000"; }

// The env options of this node, n1.
inline sim::SimEnvOptions NodeEnvOptions(uint32_t call_timeout_ms = sim::SimEnvOptions{}.call_timeout_ms) {
  sim::SimEnvOptions options;
  options.node_id = "n1";
  options.peer_address = AddressOf("n1");
  options.call_timeout_ms = call_timeout_ms;
  return options;
}

inline Sibling Value(const std::string& value) {
  Sibling sibling;
  sibling.value = value;
  return sibling;
}

// An object as replica `actor` would mint it over `base`.
inline Object Minted(const std::string& actor, const std::string& value, const Object& base = Object{}) {
  return dvv::Sync(dvv::Update(base, base.vv, actor, Value(value)), Object{});
}

// The one response to one peer request handled by this node.
struct Response {
  int calls = 0;
  std::optional<peer::PeerResponse> response;

  std::function<void(peer::PeerResponse)> Reply() {
    return [this](peer::PeerResponse r) {
      ++calls;
      response = std::move(r);
    };
  }
  bool error() const { return response && response->has_error(); }
  Object object() const {
    REQUIRE(response);
    REQUIRE(response->has_object());
    auto object = quorum::FromProto(response->object());
    REQUIRE(object.ok());
    return *object;
  }
};

// A LevelDB engine in `dir`/db.
inline std::unique_ptr<storage::Engine> OpenEngine(const storage::TempDir& dir) {
  storage::Options options;
  options.data_dir = dir.Sub("db");
  auto engine = storage::OpenLevelDbEngine(options);
  REQUIRE(engine.ok());
  return std::move(*engine);
}

// REQUIRES: router outlives the node.
class ReplicaNode {
 public:
  ReplicaNode(sim::PeerRouter& router, uint64_t seed, sim::SimEnvOptions env_options)
      : random(seed),
        env(loop, random, router, std::move(env_options)),
        engine(OpenEngine(dir)),
        worker(env.StartStorage(*engine)),
        replica(*worker, env.clock(), kActor, quorum::ReplicaLimits{}) {}

  void RunFor(int64_t ms) { loop.RunFor(ms); }
  void RunStorage() { RunFor(kStorageRunMs); }

  // What the engine holds for `key`.
  Object Stored(const std::string& key) {
    auto object = engine->Get(key);
    REQUIRE(object.ok());
    return dvv::Sync(*object, Object{});
  }
  // Puts `object` in the replica, durably.
  void Preload(const std::string& key, const Object& object) {
    bool done = false;
    replica.Apply(key, object, [&](Result<Object> r) {
      REQUIRE(r.ok());
      done = true;
    });
    RunStorage();
    REQUIRE(done);
  }

  sim::SimLoop loop;
  sim::SimRandom random;
  sim::SimEnv env;
  storage::TempDir dir;
  std::unique_ptr<storage::Engine> engine;
  std::unique_ptr<storage::StorageWorker> worker;
  quorum::LocalReplica replica;
};

}  // namespace dynkv::sim_fixture
