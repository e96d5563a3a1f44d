// quorum::Coordinator on the simulator's Env: "self" (n1) is a real
// LocalReplica over a real LevelDB engine; the other two nodes of a fixed
// three-node ring are answered by hand, the test holding each peer call
// until it releases the reply.
#include "quorum/coordinator.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "../sim_fixture.h"
#include "common/key_hash.h"
#include "net/peer_transport.h"
#include "peer.pb.h"
#include "quorum/dvv.h"
#include "quorum/object_wire.h"
#include "quorum_sim_util.h"
#include "sim/sim_env.h"

namespace dynkv::quorum {
namespace {

using sim_fixture::AddressOf;
using sim_fixture::Minted;
using sim_fixture::Value;
using sim_util::RecordingHints;

constexpr uint32_t kTimeoutMs = 1000;
// Past a deadline: the timer may fire up to kSlackMs late.
constexpr int64_t kPastDeadlineMs = kTimeoutMs + Deadlines::kSlackMs + 1;
// Peer calls of the env: the coordinator's deadlines come first.
constexpr uint32_t kCallTimeoutMs = 600'000;

// One peer call the coordinator made, held until the test answers it.
struct HeldCall {
  std::string to;
  peer::PeerRequest request;
  std::function<void(peer::PeerResponse)> reply;
  bool answered = false;

  void Answer(peer::PeerResponse response) {
    REQUIRE(!answered);
    answered = true;
    reply(std::move(response));
  }
};

class HoldingRouter final : public sim::PeerRouter {
 public:
  void Route(const std::string&, const std::string& to, peer::PeerRequest request,
             std::function<void(peer::PeerResponse)> reply, std::function<void()>) override {
    calls.push_back({to, std::move(request), std::move(reply)});
  }

  // The first unanswered call of kind `op` to `node_id`; nullptr when none.
  HeldCall* Pending(const std::string& node_id, peer::PeerRequest::OpCase op) {
    for (HeldCall& call : calls) {
      if (!call.answered && call.to == AddressOf(node_id) && call.request.op_case() == op) return &call;
    }
    return nullptr;
  }
  size_t Count(peer::PeerRequest::OpCase op) const {
    size_t n = 0;
    for (const HeldCall& call : calls) n += call.request.op_case() == op ? 1 : 0;
    return n;
  }

  std::deque<HeldCall> calls;  // a deque: references stay valid as calls come
};

// A fixed ring of n1, n2, n3; who is up and whether the node is Ready is set by the test.
class FakeCluster final : public ClusterView {
 public:
  FakeCluster()
      : ring_(std::make_shared<const ring::Ring>(
            ring::TokenMap{{"n1", {0x1000000000000000ull, 0x7000000000000000ull, 0xd000000000000000ull}},
                           {"n2", {0x3000000000000000ull, 0x9000000000000000ull, 0xe800000000000000ull}},
                           {"n3", {0x5000000000000000ull, 0xb000000000000000ull, 0xf800000000000000ull}}})) {}

  std::shared_ptr<const ring::Ring> CurrentRing() const override { return ring_; }
  bool IsUp(const std::string& node_id) const override { return down.count(node_id) == 0; }
  std::string PeerAddress(const std::string& node_id) const override {
    return ring_->HasNode(node_id) ? AddressOf(node_id) : "";
  }
  bool Ready() const override { return ready; }

  std::set<std::string> down;
  bool ready = true;

 private:
  std::shared_ptr<const ring::Ring> ring_;
};

// The answer of one Get or Put.
struct Answer {
  int calls = 0;
  std::optional<Result<Object>> result;

  Coordinator::ObjectDone Done() {
    return [this](Result<Object> r) {
      ++calls;
      result.emplace(std::move(r));
    };
  }
  bool ok() const { return result && result->ok(); }
  Code code() const { return result->ok() ? Code::kOk : result->status().code(); }
  std::string message() const { return result->status().message(); }
};

CoordinatorOptions Options(uint32_t n = 3) {
  CoordinatorOptions options;
  options.self_id = "n1";
  options.n = n;
  options.default_r = 2;
  options.default_w = 2;
  options.default_timeout_ms = kTimeoutMs;
  return options;
}

peer::PeerResponse ObjectReply(const Object& object) {
  peer::PeerResponse response;
  ToProto(object, response.mutable_object());
  return response;
}

Object ObjectOf(const peer::StoredObject& stored) {
  auto object = FromProto(stored);
  REQUIRE(object.ok());
  return *object;
}

class Fixture {
 public:
  explicit Fixture(CoordinatorOptions options = Options())
      : node_(router, /*seed=*/11, sim_fixture::NodeEnvOptions(kCallTimeoutMs)),
        coordinator(node_.env, node_.replica, cluster, hints, std::move(options)) {}

  // A key whose strict preference list of `n` nodes is `primaries`, in order.
  std::string KeyWithPrimaries(const std::vector<std::string>& primaries) const {
    for (int i = 0; i < 100000; ++i) {
      const std::string key = "key-" + std::to_string(i);
      std::vector<std::string> ids;
      for (const ring::Replica& r :
           cluster.CurrentRing()->PreferenceList(KeyPosition(key), primaries.size())) {
        ids.push_back(r.node_id);
      }
      if (ids == primaries) return key;
    }
    FAIL("no key has this preference list");
    return "";
  }

  // Lets the storage worker run what is queued.
  void RunStorage() { node_.RunStorage(); }
  void RunFor(int64_t ms) { node_.RunFor(ms); }

  // What this node's engine holds for `key`.
  Object Stored(const std::string& key) { return node_.Stored(key); }
  // Puts `object` in this node's replica, durably.
  void Preload(const std::string& key, const Object& object) { node_.Preload(key, object); }

  HoldingRouter router;
  FakeCluster cluster;
  RecordingHints hints;

 private:
  sim_fixture::ReplicaNode node_;

 public:
  Coordinator coordinator;
};

constexpr auto kMint = peer::PeerRequest::kMintWrite;
constexpr auto kSync = peer::PeerRequest::kReplicaSync;
constexpr auto kRead = peer::PeerRequest::kReplicaRead;

// ---- Writes ----------------------------------------------------------------

TEST_CASE("a write is minting until the minter answers, then waiting_for_w until W copies are durable") {
  Fixture f(Options(/*n=*/2));
  const std::string key = f.KeyWithPrimaries({"n2", "n3"});  // not this node's
  Answer answer;
  f.coordinator.Put(key, VersionVector{}, Value("v1"), /*w=*/2, kTimeoutMs, answer.Done());

  CHECK(f.coordinator.write_stage(1) == WriteStage::kMinting);
  CHECK(StageName(WriteStage::kMinting) == "minting");
  HeldCall* mint = f.router.Pending("n2", kMint);
  REQUIRE(mint != nullptr);
  CHECK(mint->request.mint_write().key() == key);
  CHECK(mint->request.mint_write().value() == "v1");
  // Nothing goes to the other replicas before the dot is minted.
  CHECK(f.router.Count(kSync) == 0);
  CHECK(answer.calls == 0);

  const Object minted = Minted("n2.0000bbbb", "v1");
  mint->Answer(ObjectReply(minted));
  CHECK(f.coordinator.write_stage(1) == WriteStage::kWaitingForW);
  CHECK(StageName(WriteStage::kWaitingForW) == "waiting_for_w");
  HeldCall* sync = f.router.Pending("n3", kSync);
  REQUIRE(sync != nullptr);
  CHECK(sync->request.replica_sync().hint_for().empty());
  CHECK(ObjectOf(sync->request.replica_sync().object()) == minted);
  CHECK(answer.calls == 0);  // 1 of 2

  sync->Answer(peer::PeerResponse());
  REQUIRE(answer.calls == 1);
  REQUIRE(answer.ok());
  CHECK(**answer.result == minted);
  CHECK(!f.coordinator.write_stage(1).has_value());
  CHECK(f.coordinator.in_progress() == 0);
  CHECK(f.coordinator.stats().writes == 1);
  CHECK(f.coordinator.stats().forwarded_mints == 1);
  CHECK(f.coordinator.stats().mint_failovers == 0);
}

TEST_CASE("a write to a key this node replicates is minted here, with no hop") {
  Fixture f;
  const std::string key = f.KeyWithPrimaries({"n2", "n3", "n1"});
  Answer answer;
  f.coordinator.Put(key, VersionVector{}, Value("v"), /*w=*/2, kTimeoutMs, answer.Done());
  CHECK(f.router.Count(kMint) == 0);
  f.RunStorage();
  CHECK(f.Stored(key).siblings.at(0).dot.actor == sim_fixture::kActor);
  CHECK(f.router.Count(kSync) == 2);
  f.router.Pending("n2", kSync)->Answer(peer::PeerResponse());
  REQUIRE(answer.ok());
  CHECK(f.coordinator.stats().forwarded_mints == 0);
}

TEST_CASE("a minter that does not answer within its bound gives way to the next replica") {
  Fixture f(Options(/*n=*/2));
  const std::string key = f.KeyWithPrimaries({"n2", "n3"});
  Answer answer;
  f.coordinator.Put(key, VersionVector{}, Value("v"), /*w=*/1, kTimeoutMs, answer.Done());
  REQUIRE(f.router.Pending("n2", kMint) != nullptr);  // n2 is silent (paused)
  CHECK(f.router.Pending("n3", kMint) == nullptr);
  // Never heard from: the bound is failover_max.
  f.RunFor(PeerLatencyOptions{}.failover_max_ms + Deadlines::kSlackMs + 1);
  HeldCall* second = f.router.Pending("n3", kMint);
  REQUIRE(second != nullptr);
  CHECK(f.coordinator.stats().mint_failovers == 1);
  const Object minted = Minted("n3.0000cccc", "v");
  second->Answer(ObjectReply(minted));
  REQUIRE(answer.calls == 1);
  REQUIRE(answer.ok());  // W=1: n3's copy
  CHECK(**answer.result == minted);
  // The slow first minter gets the minted object like any replica.
  HeldCall* sync = f.router.Pending("n2", kSync);
  REQUIRE(sync != nullptr);
  CHECK(ObjectOf(sync->request.replica_sync().object()) == minted);
  // Its own mint, answered late, is not used: a second dot for the write stays on n2 only.
  f.router.Pending("n2", kMint)->Answer(ObjectReply(Minted("n2.0000bbbb", "v")));
  CHECK(answer.calls == 1);
  CHECK(f.coordinator.stats().late_mints == 1);
}

TEST_CASE("a write whose minters never answer times out in minting: 0 of W") {
  Fixture f(Options(/*n=*/2));
  const std::string key = f.KeyWithPrimaries({"n2", "n3"});
  Answer answer;
  f.coordinator.Put(key, VersionVector{}, Value("v"), /*w=*/2, kTimeoutMs, answer.Done());
  f.RunFor(kTimeoutMs - 1);
  CHECK(answer.calls == 0);  // not before the deadline
  CHECK(f.router.Count(kMint) == 2);  // both were asked; neither answered

  f.RunFor(kPastDeadlineMs - (kTimeoutMs - 1));
  REQUIRE(answer.calls == 1);
  CHECK(answer.code() == Code::kTimeout);
  CHECK(answer.message().find("0 of 2") != std::string::npos);
  CHECK(f.coordinator.stats().timeouts_minting == 1);
  CHECK(f.coordinator.stats().timeouts_waiting_for_w == 0);
  CHECK(!f.coordinator.write_stage(1).has_value());
  CHECK(f.coordinator.in_progress() == 0);

  // A late mint finds nothing: no second answer, nothing sent on.
  f.router.Pending("n2", kMint)->Answer(ObjectReply(Minted("n2.0000bbbb", "v")));
  CHECK(answer.calls == 1);
  CHECK(f.router.Count(kSync) == 0);
}

TEST_CASE("a write short of W at its deadline times out in waiting_for_w: N of W") {
  Fixture f;
  const std::string key = f.KeyWithPrimaries({"n2", "n3", "n1"});
  Answer answer;
  f.coordinator.Put(key, VersionVector{}, Value("v"), /*w=*/3, kTimeoutMs, answer.Done());
  f.RunStorage();  // minted here
  f.router.Pending("n2", kSync)->Answer(peer::PeerResponse());  // n3 never answers
  CHECK(f.coordinator.write_stage(1) == WriteStage::kWaitingForW);

  f.RunFor(kPastDeadlineMs);
  REQUIRE(answer.calls == 1);
  CHECK(answer.code() == Code::kTimeout);
  CHECK(answer.message().find("2 of 3") != std::string::npos);
  CHECK(f.coordinator.stats().timeouts_waiting_for_w == 1);
  CHECK(f.coordinator.stats().timeouts_minting == 0);
  CHECK(f.coordinator.in_progress() == 0);

  HeldCall* sync = f.router.Pending("n3", kSync);
  REQUIRE(sync != nullptr);
  sync->Answer(peer::PeerResponse());  // late: ignored
  CHECK(answer.calls == 1);
}

TEST_CASE("a refused mint moves to the next replica at once; refused everywhere, the write fails with the error") {
  Fixture f(Options(/*n=*/2));
  const std::string key = f.KeyWithPrimaries({"n2", "n3"});
  Answer answer;
  f.coordinator.Put(key, VersionVector{}, Value("v"), /*w=*/1, kTimeoutMs, answer.Done());
  f.router.Pending("n2", kMint)->Answer(net::PeerErrorResponse(Status::StorageError("disk full")));
  CHECK(answer.calls == 0);
  HeldCall* second = f.router.Pending("n3", kMint);
  REQUIRE(second != nullptr);
  second->Answer(net::PeerErrorResponse(Status::StorageError("disk full")));
  REQUIRE(answer.calls == 1);
  CHECK(answer.code() == Code::kStorageError);
  CHECK(f.router.Count(kSync) == 0);  // nothing minted, nothing to replicate
  CHECK(f.coordinator.stats().timeouts_minting == 0);
}

TEST_CASE("a minter judged down is replaced at once, before its bound") {
  Fixture f(Options(/*n=*/2));
  const std::string key = f.KeyWithPrimaries({"n2", "n3"});
  Answer answer;
  f.coordinator.Put(key, VersionVector{}, Value("v"), /*w=*/1, kTimeoutMs, answer.Done());
  REQUIRE(f.router.Pending("n2", kMint) != nullptr);
  f.cluster.down = {"n2"};
  f.coordinator.OnPeerDown("n2");
  HeldCall* second = f.router.Pending("n3", kMint);
  REQUIRE(second != nullptr);
  second->Answer(ObjectReply(Minted("n3.0000cccc", "v")));
  REQUIRE(answer.ok());
  CHECK(f.coordinator.stats().replanned == 1);
}

TEST_CASE("a write waiting on a copy at a replica judged down hands a hint to its stand-in") {
  Fixture f(Options(/*n=*/2));
  const std::string key = f.KeyWithPrimaries({"n2", "n3"});
  Answer answer;
  f.coordinator.Put(key, VersionVector{}, Value("v"), /*w=*/2, kTimeoutMs, answer.Done());
  const Object minted = Minted("n2.0000bbbb", "v");
  f.router.Pending("n2", kMint)->Answer(ObjectReply(minted));
  REQUIRE(f.router.Pending("n3", kSync) != nullptr);  // n3 hangs
  f.cluster.down = {"n3"};
  f.coordinator.OnPeerDown("n3");
  // This node (n1) stands in for n3: the write is kept as a hint for it.
  REQUIRE(f.hints.stored.size() == 1);
  CHECK(f.hints.stored[0].target == "n3");
  CHECK(f.hints.stored[0].object == minted);
  f.hints.stored[0].done(Status::Ok());
  REQUIRE(answer.calls == 1);
  CHECK(answer.ok());
  CHECK(f.coordinator.stats().replanned == 1);
}

TEST_CASE("a read stops waiting for a replica judged down") {
  Fixture f(Options(/*n=*/2));
  const std::string key = f.KeyWithPrimaries({"n2", "n3"});
  Answer answer;
  f.coordinator.Get(key, /*r=*/1, kTimeoutMs, answer.Done());
  f.router.Pending("n2", kRead)->Answer(ObjectReply(Minted("n2.0000bbbb", "v")));
  REQUIRE(answer.ok());
  CHECK(f.coordinator.in_progress() == 1);  // repairing: n3's reply is awaited
  f.cluster.down = {"n3"};
  f.coordinator.OnPeerDown("n3");
  CHECK(f.coordinator.in_progress() == 0);
}

TEST_CASE("a peer with too many calls outstanding gets no more: a stand-in takes its writes, or OVERLOADED") {
  CoordinatorOptions options = Options(/*n=*/2);
  options.latency.max_pending_per_peer = 1;
  Fixture f(options);
  const std::string key = f.KeyWithPrimaries({"n2", "n3"});
  Answer first;
  f.coordinator.Put(key, VersionVector{}, Value("a"), /*w=*/1, kTimeoutMs, first.Done());
  REQUIRE(f.router.Pending("n2", kMint) != nullptr);  // outstanding: n2 is now saturated
  Answer second;
  f.coordinator.Put(key, VersionVector{}, Value("b"), /*w=*/2, kTimeoutMs, second.Done());
  HeldCall* mint = f.router.Pending("n3", kMint);
  REQUIRE(mint != nullptr);  // n2 is skipped as minter
  const Object minted = Minted("n3.0000cccc", "b");
  mint->Answer(ObjectReply(minted));
  f.RunStorage();
  REQUIRE(f.hints.stored.size() == 1);  // and as a target: a hint for it here
  CHECK(f.hints.stored[0].target == "n2");
  f.hints.stored[0].done(Status::Ok());
  CHECK(second.ok());

  CoordinatorOptions strict = options;
  strict.sloppy_quorum = false;
  Fixture g(strict);
  Answer held;
  g.coordinator.Put(key, VersionVector{}, Value("a"), /*w=*/1, kTimeoutMs, held.Done());
  Answer refused;
  g.coordinator.Put(key, VersionVector{}, Value("b"), /*w=*/2, kTimeoutMs, refused.Done());
  REQUIRE(refused.calls == 1);
  CHECK(refused.code() == Code::kOverloaded);
  CHECK(g.coordinator.stats().overloaded == 1);
}

TEST_CASE("a write for a down primary goes to its fallback as a hint, and counts once durable") {
  Fixture f(Options(/*n=*/2));
  f.cluster.down = {"n3"};
  // Primaries n2, n3; with n3 down, n1 (this node) stands in for it.
  const std::string key = f.KeyWithPrimaries({"n2", "n3"});
  Answer answer;
  f.coordinator.Put(key, VersionVector{}, Value("v"), /*w=*/2, kTimeoutMs, answer.Done());
  HeldCall* mint = f.router.Pending("n2", kMint);
  REQUIRE(mint != nullptr);
  const Object minted = Minted("n2.0000bbbb", "v");
  mint->Answer(ObjectReply(minted));
  f.RunStorage();

  REQUIRE(f.hints.stored.size() == 1);
  CHECK(f.hints.stored[0].target == "n3");
  CHECK(f.hints.stored[0].key == key);
  CHECK(f.hints.stored[0].object == minted);
  CHECK(f.Stored(key).empty());  // a hint, not this node's own copy
  CHECK(f.router.Pending("n3", kSync) == nullptr);
  CHECK(answer.calls == 0);  // the hint is not durable yet

  f.hints.stored[0].done(Status::Ok());
  REQUIRE(answer.calls == 1);
  CHECK(answer.ok());
  CHECK(f.coordinator.stats().hinted_writes == 1);
}

// ---- Reads -----------------------------------------------------------------

TEST_CASE("a read is waiting_for_r until R replied, then repairing while replies are outstanding") {
  Fixture f;
  const std::string key = f.KeyWithPrimaries({"n2", "n3", "n1"});
  Answer answer;
  f.coordinator.Get(key, /*r=*/2, kTimeoutMs, answer.Done());
  CHECK(f.coordinator.read_stage(1) == ReadStage::kWaitingForR);
  CHECK(StageName(ReadStage::kWaitingForR) == "waiting_for_r");
  HeldCall* read2 = f.router.Pending("n2", kRead);
  HeldCall* read3 = f.router.Pending("n3", kRead);
  REQUIRE(read2 != nullptr);
  REQUIRE(read3 != nullptr);
  CHECK(read2->request.replica_read().key() == key);

  f.RunStorage();  // n1 answers: it holds nothing (1 of 2)
  CHECK(answer.calls == 0);
  CHECK(f.coordinator.read_stage(1) == ReadStage::kWaitingForR);

  const Object value = Minted("n2.0000bbbb", "v");
  read2->Answer(ObjectReply(value));
  REQUIRE(answer.calls == 1);
  REQUIRE(answer.ok());
  CHECK(**answer.result == value);
  CHECK(f.coordinator.read_stage(1) == ReadStage::kRepairing);
  CHECK(StageName(ReadStage::kRepairing) == "repairing");
  CHECK(f.coordinator.in_progress() == 1);
  CHECK(f.router.Count(kSync) == 0);  // repairs wait for every reply

  read3->Answer(ObjectReply(Object{}));  // n3 is missing it too
  CHECK(!f.coordinator.read_stage(1).has_value());
  CHECK(f.coordinator.in_progress() == 0);
  HeldCall* repair3 = f.router.Pending("n3", kSync);
  REQUIRE(repair3 != nullptr);
  CHECK(ObjectOf(repair3->request.replica_sync().object()) == value);
  CHECK(f.router.Pending("n2", kSync) == nullptr);  // n2 is up to date
  f.RunStorage();
  CHECK(f.Stored(key) == value);  // this node's replica was repaired too
  CHECK(f.coordinator.stats().read_repairs == 2);
  CHECK(answer.calls == 1);
}

TEST_CASE("read repair sends the merge to a stale replica after answering") {
  Fixture f;
  const std::string key = f.KeyWithPrimaries({"n2", "n3", "n1"});
  const Object old_value = Minted("n2.0000bbbb", "old");
  const Object new_value = Minted("n2.0000bbbb", "new", old_value);
  f.Preload(key, new_value);

  Answer answer;
  f.coordinator.Get(key, /*r=*/2, kTimeoutMs, answer.Done());
  f.RunStorage();
  f.router.Pending("n2", kRead)->Answer(ObjectReply(new_value));
  REQUIRE(answer.calls == 1);
  REQUIRE(answer.ok());
  CHECK(**answer.result == new_value);
  CHECK(f.router.Count(kSync) == 0);

  f.router.Pending("n3", kRead)->Answer(ObjectReply(old_value));  // n3 is stale
  HeldCall* repair = f.router.Pending("n3", kSync);
  REQUIRE(repair != nullptr);
  CHECK(repair->request.replica_sync().key() == key);
  CHECK(repair->request.replica_sync().hint_for().empty());
  CHECK(ObjectOf(repair->request.replica_sync().object()) == new_value);
  CHECK(f.router.Count(kSync) == 1);  // only the stale one
  CHECK(f.coordinator.stats().read_repairs == 1);
}

TEST_CASE("concurrent replies are merged into siblings for the answer and the repair") {
  Fixture f;
  const std::string key = f.KeyWithPrimaries({"n2", "n3", "n1"});
  const Object a = Minted("n2.0000bbbb", "a");
  const Object b = Minted("n3.0000cccc", "b");
  Answer answer;
  f.coordinator.Get(key, /*r=*/3, kTimeoutMs, answer.Done());
  f.RunStorage();
  f.router.Pending("n2", kRead)->Answer(ObjectReply(a));
  f.router.Pending("n3", kRead)->Answer(ObjectReply(b));
  REQUIRE(answer.ok());
  CHECK(**answer.result == dvv::Sync(a, b));
  CHECK((*answer.result)->siblings.size() == 2);
  f.RunStorage();
  CHECK(f.Stored(key) == dvv::Sync(a, b));
  CHECK(f.router.Count(kSync) == 2);  // both remote replicas lack the other's sibling
}

TEST_CASE("a read short of R at its deadline times out in waiting_for_r: N of R") {
  Fixture f;
  const std::string key = f.KeyWithPrimaries({"n2", "n3", "n1"});
  Answer answer;
  f.coordinator.Get(key, /*r=*/2, kTimeoutMs, answer.Done());
  f.RunFor(kTimeoutMs - 1);
  CHECK(answer.calls == 0);
  f.RunFor(kPastDeadlineMs - (kTimeoutMs - 1));
  REQUIRE(answer.calls == 1);
  CHECK(answer.code() == Code::kTimeout);
  CHECK(answer.message().find("1 of 2") != std::string::npos);
  CHECK(f.coordinator.stats().timeouts_waiting_for_r == 1);
  CHECK(f.coordinator.stats().timeouts_repairing == 0);
  CHECK(f.coordinator.in_progress() == 0);
}

TEST_CASE("a read answered but missing a reply at its deadline ends in repairing, repairing what came") {
  Fixture f;
  const std::string key = f.KeyWithPrimaries({"n2", "n3", "n1"});
  const Object value = Minted("n2.0000bbbb", "v");
  Answer answer;
  f.coordinator.Get(key, /*r=*/2, kTimeoutMs, answer.Done());
  f.RunStorage();
  f.router.Pending("n2", kRead)->Answer(ObjectReply(value));
  REQUIRE(answer.ok());
  CHECK(f.coordinator.read_stage(1) == ReadStage::kRepairing);

  f.RunFor(kPastDeadlineMs);  // n3 never answers
  CHECK(answer.calls == 1);   // answered once, OK: the deadline does not answer again
  CHECK(f.coordinator.stats().timeouts_repairing == 1);
  CHECK(f.coordinator.stats().timeouts_waiting_for_r == 0);
  CHECK(!f.coordinator.read_stage(1).has_value());
  CHECK(f.coordinator.in_progress() == 0);
  f.RunStorage();
  CHECK(f.Stored(key) == value);                    // n1 replied empty: repaired
  CHECK(f.router.Pending("n3", kSync) == nullptr);  // n3 never replied: not repaired
}

TEST_CASE("a fallback's empty reply does not satisfy R=1 while a primary is pending") {
  Fixture f(Options(/*n=*/2));
  f.cluster.down = {"n3"};
  // Primaries n2, n3; n3 down, so n1 (this node) is asked as its fallback.
  const std::string key = f.KeyWithPrimaries({"n2", "n3"});
  const Object value = Minted("n2.0000bbbb", "v");

  SUBCASE("the primary's reply answers") {
    Answer answer;
    f.coordinator.Get(key, /*r=*/1, kTimeoutMs, answer.Done());
    f.RunStorage();  // the fallback replied: it holds nothing
    CHECK(answer.calls == 0);
    CHECK(f.coordinator.read_stage(1) == ReadStage::kWaitingForR);
    f.router.Pending("n2", kRead)->Answer(ObjectReply(value));
    REQUIRE(answer.calls == 1);
    REQUIRE(answer.ok());
    CHECK(**answer.result == value);
    // The fallback is never read-repaired: what it holds is hints.
    f.RunStorage();
    CHECK(f.Stored(key).empty());
  }
  SUBCASE("once the primary failed, the fallback's reply counts") {
    Answer answer;
    f.coordinator.Get(key, /*r=*/1, kTimeoutMs, answer.Done());
    f.RunStorage();
    CHECK(answer.calls == 0);
    f.router.Pending("n2", kRead)->Answer(net::PeerErrorResponse(Status::Unavailable("going away")));
    REQUIRE(answer.calls == 1);
    REQUIRE(answer.ok());
    CHECK((*answer.result)->empty());
  }
  SUBCASE("at the deadline, the fallback's reply counts") {
    Answer answer;
    f.coordinator.Get(key, /*r=*/1, kTimeoutMs, answer.Done());
    f.RunFor(kPastDeadlineMs);
    REQUIRE(answer.calls == 1);
    CHECK(answer.ok());
  }
}

// ---- Refusals --------------------------------------------------------------

TEST_CASE("a node that is not Ready answers UNAVAILABLE at once and sends nothing") {
  Fixture f;
  f.cluster.ready = false;
  Answer read;
  Answer write;
  f.coordinator.Get("k", 0, kTimeoutMs, read.Done());
  f.coordinator.Put("k", VersionVector{}, Value("v"), 0, kTimeoutMs, write.Done());
  REQUIRE(read.calls == 1);
  REQUIRE(write.calls == 1);
  CHECK(read.code() == Code::kUnavailable);
  CHECK(write.code() == Code::kUnavailable);
  CHECK(f.router.calls.empty());
  CHECK(f.coordinator.in_progress() == 0);
  f.RunFor(kPastDeadlineMs);
  CHECK(read.calls == 1);
  CHECK(write.calls == 1);
}

TEST_CASE("R or W above N is INVALID_ARGUMENT") {
  Fixture f;
  Answer read;
  Answer write;
  f.coordinator.Get("k", /*r=*/4, kTimeoutMs, read.Done());
  f.coordinator.Put("k", VersionVector{}, Value("v"), /*w=*/4, kTimeoutMs, write.Done());
  REQUIRE(read.calls == 1);
  REQUIRE(write.calls == 1);
  CHECK(read.code() == Code::kInvalidArgument);
  CHECK(write.code() == Code::kInvalidArgument);
  CHECK(read.message().find("N=3") != std::string::npos);
  CHECK(write.message().find("N=3") != std::string::npos);
  CHECK(f.router.calls.empty());

  // N is capped by the nodes in the ring: n=5 over three nodes is N=3.
  Fixture big(Options(/*n=*/5));
  Answer capped;
  big.coordinator.Get("k", /*r=*/4, kTimeoutMs, capped.Done());
  REQUIRE(capped.calls == 1);
  CHECK(capped.code() == Code::kInvalidArgument);
}

}  // namespace
}  // namespace dynkv::quorum
