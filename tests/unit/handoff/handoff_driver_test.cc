// handoff::HandoffDriver on the simulator's Env, over a real LevelDB engine
// and a real LocalReplica; the hint batches it sends are held by the test,
// which answers them (or not) by hand.
#include "handoff/handoff_driver.h"

#include <doctest/doctest.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../sim_fixture.h"
#include "common/log.h"
#include "net/peer_transport.h"
#include "peer.pb.h"
#include "quorum/dvv.h"
#include "quorum/object_wire.h"
#include "sim/sim_env.h"
#include "storage/storage.h"

namespace dynkv::handoff {
namespace {

using sim_fixture::AddressOf;
using sim_fixture::Minted;
using sim_fixture::Response;

struct HeldCall {
  std::string to;
  peer::PeerRequest request;
  std::function<void(peer::PeerResponse)> reply;
  std::function<void()> refused;
  bool answered = false;

  void Answer(peer::PeerResponse response) {
    REQUIRE(!answered);
    answered = true;
    reply(std::move(response));
  }
  void Refuse() {
    REQUIRE(!answered);
    answered = true;
    refused();
  }
};

class HoldingRouter final : public sim::PeerRouter {
 public:
  void Route(const std::string&, const std::string& to, peer::PeerRequest request,
             std::function<void(peer::PeerResponse)> reply, std::function<void()> refused) override {
    calls.push_back({to, std::move(request), std::move(reply), std::move(refused)});
  }
  HeldCall* Pending() {
    for (HeldCall& call : calls) {
      if (!call.answered) return &call;
    }
    return nullptr;
  }
  size_t pending() const {
    size_t n = 0;
    for (const HeldCall& call : calls) n += call.answered ? 0 : 1;
    return n;
  }
  std::deque<HeldCall> calls;
};

// n1 (this node), n2 and n3, all at known addresses.
class FakeCluster final : public quorum::ClusterView {
 public:
  std::shared_ptr<const ring::Ring> CurrentRing() const override { return ring_; }
  bool IsUp(const std::string&) const override { return true; }
  std::string PeerAddress(const std::string& node_id) const override { return AddressOf(node_id); }
  bool Ready() const override { return true; }

 private:
  std::shared_ptr<const ring::Ring> ring_ = std::make_shared<const ring::Ring>();
};

class Fixture {
 public:
  explicit Fixture(HandoffOptions options = {})
      : options_(options),
        node_(router, /*seed=*/13, sim_fixture::NodeEnvOptions(/*call_timeout_ms=*/600'000)) {
    SetLogLevel(LogLevel::kError);
    StartDriver();
  }

  // A new driver on the same engine: the node restarted.
  void StartDriver() {
    driver.reset();
    driver = std::make_unique<HandoffDriver>(node_.env, *node_.worker, node_.replica, cluster_, options_, "self");
    REQUIRE(driver->Start().ok());
    RunFor(20);  // the store opens
  }

  void RunFor(int64_t ms) { node_.RunFor(ms); }

  // Stores a hint and waits for done; checks it was durable by then.
  void StoreHint(const std::string& target, const std::string& key, const Object& object) {
    std::optional<Status> status;
    driver->StoreHint(target, key, object, [&](Status s) {
      auto hint = node_.engine->GetHint(target, key);
      REQUIRE(hint.ok());
      durable_at_ack = !hint->object.empty();
      status = s;
    });
    CHECK(!status.has_value());  // not before the write is done
    RunFor(20);
    REQUIRE(status.has_value());
    REQUIRE(status->ok());
  }

  Object StoredHint(const std::string& target, const std::string& key) {
    auto hint = node_.engine->GetHint(target, key);
    REQUIRE(hint.ok());
    return hint->object;
  }
  Object Stored(const std::string& key) { return node_.Stored(key); }
  void Preload(const std::string& key, const Object& object) { node_.Preload(key, object); }
  double Stat(const std::string& name) {
    std::map<std::string, double> stats;
    driver->FillStats(&stats);
    REQUIRE(stats.count(name) == 1);
    return stats.at(name);
  }

  HoldingRouter router;
  bool durable_at_ack = false;

 private:
  HandoffOptions options_;
  sim_fixture::ReplicaNode node_;
  FakeCluster cluster_;

 public:
  std::unique_ptr<HandoffDriver> driver;
};

std::vector<storage::ObjectWrite> WritesOf(const peer::PeerRequest& request) {
  REQUIRE(request.has_hint_batch());
  auto writes = FromHintBatch(request.hint_batch());
  REQUIRE(writes.ok());
  return *writes;
}

TEST_CASE("StoreHint is durable before done(OK) and is counted") {
  Fixture f;
  const Object a = Minted("n2.0000bbbb", "a");
  f.StoreHint("n3", "k", a);
  CHECK(f.durable_at_ack);
  CHECK(f.StoredHint("n3", "k") == a);
  CHECK(f.Stored("k").empty());  // a hint, not this node's data
  CHECK(f.Stat("handoff.hints_pending") == 1);
  CHECK(f.Stat("handoff.hints_stored") == 1);

  // A concurrent write of the same key merges into the same hint.
  const Object b = Minted("n1.0000aaaa", "b");
  f.StoreHint("n3", "k", b);
  CHECK(f.StoredHint("n3", "k") == dvv::Sync(a, b));
  CHECK(f.Stat("handoff.hints_pending") == 1);
  CHECK(f.Stat("handoff.hints_stored") == 2);
}

TEST_CASE("hints wait while their target is not up") {
  Fixture f;
  f.StoreHint("n3", "k", Minted("n2.0000bbbb", "a"));
  f.RunFor(5'000);
  CHECK(f.router.calls.empty());

  f.driver->OnUp("n3");
  f.driver->OnDown("n3");  // down again before the next delivery round
  f.RunFor(1'000);
  CHECK(f.router.calls.empty());
}

TEST_CASE("once the target is up, its hints go as a HintBatch and are deleted after the ack") {
  Fixture f;
  const Object a = Minted("n2.0000bbbb", "a");
  const Object b = Minted("n2.0000bbbb", "b");
  f.StoreHint("n3", "k1", a);
  f.StoreHint("n3", "k2", b);
  f.StoreHint("n2", "k3", a);  // for another target: stays
  REQUIRE(f.Stat("handoff.hints_pending") == 3);

  f.driver->OnUp("n3");
  f.RunFor(200);
  REQUIRE(f.router.calls.size() == 1);
  HeldCall& batch = f.router.calls[0];
  CHECK(batch.to == AddressOf("n3"));
  REQUIRE(batch.request.has_hint_batch());
  for (const peer::ReplicaSync& write : batch.request.hint_batch().writes()) CHECK(write.hint_for().empty());
  const std::vector<storage::ObjectWrite> writes = WritesOf(batch.request);
  REQUIRE(writes.size() == 2);
  std::map<std::string, Object> sent;
  for (const storage::ObjectWrite& w : writes) sent[w.key] = w.object;
  CHECK(sent.at("k1") == a);
  CHECK(sent.at("k2") == b);

  // Not deleted before the target acknowledges, and one batch at a time.
  f.RunFor(500);
  CHECK(f.router.calls.size() == 1);
  CHECK(f.StoredHint("n3", "k1") == a);
  CHECK(f.Stat("handoff.hints_pending") == 3);

  batch.Answer(peer::PeerResponse());
  f.RunFor(20);
  CHECK(f.StoredHint("n3", "k1").empty());
  CHECK(f.StoredHint("n3", "k2").empty());
  CHECK(f.StoredHint("n2", "k3") == a);
  CHECK(f.Stat("handoff.hints_pending") == 1);
  CHECK(f.Stat("handoff.hints_delivered") == 2);
  CHECK(f.Stat("handoff.bytes_delivered") > 0);

  // Nothing is left for n3: no more batches to it.
  f.RunFor(2'000);
  CHECK(f.router.calls.size() == 1);
}

TEST_CASE("a failed hint batch is kept and retried after a backoff") {
  Fixture f;
  const Object a = Minted("n2.0000bbbb", "a");
  f.StoreHint("n3", "k", a);
  f.driver->OnUp("n3");
  f.RunFor(200);
  REQUIRE(f.router.pending() == 1);

  SUBCASE("the target answers with an error") {
    f.router.Pending()->Answer(net::PeerErrorResponse(Status::StorageError("disk full")));
  }
  SUBCASE("the connection is refused") { f.router.Pending()->Refuse(); }

  f.RunFor(20);
  CHECK(f.Stat("handoff.batches_failed") == 1);
  CHECK(f.Stat("handoff.hints_pending") == 1);
  CHECK(f.StoredHint("n3", "k") == a);
  f.RunFor(500);  // backing off, not hammering the target
  CHECK(f.router.pending() == 0);

  f.RunFor(2'000);
  REQUIRE(f.router.pending() == 1);
  const std::vector<storage::ObjectWrite> writes = WritesOf(f.router.Pending()->request);
  REQUIRE(writes.size() == 1);
  CHECK(writes[0].key == "k");
  f.router.Pending()->Answer(peer::PeerResponse());
  f.RunFor(20);
  CHECK(f.StoredHint("n3", "k").empty());
  CHECK(f.Stat("handoff.hints_pending") == 0);
  CHECK(f.Stat("handoff.hints_delivered") == 1);
}

TEST_CASE("hints stored before a restart are counted and delivered by the next driver") {
  Fixture f;
  const Object a = Minted("n2.0000bbbb", "a");
  f.StoreHint("n3", "k1", a);
  f.StoreHint("n3", "k2", a);
  f.StartDriver();
  CHECK(f.Stat("handoff.hints_pending") == 2);

  f.driver->OnUp("n3");
  f.RunFor(200);
  REQUIRE(f.router.pending() == 1);
  CHECK(WritesOf(f.router.Pending()->request).size() == 2);
  f.router.Pending()->Answer(peer::PeerResponse());
  f.RunFor(20);
  CHECK(f.Stat("handoff.hints_pending") == 0);
}

TEST_CASE("hints older than the hint window are dropped and counted; younger ones stay") {
  HandoffOptions options;
  options.hint_window_ms = 120'000;
  Fixture f(options);
  const Object a = Minted("n2.0000bbbb", "a");
  f.StoreHint("n3", "old", a);
  f.RunFor(70'000);  // one expiry pass (at 60 s) found it inside the window
  CHECK(f.StoredHint("n3", "old") == a);
  f.StoreHint("n3", "young", a);

  f.RunFor(115'000);  // the pass at 180 s: old is past the window, young (110 s) is not
  CHECK(f.StoredHint("n3", "old").empty());
  CHECK(f.StoredHint("n3", "young") == a);
  CHECK(f.Stat("handoff.hints_dropped") == 1);
  CHECK(f.Stat("handoff.hints_pending") == 1);
}

// ---- The receiving side ----------------------------------------------------

peer::PeerRequest Batch(const std::vector<Hint>& hints) {
  peer::PeerRequest request;
  request.set_from_node("n2");
  ToHintBatch(hints, request.mutable_hint_batch());
  return request;
}

Hint HintOf(const std::string& key, const Object& object) {
  Hint hint;
  hint.target = "n1";
  hint.key = key;
  hint.object = object;
  return hint;
}

TEST_CASE("a received hint batch is merged into the replica and acknowledged once durable") {
  Fixture f;
  const Object mine = Minted("n1.0000aaaa", "mine");
  const Object theirs = Minted("n2.0000bbbb", "theirs");  // concurrent with mine
  const Object other = Minted("n2.0000bbbb", "other");
  f.Preload("k1", mine);

  Response response;
  HandoffDriver::Reply reply = response.Reply();
  REQUIRE(f.driver->Handle(Batch({HintOf("k1", theirs), HintOf("k2", other)}), reply));
  CHECK(response.calls == 0);  // not before the writes are durable
  f.RunFor(20);
  REQUIRE(response.calls == 1);
  CHECK(!response.response->has_error());
  CHECK(f.Stored("k1") == dvv::Sync(mine, theirs));
  CHECK(f.Stored("k1").siblings.size() == 2);
  CHECK(f.Stored("k2") == other);
}

TEST_CASE("a malformed hint batch gets an error and nothing of it is applied") {
  Fixture f;
  const Object good = Minted("n2.0000bbbb", "good");
  Object bad = Minted("n2.0000bbbb", "bad");
  bad.vv = VersionVector();  // its sibling's dot is not covered

  SUBCASE("an object that breaks the invariants") {
    Response response;
    HandoffDriver::Reply reply = response.Reply();
    REQUIRE(f.driver->Handle(Batch({HintOf("k1", good), HintOf("k2", bad)}), reply));
    f.RunFor(20);
    REQUIRE(response.calls == 1);
    REQUIRE(response.response->has_error());
    CHECK(response.response->error().code() == peer::PEER_INVALID_ARGUMENT);
    CHECK(f.Stored("k1").empty());
    CHECK(f.Stored("k2").empty());
  }
  SUBCASE("an empty object, which would read as a delete") {
    Response response;
    HandoffDriver::Reply reply = response.Reply();
    REQUIRE(f.driver->Handle(Batch({HintOf("k1", Object{})}), reply));
    f.RunFor(20);
    REQUIRE(response.calls == 1);
    REQUIRE(response.response->has_error());
    CHECK(response.response->error().code() == peer::PEER_INVALID_ARGUMENT);
  }
}

TEST_CASE("Handle leaves requests other than hint batches to the next handler") {
  Fixture f;
  Response response;
  HandoffDriver::Reply reply = response.Reply();
  peer::PeerRequest sync;
  sync.mutable_replica_sync()->set_key("k");
  CHECK(!f.driver->Handle(sync, reply));
  peer::PeerRequest syn;
  syn.mutable_gossip_syn();
  CHECK(!f.driver->Handle(syn, reply));
  f.RunFor(20);
  CHECK(response.calls == 0);
  CHECK(static_cast<bool>(reply));
}

}  // namespace
}  // namespace dynkv::handoff
