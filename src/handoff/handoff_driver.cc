#include "handoff/handoff_driver.h"

#include <utility>

#include "common/key_hash.h"
#include "common/log.h"
#include "net/peer_transport.h"
#include "peer.pb.h"

namespace dynkv::handoff {

namespace {

constexpr int64_t kDeliveryIntervalMs = 100;
constexpr int64_t kExpiryIntervalMs = 60'000;

}  // namespace

HandoffDriver::HandoffDriver(Env& env, storage::StorageWorker& worker, quorum::LocalReplica& replica,
                             const quorum::ClusterView& cluster, const HandoffOptions& options,
                             std::string self_id)
    : env_(env),
      clock_(env.clock()),
      worker_(worker),
      self_id_(std::move(self_id)),
      replica_(replica),
      cluster_(cluster),
      options_(options),
      store_(worker, [&env](std::function<void()> fn) { env.Post(std::move(fn)); }),
      delivery_(DeliveryOptions{options.max_bytes_per_sec}) {}

HandoffDriver::~HandoffDriver() { Stop(); }

Status HandoffDriver::Start() {
  std::weak_ptr<int> alive = lifetime_;
  store_.Open([this, alive](Result<std::vector<std::string>> targets) {
    if (alive.expired()) return;
    if (!targets.ok()) {
      DYNKV_LOG(kError) << "cannot read the stored hints: " << targets.status().ToString();
      return;
    }
    for (const std::string& target : *targets) delivery_.OnHintStored(target);
    if (!targets->empty()) DYNKV_LOG(kInfo) << "hints pending for " << targets->size() << " node(s)";
  });
  auto delivery = env_.StartTimer(kDeliveryIntervalMs, kDeliveryIntervalMs, [this] { Deliver(); });
  if (!delivery.ok()) return delivery.status().WithContext("cannot start hint delivery");
  delivery_timer_ = std::move(*delivery);
  auto expiry = env_.StartTimer(kExpiryIntervalMs, kExpiryIntervalMs, [this] { DropExpired(); });
  if (!expiry.ok()) return expiry.status().WithContext("cannot start hint expiry");
  expiry_timer_ = std::move(*expiry);
  return Status::Ok();
}

void HandoffDriver::Stop() {
  delivery_timer_.reset();
  expiry_timer_.reset();
}

void HandoffDriver::StoreHint(const std::string& target, const std::string& key, const Object& object,
                              std::function<void(Status)> done) {
  std::weak_ptr<int> alive = lifetime_;
  store_.Store(target, key, object, clock_.NowMs(),
               [this, alive, target, done = std::move(done)](Status status) {
                 if (!alive.expired() && status.ok()) delivery_.OnHintStored(target);
                 done(status);
               });
}

void HandoffDriver::Deliver() {
  const size_t max_bytes = delivery_.options().batch_max_bytes;
  const size_t max_count = delivery_.options().batch_max_count;
  std::weak_ptr<int> alive = lifetime_;
  for (const std::string& target : delivery_.Tick(clock_.MonotonicMs())) {
    const std::string resume = scans_[target].resume;
    store_.NextBatch(target, resume, max_bytes, max_count,
                     [this, alive, target, resumed = !resume.empty()](Result<HintStore::Page> page) {
                       if (alive.expired()) return;
                       if (!page.ok()) return delivery_.OnBatchFailed(target, clock_.MonotonicMs());
                       if (page->hints.empty()) {
                         scans_.erase(target);
                         // Past the last: those before it are still kept.
                         if (resumed) return delivery_.OnBatchFailed(target, clock_.MonotonicMs());
                         return delivery_.OnBatchEmpty(target);
                       }
                       scans_[target].after_batch = std::move(page->next);
                       SendBatch(target, std::move(page->hints));
                     });
  }
}

void HandoffDriver::SendBatch(const std::string& target, std::vector<Hint> hints) {
  if (handed_over_ || left_.count(target) > 0) return HandToOwners(target, std::move(hints));
  peer::PeerRequest request;
  ToHintBatch(hints, request.mutable_hint_batch());
  delivery_.OnBatchSent(target, BatchBytes(hints), clock_.MonotonicMs());
  std::weak_ptr<int> alive = lifetime_;
  env_.CallPeer(cluster_.PeerAddress(target), std::move(request), 0,
                [this, alive, target, hints = std::move(hints)](Result<peer::PeerResponse> response) mutable {
                  if (alive.expired()) return;
                  if (!response.ok()) {
                    ++batches_failed_;
                    DYNKV_LOG(kDebug)
                        << "hint batch to " << target << " failed: " << response.status().ToString();
                    return delivery_.OnBatchFailed(target, clock_.MonotonicMs());
                  }
                  Delivered(target, std::move(hints));
                });
}

// The batch reached its target (or this node's data): the hints go.
void HandoffDriver::Delivered(const std::string& target, std::vector<Hint> hints) {
  std::weak_ptr<int> alive = lifetime_;
  store_.Acknowledge(target, std::move(hints), [this, alive, target](Result<bool> more) {
    if (alive.expired()) return;
    if (!more.ok()) return NotDeleted(target);
    scans_.erase(target);
    delivery_.OnBatchAcked(target, *more);
    CheckHandedOver();
  });
}

// The target has the batch but this node could not delete it (its disk
// refuses writes): the scan goes on after it, or, past the last batch,
// starts over after a backoff.
void HandoffDriver::NotDeleted(const std::string& target) {
  ++batches_not_deleted_;
  Scan& scan = scans_[target];
  if (scan.after_batch.empty()) {
    scans_.erase(target);
    return delivery_.OnBatchFailed(target, clock_.MonotonicMs());
  }
  scan.resume = std::move(scan.after_batch);
  scan.after_batch.clear();
  delivery_.OnBatchAcked(target, true);
}

// The target is gone (or this node leaves): each hint goes to every owner
// of its key that is up, this node merging its own share; the hints are
// deleted once all of them took it.
void HandoffDriver::HandToOwners(const std::string& target, std::vector<Hint> hints) {
  delivery_.OnBatchSent(target, BatchBytes(hints), clock_.MonotonicMs());
  std::map<std::string, std::vector<storage::ObjectWrite>> by_owner;
  for (const Hint& hint : hints) {
    bool any = false;
    for (const std::string& owner : cluster_.Owners(KeyPosition(hint.key))) {
      const bool self = owner == self_id_;
      // A leaving node's own copy would go with it.
      if (owner == target || (self && handed_over_) || (!self && !cluster_.IsUp(owner))) continue;
      by_owner[owner].push_back({hint.key, hint.object});
      any = true;
    }
    if (!any) return delivery_.OnBatchFailed(target, clock_.MonotonicMs());  // nobody to take it now
  }
  auto remaining = std::make_shared<size_t>(by_owner.size());
  auto failed = std::make_shared<bool>(false);
  auto batch = std::make_shared<std::vector<Hint>>(std::move(hints));
  std::weak_ptr<int> alive = lifetime_;
  auto one_done = [this, alive, remaining, failed, batch, target](bool ok) {
    if (!ok) *failed = true;
    if (--*remaining > 0 || alive.expired()) return;
    if (*failed) return delivery_.OnBatchFailed(target, clock_.MonotonicMs());
    hints_handed_ += batch->size();
    Delivered(target, std::move(*batch));
  };
  for (auto& [owner, writes] : by_owner) {
    if (owner == self_id_) {
      MergeAll(replica_, std::move(writes), [one_done](Status merged) { one_done(merged.ok()); });
      continue;
    }
    peer::PeerRequest request;
    ToSyncs(writes, request.mutable_hint_batch()->mutable_writes());
    env_.CallPeer(cluster_.PeerAddress(owner), std::move(request), 0,
                  [one_done](Result<peer::PeerResponse> response) { one_done(response.ok()); });
  }
}

void HandoffDriver::HandOverAll(std::function<void()> done) {
  handed_over_ = std::move(done);
  std::weak_ptr<int> alive = lifetime_;
  worker_.Run([this, alive](storage::Engine& engine) {
    auto targets = engine.ListHintTargets();
    env_.Post([this, alive, targets = std::move(targets)] {
      if (!alive.expired()) HandOver(targets);
    });
  });
}

void HandoffDriver::HandOver(const Result<std::vector<std::string>>& targets) {
  if (!targets.ok()) {
    DYNKV_LOG(kError) << "cannot list the hints to hand over: " << targets.status().ToString();
    return CheckHandedOver();
  }
  for (const std::string& target : *targets) delivery_.OnUp(target);
  if (!targets->empty()) {
    DYNKV_LOG(kInfo) << "handing the hints kept for " << targets->size() << " node(s) to their keys' owners";
  }
  CheckHandedOver();
}

void HandoffDriver::CheckHandedOver() {
  if (!handed_over_ || store_.stats().pending > 0) return;
  std::function<void()> done = std::move(handed_over_);
  handed_over_ = nullptr;
  done();
}

void HandoffDriver::DropExpired() {
  store_.DropExpired(clock_.NowMs(), options_.hint_window_ms, [](Result<uint64_t> dropped) {
    if (!dropped.ok())
      DYNKV_LOG(kWarn) << "hint expiry failed: " << dropped.status().ToString();
    else if (*dropped > 0)
      DYNKV_LOG(kInfo) << "dropped " << *dropped << " hints older than the hint window";
  });
}

bool HandoffDriver::Handle(const peer::PeerRequest& request, Reply& reply) {
  if (request.op_case() != peer::PeerRequest::kHintBatch) return false;
  Receive(request.hint_batch(), std::move(reply));
  return true;
}

void HandoffDriver::Receive(const peer::HintBatch& batch, Reply reply) {
  auto writes = FromHintBatch(batch);
  if (!writes.ok()) return reply(net::PeerErrorResponse(writes.status()));
  MergeAll(replica_, std::move(*writes), [reply = std::move(reply)](Status status) {
    reply(status.ok() ? peer::PeerResponse() : net::PeerErrorResponse(status));
  });
}

void HandoffDriver::FillStats(std::map<std::string, double>* values) const {
  const HintStats s = store_.stats();
  auto& v = *values;
  v["handoff.hints_pending"] = static_cast<double>(s.pending);
  v["handoff.hints_stored"] = static_cast<double>(s.stored);
  v["handoff.hints_delivered"] = static_cast<double>(s.delivered);
  v["handoff.hints_dropped"] = static_cast<double>(s.dropped);
  v["handoff.bytes_delivered"] = static_cast<double>(s.bytes_delivered);
  v["handoff.batches_failed"] = static_cast<double>(batches_failed_);
  v["handoff.batches_not_deleted"] = static_cast<double>(batches_not_deleted_);
  v["handoff.hints_handed_to_owners"] = static_cast<double>(hints_handed_);
}

}  // namespace dynkv::handoff
