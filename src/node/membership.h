// Membership: drives this node's Gossiper through the node's Env (DESIGN.md:
// Gossip and failure detection). An env timer runs a gossip round every
// interval; the SYN/ACK/ACK2 exchange travels as env peer calls; refused and
// reset connections are evidence for the failure detector. It
// also keeps the ring in step with the members' tokens, and gives a new
// node its tokens once it has heard the cluster.
//
// Threads: the event loop's only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client.pb.h"
#include "common/env.h"
#include "common/status.h"
#include "gossip/gossip.h"
#include "net/peer_transport.h"
#include "node/client_service.h"
#include "node/coordinator.h"
#include "ring/ring.h"

namespace dynkv::node {

struct MembershipOptions {
  gossip::LocalNode self;           // tokens empty: allocate them on joining
  gossip::GossipOptions gossip;
  uint32_t vnodes = 16;             // tokens to take when joining
  uint32_t replication_n = 3;       // for the replicated shares of `dynkv ring`
  // Rounds a node listens after it starts before it serves reads and writes
  // (Ready) and, when new, before it takes tokens, so that it acts on the
  // ring the cluster already has. 0 for a node with nobody to hear from.
  uint32_t join_delay_rounds = 10;
  uint32_t leave_timeout_ms = 2000;  // how long a leaving node waits for its notices' replies
};

class Membership final : public net::PeerRequestHandler,
                         public gossip::MembershipListener,
                         public ClusterAdmin,
                         public ClusterView {
 public:
  // Makes newly allocated tokens durable; calls done(status) on the loop.
  using PersistTokens = std::function<void(const std::vector<uint64_t>&, std::function<void(Status)>)>;

  // REQUIRES: env outlives the membership.
  static Result<std::unique_ptr<Membership>> Create(Env& env, MembershipOptions options,
                                                    PersistTokens persist_tokens);
  ~Membership() override;

  // Starts the gossip timer.
  Status Start();
  // Stops the timer. Idempotent.
  void Stop();
  // Called when the node must stop: after `dynkv leave`, or when another
  // node removed this one.
  void SetOnStop(std::function<void()> on_stop) { on_stop_ = std::move(on_stop); }

  // net::PeerRequestHandler: answers gossip requests from peers (SYN,
  // ACK2, leave notices). The replication issue puts a dispatcher in front.
  void Handle(const peer::PeerRequest& request, Reply reply) override;

  // REQUIRES: `listener` outlives the membership. Events come after the
  // membership's own handling (the ring is rebuilt first).
  void AddListener(gossip::MembershipListener* listener) { gossiper_->AddListener(listener); }

  // ClusterView
  // Rebuilt when first asked for after a change: a thousand-node cluster
  // applies many states per round and most never reach a request.
  std::shared_ptr<const ring::Ring> CurrentRing() const override;
  bool IsUp(const std::string& node_id) const override { return gossiper_->IsUp(node_id); }
  std::string PeerAddress(const std::string& node_id) const override;
  // As Cassandra waits for gossip to settle before it serves: ready once
  // join_delay_rounds gossip rounds have run (the node sets 0 when it cannot
  // have peers yet; see Node::OpenMembership).
  bool Ready() const override { return rounds_ >= options_.join_delay_rounds; }
  const gossip::Gossiper& gossiper() const { return *gossiper_; }

  // ClusterAdmin
  void FillMembers(dynkv::client::MembersResponse* out) const override;
  void FillRing(dynkv::client::RingResponse* out) const override;
  Status RemoveNode(const std::string& node_id) override;
  void Leave() override;
  // "gossip.*", "failure_detector.phi.<node>", "ring.*" and "node.ready" counters.
  void FillStats(std::map<std::string, double>* values) const;

  // gossip::MembershipListener
  void OnJoin(const gossip::NodeState& state) override;
  void OnChange(const gossip::NodeState& state) override;
  void OnRestart(const gossip::NodeState& state) override;
  void OnUp(const std::string& node_id) override;
  void OnDown(const std::string& node_id) override;
  void OnLeave(const std::string& node_id) override;

 private:
  Membership(Env& env, MembershipOptions options, PersistTokens persist_tokens,
             std::unique_ptr<gossip::Gossiper> gossiper);

  void Round();
  void SendSyn(const gossip::OutgoingSyn& out);
  void MaybeTakeTokens();
  void RebuildRing() const;
  void RingChanged() { ring_stale_ = true; }
  void RequestStop();
  void OnPeerUnreachable(const std::string& address);

  Env& env_;
  const Clock& clock_;
  MembershipOptions options_;
  PersistTokens persist_tokens_;
  std::unique_ptr<gossip::Gossiper> gossiper_;
  // The ring of every node that owns tokens and has not left; a cache of the
  // gossiper's table, rebuilt lazily.
  mutable std::shared_ptr<const ring::Ring> ring_ = std::make_shared<ring::Ring>();
  mutable bool ring_stale_ = true;
  std::unique_ptr<Timer> timer_;
  uint64_t rounds_ = 0;
  bool allocating_ = false;
  bool leaving_ = false;
  bool stop_requested_ = false;
  std::function<void()> on_stop_;
};

}  // namespace dynkv::node
