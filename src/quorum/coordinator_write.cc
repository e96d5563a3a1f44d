// The Coordinator's write path (coordinator.h): minting, with failover to
// the next primary when the minter is slow, fails or goes down; the copies
// to the other targets; stand-ins for targets that go down while the write
// waits on them.
#include <algorithm>
#include <utility>
#include <vector>

#include "common/log.h"
#include "quorum/coordinator.h"
#include "quorum/coordinator_ops.h"

namespace dynkv::quorum {

void Coordinator::Put(const std::string& key, VersionVector context, Sibling sibling, uint32_t requested_w,
                      uint32_t timeout_ms, ObjectDone done) {
  ++stats_.writes;
  uint32_t n = 0;
  bool saturated = false;
  auto list = PreferenceList(key, &n, &saturated);
  if (!list.ok()) return done(list.status());
  auto plan = PlanWriteFor(*list, n, requested_w);
  if (!plan.ok()) {
    if (saturated) ++stats_.overloaded;
    return done(saturated ? Overloaded(plan.status()) : plan.status());
  }
  AddPendingReplicas(key, &*plan);

  const uint64_t id = next_op_++;
  auto op = std::make_unique<WriteOp>(WriteOp{key, clock_.MonotonicMs(), *plan, WriteTally(*plan), std::move(done)});
  op->context = std::move(context);
  op->sibling = std::move(sibling);
  writes_.emplace(id, std::move(op));
  deadlines_.Set(id, DeadlineFor(timeout_ms));
  MintNext(id);
}

// The candidates are the plan's live primaries (a stand-in mints only when
// no primary is up, as PlanWrite puts it first): this node first, for it
// mints without a hop, then the one expected to answer first.
const std::string* Coordinator::NextMinter(const WriteOp& op) const {
  const int64_t now = clock_.MonotonicMs();
  const std::string* best = nullptr;
  int64_t best_ms = 0;
  for (const WriteTarget& target : op.plan.targets) {
    const bool primary = target.hint_for.empty() && target.counts_towards_w;
    if (!primary && &target != &op.plan.targets.front()) continue;
    if (std::find(op.minters.begin(), op.minters.end(), target.node_id) != op.minters.end()) continue;
    if (!op.tally.Pending(target.node_id)) continue;  // failed already
    if (target.node_id == options_.self_id) return &target.node_id;
    const int64_t expected = latency_.ExpectedMs(target.node_id, now);
    if (best == nullptr || expected < best_ms) {
      best = &target.node_id;
      best_ms = expected;
    }
  }
  return best;
}

bool Coordinator::MintNext(uint64_t id) {
  auto it = writes_.find(id);
  if (it == writes_.end()) return false;
  WriteOp& op = *it->second;
  const std::string* next = NextMinter(op);
  if (next == nullptr) return false;
  const std::string minter = *next;
  if (!op.minters.empty()) ++stats_.mint_failovers;
  op.minters.push_back(minter);
  ++op.mints_in_flight;
  if (minter != options_.self_id) ++stats_.forwarded_mints;
  const int64_t bound = minter == options_.self_id ? latency_.FailoverAfterMs("") : latency_.FailoverAfterMs(minter);
  op.mint_slow_at_ms = clock_.MonotonicMs() + bound;
  mint_deadlines_.Set(id, op.mint_slow_at_ms);
  Mint(minter, op.key, op.context, op.sibling,
       [this, id, minter](Result<Object> minted) { OnMinted(id, minter, std::move(minted)); });
  return true;
}

// The current minter has not answered within its bound: ask the next one
// too; whichever answers first mints the write.
void Coordinator::OnMintSlow(uint64_t id) {
  auto it = writes_.find(id);
  if (it == writes_.end()) return;
  WriteOp& op = *it->second;
  if (op.stage != WriteStage::kMinting || clock_.MonotonicMs() < op.mint_slow_at_ms) return;
  MintNext(id);
}

// minting -> waiting_for_w: the minting replica's copy counts, and the others get it.
void Coordinator::OnMinted(uint64_t id, const std::string& minter, Result<Object> minted) {
  auto it = writes_.find(id);
  if (it == writes_.end()) {
    if (minted.ok()) ++stats_.late_mints;
    return;
  }
  WriteOp& op = *it->second;
  --op.mints_in_flight;
  if (op.stage != WriteStage::kMinting) {
    // Another replica minted the write first. This one keeps its own dot
    // for it, a sibling of equal value beside the other (coordinator.h).
    if (minted.ok()) ++stats_.late_mints;
    return;
  }
  if (!minted.ok()) {
    op.tally.OnError(minter, minted.status());
    if (op.mints_in_flight > 0 || MintNext(id)) return SettleWrite(id);
    // Nothing was minted anywhere, so no replica can get the write.
    for (const WriteTarget& target : op.plan.targets) op.tally.OnError(target.node_id, minted.status());
    return SettleWrite(id);
  }
  op.stage = WriteStage::kWaitingForW;
  op.minted = std::move(*minted);
  op.tally.OnAck(minter);
  // A send may fail at once, inside the call, and settle and erase the op:
  // from here on, work from copies and never touch `op` again.
  std::vector<WriteTarget> others;
  for (const WriteTarget& target : op.plan.targets) {
    if (target.node_id != minter) others.push_back(target);
  }
  const std::string key = op.key;
  const Object object = op.minted;
  const std::vector<KeptHint> kept_hints = op.plan.kept_hints;
  SyncToTargets(id, others, object);
  for (const KeptHint& kept : kept_hints) {
    ++stats_.hinted_writes;
    Sync(kept.keeper, key, object, kept.hint_for, [](Status) {});  // never counts towards W
  }
  SettleWrite(id);
}

void Coordinator::SyncToTargets(uint64_t id, const std::vector<WriteTarget>& targets, const Object& object) {
  auto it = writes_.find(id);
  if (it == writes_.end()) return;
  const std::string key = it->second->key;
  for (const WriteTarget& target : targets) {
    if (!target.hint_for.empty()) ++stats_.hinted_writes;
    Sync(target.node_id, key, object, target.hint_for, [this, id, node = target.node_id](Status status) {
      auto it = writes_.find(id);
      if (it == writes_.end()) return;
      if (status.ok())
        it->second->tally.OnAck(node);
      else
        it->second->tally.OnError(node, status);
      SettleWrite(id);
    });
  }
}

void Coordinator::ReplaceTarget(uint64_t id, const std::string& node_id, const Status& why) {
  auto it = writes_.find(id);
  if (it == writes_.end()) return;
  WriteOp& op = *it->second;
  if (!op.tally.Pending(node_id) || !op.replaced.insert(node_id).second) return;
  ++stats_.replanned;
  // Its stand-in now, as a new write's plan would name it.
  uint32_t n = 0;
  auto list = PreferenceList(op.key, &n, nullptr);
  std::vector<WriteTarget> added;
  if (options_.sloppy_quorum && list.ok()) {
    for (const ring::Replica& r : *list) {
      if (!r.fallback || r.hint_for != node_id || !r.up) continue;
      const bool targeted = std::any_of(op.plan.targets.begin(), op.plan.targets.end(),
                                        [&](const WriteTarget& t) { return t.node_id == r.node_id; });
      if (targeted) break;
      const auto replaced = std::find_if(op.plan.targets.begin(), op.plan.targets.end(),
                                         [&](const WriteTarget& t) { return t.node_id == node_id; });
      const bool counted = replaced == op.plan.targets.end() || replaced->counts_towards_w;
      WriteTarget standin{r.node_id, node_id, options_.hinted_writes_count && counted,
                          replaced == op.plan.targets.end() ? 0 : replaced->group};
      op.plan.targets.push_back(standin);
      op.tally.AddTarget(standin);
      added.push_back(standin);
      break;
    }
  }
  op.tally.OnError(node_id, why);
  const Object object = op.minted;
  if (!added.empty()) SyncToTargets(id, added, object);
  SettleWrite(id);
}

void Coordinator::SettleWrite(uint64_t id) {
  auto it = writes_.find(id);
  if (it == writes_.end()) return;
  WriteOp& op = *it->second;
  if (op.tally.state() == TallyState::kWaiting) return;
  ObjectDone done = std::move(op.done);
  Result<Object> result = op.tally.state() == TallyState::kSucceeded ? Result<Object>(std::move(op.minted))
                                                                     : Result<Object>(op.tally.status());
  writes_.erase(it);  // late acks find nothing and are dropped
  done(std::move(result));
}

void Coordinator::OnPeerDown(const std::string& node_id) {
  const Status down = Status::Unavailable(node_id + " was judged down while the request waited on it");
  std::vector<uint64_t> minting, waiting;
  for (const auto& [id, op] : writes_) {
    if (op->stage == WriteStage::kMinting && !op->minters.empty() && op->minters.back() == node_id) {
      minting.push_back(id);
    } else if (op->stage == WriteStage::kWaitingForW && op->tally.Pending(node_id)) {
      waiting.push_back(id);
    }
  }
  for (uint64_t id : minting) {
    ++stats_.replanned;
    MintNext(id);
  }
  for (uint64_t id : waiting) ReplaceTarget(id, node_id, down);
  std::vector<uint64_t> reads;
  for (const auto& [id, op] : reads_) {
    if (op->tally.Pending(node_id)) reads.push_back(id);
  }
  for (uint64_t id : reads) {
    auto it = reads_.find(id);
    if (it == reads_.end()) continue;
    ++stats_.replanned;
    it->second->tally.OnError(node_id, down);
    SettleRead(id);
  }
}

}  // namespace dynkv::quorum
