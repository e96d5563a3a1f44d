#include "sim/sim_env.h"

#include <algorithm>

#include <utility>

#include "net/peer_transport.h"
#include "peer.pb.h"
#include "storage/storage.h"

namespace dynkv::sim {

void RunIn(const std::shared_ptr<Life>& life, std::function<void()> fn) {
  if (!life->alive) return;
  if (life->paused) {
    life->held.push_back(std::move(fn));
    return;
  }
  fn();
}

// A timer is a chain of loop events; destroying it breaks the chain.
class SimEnv::SimTimer final : public Timer {
 public:
  SimTimer(SimEnv& env, int64_t repeat_ms, std::function<void()> fn)
      : env_(env), repeat_ms_(repeat_ms), fn_(std::make_shared<std::function<void()>>(std::move(fn))) {}
  ~SimTimer() override { *armed_ = false; }

  void Arm(int64_t delay_ms) {
    env_.At(env_.loop_.now() + delay_ms, [this, armed = armed_] {
      if (!*armed) return;
      // Re-armed before it runs: the callback may destroy this timer.
      if (repeat_ms_ > 0)
        Arm(repeat_ms_);
      else
        *armed = false;
      auto fn = fn_;
      (*fn)();
    });
  }

 private:
  SimEnv& env_;
  const int64_t repeat_ms_;
  std::shared_ptr<std::function<void()>> fn_;
  std::shared_ptr<bool> armed_ = std::make_shared<bool>(true);
};

SimEnv::SimEnv(SimLoop& loop, SimRandom& random, PeerRouter& router, SimEnvOptions options)
    : loop_(loop), random_(random), router_(router), options_(std::move(options)), clock_(loop) {}

SimEnv::~SimEnv() {
  life_->alive = false;
  life_->held.clear();
}

void SimEnv::At(int64_t at_ms, std::function<void()> fn) {
  loop_.At(at_ms, [life = life_, fn = std::move(fn)]() mutable { RunIn(life, std::move(fn)); });
}

Result<std::unique_ptr<Timer>> SimEnv::StartTimer(int64_t delay_ms, int64_t repeat_ms,
                                                  std::function<void()> fn) {
  auto timer = std::make_unique<SimTimer>(*this, repeat_ms, std::move(fn));
  timer->Arm(delay_ms);
  return std::unique_ptr<Timer>(std::move(timer));
}

void SimEnv::Post(std::function<void()> fn) { At(loop_.now(), std::move(fn)); }

void SimEnv::Resume() {
  life_->paused = false;
  // What came due meanwhile runs now, in the order it came due.
  std::deque<std::function<void()>> held = std::move(life_->held);
  life_->held.clear();
  for (auto& fn : held) Post(std::move(fn));
}

void SimEnv::CallPeer(const std::string& address, peer::PeerRequest request, uint32_t timeout_ms,
                      PeerCallback done) {
  if (options_.refuse_at_once && options_.refuse_at_once(address)) {
    return done(Status::Unavailable("cannot connect to " + address + ": backing off"));
  }
  const uint64_t call = next_call_++;
  calls_.emplace(call, std::move(done));
  request.set_from_node(options_.node_id);
  std::shared_ptr<Life> life = life_;
  auto reply = [this, life, call](peer::PeerResponse response) {
    RunIn(life, [this, call, response = std::move(response)]() mutable {
      if (response.has_error()) return Answer(call, net::StatusFromPeerError(response.error()));
      Answer(call, std::move(response));
    });
  };
  auto refused = [this, life, call, address] {
    RunIn(life, [this, call, address] {
      if (unreachable_) unreachable_(address);
      Answer(call, Status::Unavailable("connection to " + address + " refused"));
    });
  };
  router_.Route(options_.peer_address, address, std::move(request), std::move(reply), std::move(refused));
  const uint32_t timeout = timeout_ms != 0 ? timeout_ms : options_.call_timeout_ms;
  At(loop_.now() + timeout, [this, call, timeout] {
    Answer(call, Status::Timeout("no response from the peer within " + std::to_string(timeout) + " ms"));
  });
}

void SimEnv::Answer(uint64_t call, Result<peer::PeerResponse> response) {
  auto it = calls_.find(call);
  if (it == calls_.end()) return;  // answered already (a late or duplicated reply)
  PeerCallback done = std::move(it->second);
  calls_.erase(it);
  done(std::move(response));
}

std::unique_ptr<storage::StorageWorker> SimEnv::StartStorage(storage::Engine& engine) {
  auto on_work = [this] {
    const int64_t delay = random_.Between(0, options_.max_storage_delay_ms);
    At(loop_.now() + delay, [this] { DrainStorage(); });
  };
  auto worker = storage::StorageWorker::Manual(
      engine, [this](std::function<void()> fn) { Post(std::move(fn)); }, std::move(on_work));
  worker_ = worker.get();
  return worker;
}

void SimEnv::StallStorage(int64_t until_ms) {
  storage_stalled_until_ms_ = until_ms;
  At(std::max(until_ms, loop_.now()), [this] { DrainStorage(); });
}

void SimEnv::DrainStorage() {
  if (worker_ == nullptr) return;
  if (loop_.now() < storage_stalled_until_ms_) {
    At(storage_stalled_until_ms_, [this] { DrainStorage(); });
    return;
  }
  worker_->RunQueued();
}

void SimEnv::DropQueuedStorage() {
  if (worker_ != nullptr) worker_->DiscardQueued();
  worker_ = nullptr;
}

}  // namespace dynkv::sim
