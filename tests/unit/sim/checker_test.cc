// The simulator's checker judges handmade histories as tools/chaos/checker.py
// does (the cases of tests/chaos/test_checker.py): lost, recovered,
// unacknowledged and invented set elements, unread keys, and stale or
// invented register values.
#include "sim/checker.h"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

namespace dynkv::sim {
namespace {

constexpr int kFinalClient = -1;

Op MakeOp(int client, OpKind kind, std::string key, int64_t start_ms, int64_t end_ms, bool ok) {
  Op op;
  op.client = client;
  op.kind = kind;
  op.key = std::move(key);
  op.node = "node1";
  op.start_ms = start_ms;
  op.end_ms = end_ms;
  op.ok = ok;
  op.result = ok ? "ok" : "TIMEOUT";
  return op;
}

Op Write(int client, std::string key, int64_t start_ms, int64_t end_ms, std::string value, bool ok = true) {
  Op op = MakeOp(client, OpKind::kWrite, std::move(key), start_ms, end_ms, ok);
  op.value = std::move(value);
  return op;
}

Op Read(int client, std::string key, int64_t start_ms, int64_t end_ms, std::vector<std::string> values) {
  Op op = MakeOp(client, OpKind::kRead, std::move(key), start_ms, end_ms, true);
  op.values = std::move(values);
  return op;
}

Op FinalRead(std::string key, std::vector<std::string> values, bool ok = true) {
  Op op = MakeOp(kFinalClient, OpKind::kFinalRead, std::move(key), 9000, 9010, ok);
  op.values = std::move(values);
  return op;
}

// As set_history in test_checker.py: adds of elements "1".. to key "s",
// acknowledged or not as `acked` says, during a kill of node2, then one
// final read that returns `final_values`.
History SetHistory(const std::vector<std::string>& final_values, const std::vector<bool>& acked) {
  History history;
  history.workload = Workload::kSet;
  history.faults.push_back({"kill", "node2", 1000, 2500});
  for (size_t i = 1; i <= acked.size(); ++i) {
    const int64_t start = 500 * static_cast<int64_t>(i);
    Op add = MakeOp(static_cast<int>(i % 2), OpKind::kAdd, "s", start, start + 40, acked[i - 1]);
    add.value = std::to_string(i);
    history.ops.push_back(add);
  }
  history.ops.push_back(FinalRead("s", final_values));
  return history;
}

History RegisterHistory(std::vector<Op> ops, std::vector<FaultWindow> faults = {}) {
  History history;
  history.workload = Workload::kRegister;
  history.ops = std::move(ops);
  history.faults = std::move(faults);
  return history;
}

using Findings = std::vector<Finding>;

TEST_CASE("set: a clean history is valid and sorts out what unacknowledged adds did") {
  const Verdict verdict = Check(SetHistory({"1", "2", "4"}, {true, true, false, false}));
  CHECK(verdict.valid());
  CHECK(verdict.judgeable());
  CHECK(verdict.lost.empty());
  CHECK(verdict.invented.empty());
  // Element 4 failed yet was written; element 3 failed and is absent.
  CHECK(verdict.recovered == Findings{{"s", "4"}});
  CHECK(verdict.unacknowledged == Findings{{"s", "3"}});
}

TEST_CASE("set: an acknowledged add missing from the final read is lost") {
  const Verdict verdict = Check(SetHistory({"1", "3"}, {true, true, true}));
  CHECK_FALSE(verdict.valid());
  CHECK(verdict.lost == Findings{{"s", "2"}});
  CHECK(verdict.recovered.empty());
  CHECK(verdict.invented.empty());
}

TEST_CASE("set: an add acknowledged once is acknowledged, even if a retry of it failed") {
  History history = SetHistory({"1"}, {true, true});
  Op retry = history.ops[1];
  retry.ok = false;
  retry.result = "TIMEOUT";
  history.ops.insert(history.ops.begin() + 2, retry);
  const Verdict verdict = Check(history);
  CHECK(verdict.lost == Findings{{"s", "2"}});
  CHECK(verdict.unacknowledged.empty());
}

TEST_CASE("set: an element nobody added is invented") {
  const Verdict verdict = Check(SetHistory({"1", "2", "99"}, {true, true}));
  CHECK_FALSE(verdict.valid());
  CHECK(verdict.invented == Findings{{"s", "99"}});
  CHECK(verdict.lost.empty());
}

TEST_CASE("set: a key without a successful final read is unread, not judged") {
  History history = SetHistory({"1"}, {true});
  history.ops.back().ok = false;
  history.ops.back().result = "TIMEOUT";
  history.ops.back().values.clear();
  const Verdict verdict = Check(history);
  CHECK_FALSE(verdict.judgeable());
  CHECK(verdict.unread_keys == std::vector<std::string>{"s"});
  CHECK(verdict.lost.empty());  // element 1 is not judged lost without a read
}

TEST_CASE("set: the last successful final read of a key is the one judged") {
  History history = SetHistory({"1"}, {true, true});
  history.ops.push_back(FinalRead("s", {"1", "2"}));
  history.ops.push_back(FinalRead("s", {}, /*ok=*/false));
  CHECK(Check(history).lost.empty());
  history.ops.push_back(FinalRead("s", {"2"}));
  CHECK(Check(history).lost == Findings{{"s", "1"}});
}

TEST_CASE("register: a clean history is valid, and an unacknowledged write may be read") {
  const Verdict verdict = Check(RegisterHistory({
      Write(0, "r", 0, 10, "a1"),
      Write(1, "r", 5, 15, "b1", /*ok=*/false),
      Read(0, "r", 20, 30, {"a1", "b1"}),
      Read(1, "r", 40, 50, {"a1"}),
  }));
  CHECK(verdict.valid());
  CHECK(verdict.invented.empty());
  CHECK(verdict.stale.empty());
}

TEST_CASE("register: a value nobody wrote is invented") {
  const Verdict verdict = Check(RegisterHistory({
      Write(0, "r", 0, 10, "a1"),
      Read(1, "r", 20, 30, {"a1", "zz"}),
  }));
  CHECK_FALSE(verdict.valid());
  CHECK(verdict.invented == Findings{{"r", "zz"}});
  CHECK(verdict.stale.empty());
}

TEST_CASE("register: a final read of a value nobody wrote is invented") {
  const Verdict verdict = Check(RegisterHistory({
      Write(0, "r", 0, 10, "a1"),
      FinalRead("r", {"a1", "zz"}),
  }));
  CHECK(verdict.invented == Findings{{"r", "zz"}});
}

TEST_CASE("register: not reading one's own write without faults is stale") {
  const Verdict verdict = Check(RegisterHistory({
      Write(0, "r", 0, 10, "a1"),
      Write(0, "r", 20, 30, "a2"),
      Read(0, "r", 40, 50, {"a1"}),
  }));
  CHECK_FALSE(verdict.valid());
  CHECK(verdict.stale == Findings{{"r", "a2"}});
  CHECK(verdict.invented.empty());
}

TEST_CASE("register: a read inside a fault window is not stale") {
  const Verdict verdict = Check(RegisterHistory(
      {
          Write(0, "r", 0, 10, "a1"),
          Write(0, "r", 90, 110, "a2"),
          Read(0, "r", 150, 160, {"a1"}),
      },
      {{"pause", "node2", 100, 200}}));
  CHECK(verdict.valid());
  CHECK(verdict.stale.empty());
}

TEST_CASE("register: a fault window that ended before the own write began does not excuse a stale read") {
  const Verdict verdict = Check(RegisterHistory(
      {
          Write(0, "r", 0, 10, "a1"),
          Write(0, "r", 90, 110, "a2"),
          Read(0, "r", 150, 160, {"a1"}),
      },
      {{"pause", "node2", 20, 80}}));
  CHECK(verdict.stale == Findings{{"r", "a2"}});
}

TEST_CASE("register: reading a write that raced one's own is not stale") {
  const Verdict verdict = Check(RegisterHistory({
      Write(1, "r", 300, 330, "b1"),
      Write(0, "r", 310, 320, "a3"),
      Read(0, "r", 400, 410, {"b1"}),
  }));
  CHECK(verdict.valid());
  CHECK(verdict.stale.empty());
}

TEST_CASE("register: a write that finished before one's own began does not excuse a stale read") {
  const Verdict verdict = Check(RegisterHistory({
      Write(1, "r", 0, 10, "b1"),
      Write(0, "r", 20, 30, "a1"),
      Read(0, "r", 40, 50, {"b1"}),
  }));
  CHECK(verdict.stale == Findings{{"r", "a1"}});
}

TEST_CASE("register: only the reader's own acknowledged writes are its own") {
  const Verdict verdict = Check(RegisterHistory({
      Write(0, "r", 0, 10, "a1"),
      Write(0, "r", 20, 30, "a2", /*ok=*/false),  // unacknowledged: a1 stays its own write
      Write(1, "r", 40, 50, "b1"),                // another client's
      Read(0, "r", 60, 70, {"a1"}),
  }));
  CHECK(verdict.valid());
  CHECK(verdict.stale.empty());
}

TEST_CASE("register: a final read is no client's, so it is never stale") {
  const Verdict verdict = Check(RegisterHistory({
      Write(0, "r", 0, 10, "a1"),
      Write(0, "r", 20, 30, "a2"),
      FinalRead("r", {"a1"}),
  }));
  CHECK(verdict.valid());
  CHECK(verdict.stale.empty());
}

TEST_CASE("register: ops are judged in end-time order, not history order") {
  // The read is recorded first but ends after the write it misses.
  const Verdict verdict = Check(RegisterHistory({
      Read(0, "r", 40, 50, {"a1"}),
      Write(0, "r", 0, 10, "a1"),
      Write(0, "r", 20, 30, "a2"),
  }));
  CHECK(verdict.stale == Findings{{"r", "a2"}});
}

}  // namespace
}  // namespace dynkv::sim
