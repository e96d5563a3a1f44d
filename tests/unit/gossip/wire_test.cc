// Conversion to and from proto/peer.proto: round trips, and malformed input
// rejected with INVALID_ARGUMENT, never a crash.
#include <doctest/doctest.h>
#include <google/protobuf/stubs/logging.h>

#include <cstdlib>
#include <random>

#include "gossip/gossip.h"
#include "gossip_test_util.h"
#include "peer.pb.h"

namespace dynkv::gossip {
namespace {

NodeState FullState() {
  auto node = test::MakeNode("node-a", 42);
  node->SetStatus(NodeStatus::kLeaving);
  node->SetTokens({0, 1, ~uint64_t{0}, 1ull << 63});
  auto other = test::MakeNode("node-b", 7);
  test::Exchange(*other, *node, 1);
  other->Tick(2);
  test::Exchange(*other, *node, 2);                         // a newer heartbeat: node-b is up
  node->OnPeerUnreachable(test::PeerAddress("node-b"), 3);  // a suspect
  REQUIRE(node->self().suspects.size() == 1);
  NodeState state = node->self();
  state.suspects[0].incarnation = 5;             // node-b had refuted an earlier suspicion
  state.alive_version = state.MaxVersion() + 1;  // and node-a one of itself
  return state;
}

template <typename T, typename Proto>
T RoundTrip(const T& value) {
  Proto proto;
  ToProto(value, &proto);
  Proto parsed;
  REQUIRE(parsed.ParseFromString(proto.SerializeAsString()));
  Result<T> back = FromProto(parsed);
  REQUIRE(back.ok());
  return std::move(back).value();
}

TEST_CASE("states, whole and as deltas, round-trip through the wire form") {
  const NodeState full = FullState();
  CHECK(full.IsComplete());
  CHECK(full.replication_digest == 0x5eed0000 + 42);  // carried with the location
  CHECK(RoundTrip<NodeState, peer::VersionedNodeState>(full) == full);
  for (uint64_t above = 0; above <= full.MaxVersion(); ++above) {
    const NodeState delta = full.DeltaAbove(above);
    CHECK(RoundTrip<NodeState, peer::VersionedNodeState>(delta) == delta);
  }
  NodeState left = full;
  left.status = NodeStatus::kLeft;
  left.status_version = kRemovedVersion;
  CHECK(RoundTrip<NodeState, peer::VersionedNodeState>(left) == left);
}

TEST_CASE("SYN, ACK, ACK2 and leave notices round-trip") {
  const NodeState full = FullState();
  Syn syn{"prod", {{"node-a", 42, 9}, {"node-b", 7, 1ull << 62}}};
  Syn syn_back = RoundTrip<Syn, peer::GossipSyn>(syn);
  CHECK(syn_back.cluster_name == "prod");
  CHECK(syn_back.digests == syn.digests);
  CHECK(!syn_back.partial);
  CHECK(syn_back.table_hash == 0);
  syn.partial = true;
  syn.table_hash = 0xfedcba9876543210ull;
  syn_back = RoundTrip<Syn, peer::GossipSyn>(syn);
  CHECK(syn_back.partial);
  CHECK(syn_back.table_hash == syn.table_hash);

  Ack ack{{{"node-c", 3, 0}}, {full, full.DeltaAbove(4)}};
  Ack ack_back = RoundTrip<Ack, peer::GossipAck>(ack);
  CHECK(ack_back.requests == ack.requests);
  CHECK(ack_back.states == ack.states);
  CHECK(!ack_back.table_differs);
  ack.table_differs = true;
  CHECK(RoundTrip<Ack, peer::GossipAck>(ack).table_differs);

  Ack2 ack2{{full}};
  CHECK(RoundTrip<Ack2, peer::GossipAck2>(ack2).states == ack2.states);

  LeaveNotice notice{full};
  CHECK(RoundTrip<LeaveNotice, peer::LeaveNotice>(notice).state == full);
}

TEST_CASE("HOST:PORT checks") {
  for (const char* ok : {"127.0.0.1:7101", "[::1]:7101", "localhost:1", "db-3.example.com:65535"}) {
    CAPTURE(ok);
    CHECK(IsHostPort(ok));
  }
  for (const char* bad :
       {"", "host", "host:", ":80", "host:0", "host:65536", "host:080", "host:80x", "a:b:80", "::1:80",
        "[::1]", "[]:80", "[::1:80", "host :80", "host:-1", "host:99999999999"}) {
    CAPTURE(bad);
    CHECK_FALSE(IsHostPort(bad));
  }
}

TEST_CASE("malformed states are rejected") {
  peer::VersionedNodeState good;
  ToProto(FullState(), &good);
  REQUIRE(FromProto(good).ok());

  auto rejected = [](const peer::VersionedNodeState& proto) {
    Result<NodeState> r = FromProto(proto);
    return !r.ok() && r.status().code() == Code::kInvalidArgument;
  };
  peer::VersionedNodeState s = good;
  s.clear_node_id();
  CHECK(rejected(s));
  s = good;
  s.set_node_id(std::string(300, 'x'));
  CHECK(rejected(s));
  s = good;
  s.set_generation(0);
  CHECK(rejected(s));
  s = good;
  s.set_status(peer::NODE_STATUS_UNKNOWN);
  CHECK(rejected(s));
  s = good;
  s.set_status(static_cast<peer::NodeStatus>(99));
  CHECK(rejected(s));
  s = good;
  s.set_peer_address("not an address");
  CHECK(rejected(s));
  s = good;
  s.set_client_address("host:0");
  CHECK(rejected(s));
  s = good;
  for (int i = 0; i < (1 << 16) + 1; ++i) s.add_tokens(i);
  CHECK(rejected(s));
  s = good;
  s.set_rack(std::string(1000, 'r'));
  CHECK(rejected(s));
  s = good;
  for (size_t i = 0; i < kMaxSuspects; ++i) *s.add_suspects() = s.suspects(0);
  CHECK(rejected(s));  // one over the limit
  s = good;
  s.mutable_suspects(0)->set_generation(0);
  CHECK(rejected(s));
  s = good;
  s.mutable_suspects(0)->clear_node_id();
  CHECK(rejected(s));

  // Absent groups are not checked: a delta without addresses is fine.
  s = good;
  s.set_addresses_version(0);
  s.set_peer_address("garbage");
  Result<NodeState> delta = FromProto(s);
  REQUIRE(delta.ok());
  CHECK(delta->addresses_version == 0);
  CHECK(delta->peer_address.empty());
}

TEST_CASE("malformed digests and notices are rejected") {
  peer::GossipSyn syn;
  syn.add_digests()->set_node_id("a");  // generation 0
  CHECK(FromProto(syn).status().code() == Code::kInvalidArgument);

  peer::GossipAck ack;
  auto* request = ack.add_requests();
  request->set_generation(3);  // empty node id
  CHECK(FromProto(ack).status().code() == Code::kInvalidArgument);

  peer::GossipAck2 ack2;
  ack2.add_states()->set_node_id("a");  // generation 0
  CHECK(FromProto(ack2).status().code() == Code::kInvalidArgument);

  peer::LeaveNotice notice;
  CHECK(FromProto(notice).status().code() == Code::kInvalidArgument);
}

uint64_t Seed() {
  const char* text = std::getenv("DYNKV_TEST_SEED");
  return text != nullptr ? std::strtoull(text, nullptr, 10) : 20240601;
}

TEST_CASE("random bytes never crash the decoders") {
  const uint64_t seed = Seed();
  INFO("seed " << seed << " (replay with DYNKV_TEST_SEED)");
  std::mt19937_64 random(seed);
  // protobuf logs every string that is not UTF-8; the noise is expected here.
  google::protobuf::LogHandler* previous = google::protobuf::SetLogHandler(nullptr);
  peer::VersionedNodeState template_state;
  ToProto(FullState(), &template_state);
  const std::string valid = template_state.SerializeAsString();
  int decoded = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string bytes = valid;
    // Flip a few bytes of a valid message, or use pure noise.
    if (i % 2 == 0) {
      for (int k = 0; k < 4; ++k) bytes[random() % bytes.size()] = static_cast<char>(random());
    } else {
      bytes.resize(random() % 200);
      for (char& c : bytes) c = static_cast<char>(random());
    }
    peer::GossipAck ack;
    if (ack.ParseFromString(bytes)) decoded += FromProto(ack).ok();
    peer::VersionedNodeState state;
    if (state.ParseFromString(bytes)) decoded += FromProto(state).ok();
  }
  google::protobuf::SetLogHandler(previous);
  MESSAGE("decoded " << decoded << " of 6000 mutated inputs without error");
}

}  // namespace
}  // namespace dynkv::gossip
