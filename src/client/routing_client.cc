// RoutingClient (routing_client.h): the ring, the nodes believed down, and
// a lazily made AsyncClient per node address.
#include "client/routing_client.h"

#include <algorithm>
#include <map>
#include <optional>
#include <unordered_set>

#include "common/key_hash.h"
#include "ring/ring.h"

namespace dynkv::client {
namespace {

constexpr uint64_t kMinRefreshMs = 1000;  // between refreshes an error asks for
constexpr uint64_t kTickMs = 250;         // how often the timer looks at the clock
constexpr uint64_t kDownBackoffMs = 500;
constexpr uint64_t kDownBackoffMaxMs = 8000;

// The key a request is for; empty for requests that name none (a batch
// names many: it goes where a request with no key goes).
std::string_view KeyOf(const Request& request) {
  switch (request.op_case()) {
    case Request::kGet:
      return request.get().key();
    case Request::kPut:
      return request.put().key();
    case Request::kDelete:
      return request.delete_().key();
    default:
      return {};
  }
}

// Whether a request sent on a connection that then failed may be sent
// again: it cannot have changed anything.
bool RetrySafe(const Request& request) {
  switch (request.op_case()) {
    case Request::kGet:
    case Request::kBatchGet:
    case Request::kPing:
    case Request::kStats:
    case Request::kMembers:
    case Request::kRing:
    case Request::kTransfers:
      return true;
    default:
      return false;
  }
}

// A node listening on a wildcard advertises it verbatim: nobody can
// connect there, so it counts as no address.
std::string Usable(const std::string& address) {
  Result<net::HostPort> parsed = net::ParseHostPort(address);
  if (!parsed.ok() || parsed->host == "0.0.0.0" || parsed->host == "::") return "";
  return address;
}

}  // namespace

struct RoutingClient::Impl {
  struct Down {
    uint64_t until_ms = 0;
    uint32_t failures = 0;
  };
  // A connection to one node.
  struct Link {
    std::unique_ptr<AsyncClient> client;
    std::shared_ptr<bool> connected;  // whether it ever connected
  };
  // One request between Call and its callback.
  struct Pending {
    Request request;
    bool retry_safe = false;  // RetrySafe(request)
    std::vector<std::string> candidates;
    bool widened = false;  // the ring's other nodes added to the candidates
    size_t next = 0;       // index of the next candidate to send to
    AsyncClient::Callback done;
  };

  Impl(uv_loop_t* loop, RoutingOptions options) : loop(loop), options(std::move(options)) {
    for (const net::HostPort& node : this->options.nodes) contacts.push_back(node.ToString());
    timer = new uv_timer_t;
    uv_timer_init(loop, timer);
    timer->data = this;
    uv_timer_start(timer, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->Tick(); }, kTickMs, kTickMs);
    uv_unref(reinterpret_cast<uv_handle_t*>(timer));  // the requests keep the loop alive, not the timer
  }

  ~Impl() { Close(); }

  uint64_t Now() const { return uv_now(loop); }

  void Close() {
    if (closed) return;
    closed = true;
    uv_timer_stop(timer);
    uv_close(reinterpret_cast<uv_handle_t*>(timer), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    std::map<std::string, Link> open = std::move(connections);
    for (auto& [address, link] : open) link.client->Close();  // their calls fail now, while we still exist
    retired.clear();
  }

  void Tick() {
    retired.clear();  // failed connections, never destroyed inside their own callbacks
    if (options.routing && Now() >= ring_due_ms && !refreshing) RefreshRing(nullptr);
  }

  // ---- Candidates and connections ------------------------------------------

  bool IsDown(const std::string& address) const {
    auto it = down.find(address);
    return it != down.end() && it->second.until_ms > Now();
  }

  // The addresses to try for `key` first, best first: its replicas in
  // preference order, then the contact nodes; each once, those believed up
  // before those believed down. A few, whatever the cluster's size.
  std::vector<std::string> Candidates(std::string_view key) const {
    std::vector<std::string> ordered;
    if (ring != nullptr && !key.empty()) {
      for (const ring::Replica& replica : ring->PreferenceList(KeyPosition(key), n)) {
        auto it = addresses.find(replica.node_id);
        if (it != addresses.end()) ordered.push_back(it->second);
      }
    }
    ordered.insert(ordered.end(), contacts.begin(), contacts.end());
    return UpFirst(ordered, {});
  }

  // For a request that ran out of candidates: the ring's other nodes.
  std::vector<std::string> Others(const std::vector<std::string>& tried) const {
    std::vector<std::string> ordered;
    for (const auto& [node_id, address] : addresses) ordered.push_back(address);
    return UpFirst(ordered, tried);
  }

  // `ordered` without empty addresses, repeats and those in `skip`; the
  // ones believed up first.
  std::vector<std::string> UpFirst(const std::vector<std::string>& ordered,
                                   const std::vector<std::string>& skip) const {
    std::unordered_set<std::string_view> seen(skip.begin(), skip.end());
    std::vector<std::string> up, down_now;
    for (const std::string& address : ordered) {
      if (address.empty() || !seen.insert(address).second) continue;
      (IsDown(address) ? down_now : up).push_back(address);
    }
    up.insert(up.end(), std::make_move_iterator(down_now.begin()), std::make_move_iterator(down_now.end()));
    return up;
  }

  Link& Connection(const std::string& address) {
    Link& link = connections[address];
    // Lost with no call on it: the node closed it while it sat unused (an
    // idle timeout) or went away. Not evidence either way: a new one says.
    if (link.client != nullptr && link.client->down() && link.client->in_flight() == 0) {
      retired.push_back(std::move(link.client));
    }
    if (link.client == nullptr) {
      Options client_options;
      client_options.node = *net::ParseHostPort(address);  // Candidates holds parsed addresses only
      client_options.timeout_ms = options.timeout_ms;
      client_options.max_frame_bytes = options.max_frame_bytes;
      client_options.tls = options.tls;
      client_options.token = options.token;
      link.client = std::make_unique<AsyncClient>(loop, client_options);
      link.connected = std::make_shared<bool>(false);
      AsyncClient* client = link.client.get();
      link.client->Connect([this, address, client, connected = link.connected](Status status) {
        *connected = status.ok();
        if (status.ok()) {
          down.erase(address);
        } else {
          Failed(address, client);
        }
      });
    }
    return link;
  }

  // A connection to `address` failed: it goes (the next request makes a
  // new one) and the node is believed down for a while.
  void Failed(const std::string& address, AsyncClient* client) {
    auto it = connections.find(address);
    if (it == connections.end() || it->second.client.get() != client) return;  // counted already
    retired.push_back(std::move(it->second.client));
    connections.erase(it);
    Down& d = down[address];
    d.failures = std::min<uint32_t>(d.failures + 1, 16);
    d.until_ms = Now() + std::min(kDownBackoffMaxMs, kDownBackoffMs << (d.failures - 1));
    RingMayHaveChanged();
  }

  // ---- Sending ---------------------------------------------------------------

  void Send(std::shared_ptr<Pending> pending) {
    if (closed) return pending->done(Status::Unavailable("the client is closed"));
    const std::string address = pending->candidates[pending->next++];
    Link& link = Connection(address);
    AsyncClient* client = link.client.get();
    // A copy when the request may go on to the next node.
    const bool may_retry = pending->retry_safe || !*link.connected;
    Request request = may_retry ? pending->request : std::move(pending->request);
    client->Call(std::move(request), [this, pending, address, client, connected = link.connected](
                                       Result<Response> answer) {
      if (closed) return pending->done(std::move(answer));
      if (!answer.ok() && answer.status().code() == Code::kUnavailable) {
        Failed(address, client);
        // Never connected: the request was never sent.
        const bool retry = pending->retry_safe || !*connected;
        if (retry && pending->next == pending->candidates.size() && !pending->widened) {
          std::vector<std::string> more = Others(pending->candidates);
          pending->candidates.insert(pending->candidates.end(), more.begin(), more.end());
          pending->widened = true;
        }
        if (retry && pending->next < pending->candidates.size()) return Send(pending);
      }
      if (answer.ok() && answer->has_error() && answer->error().code() == UNAVAILABLE) RingMayHaveChanged();
      pending->done(std::move(answer));
    });
  }

  void Call(Request request, AsyncClient::Callback done) {
    auto pending = std::make_shared<Pending>();
    pending->candidates = Candidates(KeyOf(request));
    pending->retry_safe = RetrySafe(request);
    pending->request = std::move(request);
    pending->done = std::move(done);
    Send(std::move(pending));
  }

  // ---- The ring ----------------------------------------------------------------

  void RingMayHaveChanged() { ring_due_ms = std::min(ring_due_ms, ring_fetched_ms + kMinRefreshMs); }

  void RefreshRing(std::function<void(Status)> done) {
    refreshing = true;
    Request request;
    request.mutable_ring();
    Call(std::move(request), [this, done = std::move(done)](Result<Response> answer) {
      refreshing = false;
      Status status = answer.ok() ? (answer->has_error() ? StatusFromError(answer->error()) : Status::Ok())
                                  : answer.status();
      if (status.ok() && !answer->has_ring()) status = Status::Internal("the node answered a RingRequest wrongly");
      if (status.ok()) {
        Adopt(answer->ring());
        ring_fetched_ms = Now();
        ring_due_ms = ring_fetched_ms + options.ring_refresh_ms;
      } else {
        ring_due_ms = Now() + kMinRefreshMs;  // keep the ring we have and try again soon
      }
      if (done) done(status);
    });
  }

  void Adopt(const RingResponse& response) {
    ring::TokenMap tokens;
    ring::Topology topology;
    topology.datacenters.insert(response.datacenters().begin(), response.datacenters().end());
    std::map<std::string, std::string> fresh;
    for (const RingShare& share : response.shares()) {
      tokens[share.node_id()].assign(share.positions().begin(), share.positions().end());
      topology.locations[share.node_id()] = ring::Location{share.datacenter(), share.rack()};
      std::string address = Usable(share.client_address());
      if (!address.empty()) fresh[share.node_id()] = std::move(address);
    }
    auto built = std::make_shared<const ring::Ring>(tokens, topology);
    ring = built->empty() || response.n() == 0 ? nullptr : std::move(built);
    n = response.n();
    addresses = std::move(fresh);
  }

  uv_loop_t* loop;
  RoutingOptions options;
  std::vector<std::string> contacts;
  std::map<std::string, Link> connections;  // by address
  std::vector<std::unique_ptr<AsyncClient>> retired;
  std::map<std::string, Down> down;  // by address
  std::shared_ptr<const ring::Ring> ring;
  size_t n = 0;
  std::map<std::string, std::string> addresses;  // node id -> client address
  uint64_t ring_fetched_ms = 0;
  uint64_t ring_due_ms = 0;
  bool refreshing = false;
  bool closed = false;
  uv_timer_t* timer = nullptr;
};

RoutingClient::RoutingClient(uv_loop_t* loop, RoutingOptions options)
    : impl_(std::make_unique<Impl>(loop, std::move(options))) {}

RoutingClient::~RoutingClient() = default;

void RoutingClient::Start(std::function<void(Status)> done) {
  if (impl_->options.routing) return impl_->RefreshRing(std::move(done));
  impl_->Call(MakePing(), [done = std::move(done)](Result<Response> answer) {
    if (!answer.ok()) return done(answer.status());
    done(answer->has_error() ? StatusFromError(answer->error()) : Status::Ok());
  });
}

void RoutingClient::Call(Request request, AsyncClient::Callback done) {
  impl_->Call(std::move(request), std::move(done));
}

void RoutingClient::Close() { impl_->Close(); }

size_t RoutingClient::in_flight() const {
  size_t total = 0;
  for (const auto& [address, link] : impl_->connections) total += link.client->in_flight();
  return total;
}

std::string RoutingClient::RouteOf(std::string_view key) const { return impl_->Candidates(key).front(); }

size_t RoutingClient::ring_nodes() const { return impl_->ring == nullptr ? 0 : impl_->ring->nodes().size(); }

}  // namespace dynkv::client
