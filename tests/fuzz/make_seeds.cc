// fuzz-seeds: writes the seed corpora of the fuzz targets (one folder per
// target under the given directory; tests/fuzz/corpus is the committed
// copy), made with the product's own encoders so every seed is valid and
// the fuzzer starts deep. The config seeds are YAML files kept by hand in
// tests/fuzz/corpus/config.
//
//   build-fuzz/tests/fuzz/fuzz-seeds tests/fuzz/corpus
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "client.pb.h"
#include "common/coding.h"
#include "common/object.h"
#include "gossip/gossip.h"
#include "net/net.h"
#include "peer.pb.h"
#include "quorum/dvv.h"
#include "quorum/object_wire.h"
#include "storage/keys.h"
#include "storage/record.h"

using namespace dynkv;
namespace pb = dynkv::client;

namespace {

std::filesystem::path root;

void Write(const std::string& target, const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(root / target);
  std::ofstream(root / target / name, std::ios::binary) << bytes;
}

template <typename... Messages>
std::string Frames(const Messages&... messages) {
  std::string out;
  (net::AppendFrame(&out, messages), ...);
  return out;
}

Sibling Value(const std::string& actor, uint64_t counter, std::string value, int64_t expires_at_ms = 0) {
  Sibling sibling;
  sibling.dot = Dot{actor, counter};
  sibling.value = std::move(value);
  sibling.write_time_ms = 1'700'000'000'000;
  sibling.expires_at_ms = expires_at_ms;
  return sibling;
}

// Objects as replicas hold them: one value; a tombstone; two concurrent
// siblings; a large compressible value with a TTL.
std::vector<Object> Objects() {
  Object one = dvv::Update(Object{}, VersionVector{}, "n1.0000aaaa", Value("", 0, "hello"));
  Sibling tombstone = Value("", 0, "");
  tombstone.tombstone = true;
  Object deleted = dvv::Update(one, one.vv, "n1.0000aaaa", tombstone);
  Object two = dvv::Sync(one, dvv::Update(Object{}, VersionVector{}, "n2.0000bbbb", Value("", 0, "world")));
  Object big = dvv::Update(Object{}, VersionVector{}, "n3.0000cccc",
                           Value("", 0, std::string(2000, 'x') + "end", 1'800'000'000'000));
  return {one, deleted, two, big};
}

void RecordSeeds(const std::vector<Object>& objects) {
  for (size_t i = 0; i < objects.size(); ++i) {
    std::string record;
    storage::EncodeRecord(objects[i], storage::CompressionOptions{}, &record);
    Write("record", "object" + std::to_string(i), record);
  }
}

void HintSeeds(const std::vector<Object>& objects) {
  for (size_t i = 0; i < objects.size(); ++i) {
    storage::Hint hint{"n2", "key" + std::to_string(i), objects[i], 1'700'000'000'000};
    std::string scratch;
    std::string record;
    storage::EncodeHintRecord(hint, storage::CompressionOptions{}, &scratch, &record, nullptr);
    std::string input;
    PutLengthPrefixed(&input, storage::HintKey(hint.target, hint.key));
    Write("hint", "hint" + std::to_string(i), input + record);
  }
}

void ContextSeeds(const std::vector<Object>& objects) {
  for (size_t i = 0; i < objects.size(); ++i) {
    Write("context", "context" + std::to_string(i), std::string(1, '\0') + dvv::EncodeContext(objects[i].vv));
    peer::StoredObject wire;
    quorum::ToProto(objects[i], &wire);
    Write("context", "object" + std::to_string(i), std::string(1, '\1') + wire.SerializeAsString());
  }
}

gossip::NodeState State(const std::string& id, uint64_t generation, gossip::NodeStatus status) {
  gossip::NodeState state;
  state.node_id = id;
  state.generation = generation;
  state.heartbeat = 7;
  state.status = status;
  state.status_version = 2;
  state.client_address = "127.0.0.1:800" + id.substr(1);
  state.peer_address = "127.0.0.1:700" + id.substr(1);
  state.addresses_version = 1;
  state.tokens = {42, 1ull << 40, 3ull << 61};
  state.tokens_version = 3;
  state.datacenter = "dc1";
  state.rack = "rack1";
  state.location_version = 1;
  return state;
}

// One gossip_fuzz message: its choice byte (op + 8 * sender), then the body.
std::string GossipMessage(uint8_t op, uint8_t sender, const std::string& body) {
  std::string message(1, static_cast<char>(op + 8 * sender));
  message += body;
  std::string frame;
  PutFixed32BE(&frame, static_cast<uint32_t>(message.size()));
  return frame + message;
}

void GossipSeeds() {
  gossip::Syn syn{"dynkv", {{"n2", 2000, 7}, {"n1", 1000, 1}}};
  peer::GossipSyn syn_wire;
  gossip::ToProto(syn, &syn_wire);
  gossip::Ack2 ack2{{State("n2", 2000, gossip::NodeStatus::kNormal), State("n3", 3000, gossip::NodeStatus::kJoining)}};
  peer::GossipAck2 ack2_wire;
  gossip::ToProto(ack2, &ack2_wire);
  gossip::Ack ack{{{"n1", 1000, 0}}, {State("n2", 2000, gossip::NodeStatus::kNormal)}};
  peer::GossipAck ack_wire;
  gossip::ToProto(ack, &ack_wire);
  gossip::LeaveNotice leave{State("n2", 2000, gossip::NodeStatus::kLeft)};
  leave.state.status_version = 9;
  peer::LeaveNotice leave_wire;
  gossip::ToProto(leave, &leave_wire);
  Write("gossip", "syn-ack2", GossipMessage(0, 0, syn_wire.SerializeAsString()) +
                                  GossipMessage(2, 0, ack2_wire.SerializeAsString()) + GossipMessage(4, 0, ""));
  Write("gossip", "tick-ack", GossipMessage(4, 0, "") + GossipMessage(1, 0, ack_wire.SerializeAsString()) +
                                  GossipMessage(4, 0, ""));
  Write("gossip", "leave-remove", GossipMessage(2, 1, ack2_wire.SerializeAsString()) +
                                      GossipMessage(3, 0, leave_wire.SerializeAsString()) + GossipMessage(5, 1, "") +
                                      GossipMessage(6, 1, "n3") + GossipMessage(7, 0, ""));
}

pb::Request Put(uint64_t id, const std::string& key, const std::string& value, const std::string& context = "") {
  pb::Request request;
  request.set_id(id);
  request.mutable_put()->set_key(key);
  request.mutable_put()->set_value(value);
  request.mutable_put()->set_context(context);
  return request;
}

pb::Request Get(uint64_t id, const std::string& key) {
  pb::Request request;
  request.set_id(id);
  request.mutable_get()->set_key(key);
  return request;
}

void ClientSeeds(const std::vector<Object>& objects) {
  pb::Request del;
  del.set_id(4);
  del.mutable_delete_()->set_key("k");
  del.mutable_delete_()->set_context(dvv::EncodeContext(objects[0].vv));
  Write("client", "put-get-delete", Frames(Put(1, "k", "v"), Get(2, "k"), Put(3, "k", "w", dvv::EncodeContext(objects[0].vv)), del));
  pb::Request batch_put;
  batch_put.set_id(5);
  for (const char* key : {"a", "b", "c"}) {
    auto* put = batch_put.mutable_batch_put()->add_puts();
    put->set_key(key);
    put->set_value(std::string("value of ") + key);
    put->set_ttl_s(60);
  }
  pb::Request batch_get;
  batch_get.set_id(6);
  for (const char* key : {"a", "b", "z"}) batch_get.mutable_batch_get()->add_gets()->set_key(key);
  Write("client", "batches", Frames(batch_put, batch_get));
  pb::Request admin[6];
  admin[0].mutable_ping();
  admin[1].mutable_stats();
  admin[2].mutable_members();
  admin[3].mutable_ring();
  admin[4].mutable_transfers();
  admin[5].mutable_repair();
  Write("client", "admin", Frames(admin[0], admin[1], admin[2], admin[3], admin[4], admin[5]));
  pb::Request remove;
  remove.mutable_remove_node()->set_node_id("n9");
  pb::Request quorum = Get(7, "k");
  quorum.mutable_get()->set_r(3);
  Write("client", "refused", Frames(remove, quorum, Put(8, "", "empty key")));
  pb::Request leave;
  leave.mutable_leave();
  Write("client", "leave", Frames(Put(9, "k", "v"), leave));
}

peer::PeerRequest PeerRequest(uint64_t id) {
  peer::PeerRequest request;
  request.set_id(id);
  request.set_from_node("n2");
  return request;
}

void PeerSeeds(const std::vector<Object>& objects) {
  peer::PeerRequest syn = PeerRequest(1);
  gossip::ToProto(gossip::Syn{"dynkv", {{"n2", 2000, 7}}}, syn.mutable_gossip_syn());
  peer::PeerRequest ack2 = PeerRequest(2);
  gossip::ToProto(gossip::Ack2{{State("n2", 2000, gossip::NodeStatus::kNormal)}}, ack2.mutable_gossip_ack2());
  peer::PeerRequest leave = PeerRequest(3);
  gossip::ToProto(gossip::LeaveNotice{State("n2", 2000, gossip::NodeStatus::kLeft)}, leave.mutable_leave());
  Write("peer", "gossip", Frames(syn, ack2, leave));

  peer::PeerRequest mint = PeerRequest(4);
  mint.mutable_mint_write()->set_key("k");
  mint.mutable_mint_write()->set_value("v");
  peer::PeerRequest sync = PeerRequest(5);
  sync.mutable_replica_sync()->set_key("k");
  quorum::ToProto(objects[2], sync.mutable_replica_sync()->mutable_object());
  peer::PeerRequest read = PeerRequest(6);
  read.mutable_replica_read()->set_key("k");
  Write("peer", "replication", Frames(mint, sync, read));

  peer::PeerRequest hinted = sync;
  hinted.set_id(7);
  hinted.mutable_replica_sync()->set_hint_for("n3");
  peer::PeerRequest hints = PeerRequest(8);
  for (size_t i = 0; i < objects.size(); ++i) {
    auto* write = hints.mutable_hint_batch()->add_writes();
    write->set_key("h" + std::to_string(i));
    quorum::ToProto(objects[i], write->mutable_object());
  }
  Write("peer", "hints", Frames(hinted, hints));

  peer::PeerRequest stream = PeerRequest(9);
  stream.mutable_stream_range()->set_max_bytes(1 << 16);
  stream.mutable_stream_range()->set_max_count(100);
  peer::PeerRequest tree = PeerRequest(10);
  tree.mutable_aae_tree()->add_ranges();
  peer::PeerRequest leaves = PeerRequest(11);
  leaves.mutable_aae_tree()->add_ranges();
  leaves.mutable_aae_tree()->add_branches(3);
  peer::PeerRequest keys = PeerRequest(12);
  keys.mutable_aae_keys()->add_ranges();
  keys.mutable_aae_keys()->add_segments(7);
  peer::PeerRequest fetch = PeerRequest(13);
  fetch.mutable_aae_fetch()->add_keys("k");
  fetch.mutable_aae_fetch()->add_keys("h1");
  Write("peer", "movement", Frames(stream, tree, leaves, keys, fetch));
}

void FrameSeeds() {
  Write("frame", "requests", std::string(1, '\x07') + Frames(Put(1, "k", "v"), Get(2, "k"), PeerRequest(3)));
  std::string huge(1, '\x02');
  PutFixed32BE(&huge, 1u << 30);
  Write("frame", "too-large", huge + "abc");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz-seeds DIR\n");
    return 2;
  }
  root = argv[1];
  const std::vector<Object> objects = Objects();
  RecordSeeds(objects);
  HintSeeds(objects);
  ContextSeeds(objects);
  GossipSeeds();
  ClientSeeds(objects);
  PeerSeeds(objects);
  FrameSeeds();
  return 0;
}
