// Gossip module: the public surface (DESIGN.md: Gossip and failure detection).
//
// Membership is spread by Cassandra's three-message digest exchange: every
// interval a node bumps its heartbeat and sends a SYN (one digest per node it
// knows) to a random live peer, sometimes also to a seed or to a node it
// thinks is down. The receiver answers with an ACK (the states it has newer,
// and requests for the ones it lacks); the initiator answers the requests
// with an ACK2. Each node's state has a generation (its start time; a
// restart raises it) and per-field versions drawn from one counter per
// (node, generation), so "everything newer than version V" is well defined.
//
// A SYN lists every node only while the table has at most
// GossipOptions::max_digests nodes, or while it is unsettled (it changed, or
// a peer's table differed, in the last kUnsettledRounds rounds, or it awaits
// a node it learned of). Otherwise it lists this node, its receiver and a
// sample of the others (MakeSyn says which), with a hash of the table
// without heartbeats: heartbeats spread by sampling, changes by a
// full exchange whenever two tables differ, so a settled node's gossip
// costs the same at 1,000 nodes as at 128 (SWIM's bounded dissemination,
// Das et al. 2002, on Cassandra's exchange).
//
// Up/down is each node's own judgement (phi accrual over heartbeat arrivals
// plus direct evidence from the transport) and is never gossiped. What is
// gossiped is the evidence: a node whose connection to another was refused
// or lost lists it in its state as a suspect, and a node that hears of it
// convicts the suspect at half the phi threshold, unless a heartbeat newer
// than any it or the suspecting node knew arrives first (that refutes it).
// With sampled heartbeats phi is slow, so there a suspicion also convicts
// after a timeout that grows with log(n), unless the suspect refutes it
// first: hearing that it is suspected, a node raises its incarnation
// (NodeState::alive_version), a change that spreads to all in log(n)
// rounds; a suspicion at an older incarnation counts for nothing.
// In a large cluster most nodes hear a node's heartbeats second-hand, far
// apart, and would take long to notice its silence; the few that talk to it
// directly notice at once (SWIM's disseminated suspicion, Das et al. 2002,
// with the heartbeat as the incarnation that refutes it).
//
// The Gossiper is a pure core: it takes messages and the current time and
// returns messages to send. It does no I/O and reads no clock. The driver
// (the node's event loop) or a test harness moves the messages.
//
// Threads: a Gossiper belongs to one thread (the node's loop); it has no
// locks. Listeners are called on that thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "gossip/failure_detector.h"

namespace dynkv::peer {
class GossipSyn;
class GossipAck;
class GossipAck2;
class LeaveNotice;
class VersionedNodeState;
}  // namespace dynkv::peer

namespace dynkv::gossip {

// ---- Membership state ---------------------------------------------------

// kReplacing: back on an empty data dir under a known id with its old
// tokens, streaming its ranges back in (DESIGN.md: Data movement).
enum class NodeStatus { kJoining, kNormal, kLeaving, kLeft, kReplacing };

// "joining", "normal", "leaving", "left", "replacing"
std::string_view StatusName(NodeStatus status);

// Direct evidence that a node is dead (a connection to it refused or lost),
// told to the others: `node_id` at `generation`, whose newest heartbeat the
// suspecting node knew was `heartbeat` and its incarnation `incarnation`.
struct Suspicion {
  std::string node_id;
  uint64_t generation = 0;
  uint64_t heartbeat = 0;
  uint64_t incarnation = 0;  // the node's alive_version as the suspecting node knew it
  bool operator==(const Suspicion&) const = default;
};

// The most suspicions a state carries; the oldest gives way.
inline constexpr size_t kMaxSuspects = 16;
// Rounds after direct evidence during which the suspect is gossiped to every
// round (Gossiper::OnPeerUnreachable).
inline constexpr int64_t kRecheckRounds = 20;
// Rounds a node sends full SYNs after its table changed or differed from a
// peer's (see the top of this file).
inline constexpr uint64_t kUnsettledRounds = 4;
// A node that has learned of a node (or of its new generation) and not yet
// seen it up lists every node, for at most this many rounds after it
// learned it: sampled heartbeats are stale, while a full exchange with any
// peer that has heard the node since brings it up at once.
inline constexpr int64_t kAwaitRounds = 100;

// What one node says about itself. Every field group carries the version at
// which it last changed; version 0 means "absent" (a delta carries only the
// groups newer than the receiver has). A complete state has all groups.
struct NodeState {
  std::string node_id;
  uint64_t generation = 0;  // the node's start time; a restart raises it

  uint64_t heartbeat = 0;  // the version of the latest heartbeat; bumped every round

  NodeStatus status = NodeStatus::kJoining;
  uint64_t status_version = 0;

  std::string client_address;  // HOST:PORT
  std::string peer_address;    // HOST:PORT
  uint64_t addresses_version = 0;

  std::vector<uint64_t> tokens;  // ring positions owned
  uint64_t tokens_version = 0;

  std::string datacenter;
  std::string rack;
  uint64_t replication_digest = 0;  // ring::ReplicationDigest; 0: not told
  uint64_t location_version = 0;

  // Data movement: the ring change (ring::Placement::version) this node
  // runs, and the one whose incoming ranges it has all received. Optional:
  // version 0 leaves the group out, and a complete state may lack it.
  uint64_t ring_version = 0;
  uint64_t streamed_version = 0;
  uint64_t movement_version = 0;

  // The nodes it suspects, oldest first (optional, like movement).
  std::vector<Suspicion> suspects;
  uint64_t suspects_version = 0;

  // The incarnation: raised (a new version, no payload) when the node hears
  // that it is suspected, which refutes suspicions at older ones. Optional.
  uint64_t alive_version = 0;

  uint64_t MaxVersion() const;
  // MaxVersion without the heartbeat: what changes only when the state does.
  uint64_t StateVersion() const;
  bool IsComplete() const;  // every group present
  // The groups changed after `version`, with node_id and generation.
  NodeState DeltaAbove(uint64_t version) const;

  bool operator==(const NodeState&) const = default;
};

// The version a third node gives the LEFT status of a node it removes, above
// anything the dead node's own counter reaches, so the removal wins every
// merge for that generation; a restart (a higher generation) replaces it.
// Cassandra's advertiseTokenRemoved forces the highest version the same way.
// Removal has two steps (DESIGN.md: Data movement): the node is first
// marked LEAVING at kRemovedVersion, so the survivors stream its ranges to
// their new owners, and then LEFT at kRemovedVersion + 1.
inline constexpr uint64_t kRemovedVersion = uint64_t{1} << 62;
// True when an operator's removal (not the node itself) set this status.
inline bool IsRemoval(const NodeState& state) { return state.status_version >= kRemovedVersion; }

// ---- Messages (in memory; wire.cc converts them to proto/peer.proto) -----

struct GossipDigest {
  std::string node_id;
  uint64_t generation = 0;
  uint64_t max_version = 0;
  bool operator==(const GossipDigest&) const = default;
};

struct Syn {
  std::string cluster_name;
  std::vector<GossipDigest> digests;  // one per node the sender knows, itself included
  // Only some nodes are listed (the sender and a sample): the receiver
  // pushes no unlisted node and compares `table_hash` with its own.
  bool partial = false;
  uint64_t table_hash = 0;  // TableHash() of the sender; 0 when not partial
};

struct Ack {
  // States the sender of the SYN should send back: fields of `node_id` at
  // `generation` newer than `max_version` (0: the whole state).
  std::vector<GossipDigest> requests;
  std::vector<NodeState> states;  // states (or deltas) the responder has newer
  // The SYN was partial and the tables' hashes differ: both sides list
  // every node for the next rounds.
  bool table_differs = false;
};

struct Ack2 {
  std::vector<NodeState> states;
};

// A leaving node pushes its final (LEFT) state to every live peer before it
// stops, so they learn it at once instead of by gossip.
struct LeaveNotice {
  NodeState state;
};

struct OutgoingSyn {
  std::string to;  // peer address HOST:PORT
  Syn syn;
};

struct OutgoingLeave {
  std::string to;  // peer address HOST:PORT
  LeaveNotice notice;
};

// ---- Events --------------------------------------------------------------

// Membership events about other nodes (never about this node), delivered
// synchronously after the call that caused them has updated the table.
// REQUIRES: a listener calls only const methods of the Gossiper.
class MembershipListener {
 public:
  virtual ~MembershipListener() = default;
  // A node seen for the first time (its complete state).
  virtual void OnJoin(const NodeState& state) { (void)state; }
  // A known node changed status, tokens, addresses or location (not heartbeats).
  virtual void OnChange(const NodeState& state) { (void)state; }
  // A known node came back with a newer generation; `state` replaced the old one.
  virtual void OnRestart(const NodeState& state) { (void)state; }
  virtual void OnUp(const std::string& node_id) { (void)node_id; }
  virtual void OnDown(const std::string& node_id) { (void)node_id; }
  // The node is LEFT: it left, or an operator removed it. No OnDown follows.
  virtual void OnLeave(const std::string& node_id) { (void)node_id; }
};

// ---- Snapshots -----------------------------------------------------------

struct Member {
  NodeState state;
  bool self = false;
  bool up = false;                 // as judged here; this node is always up
  double phi = 0;                  // at the last round (0 for this node)
  double mean_interval_ms = 0;     // heartbeat inter-arrival mean (0 for this node)
  int64_t last_heartbeat_ms = -1;  // when its latest heartbeat arrived here (-1: never, or this node)
};

struct GossipStats {
  uint64_t rounds = 0;
  size_t peers_up = 0;
  size_t peers_down = 0;  // known, not LEFT, judged down
  size_t peers_left = 0;
  uint64_t syns_sent = 0;
  uint64_t syns_received = 0;
  uint64_t states_applied = 0;    // remote states or deltas that changed the table
  uint64_t states_rejected = 0;   // incomplete states for new nodes or generations
  uint64_t forgotten = 0;         // LEFT nodes dropped from the table (forget_left_ms)
  uint64_t states_ignored = 0;    // states of forgotten nodes, from peers that still had them
  uint64_t convictions = 0;       // up -> down by phi
  // Of those, convicted at the lower threshold a suspicion allows (below
  // the full one).
  uint64_t suspicion_convictions = 0;
  uint64_t evidence_reports = 0;  // OnPeerUnreachable for a known peer
  uint64_t partial_syns_sent = 0;  // SYNs listing a sample (see max_digests)
  uint64_t tables_differed = 0;    // partial exchanges whose table hashes differed
  uint64_t refutations = 0;        // suspicions of this node answered with a new incarnation
};

// ---- The gossiper --------------------------------------------------------

struct GossipOptions {
  // A SYN from another cluster is refused (a misconfigured seed list).
  std::string cluster_name = "dynkv";
  // One gossip round (heartbeat bump + exchange) per interval; the driver
  // calls Tick() at this cadence. 100 ms with phi 8 marks a silent peer
  // down after about 8 * ln(10) * 100 ms + 100 ms ~ 1.9 s (see
  // FailureDetectorOptions), well within the 5 s the operators expect.
  int64_t interval_ms = 100;
  // Contact points (peer addresses HOST:PORT); this node's own is skipped.
  std::vector<std::string> seeds;
  // A node LEFT (it left, or was removed) this long ago, by this node's
  // clock since it first saw it LEFT, is forgotten: dropped from the table,
  // its digests no longer sent. Its id and generation are kept apart, so a
  // peer that has not forgotten it yet cannot bring it back; a new
  // generation (the node started again) is a new member. Cassandra keeps
  // LEFT states 3 days; 1 day here.
  int64_t forget_left_ms = 24 * 3600 * 1000;
  // A settled node lists at most this many nodes in a SYN (itself and a
  // random sample of the others), which bounds its gossip bytes per round
  // whatever the cluster's size; a table of at most this many nodes is
  // always listed whole. REQUIRES: >= 2
  size_t max_digests = 128;
  FailureDetectorOptions failure_detector;
};

// Who this node is when it starts.
struct LocalNode {
  std::string node_id;
  uint64_t generation = 0;  // > 0 and higher than any earlier start of this node
  std::string client_address;
  std::string peer_address;
  std::vector<uint64_t> tokens;
  std::string datacenter;
  std::string rack;
  uint64_t replication_digest = 0;  // ring::ReplicationDigest of its config
  NodeStatus status = NodeStatus::kJoining;
};

class Gossiper {
 public:
  // INVALID_ARGUMENT for an identity that ValidateState rejects (the others
  // would refuse its gossip), a seed that is not HOST:PORT or a non-positive
  // interval. `random_seed` makes the choice of peers reproducible.
  static Result<std::unique_ptr<Gossiper>> Create(LocalNode self, GossipOptions options,
                                                  uint64_t random_seed);

  Gossiper(const Gossiper&) = delete;
  Gossiper& operator=(const Gossiper&) = delete;

  // One round, every options.interval_ms: bumps the heartbeat, judges peers
  // by phi, and returns the SYNs to send (a random live peer; sometimes a
  // down node or a seed, by Cassandra's rules). Send each with
  // PeerRequest.gossip_syn; pass the GossipAck reply to OnAck().
  std::vector<OutgoingSyn> Tick(int64_t now_ms);
  // The SYN this node sends now: one digest per known node, itself included,
  // or a partial one (see max_digests).
  // A partial SYN draws its sample from the gossiper's random stream.
  Syn MakeSyn() const;
  // Order-independent hash of (node id, generation, StateVersion) of every
  // node in the table, this one included: equal on two nodes whose tables
  // differ only in heartbeats.
  uint64_t TableHash() const;
  // True while a SYN lists every node.
  bool ListsAll() const;
  // True when the table has more than max_digests nodes: a settled node's
  // SYNs list a sample, so heartbeats arrive far apart.
  bool HeartbeatsSampled() const { return peers_.size() >= options_.max_digests; }

  // A SYN from node `from_node`: the ACK to reply with, or INVALID_ARGUMENT
  // when it comes from another cluster.
  Result<Ack> OnSyn(const std::string& from_node, const Syn& syn, int64_t now_ms);
  // The ACK to a SYN this node sent to `to_address`. Returns the ACK2 to send
  // back there (PeerRequest.gossip_ack2), or nothing when none was asked for.
  std::optional<Ack2> OnAck(const std::string& to_address, const Ack& ack, int64_t now_ms);
  void OnAck2(const std::string& from_node, const Ack2& ack2, int64_t now_ms);
  // INVALID_ARGUMENT unless the notice carries a LEFT status.
  Status OnLeaveNotice(const std::string& from_node, const LeaveNotice& notice, int64_t now_ms);

  // Direct evidence from the transport: a connection to `peer_address` was
  // refused or reset. The node there is down at once (and a suspect, if it
  // was up here), and stays down until
  // it talks to this node again (a SYN, ACK or ACK2 from it) and a newer
  // heartbeat arrives, or it restarts with a newer generation. For
  // kRecheckRounds after the evidence each round gossips to such a node
  // too, so a live one is back within a round or two of answering.
  void OnPeerUnreachable(const std::string& peer_address, int64_t now_ms);

  // Local changes, announced by the next rounds.
  void SetStatus(NodeStatus status);
  // REQUIRES: at most 65536 tokens (ValidateState)
  void SetTokens(std::vector<uint64_t> tokens);
  // Announces the ring change this node runs and the one it has streamed;
  // no new version when neither changed.
  void SetMovement(uint64_t ring_version, uint64_t streamed_version);
  // Marks this node LEFT and returns the notices to push to every live peer
  // (PeerRequest.leave). The driver sends them, waits for their replies (or
  // a timeout), and stops.
  std::vector<OutgoingLeave> Leave();
  // Operator removal of a dead node (`dynkv remove`): marks it LEAVING at
  // kRemovedVersion for its current generation, so its ranges move to
  // their new owners (a joining node, which never served, is LEFT at once).
  // INVALID_ARGUMENT for this node, an unknown node, or one judged up here.
  // Removing a LEFT or already removed node is a no-op.
  Status RemoveNode(const std::string& node_id);
  // The second step of a removal, once its ranges have moved: LEFT at
  // kRemovedVersion + 1. A no-op unless the node is being removed.
  void FinishRemoval(const std::string& node_id);
  // The state of this node's id from before this start, as a peer still
  // had it (the newest seen; nullptr if none): a node back on an empty
  // data dir learns its old tokens from it.
  const NodeState* earlier_self() const { return earlier_self_ ? &*earlier_self_ : nullptr; }
  // True once another node has said this node (this generation) was
  // removed: the others no longer count it. It should stop; started again
  // (a new generation) it rejoins.
  bool removed() const { return removed_; }

  // REQUIRES: `listener` outlives this Gossiper or is removed first.
  void AddListener(MembershipListener* listener);
  void RemoveListener(MembershipListener* listener);

  // Read-only views.
  const NodeState& self() const { return self_; }
  const NodeState* Find(const std::string& node_id) const;  // this node's too; nullptr when unknown
  bool IsUp(const std::string& node_id) const;              // this node: true; unknown: false
  std::vector<Member> Members() const;                      // this node first, then by node id
  const PhiAccrualDetector& detector() const { return detector_; }
  GossipStats Stats() const;

 private:
  struct Peer {
    NodeState state;
    bool up = false;
    // Marked down by transport evidence: no heartbeat brings it up until
    // the node talks to us again (gossip may still carry its old heartbeats).
    bool awaiting_contact = false;
    int64_t evidence_ms = -1;  // when that evidence came (the first of it)
    double phi = 0;
    // The state of its previous generation when that one had tokens: sent
    // back to the node while it has none (it lost its disk, a replacement).
    std::optional<NodeState> earlier;
    int64_t left_since_ms = -1;  // when this node first judged it LEFT
    // Another node suspects it: the heartbeat a newer one of which refutes
    // the suspicion (0: none). Until then phi convicts at half the threshold.
    uint64_t suspected_above = 0;
    // When a suspicion at its current incarnation was first heard (-1:
    // none); with sampled heartbeats it convicts SuspicionTimeoutMs() later.
    int64_t suspected_since_ms = -1;
    // The round this node learned it (this generation), until first seen up
    // (-1 after): a node awaiting many such peers lists every node.
    int64_t awaited_since_round = -1;
    int64_t heartbeat_ms = -1;  // when its latest newer heartbeat arrived here
  };
  enum class EventKind { kJoin, kChange, kRestart, kUp, kDown, kLeave };
  struct Event {
    EventKind kind;
    std::string node_id;
  };

  Gossiper(NodeState self, GossipOptions options, uint64_t random_seed);

  // A new version for a change of this node's state (not a heartbeat).
  uint64_t NextVersion() {
    Unsettle();
    return ++version_counter_;
  }
  void BumpHeartbeat();
  // The next kUnsettledRounds SYNs list every node.
  void Unsettle() { unsettled_until_round_ = stats_.rounds + kUnsettledRounds; }
  // How long a heard suspicion waits before it convicts, with sampled
  // heartbeats: twice the rounds a change takes to reach every node and
  // the refutation to come back.
  int64_t SuspicionTimeoutMs() const;
  void ClearSuspicion(Peer* peer);
  void Refute(const Suspicion& suspicion);
  void JudgePeers(int64_t now_ms);
  // Drops the LEFT peers past options_.forget_left_ms.
  void ForgetLeft(int64_t now_ms);
  // A forgotten node at `generation` or before.
  bool Forgotten(const std::string& node_id, uint64_t generation) const;
  std::vector<std::string> ChooseTargets(int64_t now_ms);
  void ListTarget(OutgoingSyn* out) const;
  static GossipDigest DigestOf(const NodeState& state) {
    return {state.node_id, state.generation, state.MaxVersion()};
  }
  // Moves `count` peers drawn at random from `pool` (at most all) into the SYN's digests.
  void SampleInto(std::vector<const Peer*>* pool, size_t count, Syn* syn) const;

  // The state of `node_id` newer than `version` for `generation` (the whole
  // state if we know a newer generation); nothing if we know nothing newer.
  std::optional<NodeState> StateFor(const GossipDigest& request) const;
  void CompareDigest(const GossipDigest& digest, Ack* ack) const;
  void Apply(const NodeState& remote, int64_t now_ms);
  void ApplyNew(const NodeState& remote, int64_t now_ms);
  void ApplyNewGeneration(Peer* peer, const NodeState& remote, int64_t now_ms);
  void ApplySameGeneration(Peer* peer, const NodeState& remote, int64_t now_ms);
  void HeartbeatArrived(Peer* peer, int64_t now_ms);
  // This node's own suspects (self_.suspects): add on evidence, drop once
  // the node is up again, restarted or LEFT.
  void Suspect(const Peer& peer);
  void Unsuspect(const std::string& node_id);
  // The suspicions in `from`'s state, as it arrived.
  void HearSuspicions(const NodeState& from, int64_t now_ms);
  void MarkDown(Peer* peer);
  void MarkLeft(Peer* peer);
  void Contact(const std::string& node_id);
  Peer* FindPeer(const std::string& node_id);
  void Emit(EventKind kind, const std::string& node_id) { events_.push_back({kind, node_id}); }
  void DispatchEvents();

  NodeState self_;
  GossipOptions options_;
  std::vector<std::string> seeds_;  // options_.seeds without this node's address
  uint64_t version_counter_ = 0;
  uint64_t unsettled_until_round_ = kUnsettledRounds;
  std::map<std::string, Peer> peers_;  // by node id; ordered, so rounds are reproducible
  std::map<std::string, uint64_t> forgotten_;  // node id -> the generation it left at
  PhiAccrualDetector detector_;
  mutable std::mt19937_64 random_;  // MakeSyn's sample draws from it too
  std::vector<MembershipListener*> listeners_;
  std::vector<Event> events_;
  GossipStats stats_;
  bool removed_ = false;
  std::optional<NodeState> earlier_self_;
};

// ---- Wire conversion (proto/peer.proto) ---------------------------------
//
// Decoding validates: an empty or oversized node id, a zero generation, an
// unknown status, an address that is not HOST:PORT or too many tokens is
// INVALID_ARGUMENT, never a crash.

void ToProto(const NodeState& state, peer::VersionedNodeState* out);
void ToProto(const Syn& syn, peer::GossipSyn* out);
void ToProto(const Ack& ack, peer::GossipAck* out);
void ToProto(const Ack2& ack2, peer::GossipAck2* out);
void ToProto(const LeaveNotice& notice, peer::LeaveNotice* out);

Result<NodeState> FromProto(const peer::VersionedNodeState& in);
Result<Syn> FromProto(const peer::GossipSyn& in);
Result<Ack> FromProto(const peer::GossipAck& in);
Result<Ack2> FromProto(const peer::GossipAck2& in);
Result<LeaveNotice> FromProto(const peer::LeaveNotice& in);

// The checks FromProto applies to a state: INVALID_ARGUMENT for an empty
// node id or one over 256 bytes, a zero generation, an address that is not
// HOST:PORT, over 65536 tokens, a datacenter or rack over 256 bytes, or
// over kMaxSuspects suspects (or one with a bad node id or generation 0).
Status ValidateState(const NodeState& state);

// True for HOST:PORT (IPv6 hosts in brackets) with a port in 1..65535.
bool IsHostPort(std::string_view text);

}  // namespace dynkv::gossip
