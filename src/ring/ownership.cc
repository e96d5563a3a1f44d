// Ownership figures for `dynkv ring`, the balance report and the tests.
#include "ring/ranges.h"
#include "ring/ring.h"

namespace dynkv::ring {

std::map<std::string, double> Shares(const Ring& ring) {
  std::map<std::string, double> out;
  for (const std::string& node_id : ring.nodes()) out[node_id] = 0;
  for (size_t i = 0; i < ring.token_count(); ++i) {
    out[ring.nodes()[ring.owner_index(i)]] += RangeLength(ring, i) / kRingSize;
  }
  return out;
}

double MaxRackShareOverFair(const Ring& ring, const std::map<std::string, double>& replicated) {
  std::map<std::pair<std::string, std::string>, double> share, nodes;
  double total = 0;
  for (const auto& [node, value] : replicated) {
    const Location& location = ring.LocationOf(node);
    const std::pair<std::string, std::string> rack{location.datacenter, location.rack};
    share[rack] += value;
    nodes[rack] += 1;
    total += value;
  }
  double worst = 0;
  for (const auto& [rack, value] : share) {
    worst = std::max(worst, value / (total * nodes[rack] / static_cast<double>(replicated.size())));
  }
  return worst;
}

double MaxShareOverMean(const std::map<std::string, double>& shares) {
  double total = 0, largest = 0;
  for (const auto& [node, share] : shares) {
    total += share;
    largest = std::max(largest, share);
  }
  return largest / (total / static_cast<double>(shares.size()));
}

std::vector<TokenRange> TokenRanges(const Ring& ring, size_t n) {
  std::vector<TokenRange> ranges;
  ranges.reserve(ring.token_count());
  for (size_t i = 0; i < ring.token_count(); ++i) {
    TokenRange range{RangeStart(ring, i), ring.token(i), {}};
    // Every key of range i has the same preference list: the one of its token.
    for (const Replica& replica : ring.PreferenceList(ring.token(i), n)) range.replicas.push_back(replica.node_id);
    ranges.push_back(std::move(range));
  }
  return ranges;
}

std::map<std::string, double> ReplicatedShares(const Ring& ring, size_t replication) {
  std::map<std::string, double> out;
  for (const std::string& node_id : ring.nodes()) out[node_id] = 0;
  for (size_t i = 0; i < ring.token_count(); ++i) {
    // Every key of range i has the same preference list: the one of its token.
    const double share = RangeLength(ring, i) / kRingSize;
    for (const Replica& replica : ring.PreferenceList(ring.token(i), replication)) {
      out[replica.node_id] += share;
    }
  }
  return out;
}

}  // namespace dynkv::ring
