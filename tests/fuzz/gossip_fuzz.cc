// Fuzz target: the gossip state merge (gossip/gossip.h), a fresh Gossiper
// per input fed a sequence of messages from its peers. The input is frames
// (fuzz_frames.h); each frame's first byte chooses the message and who
// sends it, the rest is its protobuf:
//   op = byte % 8: 0 GossipSyn, 1 GossipAck (reply to a SYN this node
//   sent), 2 GossipAck2, 3 LeaveNotice, 4 a round (Tick), 5 a peer
//   unreachable, 6 RemoveNode, 7 Leave; sender = kPeers[byte / 8 % 4].
// Each message goes through the wire decoder (FromProto) as the node's
// gossip driver does. Checked after every step: this node is still first
// and itself in its member list, every member has an id and a generation,
// and every message it would send decodes on the other side (ToProto, then
// FromProto): a node never gossips what its peers refuse.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "fuzz_frames.h"
#include "gossip/gossip.h"
#include "peer.pb.h"

using namespace dynkv;
using namespace dynkv::gossip;

namespace {

constexpr const char* kPeers[] = {"n2", "n3", "n1", "n4"};
constexpr const char* kPeerAddresses[] = {"127.0.0.1:7002", "127.0.0.1:7003", "127.0.0.1:7001", "127.0.0.1:7004"};
constexpr int64_t kStepMs = 70;
constexpr size_t kMaxMessages = 64;

std::unique_ptr<Gossiper> MakeGossiper() {
  LocalNode self;
  self.node_id = "n1";
  self.generation = 1000;
  self.client_address = "127.0.0.1:8001";
  self.peer_address = "127.0.0.1:7001";
  self.tokens = {1, 1ull << 62, 1ull << 63};
  self.datacenter = "dc1";
  self.rack = "rack1";
  self.status = NodeStatus::kNormal;
  GossipOptions options;
  options.seeds = {"127.0.0.1:7002"};
  auto gossiper = Gossiper::Create(self, options, 1);
  FUZZ_CHECK(gossiper.ok());
  return std::move(*gossiper);
}

template <typename Message>
bool Parse(std::string_view bytes, Message* out) {
  return out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

// What this node sends must decode on the other side.
template <typename Wire, typename Value>
void CheckSendable(const Value& value) {
  Wire wire;
  ToProto(value, &wire);
  FUZZ_CHECK(FromProto(wire).ok());
}

void CheckMembers(const Gossiper& gossiper) {
  const std::vector<Member> members = gossiper.Members();
  FUZZ_CHECK(!members.empty());
  FUZZ_CHECK(members[0].self);
  FUZZ_CHECK(members[0].state.node_id == "n1");
  for (const Member& member : members) {
    FUZZ_CHECK(!member.state.node_id.empty());
    FUZZ_CHECK(member.state.generation > 0);
    FUZZ_CHECK(gossiper.Find(member.state.node_id) != nullptr);
  }
  CheckSendable<peer::GossipSyn>(gossiper.MakeSyn());
  CheckSendable<peer::VersionedNodeState>(gossiper.self());
}

void Step(Gossiper& gossiper, uint8_t choice, std::string_view body, int64_t now_ms) {
  const std::string from = kPeers[choice / 8 % 4];
  const std::string address = kPeerAddresses[choice / 8 % 4];
  switch (choice % 8) {
    case 0: {
      peer::GossipSyn wire;
      if (!Parse(body, &wire)) return;
      auto syn = FromProto(wire);
      if (!syn.ok()) return;
      auto ack = gossiper.OnSyn(from, *syn, now_ms);
      if (ack.ok()) CheckSendable<peer::GossipAck>(*ack);
      return;
    }
    case 1: {
      peer::GossipAck wire;
      if (!Parse(body, &wire)) return;
      auto ack = FromProto(wire);
      if (!ack.ok()) return;
      if (auto ack2 = gossiper.OnAck(address, *ack, now_ms)) CheckSendable<peer::GossipAck2>(*ack2);
      return;
    }
    case 2: {
      peer::GossipAck2 wire;
      if (!Parse(body, &wire)) return;
      auto ack2 = FromProto(wire);
      if (ack2.ok()) gossiper.OnAck2(from, *ack2, now_ms);
      return;
    }
    case 3: {
      peer::LeaveNotice wire;
      if (!Parse(body, &wire)) return;
      auto notice = FromProto(wire);
      if (notice.ok()) (void)gossiper.OnLeaveNotice(from, *notice, now_ms);
      return;
    }
    case 4:
      for (const OutgoingSyn& out : gossiper.Tick(now_ms)) CheckSendable<peer::GossipSyn>(out.syn);
      return;
    case 5:
      gossiper.OnPeerUnreachable(address, now_ms);
      return;
    case 6:
      (void)gossiper.RemoveNode(std::string(body));
      gossiper.FinishRemoval(std::string(body));
      return;
    case 7:
      for (const OutgoingLeave& out : gossiper.Leave()) CheckSendable<peer::LeaveNotice>(out.notice);
      return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<Gossiper> gossiper = MakeGossiper();
  int64_t now_ms = 1'000'000;
  fuzz::ForEachFrame(data, size, 1 << 20, kMaxMessages, [&](std::string_view frame) {
    if (frame.empty()) return true;
    now_ms += kStepMs;
    Step(*gossiper, static_cast<uint8_t>(frame[0]), frame.substr(1), now_ms);
    CheckMembers(*gossiper);
    return true;
  });
  (void)gossiper->Stats();
  return 0;
}
