// An in-process cluster of Gossipers on a SimLoop and SimNetwork: it plays
// the part of the node's driver (ticks every interval, SYN -> ACK -> ACK2
// over the network, refused connections reported as evidence) for many
// nodes in one thread, deterministically for one seed.
//
// Node i is "n<ii>" at peer address "n<ii>.sim:7000"; every node lists the
// first `seed_count` nodes as seeds. A node starts JOINING and turns NORMAL
// with its tokens at its third round, as a node does once it has learned
// the ring.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gossip/gossip.h"
#include "sim/sim_network.h"

namespace dynkv::sim {

struct GossipClusterOptions {
  size_t seed_count = 1;
  size_t tokens_per_node = 8;
  gossip::GossipOptions gossip;  // seeds are filled in by the cluster
  LinkOptions link;
};

// One membership event seen by one node, with the simulated time.
struct ObservedEvent {
  int64_t time_ms;
  std::string kind;  // join, change, restart, up, down, leave
  std::string node_id;
};

class GossipCluster {
 public:
  GossipCluster(uint64_t seed, GossipClusterOptions options);
  ~GossipCluster();

  // Adds `count` nodes and starts them now (their first rounds are spread
  // over one interval).
  void AddNodes(size_t count);
  // Starts node i again with a new generation (a restart), or for the first time.
  void Start(size_t i);
  // The process dies: it stops gossiping and its address refuses connections.
  void Kill(size_t i);
  // The node leaves: pushes its LEFT state to its live peers, then stops
  // once its notices are delivered.
  void Leave(size_t i);

  // Runs simulated time forward by `rounds` gossip intervals.
  void RunRounds(int rounds);
  // Runs whole rounds until `done()` holds (checked after each round), at
  // most `max_rounds`. Returns the rounds it took, or -1.
  int RunUntil(int max_rounds, const std::function<bool()>& done);

  // Every running node knows every other running node as NORMAL (at its
  // current generation) and judges it up.
  bool Converged() const;
  // Every running node other than i judges node i `up` (and knows it).
  bool AllSeeUp(size_t i, bool up) const;
  // Every running node other than i knows node i with `status`.
  bool AllSeeStatus(size_t i, gossip::NodeStatus status) const;

  size_t size() const { return nodes_.size(); }
  bool running(size_t i) const;
  gossip::Gossiper& node(size_t i);
  const std::string& id(size_t i) const;
  const std::string& address(size_t i) const;
  uint64_t generation(size_t i) const;
  // The events node i has seen, in order.
  const std::vector<ObservedEvent>& events(size_t i) const;
  // The time node i saw `kind` about `node_id` at or after `since`; -1 if never.
  int64_t FirstEvent(size_t i, const std::string& kind, const std::string& node_id, int64_t since) const;

  SimLoop& loop() { return loop_; }
  SimNetwork& network() { return network_; }
  int64_t interval_ms() const { return options_.gossip.interval_ms; }

 private:
  struct Node;
  class Recorder;

  void ScheduleTick(size_t i, uint64_t incarnation, int64_t at);
  void Tick(size_t i, uint64_t incarnation);
  void SendSyn(size_t i, uint64_t incarnation, gossip::OutgoingSyn out);
  void SendLeave(size_t i, gossip::OutgoingLeave out);
  // The running node listening on `address`, or nullptr.
  Node* NodeAt(const std::string& address);
  bool Alive(size_t i, uint64_t incarnation) const;

  GossipClusterOptions options_;
  SimLoop loop_;
  SimNetwork network_;
  SimRandom random_;
  std::vector<std::string> seeds_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

}  // namespace dynkv::sim
