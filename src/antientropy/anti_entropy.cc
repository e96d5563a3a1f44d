#include "antientropy/anti_entropy.h"

#include <algorithm>
#include <utility>

#include "common/log.h"
#include "handoff/handoff.h"
#include "net/peer_transport.h"
#include "ring/ring.h"

namespace dynkv::antientropy {

namespace {

constexpr size_t kMaxRanges = 1 << 16;
constexpr size_t kMaxSegmentsAsked = 4096;
constexpr size_t kMaxKeysAsked = 1000;
// A repair waits this long at most for trees being built and background exchanges.
constexpr int64_t kRepairWaitMs = 10 * 60'000;
constexpr int64_t kRepairRetryMs = 200;

Result<Coverage> CoverageOf(const google::protobuf::RepeatedPtrField<peer::AaeRange>& ranges) {
  if (static_cast<size_t>(ranges.size()) > kMaxRanges) {
    return Status::InvalidArgument("an exchange may name at most " + std::to_string(kMaxRanges) + " ranges");
  }
  std::vector<RingRange> out;
  for (const peer::AaeRange& r : ranges) out.push_back({r.start(), r.end()});
  return Coverage(out);
}

}  // namespace

AntiEntropyDriver::AntiEntropyDriver(Env& env, storage::StorageWorker& worker, TreeKeeper& keeper,
                                     quorum::LocalReplica& replica, handoff::MovementHost& host,
                                     AntiEntropyOptions options)
    : env_(env),
      clock_(env.clock()),
      worker_(worker),
      keeper_(keeper),
      replica_(replica),
      host_(host),
      options_(std::move(options)),
      throttle_(options_.max_bytes_per_sec) {}

AntiEntropyDriver::~AntiEntropyDriver() { Stop(); }

Status AntiEntropyDriver::Start() {
  last_rebuild_ms_ = clock_.MonotonicMs();
  // The keeper loaded (or not) before the storage thread started: safe to read here.
  tree_ready_ = keeper_.ready();
  if (!tree_ready_) {
    DYNKV_LOG(kInfo) << "anti-entropy: no tree checkpoint from a clean stop; building the tree from the data";
    RebuildStep();
  }
  const int64_t tick = options_.interval_ms > 0 ? std::min<int64_t>(options_.interval_ms, 1000) : 1000;
  auto timer = env_.StartTimer(tick, tick, [this] { Tick(); });
  if (!timer.ok()) return timer.status().WithContext("cannot start anti-entropy");
  tick_timer_ = std::move(*timer);
  return Status::Ok();
}

void AntiEntropyDriver::Stop() {
  tick_timer_.reset();
  rebuild_timer_.reset();
  repair_timer_.reset();
  running_.reset();
  comparing_.clear();
}

ExchangeContext AntiEntropyDriver::Context() {
  return ExchangeContext{&env_, &worker_, &keeper_, &replica_, &throttle_};
}

// ---- Rebuilding the tree ------------------------------------------------------

void AntiEntropyDriver::RebuildStep() {
  rebuilding_ = true;
  std::weak_ptr<int> alive = lifetime_;
  auto result = std::make_shared<Result<bool>>(false);
  worker_.Run(
      [keeper = &keeper_, result](storage::Engine& engine) {
        keeper->StartRebuild();  // no-op once started
        *result = keeper->RebuildStep(engine);
      },
      [this, alive, result] {
        if (!alive.expired()) OnRebuildStep(std::move(*result));
      });
}

void AntiEntropyDriver::OnRebuildStep(Result<bool> done) {
  if (!done.ok()) {
    DYNKV_LOG(kWarn) << "anti-entropy: tree rebuild failed, retried in a minute: " << done.status().ToString();
  } else if (*done) {
    rebuilding_ = false;
    tree_ready_ = true;
    ++stats_.rebuilds;
    last_rebuild_ms_ = clock_.MonotonicMs();
    DYNKV_LOG(kInfo) << "anti-entropy: hash tree built";
    return;
  }
  const int64_t delay = done.ok() ? options_.rebuild_step_ms : 60'000;
  std::weak_ptr<int> alive = lifetime_;
  auto timer = env_.StartTimer(delay, 0, [this, alive] {
    env_.Post([this, alive] {
      if (!alive.expired()) RebuildStep();
    });
  });
  if (timer.ok()) rebuild_timer_ = std::move(*timer);
}

// ---- Background exchanges -------------------------------------------------------

bool AntiEntropyDriver::MayExchange() const {
  const auto placement = host_.Placement();
  return tree_ready_ && running_ == nullptr && host_.Ready() && placement && placement->still() &&
         placement->Serving(options_.self_id);
}

std::map<std::string, std::vector<RingRange>> AntiEntropyDriver::PeerRanges() const {
  std::map<std::string, std::vector<RingRange>> out;
  const auto placement = host_.Placement();
  if (!placement) return out;
  for (const ring::TokenRange& range : ring::TokenRanges(placement->current(), placement->n())) {
    const auto& replicas = range.replicas;
    if (std::find(replicas.begin(), replicas.end(), options_.self_id) == replicas.end()) continue;
    for (const std::string& peer : replicas) {
      if (peer != options_.self_id) out[peer].push_back({range.start, range.end});
    }
  }
  return out;
}

void AntiEntropyDriver::Tick() {
  if (options_.rebuild_interval_ms > 0 && !rebuilding_ &&
      clock_.MonotonicMs() - last_rebuild_ms_ >= options_.rebuild_interval_ms) {
    DYNKV_LOG(kInfo) << "anti-entropy: scheduled rebuild of the hash tree";
    RebuildStep();
  }
  if (repair_.running || options_.interval_ms <= 0 || !MayExchange()) return;
  const int64_t now = clock_.MonotonicMs();
  const auto ranges = PeerRanges();
  if (ranges.empty()) return;
  // Round robin over the peers, starting after the last one tried.
  auto it = ranges.upper_bound(last_peer_);
  for (size_t tried = 0; tried < ranges.size(); ++tried, ++it) {
    if (it == ranges.end()) it = ranges.begin();
    PeerState& state = peers_[it->first];
    if (now < state.next_try_ms || !host_.gossiper().IsUp(it->first)) continue;
    last_peer_ = it->first;
    state.next_try_ms = now + options_.interval_ms;
    return RunExchange(it->first, it->second, nullptr);
  }
}

void AntiEntropyDriver::RunExchange(const std::string& peer, std::vector<RingRange> ranges,
                                    std::function<void(const ExchangeResult&)> then) {
  const gossip::NodeState* state = host_.gossiper().Find(peer);
  if (state == nullptr) {
    ExchangeResult unknown;
    unknown.status = Status::Unavailable("unknown node");
    if (then) then(unknown);
    return;
  }
  const int64_t started_wall = clock_.NowMs();
  std::weak_ptr<int> alive = lifetime_;
  running_ = Exchange::Start(Context(), options_.exchange, state->peer_address, std::move(ranges),
                             [this, alive, peer, started_wall, then](const ExchangeResult& result) {
                               if (alive.expired()) return;
                               Record(peer, started_wall, result);
                               // Dropped from a post: the exchange is still on the stack here.
                               env_.Post([this, alive, then, result] {
                                 if (alive.expired()) return;
                                 running_.reset();
                                 if (then) then(result);
                               });
                             });
}

void AntiEntropyDriver::Record(const std::string& peer, int64_t started_wall_ms, const ExchangeResult& result) {
  RecordTotals(result);
  PeerState& state = peers_[peer];
  if (result.status.ok()) {
    ++stats_.exchanges;
    state.failures = 0;
    state.last_ok_start_ms = started_wall_ms;
  } else {
    ++stats_.exchanges_failed;
    state.failures = std::min(state.failures + 1, 10);
    const int64_t base = std::max<int64_t>(options_.interval_ms, 1000);
    state.next_try_ms = clock_.MonotonicMs() + std::min(options_.max_backoff_ms, base << state.failures);
    DYNKV_LOG(kDebug) << "anti-entropy exchange with " << peer << " failed: " << result.status.ToString();
  }
}

void AntiEntropyDriver::RecordTotals(const ExchangeResult& result) {
  stats_.bytes_sent += result.bytes_sent;
  stats_.bytes_received += result.bytes_received;
  stats_.keys_pulled += result.keys_pulled;
  stats_.keys_pushed += result.keys_pushed;
  stats_.keys_compared += result.keys_compared;
  stats_.branches_differing += result.branches_differing;
  stats_.segments_differing += result.segments_differing;
  if (result.keys_pulled + result.keys_pushed > 0) {
    DYNKV_LOG(kInfo) << "anti-entropy: " << result.segments_differing << " segments differed; pulled "
                     << result.keys_pulled << " keys, pushed " << result.keys_pushed;
  }
}

void AntiEntropyDriver::CompareNow(const std::string& peer, const std::vector<RingRange>& ranges,
                                   std::function<void(Status)> done) {
  const gossip::NodeState* state = host_.gossiper().Find(peer);
  if (state == nullptr) return done(Status::Unavailable("unknown node " + peer));
  const uint64_t id = next_compare_++;
  std::weak_ptr<int> alive = lifetime_;
  comparing_[id] = Exchange::Start(Context(), options_.exchange, state->peer_address, ranges,
                                   [this, alive, id, done](const ExchangeResult& result) {
                                     if (alive.expired()) return;
                                     RecordTotals(result);
                                     env_.Post([this, alive, id, done, status = result.status] {
                                       if (alive.expired()) return;
                                       comparing_.erase(id);
                                       done(status);
                                     });
                                   });
}

int64_t AntiEntropyDriver::TombstoneSafeBefore() const {
  int64_t safe = -1;
  for (const auto& [peer, ranges] : PeerRanges()) {
    auto it = peers_.find(peer);
    if (it == peers_.end() || it->second.last_ok_start_ms < 0) return 0;
    const int64_t known = it->second.last_ok_start_ms - options_.propagation_delay_ms;
    safe = safe < 0 ? known : std::min(safe, known);
  }
  return std::max<int64_t>(safe, 0);
}

// ---- `dynkv repair` -----------------------------------------------------------------

void AntiEntropyDriver::StartRepair() {
  if (repair_.running) return;
  repair_ = Repair{};
  repair_.running = true;
  repair_.started_ms = clock_.NowMs();
  for (auto& [peer, ranges] : PeerRanges()) {
    repair_.peers.push_back(peer);
    repair_.ranges[peer] = static_cast<uint32_t>(ranges.size());
    repair_.ranges_total += static_cast<uint32_t>(ranges.size());
  }
  DYNKV_LOG(kInfo) << "repair: exchanging " << repair_.ranges_total << " range(s) with " << repair_.peers.size()
                   << " replica peer(s)";
  NextRepairPeer();
}

void AntiEntropyDriver::NextRepairPeer() {
  if (repair_.next >= repair_.peers.size()) {
    repair_.running = false;
    repair_.finished_ms = clock_.NowMs();
    DYNKV_LOG(kInfo) << "repair: done; " << repair_.ranges_done << " of " << repair_.ranges_total
                     << " range(s) compared, " << repair_.keys_repaired << " key(s) repaired";
    return;
  }
  const std::string peer = repair_.peers[repair_.next++];
  const auto placement = host_.Placement();
  if (!placement || !placement->still()) {
    repair_.not_compared.push_back(peer + ": the ring is changing; repair again once it is still");
    return NextRepairPeer();
  }
  if (!host_.gossiper().IsUp(peer)) {
    repair_.down.push_back(peer);
    return NextRepairPeer();
  }
  // A tree being built (here or there) or a background exchange under way:
  // this peer again a little later, within the repair's bound.
  if (!tree_ready_ || running_ != nullptr) return RetryRepairPeer(peer, "this node's hash tree is being built");
  auto ranges = PeerRanges()[peer];
  const auto count = static_cast<uint32_t>(ranges.size());
  RunExchange(peer, std::move(ranges), [this, peer, count](const ExchangeResult& result) {
    repair_.keys_repaired += result.keys_pulled + result.keys_pushed;
    repair_.segments_differing += result.segments_differing;
    if (result.tree_not_ready) return RetryRepairPeer(peer, result.status.ToString());
    if (result.status.ok()) {
      repair_.ranges_done += count;
    } else {
      repair_.not_compared.push_back(peer + ": " + result.status.ToString());
    }
    NextRepairPeer();
  });
}

void AntiEntropyDriver::RetryRepairPeer(const std::string& peer, const std::string& why) {
  if (clock_.NowMs() - repair_.started_ms > kRepairWaitMs) {
    repair_.not_compared.push_back(peer + ": " + why);
    return NextRepairPeer();
  }
  --repair_.next;
  std::weak_ptr<int> alive = lifetime_;
  auto timer = env_.StartTimer(kRepairRetryMs, 0, [this, alive] {
    env_.Post([this, alive] {
      if (!alive.expired()) NextRepairPeer();
    });
  });
  if (timer.ok()) repair_timer_ = std::move(*timer);
}

void AntiEntropyDriver::FillRepair(dynkv::client::RepairResponse* out) const {
  out->set_node_id(options_.self_id);
  out->set_running(repair_.running);
  out->set_started_ms(repair_.started_ms);
  out->set_finished_ms(repair_.finished_ms);
  out->set_peers_total(static_cast<uint32_t>(repair_.peers.size()));
  out->set_peers_done(static_cast<uint32_t>(std::min(repair_.next, repair_.peers.size())));
  out->set_ranges_total(repair_.ranges_total);
  out->set_ranges_done(repair_.ranges_done);
  out->set_keys_repaired(repair_.keys_repaired);
  out->set_segments_differing(repair_.segments_differing);
  for (const std::string& line : repair_.not_compared) out->add_not_compared(line);
  for (const std::string& peer : repair_.down) out->add_down(peer);
}

// ---- Serving a peer's exchange --------------------------------------------------------

bool AntiEntropyDriver::Handle(const peer::PeerRequest& request, Reply& reply) {
  switch (request.op_case()) {
    case peer::PeerRequest::kAaeTree:
      ServeTree(request.aae_tree(), std::move(reply));
      return true;
    case peer::PeerRequest::kAaeKeys:
      ServeKeys(request.aae_keys(), std::move(reply));
      return true;
    case peer::PeerRequest::kAaeFetch:
      ServeFetch(request.aae_fetch(), std::move(reply));
      return true;
    default:
      return false;
  }
}

void AntiEntropyDriver::ServeTree(const peer::AaeTreeRequest& request, Reply reply) {
  auto coverage = CoverageOf(request.ranges());
  if (!coverage.ok()) return reply(net::PeerErrorResponse(coverage.status()));
  std::vector<uint32_t> branches(request.branches().begin(), request.branches().end());
  std::sort(branches.begin(), branches.end());
  if (branches.size() > kBranches || std::adjacent_find(branches.begin(), branches.end()) != branches.end() ||
      (!branches.empty() && branches.back() >= kBranches) ||
      !std::equal(branches.begin(), branches.end(), request.branches().begin())) {
    return reply(net::PeerErrorResponse(Status::InvalidArgument("branches must be distinct, sorted, below 1024")));
  }
  auto answer = std::make_shared<peer::PeerResponse>();
  worker_.Run(
      [keeper = &keeper_, coverage = std::move(*coverage), branches, answer](storage::Engine& engine) {
        if (!keeper->ready()) {
          answer->mutable_aae_tree()->set_ready(false);
          return;
        }
        auto hashes = branches.empty() ? keeper->Branches(engine, coverage) : keeper->Leaves(engine, coverage, branches);
        if (!hashes.ok()) {
          *answer = net::PeerErrorResponse(hashes.status());
          return;
        }
        answer->mutable_aae_tree()->set_ready(true);
        for (uint64_t h : *hashes) answer->mutable_aae_tree()->add_hashes(h);
      },
      [answer, reply = std::move(reply)] { reply(std::move(*answer)); });
}

void AntiEntropyDriver::ServeKeys(const peer::AaeKeysRequest& request, Reply reply) {
  auto coverage = CoverageOf(request.ranges());
  if (!coverage.ok()) return reply(net::PeerErrorResponse(coverage.status()));
  std::vector<uint32_t> segments(request.segments().begin(), request.segments().end());
  if (segments.size() > kMaxSegmentsAsked ||
      std::any_of(segments.begin(), segments.end(), [](uint32_t s) { return s >= kSegments; })) {
    return reply(net::PeerErrorResponse(Status::InvalidArgument("at most 4096 segments, each below 2^20")));
  }
  std::sort(segments.begin(), segments.end());
  segments.erase(std::unique(segments.begin(), segments.end()), segments.end());
  auto answer = std::make_shared<peer::PeerResponse>();
  worker_.Run(
      [keeper = &keeper_, coverage = std::move(*coverage), segments, answer](storage::Engine& engine) {
        auto clocks = keeper->Clocks(engine, coverage, segments);
        if (!clocks.ok()) {
          *answer = net::PeerErrorResponse(clocks.status());
          return;
        }
        peer::AaeKeysReply* out = answer->mutable_aae_keys();
        for (const KeyClock& clock : *clocks) {
          peer::AaeKeyClock* c = out->add_keys();
          c->set_key(clock.key);
          c->set_digest(clock.digest);
          for (const auto& [actor, counter] : clock.vv.entries()) {
            peer::VersionEntry* e = c->add_version();
            e->set_actor(actor);
            e->set_counter(counter);
          }
        }
      },
      [answer, reply = std::move(reply)] { reply(std::move(*answer)); });
}

void AntiEntropyDriver::ServeFetch(const peer::AaeFetchRequest& request, Reply reply) {
  if (static_cast<size_t>(request.keys_size()) > kMaxKeysAsked) {
    return reply(net::PeerErrorResponse(Status::InvalidArgument("at most 1000 keys per fetch")));
  }
  std::vector<std::string> keys(request.keys().begin(), request.keys().end());
  auto answer = std::make_shared<peer::PeerResponse>();
  worker_.Run(
      [keys = std::move(keys), answer](storage::Engine& engine) {
        std::vector<storage::ObjectWrite> objects;
        for (const std::string& key : keys) {
          Result<Object> object = engine.Get(key);
          if (!object.ok()) {
            *answer = net::PeerErrorResponse(object.status());
            return;
          }
          if (!object->empty()) objects.push_back({key, std::move(*object)});
        }
        handoff::ToSyncs(objects, answer->mutable_stream_batch()->mutable_objects());
      },
      [answer, reply = std::move(reply)] { reply(std::move(*answer)); });
}

void AntiEntropyDriver::FillStats(std::map<std::string, double>* values) const {
  auto& v = *values;
  v["anti_entropy.tree_ready"] = tree_ready_ ? 1 : 0;
  // The leaves (HashTree::MemoryBytes), twice while a rebuild builds a second tree.
  v["anti_entropy.tree_bytes"] = static_cast<double>(size_t{kSegments} * sizeof(uint64_t) * (rebuilding_ ? 2 : 1));
  v["anti_entropy.exchanges"] = static_cast<double>(stats_.exchanges);
  v["anti_entropy.exchanges_failed"] = static_cast<double>(stats_.exchanges_failed);
  v["anti_entropy.branches_differing"] = static_cast<double>(stats_.branches_differing);
  v["anti_entropy.segments_compared"] = static_cast<double>(stats_.segments_differing);
  v["anti_entropy.keys_compared"] = static_cast<double>(stats_.keys_compared);
  v["anti_entropy.keys_repaired"] = static_cast<double>(stats_.keys_pulled + stats_.keys_pushed);
  v["anti_entropy.keys_pulled"] = static_cast<double>(stats_.keys_pulled);
  v["anti_entropy.keys_pushed"] = static_cast<double>(stats_.keys_pushed);
  v["anti_entropy.bytes_sent"] = static_cast<double>(stats_.bytes_sent);
  v["anti_entropy.bytes_received"] = static_cast<double>(stats_.bytes_received);
  v["anti_entropy.tree_rebuilds"] = static_cast<double>(stats_.rebuilds);
}

}  // namespace dynkv::antientropy
