// RingTracker: the ring as gossip describes it (DESIGN.md: Ring). It keeps
// a ring of every node that owns tokens and has not left, in step with the
// gossiper's table; it gives this node its tokens when it joins; and it
// says when this node has heard enough of the cluster to serve.
//
// Joining, as Cassandra waits for gossip to settle: a new node listens for
// join_delay_rounds rounds, so that it learns the ring the cluster already
// has, then takes balanced tokens against it (ring::AllocateTokens), makes
// them durable, and only then announces them, still JOINING: it is pending
// for what it gains (ring::Placement) until its data has streamed in and
// the node calls FinishJoin. Nodes that start together take turns by node
// id: each allocates against the tokens of the ones before it instead of
// against the same empty ring; and a node takes tokens only while the ring
// is still (one change at a time, DESIGN.md: Data movement).
//
// Replacement: a node with no tokens whose id the cluster knows with tokens
// (Gossiper::earlier_self) takes those tokens back and is REPLACING.
//
// Threads: the env's loop only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "gossip/gossip.h"
#include "gossip/gossip_driver.h"
#include "ring/placement.h"
#include "ring/ring.h"

namespace dynkv::gossip {

struct RingTrackerOptions {
  // ring.vnodes: the tokens this node takes when it first joins.
  uint32_t vnodes = 16;
  // Rounds a node listens after it starts before it serves (Ready) and,
  // when new, before it takes tokens. 0 for a node with nobody to hear from.
  uint32_t join_delay_rounds = 10;
  // replication.n and replication.datacenters: the placement's preference lists.
  uint32_t replication_n = 3;
  std::map<std::string, uint32_t> datacenters;
};

// What a node records while a change of its own is under way, so a restart
// goes on with it: "join", "replace", "leave"; empty once done.
using MovementRecord = std::string;

class RingTracker final : public MembershipListener {
 public:
  // Makes newly taken tokens durable with the movement record ("join" or
  // "replace"), the record first; calls done(status) on the loop.
  using PersistTokens =
      std::function<void(const std::vector<uint64_t>&, const MovementRecord&, std::function<void(Status)>)>;

  // Listens to `driver`'s gossiper. REQUIRES: driver outlives the tracker.
  RingTracker(GossipDriver& driver, RingTrackerOptions options, PersistTokens persist_tokens);
  ~RingTracker() override;

  // Rebuilt when first asked for after a change: a thousand-node cluster
  // applies many states per round and most never reach a request.
  std::shared_ptr<const ring::Ring> CurrentRing() const;
  // The current and next rings and what moves between them.
  std::shared_ptr<const ring::Placement> CurrentPlacement() const;
  // Ready once join_delay_rounds rounds have run.
  bool Ready() const { return driver_.rounds() >= options_.join_delay_rounds; }
  // Call after each gossip round: a joining node takes its tokens once it
  // has listened long enough and its turn has come.
  void OnRound() { MaybeTakeTokens(); }
  // No more tokens are taken (the node is leaving).
  void StopJoining() { joining_ = false; }
  // This node's own status or tokens changed (no event comes for those).
  void Invalidate() { stale_ = true; }

  // The placement role of a gossip status (kLeft has none: not placed).
  static ring::Role RoleOf(NodeStatus status);

  // The nodes, not left, that gossip a replication digest other than this
  // node's (LocalNode::replication_digest): they place keys on other
  // replicas.
  const std::set<std::string>& replication_differs() const { return replication_differs_; }

  // MembershipListener: any change of tokens or status changes the ring.
  void OnJoin(const NodeState& state) override { OnState(state); }
  void OnChange(const NodeState& state) override { OnState(state); }
  void OnRestart(const NodeState& state) override { OnState(state); }
  void OnLeave(const std::string& node_id) override;

 private:
  void OnState(const NodeState& state);
  void MaybeTakeTokens();
  bool TurnToTakeTokens() const;

  GossipDriver& driver_;
  RingTrackerOptions options_;
  PersistTokens persist_tokens_;
  mutable std::shared_ptr<const ring::Placement> placement_ = std::make_shared<ring::Placement>();
  mutable bool stale_ = true;
  std::set<std::string> replication_differs_;
  bool allocating_ = false;
  bool joining_ = true;
  std::shared_ptr<int> lifetime_ = std::make_shared<int>(0);  // expires with the tracker
};

}  // namespace dynkv::gossip
