// Nemesis: the simulator's fault schedule, one fault at a time, each in a
// window of 1-5 simulated seconds after a calm gap of 1-3 s, all drawn from
// the cluster's seeded random (after tools/chaos/nemesis.py):
//   kill       the node dies; it restarts on its data dir when the window ends
//   pause      every event of the node is held for the window (SIGSTOP)
//   partition  one node isolated, two halves, or one node cut off one way
//   drop       10-30% of all messages lost and 5% duplicated
//   clock      one node's wall clock jumps 1-60 s forward or back
//   membership one ring change: a new node joins (while the cluster has
//              fewer than its first nodes + 3 members), a member leaves, a
//              member is killed and, once the others judge it down, removed
//              through another member (leave and remove keep at least
//              max(N, 3) members), or a member loses its disk and is
//              replaced. Nothing heals it: its window lasts until the change
//              has settled (SimCluster::MembershipSettled), and a change
//              that has not settled within 120 s fails the run.
// Faults strike members only (SimCluster::members). Every window, from the
// fault to the cluster's recovery from it (every node sees the others up
// again), is recorded in the History for the checker.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "sim/checker.h"
#include "sim/sim_cluster.h"

namespace dynkv::sim {

// The fault kinds above, by name. INVALID_ARGUMENT naming an unknown one.
Result<std::vector<std::string>> ParseFaults(const std::string& list);

class Nemesis {
 public:
  // REQUIRES: cluster and history outlive the nemesis.
  Nemesis(SimCluster& cluster, History& history, std::vector<std::string> faults);

  // Schedules the first fault.
  void Start();
  // Ends the fault in progress now, and starts no other: every member runs
  // again, unpaused, on a whole network with its true clock. A membership
  // change in progress goes on. The last window is recorded once the
  // cluster has recovered (recovering()). Returns status().
  Status Stop();
  bool recovering() const { return recovering_; }
  // The first failure of the nemesis' own: a node that would not restart,
  // a membership change refused or not settled in time. Once it failed,
  // the nemesis starts no further fault.
  const Status& status() const { return status_; }

  // The longest a membership change may take to settle.
  static constexpr int64_t kMaxSettleMs = 120'000;

 private:
  enum class Change { kJoin, kLeave, kRemove, kReplace };
  void Begin();
  void End();
  void AwaitRecovery(int64_t give_up_ms);
  void BeginMembershipChange();
  void RemoveOnceDown(int64_t give_up_ms);
  void AwaitSettled(int64_t give_up_ms);
  void CloseWindow();
  void Fail(Status status);

  SimCluster& cluster_;
  History& history_;
  std::vector<std::string> faults_;
  LinkOptions calm_link_;
  bool stopped_ = false;
  bool active_ = false;
  bool recovering_ = false;  // healed; the window ends once the cluster has converged
  bool changing_ = false;    // a membership change is under way (never active_)
  FaultWindow window_;
  size_t target_ = 0;
  uint64_t generation_ = 0;  // tells a scheduled End which fault it ends
  Status status_;
};

}  // namespace dynkv::sim
