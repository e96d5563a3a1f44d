#include "ring/placement.h"

#include <algorithm>
#include <set>

#include "common/key_hash.h"

namespace dynkv::ring {

namespace {

std::string_view RoleWord(Role role) {
  switch (role) {
    case Role::kJoining:
      return "join";
    case Role::kLeaving:
      return "leave";
    case Role::kReplacing:
      return "replace";
    case Role::kNormal:
      break;
  }
  return "normal";
}

void AppendWord(std::string* out, uint64_t word) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(word >> shift));
}

std::vector<std::string> IdsOf(const std::vector<Replica>& list) {
  std::vector<std::string> ids;
  ids.reserve(list.size());
  for (const Replica& r : list) ids.push_back(r.node_id);
  return ids;
}

}  // namespace

bool SegmentContains(uint64_t start, uint64_t end, uint64_t p) {
  if (start == end) return true;
  if (start < end) return p > start && p <= end;
  return p > start || p <= end;
}

bool SegmentCovers(uint64_t start, uint64_t end, uint64_t inner_start, uint64_t inner_end) {
  if (start == end) return true;
  if (inner_start == inner_end) return false;  // the whole ring fits in no proper part
  // Shift so that the outer segment starts at 0: (0, end - start].
  const uint64_t length = end - start;
  const uint64_t a = inner_start - start;
  const uint64_t b = inner_end - start;
  return a < b && b <= length;
}

Placement::Placement(const std::vector<PlacedNode>& nodes, size_t n,
                     const std::map<std::string, uint32_t>& datacenters)
    : nodes_(nodes), n_(n) {
  std::sort(nodes_.begin(), nodes_.end(),
            [](const PlacedNode& a, const PlacedNode& b) { return a.node_id < b.node_id; });
  TokenMap current;
  TokenMap next;
  // The topology counts in the version only when it places anything: a
  // cluster in one location has the version it had before racks existed,
  // so nodes of both releases agree on it during an upgrade.
  bool placed_by_topology = !datacenters.empty();
  const Location* first = nullptr;
  for (const PlacedNode& node : nodes_) {
    if (node.tokens.empty()) continue;
    if (first == nullptr) first = &node.location;
    if (!(node.location == *first)) placed_by_topology = true;
  }
  std::string identity;
  Topology topology{{}, datacenters};
  for (const auto& [datacenter, replicas] : datacenters) {
    identity += datacenter;
    identity.push_back('\0');
    AppendWord(&identity, replicas);
  }
  for (const PlacedNode& node : nodes_) {
    if (node.tokens.empty()) continue;
    topology.locations[node.node_id] = node.location;
    if (placed_by_topology) {
      identity += node.location.datacenter;
      identity.push_back('\0');
      identity += node.location.rack;
      identity.push_back('\0');
    }
    if (node.role != Role::kJoining) current[node.node_id] = node.tokens;
    if (node.role != Role::kLeaving) next[node.node_id] = node.tokens;
    if (node.role != Role::kNormal) changes_.push_back(std::string(RoleWord(node.role)) + " " + node.node_id);
    identity += node.node_id;
    identity.push_back('\0');
    identity.push_back(static_cast<char>(node.role));
    for (uint64_t token : node.tokens) AppendWord(&identity, token);
  }
  current_ = Ring(current, topology);
  next_ = Ring(next, topology);
  version_ = std::max<uint64_t>(1, KeyPosition(identity));
  still_ = changes_.empty();
  if (!still_) Plan();
}

Role Placement::RoleOf(const std::string& node_id) const {
  auto it = std::lower_bound(nodes_.begin(), nodes_.end(), node_id,
                             [](const PlacedNode& a, const std::string& id) { return a.node_id < id; });
  return it != nodes_.end() && it->node_id == node_id ? it->role : Role::kNormal;
}

bool Placement::Serving(const std::string& node_id) const {
  const Role role = RoleOf(node_id);
  return role == Role::kNormal || role == Role::kLeaving;
}

std::vector<std::string> Placement::Pending(uint64_t position) const {
  if (still_ || next_.empty()) return {};
  std::vector<std::string> serving;
  if (!current_.empty()) {
    for (const Replica& r : current_.PreferenceList(position, n_)) {
      if (Serving(r.node_id)) serving.push_back(r.node_id);
    }
  }
  std::vector<std::string> pending;
  for (const Replica& r : next_.PreferenceList(position, n_)) {
    if (std::find(serving.begin(), serving.end(), r.node_id) == serving.end()) pending.push_back(r.node_id);
  }
  return pending;
}

// Both rings' preference lists are constant between two consecutive tokens
// of either ring, so the union of their tokens cuts the ring into segments
// that each move as one.
void Placement::Plan() {
  std::set<uint64_t> cuts;
  for (size_t i = 0; i < current_.token_count(); ++i) cuts.insert(current_.token(i));
  for (size_t i = 0; i < next_.token_count(); ++i) cuts.insert(next_.token(i));
  if (cuts.empty()) return;
  const std::vector<uint64_t> ends(cuts.begin(), cuts.end());
  for (size_t i = 0; i < ends.size(); ++i) {
    Segment segment;
    segment.start = ends[i == 0 ? ends.size() - 1 : i - 1];
    segment.end = ends[i];
    segment.pending = Pending(segment.end);
    if (segment.pending.empty()) continue;
    if (!current_.empty()) {
      for (const std::string& id : IdsOf(current_.PreferenceList(segment.end, n_))) {
        if (Serving(id)) segment.sources.push_back(id);
      }
    }
    moving_.push_back(std::move(segment));
  }
}

std::vector<Segment> Placement::GainedBy(const std::string& node_id) const {
  std::vector<Segment> gained;
  for (const Segment& segment : moving_) {
    if (std::find(segment.pending.begin(), segment.pending.end(), node_id) != segment.pending.end()) {
      gained.push_back(segment);
    }
  }
  return gained;
}

}  // namespace dynkv::ring
