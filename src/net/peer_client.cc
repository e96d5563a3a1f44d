#include "net/peer_client.h"

#include <algorithm>
#include <utility>

namespace dynkv::net {
namespace {

constexpr int64_t kFirstConnectPatienceMs = 1000;

Status ConnectionStatus(const peer::PeerResponse& response) {
  return response.has_error() ? StatusFromPeerError(response.error()) : Status::Ok();
}

// A PeerError answer is the call's failure; callers check one Status.
PeerClient::Channel::Callback Unwrapping(PeerPool::Callback done) {
  return [done = std::move(done)](Result<peer::PeerResponse> result) {
    if (result.ok() && result->has_error()) return done(StatusFromPeerError(result->error()));
    done(std::move(result));
  };
}

}  // namespace

PeerClient::PeerClient(uv_loop_t* loop, std::string address, HostPort host_port,
                       const PeerPoolOptions& options, const Clock& clock, const PeerPool::UnitRandom& random,
                       PeerEvents* events, PeerStats& stats)
    : loop_(loop),
      address_(std::move(address)),
      clock_(clock),
      random_(random),
      events_(events),
      stats_(stats),
      backoff_(options.backoff),
      max_timeouts_in_a_row_(options.max_timeouts_in_a_row),
      stale_connect_ms_(options.stale_connect_ms) {
  channel_options_.address = std::move(host_port);
  channel_options_.address.source_host = options.source_host;
  channel_options_.call_timeout_ms = options.call_timeout_ms;
  channel_options_.connect_timeout_ms = options.connect_timeout_ms;
  channel_options_.max_frame_bytes = options.max_frame_bytes;
  channel_options_.tls = options.tls;
}

PeerClient::~PeerClient() { Close(); }

void PeerClient::Call(peer::PeerRequest request, PeerPool::Callback done, uint32_t timeout_ms,
                      CallMode mode) {
  if (closed_) return done(Status::Unavailable("the connection to " + address_ + " is closed"));
  const int64_t now = clock_.MonotonicMs();
  const bool probe = mode == CallMode::kProbe;
  if (channel_ == nullptr || channel_->down()) {
    if (!probe && channel_ != nullptr && now < retry_at_ms_) {
      ++stats_.failed_fast;
      return done(channel_->down_reason().WithContext(address_ + " is unreachable; next attempt in " +
                                                      std::to_string(retry_at_ms_ - now) + " ms"));
    }
    StartAttempt();
  } else if (probe && ConnectIsStale(now)) {
    ++stats_.stale_connects_replaced;
    StartAttempt();  // the calls waiting on the old connect fail with UNAVAILABLE
  }
  // The count comes first: `done` may destroy this client.
  auto counted = [this, attempt = attempts_, done = std::move(done)](Result<peer::PeerResponse> result) {
    if (!closed_) CountOutcome(attempt, result.status());
    done(std::move(result));
  };
  channel_->Call(std::move(request), Unwrapping(std::move(counted)), timeout_ms);
}

void PeerClient::CountOutcome(uint64_t attempt, const Status& status) {
  if (attempt != attempts_ || max_timeouts_in_a_row_ == 0) return;  // an older channel's call
  if (status.code() != Code::kTimeout) {
    timeouts_in_a_row_ = 0;
    return;
  }
  if (++timeouts_in_a_row_ < max_timeouts_in_a_row_ || channel_ == nullptr || channel_->down()) return;
  // The channel may be running this very callback; its lifetime guard lets
  // it be destroyed. Its other calls fail with UNAVAILABLE.
  ++stats_.connections_reset;
  timeouts_in_a_row_ = 0;
  retry_at_ms_ = clock_.MonotonicMs();
  std::unique_ptr<Channel> stale = std::move(channel_);
  stale.reset();
}

void PeerClient::Close() {
  if (closed_) return;
  closed_ = true;
  // Its callbacks may destroy this client: nothing after this line.
  std::unique_ptr<Channel> closing = std::move(channel_);
  closing.reset();
}

bool PeerClient::ConnectIsStale(int64_t now) const {
  if (channel_ == nullptr || !channel_->connecting()) return false;
  // A far peer's connects take longer; one never reached gets a second,
  // when TCP would resend its first SYN anyway.
  const int64_t patience = last_connect_ms_ < 0 ? kFirstConnectPatienceMs : 4 * last_connect_ms_;
  return now - attempt_started_ms_ >= std::max<int64_t>(stale_connect_ms_, patience);
}

// Replaces a channel that is down, or whose connect a probe gave up on.
// That channel may be running the very callback that called here; its
// lifetime guard lets it be destroyed.
void PeerClient::StartAttempt() {
  timeouts_in_a_row_ = 0;
  attempt_started_ms_ = clock_.MonotonicMs();
  channel_ = std::make_unique<Channel>(loop_, channel_options_, &ConnectionStatus, &stats_.traffic);
  channel_->SetOnLost([this](const Status& why) { OnLost(why); });
  ++stats_.connect_attempts;
  ++attempts_;
  channel_->Connect([this](Status status) { OnConnect(status); });
}

void PeerClient::OnConnect(const Status& status) {
  if (closed_) return;  // the channel was closed by Close()
  if (status.ok()) {
    ++stats_.connects;
    if (attempts_ > 1) ++stats_.reconnects;
    last_connect_ms_ = clock_.MonotonicMs() - attempt_started_ms_;
    backoff_.Reset();
    if (events_ != nullptr) events_->OnPeerReachable(address_);
    return;
  }
  ++stats_.connect_failures;
  retry_at_ms_ = clock_.MonotonicMs() + static_cast<int64_t>(backoff_.NextDelayMs(random_()));
  if (events_ != nullptr) events_->OnPeerUnreachable(address_, status);
}

void PeerClient::OnLost(const Status& why) {
  ++stats_.connections_lost;
  retry_at_ms_ = clock_.MonotonicMs();
  // A refused TLS handshake is a connect that failed, not a lost
  // connection: retrying at once would knock on the peer with every call.
  if (why.code() == Code::kUnauthenticated) {
    retry_at_ms_ += static_cast<int64_t>(backoff_.NextDelayMs(random_()));
  }
  if (events_ != nullptr) events_->OnPeerUnreachable(address_, why);
}

}  // namespace dynkv::net
