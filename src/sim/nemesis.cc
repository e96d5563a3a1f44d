#include "sim/nemesis.h"

#include <algorithm>
#include <sstream>

namespace dynkv::sim {

namespace {

const std::vector<std::string> kFaults = {"kill", "pause", "partition", "drop", "clock", "membership", "slow", "stall"};
constexpr int64_t kRecoveryPollMs = 10;
constexpr int64_t kMaxRecoveryMs = 30'000;
// Joins grow the cluster up to its first size plus this many members.
constexpr size_t kMaxAddedMembers = 3;
// Leaves and removals keep at least max(N, this) members.
constexpr size_t kMinMembers = 3;

}  // namespace

Result<std::vector<std::string>> ParseFaults(const std::string& list) {
  std::vector<std::string> faults;
  std::stringstream in(list);
  std::string name;
  while (std::getline(in, name, ',')) {
    if (name.empty()) continue;
    bool known = false;
    for (const std::string& f : kFaults) known = known || f == name;
    if (!known) {
      return Status::InvalidArgument("unknown fault '" + name +
                                     "'; the faults are kill, pause, partition, drop, clock, membership, slow, stall");
    }
    faults.push_back(name);
  }
  return faults;
}

Nemesis::Nemesis(SimCluster& cluster, History& history, std::vector<std::string> faults)
    : cluster_(cluster),
      history_(history),
      faults_(std::move(faults)),
      calm_link_(cluster.network().options()) {}

void Nemesis::Start() {
  if (faults_.empty()) return;
  cluster_.loop().After(cluster_.random().Between(1000, 3000), [this] { Begin(); });
}

void Nemesis::Begin() {
  if (stopped_) return;
  SimRandom& random = cluster_.random();
  const std::string fault = faults_[random.Below(faults_.size())];
  const std::vector<size_t> members = cluster_.members();
  const size_t position = random.Below(members.size());
  target_ = members[position];
  window_ = FaultWindow{fault, cluster_.id(target_), cluster_.loop().now(), 0};
  SimNetwork& network = cluster_.network();
  if (fault == "membership") return BeginMembershipChange();
  if (fault == "kill") {
    cluster_.Kill(target_);
  } else if (fault == "pause") {
    cluster_.Pause(target_);
  } else if (fault == "partition") {
    const std::string self = cluster_.peer_address(target_);
    const uint64_t shape = random.Below(3);
    if (shape == 0) {
      network.Partition({{self}});
      window_.node += " isolated";
    } else if (shape == 1) {
      std::set<std::string> half;
      for (size_t k = 0; k < members.size(); k += 2)
        half.insert(cluster_.peer_address(members[(position + k) % members.size()]));
      network.Partition({half});
      window_.node += " and every other node split off";
    } else {
      for (size_t i : members) {
        if (i != target_) network.Block(self, cluster_.peer_address(i));
      }
      window_.node += " cannot send";
    }
  } else if (fault == "slow") {
    const int64_t extra = random.Between(50, 400);
    cluster_.Slow(target_, extra);
    window_.node += " +" + std::to_string(extra) + "ms";
  } else if (fault == "stall") {
    cluster_.StallStorage(target_, kMaxRecoveryMs);  // until End
  } else if (fault == "drop") {
    LinkOptions lossy = calm_link_;
    lossy.drop = 0.1 + 0.2 * random.Uniform();
    lossy.duplicate = 0.05;
    network.set_options(lossy);
    window_.node = "all";
  } else {
    const int64_t jump = random.Between(1000, 60'000) * (random.Chance(0.5) ? 1 : -1);
    cluster_.JumpClock(target_, jump);
  }
  active_ = true;
  cluster_.Note("fault " + window_.fault + " " + window_.node + " begins");
  const uint64_t generation = ++generation_;
  cluster_.loop().After(random.Between(1000, 5000), [this, generation] {
    if (generation == generation_ && active_) End();
  });
}

void Nemesis::End() {
  active_ = false;
  recovering_ = true;
  const std::string& fault = window_.fault;
  if (fault == "kill") {
    Status status = cluster_.Start(target_);
    if (!status.ok()) Fail(status);
  } else if (fault == "pause") {
    cluster_.Resume(target_);
  } else if (fault == "partition") {
    cluster_.network().Heal();
  } else if (fault == "drop") {
    cluster_.network().set_options(calm_link_);
  } else if (fault == "slow") {
    cluster_.Slow(target_, 0);
  } else if (fault == "stall") {
    cluster_.StallStorage(target_, 0);
  } else {
    cluster_.ResetClock(target_);
  }
  cluster_.Note("fault " + window_.fault + " " + window_.node + " healed");
  AwaitRecovery(cluster_.loop().now() + kMaxRecoveryMs);
}

// The window lasts until the cluster has recovered from the fault, not
// only until the fault is gone: until every node sees the others up
// again, coordinators still take sloppy quorums, so a read may miss the
// reader's own write that a fallback holds as a hint (Dynamo's trade of
// read-your-writes for availability), which the checker allows inside a
// window only.
void Nemesis::AwaitRecovery(int64_t give_up_ms) {
  if (!cluster_.Converged() && cluster_.loop().now() < give_up_ms) {
    cluster_.loop().After(kRecoveryPollMs, [this, give_up_ms] { AwaitRecovery(give_up_ms); });
    return;
  }
  CloseWindow();
}

void Nemesis::CloseWindow() {
  window_.end_ms = cluster_.loop().now();
  history_.faults.push_back(window_);
  recovering_ = false;
  changing_ = false;
  cluster_.Note("fault " + window_.fault + " " + window_.node + " ends");
  if (!stopped_ && status_.ok()) {
    cluster_.loop().After(cluster_.random().Between(1000, 3000), [this] { Begin(); });
  }
}

void Nemesis::Fail(Status status) {
  cluster_.Note("nemesis: " + status.ToString());
  if (status_.ok()) status_ = std::move(status);
}

// One ring change at a time (DESIGN.md: Ownership changes), as an operator
// adds or retires nodes one by one. Nothing heals it: the window is the
// change itself, from the request until it has settled.
void Nemesis::BeginMembershipChange() {
  const size_t members = cluster_.members().size();
  const size_t n = cluster_.options().replication.n;
  std::vector<Change> possible;
  if (members < cluster_.options().nodes + kMaxAddedMembers) possible.push_back(Change::kJoin);
  if (members > std::max<size_t>(n, kMinMembers)) {
    possible.push_back(Change::kLeave);
    possible.push_back(Change::kRemove);
  }
  possible.push_back(Change::kReplace);
  const Change change = possible[cluster_.random().Below(possible.size())];
  changing_ = true;
  recovering_ = true;
  const int64_t give_up_ms = cluster_.loop().now() + kMaxSettleMs;
  Status status;
  switch (change) {
    case Change::kJoin: {
      Result<size_t> added = cluster_.AddNode();
      target_ = cluster_.size() - 1;
      window_.node = cluster_.id(target_) + " joins";
      if (!added.ok()) status = added.status();
      break;
    }
    case Change::kLeave:
      window_.node += " leaves";
      cluster_.Leave(target_);
      break;
    case Change::kReplace:
      window_.node += " loses its disk and is replaced";
      status = cluster_.Replace(target_);
      break;
    case Change::kRemove:
      window_.node += " dies and is removed";
      cluster_.Note("fault " + window_.fault + " " + window_.node + " begins");
      cluster_.Kill(target_);
      return RemoveOnceDown(give_up_ms);
  }
  cluster_.Note("fault " + window_.fault + " " + window_.node + " begins");
  if (!status.ok()) Fail(status.WithContext(window_.node));
  AwaitSettled(give_up_ms);
}

// `dynkv remove` refuses a node its coordinator still judges up, so the
// operator waits until the others see it down.
void Nemesis::RemoveOnceDown(int64_t give_up_ms) {
  if (!cluster_.AllSeeUp(target_, false)) {
    if (cluster_.loop().now() >= give_up_ms) {
      Fail(Status::Timeout(window_.node + ": the others never judged it down"));
      return CloseWindow();
    }
    cluster_.loop().After(kRecoveryPollMs, [this, give_up_ms] { RemoveOnceDown(give_up_ms); });
    return;
  }
  std::vector<size_t> vias;
  for (size_t i : cluster_.members()) {
    if (i != target_ && cluster_.running(i)) vias.push_back(i);
  }
  const size_t via = vias[cluster_.random().Below(vias.size())];
  window_.node += " via " + cluster_.id(via);
  Status status = cluster_.Remove(target_, via);
  if (!status.ok()) Fail(status.WithContext(window_.node));
  AwaitSettled(give_up_ms);
}

void Nemesis::AwaitSettled(int64_t give_up_ms) {
  if (cluster_.MembershipSettled() || !status_.ok()) return CloseWindow();
  if (cluster_.loop().now() >= give_up_ms) {
    Fail(Status::Timeout(window_.node + ": not settled after " + std::to_string(kMaxSettleMs / 1000) + " s"));
    return CloseWindow();
  }
  cluster_.loop().After(kRecoveryPollMs, [this, give_up_ms] { AwaitSettled(give_up_ms); });
}

Status Nemesis::Stop() {
  stopped_ = true;
  if (active_) End();
  // Whatever a fault left behind: every member up, on a whole network. A
  // node being removed stays dead.
  for (size_t i : cluster_.members()) {
    if (changing_ && i == target_) continue;
    if (!cluster_.running(i)) {
      Status status = cluster_.Start(i);
      if (!status.ok()) Fail(status);
    }
  }
  return status_;
}

}  // namespace dynkv::sim
