#include "sim/nemesis.h"

#include <sstream>

namespace dynkv::sim {

namespace {

const std::vector<std::string> kFaults = {"kill", "pause", "partition", "drop", "clock"};
constexpr int64_t kRecoveryPollMs = 10;
constexpr int64_t kMaxRecoveryMs = 30'000;

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
                                     "'; the faults are kill, pause, partition, drop, clock");
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
  target_ = random.Below(cluster_.size());
  window_ = FaultWindow{fault, cluster_.id(target_), cluster_.loop().now(), 0};
  SimNetwork& network = cluster_.network();
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
      for (size_t i = 0; i < cluster_.size(); i += 2)
        half.insert(cluster_.peer_address((target_ + i) % cluster_.size()));
      network.Partition({half});
      window_.node += " and every other node split off";
    } else {
      for (size_t i = 0; i < cluster_.size(); ++i) {
        if (i != target_) network.Block(self, cluster_.peer_address(i));
      }
      window_.node += " cannot send";
    }
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
    if (!status.ok() && restart_status_.ok()) restart_status_ = status;
  } else if (fault == "pause") {
    cluster_.Resume(target_);
  } else if (fault == "partition") {
    cluster_.network().Heal();
  } else if (fault == "drop") {
    cluster_.network().set_options(calm_link_);
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
  window_.end_ms = cluster_.loop().now();
  history_.faults.push_back(window_);
  recovering_ = false;
  cluster_.Note("fault " + window_.fault + " " + window_.node + " ends");
  if (!stopped_) cluster_.loop().After(cluster_.random().Between(1000, 3000), [this] { Begin(); });
}

Status Nemesis::Stop() {
  stopped_ = true;
  if (active_) End();
  // Whatever a fault left behind: every node up, on a whole network.
  for (size_t i = 0; i < cluster_.size(); ++i) {
    if (!cluster_.running(i)) {
      Status status = cluster_.Start(i);
      if (!status.ok() && restart_status_.ok()) restart_status_ = status;
    }
  }
  return restart_status_;
}

}  // namespace dynkv::sim
