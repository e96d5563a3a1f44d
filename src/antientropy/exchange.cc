#include "antientropy/exchange.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "handoff/handoff.h"

namespace dynkv::antientropy {

namespace {

constexpr int64_t kBurstMs = 1000;
constexpr const char* kTreeNotReady = "a hash tree is being built (after a crash or on schedule)";

// The hashes of an AaeTreeReply, checked against the count asked for.
Result<std::vector<uint64_t>> HashesOf(Result<peer::PeerResponse> response, size_t expected) {
  if (!response.ok()) return response.status();
  if (!response->has_aae_tree()) return Status::Internal("the peer answered an AaeTree request with something else");
  const peer::AaeTreeReply& reply = response->aae_tree();
  if (!reply.ready()) return Status::Unavailable(kTreeNotReady);
  if (static_cast<size_t>(reply.hashes_size()) != expected) {
    return Status::InvalidArgument("the peer sent " + std::to_string(reply.hashes_size()) + " hashes, not " +
                                   std::to_string(expected));
  }
  return std::vector<uint64_t>(reply.hashes().begin(), reply.hashes().end());
}

Result<std::vector<KeyClock>> ClocksOf(Result<peer::PeerResponse> response) {
  if (!response.ok()) return response.status();
  if (!response->has_aae_keys()) return Status::Internal("the peer answered an AaeKeys request with something else");
  std::vector<KeyClock> clocks;
  for (const peer::AaeKeyClock& clock : response->aae_keys().keys()) {
    std::vector<VersionVector::Entry> entries;
    for (const peer::VersionEntry& e : clock.version()) entries.emplace_back(e.actor(), e.counter());
    clocks.push_back({clock.key(), clock.digest(), VersionVector(std::move(entries))});
  }
  return clocks;
}

// Local objects of keys[from...] up to about `max_bytes`; `next`: the first key not read.
struct PushBatch {
  Status status;
  std::vector<storage::ObjectWrite> objects;
  size_t next = 0;
};

PushBatch ReadForPush(storage::Engine& engine, const std::vector<std::string>& keys, size_t from,
                      uint64_t max_bytes) {
  PushBatch batch;
  uint64_t bytes = 0;
  size_t i = from;
  for (; i < keys.size() && (batch.objects.empty() || bytes < max_bytes); ++i) {
    Result<Object> object = engine.Get(keys[i]);
    if (!object.ok()) {
      batch.status = object.status();
      return batch;
    }
    if (object->empty()) continue;  // gone meanwhile (reaped, or handed on)
    bytes += keys[i].size() + object->ApproximateBytes();
    batch.objects.push_back({keys[i], std::move(*object)});
  }
  batch.next = i;
  return batch;
}

}  // namespace

int64_t ByteThrottle::WaitMs(int64_t now_ms) const {
  if (bytes_per_sec_ == 0) return 0;
  return std::max<int64_t>(0, debt_until_ms_ - kBurstMs - now_ms);
}

void ByteThrottle::Charge(uint64_t bytes, int64_t now_ms) {
  if (bytes_per_sec_ == 0) return;
  const auto cost_ms = static_cast<int64_t>(bytes * 1000 / bytes_per_sec_);
  debt_until_ms_ = std::max(debt_until_ms_, now_ms) + cost_ms;
}

std::shared_ptr<Exchange> Exchange::Start(ExchangeContext context, ExchangeOptions options,
                                          std::string peer_address, std::vector<RingRange> ranges, Done done) {
  auto exchange =
      std::make_shared<Exchange>(context, options, std::move(peer_address), std::move(ranges), std::move(done));
  exchange->CompareBranches(1);
  return exchange;
}

Exchange::Exchange(ExchangeContext context, ExchangeOptions options, std::string peer_address,
                   const std::vector<RingRange>& ranges, Done done)
    : context_(context),
      options_(options),
      peer_(std::move(peer_address)),
      ranges_(ranges),
      coverage_(std::make_shared<const Coverage>(ranges)),
      done_(std::move(done)) {}

// ---- Plumbing ------------------------------------------------------------------

template <typename T>
void Exchange::OnStorage(std::function<T(storage::Engine&)> work, std::function<void(T)> then) {
  auto result = std::make_shared<std::optional<T>>();
  std::weak_ptr<Exchange> weak = weak_from_this();
  context_.worker->Run([work = std::move(work), result](storage::Engine& engine) { result->emplace(work(engine)); },
                       [weak, result, then = std::move(then)] {
                         if (weak.expired() || !result->has_value()) return;
                         then(std::move(**result));
                       });
}

void Exchange::CallPeer(peer::PeerRequest request, std::function<void(Result<peer::PeerResponse>)> done) {
  result_.bytes_sent += request.ByteSizeLong();
  std::weak_ptr<Exchange> weak = weak_from_this();
  context_.env->CallPeer(peer_, std::move(request), options_.request_timeout_ms,
                         [weak, done = std::move(done)](Result<peer::PeerResponse> response) {
                           auto self = weak.lock();
                           if (!self) return;
                           if (response.ok()) self->result_.bytes_received += response->ByteSizeLong();
                           done(std::move(response));
                         });
}

void Exchange::Later(int64_t delay_ms, std::function<void()> step) {
  std::weak_ptr<Exchange> weak = weak_from_this();
  // The step runs from a post, never inside the timer's own callback: it may
  // replace timer_.
  auto timer = context_.env->StartTimer(delay_ms, 0, [weak, env = context_.env, step = std::move(step)] {
    env->Post([weak, step] {
      if (!weak.expired()) step();
    });
  });
  if (!timer.ok()) return Finish(timer.status());
  timer_ = std::move(*timer);
}

void Exchange::AfterThrottle(std::function<void()> step) {
  const int64_t wait = context_.throttle->WaitMs(context_.env->clock().MonotonicMs());
  if (wait == 0) return step();
  Later(wait, std::move(step));
}

void Exchange::AddRanges(google::protobuf::RepeatedPtrField<peer::AaeRange>* out) const {
  for (const RingRange& range : ranges_) {
    peer::AaeRange* r = out->Add();
    r->set_start(range.start);
    r->set_end(range.end);
  }
}

void Exchange::BothHashes(const std::vector<uint32_t>& branches, std::function<void(Hashes, Hashes)> done) {
  struct Pair {
    std::optional<Hashes> local, remote;
  };
  auto pair = std::make_shared<Pair>();
  auto join = [pair, done = std::move(done)] {
    if (pair->local && pair->remote) done(std::move(*pair->local), std::move(*pair->remote));
  };
  OnStorage<Hashes>(
      [keeper = context_.keeper, coverage = coverage_, branches](storage::Engine& engine) -> Hashes {
        if (!keeper->ready()) return Status::Unavailable(kTreeNotReady);
        return branches.empty() ? keeper->Branches(engine, *coverage) : keeper->Leaves(engine, *coverage, branches);
      },
      [pair, join](Hashes local) {
        pair->local = std::move(local);
        join();
      });
  peer::PeerRequest request;
  AddRanges(request.mutable_aae_tree()->mutable_ranges());
  for (uint32_t b : branches) request.mutable_aae_tree()->add_branches(b);
  const size_t expected = branches.empty() ? kBranches : branches.size() * kLeavesPerBranch;
  CallPeer(std::move(request), [pair, join, expected](Result<peer::PeerResponse> response) {
    pair->remote = HashesOf(std::move(response), expected);
    join();
  });
}

// ---- The steps -------------------------------------------------------------------

void Exchange::CompareBranches(int round) {
  std::weak_ptr<Exchange> weak = weak_from_this();
  BothHashes({}, [weak, round](Hashes local, Hashes remote) {
    if (auto self = weak.lock()) self->OnBranches(round, std::move(local), std::move(remote));
  });
}

void Exchange::OnBranches(int round, Hashes local, Hashes remote) {
  if (!local.ok()) return Finish(local.status());
  if (!remote.ok()) return Finish(remote.status());
  std::vector<uint32_t> differing = Differing(*local, *remote);
  if (differing.empty()) return Finish(Status::Ok());
  if (round == 1) {
    first_round_ = std::move(differing);
    std::weak_ptr<Exchange> weak = weak_from_this();
    return Later(options_.recheck_ms, [weak] {
      if (auto self = weak.lock()) self->CompareBranches(2);
    });
  }
  branches_ = InBoth(first_round_, differing);
  result_.branches_differing = static_cast<uint32_t>(branches_.size());
  NextBranches();
}

void Exchange::NextBranches() {
  if (next_branch_ >= branches_.size()) return Finish(Status::Ok());
  const size_t end = std::min(branches_.size(), next_branch_ + options_.branches_per_round);
  std::vector<uint32_t> round(branches_.begin() + static_cast<ptrdiff_t>(next_branch_),
                              branches_.begin() + static_cast<ptrdiff_t>(end));
  next_branch_ = end;
  std::weak_ptr<Exchange> weak = weak_from_this();
  BothHashes(round, [weak, round](Hashes local, Hashes remote) {
    if (auto self = weak.lock()) self->OnLeaves(round, std::move(local), std::move(remote));
  });
}

void Exchange::OnLeaves(const std::vector<uint32_t>& branches, Hashes local, Hashes remote) {
  if (!local.ok()) return Finish(local.status());
  if (!remote.ok()) return Finish(remote.status());
  segments_ = DifferingSegments(branches, *local, *remote);
  next_segment_ = 0;
  result_.segments_differing += segments_.size();
  NextSegments();
}

void Exchange::NextSegments() {
  if (next_segment_ >= segments_.size()) return NextBranches();
  const size_t end = std::min(segments_.size(), next_segment_ + options_.segments_per_round);
  std::vector<uint32_t> round(segments_.begin() + static_cast<ptrdiff_t>(next_segment_),
                              segments_.begin() + static_cast<ptrdiff_t>(end));
  next_segment_ = end;
  struct Pair {
    std::optional<Clocks> local, remote;
  };
  auto pair = std::make_shared<Pair>();
  std::weak_ptr<Exchange> weak = weak_from_this();
  auto join = [weak, pair] {
    if (!pair->local || !pair->remote) return;
    if (auto self = weak.lock()) self->OnClocks(std::move(*pair->local), std::move(*pair->remote));
  };
  OnStorage<Clocks>(
      [keeper = context_.keeper, coverage = coverage_, round](storage::Engine& engine) {
        return keeper->Clocks(engine, *coverage, round);
      },
      [pair, join](Clocks local) {
        pair->local = std::move(local);
        join();
      });
  peer::PeerRequest request;
  AddRanges(request.mutable_aae_keys()->mutable_ranges());
  for (uint32_t s : round) request.mutable_aae_keys()->add_segments(s);
  CallPeer(std::move(request), [pair, join](Result<peer::PeerResponse> response) {
    pair->remote = ClocksOf(std::move(response));
    join();
  });
}

void Exchange::OnClocks(Clocks local, Clocks remote) {
  if (!local.ok()) return Finish(local.status());
  if (!remote.ok()) return Finish(remote.status());
  result_.keys_compared += std::max(local->size(), remote->size());
  plan_ = PlanKeys(*local, *remote);
  Pull(0);
}

// Objects the peer holds ahead come here and merge (dvv::Sync).
void Exchange::Pull(size_t from) {
  if (from >= plan_.pull.size()) return Push(0);
  const size_t end = std::min(plan_.pull.size(), from + options_.keys_per_fetch);
  std::weak_ptr<Exchange> weak = weak_from_this();
  AfterThrottle([weak, from, end] {
    auto self = weak.lock();
    if (!self) return;
    peer::PeerRequest request;
    for (size_t i = from; i < end; ++i) request.mutable_aae_fetch()->add_keys(self->plan_.pull[i]);
    self->CallPeer(std::move(request), [weak, end](Result<peer::PeerResponse> response) {
      auto self = weak.lock();
      if (!self) return;
      if (!response.ok()) return self->Finish(response.status());
      self->context_.throttle->Charge(response->ByteSizeLong(), self->context_.env->clock().MonotonicMs());
      auto objects = handoff::FromSyncs(response->stream_batch().objects(), "anti-entropy fetch");
      if (!objects.ok()) return self->Finish(objects.status());
      const size_t count = objects->size();
      handoff::MergeAll(*self->context_.replica, std::move(*objects), [weak, end, count](Status merged) {
        auto self = weak.lock();
        if (!self) return;
        if (!merged.ok()) return self->Finish(merged);
        self->result_.keys_pulled += count;
        self->Pull(end);
      });
    });
  });
}

// Then what the peer lacks, or holds behind, goes to it (merged there).
void Exchange::Push(size_t from) {
  if (from >= plan_.push.size()) return NextSegments();
  std::weak_ptr<Exchange> weak = weak_from_this();
  auto keys = std::make_shared<const std::vector<std::string>>(plan_.push);
  OnStorage<PushBatch>(
      [keys, from, max_bytes = options_.push_batch_bytes](storage::Engine& engine) {
        return ReadForPush(engine, *keys, from, max_bytes);
      },
      [weak](PushBatch batch) {
        auto self = weak.lock();
        if (!self) return;
        if (!batch.status.ok()) return self->Finish(batch.status);
        if (batch.objects.empty()) return self->Push(batch.next);
        self->AfterThrottle([weak, batch = std::make_shared<PushBatch>(std::move(batch))] {
          auto self = weak.lock();
          if (!self) return;
          peer::PeerRequest request;
          handoff::ToSyncs(batch->objects, request.mutable_hint_batch()->mutable_writes());
          self->context_.throttle->Charge(request.ByteSizeLong(), self->context_.env->clock().MonotonicMs());
          const size_t count = batch->objects.size();
          const size_t next = batch->next;
          self->CallPeer(std::move(request), [weak, count, next](Result<peer::PeerResponse> response) {
            auto self = weak.lock();
            if (!self) return;
            if (!response.ok()) return self->Finish(response.status());
            self->result_.keys_pushed += count;
            self->Push(next);
          });
        });
      });
}

void Exchange::Finish(Status status) {
  if (!done_) return;
  result_.tree_not_ready = status.code() == Code::kUnavailable && status.message() == kTreeNotReady;
  result_.status = std::move(status);
  timer_.reset();
  Done done = std::move(done_);
  done_ = nullptr;
  done(result_);
}

}  // namespace dynkv::antientropy
