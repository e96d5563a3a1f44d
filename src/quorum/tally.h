// Quorum tallies: the decisions of a replicated read or write, apart from the
// messaging (DESIGN.md: Coordination; STYLE.md: Riak's riak_kv_get_core and
// riak_kv_put_core). Pure: no I/O, no clock, no threads, no exceptions. A
// driver (the coordinator's state machine) plans a request, sends what the
// plan says, feeds every reply and its own deadline into a tally, and acts on
// what the tally answers.
//
// Write, as the driver runs it:
//   1. w = ResolveQuorum(request.w, config.default_w, n, "w"); error -> reply.
//   2. plan = PlanWrite(list, {n, w, sloppy, hinted_writes_count}); error
//      (UNAVAILABLE) -> reply; nothing was written.
//   3. plan.targets[0] mints the dot and stores the object; then every other
//      target gets the minted object (stored as a hint for `hint_for` when
//      set), and each kept_hints entry asks a live replica to store a hint.
//   4. WriteTally tally(plan); feed OnAck/OnError per target and OnDeadline
//      when the timer fires; once tally.state() != kWaiting, reply with
//      tally.status() and forget the tally. A failed write is not rolled back
//      (Dynamo, Riak): replicas that stored it keep it, so a later read may
//      return it; every failure message says so.
// Read: ResolveQuorum(.., "r"), PlanRead, ask each target, ReadTally; feed
// OnReply/OnError per target and OnDeadline when the timer fires; reply
// with tally.merged() when state() leaves kWaiting as kSucceeded (or with
// tally.status()), keep feeding late replies, and once tally.finished() send
// tally.merged() to each of tally.RepairTargets() (the receiver applies it
// with dvv::Sync, so a repair can never lose a write) and count them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/object.h"
#include "common/status.h"
#include "ring/ring.h"

namespace dynkv::quorum {

// Named levels of the request's r and w fields (proto/client.proto: "R and
// W"; Cassandra's and Riak's ONE/QUORUM/ALL). ONE is plain 1.
inline constexpr uint32_t kQuorumLevel = 4294967293u;  // floor(N/2) + 1
inline constexpr uint32_t kAllLevel = 4294967292u;     // N
// Cassandra's LOCAL_QUORUM and EACH_QUORUM (datacenter_levels.h): a quorum
// of the replicas in the coordinator's datacenter, or in every datacenter.
inline constexpr uint32_t kLocalQuorumLevel = 4294967291u;
inline constexpr uint32_t kEachQuorumLevel = 4294967290u;

// The number of replicas a request waits for. `requested`: 0 takes
// `configured_default` (capped at n, at least 1), 1..n itself, kQuorumLevel
// n/2+1, kAllLevel n. Anything else is INVALID_ARGUMENT
// "<name>=<requested> exceeds N=<n> replicas". `name` is "r" or "w".
// INVALID_ARGUMENT when n is 0.
Result<uint32_t> ResolveQuorum(uint32_t requested, uint32_t configured_default, uint32_t n,
                               std::string_view name);

// Ring::PreferenceList(.., kSloppy) leaves out a down primary that no healthy
// node outside the list can stand in for (3 nodes, N=3). PlanWrite needs to
// know it to give it a hint, so this returns `sloppy` followed by every down
// primary of `strict` that no fallback of `sloppy` stands in for (up=false).
// Both lists are for the same key and n.
std::vector<ring::Replica> WithUncoveredPrimaries(std::vector<ring::Replica> sloppy,
                                                  const std::vector<ring::Replica>& strict);

struct WriteOptions {
  uint32_t n = 3;  // replication.n
  uint32_t w = 2;  // resolved by ResolveQuorum, 1..n
  // Hinted handoff: a down primary gets a hint from its fallback, or from a
  // live replica when it has none. Off: a down primary misses the write and
  // catches up by read repair (and fallbacks in the list are ignored).
  bool sloppy_quorum = true;
  // Whether a fallback's hinted write counts towards W (Dynamo and Riak:
  // yes). A hint kept by a live replica never counts: that node already
  // counts once, for its own copy.
  bool hinted_writes_count = true;
};

// A replica the write goes to.
struct WriteTarget {
  std::string node_id;
  // Non-empty: node_id is a fallback; it stores the object as a hint for this
  // down primary (durably, before it acks) instead of as its own copy.
  std::string hint_for;
  bool counts_towards_w = true;
  // Its quorum group (WritePlan::group_required); 0 unless the level is
  // per datacenter.
  uint32_t group = 0;

  friend bool operator==(const WriteTarget&, const WriteTarget&) = default;
};

// A hint kept by a live replica for a down primary that has no fallback
// (Cassandra's coordinator keeps such hints). Sent beside that replica's own
// copy; never counts towards W and its ack is not fed to the tally.
struct KeptHint {
  std::string keeper;    // a node that is also in WritePlan::targets
  std::string hint_for;  // the down primary

  friend bool operator==(const KeptHint&, const KeptHint&) = default;
};

struct WritePlan {
  // Up primaries in preference order, then fallbacks. targets[0] mints the
  // dot (a primary whenever one is up). Node ids are distinct.
  std::vector<WriteTarget> targets;
  std::vector<KeptHint> kept_hints;  // in preference order of the down primaries
  uint32_t required_acks = 0;        // W
  // Per-datacenter levels: the counting acks each group needs (all of them
  // must be met) and its name for messages. Empty: one group, required_acks.
  std::vector<uint32_t> group_required;
  std::vector<std::string> group_names;
};

// What to send for a write. `preference_list`: the key's list from
// Ring::PreferenceList, strict (every primary, marked up or down) or
// sloppy (through WithUncoveredPrimaries). Entries with up=false are down
// primaries; they get no copy, only a hint (under sloppy quorum).
// UNAVAILABLE "too few replicas alive to try" when fewer than W targets can
// count; INVALID_ARGUMENT when w is 0 or above n.
Result<WritePlan> PlanWrite(const std::vector<ring::Replica>& preference_list, const WriteOptions& options);

enum class TallyState {
  kWaiting,    // not decided: keep feeding replies
  kSucceeded,  // the quorum is met
  kFailed,     // status() says why; final
};

// Counts a write's acknowledgements (after Riak's riak_kv_put_core).
//
// Decides as soon as the outcome is certain: SUCCESS on the W-th counting
// ack; failure as soon as so many counting targets have failed that W can no
// longer be reached (Riak does the same; waiting for the deadline would only
// delay an answer that cannot change). That failure carries the failures'
// code when they all share one (e.g. STORAGE_ERROR), else UNAVAILABLE. On the
// deadline before W: TIMEOUT "1 of 2 required replicas acknowledged within
// 5000 ms; the write may still be applied". Once decided the state never
// changes. Events for unknown nodes, and repeated events from one node, are
// ignored (the first one counts).
class WriteTally {
 public:
  explicit WriteTally(const WritePlan& plan);

  // `node_id` stored the object (or its hint) durably.
  void OnAck(const std::string& node_id);
  // `node_id` failed, or was never sent the object (e.g. the minting replica
  // failed: feed its status for every other target).
  void OnError(const std::string& node_id, const Status& error);
  // The driver's timer fired after `waited_ms`.
  void OnDeadline(uint64_t waited_ms);
  // A target added after planning: a stand-in for a replica that went down
  // while the write waited on it. Add it before reporting that replica's
  // error, or the tally may fail for want of it. No-op once decided, or
  // for a node already targeted.
  void AddTarget(const WriteTarget& target);
  // `node_id` is a target that has neither acked nor failed.
  bool Pending(const std::string& node_id) const;

  TallyState state() const { return state_; }
  // OK unless kFailed.
  const Status& status() const { return status_; }
  // Every target that acked, counting or not, in the order the acks came.
  const std::vector<std::string>& acked() const { return acked_; }
  uint32_t counted_acks() const;

 private:
  enum class Reply { kPending, kAck, kError };
  struct Entry {
    WriteTarget target;
    Reply reply = Reply::kPending;
    Status error;
  };

  Entry* Find(const std::string& node_id);
  void Decide();
  // Counting targets of `group` that have neither acked nor failed.
  uint32_t PendingIn(size_t group) const;

  std::vector<Entry> entries_;
  std::vector<uint32_t> required_;     // by group
  std::vector<uint32_t> counted_;      // by group
  std::vector<std::string> names_;     // by group; empty for the one group of a plain level
  std::vector<std::string> acked_;
  TallyState state_ = TallyState::kWaiting;
  Status status_;
};

// A replica a read asks.
struct ReadTarget {
  std::string node_id;
  // A fallback: asked, since it may hold the only copy of a write its primary
  // missed, but it counts towards R only once no primary can answer (see
  // ReadTally); never read-repaired (what it holds is a hint, which hinted
  // handoff delivers).
  bool fallback = false;
  uint32_t group = 0;  // its quorum group (ReadPlan::group_required)

  friend bool operator==(const ReadTarget&, const ReadTarget&) = default;
};

struct ReadPlan {
  std::vector<ReadTarget> targets;  // every up entry of the list, in order
  uint32_t required_replies = 0;    // R
  // As WritePlan's: each group's R, every one to be met; empty: one group.
  std::vector<uint32_t> group_required;
  std::vector<std::string> group_names;
};

// Whom to ask for a read: every up entry of `preference_list` (strict or
// sloppy, as for PlanWrite). UNAVAILABLE "too few replicas alive to try" when
// fewer than r are up; INVALID_ARGUMENT when r is 0 or above n.
Result<ReadPlan> PlanRead(const std::vector<ring::Replica>& preference_list, uint32_t n, uint32_t r);

// Counts a read's replies and merges them (after Riak's riak_kv_get_core).
//
// A reply is an Object (an empty one when the replica holds nothing) or an
// error (does not count). A primary's empty reply counts towards R, as with
// Riak's notfound_ok (while the list is healthy, R + W > N puts the last
// write on one of any R primaries). A fallback's reply, empty or not, counts
// only once no primary target is pending (each replied or failed), or on the
// deadline (the pending primaries could not answer in time). A fallback
// holds only the writes made while it stood in, so its "not found" says
// nothing of older keys; counted at once, it answered R=1 reads of keys that
// both live primaries held (5 nodes, N=3, one down: 48 of 600 reads). That is
// Riak's notfound_ok pitfall, which Riak leaves to notfound_ok=false with
// basic_quorum, or to PR; this rule keeps the availability of sloppy quorum
// without letting a fallback outrun a primary.
//
// kSucceeded once counted_replies() reaches R; merged() is then the client's
// answer: the dvv::Sync of every reply so far, counted or not, concurrent
// siblings kept and dominated versions dropped. Failure as soon as errors
// make R unreachable even counting every fallback (code as for WriteTally).
// On the deadline: kSucceeded when every reply, fallbacks' included, reaches
// R, else TIMEOUT "1 of 2 required replicas replied within 5000 ms". The
// tally keeps accepting replies after deciding so that read repair sees
// every replica; finished() once every target replied or the deadline passed.
class ReadTally {
 public:
  explicit ReadTally(const ReadPlan& plan);

  void OnReply(const std::string& node_id, const Object& object);
  void OnError(const std::string& node_id, const Status& error);
  void OnDeadline(uint64_t waited_ms);
  // `node_id` is a target that has neither replied nor failed.
  bool Pending(const std::string& node_id) const;

  TallyState state() const { return state_; }
  const Status& status() const { return status_; }
  bool finished() const { return finished_; }
  // The Sync of every reply received so far (empty when none).
  const Object& merged() const { return merged_; }
  // Moves merged() out; for the last use of a tally.
  Object TakeMerged() { return std::move(merged_); }
  // Every reply received, from primaries and fallbacks.
  uint32_t replies() const;
  // The replies that count towards R now: the primaries', plus the
  // fallbacks' once no primary is pending.
  uint32_t counted_replies() const;

  // The primaries that replied with an object other than merged(): stale, or
  // empty (missing). Errors and unanswered targets are not repaired, nor are
  // fallbacks. Meaningful once finished(), whatever state(): a repair is a
  // merge at the receiver, safe even after a failed read.
  std::vector<std::string> RepairTargets() const;

 private:
  enum class Reply { kPending, kObject, kError };
  struct Entry {
    ReadTarget target;
    Reply reply = Reply::kPending;
    Object object;  // normalized by Sync, comparable with merged_
    Status error;
  };

  Entry* Find(const std::string& node_id);
  void Decide();

  // The counts of one quorum group.
  struct Group {
    uint32_t required = 0;
    uint32_t replies = 0;
    uint32_t fallback_replies = 0;   // of replies
    uint32_t pending = 0;            // targets neither replied nor failed
    uint32_t primaries_pending = 0;  // of pending
    std::string name;                // empty for the one group of a plain level
    uint32_t counted() const { return primaries_pending == 0 ? replies : replies - fallback_replies; }
  };
  // The first group whose `count` is below its R, or nullptr.
  const Group* Short(uint32_t (*count)(const Group&)) const;

  std::vector<Entry> entries_;
  std::vector<Group> groups_;
  uint32_t answered_ = 0;           // replies plus errors
  Object merged_;
  TallyState state_ = TallyState::kWaiting;
  Status status_;
  bool finished_ = false;
};

}  // namespace dynkv::quorum
