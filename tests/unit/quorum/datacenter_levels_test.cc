// Per-datacenter levels: how local_quorum and each_quorum cut a key's list
// into datacenters, and when their quorum groups are met.
#include "quorum/datacenter_levels.h"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "common/object.h"
#include "ring/ring.h"

namespace dynkv::quorum {
namespace {

// e1..e3 in east and w1..w2 in west, 3 and 2 replicas per key: every list
// holds all five.
ring::Ring TwoDatacenters() {
  ring::TokenMap tokens;
  ring::Topology topology;
  const std::vector<std::pair<std::string, std::string>> nodes = {
      {"e1", "east"}, {"w1", "west"}, {"e2", "east"}, {"w2", "west"}, {"e3", "east"}};
  uint64_t token = 100;
  for (const auto& [id, dc] : nodes) {
    tokens[id] = {token};
    token += 100;
    topology.locations[id] = ring::Location{dc, "r-" + id};
  }
  topology.datacenters = {{"east", 3}, {"west", 2}};
  return ring::Ring(tokens, topology);
}

std::vector<ring::Replica> List(const ring::Ring& ring, const std::set<std::string>& down = {}) {
  auto is_up = [&down](const std::string& id) { return down.count(id) == 0; };
  return WithUncoveredPrimaries(ring.PreferenceList(50, 0, is_up, ring::Quorum::kSloppy),
                                ring.PreferenceList(50, 0, is_up, ring::Quorum::kStrict));
}

std::set<std::string> Nodes(const std::vector<ReadTarget>& targets) {
  std::set<std::string> out;
  for (const ReadTarget& t : targets) out.insert(t.node_id);
  return out;
}

WriteOptions Sloppy() { return WriteOptions{0, 0, true, true}; }

}  // namespace

TEST_CASE("local_quorum reads ask the local datacenter only and wait for its quorum") {
  const ring::Ring ring = TwoDatacenters();
  auto plan = PlanDatacenterRead(List(ring), ring, kLocalQuorumLevel, "west");
  REQUIRE(plan.ok());
  CHECK(Nodes(plan->targets) == std::set<std::string>{"w1", "w2"});
  CHECK(plan->group_required == std::vector<uint32_t>{2});
  ReadTally tally(*plan);
  tally.OnReply("w1", Object{});
  CHECK(tally.state() == TallyState::kWaiting);
  tally.OnReply("w2", Object{});
  CHECK(tally.state() == TallyState::kSucceeded);
  // A node of a datacenter that keeps no replica cannot serve it.
  auto elsewhere = PlanDatacenterRead(List(ring), ring, kLocalQuorumLevel, "north");
  REQUIRE_FALSE(elsewhere.ok());
  CHECK(elsewhere.status().code() == Code::kInvalidArgument);
}

TEST_CASE("each_quorum reads need a quorum in every datacenter, whatever the others answer") {
  const ring::Ring ring = TwoDatacenters();
  auto plan = PlanDatacenterRead(List(ring), ring, kEachQuorumLevel, "east");
  REQUIRE(plan.ok());
  CHECK(plan->targets.size() == 5);
  ReadTally tally(*plan);
  for (const char* id : {"e1", "e2", "e3"}) tally.OnReply(id, Object{});
  CHECK(tally.state() == TallyState::kWaiting);  // all of east, none of west
  tally.OnReply("w1", Object{});
  CHECK(tally.state() == TallyState::kWaiting);
  tally.OnError("w2", Status::Unavailable("unreachable"));
  REQUIRE(tally.state() == TallyState::kFailed);
  CHECK(tally.status().message().find("in west") != std::string::npos);
  // With west down the plan itself says so.
  auto west_down = PlanDatacenterRead(List(ring, {"w1", "w2"}), ring, kEachQuorumLevel, "east");
  REQUIRE_FALSE(west_down.ok());
  CHECK(west_down.status().code() == Code::kUnavailable);
  CHECK(west_down.status().message().find("each_quorum in west") != std::string::npos);
}

TEST_CASE("local_quorum writes go to every replica, count only the local ones, and a local one mints") {
  const ring::Ring ring = TwoDatacenters();
  auto plan = PlanDatacenterWrite(List(ring), ring, kLocalQuorumLevel, "west", Sloppy());
  REQUIRE(plan.ok());
  REQUIRE(plan->targets.size() == 5);
  CHECK(plan->targets.front().node_id[0] == 'w');
  for (const WriteTarget& t : plan->targets) CHECK(t.counts_towards_w == (t.node_id[0] == 'w'));
  WriteTally tally(*plan);
  for (const char* id : {"e1", "e2", "e3", "w1"}) tally.OnAck(id);
  CHECK(tally.state() == TallyState::kWaiting);
  tally.OnAck("w2");
  CHECK(tally.state() == TallyState::kSucceeded);
  // East unreachable changes nothing for a west write.
  auto east_down = PlanDatacenterWrite(List(ring, {"e1", "e2", "e3"}), ring, kLocalQuorumLevel, "west", Sloppy());
  REQUIRE(east_down.ok());
  WriteTally alone(*east_down);
  alone.OnAck("w1");
  alone.OnAck("w2");
  CHECK(alone.state() == TallyState::kSucceeded);
}

TEST_CASE("each_quorum writes fail as soon as one datacenter cannot reach its quorum") {
  const ring::Ring ring = TwoDatacenters();
  auto plan = PlanDatacenterWrite(List(ring), ring, kEachQuorumLevel, "east", Sloppy());
  REQUIRE(plan.ok());
  CHECK(plan->group_required == std::vector<uint32_t>{2, 2});
  CHECK(plan->targets.front().node_id[0] == 'e');
  WriteTally tally(*plan);
  tally.OnAck("e1");
  tally.OnAck("e2");
  tally.OnAck("w1");
  CHECK(tally.state() == TallyState::kWaiting);
  tally.OnError("w2", Status::Unavailable("unreachable"));
  REQUIRE(tally.state() == TallyState::kFailed);
  CHECK(tally.status().message().find("W=2 in west cannot be reached") != std::string::npos);
  WriteTally deadline(*plan);
  deadline.OnAck("w1");
  deadline.OnAck("w2");
  deadline.OnDeadline(5000);
  CHECK(deadline.status().message().rfind("0 of 2 required replicas in east acknowledged", 0) == 0);
}

}  // namespace dynkv::quorum
