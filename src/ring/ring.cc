#include "ring/ring.h"

#include <algorithm>
#include <utility>

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

Replica Primary(const std::string& node_id, bool up) { return Replica{node_id, false, "", up}; }

}  // namespace

Ring::Ring(const TokenMap& tokens) {
  std::vector<std::pair<uint64_t, uint32_t>> all;
  for (const auto& [node_id, node_tokens] : tokens) {
    const auto index = static_cast<uint32_t>(nodes_.size());
    nodes_.push_back(node_id);
    for (uint64_t token : node_tokens) all.emplace_back(token, index);
  }
  // Sorting by (token, owner index) puts the smallest node id first among
  // the claimants of one token; only that first claim is kept.
  std::sort(all.begin(), all.end());
  tokens_.reserve(all.size());
  owners_.reserve(all.size());
  for (const auto& [token, owner] : all) {
    if (!tokens_.empty() && tokens_.back() == token) continue;
    tokens_.push_back(token);
    owners_.push_back(owner);
  }
}

bool Ring::HasNode(std::string_view node_id) const {
  return std::binary_search(nodes_.begin(), nodes_.end(), node_id);
}

std::vector<uint64_t> Ring::TokensOf(std::string_view node_id) const {
  std::vector<uint64_t> out;
  const auto it = std::lower_bound(nodes_.begin(), nodes_.end(), node_id);
  if (it == nodes_.end() || *it != node_id) return out;
  const auto index = static_cast<uint32_t>(it - nodes_.begin());
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (owners_[i] == index) out.push_back(tokens_[i]);
  }
  return out;
}

TokenMap Ring::ToTokenMap() const {
  TokenMap out;
  for (const std::string& node_id : nodes_) out[node_id];
  for (size_t i = 0; i < tokens_.size(); ++i) out[nodes_[owners_[i]]].push_back(tokens_[i]);
  return out;
}

size_t Ring::TokenIndexFor(uint64_t position) const {
  const auto it = std::lower_bound(tokens_.begin(), tokens_.end(), position);
  return it == tokens_.end() ? 0 : static_cast<size_t>(it - tokens_.begin());
}

const std::string& Ring::Owner(uint64_t position) const { return nodes_[owners_[TokenIndexFor(position)]]; }

std::vector<Replica> Ring::PreferenceList(uint64_t position, size_t n) const {
  return PreferenceList(
      position, n, [](const std::string&) { return true; }, Quorum::kStrict);
}

std::vector<Replica> Ring::PreferenceList(uint64_t position, size_t n, const IsUp& is_up,
                                          Quorum quorum) const {
  std::vector<Replica> out;
  if (empty() || n == 0) return out;
  DistinctOwnerWalk walk(*this, TokenIndexFor(position));
  std::vector<Replica> down;
  size_t owner = 0;
  for (size_t found = 0; found < n && walk.Next(&owner); ++found) {
    const std::string& node_id = nodes_[owner];
    const bool up = is_up(node_id);
    if (quorum == Quorum::kStrict || up) {
      out.push_back(Primary(node_id, up));
    } else {
      down.push_back(Primary(node_id, false));
    }
  }
  // The walk continues beyond the primaries, so each fallback is the next
  // healthy node clockwise that is not in the list yet.
  for (const Replica& primary : down) {
    bool replaced = false;
    while (!replaced && walk.Next(&owner)) {
      if (!is_up(nodes_[owner])) continue;
      out.push_back(Replica{nodes_[owner], true, primary.node_id, true});
      replaced = true;
    }
    if (!replaced) break;
  }
  return out;
}

}  // namespace dynkv::ring
