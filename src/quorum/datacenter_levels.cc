#include "quorum/datacenter_levels.h"

#include <map>
#include <utility>

namespace dynkv::quorum {

namespace {

// The list's entries by datacenter, the local one first, then by name.
struct Part {
  std::string datacenter;
  std::vector<ring::Replica> entries;
  uint32_t n() const { return static_cast<uint32_t>(entries.size()); }
  uint32_t quorum() const { return n() / 2 + 1; }
};

std::vector<Part> ByDatacenter(const std::vector<ring::Replica>& list, const ring::Ring& ring,
                               const std::string& local) {
  std::map<std::string, std::vector<ring::Replica>> parts;
  for (const ring::Replica& r : list) {
    parts[ring.LocationOf(r.fallback ? r.hint_for : r.node_id).datacenter].push_back(r);
  }
  std::vector<Part> out;
  if (auto it = parts.find(local); it != parts.end()) {
    out.push_back(Part{local, std::move(it->second)});
    parts.erase(it);
  }
  for (auto& [datacenter, entries] : parts) out.push_back(Part{datacenter, std::move(entries)});
  return out;
}

Status InDatacenter(const Status& status, uint32_t level, const std::string& datacenter) {
  return Status(status.code(), DatacenterLevelName(level) + " in " + datacenter + ": " + status.message());
}

Status NoLocalReplicas(const std::string& local) {
  return Status::InvalidArgument("local_quorum: this node's datacenter " + local +
                                 " keeps no replica of the key; ask a node of a datacenter that does, or use quorum");
}

}  // namespace

bool IsDatacenterLevel(uint32_t level) { return level == kLocalQuorumLevel || level == kEachQuorumLevel; }

std::string DatacenterLevelName(uint32_t level) {
  return level == kLocalQuorumLevel ? "local_quorum" : "each_quorum";
}

Result<ReadPlan> PlanDatacenterRead(const std::vector<ring::Replica>& list, const ring::Ring& ring,
                                    uint32_t level, const std::string& local) {
  std::vector<Part> parts = ByDatacenter(list, ring, local);
  if (level == kLocalQuorumLevel) {
    if (parts.empty() || parts.front().datacenter != local) return NoLocalReplicas(local);
    parts.resize(1);
  }
  ReadPlan plan;
  for (const Part& part : parts) {
    Result<ReadPlan> planned = PlanRead(part.entries, part.n(), part.quorum());
    if (!planned.ok()) return InDatacenter(planned.status(), level, part.datacenter);
    for (ReadTarget target : planned->targets) {
      target.group = static_cast<uint32_t>(plan.group_required.size());
      plan.targets.push_back(std::move(target));
    }
    plan.group_required.push_back(part.quorum());
    plan.group_names.push_back(part.datacenter);
    plan.required_replies += part.quorum();
  }
  return plan;
}

Result<WritePlan> PlanDatacenterWrite(const std::vector<ring::Replica>& list, const ring::Ring& ring,
                                      uint32_t level, const std::string& local, WriteOptions options) {
  const std::vector<Part> parts = ByDatacenter(list, ring, local);
  const bool local_only = level == kLocalQuorumLevel;
  if (local_only && (parts.empty() || parts.front().datacenter != local)) return NoLocalReplicas(local);
  WritePlan plan;
  for (const Part& part : parts) {
    const bool counts = !local_only || part.datacenter == local;
    options.n = part.n();
    options.w = counts ? part.quorum() : 1;
    Result<WritePlan> planned = PlanWrite(part.entries, options);
    if (!planned.ok()) {
      // Another datacenter that nobody waits on: it gets what reaches it.
      if (!counts) continue;
      return InDatacenter(planned.status(), level, part.datacenter);
    }
    const auto group = static_cast<uint32_t>(plan.group_required.size());
    for (WriteTarget target : planned->targets) {
      target.group = group;
      target.counts_towards_w = target.counts_towards_w && counts;
      plan.targets.push_back(std::move(target));
    }
    plan.kept_hints.insert(plan.kept_hints.end(), planned->kept_hints.begin(), planned->kept_hints.end());
    plan.group_required.push_back(counts ? part.quorum() : 0);
    plan.group_names.push_back(part.datacenter);
    plan.required_acks += counts ? part.quorum() : 0;
  }
  return plan;
}

}  // namespace dynkv::quorum
