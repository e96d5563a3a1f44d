// AsyncClient: many requests in flight on one connection.
//
// Requests live in `pending`, keyed by id. Ids come from a counter and every
// request gets the same timeout, so deadlines grow with ids: the first
// entry always has the earliest deadline, and one timer armed for it is
// enough for all of them.
//
// Callbacks run user code that may call back into the client, or destroy
// it. Each path that runs a callback either returns right after it, or
// checks `lifetime` before touching the client again.
#include <algorithm>
#include <map>
#include <optional>

#include "client/client.h"
#include "common/log.h"

namespace dynkv::client {

struct AsyncClient::Impl : net::ConnectionHandler {
  // kDown: the connection failed or was lost; calls fail with down_reason.
  enum class State { kIdle, kConnecting, kConnected, kDown, kClosed };

  struct Pending {
    Callback done;
    uint64_t deadline_ms = 0;
  };

  Impl(uv_loop_t* loop, Options options) : loop(loop), options(std::move(options)), timer(new uv_timer_t) {
    uv_timer_init(loop, timer);
    timer->data = this;
  }

  ~Impl() override { Close(); }

  std::string address() const { return options.node.ToString(); }

  void Connect(std::function<void(Status)> done) {
    if (state != State::kIdle) {
      return done(Status::InvalidArgument("Connect() was already called for " + address()));
    }
    state = State::kConnecting;
    connect_done = std::move(done);
    uv_update_time(loop);
    connect_deadline_ms = uv_now(loop) + options.timeout_ms;
    connecting =
        net::Connection::ConnectTo(loop, options.node, options.max_frame_bytes, this,
                                   [this](Status status, std::unique_ptr<net::Connection> connection) {
                                     OnConnected(std::move(status), std::move(connection));
                                   });
    ArmTimer();
  }

  void Call(Request request, Callback done) {
    if (state == State::kClosed) {
      return done(Status::Unavailable("the client for " + address() + " is closed"));
    }
    if (state == State::kDown) return done(down_reason);
    uint64_t id = next_id++;
    request.set_id(id);
    // uv_now() is the time the loop last woke; a caller that computed for a
    // while since would otherwise get a deadline already in the past.
    uv_update_time(loop);
    pending.emplace_hint(pending.end(), id, Pending{std::move(done), uv_now(loop) + options.timeout_ms});
    if (state == State::kConnected) {
      connection->Send(request);
    } else {
      net::AppendFrame(&queued, request);
    }
    if (!uv_is_active(reinterpret_cast<uv_handle_t*>(timer))) ArmTimer();
  }

  void Close() {
    if (state == State::kClosed) return;
    state = State::kClosed;
    connecting.Cancel();
    connection.reset();  // closes the socket; no OnClose for a destroyed Connection
    uv_close(reinterpret_cast<uv_handle_t*>(timer),
             [](uv_handle_t* handle) { delete reinterpret_cast<uv_timer_t*>(handle); });
    timer = nullptr;
    std::string().swap(queued);
    Status closed = Status::Unavailable("the client for " + address() + " closed");
    std::weak_ptr<int> alive = lifetime;
    ReportConnect(closed);
    if (alive.expired()) return;
    FailAll(closed);
  }

  void OnConnected(Status status, std::unique_ptr<net::Connection> connected) {
    connecting = {};
    std::weak_ptr<int> alive = lifetime;
    if (!status.ok()) {
      state = State::kDown;
      down_reason = status;
      ReportConnect(status);
      if (!alive.expired()) FailAll(status);
      return;
    }
    state = State::kConnected;
    connection = std::move(connected);
    connection->StartReading();
    if (!queued.empty()) connection->SendRaw(queued);
    std::string().swap(queued);
    ArmTimer();
    ReportConnect(Status::Ok());
  }

  void ReportConnect(const Status& status) {
    std::function<void(Status)> done = std::exchange(connect_done, nullptr);
    if (done) done(status);
  }

  void OnFrame(net::Connection&, std::string_view payload) override {
    Response response;
    if (!response.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      return Lose(Status::Internal("a response from " + address() + " does not parse"));
    }
    if (response.id() == 0) {
      // The node's word on the whole connection (say, a frame over its
      // limit); it closes the connection next.
      if (response.has_error()) return FailAll(StatusFromError(response.error()));
      DYNKV_LOG(kDebug) << "response with id 0 and no error from " << address() << " ignored";
      return;
    }
    auto it = pending.find(response.id());
    if (it == pending.end()) {
      // Its request timed out already, or the node is confused.
      DYNKV_LOG(kDebug) << "response to unknown request " << response.id() << " from " << address();
      return;
    }
    Callback done = std::move(it->second.done);
    pending.erase(it);
    if (pending.empty()) StopTimerIfIdle();
    done(std::move(response));
  }

  void OnClose(net::Connection&, const Status& why) override {
    connection.reset();
    if (state != State::kConnected) return;
    Status lost = why.ok() ? Status::Unavailable("the connection to " + address() + " closed")
                           : why.WithContext("lost the connection to " + address());
    state = State::kDown;
    down_reason = lost;
    FailAll(lost);
  }

  // A broken stream: nothing more from it can be trusted.
  void Lose(Status why) {
    state = State::kDown;
    down_reason = why;
    connection->Close();
    FailAll(why);
  }

  void FailAll(const Status& why) {
    std::map<uint64_t, Pending> failing;
    failing.swap(pending);
    StopTimerIfIdle();
    for (auto& [id, request] : failing) request.done(why);
  }

  void ArmTimer() {
    if (timer == nullptr) return;
    std::optional<uint64_t> due;
    if (!pending.empty()) due = pending.begin()->second.deadline_ms;
    if (state == State::kConnecting) due = std::min(due.value_or(connect_deadline_ms), connect_deadline_ms);
    if (!due) {
      uv_timer_stop(timer);
      return;
    }
    uint64_t now = uv_now(loop);
    uv_timer_start(timer, &Impl::OnTimer, *due > now ? *due - now : 0, 0);
  }

  void StopTimerIfIdle() {
    if (timer != nullptr && pending.empty() && state != State::kConnecting) uv_timer_stop(timer);
  }

  static void OnTimer(uv_timer_t* timer) {
    auto* self = static_cast<Impl*>(timer->data);
    std::weak_ptr<int> alive = self->lifetime;
    uint64_t now = uv_now(self->loop);
    if (self->state == State::kConnecting && self->connect_deadline_ms <= now) {
      self->connecting.Cancel();
      self->OnConnected(Status::Unavailable("cannot connect to " + self->address() + ": no answer within " +
                                            std::to_string(self->options.timeout_ms) + " ms"),
                        nullptr);
      if (alive.expired()) return;
    }
    Status timeout = Status::Timeout("no answer from " + self->address() + " within " +
                                     std::to_string(self->options.timeout_ms) + " ms");
    while (!self->pending.empty() && self->pending.begin()->second.deadline_ms <= now) {
      Callback done = std::move(self->pending.begin()->second.done);
      self->pending.erase(self->pending.begin());
      done(timeout);
      if (alive.expired()) return;
    }
    self->ArmTimer();
  }

  uv_loop_t* loop;
  Options options;
  uv_timer_t* timer;  // null once closed; freed in its close callback
  State state = State::kIdle;
  Status down_reason;
  net::PendingConnect connecting;
  std::function<void(Status)> connect_done;
  uint64_t connect_deadline_ms = 0;
  std::unique_ptr<net::Connection> connection;
  std::string queued;  // frames of calls made before the connection was up
  std::map<uint64_t, Pending> pending;
  uint64_t next_id = 1;
  // Expires when the client is destroyed; see the file comment.
  std::shared_ptr<int> lifetime = std::make_shared<int>(0);
};

AsyncClient::AsyncClient(uv_loop_t* loop, Options options)
    : impl_(std::make_unique<Impl>(loop, std::move(options))) {}

AsyncClient::~AsyncClient() = default;

void AsyncClient::Connect(std::function<void(Status)> done) { impl_->Connect(std::move(done)); }

void AsyncClient::Call(Request request, Callback done) { impl_->Call(std::move(request), std::move(done)); }

void AsyncClient::Close() { impl_->Close(); }

size_t AsyncClient::in_flight() const { return impl_->pending.size(); }

}  // namespace dynkv::client
