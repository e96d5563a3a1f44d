#include "node/uv_env.h"

#include <utility>

#include "common/log.h"
#include "storage/storage.h"

namespace dynkv::node {

namespace {

// One uv_timer_t and its callback, on the heap: the handle must outlive its
// owner until libuv's close callback, which frees it (STYLE.md: one owner
// per handle, memory freed only in the close callback).
struct TimerHandle {
  uv_timer_t timer{};
  std::function<void()> fn;
};

class UvTimer final : public Timer {
 public:
  explicit UvTimer(TimerHandle* handle) : handle_(handle) {}
  ~UvTimer() override {
    uv_timer_stop(&handle_->timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_->timer),
             [](uv_handle_t* h) { delete static_cast<TimerHandle*>(h->data); });
  }

 private:
  TimerHandle* handle_;
};

}  // namespace

// Defer's calls and the uv_prepare that runs them.
struct UvEnv::TurnEnd {
  uv_prepare_t prepare{};
  std::vector<std::function<void()>> calls;

  static void Run(uv_prepare_t* prepare) {
    auto* self = static_cast<TurnEnd*>(prepare->data);
    while (!self->calls.empty()) {
      std::vector<std::function<void()>> calls = std::move(self->calls);
      self->calls.clear();
      for (auto& call : calls) call();
    }
    uv_prepare_stop(prepare);
  }
};

UvEnv::UvEnv(uv_loop_t* loop, const Clock& clock, CompletionQueue& completions,
             net::PeerPoolOptions pool_options)
    : loop_(loop),
      clock_(clock),
      completions_(completions),
      pool_(loop, std::move(pool_options), clock, nullptr, this),
      random_(std::random_device()()),
      turn_end_(new TurnEnd) {
  uv_prepare_init(loop_, &turn_end_->prepare);  // cannot fail
  turn_end_->prepare.data = turn_end_;
  uv_unref(reinterpret_cast<uv_handle_t*>(&turn_end_->prepare));
}

UvEnv::~UvEnv() {
  pool_.Close();
  uv_prepare_stop(&turn_end_->prepare);
  uv_close(reinterpret_cast<uv_handle_t*>(&turn_end_->prepare),
           [](uv_handle_t* h) { delete static_cast<TurnEnd*>(h->data); });
}

void UvEnv::Defer(std::function<void()> fn) {
  turn_end_->calls.push_back(std::move(fn));
  uv_prepare_start(&turn_end_->prepare, &TurnEnd::Run);  // no-op when started
}

Result<std::unique_ptr<Timer>> UvEnv::StartTimer(int64_t delay_ms, int64_t repeat_ms,
                                                 std::function<void()> fn) {
  auto* handle = new TimerHandle;
  handle->fn = std::move(fn);
  handle->timer.data = handle;
  const int rc = uv_timer_init(loop_, &handle->timer);
  if (rc != 0) {
    delete handle;  // never initialized: nothing to close
    return Status::Internal(std::string("uv_timer_init: ") + uv_strerror(rc));
  }
  auto timer = std::make_unique<UvTimer>(handle);
  const int started = uv_timer_start(
      &handle->timer, [](uv_timer_t* t) { static_cast<TimerHandle*>(t->data)->fn(); },
      static_cast<uint64_t>(std::max<int64_t>(delay_ms, 0)),
      static_cast<uint64_t>(std::max<int64_t>(repeat_ms, 0)));
  if (started != 0) return Status::Internal(std::string("uv_timer_start: ") + uv_strerror(started));
  // A timer alone does not keep the node running: at shutdown the loop ends
  // once the connections have closed, whatever deadlines are still armed.
  uv_unref(reinterpret_cast<uv_handle_t*>(&handle->timer));
  return std::unique_ptr<Timer>(std::move(timer));
}

void UvEnv::CallPeer(const std::string& address, peer::PeerRequest request, uint32_t timeout_ms,
                     PeerCallback done) {
  // Gossip's SYN is how a node finds out that a peer it believes down is
  // back (gossiper.cc: ChooseTargets): it probes.
  const net::CallMode mode = request.has_gossip_syn() ? net::CallMode::kProbe : net::CallMode::kNormal;
  pool_.Call(address, std::move(request), std::move(done), timeout_ms, mode);
}

std::unique_ptr<storage::StorageWorker> UvEnv::StartStorage(storage::Engine& engine) {
  return std::make_unique<storage::StorageWorker>(
      engine, [this](std::function<void()> fn) { completions_.Post(std::move(fn)); },
      [this](std::function<void()> fn) { Defer(std::move(fn)); });
}

void UvEnv::OnPeerUnreachable(const std::string& address, const Status& why) {
  DYNKV_LOG(kDebug) << "peer " << address << " unreachable: " << why.ToString();
  if (unreachable_) unreachable_(address);
}

void UvEnv::FillStats(std::map<std::string, double>* values) const {
  const net::PeerStats& p = pool_.stats();
  auto& v = *values;
  v["peer.requests_sent"] = static_cast<double>(p.traffic.requests_sent);
  v["peer.timeouts"] = static_cast<double>(p.traffic.timeouts);
  v["peer.connects"] = static_cast<double>(p.connects);
  v["peer.connect_failures"] = static_cast<double>(p.connect_failures);
  v["peer.connections_lost"] = static_cast<double>(p.connections_lost);
  v["peer.connections_reset"] = static_cast<double>(p.connections_reset);
  v["peer.stale_connects_replaced"] = static_cast<double>(p.stale_connects_replaced);
}

}  // namespace dynkv::node
