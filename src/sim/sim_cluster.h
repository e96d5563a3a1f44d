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
// Membership changes: AddNode (a new node joins), Leave (`dynkv leave`),
// Remove (`dynkv remove` of a dead node), Replace (the node lost its disk
// and comes back empty under its id). A node that left or was removed has
// departed: it is not a member, Converged() and MembershipSettled() do not
// count it, and no automatic restart brings it back (only an explicit
// Start, an operator starting it again, which rejoins it). Nodes are never
// taken out of the table, so an index names one node for the whole run.
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
#include "antientropy/coverage.h"
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
  // The first members are the seeds of every node that starts; when a seed
  // departs the next member takes its place, as an operator edits the
  // seed lists before retiring a seed.
  size_t seed_nodes = 2;
  node::ReplicationConfig replication;
  uint32_t vnodes = 8;
  uint32_t request_timeout_ms = 1500;  // the nodes' request_timeout
  int64_t max_storage_delay_ms = 2;
  uint64_t cache_bytes = 1 << 20;
  node::HandoffConfig handoff;  // the nodes' handoff section (hint and stream rates)
  node::AntiEntropyConfig anti_entropy;  // the nodes' anti_entropy section
  int64_t reap_interval_ms = node::Config{}.reap_interval_ms;
  int64_t tombstone_grace_ms = node::Config{}.tombstone_grace_ms;
  LinkOptions link;
  // The nodes' failure_detector.phi_threshold.
  double phi_threshold = node::MembershipConfig{}.phi_threshold;
  // The nodes' gossip.max_digests.
  uint32_t max_digests = node::MembershipConfig{}.max_digests;
  // Node i's location.datacenter and location.rack; nodes past the end
  // are in the config's defaults (dc1, rack1).
  std::vector<ring::Location> locations;
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

  const SimClusterOptions& options() const { return options_; }
  // Every node the run has had, departed ones included.
  size_t size() const { return nodes_.size(); }
  const std::string& id(size_t i) const;
  const std::string& peer_address(size_t i) const;
  const std::string& client_address(size_t i) const;
  // The node whose id is `node_id`, or size() when none is.
  size_t IndexOf(const std::string& node_id) const;

  // Starts node i (again: a restart on its data dir, a new generation). A
  // departed node started again rejoins and is a member again.
  Status Start(size_t i);
  Status StartAll();
  // The process dies at once: no event of it runs again, queued storage work is lost.
  void Kill(size_t i);
  void Pause(size_t i);
  void Resume(size_t i);
  // Gray failures: every message to or from node i (peers and clients)
  // takes extra_ms more (0 ends it); node i's storage thread runs nothing
  // for ms.
  void Slow(size_t i, int64_t extra_ms);
  void StallStorage(size_t i, int64_t ms);
  void JumpClock(size_t i, int64_t delta_ms);
  void ResetClock(size_t i);
  bool running(size_t i) const;
  bool paused(size_t i) const;
  // While on, every node's calls to node i fail at once, inside the call,
  // as PeerPool's do while a peer is backing off.
  void RefuseAtOnce(size_t i, bool on);
  // Node i's connection to node j is lost though j is fine: i has evidence
  // against j. No-op unless i runs.
  void LoseConnection(size_t i, size_t j);

  // A client request from `client` (an endpoint name) to node i's client
  // port; `reply` when the answer gets back, never if it is lost or the
  // node dies first.
  void Request(const std::string& client, size_t i, dynkv::client::Request request,
               std::function<void(dynkv::client::Response)> reply);

  // The node leaves (`dynkv leave`): it hands over its ranges, tells its
  // peers, then stops. It has departed from now on. No-op unless running.
  void Leave(size_t i);

  // A new node, index size() before the call and id "n<index+1>", with a
  // fresh data dir and the seeds of the others; started at once, it joins
  // the running cluster as dynkvd does (listens, then takes tokens).
  // Returns its index; the node is in the table even if it failed to start.
  Result<size_t> AddNode();
  // Node i lost its disk: it is killed, its data dir is deleted, and it
  // starts again empty under the same id (a new generation).
  Status Replace(size_t i);
  // `dynkv remove <node i>` asked of node `via` (its ClusterAdmin). Once
  // accepted node i has departed. The membership's refusal as it is (node
  // i up in via's view, unknown, or via itself); UNAVAILABLE when via is
  // not running.
  Status Remove(size_t i, size_t via);

  // Node i left or was removed (and was not started again since).
  bool departed(size_t i) const;
  // The indexes of the nodes that have not departed, in order.
  std::vector<size_t> members() const;

  // Node i's membership; nullptr when i is not running.
  const node::Membership* membership(size_t i) const;
  node::Membership* mutable_membership(size_t i);
  // The membership events node i has seen, in every life, in order.
  const std::vector<ObservedEvent>& events(size_t i) const;
  // When node i first saw `kind` about `node_id` at or after `since`; -1 if never.
  int64_t FirstEvent(size_t i, const std::string& kind, const std::string& node_id, int64_t since) const;
  node::NodeServices* services(size_t i);
  // Every running, unpaused member sees every other such member up and
  // NORMAL at its current generation, and (with require_ready) is ready to
  // serve. Departed nodes do not count, as viewers or as members.
  bool Converged(bool require_ready = true) const;
  // A membership change has finished: every member runs, unpaused and
  // ready; in each one's view the members that are not LEFT are exactly
  // members(), each NORMAL with tokens, up, at its current generation; and
  // every departed node has stopped.
  bool MembershipSettled() const;
  // Every running node other than i judges node i `up`.
  bool AllSeeUp(size_t i, bool up) const;

  // The node indexes of the key's N primaries in node i's ring, in order.
  std::vector<size_t> ReplicasOf(size_t i, const std::string& key) const;
  // What node i stores for `key`, and the hints it keeps for all targets
  // (running the cluster until its storage answers).
  Result<Object> Stored(size_t i, const std::string& key);
  Result<uint64_t> HintsKept(size_t i);
  // Changes what node i stores for `key`, as a bug or a lost write would:
  // straight into its storage, replicated nowhere. Runs until it is durable.
  Result<Object> Tamper(size_t i, const std::string& key, std::function<Object(const Object& current)> change);
  // Anti-entropy: for every two running members that replicate a token
  // range together (in node `view`'s ring), their hash trees over the ranges
  // they share; one line per pair whose trees differ ("n1 n3: 4 branches
  // differ"), or why a tree could not be read. Empty: every replica agrees.
  std::vector<std::string> TreeDifferences(size_t view);

  void RunFor(int64_t ms) { loop_.RunFor(ms); }
  // Runs until `done()` (checked every `step_ms`), at most max_ms. False if it never held.
  bool RunUntil(const std::function<bool()>& done, int64_t max_ms, int64_t step_ms = 10);

  SimLoop& loop() { return loop_; }
  SimNetwork& network() { return network_; }
  // Bytes of every peer request and response sent so far (frames: the
  // serialized message and its 4-byte length), lost ones included.
  uint64_t peer_bytes() const { return peer_bytes_; }
  SimRandom& random() { return random_; }
  // Adds a line to the run's trace (when it has one), at the current time.
  void Note(const std::string& what);

  // PeerRouter
  void Route(const std::string& from_address, const std::string& to_address, peer::PeerRequest request,
             std::function<void(peer::PeerResponse)> reply, std::function<void()> refused) override;

 private:
  struct Node;
  class Recorder;
  std::unique_ptr<Node> MakeNode(size_t i);
  node::Config ConfigOf(size_t i) const;
  Status StartGossipOnly(size_t i, const node::Config& config);
  Status StartWholeNode(size_t i, const node::Config& config);
  void AssignTokens();
  std::function<void()> StopCallback(size_t i);
  Node* At(const std::string& address);
  // Node i's tree hashes over `ranges` (its storage thread answers).
  Result<std::vector<uint64_t>> TreeBranches(size_t i, const std::vector<antientropy::RingRange>& ranges);

  std::string dir_;
  SimClusterOptions options_;
  Trace* trace_;
  SimLoop loop_;
  SimRandom random_;
  uint64_t peer_bytes_ = 0;
  SimNetwork network_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::map<std::string, Node*> by_address_;  // peer addresses; every message is routed by one
  std::set<std::string> refused_at_once_;  // peer addresses
};

}  // namespace dynkv::sim
