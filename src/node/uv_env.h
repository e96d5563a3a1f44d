// UvEnv: the production Env (common/env.h) on the node's libuv loop: timers
// are uv_timer_t handles (one owner each, freed in their close callback),
// peer calls go through the PeerPool, the storage worker runs on a thread
// of its own and hands its completions back through the CompletionQueue;
// the reads and updates a loop turn queues wake it once, as the turn ends
// (a uv_prepare: Defer).
//
// Threads: the loop's, but Post (any thread).
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/env.h"
#include "net/peer_transport.h"
#include "node/completion_queue.h"

namespace dynkv::node {

class UvEnv final : public Env, public net::PeerEvents {
 public:
  // Makes the env's PeerPool. REQUIRES: loop, clock and completions outlive the env.
  UvEnv(uv_loop_t* loop, const Clock& clock, CompletionQueue& completions, net::PeerPoolOptions pool_options);
  ~UvEnv() override;

  const Clock& clock() const override { return clock_; }
  Result<std::unique_ptr<Timer>> StartTimer(int64_t delay_ms, int64_t repeat_ms,
                                            std::function<void()> fn) override;
  void Post(std::function<void()> fn) override { completions_.Post(std::move(fn)); }
  void CallPeer(const std::string& address, peer::PeerRequest request, uint32_t timeout_ms,
                PeerCallback done) override;
  void ForgetPeer(const std::string& address) override { pool_.Forget(address); }
  void SetPeerUnreachable(std::function<void(const std::string&)> fn) override {
    unreachable_ = std::move(fn);
  }
  uint64_t Random() override { return random_(); }
  std::unique_ptr<storage::StorageWorker> StartStorage(storage::Engine& engine) override;

  // Fails every outstanding peer call and closes the connections. Idempotent.
  void ClosePeers() { pool_.Close(); }
  // "peer.*" counters for the node's stats.
  void FillStats(std::map<std::string, double>* values) const;

  // Runs fn on the loop just before it next waits for events (this turn's
  // end). Calls deferred while the deferred calls run, run in the same pass.
  void Defer(std::function<void()> fn);

  // net::PeerEvents
  void OnPeerReachable(const std::string&) override {}
  void OnPeerUnreachable(const std::string& address, const Status& why) override;

 private:
  uv_loop_t* loop_;
  const Clock& clock_;
  CompletionQueue& completions_;
  net::PeerPool pool_;
  std::mt19937_64 random_;
  std::function<void(const std::string&)> unreachable_;
  struct TurnEnd;
  TurnEnd* turn_end_;  // freed in its handle's close callback
};

}  // namespace dynkv::node
