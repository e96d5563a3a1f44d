// Helpers of the gossip tests that run GossipDrivers on the simulator's Env:
// predictable addresses and a small in-test network between drivers.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gossip/gossip_driver.h"
#include "peer.pb.h"
#include "sim/sim_env.h"

namespace dynkv::gossip::sim_test {

constexpr int64_t kIntervalMs = 100;

inline std::string PeerAddressOf(const std::string& id) { return id + ".test:7000"; }

inline sim::SimEnvOptions EnvOptions(const std::string& id) {
  sim::SimEnvOptions options;
  options.node_id = id;
  options.peer_address = PeerAddressOf(id);
  return options;
}

// Delivers each call to the driver listening at its address after 1 ms, and
// its response after another 1 ms. A crashed address refuses; a silent one
// swallows the request. Every request sent is recorded.
class Network final : public sim::PeerRouter {
 public:
  using Handler = std::function<bool(const peer::PeerRequest&, GossipDriver::Reply&)>;
  struct Sent {
    std::string from;
    std::string to;
    peer::PeerRequest request;
  };

  explicit Network(sim::SimLoop& loop) : loop_(loop) {}

  void Listen(const std::string& address, Handler handler) { handlers_[address] = std::move(handler); }

  void Route(const std::string& from, const std::string& to, peer::PeerRequest request,
             std::function<void(peer::PeerResponse)> reply, std::function<void()> refused) override {
    sent.push_back({from, to, request});
    if (silent.count(to) > 0) return;
    loop_.After(1, [this, to, request = std::move(request), reply = std::move(reply),
                    refused = std::move(refused)]() mutable {
      auto it = handlers_.find(to);
      if (crashed.count(to) > 0 || it == handlers_.end()) return loop_.After(1, std::move(refused));
      GossipDriver::Reply back = [this, reply](peer::PeerResponse response) {
        loop_.After(1, [reply, response = std::move(response)] { reply(response); });
      };
      if (!it->second(request, back)) {
        peer::PeerResponse unknown;
        unknown.mutable_error()->set_code(peer::PEER_INVALID_ARGUMENT);
        back(unknown);
      }
    });
  }

  size_t Count(const std::string& from, peer::PeerRequest::OpCase op) const {
    size_t n = 0;
    for (const Sent& s : sent) n += (s.from == from && s.request.op_case() == op) ? 1 : 0;
    return n;
  }

  std::set<std::string> crashed;
  std::set<std::string> silent;
  std::vector<Sent> sent;

 private:
  sim::SimLoop& loop_;
  std::map<std::string, Handler> handlers_;
};

}  // namespace dynkv::gossip::sim_test
