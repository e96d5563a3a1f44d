// Env: what the node's drivers need from the world, injected (DESIGN.md:
// The node environment and the simulator; LevelDB's Env is the model): the
// clock, timers, peer calls, randomness and the hand-off to the storage
// thread. Membership (the gossip driver), the handoff driver and the
// coordinator receive an Env instead of libuv handles and the PeerPool.
//
// Production implements it on libuv (node/uv_env.h); the simulator on a
// manual clock and a seeded scheduler (sim/sim_env.h), so whole nodes run
// in one thread, deterministically.
//
// Threads: every call but Post comes from the env's loop thread, and every
// callback runs there.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"

namespace dynkv::peer {
class PeerRequest;
class PeerResponse;
}  // namespace dynkv::peer

namespace dynkv::storage {
class Engine;
class StorageWorker;
}  // namespace dynkv::storage

namespace dynkv {

// A running timer; destroying it cancels it (no callback runs after).
class Timer {
 public:
  virtual ~Timer() = default;
};

class Env {
 public:
  // The response, or UNAVAILABLE / TIMEOUT, or the Status of the peer's error.
  using PeerCallback = std::function<void(Result<peer::PeerResponse>)>;

  virtual ~Env() = default;

  virtual const Clock& clock() const = 0;

  // Runs `fn` after `delay_ms`, then every `repeat_ms` when that is above
  // 0, until the Timer is destroyed. Fails only when the loop is closing.
  virtual Result<std::unique_ptr<Timer>> StartTimer(int64_t delay_ms, int64_t repeat_ms,
                                                    std::function<void()> fn) = 0;

  // Runs `fn` on the loop thread soon, in the order posted. The one call
  // that any thread may make (the storage thread hands its completions back
  // with it).
  virtual void Post(std::function<void()> fn) = 0;

  // Sends `request` to the node listening on peer `address` (HOST:PORT),
  // from this node (from_node is filled in). Exactly one `done`, maybe
  // inside the call. timeout_ms 0: the env's default.
  virtual void CallPeer(const std::string& address, peer::PeerRequest request, uint32_t timeout_ms,
                        PeerCallback done) = 0;
  // Drops what the env keeps for `address` (a node that left).
  virtual void ForgetPeer(const std::string& address) = 0;
  // Where direct evidence goes: `fn(address)` when a connection to a peer
  // was refused or reset (DESIGN.md: failure detection). One sink.
  virtual void SetPeerUnreachable(std::function<void(const std::string& address)> fn) = 0;

  // A random number: production draws from the OS, the simulator from its seed.
  virtual uint64_t Random() = 0;

  // A StorageWorker for `engine`: production runs it on a thread of its
  // own; the simulator on its scheduler. Completions come back by Post.
  // REQUIRES: engine outlives the worker.
  virtual std::unique_ptr<storage::StorageWorker> StartStorage(storage::Engine& engine) = 0;
};

}  // namespace dynkv
