#include "handoff/handoff_driver.h"

#include <utility>

#include "common/log.h"
#include "net/peer_transport.h"
#include "peer.pb.h"

namespace dynkv::handoff {

namespace {

constexpr int64_t kDeliveryIntervalMs = 100;
constexpr int64_t kExpiryIntervalMs = 60'000;

}  // namespace

HandoffDriver::HandoffDriver(Env& env, storage::StorageWorker& worker, quorum::LocalReplica& replica,
                             const quorum::ClusterView& cluster, const HandoffOptions& options)
    : env_(env),
      clock_(env.clock()),
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
    store_.NextBatch(target, max_bytes, max_count, [this, alive, target](Result<std::vector<Hint>> hints) {
      if (alive.expired()) return;
      if (!hints.ok()) return delivery_.OnBatchFailed(target, clock_.MonotonicMs());
      if (hints->empty()) return delivery_.OnBatchEmpty(target);
      SendBatch(target, std::move(*hints));
    });
  }
}

void HandoffDriver::SendBatch(const std::string& target, std::vector<Hint> hints) {
  if (left_.count(target) > 0) return AbsorbBatch(target, std::move(hints));
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
    if (!more.ok()) return delivery_.OnBatchFailed(target, clock_.MonotonicMs());
    delivery_.OnBatchAcked(target, *more);
  });
}

// The target is gone: its hints become this node's data, then are acknowledged.
void HandoffDriver::AbsorbBatch(const std::string& target, std::vector<Hint> hints) {
  delivery_.OnBatchSent(target, BatchBytes(hints), clock_.MonotonicMs());
  std::vector<storage::ObjectWrite> writes;
  writes.reserve(hints.size());
  for (const Hint& hint : hints) writes.push_back({hint.key, hint.object});
  std::weak_ptr<int> alive = lifetime_;
  MergeAll(replica_, std::move(writes), [this, alive, target, hints = std::move(hints)](Status merged) mutable {
    if (alive.expired()) return;
    if (!merged.ok()) return delivery_.OnBatchFailed(target, clock_.MonotonicMs());
    hints_absorbed_ += hints.size();
    Delivered(target, std::move(hints));
  });
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
  v["handoff.hints_absorbed"] = static_cast<double>(hints_absorbed_);
}

}  // namespace dynkv::handoff
