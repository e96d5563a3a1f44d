// api::ClientService's administration requests on the simulator's Env: a
// real coordinator over one node's LevelDB replica, and a fake ClusterAdmin
// that records what it was asked and answers what the test sets.
#include "api/client_service.h"

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "service_fixture.h"

namespace dynkv::api {
namespace {

namespace pb = dynkv::client;

using test::Fixture;
using test::Options;

pb::Request TransfersRequest(uint64_t id) {
  pb::Request request;
  request.set_id(id);
  request.mutable_transfers();
  return request;
}

TEST_CASE("transfers answers the admin's TransfersResponse with the request's id") {
  Fixture f;
  f.service.SetClusterAdmin(&f.admin);
  f.admin.transfers.set_node_id("n1");
  f.admin.transfers.set_status("leaving");
  f.admin.transfers.set_ring_version(0xfedcba9876543210ull);
  f.admin.transfers.set_change("leave n1");
  pb::Transfer* transfer = f.admin.transfers.add_transfers();
  transfer->set_range_start(0x10);
  transfer->set_range_end(0xffffffffffffff00ull);
  transfer->set_from_node("n1");
  transfer->set_to_node("n2");
  transfer->set_direction("out");
  transfer->set_state("running");
  transfer->set_keys(7);
  transfer->set_bytes(4096);
  f.admin.transfers.set_ranges_total(1);
  f.admin.transfers.set_keys(7);
  f.admin.transfers.set_bytes(4096);

  const pb::Response response = f.Call(TransfersRequest(42));

  CHECK(response.id() == 42);
  REQUIRE(response.has_transfers());
  CHECK(response.transfers().SerializeAsString() == f.admin.transfers.SerializeAsString());
  CHECK(f.admin.transfers_filled == 1);
  CHECK(f.Stat("requests.transfers") == 1);
  CHECK(f.service.pending() == 0);
}

TEST_CASE("transfers on a still ring is a success with no transfers") {
  Fixture f;
  f.service.SetClusterAdmin(&f.admin);
  f.admin.transfers.set_node_id("n1");
  f.admin.transfers.set_status("normal");

  const pb::Response response = f.Call(TransfersRequest(3));

  REQUIRE(response.has_transfers());
  CHECK(response.transfers().status() == "normal");
  CHECK(response.transfers().change().empty());
  CHECK(response.transfers().transfers_size() == 0);
}

TEST_CASE("without a cluster admin, transfers and the other admin requests are UNAVAILABLE") {
  Fixture f;
  pb::Request members;
  members.set_id(2);
  members.mutable_members();
  pb::Request leave;
  leave.set_id(3);
  leave.mutable_leave();
  for (const pb::Request& request : {TransfersRequest(1), members, leave}) {
    CAPTURE(request.op_case());
    const pb::Response response = f.Call(request);
    CHECK(response.id() == request.id());
    REQUIRE(response.has_error());
    CHECK(response.error().code() == pb::UNAVAILABLE);
    CHECK(response.error().message() == "this node has no membership");
  }
  CHECK(f.admin.transfers_filled == 0);
  CHECK(f.admin.leaves == 0);
}

TEST_CASE("transfers is answered on a node that sheds data requests") {
  // As members and ring: an operator can look at an overloaded node.
  ServiceOptions options = Options();
  options.max_pending_requests = 0;
  Fixture f(options);
  f.service.SetClusterAdmin(&f.admin);
  f.admin.transfers.set_node_id("n1");
  pb::Request get;
  get.set_id(5);
  get.mutable_get()->set_key("k");
  const pb::Response shed = f.Call(get);
  REQUIRE(shed.has_error());
  CHECK(shed.error().code() == pb::OVERLOADED);

  const pb::Response response = f.Call(TransfersRequest(6));
  REQUIRE(response.has_transfers());
  CHECK(response.transfers().node_id() == "n1");
}

TEST_CASE("members carries the replacing flag from the admin") {
  Fixture f;
  f.service.SetClusterAdmin(&f.admin);
  pb::Request request;
  request.set_id(8);
  request.mutable_members();
  const pb::Response response = f.Call(request);
  REQUIRE(response.has_members());
  REQUIRE(response.members().members_size() == 1);
  CHECK(response.members().members(0).replacing());
}

TEST_CASE("leave replies before it asks the admin to leave") {
  Fixture f;
  f.service.SetClusterAdmin(&f.admin);
  pb::Request request;
  request.set_id(4);
  request.mutable_leave();
  const pb::Response response = f.Call(request);
  CHECK(response.has_leave());
  CHECK(f.admin.leaves == 1);
  CHECK(f.admin.leave_after_replies == 1);
}

TEST_CASE("remove_node passes the admin's refusal to the client") {
  Fixture f;
  f.service.SetClusterAdmin(&f.admin);
  f.admin.remove_status = Status::InvalidArgument("n2 is up");
  pb::Request request;
  request.set_id(9);
  request.mutable_remove_node()->set_node_id("n2");
  const pb::Response response = f.Call(request);
  REQUIRE(response.has_error());
  CHECK(response.error().code() == pb::INVALID_ARGUMENT);
  CHECK(response.error().message() == "n2 is up");
  CHECK(f.admin.removed == std::vector<std::string>{"n2"});
}

}  // namespace
}  // namespace dynkv::api
