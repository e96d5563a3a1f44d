#include "peer_test_util.h"

#include <doctest/doctest.h>

namespace dynkv::net {

void ScriptedHandler::Handle(const peer::PeerRequest& request, Reply reply) {
  seen.push_back(request);
  if (on_request) return on_request(request, std::move(reply));
  reply(Echo(request));
}

void RecordingEvents::OnPeerReachable(const std::string& address) {
  reachable.push_back(address);
  if (on_reachable) on_reachable(address);
}

void RecordingEvents::OnPeerUnreachable(const std::string& address, const Status& why) {
  unreachable.emplace_back(address, why);
  if (on_unreachable) on_unreachable(address, why);
}

peer::PeerRequest Syn(const std::string& tag) {
  peer::PeerRequest request;
  request.mutable_gossip_syn()->set_cluster_name(tag);
  return request;
}

peer::PeerResponse Echo(const peer::PeerRequest& request) {
  peer::PeerResponse response;
  response.mutable_gossip_ack()->add_requests()->set_node_id(request.gossip_syn().cluster_name());
  return response;
}

std::string Tag(const peer::PeerResponse& response) {
  if (response.gossip_ack().requests_size() != 1) return "<no tag>";
  return response.gossip_ack().requests(0).node_id();
}

uint16_t FreePort() {
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto listener = Listener::Listen(&loop, {"127.0.0.1", 0}, [](uv_tcp_t*) {});
  REQUIRE(listener.ok());
  uint16_t port = (*listener)->port();
  listener->reset();
  uv_run(&loop, UV_RUN_DEFAULT);
  REQUIRE(uv_loop_close(&loop) == 0);
  return port;
}

std::string Local(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

}  // namespace dynkv::net
