// Shared pieces of the peer transport tests: a loop that must close
// cleanly, a scriptable handler, recorded events, and message builders.
#pragma once

#include <uv.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "net/peer_transport.h"
#include "../net/test_loop.h"

namespace dynkv::net {

// Answers each request with Echo() unless `on_request` is set.
struct ScriptedHandler : PeerRequestHandler {
  std::function<void(const peer::PeerRequest&, Reply)> on_request;
  std::vector<peer::PeerRequest> seen;

  void Handle(const peer::PeerRequest& request, Reply reply) override;
};

struct RecordingEvents : PeerEvents {
  std::vector<std::string> reachable;
  std::vector<std::pair<std::string, Status>> unreachable;
  std::function<void(const std::string&)> on_reachable;
  std::function<void(const std::string&, const Status&)> on_unreachable;

  void OnPeerReachable(const std::string& address) override;
  void OnPeerUnreachable(const std::string& address, const Status& why) override;
};

// A GossipSyn carrying `tag` as its cluster name; Echo answers it with a
// GossipAck whose one digest names the tag; Tag reads it back.
peer::PeerRequest Syn(const std::string& tag);
peer::PeerResponse Echo(const peer::PeerRequest& request);
std::string Tag(const peer::PeerResponse& response);

// A port on 127.0.0.1 that was free a moment ago and that nothing listens on.
uint16_t FreePort();
std::string Local(uint16_t port);  // "127.0.0.1:PORT"

}  // namespace dynkv::net
