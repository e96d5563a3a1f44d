// Preference lists: which nodes keep a key (ring.h: PreferenceList), and
// the topology they are placed by.
#include <algorithm>
#include <utility>

#include "ring/rack_quota.h"
#include "ring/ring.h"

namespace dynkv::ring {

namespace {

// Visits the owners of a ring's tokens clockwise from one token, each
// distinct owner once, at most one lap.
class DistinctOwnerWalk {
 public:
  DistinctOwnerWalk(const Ring& ring, size_t start)
      : ring_(ring), next_(start), seen_(ring.nodes().size(), false) {}

  // Sets *owner to the next owner not yet visited; false after one lap.
  bool Next(size_t* owner) {
    while (steps_ < ring_.token_count()) {
      const size_t index = ring_.owner_index(next_);
      next_ = next_ + 1 == ring_.token_count() ? 0 : next_ + 1;
      ++steps_;
      if (!seen_[index]) {
        seen_[index] = true;
        *owner = index;
        return true;
      }
    }
    return false;
  }

 private:
  const Ring& ring_;
  size_t next_;
  size_t steps_ = 0;
  std::vector<bool> seen_;
};

}  // namespace

void Ring::PlaceTopology(const Topology& topology) {
  per_datacenter_ = !topology.datacenters.empty();
  std::map<std::string, uint32_t> group_ids;
  if (per_datacenter_) {
    for (const auto& [datacenter, replicas] : topology.datacenters) {
      group_ids[datacenter] = static_cast<uint32_t>(groups_.size());
      groups_.push_back(Group{replicas, {}, 0});
    }
  } else {
    groups_.push_back(Group{});
  }
  std::vector<bool> owns(nodes_.size(), false);
  for (uint32_t owner : owners_) owns[owner] = true;
  std::map<std::pair<std::string, std::string>, uint32_t> rack_ids;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const auto located = topology.locations.find(nodes_[i]);
    locations_.push_back(located == topology.locations.end() ? Location{} : located->second);
    const Location& location = locations_.back();
    const auto [rack, added] =
        rack_ids.try_emplace({location.datacenter, location.rack}, static_cast<uint32_t>(rack_ids.size()));
    if (added) rack_owners_.push_back(0);
    rack_of_.push_back(rack->second);
    uint32_t group = 0;
    if (per_datacenter_) {
      const auto found = group_ids.find(location.datacenter);
      group = found == group_ids.end() ? kNoGroup : found->second;
    }
    group_of_.push_back(group);
    if (!owns[i] || group == kNoGroup) continue;
    if (rack_owners_[rack->second]++ == 0) groups_[group].racks.push_back(rack->second);
    ++groups_[group].owners;
  }
}

const Location& Ring::LocationOf(std::string_view node_id) const {
  static const Location kNowhere;
  const auto it = std::lower_bound(nodes_.begin(), nodes_.end(), node_id);
  if (it == nodes_.end() || *it != node_id) return kNowhere;
  return locations_[static_cast<size_t>(it - nodes_.begin())];
}

size_t Ring::GroupReplicas(const Group& group, size_t n) const {
  return std::min<size_t>(per_datacenter_ ? group.replicas : n, group.owners);
}

size_t Ring::ReplicaCount(size_t n) const {
  size_t count = 0;
  for (const Group& group : groups_) count += GroupReplicas(group, n);
  return count;
}

std::vector<Replica> Ring::PreferenceList(uint64_t position, size_t n) const {
  return PreferenceList(
      position, n, [](const std::string&) { return true; }, Quorum::kStrict);
}

std::vector<Replica> Ring::PreferenceList(uint64_t position, size_t n, const IsUp& is_up,
                                          Quorum quorum) const {
  if (empty()) return {};
  std::vector<Replica> down;
  std::vector<Replica> out = Primaries(position, n, is_up, quorum, &down);
  AddFallbacks(position, down, is_up, &out);
  return out;
}

// The walk takes each group's replicas (PlanRackQuota); kSloppy sets the down
// primaries aside in *down.
std::vector<Replica> Ring::Primaries(uint64_t position, size_t n, const IsUp& is_up, Quorum quorum,
                                     std::vector<Replica>* down) const {
  std::vector<RackQuota> quotas;
  size_t remaining = 0;
  for (const Group& group : groups_) {
    quotas.push_back(PlanRackQuota(GroupReplicas(group, n), group.racks, rack_owners_));
    remaining += quotas.back().want;
  }
  std::vector<uint32_t> in_rack(rack_owners_.size(), 0);
  std::vector<Replica> out;
  DistinctOwnerWalk walk(*this, TokenIndexFor(position));
  size_t owner = 0;
  while (remaining > 0 && walk.Next(&owner)) {
    const uint32_t group = group_of_[owner];
    if (group == kNoGroup || !quotas[group].Take(in_rack[rack_of_[owner]])) continue;
    ++in_rack[rack_of_[owner]];
    --remaining;
    const bool up = is_up(nodes_[owner]);
    (quorum == Quorum::kStrict || up ? out : *down).push_back(Replica{nodes_[owner], false, "", up});
  }
  return out;
}

// Each group walks from the position on its own, so a fallback comes from
// the down primary's datacenter when replication is per datacenter.
void Ring::AddFallbacks(uint64_t position, const std::vector<Replica>& down, const IsUp& is_up,
                        std::vector<Replica>* out) const {
  if (down.empty()) return;
  std::vector<bool> listed(nodes_.size(), false);
  auto index_of = [this](const std::string& id) {
    return static_cast<size_t>(std::lower_bound(nodes_.begin(), nodes_.end(), id) - nodes_.begin());
  };
  for (const Replica& r : *out) listed[index_of(r.node_id)] = true;
  for (const Replica& r : down) listed[index_of(r.node_id)] = true;
  std::map<uint32_t, DistinctOwnerWalk> walks;
  for (const Replica& primary : down) {
    const uint32_t group = group_of_[index_of(primary.node_id)];
    auto walk = walks.try_emplace(group, *this, TokenIndexFor(position)).first;
    size_t owner = 0;
    bool replaced = false;
    while (!replaced && walk->second.Next(&owner)) {
      if (listed[owner] || group_of_[owner] != group || !is_up(nodes_[owner])) continue;
      listed[owner] = true;
      out->push_back(Replica{nodes_[owner], true, primary.node_id, true});
      replaced = true;
    }
    // Later down primaries of the group find nobody either: they are left out.
  }
}

}  // namespace dynkv::ring
