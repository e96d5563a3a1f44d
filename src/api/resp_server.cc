#include "api/resp_server.h"

#include <algorithm>
#include <deque>
#include <unordered_map>
#include <utility>

#include "api/resp.h"

namespace dynkv::api {

// One connection: what it sent and has not run yet, and a reply slot per
// command run, in the order they came; a slot is sent once it and all
// before it are filled.
struct RespServer::Session {
  struct Slot {
    bool ready = false;
    std::string bytes;
  };
  explicit Session(RespLimits limits) : parser(limits) {}

  std::unique_ptr<net::Connection> connection;
  RespParser parser;
  RespClient client;  // its id, and the role AUTH established
  std::deque<Slot> slots;
  uint64_t first_slot = 0;  // the number of slots sent and popped
  uint32_t in_flight = 0;
  std::vector<std::string> blocked;  // the next command, parsed, when it waits
  std::unordered_map<std::string, uint32_t> busy_keys;  // keys of the commands in flight
  bool pumping = false;
  bool waiting = false;  // in the server's queue for the budget
  bool closing = false;  // replying no more: QUIT, a protocol error, or closed
  // For the guard: commands parsed, and whether the parser holds part of one.
  uint64_t parsed = 0;
  bool partial = false;
  std::optional<net::ConnectionGuard> guard;
  bool paused() const { return guard && guard->paused(); }
};

RespServer::RespServer(uv_loop_t* loop, RespCommands& commands, RespServerOptions options)
    : loop_(loop), commands_(commands), options_(options) {}

RespServer::~RespServer() { Shutdown(); }

Status RespServer::Listen(const net::HostPort& address) {
  auto listener = net::Listener::Listen(loop_, address, [this](uv_tcp_t* accepted) { Accept(accepted); });
  if (!listener.ok()) return listener.status().WithContext("listen.resp");
  listener_ = std::move(*listener);
  return Status::Ok();
}

void RespServer::Shutdown() {
  if (listener_) listener_->Close();
  for (auto& [connection, session] : sessions_) {
    session->closing = true;
    Flush(*session);  // closes once the commands in flight are answered
  }
}

uint16_t RespServer::port() const { return listener_ ? listener_->port() : 0; }

void RespServer::GuardConnections(const net::ConnectionLimits& limits, const Clock& clock) {
  limits_ = limits;
  clock_ = &clock;
  for (auto& [connection, session] : sessions_) session->guard.emplace(clock.MonotonicMs());
  sweep_ = std::make_unique<net::SweepTimer>(loop_, net::SweepTimer::kDefaultIntervalMs, [this] {
    const int64_t now = clock_->MonotonicMs();
    // A copy: a resumed connection runs commands, whose replies may come at once.
    std::vector<std::shared_ptr<Session>> sessions;
    for (auto& [connection, session] : sessions_) sessions.push_back(session);
    for (const auto& session : sessions) Sweep(session, now);
  });
}

void RespServer::Sweep(const std::shared_ptr<Session>& session, int64_t now_ms) {
  if (session->closing && session->slots.empty()) return;  // closed, or closing after its last reply
  const net::Connection& c = *session->connection;
  const size_t partial = session->partial ? session->parser.buffered() : 0;
  const size_t unanswered = session->slots.size() + (session->blocked.empty() ? 0 : 1);
  const net::ConnectionSample sample{c.pending_write_bytes(), partial, session->parsed, c.bytes_received(),
                                     unanswered};
  const net::GuardVerdict verdict = session->guard->Check(sample, now_ms, limits_);
  Enforce(*session, verdict);
  if (verdict != net::GuardVerdict::kResume) return;
  session->connection->StartReading();
  Pump(session);
}

void RespServer::Enforce(Session& session, net::GuardVerdict verdict) {
  net::Enforce(verdict, *session.connection, "resp", limits_, &guard_stats_);
  switch (verdict) {
    case net::GuardVerdict::kCloseSlowReader:
    case net::GuardVerdict::kClosePartialFrame:
    case net::GuardVerdict::kCloseIdle:
      session.closing = true;
      break;
    default:
      break;
  }
}

void RespServer::FillStats(std::map<std::string, double>* values) const {
  auto& v = *values;
  v["resp.connections_open"] = static_cast<double>(sessions_.size());
  v["resp.connections_refused"] = static_cast<double>(refused_);
  v["resp.commands"] = static_cast<double>(commands_run_);
  v["resp.protocol_errors"] = static_cast<double>(protocol_errors_);
  v["resp.keys_in_flight"] = static_cast<double>(keys_in_flight_);
  v["resp.budget_waits"] = static_cast<double>(budget_waits_);
  guard_stats_.Fill("resp.", values);
}

void RespServer::Accept(uv_tcp_t* accepted) {
  RespLimits limits;
  limits.max_bulk_bytes = options_.max_bulk_bytes;
  auto session = std::make_shared<Session>(limits);
  session->connection = net::Connection::Adopt(accepted, 64 << 10, this, net::Framing::kRaw, options_.tls);
  session->client.id = next_client_id_++;
  net::Connection* raw = session->connection.get();
  sessions_[raw] = session;
  if (clock_ != nullptr) session->guard.emplace(clock_->MonotonicMs());
  if (sessions_.size() > options_.max_connections) {
    ++refused_;
    session->connection->SendRaw("-ERR max number of clients reached\r\n");
    session->closing = true;
    session->connection->CloseAfterWrites();
    return;
  }
  raw->StartReading();
}

void RespServer::OnFrame(net::Connection& connection, std::string_view bytes) {
  auto it = sessions_.find(&connection);
  if (it == sessions_.end() || it->second->closing) return;
  std::shared_ptr<Session> session = it->second;
  session->parser.Append(bytes);
  Pump(session);
  if (!session->closing && session->parser.buffered() > options_.max_buffered_bytes) {
    Fail(*session, "Protocol error: more than " + std::to_string(options_.max_buffered_bytes >> 20) +
                       " MiB sent without reading the replies");
  }
}

void RespServer::Pump(const std::shared_ptr<Session>& session) {
  if (session->pumping) return;  // a reply that came at once: the loop below goes on
  session->pumping = true;
  // A paused connection (its replies go unread) starts nothing new.
  while (!session->closing && !session->paused() && session->in_flight < options_.max_commands_in_flight) {
    if (session->blocked.empty()) {
      Result<bool> next = session->parser.Next(&session->blocked);
      if (!next.ok()) {
        ++protocol_errors_;
        Fail(*session, next.status().message());
        break;
      }
      session->partial = !*next && session->parser.buffered() > 0;
      if (!*next) break;
      ++session->parsed;
    }
    // A command on a key that an earlier one of this connection still
    // reads or writes waits for it, and the commands after it wait too.
    std::vector<std::string> keys = RespCommands::KeysOf(session->blocked);
    if (std::any_of(keys.begin(), keys.end(), [&](const std::string& key) { return session->busy_keys.count(key); })) {
      break;
    }
    // The node's budget: past it, or while others wait, the connection
    // waits its turn.
    const uint32_t cost = static_cast<uint32_t>(std::max<size_t>(keys.size(), 1));
    if (MustWait(*session, cost)) {
      if (!std::exchange(session->waiting, true)) {
        waiting_.push_back(session);
        ++budget_waits_;
      }
      break;
    }
    std::vector<std::string> args = std::move(session->blocked);
    session->blocked.clear();
    Start(session, args, std::move(keys), cost);
    // A reply that came at once goes out now, so that the guard sees the
    // output grow and can pause this loop: commands answered from the cache
    // never count as in flight.
    Flush(*session);
  }
  session->pumping = false;
  Flush(*session);
}

void RespServer::Start(const std::shared_ptr<Session>& session, const std::vector<std::string>& args,
                       std::vector<std::string> keys, uint32_t cost) {
  ++commands_run_;
  keys_in_flight_ += cost;
  const uint64_t slot = session->first_slot + session->slots.size();
  session->slots.emplace_back();
  ++session->in_flight;
  for (const std::string& key : keys) ++session->busy_keys[key];
  if (RespCommands::IsQuit(args)) session->closing = true;
  std::weak_ptr<Session> weak = session;
  commands_.Run(args, session->client, [this, weak, slot, cost, keys = std::move(keys)](std::string reply) {
    keys_in_flight_ -= cost;
    std::shared_ptr<Session> s = weak.lock();
    if (!s) return WakeWaiting();  // the connection is gone
    for (const std::string& key : keys) {
      auto it = s->busy_keys.find(key);
      if (--it->second == 0) s->busy_keys.erase(it);
    }
    Session::Slot& filled = s->slots[slot - s->first_slot];
    filled.ready = true;
    filled.bytes = std::move(reply);
    --s->in_flight;
    if (!s->pumping) {  // else the loop in Pump goes on
      Flush(*s);
      Pump(s);
    }
    WakeWaiting();
  });
}

bool RespServer::MustWait(const Session& session, uint32_t cost) const {
  if (keys_in_flight_ == 0) return false;  // there is always room for one command
  if (keys_in_flight_ + cost > options_.max_keys_in_flight) return true;
  return !waiting_.empty() && &session != waking_;  // those waiting go first
}

void RespServer::WakeWaiting() {
  if (waking_ != nullptr) return;  // a reply that came at once: the loop below goes on
  while (!waiting_.empty()) {
    std::shared_ptr<Session> session = waiting_.front().lock();
    waiting_.pop_front();
    if (!session) continue;
    session->waiting = false;
    waking_ = session.get();
    Pump(session);
    waking_ = nullptr;
    if (session->waiting) {  // its next command does not fit yet: it keeps the head of the line
      auto entry = std::find_if(waiting_.rbegin(), waiting_.rend(),
                                [&](const std::weak_ptr<Session>& w) { return w.lock() == session; });
      waiting_.erase(std::next(entry).base());
      waiting_.push_front(session);
      break;
    }
  }
}

void RespServer::Flush(Session& session) {
  while (!session.slots.empty() && session.slots.front().ready) {
    session.connection->SendRaw(session.slots.front().bytes);
    session.slots.pop_front();
    ++session.first_slot;
  }
  if (session.closing && session.slots.empty()) return session.connection->CloseAfterWrites();
  const size_t output = session.connection->pending_write_bytes();
  if (session.guard && output > limits_.max_output_bytes) {
    Enforce(session, session.guard->AfterOutput(output, clock_->MonotonicMs(), limits_));
  }
}

void RespServer::Fail(Session& session, std::string_view error) {
  Session::Slot slot;
  slot.ready = true;
  RespError(&slot.bytes, "ERR " + std::string(error));
  session.slots.push_back(std::move(slot));
  session.closing = true;
  Flush(session);
}

void RespServer::OnPlaintextRefused(net::Connection& connection) {
  connection.SendRaw("-ERR this port requires TLS (redis-cli --tls --cacert CA_FILE)\r\n");
}

void RespServer::OnClose(net::Connection& connection, const Status&) {
  auto it = sessions_.find(&connection);
  if (it == sessions_.end()) return;
  it->second->closing = true;
  sessions_.erase(it);
}

}  // namespace dynkv::api
