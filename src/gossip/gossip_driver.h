// GossipDriver: runs this node's Gossiper through the node's Env (DESIGN.md:
// Gossip and failure detection). An env timer runs a round every interval;
// the SYN/ACK/ACK2 exchange and leave notices travel as env peer calls;
// refused and reset connections are evidence for the failure detector
// (call timeouts are not: a paused node is judged by phi alone). It
// answers the gossip requests of other nodes and logs what it learns.
//
// Threads: the env's loop only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/env.h"
#include "common/status.h"
#include "gossip/gossip.h"

namespace dynkv::gossip {

struct DriverOptions {
  LocalNode self;
  GossipOptions gossip;
  // How long a leaving node waits for the replies to its leave notices.
  uint32_t leave_timeout_ms = 2000;
};

class GossipDriver final : public MembershipListener {
 public:
  using Reply = std::function<void(peer::PeerResponse)>;

  // REQUIRES: env outlives the driver and answers or drops its peer calls
  // before the driver goes (callbacks hold `this`; see quorum::Coordinator).
  static Result<std::unique_ptr<GossipDriver>> Create(Env& env, DriverOptions options);
  ~GossipDriver() override;

  // Starts the round timer; Stop ends it (idempotent).
  Status Start();
  void Stop();
  // Runs after every round (the ring tracker takes tokens then).
  void SetOnRound(std::function<void()> on_round) { on_round_ = std::move(on_round); }

  // Answers a gossip request (SYN, ACK2, leave notice); false when
  // `request` is not one.
  bool Handle(const peer::PeerRequest& request, Reply& reply);
  // Marks this node LEFT and pushes the notice to every live peer; `done`
  // once all replied or leave_timeout_ms passed.
  void Leave(std::function<void()> done);

  Gossiper& gossiper() { return *gossiper_; }
  const Gossiper& gossiper() const { return *gossiper_; }
  uint64_t rounds() const { return rounds_; }
  // "gossip.*" and "failure_detector.phi.<node>" counters.
  void FillStats(std::map<std::string, double>* values) const;

  // MembershipListener: logging, and forgetting the connection of a node that left.
  void OnJoin(const NodeState& state) override;
  void OnChange(const NodeState& state) override;
  void OnRestart(const NodeState& state) override;
  void OnUp(const std::string& node_id) override;
  void OnDown(const std::string& node_id) override;
  void OnLeave(const std::string& node_id) override;

 private:
  GossipDriver(Env& env, DriverOptions options, std::unique_ptr<Gossiper> gossiper);
  void Round();
  void SendSyn(const OutgoingSyn& out);
  peer::PeerResponse Answer(const peer::PeerRequest& request);

  Env& env_;
  const Clock& clock_;
  DriverOptions options_;
  std::unique_ptr<Gossiper> gossiper_;
  std::unique_ptr<Timer> timer_;
  std::function<void()> on_round_;
  uint64_t rounds_ = 0;
};

}  // namespace dynkv::gossip
