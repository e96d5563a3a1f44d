#include "ring/ring.h"

#include <algorithm>
#include <utility>

#include "common/key_hash.h"

namespace dynkv::ring {


Ring::Ring(const TokenMap& tokens) : Ring(tokens, Topology{}) {}

Ring::Ring(const TokenMap& tokens, const Topology& topology) {
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
  PlaceTopology(topology);
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

uint64_t ReplicationDigest(size_t n, const std::map<std::string, uint32_t>& datacenters) {
  std::string text = datacenters.empty() ? "n=" + std::to_string(n) : "datacenters";
  for (const auto& [name, count] : datacenters) text += ":" + name + "=" + std::to_string(count);
  const uint64_t digest = KeyPosition(text);
  return digest == 0 ? 1 : digest;
}

size_t GroupReplicas(const std::map<std::string, uint32_t>& datacenters, size_t n,
                     const std::string& datacenter) {
  if (datacenters.empty()) return n;
  auto it = datacenters.find(datacenter);
  return it == datacenters.end() ? 0 : it->second;
}

}  // namespace dynkv::ring
