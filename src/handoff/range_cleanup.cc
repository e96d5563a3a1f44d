#include "handoff/range_cleanup.h"

#include <algorithm>
#include <utility>

#include "common/log.h"
#include "handoff/handoff.h"

namespace dynkv::handoff {

RangeCleanup::RangeCleanup(Env& env, storage::StorageWorker& worker, quorum::LocalReplica& replica,
                           MovementHost& host, const TransferOptions& options, TransferStats& stats)
    : env_(env), worker_(worker), replica_(replica), host_(host), options_(options), stats_(stats) {}

void RangeCleanup::Tick(const ring::Placement& placement, int64_t agreed_ms) {
  if (running_ || !placement.still() || agreed_ms < options_.cleanup_delay_ms) return;
  const int64_t now = env_.clock().MonotonicMs();
  if (placement.version() == version_ && now < next_run_ms_) return;
  ranges_ = NotOwned(placement);
  version_ = placement.version();
  index_ = 0;
  cursor_.clear();
  handed_ = 0;
  running_ = true;
  NextBatch();
}

// The token ranges whose replicas in the current ring do not include this node.
std::vector<RangeCleanup::Range> RangeCleanup::NotOwned(const ring::Placement& placement) const {
  const std::string& self = host_.gossiper().self().node_id;
  std::vector<Range> ranges;
  for (ring::TokenRange& range : ring::TokenRanges(placement.current(), placement.n())) {
    if (std::find(range.replicas.begin(), range.replicas.end(), self) == range.replicas.end()) {
      ranges.push_back(Range{range.start, range.end, std::move(range.replicas)});
    }
  }
  return ranges;
}

void RangeCleanup::NextBatch() {
  if (host_.Placement()->version() != version_) return Finish();  // the ring moved: the next pass redoes it
  const gossip::Gossiper& gossiper = host_.gossiper();
  while (index_ < ranges_.size()) {
    const Range& range = ranges_[index_];
    const bool all_up = std::all_of(range.owners.begin(), range.owners.end(),
                                    [&](const std::string& id) { return gossiper.IsUp(id); });
    if (all_up) break;
    ++index_;
    cursor_.clear();
  }
  if (index_ >= ranges_.size()) return Finish();
  const Range& range = ranges_[index_];
  std::weak_ptr<int> alive = lifetime_;
  worker_.Run([this, alive, start = range.start, end = range.end, cursor = cursor_,
               bytes = options_.batch_max_bytes, count = options_.batch_max_count](storage::Engine& engine) {
    std::string next = cursor;
    auto writes = engine.ScanRange(start, end, &next, bytes, count);
    env_.Post([this, alive, writes = std::move(writes), next = std::move(next)]() mutable {
      if (!alive.expired()) OnScanned(std::move(writes), std::move(next));
    });
  });
}

void RangeCleanup::OnScanned(Result<std::vector<storage::ObjectWrite>> writes, std::string next) {
  if (!writes.ok()) {
    DYNKV_LOG(kWarn) << "cleanup scan failed: " << writes.status().ToString();
    return Finish();
  }
  if (writes->empty()) return Advance(std::move(next));
  Hand(std::move(*writes), std::move(next));
}

// Every owner of the range merges the batch before anything is deleted here.
void RangeCleanup::Hand(std::vector<storage::ObjectWrite> writes, std::string next) {
  const Range& range = ranges_[index_];
  auto remaining = std::make_shared<size_t>(range.owners.size());
  auto failed = std::make_shared<bool>(false);
  auto batch = std::make_shared<std::vector<storage::ObjectWrite>>(std::move(writes));
  auto shared_next = std::make_shared<std::string>(std::move(next));
  std::weak_ptr<int> alive = lifetime_;
  for (const std::string& owner : range.owners) {
    const gossip::NodeState* state = host_.gossiper().Find(owner);
    peer::PeerRequest request;
    ToSyncs(*batch, request.mutable_hint_batch()->mutable_writes());
    auto done = [this, alive, remaining, failed, batch, shared_next](Result<peer::PeerResponse> response) {
      if (!response.ok()) *failed = true;
      if (--*remaining > 0 || alive.expired()) return;
      if (*failed) {
        ++index_;  // skipped this pass; the next one tries again
        cursor_.clear();
        return NextBatch();
      }
      Delete(std::move(*batch), std::move(*shared_next));
    };
    if (state == nullptr) {
      done(Status::Unavailable("unknown owner " + owner));
      continue;
    }
    env_.CallPeer(state->peer_address, std::move(request), options_.request_timeout_ms, std::move(done));
  }
}

void RangeCleanup::Delete(std::vector<storage::ObjectWrite> writes, std::string next) {
  const ActorId& self = replica_.actor();
  const bool minted_here = std::any_of(writes.begin(), writes.end(), [&](const storage::ObjectWrite& w) {
    return w.object.vv.Get(self) > 0;
  });
  if (!minted_here) return DeleteUnchanged(std::move(writes), std::move(next));
  std::weak_ptr<int> alive = lifetime_;
  replica_.RenewActor(env_.Random(), [this, alive, writes = std::move(writes),
                                      next = std::move(next)](Status renewed) mutable {
    if (alive.expired()) return;
    if (!renewed.ok()) {
      DYNKV_LOG(kWarn) << "cleanup stopped: cannot take a new actor: " << renewed.ToString();
      return Finish();
    }
    ++stats_.actor_renewals;
    DYNKV_LOG(kInfo) << "took the new actor " << replica_.actor() << " before deleting keys it minted into";
    DeleteUnchanged(std::move(writes), std::move(next));
  });
}

void RangeCleanup::DeleteUnchanged(std::vector<storage::ObjectWrite> writes, std::string next) {
  stats_.cleanup_keys_handed += writes.size();
  handed_ += writes.size();
  auto remaining = std::make_shared<size_t>(writes.size());
  auto shared_next = std::make_shared<std::string>(std::move(next));
  std::weak_ptr<int> alive = lifetime_;
  for (storage::ObjectWrite& write : writes) {
    auto mutate = [handed = std::move(write.object)](const Object& current) -> Result<Object> {
      return current == handed ? Object{} : current;  // a write that came meanwhile stays, for the next pass
    };
    worker_.Update(std::move(write.key), std::move(mutate),
                   [this, alive, remaining, shared_next](Result<Object> stored) {
                     if (alive.expired()) return;
                     if (stored.ok() && stored->empty()) ++stats_.cleanup_keys_deleted;
                     if (--*remaining == 0) Advance(std::move(*shared_next));
                   });
  }
}

void RangeCleanup::Advance(std::string next) {
  cursor_ = std::move(next);
  if (cursor_.empty()) ++index_;
  NextBatch();
}

void RangeCleanup::Finish() {
  running_ = false;
  next_run_ms_ = env_.clock().MonotonicMs() + options_.cleanup_interval_ms;
  if (handed_ > 0) {
    DYNKV_LOG(kInfo) << "cleanup handed " << handed_ << " keys of ranges this node no longer replicates to "
                     << "their replicas";
  }
}

}  // namespace dynkv::handoff
