#include "quorum/latency.h"

#include <algorithm>
#include <cmath>

namespace dynkv::quorum {

void PeerLatency::Sent(const std::string& node, uint64_t call, int64_t now_ms) {
  peers_[node].outstanding[call] = now_ms;
}

void PeerLatency::Answered(const std::string& node, uint64_t call, int64_t now_ms, bool ok) {
  auto it = peers_.find(node);
  if (it == peers_.end()) return;
  Peer& peer = it->second;
  auto sent = peer.outstanding.find(call);
  if (sent == peer.outstanding.end()) return;
  const double rtt = static_cast<double>(std::max<int64_t>(0, now_ms - sent->second));
  peer.outstanding.erase(sent);
  if (!ok) return;
  if (!peer.measured) {
    peer.measured = true;
    peer.srtt = rtt;
    peer.rttvar = rtt / 2;
    return;
  }
  peer.rttvar = 0.75 * peer.rttvar + 0.25 * std::fabs(peer.srtt - rtt);
  peer.srtt = 0.875 * peer.srtt + 0.125 * rtt;
}

int64_t PeerLatency::FailoverAfterMs(const std::string& node) const {
  auto it = peers_.find(node);
  if (it == peers_.end() || !it->second.measured) return options_.failover_max_ms;
  const auto bound = static_cast<int64_t>(std::ceil(it->second.srtt + 4 * it->second.rttvar));
  return std::clamp(bound, options_.failover_min_ms, options_.failover_max_ms);
}

int64_t PeerLatency::ExpectedMs(const std::string& node, int64_t now_ms) const {
  auto it = peers_.find(node);
  if (it == peers_.end()) return 0;
  const Peer& peer = it->second;
  int64_t expected = peer.measured ? static_cast<int64_t>(std::ceil(peer.srtt)) : 0;
  if (!peer.outstanding.empty()) expected = std::max(expected, now_ms - peer.outstanding.begin()->second);
  return expected;
}

size_t PeerLatency::Outstanding(const std::string& node) const {
  auto it = peers_.find(node);
  return it == peers_.end() ? 0 : it->second.outstanding.size();
}

double PeerLatency::SmoothedMs(const std::string& node) const {
  auto it = peers_.find(node);
  return it == peers_.end() || !it->second.measured ? -1 : it->second.srtt;
}

std::map<std::string, double> PeerLatency::Smoothed() const {
  std::map<std::string, double> out;
  for (const auto& [node, peer] : peers_) {
    if (peer.measured) out[node] = peer.srtt;
  }
  return out;
}

}  // namespace dynkv::quorum
