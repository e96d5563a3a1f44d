// Helpers of the gossip unit tests: nodes with predictable addresses, one
// whole SYN/ACK/ACK2 exchange, and a listener that records events.
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "gossip/gossip.h"

namespace dynkv::gossip::test {

inline std::string PeerAddress(const std::string& node_id) { return node_id + ".test:7000"; }

inline std::unique_ptr<Gossiper> MakeNode(const std::string& node_id, uint64_t generation,
                                          std::vector<std::string> seeds = {},
                                          int64_t forget_left_ms = GossipOptions{}.forget_left_ms,
                                          size_t max_digests = GossipOptions{}.max_digests) {
  LocalNode local;
  local.node_id = node_id;
  local.generation = generation;
  local.client_address = node_id + ".test:6000";
  local.peer_address = PeerAddress(node_id);
  local.tokens = {generation * 1000 + 1, generation * 1000 + 2};
  local.datacenter = "dc1";
  local.rack = "r1";
  local.replication_digest = 0x5eed0000 + generation;
  local.status = NodeStatus::kNormal;
  GossipOptions options;
  options.seeds = std::move(seeds);
  options.forget_left_ms = forget_left_ms;
  options.max_digests = max_digests;
  auto node = Gossiper::Create(std::move(local), std::move(options), /*random_seed=*/generation);
  REQUIRE(node.ok());
  return std::move(node).value();
}

// `from` opens a digest exchange with `to` and both apply what they learn.
inline void Exchange(Gossiper& from, Gossiper& to, int64_t now_ms) {
  Result<Ack> ack = to.OnSyn(from.self().node_id, from.MakeSyn(), now_ms);
  REQUIRE(ack.ok());
  if (std::optional<Ack2> ack2 = from.OnAck(to.self().peer_address, *ack, now_ms)) {
    to.OnAck2(from.self().node_id, *ack2, now_ms);
  }
}

class RecordingListener : public MembershipListener {
 public:
  void OnJoin(const NodeState& state) override { events.push_back("join:" + state.node_id); }
  void OnChange(const NodeState& state) override { events.push_back("change:" + state.node_id); }
  void OnRestart(const NodeState& state) override { events.push_back("restart:" + state.node_id); }
  void OnUp(const std::string& node_id) override { events.push_back("up:" + node_id); }
  void OnDown(const std::string& node_id) override { events.push_back("down:" + node_id); }
  void OnLeave(const std::string& node_id) override { events.push_back("leave:" + node_id); }

  // Returns the events so far and forgets them.
  std::vector<std::string> Take() { return std::exchange(events, {}); }

  std::vector<std::string> events;
};

}  // namespace dynkv::gossip::test
