// Quorum tallies: what a request sends, when it has enough, what it repairs,
// and which error a client gets when it cannot have enough.
#include "quorum/tally.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <random>
#include <string>
#include <vector>

#include "dvv_test_util.h"
#include "quorum/dvv.h"
#include "ring/ring.h"

namespace dynkv::quorum {
namespace {

// A key at ring position 50 has primaries n1, n2, n3 (tokens 100, 200, 300);
// n4 (token 400) is the only node that can stand in for one of them.
constexpr uint64_t kKeyPosition = 50;
constexpr uint32_t kN = 3;
constexpr uint64_t kTimeoutMs = 5000;
const std::vector<std::string> kPrimaries = {"n1", "n2", "n3"};

ring::Ring MakeRing(size_t nodes) {
  ring::TokenMap tokens;
  for (size_t i = 1; i <= nodes; ++i) tokens["n" + std::to_string(i)] = {100 * i};
  return ring::Ring(tokens);
}

bool Contains(const std::vector<std::string>& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

enum class Mode { kStrict3, kSloppy4, kSloppy3 };
// How a replica is down: the failure detector knows it (so the list marks it
// down), or it looks up but never answers, or it answers with an error.
enum class Down { kKnown, kSilent, kFailing };
enum class Op { kRead, kWrite, kWriteHintsDoNotCount };

const char* Name(Mode m) {
  return m == Mode::kStrict3   ? "strict, 3 nodes"
         : m == Mode::kSloppy4 ? "sloppy, 4 nodes"
                               : "sloppy, 3 nodes";
}
const char* Name(Down d) {
  return d == Down::kKnown ? "known down" : d == Down::kSilent ? "silent" : "failing";
}
const char* Name(Op o) {
  return o == Op::kRead ? "read" : o == Op::kWrite ? "write" : "write, hinted writes not counted";
}

// The key's list as the driver builds it from the ring.
std::vector<ring::Replica> ListFor(Mode mode, const std::vector<std::string>& known_down) {
  const ring::Ring ring = MakeRing(mode == Mode::kSloppy4 ? 4 : 3);
  const ring::IsUp is_up = [&](const std::string& id) { return !Contains(known_down, id); };
  const auto strict = ring.PreferenceList(kKeyPosition, kN, is_up, ring::Quorum::kStrict);
  if (mode == Mode::kStrict3) return strict;
  return WithUncoveredPrimaries(ring.PreferenceList(kKeyPosition, kN, is_up, ring::Quorum::kSloppy), strict);
}

// One row of the rule table: for 0, 1 and 2 down primaries, the largest R or
// W that succeeds; every larger level fails with `failure`.
struct Rule {
  Mode mode;
  Down down;
  Op op;
  std::array<uint32_t, 3> max_ok_by_down;
  Code failure;
};

// The rules of the replication issue: UNAVAILABLE when too few replicas are
// alive to try (or errors make the quorum unreachable), TIMEOUT when too few
// answer in time. A fallback (n4) stands in for one down primary and counts
// unless hinted writes are configured not to; with 3 nodes there is none.
const std::vector<Rule> kRules = {
    {Mode::kStrict3, Down::kKnown, Op::kRead, {3, 2, 1}, Code::kUnavailable},
    {Mode::kStrict3, Down::kKnown, Op::kWrite, {3, 2, 1}, Code::kUnavailable},
    {Mode::kStrict3, Down::kKnown, Op::kWriteHintsDoNotCount, {3, 2, 1}, Code::kUnavailable},
    {Mode::kStrict3, Down::kSilent, Op::kRead, {3, 2, 1}, Code::kTimeout},
    {Mode::kStrict3, Down::kSilent, Op::kWrite, {3, 2, 1}, Code::kTimeout},
    {Mode::kStrict3, Down::kSilent, Op::kWriteHintsDoNotCount, {3, 2, 1}, Code::kTimeout},
    {Mode::kStrict3, Down::kFailing, Op::kRead, {3, 2, 1}, Code::kUnavailable},
    {Mode::kStrict3, Down::kFailing, Op::kWrite, {3, 2, 1}, Code::kUnavailable},
    {Mode::kStrict3, Down::kFailing, Op::kWriteHintsDoNotCount, {3, 2, 1}, Code::kUnavailable},
    {Mode::kSloppy4, Down::kKnown, Op::kRead, {3, 3, 2}, Code::kUnavailable},
    {Mode::kSloppy4, Down::kKnown, Op::kWrite, {3, 3, 2}, Code::kUnavailable},
    {Mode::kSloppy4, Down::kKnown, Op::kWriteHintsDoNotCount, {3, 2, 1}, Code::kUnavailable},
    {Mode::kSloppy4, Down::kSilent, Op::kRead, {3, 2, 1}, Code::kTimeout},
    {Mode::kSloppy4, Down::kSilent, Op::kWrite, {3, 2, 1}, Code::kTimeout},
    {Mode::kSloppy4, Down::kSilent, Op::kWriteHintsDoNotCount, {3, 2, 1}, Code::kTimeout},
    {Mode::kSloppy4, Down::kFailing, Op::kRead, {3, 2, 1}, Code::kUnavailable},
    {Mode::kSloppy4, Down::kFailing, Op::kWrite, {3, 2, 1}, Code::kUnavailable},
    {Mode::kSloppy4, Down::kFailing, Op::kWriteHintsDoNotCount, {3, 2, 1}, Code::kUnavailable},
    {Mode::kSloppy3, Down::kKnown, Op::kRead, {3, 2, 1}, Code::kUnavailable},
    {Mode::kSloppy3, Down::kKnown, Op::kWrite, {3, 2, 1}, Code::kUnavailable},
    {Mode::kSloppy3, Down::kKnown, Op::kWriteHintsDoNotCount, {3, 2, 1}, Code::kUnavailable},
    {Mode::kSloppy3, Down::kSilent, Op::kRead, {3, 2, 1}, Code::kTimeout},
    {Mode::kSloppy3, Down::kSilent, Op::kWrite, {3, 2, 1}, Code::kTimeout},
    {Mode::kSloppy3, Down::kSilent, Op::kWriteHintsDoNotCount, {3, 2, 1}, Code::kTimeout},
    {Mode::kSloppy3, Down::kFailing, Op::kRead, {3, 2, 1}, Code::kUnavailable},
    {Mode::kSloppy3, Down::kFailing, Op::kWrite, {3, 2, 1}, Code::kUnavailable},
    {Mode::kSloppy3, Down::kFailing, Op::kWriteHintsDoNotCount, {3, 2, 1}, Code::kUnavailable},
};

// Every primary is either written or hinted, through a fallback or a live
// replica, under sloppy quorum; nothing is hinted under strict quorum.
void CheckHintCoverage(Mode mode, const WritePlan& plan) {
  for (const std::string& primary : kPrimaries) {
    const bool written = std::any_of(plan.targets.begin(), plan.targets.end(), [&](const WriteTarget& t) {
      return t.node_id == primary || t.hint_for == primary;
    });
    const bool kept = std::any_of(plan.kept_hints.begin(), plan.kept_hints.end(),
                                  [&](const KeptHint& h) { return h.hint_for == primary; });
    if (mode == Mode::kStrict3) {
      CHECK(!kept);
    } else {
      CHECK((written || kept));
    }
  }
}

// Runs one request against the given down replicas, feeding events in a
// seeded random order, and returns kOk or the client's error code.
Code Run(Mode mode, Down down, Op op, uint32_t level, const std::vector<std::string>& down_nodes,
         std::mt19937_64& rng) {
  const auto list = ListFor(mode, down == Down::kKnown ? down_nodes : std::vector<std::string>{});
  auto is_broken = [&](const std::string& id) { return down != Down::kKnown && Contains(down_nodes, id); };
  std::vector<std::string> answering;
  const Status error = Status::Unavailable("connection refused");

  if (op == Op::kRead) {
    auto plan = PlanRead(list, kN, level);
    if (!plan.ok()) return plan.status().code();
    ReadTally tally(*plan);
    for (const ReadTarget& t : plan->targets) answering.push_back(t.node_id);
    std::shuffle(answering.begin(), answering.end(), rng);
    for (const std::string& id : answering) {
      if (!is_broken(id)) tally.OnReply(id, Object{});
      if (is_broken(id) && down == Down::kFailing) tally.OnError(id, error);
    }
    tally.OnDeadline(kTimeoutMs);
    CHECK(tally.finished());
    return tally.state() == TallyState::kSucceeded ? Code::kOk : tally.status().code();
  }

  WriteOptions options{kN, level, mode != Mode::kStrict3, op == Op::kWrite};
  auto plan = PlanWrite(list, options);
  if (!plan.ok()) return plan.status().code();
  CheckHintCoverage(mode, *plan);
  WriteTally tally(*plan);
  for (const WriteTarget& t : plan->targets) answering.push_back(t.node_id);
  std::shuffle(answering.begin(), answering.end(), rng);
  for (const std::string& id : answering) {
    if (!is_broken(id)) tally.OnAck(id);
    if (is_broken(id) && down == Down::kFailing) tally.OnError(id, error);
  }
  tally.OnDeadline(kTimeoutMs);
  return tally.state() == TallyState::kSucceeded ? Code::kOk : tally.status().code();
}

TEST_CASE("every R and W in 1..3 with 0, 1 or 2 of 3 replicas down gives the outcome the rules say") {
  const std::vector<std::vector<std::string>> down_sets[3] = {
      {{}},
      {{"n1"}, {"n2"}, {"n3"}},
      {{"n1", "n2"}, {"n1", "n3"}, {"n2", "n3"}},
  };
  const uint64_t seed = dvv_test::BaseSeed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  int cells = 0;
  for (const Rule& rule : kRules) {
    for (uint32_t down_count = 0; down_count < 3; ++down_count) {
      for (const auto& down_nodes : down_sets[down_count]) {
        for (uint32_t level = 1; level <= 3; ++level, ++cells) {
          const Code expected = level <= rule.max_ok_by_down[down_count] ? Code::kOk : rule.failure;
          INFO(Name(rule.mode), ", ", Name(rule.down), ", ", Name(rule.op), ", level ", level,
               ", down: ", down_nodes.size());
          CHECK(CodeName(Run(rule.mode, rule.down, rule.op, level, down_nodes, rng)) == CodeName(expected));
        }
      }
    }
  }
  CHECK(cells == 27 * 7 * 3);
}

TEST_CASE("ResolveQuorum maps 0, ONE, QUORUM and ALL and rejects levels above N") {
  CHECK(*ResolveQuorum(0, 2, 3, "w") == 2);
  CHECK(*ResolveQuorum(0, 5, 3, "w") == 3);  // the default is capped at N
  CHECK(*ResolveQuorum(1, 2, 3, "r") == 1);
  CHECK(*ResolveQuorum(3, 2, 3, "r") == 3);
  CHECK(*ResolveQuorum(kQuorumLevel, 2, 3, "r") == 2);
  CHECK(*ResolveQuorum(kQuorumLevel, 2, 5, "r") == 3);
  CHECK(*ResolveQuorum(kQuorumLevel, 1, 1, "r") == 1);
  CHECK(*ResolveQuorum(kAllLevel, 2, 5, "w") == 5);

  const auto too_many = ResolveQuorum(4, 2, 3, "r");
  REQUIRE(!too_many.ok());
  CHECK(too_many.status().code() == Code::kInvalidArgument);
  CHECK(too_many.status().message() == "r=4 exceeds N=3 replicas");
  CHECK(ResolveQuorum(2, 1, 1, "w").status().message() ==
        "w=2 exceeds N=1 replicas (this node is a cluster of one)");
  CHECK(ResolveQuorum(kQuorumLevel + 1, 2, 3, "w").status().code() == Code::kInvalidArgument);
  CHECK(ResolveQuorum(1, 1, 0, "w").status().code() == Code::kInvalidArgument);
}

TEST_CASE("a hint kept by a live primary does not count towards W") {
  // 3 nodes, N=3, n2 down: nobody outside the list can stand in for it.
  const auto list = ListFor(Mode::kSloppy3, {"n2"});
  auto plan = PlanWrite(list, {kN, 2, true, true});
  REQUIRE(plan.ok());
  CHECK(plan->targets == std::vector<WriteTarget>{{"n1", "", true}, {"n3", "", true}});
  CHECK(plan->kept_hints == std::vector<KeptHint>{{"n1", "n2"}});

  WriteTally tally(*plan);
  tally.OnAck("n1");  // n1 stored its copy and the hint: one ack, not two
  CHECK(tally.state() == TallyState::kWaiting);
  tally.OnAck("n3");
  CHECK(tally.state() == TallyState::kSucceeded);
  CHECK(tally.acked() == std::vector<std::string>{"n1", "n3"});

  const auto all = PlanWrite(list, {kN, 3, true, true});
  REQUIRE(!all.ok());
  CHECK(all.status().code() == Code::kUnavailable);
  CHECK(all.status().message() ==
        "too few replicas alive to try: w=3 but only 2 of N=3 replicas can answer (down: n2)");
}

TEST_CASE("a fallback's hint counts towards W unless hinted writes are configured not to count") {
  const auto list = ListFor(Mode::kSloppy4, {"n2"});
  auto counted = PlanWrite(list, {kN, 3, true, true});
  REQUIRE(counted.ok());
  CHECK(counted->targets == std::vector<WriteTarget>{{"n1", "", true}, {"n3", "", true}, {"n4", "n2", true}});
  CHECK(counted->kept_hints.empty());

  CHECK(PlanWrite(list, {kN, 3, true, false}).status().code() == Code::kUnavailable);
  auto uncounted = PlanWrite(list, {kN, 2, true, false});
  REQUIRE(uncounted.ok());
  CHECK(uncounted->targets ==
        std::vector<WriteTarget>{{"n1", "", true}, {"n3", "", true}, {"n4", "n2", false}});
  WriteTally tally(*uncounted);
  tally.OnAck("n4");
  tally.OnAck("n1");
  CHECK(tally.state() == TallyState::kWaiting);
  CHECK(tally.counted_acks() == 1);
  tally.OnAck("n3");
  CHECK(tally.state() == TallyState::kSucceeded);
}

TEST_CASE("strict quorum writes no hints and never uses fallbacks") {
  auto plan = PlanWrite(ListFor(Mode::kSloppy4, {"n2"}), {kN, 2, false, true});
  REQUIRE(plan.ok());
  CHECK(plan->targets == std::vector<WriteTarget>{{"n1", "", true}, {"n3", "", true}});
  CHECK(plan->kept_hints.empty());
}

TEST_CASE("a write that times out says how many acknowledged and that it is not rolled back") {
  auto plan = PlanWrite(ListFor(Mode::kStrict3, {}), {kN, 2, false, true});
  REQUIRE(plan.ok());
  WriteTally tally(*plan);
  tally.OnAck("n2");
  tally.OnAck("n2");  // a repeated ack counts once
  tally.OnAck("n9");  // not a target
  CHECK(tally.state() == TallyState::kWaiting);
  tally.OnDeadline(kTimeoutMs);
  CHECK(tally.state() == TallyState::kFailed);
  CHECK(tally.status().code() == Code::kTimeout);
  CHECK(tally.status().message() ==
        "1 of 2 required replicas acknowledged within 5000 ms; the write may still be applied");
  tally.OnAck("n3");  // too late: the client already has its answer
  CHECK(tally.state() == TallyState::kFailed);
}

TEST_CASE("a write fails as soon as errors make W unreachable, with the replicas' code when they agree") {
  auto plan = PlanWrite(ListFor(Mode::kStrict3, {}), {kN, 2, false, true});
  REQUIRE(plan.ok());
  WriteTally same(*plan);
  same.OnAck("n1");
  same.OnError("n2", Status::StorageError("disk full"));
  CHECK(same.state() == TallyState::kWaiting);  // n3 may still ack
  same.OnError("n3", Status::StorageError("disk full"));
  CHECK(same.state() == TallyState::kFailed);
  CHECK(same.status().code() == Code::kStorageError);
  CHECK(same.status().message() ==
        "1 of 2 required replicas acknowledged and 2 failed, so W=2 cannot be reached (n2: STORAGE_ERROR: "
        "disk full; n3: STORAGE_ERROR: disk full); the write may still be applied");

  WriteTally mixed(*plan);
  mixed.OnError("n1", Status::StorageError("disk full"));
  mixed.OnError("n3", Status::Unavailable("connection refused"));
  CHECK(mixed.status().code() == Code::kUnavailable);

  WriteTally after_success(*plan);
  after_success.OnAck("n3");
  after_success.OnAck("n1");
  after_success.OnError("n2", Status::StorageError("disk full"));
  after_success.OnDeadline(kTimeoutMs);
  CHECK(after_success.state() == TallyState::kSucceeded);
  CHECK(after_success.status().ok());
}

// Objects written by two replicas' actors.
const ActorId kActor1 = "n1.0a";
const ActorId kActor2 = "n2.0b";

Sibling Value(const std::string& value) {
  Sibling s;
  s.value = value;
  return s;
}

std::vector<std::string> Values(const Object& object) {
  std::vector<std::string> values;
  for (const Sibling& s : object.siblings) values.push_back(s.value);
  std::sort(values.begin(), values.end());
  return values;
}

ReadPlan FullRead(uint32_t r) {
  auto plan = PlanRead(ListFor(Mode::kStrict3, {}), kN, r);
  REQUIRE(plan.ok());
  return *plan;
}

TEST_CASE("a read keeps concurrent siblings from different replicas and drops dominated versions") {
  const Object x = dvv::Update({}, {}, kActor1, Value("x"));
  const Object y = dvv::Update({}, {}, kActor2, Value("y"));   // concurrent with x
  const Object z = dvv::Update(x, x.vv, kActor1, Value("z"));  // replaces x

  ReadTally concurrent(FullRead(2));
  concurrent.OnReply("n1", x);
  CHECK(concurrent.state() == TallyState::kWaiting);
  concurrent.OnReply("n2", y);
  CHECK(concurrent.state() == TallyState::kSucceeded);
  CHECK(Values(concurrent.merged()) == std::vector<std::string>{"x", "y"});

  ReadTally dominated(FullRead(2));
  dominated.OnReply("n3", x);
  dominated.OnReply("n1", z);
  CHECK(dominated.state() == TallyState::kSucceeded);
  CHECK(Values(dominated.merged()) == std::vector<std::string>{"z"});
  CHECK(dominated.merged().vv == z.vv);
}

TEST_CASE("read repair targets exactly the stale and missing primaries, judged by the final merge") {
  const Object x = dvv::Update({}, {}, kActor1, Value("x"));
  const Object z = dvv::Update(x, x.vv, kActor1, Value("z"));

  ReadTally tally(FullRead(1));
  tally.OnReply("n2", x);
  CHECK(tally.state() == TallyState::kSucceeded);  // R=1: the client gets x
  CHECK(Values(tally.merged()) == std::vector<std::string>{"x"});
  CHECK(!tally.finished());
  tally.OnReply("n1", z);         // a late, newer reply makes n2 stale
  tally.OnReply("n3", Object{});  // n3 has nothing
  CHECK(tally.finished());
  CHECK(tally.merged() == z);
  CHECK(tally.RepairTargets() == std::vector<std::string>{"n2", "n3"});

  // Up-to-date replicas, errors and fallbacks are not repaired.
  auto plan = PlanRead(ListFor(Mode::kSloppy4, {"n2"}), kN, 2);
  REQUIRE(plan.ok());
  CHECK(plan->targets == std::vector<ReadTarget>{{"n1", false}, {"n3", false}, {"n4", true}});
  ReadTally partial(*plan);
  partial.OnReply("n1", z);
  partial.OnReply("n4", Object{});
  partial.OnError("n3", Status::StorageError("read failed"));
  CHECK(partial.finished());
  CHECK(partial.state() == TallyState::kSucceeded);
  CHECK(partial.RepairTargets().empty());
}

TEST_CASE("siblings held apart are repaired on both replicas, not on the one holding both") {
  const Object x = dvv::Update({}, {}, kActor1, Value("x"));
  const Object y = dvv::Update({}, {}, kActor2, Value("y"));
  ReadTally tally(FullRead(3));
  tally.OnReply("n3", dvv::Sync(x, y));
  tally.OnReply("n2", y);
  tally.OnReply("n1", x);
  CHECK(tally.finished());
  CHECK(tally.RepairTargets() == std::vector<std::string>{"n1", "n2"});
}

TEST_CASE("a read that times out says how many replied, and still repairs what it saw") {
  const Object x = dvv::Update({}, {}, kActor1, Value("x"));
  ReadTally tally(FullRead(3));
  tally.OnReply("n1", x);
  tally.OnReply("n2", Object{});
  CHECK(!tally.finished());
  tally.OnDeadline(kTimeoutMs);
  CHECK(tally.finished());
  CHECK(tally.status().code() == Code::kTimeout);
  CHECK(tally.status().message() == "2 of 3 required replicas replied within 5000 ms");
  CHECK(tally.RepairTargets() == std::vector<std::string>{"n2"});
  tally.OnReply("n3", Object{});  // after the deadline: ignored
  CHECK(tally.replies() == 2);
}

TEST_CASE("a read fails early when errors leave too few replicas to reach R") {
  ReadTally tally(FullRead(2));
  tally.OnError("n1", Status::Unavailable("connection refused"));
  CHECK(tally.state() == TallyState::kWaiting);
  tally.OnError("n2", Status::Unavailable("connection reset"));
  CHECK(tally.state() == TallyState::kFailed);
  CHECK(tally.status().code() == Code::kUnavailable);
  CHECK(
      tally.status().message() ==
      "0 of 2 required replicas replied and 2 failed, so R=2 cannot be reached (n1: UNAVAILABLE: connection "
      "refused; n2: UNAVAILABLE: connection reset)");
  CHECK(!tally.finished());  // n3 may still answer and be repaired
}

// 4 nodes, n2 down: the read asks primaries n1 and n3 and n4, the fallback
// that stands in for n2 and holds only the writes made since.
ReadPlan ReadWithFallback(uint32_t r) {
  auto plan = PlanRead(ListFor(Mode::kSloppy4, {"n2"}), kN, r);
  REQUIRE(plan.ok());
  REQUIRE(plan->targets == std::vector<ReadTarget>{{"n1", false}, {"n3", false}, {"n4", true}});
  return *plan;
}

TEST_CASE("a fallback's not found does not answer R=1 while a primary may answer; the primary's value does") {
  const Object x = dvv::Update({}, {}, kActor1, Value("x"));
  ReadTally tally(ReadWithFallback(1));
  tally.OnReply("n4", Object{});  // first, and empty: the write predates the fallback
  CHECK(tally.state() == TallyState::kWaiting);
  CHECK(tally.replies() == 1);
  CHECK(tally.counted_replies() == 0);
  tally.OnReply("n1", x);
  CHECK(tally.state() == TallyState::kSucceeded);
  CHECK(tally.merged() == x);
  tally.OnReply("n3", x);
  CHECK(tally.finished());
  CHECK(tally.merged() == x);
  CHECK(tally.RepairTargets().empty());  // n4 is a fallback: handoff, not repair, serves it
}

TEST_CASE("a fallback's reply that did not count is still in the merge the client gets") {
  const Object x = dvv::Update({}, {}, kActor1, Value("x"));
  // Written through the fallback while n2 was down, concurrent with x.
  const Object y = dvv::Update({}, {}, kActor2, Value("y"));
  ReadTally tally(ReadWithFallback(1));
  tally.OnReply("n4", y);
  CHECK(tally.state() == TallyState::kWaiting);
  CHECK(Values(tally.merged()) == std::vector<std::string>{"y"});
  tally.OnReply("n3", x);
  CHECK(tally.state() == TallyState::kSucceeded);
  CHECK(Values(tally.merged()) == std::vector<std::string>{"x", "y"});
}

TEST_CASE("a fallback's reply counts once every primary has answered, failures included") {
  const Object x = dvv::Update({}, {}, kActor1, Value("x"));
  ReadTally all_failed(ReadWithFallback(1));
  all_failed.OnReply("n4", x);
  all_failed.OnError("n1", Status::Unavailable("connection refused"));
  CHECK(all_failed.state() == TallyState::kWaiting);  // n3 may still answer
  all_failed.OnError("n3", Status::StorageError("read failed"));
  CHECK(all_failed.state() == TallyState::kSucceeded);
  CHECK(all_failed.status().ok());
  CHECK(all_failed.merged() == x);
  CHECK(all_failed.finished());

  ReadTally one_failed(ReadWithFallback(2));
  one_failed.OnReply("n4", Object{});
  one_failed.OnReply("n1", x);
  CHECK(one_failed.state() == TallyState::kWaiting);  // n4 waits for n3
  CHECK(one_failed.counted_replies() == 1);
  one_failed.OnError("n3", Status::Unavailable("connection reset"));
  CHECK(one_failed.state() == TallyState::kSucceeded);
  CHECK(one_failed.counted_replies() == 2);
  CHECK(one_failed.merged() == x);

  // Replies from every primary: the fallback's counts too, after them.
  ReadTally answered(ReadWithFallback(3));
  answered.OnReply("n4", Object{});
  answered.OnReply("n1", x);
  answered.OnReply("n3", x);
  CHECK(answered.state() == TallyState::kSucceeded);
}

TEST_CASE("on the deadline a fallback's reply counts: the primaries could not answer in time") {
  const Object x = dvv::Update({}, {}, kActor1, Value("x"));
  ReadTally alone(ReadWithFallback(1));
  alone.OnReply("n4", x);
  CHECK(alone.state() == TallyState::kWaiting);
  alone.OnDeadline(kTimeoutMs);
  CHECK(alone.state() == TallyState::kSucceeded);
  CHECK(alone.status().ok());
  CHECK(alone.merged() == x);
  CHECK(alone.finished());

  ReadTally with_primary(ReadWithFallback(2));
  with_primary.OnReply("n1", x);
  with_primary.OnReply("n4", Object{});
  CHECK(with_primary.state() == TallyState::kWaiting);
  with_primary.OnDeadline(kTimeoutMs);
  CHECK(with_primary.state() == TallyState::kSucceeded);
  CHECK(with_primary.merged() == x);

  ReadTally too_few(ReadWithFallback(2));
  too_few.OnReply("n4", x);
  too_few.OnDeadline(kTimeoutMs);
  CHECK(too_few.state() == TallyState::kFailed);
  CHECK(too_few.status().code() == Code::kTimeout);
  CHECK(too_few.status().message() == "1 of 2 required replicas replied within 5000 ms");
}

TEST_CASE("a read with fallbacks fails early only when R is out of reach counting every fallback") {
  ReadTally fallback_left(ReadWithFallback(1));
  fallback_left.OnError("n1", Status::Unavailable("connection refused"));
  fallback_left.OnError("n3", Status::Unavailable("connection refused"));
  CHECK(fallback_left.state() == TallyState::kWaiting);  // n4 may still answer
  fallback_left.OnReply("n4", Object{});
  CHECK(fallback_left.state() == TallyState::kSucceeded);

  ReadTally unreachable(ReadWithFallback(2));
  unreachable.OnError("n1", Status::Unavailable("connection refused"));
  unreachable.OnReply("n4", Object{});
  CHECK(unreachable.state() == TallyState::kWaiting);  // n3 and n4 would make R=2
  unreachable.OnError("n3", Status::Unavailable("connection reset"));
  CHECK(unreachable.state() == TallyState::kFailed);
  CHECK(unreachable.status().code() == Code::kUnavailable);
  CHECK(
      unreachable.status().message() ==
      "1 of 2 required replicas replied and 2 failed, so R=2 cannot be reached (n1: UNAVAILABLE: connection "
      "refused; n3: UNAVAILABLE: connection reset)");

  ReadTally all(ReadWithFallback(3));
  all.OnError("n4", Status::StorageError("read failed"));
  CHECK(all.state() == TallyState::kFailed);
  CHECK(all.status().code() == Code::kStorageError);
}

TEST_CASE("a read whose targets are all fallbacks counts them at once") {
  // 6 nodes, the key's primaries n1, n2 and n3 all down: n4 and n5 stand in.
  const ring::Ring ring = MakeRing(6);
  const ring::IsUp is_up = [](const std::string& id) { return id != "n1" && id != "n2" && id != "n3"; };
  auto plan = PlanRead(ring.PreferenceList(kKeyPosition, kN, is_up, ring::Quorum::kSloppy), kN, 1);
  REQUIRE(plan.ok());
  REQUIRE(std::all_of(plan->targets.begin(), plan->targets.end(),
                      [](const ReadTarget& t) { return t.fallback; }));
  REQUIRE(!plan->targets.empty());
  ReadTally tally(*plan);
  tally.OnReply(plan->targets.front().node_id, Object{});
  CHECK(tally.state() == TallyState::kSucceeded);
}

}  // namespace
}  // namespace dynkv::quorum
