#include "handoff/transfer_driver.h"

#include <algorithm>
#include <utility>

#include "common/log.h"
#include "handoff/handoff.h"
#include "handoff/range_cleanup.h"
#include "net/peer_transport.h"

namespace dynkv::handoff {

namespace pb = dynkv::client;

namespace {

// A peer may not ask for more than this in one batch.
constexpr uint32_t kMaxBatchBytes = 4 << 20;
constexpr uint32_t kMaxBatchCount = 10000;
constexpr size_t kMaxCursorBytes = 64 << 10;
constexpr int64_t kMaxRetryMs = 30000;

uint64_t WritesBytes(const std::vector<storage::ObjectWrite>& writes) {
  uint64_t bytes = 0;
  for (const storage::ObjectWrite& w : writes) bytes += w.key.size() + w.object.ApproximateBytes();
  return bytes;
}

}  // namespace

TransferDriver::TransferDriver(Env& env, storage::StorageWorker& worker, quorum::LocalReplica& replica,
                               MovementHost& host, TransferOptions options)
    : env_(env),
      clock_(env.clock()),
      worker_(worker),
      replica_(replica),
      host_(host),
      options_(options),
      cleanup_(std::make_unique<RangeCleanup>(env, worker, replica, host, options_, stats_)) {}

TransferDriver::~TransferDriver() { Stop(); }

Status TransferDriver::Start() {
  auto timer = env_.StartTimer(options_.tick_ms, options_.tick_ms, [this] { Tick(); });
  if (!timer.ok()) return timer.status();
  tick_timer_ = std::move(*timer);
  return Status::Ok();
}

void TransferDriver::Stop() {
  tick_timer_.reset();
  throttle_timer_.reset();
  throttle_wake_ms_ = -1;
}

// ---- The change and who runs it ------------------------------------------------

void TransferDriver::Tick() {
  if (!host_.Ready()) return;
  const std::shared_ptr<const ring::Placement> placement = host_.Placement();
  if (placement->version() != plan_) Replan(*placement);
  host_.AnnounceMovement(plan_, streamed_);
  const int64_t now = clock_.MonotonicMs();
  if (!EveryoneRuns(plan_)) {
    everyone_runs_since_ms_ = -1;
  } else if (everyone_runs_since_ms_ < 0) {
    everyone_runs_since_ms_ = now;
  }
  const int64_t agreed_ms = everyone_runs_since_ms_ < 0 ? -1 : now - everyone_runs_since_ms_;
  for (Incoming& incoming : incoming_) CheckSegment(incoming);
  if (agreed_ms >= options_.settle_ms) {
    PullMore();
    CompareMore();
  }
  CheckStreamed();
  if (streamed_ == plan_) host_.OnStreamed();  // idempotent; retried until it takes
  FinishChanges(*placement);
  cleanup_->Tick(*placement, agreed_ms);
}

void TransferDriver::Replan(const ring::Placement& placement) {
  plan_ = placement.version();
  const std::string& self = host_.gossiper().self().node_id;
  std::vector<ring::Segment> gained = placement.GainedBy(self);
  // Segments received under an earlier change stay received while this
  // node stays pending for them (the writes kept coming to it).
  std::vector<std::pair<uint64_t, uint64_t>> still_done;
  incoming_.clear();
  comparisons_.clear();
  for (ring::Segment& segment : gained) {
    Incoming incoming;
    for (const auto& [start, end] : done_segments_) {
      if (ring::SegmentCovers(start, end, segment.start, segment.end)) incoming.done = true;
    }
    if (incoming.done) still_done.emplace_back(segment.start, segment.end);
    for (const std::string& id : segment.sources) {
      if (id == self) continue;
      Source source;
      source.node_id = id;
      incoming.sources.push_back(std::move(source));
    }
    incoming.segment = std::move(segment);
    incoming_.push_back(std::move(incoming));
  }
  done_segments_ = std::move(still_done);
  if (!placement.still()) {
    DYNKV_LOG(kInfo) << "ring change " << std::hex << plan_ << std::dec << ": " << incoming_.size()
                     << " segments to receive";
  }
}

bool TransferDriver::EveryoneRuns(uint64_t version) const {
  for (const gossip::Member& member : host_.gossiper().Members()) {
    if (member.self || !member.up || member.state.status == gossip::NodeStatus::kLeft) continue;
    if (member.state.ring_version != version) return false;
  }
  return true;
}

bool TransferDriver::Streamed(const std::string& node_id, uint64_t version) const {
  const gossip::NodeState* state = host_.gossiper().Find(node_id);
  if (state == nullptr) return false;
  if (state == &host_.gossiper().self()) return streamed_ == version;
  return state->ring_version == version && state->streamed_version == version;
}

// ---- Receiving ------------------------------------------------------------------

void TransferDriver::PullMore() {
  const int64_t now = clock_.MonotonicMs();
  const gossip::Gossiper& gossiper = host_.gossiper();
  while (in_flight_ < options_.transfer_limit) {
    if (now < next_pull_ms_) return WakeWhenThrottleOpens(now);
    bool started = false;
    for (size_t i = 0; i < incoming_.size() && !started; ++i) {
      if (incoming_[i].done) continue;
      for (size_t j = 0; j < incoming_[i].sources.size(); ++j) {
        const Source& source = incoming_[i].sources[j];
        if (source.done || source.in_flight || source.retry_at_ms > now || !gossiper.IsUp(source.node_id)) continue;
        if (!MayPull(i, j, now)) break;
        Pull(i, j);
        started = true;
        break;
      }
    }
    if (!started) return;
  }
}

bool TransferDriver::MayPull(size_t i, size_t j, int64_t) const {
  if (!compare_) return true;  // a full merge: every source
  const Incoming& incoming = incoming_[i];
  for (size_t k = 0; k < incoming.sources.size(); ++k) {
    if (k == j) continue;
    if (incoming.sources[k].done || incoming.sources[k].in_flight) return false;  // one pull per segment
  }
  return true;
}

// Once every segment was pulled from one replica: an exchange with each
// other live replica over the segments it has not been compared for.
void TransferDriver::CompareMore() {
  if (!compare_) return;
  for (const Incoming& incoming : incoming_) {
    if (incoming.done) continue;
    const bool pulled = std::any_of(incoming.sources.begin(), incoming.sources.end(),
                                    [](const Source& s) { return s.done; });
    if (!pulled) return;
  }
  const int64_t now = clock_.MonotonicMs();
  std::map<std::string, std::vector<Range>> wanted;
  for (const Incoming& incoming : incoming_) {
    if (incoming.done) continue;
    for (const Source& source : incoming.sources) {
      if (source.done || source.compared || !host_.gossiper().IsUp(source.node_id)) continue;
      wanted[source.node_id].emplace_back(incoming.segment.start, incoming.segment.end);
    }
  }
  size_t running = 0;
  for (const auto& [peer, comparison] : comparisons_) running += comparison.running ? 1 : 0;
  std::weak_ptr<int> alive = lifetime_;
  for (auto& [peer, ranges] : wanted) {
    Comparison& comparison = comparisons_[peer];
    if (comparison.running || comparison.retry_at_ms > now || running >= options_.transfer_limit) continue;
    comparison.running = true;
    ++running;
    ++stats_.comparisons;
    compare_(peer, std::move(ranges), [this, alive, peer = peer, plan = plan_](Status status) {
      if (!alive.expired()) OnCompared(peer, plan, std::move(status));
    });
  }
}

void TransferDriver::OnCompared(const std::string& peer, uint64_t plan, Status status) {
  if (plan != plan_) return;
  Comparison& comparison = comparisons_[peer];
  comparison.running = false;
  if (!status.ok()) {
    ++comparison.failures;
    const int64_t backoff = std::min<int64_t>(kMaxRetryMs, int64_t{500} << std::min<uint32_t>(comparison.failures, 6));
    comparison.retry_at_ms = clock_.MonotonicMs() + backoff;
    if (comparison.failures == 1) {
      DYNKV_LOG(kInfo) << "comparing the ranges received with " << peer << " failed (retrying in " << backoff
                       << " ms): " << status.ToString();
    }
    return;
  }
  comparison.failures = 0;
  // It covered every segment it is a replica of: all were pulled before it began.
  for (Incoming& incoming : incoming_) {
    for (Source& source : incoming.sources) {
      if (source.node_id == peer) source.compared = true;
    }
    CheckSegment(incoming);
  }
  CheckStreamed();
}

void TransferDriver::WakeWhenThrottleOpens(int64_t now) {
  if (throttle_wake_ms_ == next_pull_ms_) return;
  auto timer = env_.StartTimer(next_pull_ms_ - now, 0, [this] {
    throttle_wake_ms_ = -1;
    // Only under the settled change, as Tick would (a replan resets it).
    if (everyone_runs_since_ms_ >= 0 &&
        clock_.MonotonicMs() - everyone_runs_since_ms_ >= options_.settle_ms) {
      PullMore();
    }
  });
  if (!timer.ok()) return;  // the loop is closing; the tick retries meanwhile
  throttle_timer_ = std::move(*timer);
  throttle_wake_ms_ = next_pull_ms_;
}

void TransferDriver::Pull(size_t segment, size_t source_index) {
  Incoming& incoming = incoming_[segment];
  Source& source = incoming.sources[source_index];
  const gossip::NodeState* state = host_.gossiper().Find(source.node_id);
  if (state == nullptr) return;
  source.in_flight = true;
  ++in_flight_;
  peer::PeerRequest request;
  peer::StreamRange* range = request.mutable_stream_range();
  range->set_start(incoming.segment.start);
  range->set_end(incoming.segment.end);
  range->set_cursor(source.cursor);
  range->set_max_bytes(options_.batch_max_bytes);
  range->set_max_count(options_.batch_max_count);
  std::weak_ptr<int> alive = lifetime_;
  env_.CallPeer(state->peer_address, std::move(request), options_.request_timeout_ms,
                [this, alive, segment, source_index, plan = plan_](Result<peer::PeerResponse> response) {
                  if (alive.expired()) return;
                  OnBatch(segment, source_index, plan, std::move(response));
                });
}

void TransferDriver::OnBatch(size_t segment, size_t source_index, uint64_t plan,
                             Result<peer::PeerResponse> response) {
  if (plan != plan_) {
    --in_flight_;
    return;
  }
  Status status = response.ok() ? Status::Ok() : response.status();
  if (status.ok() && !response->has_stream_batch()) status = Status::Internal("no stream batch in the reply");
  Result<std::vector<storage::ObjectWrite>> writes =
      status.ok() ? FromSyncs(response->stream_batch().objects(), "stream batch")
                  : Result<std::vector<storage::ObjectWrite>>(status);
  if (!writes.ok()) {
    --in_flight_;
    return PullFailed(segment, source_index, writes.status());
  }
  const uint64_t bytes = WritesBytes(*writes);
  const uint64_t keys = writes->size();
  std::string cursor = response->stream_batch().cursor();
  std::weak_ptr<int> alive = lifetime_;
  MergeAll(replica_, std::move(*writes), [this, alive, segment, source_index, plan, bytes, keys,
                                          cursor = std::move(cursor)](Status merged) {
    if (alive.expired()) return;
    --in_flight_;
    if (plan != plan_) return;
    if (!merged.ok()) return PullFailed(segment, source_index, merged);
    Incoming& incoming = incoming_[segment];
    Source& source = incoming.sources[source_index];
    source.in_flight = false;
    source.failures = 0;
    source.cursor = cursor;
    source.keys += keys;
    source.bytes += bytes;
    stats_.keys_received += keys;
    stats_.bytes_received += bytes;
    ++stats_.batches_received;
    if (cursor.empty()) source.done = true;
    CheckSegment(incoming);
    // The throttle: the next pull waits for the bytes this one brought.
    const int64_t now = clock_.MonotonicMs();
    const int64_t cost_ms =
        options_.max_bytes_per_sec == 0 ? 0 : static_cast<int64_t>(bytes * 1000 / options_.max_bytes_per_sec);
    next_pull_ms_ = std::max(next_pull_ms_, now) + cost_ms;
    PullMore();
    CheckStreamed();
  });
}

void TransferDriver::PullFailed(size_t segment, size_t source_index, const Status& status) {
  Source& source = incoming_[segment].sources[source_index];
  source.in_flight = false;
  ++source.failures;
  ++stats_.pulls_failed;
  const int64_t backoff = std::min<int64_t>(kMaxRetryMs, int64_t{500} << std::min<uint32_t>(source.failures, 6));
  source.retry_at_ms = clock_.MonotonicMs() + backoff;
  if (source.failures > 1) return;  // said once per run of failures
  DYNKV_LOG(kWarn) << "pulling a range from " << source.node_id << " failed (retrying in " << backoff
      << " ms): " << status.ToString();
}

// Done once one source sent all of it and each other one did too (or was
// compared with) or is down.
void TransferDriver::CheckSegment(Incoming& incoming) {
  if (incoming.done) return;
  bool any_done = incoming.sources.empty();
  for (const Source& source : incoming.sources) {
    if (source.done) {
      any_done = true;
    } else if (source.in_flight || (!source.compared && host_.gossiper().IsUp(source.node_id))) {
      return;
    }
  }
  if (!any_done) return;
  incoming.done = true;
  ++stats_.segments_done;
  done_segments_.emplace_back(incoming.segment.start, incoming.segment.end);
}

void TransferDriver::CheckStreamed() {
  if (streamed_ == plan_) return;
  for (const Incoming& incoming : incoming_) {
    if (!incoming.done) return;
  }
  streamed_ = plan_;
  if (!incoming_.empty()) {
    ++stats_.changes_streamed;
    DYNKV_LOG(kInfo) << "received every range of ring change " << std::hex << plan_ << std::dec << " ("
                     << stats_.keys_received << " keys so far)";
  }
  host_.AnnounceMovement(plan_, streamed_);
}

// ---- Finishing leaves and removals ---------------------------------------------

void TransferDriver::FinishChanges(const ring::Placement& placement) {
  if (placement.still() || placement.version() != plan_) return;
  for (const ring::Segment& segment : placement.moving()) {
    for (const std::string& node : segment.pending) {
      if (!Streamed(node, plan_)) return;
    }
  }
  const gossip::Gossiper& gossiper = host_.gossiper();
  for (const gossip::Member& member : gossiper.Members()) {
    if (member.state.status != gossip::NodeStatus::kLeaving) continue;
    if (member.self && !gossip::IsRemoval(member.state) && !leave_finished_) {
      leave_finished_ = true;
      DYNKV_LOG(kInfo) << "every range of " << member.state.node_id << " has moved; leaving";
      host_.FinishLeave();
    } else if (!member.self && gossip::IsRemoval(member.state)) {
      DYNKV_LOG(kInfo) << "every range of removed node " << member.state.node_id << " has moved";
      host_.FinishRemoval(member.state.node_id);
    }
  }
}

// ---- Sending --------------------------------------------------------------------

bool TransferDriver::Handle(const peer::PeerRequest& request, Reply& reply) {
  if (request.op_case() != peer::PeerRequest::kStreamRange) return false;
  Serve(request.stream_range(), request.from_node(), std::move(reply));
  return true;
}

void TransferDriver::Serve(const peer::StreamRange& range, const std::string& to, Reply reply) {
  if (range.cursor().size() > kMaxCursorBytes) {
    return reply(net::PeerErrorResponse(Status::InvalidArgument("stream cursor too long")));
  }
  const uint64_t start = range.start();
  const uint64_t end = range.end();
  const size_t max_bytes = std::clamp<uint32_t>(range.max_bytes(), 1, kMaxBatchBytes);
  const size_t max_count = std::clamp<uint32_t>(range.max_count(), 1, kMaxBatchCount);
  std::weak_ptr<int> alive = lifetime_;
  worker_.Run([this, alive, start, end, max_bytes, max_count, to, cursor = range.cursor(),
               reply = std::move(reply)](storage::Engine& engine) mutable {
    std::string next = cursor;
    auto writes = engine.ScanRange(start, end, &next, max_bytes, max_count);
    env_.Post([this, alive, start, end, to, writes = std::move(writes), next = std::move(next),
               reply = std::move(reply)]() {
      if (!writes.ok()) return reply(net::PeerErrorResponse(writes.status()));
      peer::PeerResponse response;
      peer::StreamBatch* batch = response.mutable_stream_batch();
      ToSyncs(*writes, batch->mutable_objects());
      batch->set_cursor(next);
      if (!alive.expired()) {
        Sent& sent = sent_[{start, end, to}];
        sent.keys += writes->size();
        sent.bytes += WritesBytes(*writes);
        sent.done = next.empty();
        stats_.keys_sent += writes->size();
        stats_.bytes_sent += WritesBytes(*writes);
      }
      reply(std::move(response));
    });
  });
}

// ---- Visibility -----------------------------------------------------------------

void TransferDriver::FillTransfers(pb::TransfersResponse* out) const {
  const std::shared_ptr<const ring::Placement> placement = host_.Placement();
  const std::string& self = host_.gossiper().self().node_id;
  out->set_ring_version(plan_);
  std::string change;
  for (const std::string& c : placement->changes()) change += (change.empty() ? "" : ", ") + c;
  out->set_change(change);
  uint32_t total = 0;
  uint32_t done = 0;
  uint64_t keys = 0;
  uint64_t bytes = 0;
  auto add = [&](const ring::Segment& segment, const std::string& from, const std::string& to,
                 const char* direction, const char* state, uint64_t k, uint64_t b) {
    pb::Transfer* t = out->add_transfers();
    t->set_range_start(segment.start);
    t->set_range_end(segment.end);
    t->set_from_node(from);
    t->set_to_node(to);
    t->set_direction(direction);
    t->set_state(state);
    t->set_keys(k);
    t->set_bytes(b);
    keys += k;
    bytes += b;
  };
  if (placement->version() == plan_) {
    for (const Incoming& incoming : incoming_) {
      ++total;
      if (incoming.done) ++done;
      for (const Source& s : incoming.sources) {
        auto compare = comparisons_.find(s.node_id);
        const bool comparing = compare != comparisons_.end() && compare->second.running && !s.compared;
        const char* state = s.done || s.compared || incoming.done ? "done"
                            : s.in_flight || comparing            ? "running"
                            : s.failures > 0                      ? "retrying"
                                                                  : "pending";
        add(incoming.segment, s.node_id, self, "in", state, s.keys, s.bytes);
      }
    }
  }
  for (const ring::Segment& segment : placement->moving()) {
    if (std::find(segment.sources.begin(), segment.sources.end(), self) == segment.sources.end()) continue;
    for (const std::string& to : segment.pending) {
      auto it = sent_.find({segment.start, segment.end, to});
      const Sent sent = it == sent_.end() ? Sent{} : it->second;
      const bool finished = sent.done || Streamed(to, placement->version());
      ++total;
      if (finished) ++done;
      add(segment, self, to, "out", finished ? "done" : sent.keys > 0 ? "running" : "pending", sent.keys,
          sent.bytes);
    }
  }
  out->set_ranges_total(total);
  out->set_ranges_done(done);
  out->set_keys(keys);
  out->set_bytes(bytes);
}

void TransferDriver::FillStats(std::map<std::string, double>* values) const {
  auto& v = *values;
  v["transfers.keys_received"] = static_cast<double>(stats_.keys_received);
  v["transfers.bytes_received"] = static_cast<double>(stats_.bytes_received);
  v["transfers.batches_received"] = static_cast<double>(stats_.batches_received);
  v["transfers.keys_sent"] = static_cast<double>(stats_.keys_sent);
  v["transfers.bytes_sent"] = static_cast<double>(stats_.bytes_sent);
  v["transfers.pulls_failed"] = static_cast<double>(stats_.pulls_failed);
  v["transfers.segments_done"] = static_cast<double>(stats_.segments_done);
  v["transfers.changes_streamed"] = static_cast<double>(stats_.changes_streamed);
  v["transfers.running"] = static_cast<double>(in_flight_);
  v["transfers.cleanup_keys_handed"] = static_cast<double>(stats_.cleanup_keys_handed);
  v["transfers.cleanup_keys_deleted"] = static_cast<double>(stats_.cleanup_keys_deleted);
  v["transfers.actor_renewals"] = static_cast<double>(stats_.actor_renewals);
  v["transfers.comparisons"] = static_cast<double>(stats_.comparisons);
  uint32_t pending = 0;
  for (const Incoming& incoming : incoming_) pending += incoming.done ? 0 : 1;
  v["transfers.segments_pending"] = pending;
}

}  // namespace dynkv::handoff
