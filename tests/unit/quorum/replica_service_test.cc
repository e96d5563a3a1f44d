// quorum::ReplicaService: the replica side of replication, on a real
// LocalReplica over a real LevelDB engine, its storage worker run by the
// simulator's loop.
#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "../sim_fixture.h"
#include "peer.pb.h"
#include "quorum/coordinator.h"
#include "quorum/dvv.h"
#include "quorum/object_wire.h"
#include "quorum_sim_util.h"
#include "sim/sim_env.h"

namespace dynkv::quorum {
namespace {

using sim_fixture::kActor;
using sim_fixture::Minted;
using sim_fixture::Response;
using sim_util::RecordingHints;

class NoPeers final : public sim::PeerRouter {
 public:
  void Route(const std::string&, const std::string&, peer::PeerRequest,
             std::function<void(peer::PeerResponse)>, std::function<void()> refused) override {
    refused();
  }
};

class Fixture {
 public:
  Fixture()
      : node_(router_, /*seed=*/3, sim_fixture::NodeEnvOptions()), service(node_.replica, hints) {}

  // Handles `request` and lets the storage worker finish; true when handled.
  bool Handle(const peer::PeerRequest& request, Response* out) {
    ReplicaService::Reply reply = out->Reply();
    const bool handled = service.Handle(request, reply);
    node_.RunStorage();
    return handled;
  }
  void RunStorage() { node_.RunStorage(); }

  Object Stored(const std::string& key) { return node_.Stored(key); }

  RecordingHints hints;

 private:
  NoPeers router_;
  sim_fixture::ReplicaNode node_;

 public:
  ReplicaService service;
};

peer::PeerRequest Mint(const std::string& key, const std::string& value, const VersionVector& context) {
  peer::PeerRequest request;
  request.set_from_node("n2");
  request.mutable_mint_write()->set_key(key);
  request.mutable_mint_write()->set_value(value);
  request.mutable_mint_write()->set_context(dvv::EncodeContext(context));
  return request;
}

peer::PeerRequest Sync(const std::string& key, const Object& object, const std::string& hint_for = "") {
  peer::PeerRequest request;
  request.set_from_node("n2");
  request.mutable_replica_sync()->set_key(key);
  ToProto(object, request.mutable_replica_sync()->mutable_object());
  request.mutable_replica_sync()->set_hint_for(hint_for);
  return request;
}

peer::PeerRequest Read(const std::string& key) {
  peer::PeerRequest request;
  request.set_from_node("n2");
  request.mutable_replica_read()->set_key(key);
  return request;
}

TEST_CASE("MintWrite mints a dot with this replica's actor, stores, and answers with the object") {
  Fixture f;
  Response first;
  REQUIRE(f.Handle(Mint("k", "v1", VersionVector{}), &first));
  REQUIRE(first.calls == 1);
  REQUIRE(!first.error());
  const Object minted = first.object();
  REQUIRE(minted.siblings.size() == 1);
  CHECK(minted.siblings[0].dot == Dot{kActor, 1});
  CHECK(minted.siblings[0].value == "v1");
  CHECK(minted.vv.Get(kActor) == 1);
  CHECK(f.Stored("k") == minted);

  // A write with that context replaces the value it saw: the next dot, one sibling.
  Response second;
  REQUIRE(f.Handle(Mint("k", "v2", minted.vv), &second));
  const Object replaced = second.object();
  REQUIRE(replaced.siblings.size() == 1);
  CHECK(replaced.siblings[0].dot == Dot{kActor, 2});
  CHECK(replaced.siblings[0].value == "v2");
  CHECK(f.Stored("k") == replaced);

  // One that did not see v2 leaves it as a sibling.
  Response concurrent;
  REQUIRE(f.Handle(Mint("k", "v3", minted.vv), &concurrent));
  CHECK(concurrent.object().siblings.size() == 2);
}

TEST_CASE("MintWrite with a context that does not decode gets an error and stores nothing") {
  Fixture f;
  peer::PeerRequest request = Mint("k", "v", VersionVector{});
  request.mutable_mint_write()->set_context(std::string("\xff\x01garbage", 9));
  Response response;
  REQUIRE(f.Handle(request, &response));
  REQUIRE(response.calls == 1);
  REQUIRE(response.error());
  CHECK(response.response->error().code() == peer::PEER_INVALID_ARGUMENT);
  CHECK(!response.response->error().message().empty());
  CHECK(f.Stored("k").empty());
}

TEST_CASE("ReplicaSync merges with dvv::Sync: a concurrent sibling is kept, a dominated one dropped") {
  Fixture f;
  const Object a1 = Minted("n2.0000bbbb", "a1");
  const Object b1 = Minted("n3.0000cccc", "b1");  // concurrent with a1

  Response r1;
  REQUIRE(f.Handle(Sync("k", a1), &r1));
  REQUIRE(r1.calls == 1);
  CHECK(!r1.error());
  CHECK(!r1.response->has_object());  // an empty response once durable
  CHECK(f.Stored("k") == a1);

  Response r2;
  REQUIRE(f.Handle(Sync("k", b1), &r2));
  CHECK(!r2.error());
  CHECK(f.Stored("k") == dvv::Sync(a1, b1));
  CHECK(f.Stored("k").siblings.size() == 2);

  // A version that saw both supersedes them.
  const Object c = Minted("n2.0000bbbb", "c", dvv::Sync(a1, b1));
  Response r3;
  REQUIRE(f.Handle(Sync("k", c), &r3));
  CHECK(f.Stored("k") == c);
  REQUIRE(f.Stored("k").siblings.size() == 1);

  // An old version that arrives late is dominated: dropped, nothing changes.
  Response r4;
  REQUIRE(f.Handle(Sync("k", a1), &r4));
  CHECK(!r4.error());
  CHECK(f.Stored("k") == c);
}

TEST_CASE("ReplicaSync of a malformed object gets an error and stores nothing") {
  Fixture f;
  Object bad = Minted("n2.0000bbbb", "v");
  bad.vv = VersionVector();  // the sibling's dot is no longer covered
  Response response;
  REQUIRE(f.Handle(Sync("k", bad), &response));
  REQUIRE(response.error());
  CHECK(response.response->error().code() == peer::PEER_INVALID_ARGUMENT);
  CHECK(f.Stored("k").empty());
}

TEST_CASE("ReplicaSync with hint_for goes to the HintSink, not to storage, and answers once it is durable") {
  Fixture f;
  const Object a = Minted("n2.0000bbbb", "a");
  Response response;
  REQUIRE(f.Handle(Sync("k", a, "n3"), &response));
  REQUIRE(f.hints.stored.size() == 1);
  CHECK(f.hints.stored[0].target == "n3");
  CHECK(f.hints.stored[0].key == "k");
  CHECK(f.hints.stored[0].object == a);
  CHECK(f.Stored("k").empty());
  CHECK(response.calls == 0);  // not before the hint is durable

  f.hints.stored[0].done(Status::Ok());
  REQUIRE(response.calls == 1);
  CHECK(!response.error());

  SUBCASE("a hint that cannot be stored is an error to the coordinator") {
    Response failed;
    REQUIRE(f.Handle(Sync("k2", a, "n3"), &failed));
    REQUIRE(f.hints.stored.size() == 2);
    f.hints.stored[1].done(Status::StorageError("disk full"));
    REQUIRE(failed.calls == 1);
    REQUIRE(failed.error());
    CHECK(failed.response->error().code() == peer::PEER_STORAGE_ERROR);
  }
}

TEST_CASE("ReplicaRead returns the stored object, or an empty one") {
  Fixture f;
  const Object a = Minted("n2.0000bbbb", "a");
  const Object b = Minted("n3.0000cccc", "b");
  Response s1;
  Response s2;
  REQUIRE(f.Handle(Sync("k", a), &s1));
  REQUIRE(f.Handle(Sync("k", b), &s2));

  Response read;
  REQUIRE(f.Handle(Read("k"), &read));
  REQUIRE(read.calls == 1);
  CHECK(read.object() == dvv::Sync(a, b));

  Response missing;
  REQUIRE(f.Handle(Read("absent"), &missing));
  REQUIRE(missing.calls == 1);
  CHECK(missing.object().empty());
}

TEST_CASE("a request that is not for replication returns false and leaves the reply to the next handler") {
  Fixture f;
  Response response;
  ReplicaService::Reply reply = response.Reply();
  peer::PeerRequest syn;
  syn.mutable_gossip_syn()->set_cluster_name("dynkv");
  CHECK(!f.service.Handle(syn, reply));
  peer::PeerRequest batch;
  batch.mutable_hint_batch();
  CHECK(!f.service.Handle(batch, reply));
  peer::PeerRequest empty;
  CHECK(!f.service.Handle(empty, reply));
  f.RunStorage();
  CHECK(response.calls == 0);
  REQUIRE(static_cast<bool>(reply));  // still callable
  reply(peer::PeerResponse());
  CHECK(response.calls == 1);
}

}  // namespace
}  // namespace dynkv::quorum

namespace dynkv::quorum {
namespace {

TEST_CASE("MintCounter: floors grow past every counter noted, and a lease is stored before it is needed") {
  std::vector<uint64_t> leases;
  MintCounter counter(0, [&leases](uint64_t lease) {
    leases.push_back(lease);
    return Status::Ok();
  });
  CHECK(counter.floor() == 1);
  REQUIRE(counter.Note(1).ok());
  REQUIRE(leases.size() == 1);
  CHECK(leases[0] > 1);
  REQUIRE(counter.Note(500).ok());
  CHECK(counter.floor() == 501);
  CHECK(leases.size() == 1);  // still inside the first lease
  REQUIRE(counter.Note(leases[0] + 7).ok());
  CHECK(leases.size() == 2);
  CHECK(leases[1] > leases[0] + 7);
  // A restart starts from the stored lease: above everything minted before.
  MintCounter restarted(leases.back(), nullptr);
  CHECK(restarted.floor() > leases[0] + 7);
}

TEST_CASE("MintCounter: a lease that cannot be stored fails the mint and leaves the counter as it was") {
  MintCounter counter(0, [](uint64_t) { return Status::StorageError("disk full"); });
  CHECK(counter.Note(3).code() == Code::kStorageError);
  CHECK(counter.floor() == 1);
}

}  // namespace
}  // namespace dynkv::quorum
