// SimCluster: whole dynkv nodes in one process and one thread, on the
// simulated clock and network (DESIGN.md: The node environment and the
// simulator; FoundationDB's simulation is the model). Each node is the real
// NodeServices of dynkvd -- coordinator, replica over its own LevelDB in a
// directory of its own, hinted handoff, gossip -- on a SimEnv instead of
// libuv; peer requests travel through the SimNetwork to the target node's
// peer handler, client requests to its ClientService.
//
// Faults: kill (the life ends; what the storage worker had not written is
// lost; a restart opens the same data dir), pause (every event of the node
// held until it resumes), partitions and one-way cuts (SimNetwork), message
// loss, duplication and delay (LinkOptions), clock jumps (SimEnv).
//
// With gossip_only, a node is its gossip driver (Membership) alone, with no
// storage: enough for membership at a thousand nodes.
//
// Node i (from 0) is "n<i+1>", with peer address "n<i+1>.sim:7000" and client
// address "n<i+1>.sim:8000". Deterministic: a seed and a build give one run.
//
// Threads: one.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "client.pb.h"
#include "common/object.h"
#include "common/status.h"
#include "node/config.h"
#include "node/membership.h"
#include "node/services.h"
#include "sim/sim_env.h"
#include "sim/sim_network.h"
#include "sim/trace.h"

namespace dynkv::sim {

// One membership event seen by one node, with the simulated time.
struct ObservedEvent {
  int64_t time_ms;
  std::string kind;  // join, change, restart, up, down, leave
  std::string node_id;
};

struct SimClusterOptions {
  size_t nodes = 5;
  size_t seed_nodes = 2;  // the first ones are every node's seeds
  node::ReplicationConfig replication;
  uint32_t vnodes = 8;
  uint32_t request_timeout_ms = 1500;  // the nodes' request_timeout
  int64_t max_storage_delay_ms = 2;
  uint64_t cache_bytes = 1 << 20;
  LinkOptions link;
  bool gossip_only = false;
  // gossip_only: every node starts NORMAL with tokens of its own, as a
  // cluster that existed before (its members restart); else they join.
  bool preassigned_tokens = false;
};

class SimCluster final : public PeerRouter {
 public:
  // `dir`: where the nodes' data dirs go (must exist). `trace` may be null.
  SimCluster(uint64_t seed, std::string dir, SimClusterOptions options, Trace* trace = nullptr);
  ~SimCluster() override;

  size_t size() const { return nodes_.size(); }
  const std::string& id(size_t i) const;
  const std::string& peer_address(size_t i) const;
  // The node whose id is `node_id`, or size() when none is.
  size_t IndexOf(const std::string& node_id) const;

  // Starts node i (again: a restart on its data dir, a new generation).
  Status Start(size_t i);
  Status StartAll();
  // The process dies at once: no event of it runs again, queued storage work is lost.
  void Kill(size_t i);
  void Pause(size_t i);
  void Resume(size_t i);
  void JumpClock(size_t i, int64_t delta_ms);
  void ResetClock(size_t i);
  bool running(size_t i) const;
  bool paused(size_t i) const;
  // While on, every node's calls to node i fail at once, inside the call,
  // as PeerPool's do while a peer is backing off.
  void RefuseAtOnce(size_t i, bool on);

  // A client request from `client` (an endpoint name) to node i's client
  // port; `reply` when the answer gets back, never if it is lost or the
  // node dies first.
  void Request(const std::string& client, size_t i, dynkv::client::Request request,
               std::function<void(dynkv::client::Response)> reply);

  // The node leaves (`dynkv leave`): it tells its peers, then stops.
  void Leave(size_t i);

  // Node i's membership; nullptr when i is not running.
  const node::Membership* membership(size_t i) const;
  node::Membership* mutable_membership(size_t i);
  // The membership events node i has seen, in every life, in order.
  const std::vector<ObservedEvent>& events(size_t i) const;
  // When node i first saw `kind` about `node_id` at or after `since`; -1 if never.
  int64_t FirstEvent(size_t i, const std::string& kind, const std::string& node_id, int64_t since) const;
  node::NodeServices* services(size_t i);
  // Every running, unpaused node sees every other such node up and NORMAL
  // at its current generation, and (with require_ready) is ready to serve.
  bool Converged(bool require_ready = true) const;
  // Every running node other than i judges node i `up`.
  bool AllSeeUp(size_t i, bool up) const;

  // The node indexes of the key's N primaries in node i's ring, in order.
  std::vector<size_t> ReplicasOf(size_t i, const std::string& key) const;
  // What node i stores for `key`, and the hints it keeps for all targets
  // (running the cluster until its storage answers).
  Result<Object> Stored(size_t i, const std::string& key);
  Result<uint64_t> HintsKept(size_t i);

  void RunFor(int64_t ms) { loop_.RunFor(ms); }
  // Runs until `done()` (checked every `step_ms`), at most max_ms. False if it never held.
  bool RunUntil(const std::function<bool()>& done, int64_t max_ms, int64_t step_ms = 10);

  SimLoop& loop() { return loop_; }
  SimNetwork& network() { return network_; }
  SimRandom& random() { return random_; }
  // Adds a line to the run's trace (when it has one), at the current time.
  void Note(const std::string& what);

  // PeerRouter
  void Route(const std::string& from_address, const std::string& to_address, peer::PeerRequest request,
             std::function<void(peer::PeerResponse)> reply, std::function<void()> refused) override;

 private:
  struct Node;
  class Recorder;
  node::Config ConfigOf(size_t i) const;
  Status StartGossipOnly(size_t i, const node::Config& config);
  Status StartWholeNode(size_t i, const node::Config& config);
  void AssignTokens();
  std::function<void()> StopCallback(size_t i);
  Node* At(const std::string& address);

  std::string dir_;
  SimClusterOptions options_;
  Trace* trace_;
  SimLoop loop_;
  SimRandom random_;
  SimNetwork network_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::map<std::string, Node*> by_address_;  // peer addresses; every message is routed by one
  std::set<std::string> refused_at_once_;  // peer addresses
};

}  // namespace dynkv::sim
