// SimEnv: the Env (common/env.h) of one simulated node, on the simulator's
// SimLoop: its clock is the loop's (plus this node's clock jump), its timers
// and posts are loop events, its storage worker is a manual one drained by
// loop events after a seeded delay, and its peer calls go through a
// PeerRouter (the SimCluster) over the SimNetwork.
//
// One SimEnv is one life of a node. Everything it schedules belongs to that
// life (a shared Life): a killed life runs nothing more, and a paused one
// holds every event until it resumes, as a SIGSTOPped process would, then
// runs them in order. Deterministic: the only randomness is the seeded
// SimRandom it is given.
//
// Threads: one (the simulator's).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/env.h"
#include "sim/sim_network.h"

namespace dynkv::sim {

// The state shared by everything one node's life scheduled.
struct Life {
  bool alive = true;
  bool paused = false;
  std::deque<std::function<void()>> held;  // events that came due while paused
};

// Runs `fn` for `life`, now or, while it is paused, once it resumes;
// never once it is dead.
void RunIn(const std::shared_ptr<Life>& life, std::function<void()> fn);

// How a SimEnv's peer calls travel: the simulator routes them to the node
// at `address` and brings the response (or a refusal) back.
class PeerRouter {
 public:
  virtual ~PeerRouter() = default;
  // Delivers `request` from `from_address` to whatever node listens at
  // `to_address`; `reply` with its response, or `refused` when nothing
  // listens there. Either may never run (a lost message).
  virtual void Route(const std::string& from_address, const std::string& to_address,
                     peer::PeerRequest request, std::function<void(peer::PeerResponse)> reply,
                     std::function<void()> refused) = 0;
};

struct SimEnvOptions {
  std::string node_id;
  std::string peer_address;
  uint32_t call_timeout_ms = 5000;   // as the PeerPool's default
  int64_t max_storage_delay_ms = 2;  // a drain runs 0..this after work is queued
  // Calls to an address for which this says true fail inside the call with
  // UNAVAILABLE, as PeerPool's do while a peer is backing off.
  std::function<bool(const std::string& address)> refuse_at_once;
};

class SimEnv final : public Env {
 public:
  // REQUIRES: loop, random and router outlive the env.
  SimEnv(SimLoop& loop, SimRandom& random, PeerRouter& router, SimEnvOptions options);
  ~SimEnv() override;  // the life ends

  const Clock& clock() const override { return clock_; }
  Result<std::unique_ptr<Timer>> StartTimer(int64_t delay_ms, int64_t repeat_ms,
                                            std::function<void()> fn) override;
  void Post(std::function<void()> fn) override;
  void CallPeer(const std::string& address, peer::PeerRequest request, uint32_t timeout_ms,
                PeerCallback done) override;
  void ForgetPeer(const std::string&) override {}
  void SetPeerUnreachable(std::function<void(const std::string&)> fn) override {
    unreachable_ = std::move(fn);
  }
  // Reports `address` unreachable as a lost connection would, whatever the
  // network does (a test's spurious evidence).
  void ReportUnreachable(const std::string& address) {
    if (unreachable_) unreachable_(address);
  }
  uint64_t Random() override { return random_.Next(); }
  std::unique_ptr<storage::StorageWorker> StartStorage(storage::Engine& engine) override;

  // Runs `fn` in this life at `at_ms` (the cluster delivers messages so).
  void At(int64_t at_ms, std::function<void()> fn);
  const std::shared_ptr<Life>& life() const { return life_; }

  // Faults. Pause holds every event of this life until Resume.
  void Pause() { life_->paused = true; }
  // The storage thread stalls (a slow disk, a long compaction): nothing
  // queued to it runs before `until_ms` (the loop's time).
  // An earlier `until_ms` ends a stall: what waits runs then.
  void StallStorage(int64_t until_ms);
  void Resume();
  // Moves this node's wall clock (NowMs) by `delta_ms`; monotonic time is untouched.
  void JumpClock(int64_t delta_ms) { clock_.offset_ms += delta_ms; }
  void ResetClock() { clock_.offset_ms = 0; }
  int64_t clock_offset_ms() const { return clock_.offset_ms; }
  // A kill: what the storage worker holds and has not written is lost.
  void DropQueuedStorage();

 private:
  struct NodeClock final : Clock {
    explicit NodeClock(const SimLoop& l) : loop(l) {}
    int64_t NowMs() const override { return loop.now() + offset_ms; }
    int64_t MonotonicMs() const override { return loop.now(); }
    const SimLoop& loop;
    int64_t offset_ms = 0;
  };
  class SimTimer;

  void Answer(uint64_t call, Result<peer::PeerResponse> response);

  SimLoop& loop_;
  SimRandom& random_;
  PeerRouter& router_;
  SimEnvOptions options_;
  NodeClock clock_;
  std::shared_ptr<Life> life_ = std::make_shared<Life>();
  std::function<void(const std::string&)> unreachable_;
  uint64_t next_call_ = 1;
  std::map<uint64_t, PeerCallback> calls_;    // peer calls waiting for an answer
  storage::StorageWorker* worker_ = nullptr;  // the one StartStorage made; owned by the node
  int64_t storage_stalled_until_ms_ = 0;
  void DrainStorage();
};

}  // namespace dynkv::sim
