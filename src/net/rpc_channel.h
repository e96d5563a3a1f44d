// RpcChannel: many requests in flight on one framed connection, answered in
// any order (DESIGN.md: Wire protocol). The client library and the peer
// transport are both this, with their own message types.
//
// A channel is one connection's life: idle -> connecting -> connected, then
// down (the connect failed or the connection was lost; every call fails at
// once with the reason) or closed (by its owner). It never reconnects;
// whoever wants that makes a new channel (see peer_client.h).
//
// Requests live in `pending_`, keyed by id; ids come from a counter, so
// every id is new on this connection. `deadlines_` orders the same requests
// by deadline, so one timer armed for the first entry serves all of them,
// whatever timeout each call asked for. With the default timeout deadlines
// grow with ids and every insert lands at the end.
//
// Callbacks run user code that may call back into the channel, or destroy
// it. Each path that runs a callback either returns right after it, or
// checks `lifetime_` before touching the channel again; statuses handed to
// several callbacks live on the stack, never in the channel.
//
// Threads: the thread that runs the loop.
#pragma once

#include <uv.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "common/log.h"
#include "common/status.h"
#include "net/net.h"

namespace dynkv::net {

struct RpcChannelOptions {
  HostPort address;
  // Timeout of a call that names none, from Call() to its response.
  uint32_t call_timeout_ms = 5000;
  // How long Connect() may take before it fails with UNAVAILABLE.
  uint32_t connect_timeout_ms = 5000;
  // Largest response frame accepted.
  size_t max_frame_bytes = 64u << 20;
  // A client context: the channel speaks TLS to address.host. Null: plaintext.
  std::shared_ptr<const TlsContext> tls;
};

// Counters a channel adds to; several channels may share one.
struct RpcChannelStats {
  uint64_t requests_sent = 0;       // calls accepted (sent, or queued for the connection)
  uint64_t responses_received = 0;  // responses matched to a call
  uint64_t timeouts = 0;            // calls failed with TIMEOUT
  uint64_t bytes_sent = 0;          // frames written, headers included
  uint64_t bytes_received = 0;      // frames read, headers included
};

// Request and Response are protobuf messages with a uint64 `id` field.
template <typename Request, typename Response>
class RpcChannel final : private ConnectionHandler {
 public:
  using Callback = std::function<void(Result<Response>)>;
  // What a Response with id 0 -- the other side's word on the whole
  // connection, such as "your frame was too large" -- means: an error
  // fails every call in flight (the other side closes next); OK drops it.
  using ConnectionStatus = std::function<Status(const Response&)>;

  // REQUIRES: loop (and stats, when given) outlive the channel; call from
  // the loop's thread.
  RpcChannel(uv_loop_t* loop, RpcChannelOptions options, ConnectionStatus connection_status,
             RpcChannelStats* stats = nullptr)
      : loop_(loop),
        options_(std::move(options)),
        address_(options_.address.ToString()),
        connection_status_(std::move(connection_status)),
        stats_(stats != nullptr ? stats : &own_stats_),
        timer_(new uv_timer_t) {
    uv_timer_init(loop_, timer_);
    timer_->data = this;
  }

  // Close()s: outstanding calls get UNAVAILABLE.
  ~RpcChannel() override { Close(); }
  RpcChannel(const RpcChannel&) = delete;
  RpcChannel& operator=(const RpcChannel&) = delete;

  // Connects; done(OK) or the error (UNAVAILABLE naming the address, also
  // after connect_timeout_ms). Calls may be made before: they wait for it.
  void Connect(std::function<void(Status)> done) {
    if (state_ != State::kIdle) {
      return done(Status::InvalidArgument("Connect() was already called for " + address_));
    }
    state_ = State::kConnecting;
    connect_done_ = std::move(done);
    uv_update_time(loop_);
    connect_deadline_ms_ = uv_now(loop_) + options_.connect_timeout_ms;
    connecting_ = Connection::ConnectTo(loop_, options_.address, options_.max_frame_bytes, this,
                                        [this](Status status, std::unique_ptr<Connection> connection) {
                                          OnConnected(std::move(status), std::move(connection));
                                        },
                                        options_.tls);
    ArmTimer();
  }

  // Sends `request` with a fresh id. done gets the Response (which may
  // itself carry an error), or UNAVAILABLE / TIMEOUT. Exactly one callback
  // per call, also when the channel closes first; at once when it is down
  // or closed. timeout_ms 0: options.call_timeout_ms.
  void Call(Request request, Callback done, uint32_t timeout_ms = 0) {
    if (state_ == State::kClosed)
      return done(Status::Unavailable("the connection to " + address_ + " is closed"));
    if (state_ == State::kDown) return done(down_reason_);
    if (timeout_ms == 0) timeout_ms = options_.call_timeout_ms;
    const uint64_t id = next_id_++;
    request.set_id(id);
    // uv_now() is the time the loop last woke; a caller that computed for a
    // while since would otherwise get a deadline already in the past.
    uv_update_time(loop_);
    const uint64_t deadline_ms = uv_now(loop_) + timeout_ms;
    pending_.emplace_hint(pending_.end(), id, Pending{std::move(done), deadline_ms, timeout_ms});
    deadlines_.emplace_hint(deadlines_.end(), deadline_ms, id);
    ++stats_->requests_sent;
    if (state_ == State::kConnected) {
      connection_->Send(request);
      stats_->bytes_sent += kFrameHeaderBytes + static_cast<uint64_t>(request.GetCachedSize());
    } else {
      AppendFrame(&queued_, request);
    }
    if (deadlines_.begin()->second == id) ArmTimer();  // this call is due first
  }

  // Fails every outstanding call with UNAVAILABLE and closes the socket.
  // Idempotent.
  void Close() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    connecting_.Cancel();
    connection_.reset();  // closes the socket; no OnClose for a destroyed Connection
    uv_close(reinterpret_cast<uv_handle_t*>(timer_),
             [](uv_handle_t* handle) { delete reinterpret_cast<uv_timer_t*>(handle); });
    timer_ = nullptr;
    std::string().swap(queued_);
    Status closed = Status::Unavailable("the connection to " + address_ + " closed");
    std::weak_ptr<int> alive = lifetime_;
    ReportConnect(closed);
    if (alive.expired()) return;
    FailAll(closed);
  }

  // Called once if the connection is lost after it was up (the other side
  // closed or reset it, or sent bytes that do not parse), before the calls
  // in flight fail. Not called for Close().
  void SetOnLost(std::function<void(const Status&)> on_lost) { on_lost_ = std::move(on_lost); }

  // The connect failed or the connection was lost: calls fail at once.
  bool down() const { return state_ == State::kDown; }
  // Connect() was called and has not completed: calls wait for it.
  bool connecting() const { return state_ == State::kConnecting; }
  bool closed() const { return state_ == State::kClosed; }
  // Why the channel is down; OK while it is not.
  const Status& down_reason() const { return down_reason_; }
  size_t in_flight() const { return pending_.size(); }
  // Bytes not yet written: frames waiting for the connection, or for the
  // write in progress (they leave together in the next write).
  size_t buffered_bytes() const { return connection_ ? connection_->pending_write_bytes() : queued_.size(); }
  const RpcChannelStats& stats() const { return *stats_; }

 private:
  enum class State { kIdle, kConnecting, kConnected, kDown, kClosed };

  struct Pending {
    Callback done;
    uint64_t deadline_ms = 0;
    uint32_t timeout_ms = 0;
  };

  void OnConnected(Status status, std::unique_ptr<Connection> connected) {
    connecting_ = {};
    std::weak_ptr<int> alive = lifetime_;
    if (!status.ok()) {
      state_ = State::kDown;
      down_reason_ = status;
      ReportConnect(status);
      if (!alive.expired()) FailAll(status);
      return;
    }
    state_ = State::kConnected;
    connection_ = std::move(connected);
    connection_->StartReading();
    if (!queued_.empty()) {
      stats_->bytes_sent += queued_.size();
      connection_->SendRaw(queued_);
    }
    std::string().swap(queued_);
    ArmTimer();
    ReportConnect(Status::Ok());
  }

  void ReportConnect(const Status& status) {
    std::function<void(Status)> done = std::exchange(connect_done_, nullptr);
    if (done) done(status);
  }

  void OnFrame(Connection&, std::string_view payload) override {
    stats_->bytes_received += kFrameHeaderBytes + payload.size();
    Response response;
    if (!response.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      connection_->Close();
      return GoDown(Status::Internal("a response from " + address_ + " does not parse"));
    }
    if (response.id() == 0) {
      Status status = connection_status_(response);
      if (!status.ok()) return FailAll(status);
      DYNKV_LOG(kDebug) << "a response with id 0 and no error from " << address_ << " ignored";
      return;
    }
    auto it = pending_.find(response.id());
    if (it == pending_.end()) {
      // Its call timed out already, or the other side is confused.
      DYNKV_LOG(kDebug) << "response to unknown request " << response.id() << " from " << address_;
      return;
    }
    ++stats_->responses_received;
    Callback done = std::move(it->second.done);
    deadlines_.erase({it->second.deadline_ms, it->first});
    pending_.erase(it);
    StopTimerIfIdle();
    done(std::move(response));
  }

  void OnClose(Connection&, const Status& why) override {
    connection_.reset();
    if (state_ != State::kConnected) return;
    GoDown(why.ok() ? Status::Unavailable("the connection to " + address_ + " closed")
                    : why.WithContext("lost the connection to " + address_));
  }

  // The connection that was up is gone; nothing more comes from it.
  void GoDown(Status why) {
    state_ = State::kDown;
    down_reason_ = why;
    if (on_lost_) {
      std::weak_ptr<int> alive = lifetime_;
      std::function<void(const Status&)> on_lost = on_lost_;  // survives the channel
      on_lost(why);
      if (alive.expired()) return;
    }
    FailAll(why);
  }

  void FailAll(const Status& why) {
    std::map<uint64_t, Pending> failing;
    failing.swap(pending_);
    deadlines_.clear();
    StopTimerIfIdle();
    for (auto& [id, call] : failing) call.done(why);
  }

  void ArmTimer() {
    if (timer_ == nullptr) return;
    std::optional<uint64_t> due;
    if (!deadlines_.empty()) due = deadlines_.begin()->first;
    if (state_ == State::kConnecting)
      due = std::min(due.value_or(connect_deadline_ms_), connect_deadline_ms_);
    if (!due) {
      uv_timer_stop(timer_);
      return;
    }
    const uint64_t now = uv_now(loop_);
    uv_timer_start(timer_, &RpcChannel::OnTimer, *due > now ? *due - now : 0, 0);
  }

  // A timer left armed for an answered call is harmless (OnTimer re-arms),
  // so it is stopped only when nothing is left to wait for.
  void StopTimerIfIdle() {
    if (timer_ != nullptr && pending_.empty() && state_ != State::kConnecting) uv_timer_stop(timer_);
  }

  static void OnTimer(uv_timer_t* timer) {
    auto* self = static_cast<RpcChannel*>(timer->data);
    std::weak_ptr<int> alive = self->lifetime_;
    const uint64_t now = uv_now(self->loop_);
    if (self->state_ == State::kConnecting && self->connect_deadline_ms_ <= now) {
      self->connecting_.Cancel();
      self->OnConnected(Status::Unavailable("cannot connect to " + self->address_ + ": no answer within " +
                                            std::to_string(self->options_.connect_timeout_ms) + " ms"),
                        nullptr);
      if (alive.expired()) return;
    }
    while (!self->deadlines_.empty() && self->deadlines_.begin()->first <= now) {
      auto it = self->pending_.find(self->deadlines_.begin()->second);
      self->deadlines_.erase(self->deadlines_.begin());
      Pending call = std::move(it->second);
      self->pending_.erase(it);
      ++self->stats_->timeouts;
      call.done(Status::Timeout("no answer from " + self->address_ + " within " +
                                std::to_string(call.timeout_ms) + " ms"));
      if (alive.expired()) return;
    }
    self->ArmTimer();
  }

  uv_loop_t* loop_;
  RpcChannelOptions options_;
  std::string address_;  // options_.address as text, for messages
  ConnectionStatus connection_status_;
  RpcChannelStats own_stats_;
  RpcChannelStats* stats_;  // own_stats_ or the owner's
  uv_timer_t* timer_;       // null once closed; freed in its close callback
  State state_ = State::kIdle;
  Status down_reason_;
  PendingConnect connecting_;
  std::function<void(Status)> connect_done_;
  uint64_t connect_deadline_ms_ = 0;
  std::function<void(const Status&)> on_lost_;
  std::unique_ptr<Connection> connection_;
  std::string queued_;  // frames of calls made before the connection was up
  std::map<uint64_t, Pending> pending_;
  std::set<std::pair<uint64_t, uint64_t>> deadlines_;  // (deadline_ms, id) of every pending call
  uint64_t next_id_ = 1;
  // Expires when the channel is destroyed; see the file comment.
  std::shared_ptr<int> lifetime_ = std::make_shared<int>(0);
};

}  // namespace dynkv::net
