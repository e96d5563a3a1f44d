#include "sim/checker.h"

#include <algorithm>
#include <map>
#include <set>

namespace dynkv::sim {

namespace {

// Set workload ----------------------------------------------------------

// key -> element -> whether any add of it was acknowledged.
using Attempts = std::map<std::string, std::map<std::string, bool>>;
// key -> the elements of its last successful final read.
using FinalReads = std::map<std::string, std::set<std::string>>;

Attempts AttemptedAdds(const std::vector<Op>& ops) {
  Attempts attempted;
  for (const Op& op : ops) {
    if (op.kind != OpKind::kAdd) continue;
    bool& acked = attempted[op.key][op.value];
    acked = acked || op.ok;
  }
  return attempted;
}

// A later final read of a key replaces an earlier one, as in checker.py.
FinalReads SuccessfulFinalReads(const std::vector<Op>& ops) {
  FinalReads finals;
  for (const Op& op : ops) {
    if (op.kind != OpKind::kFinalRead || !op.ok) continue;
    finals[op.key] = std::set<std::string>(op.values.begin(), op.values.end());
  }
  return finals;
}

void JudgeSetKey(const std::string& key, const std::map<std::string, bool>& attempted,
                 const std::set<std::string>& present, Verdict& verdict) {
  for (const auto& [element, acked] : attempted) {
    const bool read = present.count(element) > 0;
    if (acked && !read) verdict.lost.emplace_back(key, element);
    if (!acked) (read ? verdict.recovered : verdict.unacknowledged).emplace_back(key, element);
  }
  for (const std::string& element : present) {
    if (attempted.count(element) == 0) verdict.invented.emplace_back(key, element);
  }
}

Verdict CheckSet(const History& history) {
  const Attempts attempted = AttemptedAdds(history.ops);
  const FinalReads finals = SuccessfulFinalReads(history.ops);
  std::set<std::string> keys;
  for (const auto& entry : attempted) keys.insert(entry.first);
  for (const auto& entry : finals) keys.insert(entry.first);

  static const std::map<std::string, bool> kNoAttempts;
  Verdict verdict;
  for (const std::string& key : keys) {
    const auto final_read = finals.find(key);
    if (final_read == finals.end()) {
      verdict.unread_keys.push_back(key);
      continue;
    }
    const auto tried = attempted.find(key);
    JudgeSetKey(key, tried == attempted.end() ? kNoAttempts : tried->second, final_read->second, verdict);
  }
  return verdict;
}

// Register workload -----------------------------------------------------

// key -> value -> the write of it (values are unique per write); every
// write counts, acknowledged or not, since a failed write may still land.
using Writes = std::map<std::string, std::map<std::string, const Op*>>;
// (client, key) -> that client's last acknowledged write of the key.
using LastWrites = std::map<std::pair<int, std::string>, const Op*>;

Writes AllWrites(const std::vector<Op>& ops) {
  Writes writes;
  for (const Op& op : ops) {
    if (op.kind == OpKind::kWrite) writes[op.key][op.value] = &op;
  }
  return writes;
}

// Stable, so ops that end at the same moment keep the history's order.
std::vector<const Op*> ByEndTime(const std::vector<Op>& ops) {
  std::vector<const Op*> sorted;
  sorted.reserve(ops.size());
  for (const Op& op : ops) sorted.push_back(&op);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Op* a, const Op* b) { return a->end_ms < b->end_ms; });
  return sorted;
}

bool Overlaps(int64_t a_start, int64_t a_end, int64_t b_start, int64_t b_end) {
  return a_start <= b_end && b_start <= a_end;
}

bool InAnyFault(const std::vector<FaultWindow>& faults, int64_t start_ms, int64_t end_ms) {
  return std::any_of(faults.begin(), faults.end(),
                     [&](const FaultWindow& f) { return Overlaps(f.start_ms, f.end_ms, start_ms, end_ms); });
}

bool Contains(const std::vector<std::string>& values, const std::string& value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

// A write not finished before `own` began may legitimately supersede it.
bool ReadARacingWrite(const std::map<std::string, const Op*>& key_writes, const Op& own, const Op& read) {
  return std::any_of(read.values.begin(), read.values.end(), [&](const std::string& value) {
    const auto write = key_writes.find(value);
    return write != key_writes.end() &&
           Overlaps(write->second->start_ms, write->second->end_ms, own.start_ms, read.end_ms);
  });
}

// Final reads belong to no client, so they have no own write to miss.
const Op* OwnLastWrite(const LastWrites& last_writes, const Op& read) {
  if (read.kind != OpKind::kRead) return nullptr;
  const auto own = last_writes.find({read.client, read.key});
  return own == last_writes.end() ? nullptr : own->second;
}

void JudgeRegisterRead(const Op& read, const Writes& writes, const LastWrites& last_writes,
                       const std::vector<FaultWindow>& faults, Verdict& verdict) {
  static const std::map<std::string, const Op*> kNoWrites;
  const auto found = writes.find(read.key);
  const auto& key_writes = found == writes.end() ? kNoWrites : found->second;
  for (const std::string& value : read.values) {
    if (key_writes.count(value) == 0) verdict.invented.emplace_back(read.key, value);
  }
  const Op* own = OwnLastWrite(last_writes, read);
  if (own == nullptr || Contains(read.values, own->value)) return;
  // A fault may legitimately hide the reader's write (sloppy quorum, lost hint).
  if (InAnyFault(faults, own->start_ms, read.end_ms)) return;
  if (!ReadARacingWrite(key_writes, *own, read)) verdict.stale.emplace_back(read.key, own->value);
}

Verdict CheckRegister(const History& history) {
  const Writes writes = AllWrites(history.ops);
  LastWrites last_writes;
  Verdict verdict;
  for (const Op* op : ByEndTime(history.ops)) {
    if (op->kind == OpKind::kWrite && op->ok) last_writes[{op->client, op->key}] = op;
    const bool is_read = op->kind == OpKind::kRead || op->kind == OpKind::kFinalRead;
    if (is_read && op->ok) JudgeRegisterRead(*op, writes, last_writes, history.faults, verdict);
  }
  // checker.py lists findings in end-time order; sorted, runs compare.
  std::sort(verdict.invented.begin(), verdict.invented.end());
  std::sort(verdict.stale.begin(), verdict.stale.end());
  return verdict;
}

}  // namespace

Verdict Check(const History& history) {
  return history.workload == Workload::kSet ? CheckSet(history) : CheckRegister(history);
}

namespace {

// Acknowledged operations not coordinated by `node` that ended in [from, to).
double AckedElsewhere(const History& history, const std::string& node, int64_t from, int64_t to) {
  double count = 0;
  for (const Op& op : history.ops) {
    if (op.ok && op.client >= 0 && op.node != node && op.end_ms >= from && op.end_ms < to) ++count;
  }
  return count;
}

}  // namespace

double WorstThroughputRatio(const History& history, int64_t baseline_ms) {
  // Only seconds while the clients still had operations to start.
  int64_t last_start = 0;
  for (const Op& op : history.ops) {
    if (op.client >= 0) last_start = std::max(last_start, op.start_ms);
  }
  double worst = 1;
  for (const FaultWindow& window : history.faults) {
    if (window.fault != "pause" && window.fault != "slow" && window.fault != "stall") continue;
    const std::string node = window.node.substr(0, window.node.find(' '));
    const double baseline =
        AckedElsewhere(history, node, window.start_ms - baseline_ms, window.start_ms) * 1000.0 / baseline_ms;
    if (baseline <= 0) continue;
    for (int64_t from = window.start_ms; from + 1000 <= std::min(window.end_ms, last_start); from += 1000) {
      worst = std::min(worst, AckedElsewhere(history, node, from, from + 1000) / baseline);
    }
  }
  return worst;
}

}  // namespace dynkv::sim
