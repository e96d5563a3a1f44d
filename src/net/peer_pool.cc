#include <random>
#include <utility>

#include "net/peer_client.h"
#include "net/peer_transport.h"

namespace dynkv::net {
namespace {

PeerPool::UnitRandom SeededUnitRandom() {
  auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
  return [engine] { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
}

}  // namespace

PeerPool::PeerPool(uv_loop_t* loop, PeerPoolOptions options, const Clock& clock, UnitRandom random,
                   PeerEvents* events)
    : loop_(loop),
      options_(std::move(options)),
      clock_(clock),
      random_(random ? std::move(random) : SeededUnitRandom()),
      events_(events) {}

PeerPool::~PeerPool() { Close(); }

void PeerPool::Call(const std::string& address, peer::PeerRequest request, Callback done, uint32_t timeout_ms,
                    CallMode mode) {
  if (closed_) return done(Status::Unavailable("the peer pool is closed; no call to " + address));
  auto it = peers_.find(address);
  if (it == peers_.end()) {
    Result<HostPort> host_port = ParseHostPort(address);
    if (!host_port.ok()) return done(host_port.status().WithContext("peer address"));
    auto client = std::make_unique<PeerClient>(loop_, address, std::move(*host_port), options_, clock_,
                                               random_, events_, stats_);
    it = peers_.emplace(address, std::move(client)).first;
  }
  if (request.from_node().empty()) request.set_from_node(options_.local_node_id);
  it->second->Call(std::move(request), std::move(done), timeout_ms, mode);
}

void PeerPool::Forget(const std::string& address) {
  // Out of the map before it closes: its callbacks may call back in.
  auto forgotten = peers_.extract(address);
}

// The clients leave the map first, so the callbacks they run may call the
// pool (and fail at once), Forget, or even destroy the pool.
void PeerPool::Close() {
  if (closed_) return;
  closed_ = true;
  std::unordered_map<std::string, std::unique_ptr<PeerClient>> closing;
  closing.swap(peers_);
  closing.clear();
}

size_t PeerPool::in_flight() const {
  size_t total = 0;
  for (const auto& [address, client] : peers_) total += client->in_flight();
  return total;
}

size_t PeerPool::buffered_bytes(const std::string& address) const {
  auto it = peers_.find(address);
  return it == peers_.end() ? 0 : it->second->buffered_bytes();
}

}  // namespace dynkv::net
