// A one-node ClientService on the simulator's Env for the api tests: a real
// coordinator over one node's LevelDB replica, and a fake ClusterAdmin that
// records what it was asked and answers what the test sets.
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../quorum/quorum_sim_util.h"
#include "../sim_fixture.h"
#include "api/client_service.h"
#include "sim/sim_env.h"

namespace dynkv::api::test {

namespace pb = dynkv::client;

// No peer is ever called: administration requests stay on the node.
class NoPeers final : public sim::PeerRouter {
 public:
  void Route(const std::string&, const std::string&, peer::PeerRequest,
             std::function<void(peer::PeerResponse)>, std::function<void()> refused) override {
    refused();
  }
};

class OneNodeCluster final : public quorum::ClusterView {
 public:
  std::shared_ptr<const ring::Ring> CurrentRing() const override { return ring_; }
  bool IsUp(const std::string&) const override { return true; }
  std::string PeerAddress(const std::string& node_id) const override {
    return sim_fixture::AddressOf(node_id);
  }
  bool Ready() const override { return true; }

 private:
  std::shared_ptr<const ring::Ring> ring_ = std::make_shared<const ring::Ring>(ring::TokenMap{{"n1", {1}}});
};

class FakeAdmin final : public ClusterAdmin {
 public:
  void FillMembers(pb::MembersResponse* out) const override {
    out->set_node_id("n1");
    pb::Member* member = out->add_members();
    member->set_node_id("n1");
    member->set_status("joining");
    member->set_replacing(true);
  }
  void FillRing(pb::RingResponse* out) const override { out->set_node_id("n1"); }
  void FillPreflist(const std::string& key, pb::PreflistResponse* out) const override {
    out->set_node_id("n1");
    out->set_key(key);
  }
  Status RemoveNode(const std::string& node_id) override {
    removed.push_back(node_id);
    return remove_status;
  }
  void Leave() override {
    // The reply comes first: stopping closes the connection after its writes.
    leave_after_replies = replies != nullptr ? static_cast<int>(replies->size()) : -1;
    ++leaves;
  }
  void FillTransfers(pb::TransfersResponse* out) const override {
    ++transfers_filled;
    *out = transfers;
  }

  pb::TransfersResponse transfers;
  Status remove_status;
  std::vector<std::string> removed;
  int leaves = 0;
  int leave_after_replies = -1;
  mutable int transfers_filled = 0;
  const std::vector<pb::Response>* replies = nullptr;
};

inline quorum::CoordinatorOptions CoordinatorOptionsForOneNode() {
  quorum::CoordinatorOptions options;
  options.self_id = "n1";
  options.n = 1;
  options.default_r = 1;
  options.default_w = 1;
  return options;
}

inline ServiceOptions Options() {
  ServiceOptions options;
  options.node_id = "n1";
  options.version = "test";
  return options;
}

class Fixture {
 public:
  explicit Fixture(ServiceOptions options = Options())
      : node_(router_, /*seed=*/5, sim_fixture::NodeEnvOptions()),
        coordinator_(node_.env, node_.replica, cluster_, hints_, CoordinatorOptionsForOneNode()),
        service(coordinator_, *node_.engine, node_.env, std::move(options)) {
    admin.replies = &replies;
  }

  // Handles `request` and returns its one reply (admin requests answer at once).
  pb::Response Call(pb::Request request) {
    const size_t before = replies.size();
    service.Handle(request, [this](pb::Response response) { replies.push_back(std::move(response)); });
    REQUIRE(replies.size() == before + 1);
    return replies.back();
  }

  double Stat(const std::string& name) {
    pb::Request request;
    request.set_id(99);
    request.mutable_stats();
    const pb::Response response = Call(request);
    auto it = response.stats().values().find(name);
    return it == response.stats().values().end() ? 0 : it->second;
  }

 private:
  NoPeers router_;
  OneNodeCluster cluster_;
  quorum::sim_util::RecordingHints hints_;

 public:
  sim_fixture::ReplicaNode node_;

 private:
  quorum::Coordinator coordinator_;

 public:
  ClientService service;
  FakeAdmin admin;
  std::vector<pb::Response> replies;
};

}  // namespace dynkv::api::test
