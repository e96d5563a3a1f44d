#include "node/node.h"

#include <memory>
#include <utility>

#include "common/log.h"
#include "node/identity.h"

namespace dynkv::node {

namespace {

constexpr uint64_t kSweepIntervalMs = 50;
constexpr size_t kReapBatchRecords = 1000;

Status UvStatus(const char* what, int rc) {
  return rc == 0 ? Status::Ok() : Status::Internal(std::string(what) + ": " + uv_strerror(rc));
}

uv_handle_t* AsHandle(void* handle) { return static_cast<uv_handle_t*>(handle); }

void CloseHandle(void* handle) {
  if (!uv_is_closing(AsHandle(handle))) uv_close(AsHandle(handle), nullptr);
}

}  // namespace

// Peer requests go to the coordinator (replication) or the membership (gossip).
class Node::PeerDispatch final : public net::PeerRequestHandler {
 public:
  PeerDispatch(Coordinator& coordinator, Membership& membership)
      : coordinator_(coordinator), membership_(membership) {}
  void Handle(const peer::PeerRequest& request, Reply reply) override {
    if (!coordinator_.HandlePeer(request, reply)) membership_.Handle(request, std::move(reply));
  }

 private:
  Coordinator& coordinator_;
  Membership& membership_;
};

Node::Node(Config config) : config_(std::move(config)) {}

Result<std::unique_ptr<Node>> Node::Start(const Config& config) {
  std::unique_ptr<Node> node(new Node(config));
  Status status = node->Open();
  if (!status.ok()) return status;
  return node;
}

Status Node::Open() {
  DYNKV_RETURN_IF_ERROR(UvStatus("uv_loop_init", uv_loop_init(&loop_)));
  loop_open_ = true;
  DYNKV_RETURN_IF_ERROR(completions_.Open(&loop_));
  auto identity = OpenStorage();
  if (!identity.ok()) return identity.status();
  DYNKV_RETURN_IF_ERROR(OpenMembership(*identity));
  DYNKV_RETURN_IF_ERROR(OpenServing());
  DYNKV_RETURN_IF_ERROR(StartTimersAndSignals());
  DYNKV_LOG(kInfo) << "node " << config_.node_id << " (actor " << identity->actor << ") serving clients on "
                   << config_.client_address.ToString() << ", peers on " << config_.peer_address.ToString()
                   << ", data in " << config_.data_dir;
  return Status::Ok();
}

// A node with no other seeds has nobody to learn a ring from: it takes its
// tokens now, before it serves, so that its first request finds a ring.
bool Node::IsAlone() const {
  for (const net::HostPort& seed : config_.seeds) {
    if (seed.ToString() != config_.peer_address.ToString()) return false;
  }
  return true;
}

Result<Identity> Node::OpenStorage() {
  auto engine = storage::OpenLevelDbEngine(config_.storage);
  if (!engine.ok()) return engine.status();
  engine_ = std::move(*engine);
  auto identity = LoadOrCreateIdentity(*engine_, config_.node_id, config_.data_dir, clock_.NowMs());
  if (!identity.ok()) return identity.status();
  if (identity->tokens.empty() && IsAlone()) {
    // First start of a node that names no other seed: nobody else can own
    // part of the ring yet, so it is a cluster of one and serves at once.
    first_start_alone_ = true;
    auto tokens = ring::AllocateTokens(ring::Ring(), config_.node_id, config_.membership.vnodes);
    if (!tokens.ok()) return tokens.status();
    DYNKV_RETURN_IF_ERROR(StoreTokens(*engine_, *tokens));
    identity->tokens = std::move(*tokens);
  }
  worker_ = std::make_unique<storage::StorageWorker>(
      *engine_, [this](std::function<void()> fn) { completions_.Post(std::move(fn)); });
  const auto mode = config_.replication.last_write_wins ? quorum::ConflictMode::kLastWriteWins
                                                        : quorum::ConflictMode::kSiblings;
  replica_ = std::make_unique<quorum::LocalReplica>(
      *worker_, clock_, identity->actor,
      quorum::ReplicaLimits{config_.limits.max_siblings, config_.limits.max_object_bytes}, mode);
  return identity;
}

Status Node::OpenServing() {
  handoff_ = std::make_unique<HandoffDriver>(
      &loop_, clock_, *worker_, [this](std::function<void()> fn) { completions_.Post(std::move(fn)); },
      *peer_pool_, *membership_, config_.handoff);
  membership_->AddListener(handoff_.get());
  CoordinatorOptions coordinator_options;
  coordinator_options.self_id = config_.node_id;
  coordinator_options.n = config_.replication.n;
  coordinator_options.default_r = config_.replication.r;
  coordinator_options.default_w = config_.replication.w;
  coordinator_options.sloppy_quorum = config_.replication.sloppy_quorum;
  coordinator_options.hinted_writes_count = config_.replication.hinted_writes_count;
  coordinator_options.default_timeout_ms = config_.request_timeout_ms;
  peer_caller_ = std::make_unique<PoolPeerCaller>(*peer_pool_, *membership_);
  coordinator_ = std::make_unique<Coordinator>(clock_, *replica_, *peer_caller_, *membership_, *handoff_,
                                               coordinator_options);

  ServiceOptions service_options;
  service_options.node_id = config_.node_id;
  service_options.version = kVersion;
  service_options.max_key_bytes = config_.limits.max_key_bytes;
  service_options.max_value_bytes = config_.limits.max_value_bytes;
  service_options.max_pending_requests = config_.limits.max_pending_requests;
  service_options.default_timeout_ms = config_.request_timeout_ms;
  service_ = std::make_unique<ClientService>(*coordinator_, *engine_, clock_, service_options);
  service_->SetClusterAdmin(membership_.get());
  service_->AddStatsSource([this](std::map<std::string, double>* values) { membership_->FillStats(values); });
  service_->AddStatsSource([this](std::map<std::string, double>* values) { handoff_->FillStats(values); });

  server_ = std::make_unique<ClientServer>(
      &loop_, *service_, ServerOptions{config_.limits.max_frame_bytes, config_.limits.max_connections});
  service_->AddStatsSource([this](std::map<std::string, double>* values) { server_->FillStats(values); });
  DYNKV_RETURN_IF_ERROR(server_->Listen(config_.client_address));

  peer_dispatch_ = std::make_unique<PeerDispatch>(*coordinator_, *membership_);
  net::PeerServerOptions peer_options;
  peer_options.max_frame_bytes = config_.limits.max_frame_bytes;
  peer_server_ = std::make_unique<net::PeerServer>(&loop_, *peer_dispatch_, peer_options);
  DYNKV_RETURN_IF_ERROR(peer_server_->Listen(config_.peer_address));
  DYNKV_RETURN_IF_ERROR(handoff_->Start());
  return membership_->Start();
}

Status Node::StartTimersAndSignals() {
  DYNKV_RETURN_IF_ERROR(UvStatus("uv_signal_init", uv_signal_init(&loop_, &sigterm_)));
  DYNKV_RETURN_IF_ERROR(UvStatus("uv_signal_init", uv_signal_init(&loop_, &sigint_)));
  sigterm_.data = sigint_.data = this;
  auto on_signal = [](uv_signal_t* handle, int signum) {
    DYNKV_LOG(kInfo) << "received signal " << signum << ", shutting down";
    static_cast<Node*>(handle->data)->BeginShutdown();
  };
  DYNKV_RETURN_IF_ERROR(UvStatus("uv_signal_start", uv_signal_start(&sigterm_, on_signal, SIGTERM)));
  DYNKV_RETURN_IF_ERROR(UvStatus("uv_signal_start", uv_signal_start(&sigint_, on_signal, SIGINT)));

  DYNKV_RETURN_IF_ERROR(UvStatus("uv_timer_init", uv_timer_init(&loop_, &sweep_timer_)));
  sweep_timer_.data = this;
  auto on_sweep = [](uv_timer_t* t) {
    Node* node = static_cast<Node*>(t->data);
    node->coordinator_->ExpireOverdue();
    node->service_->ExpireOverdue();
  };
  DYNKV_RETURN_IF_ERROR(
      UvStatus("uv_timer_start", uv_timer_start(&sweep_timer_, on_sweep, kSweepIntervalMs, kSweepIntervalMs)));
  DYNKV_RETURN_IF_ERROR(UvStatus("uv_timer_init", uv_timer_init(&loop_, &reap_timer_)));
  reap_timer_.data = this;
  ScheduleReap();
  return Status::Ok();
}

namespace {

// One batch of an expiry pass; queues the next batch behind whatever client
// work arrived meanwhile, so a pass over a large store never stalls requests.
void ReapBatch(storage::StorageWorker* worker, std::shared_ptr<std::string> cursor, int64_t now_ms,
               int64_t grace_ms, storage::Engine& engine) {
  Status status = engine.Reap(cursor.get(), kReapBatchRecords, now_ms, grace_ms);
  if (!status.ok()) {
    DYNKV_LOG(kWarn) << "expiry pass stopped: " << status.ToString();
    return;
  }
  if (cursor->empty()) return;  // the pass is complete
  worker->Run([worker, cursor, now_ms, grace_ms](storage::Engine& e) {
    ReapBatch(worker, cursor, now_ms, grace_ms, e);
  });
}

}  // namespace

Status Node::OpenMembership(const Identity& identity) {
  const MembershipConfig& m = config_.membership;
  net::PeerPoolOptions pool_options;
  pool_options.local_node_id = config_.node_id;
  pool_options.max_frame_bytes = config_.limits.max_frame_bytes;
  pool_options.source_host = config_.peer_address.host;
  peer_pool_ = std::make_unique<net::PeerPool>(&loop_, pool_options, clock_, nullptr, nullptr);

  MembershipOptions options;
  options.self.node_id = config_.node_id;
  options.self.generation = identity.generation;
  options.self.client_address = config_.client_address.ToString();
  options.self.peer_address = config_.peer_address.ToString();
  options.self.tokens = identity.tokens;
  options.self.datacenter = m.datacenter;
  options.self.rack = m.rack;
  // A node that already owns tokens rejoins as it was.
  options.self.status = identity.tokens.empty() ? gossip::NodeStatus::kJoining : gossip::NodeStatus::kNormal;
  options.gossip.cluster_name = m.cluster_name;
  options.gossip.interval_ms = m.gossip_interval_ms;
  options.gossip.failure_detector.phi_threshold = m.phi_threshold;
  for (const net::HostPort& seed : config_.seeds) options.gossip.seeds.push_back(seed.ToString());
  options.vnodes = m.vnodes;
  // Serving at once is safe only for a node that cannot have peers yet: no
  // seeds at all, or its first start with only itself as seed. Restarted, a
  // node whose seeds name only itself may have had peers and has forgotten
  // their tokens: serving now would use a ring of its own tokens alone (N=1;
  // found by the chaos run's rolling restart), so it waits to hear them.
  if (config_.seeds.empty() || first_start_alone_) options.join_delay_rounds = 0;
  options.replication_n = config_.replication.n;
  auto persist = [this](const std::vector<uint64_t>& tokens, std::function<void(Status)> done) {
    worker_->Run([this, tokens, done = std::move(done)](storage::Engine& engine) {
      Status status = StoreTokens(engine, tokens);
      completions_.Post([done, status] { done(status); });
    });
  };
  auto membership = Membership::Create(&loop_, clock_, *peer_pool_, std::move(options), std::move(persist));
  if (!membership.ok()) return membership.status();
  membership_ = std::move(*membership);
  peer_pool_->SetEvents(membership_.get());
  membership_->SetOnStop([this] { BeginShutdown(); });
  return Status::Ok();
}

void Node::ScheduleReap() {
  const auto interval = static_cast<uint64_t>(config_.reap_interval_ms);
  auto on_reap = [](uv_timer_t* t) {
    Node* node = static_cast<Node*>(t->data);
    storage::StorageWorker* worker = node->worker_.get();
    auto cursor = std::make_shared<std::string>();  // touched only on the worker thread
    const int64_t now = node->clock_.NowMs();
    const int64_t grace = node->config_.tombstone_grace_ms;
    worker->Run([worker, cursor, now, grace](storage::Engine& engine) {
      ReapBatch(worker, cursor, now, grace, engine);
    });
  };
  Status status = UvStatus("uv_timer_start", uv_timer_start(&reap_timer_, on_reap, interval, interval));
  if (!status.ok()) DYNKV_LOG(kWarn) << "expiry scans disabled: " << status.ToString();
}

void Node::BeginShutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  // Finish what the storage thread holds and answer it, then let every
  // connection close after its last response.
  membership_->Stop();
  handoff_->Stop();
  peer_server_->Shutdown();
  peer_pool_->Close();
  worker_->Stop();
  completions_.Drain();
  server_->Shutdown();
  completions_.Close();
  CloseHandle(&sigterm_);
  CloseHandle(&sigint_);
  CloseHandle(&sweep_timer_);
  CloseHandle(&reap_timer_);
}

Status Node::Run() {
  uv_run(&loop_, UV_RUN_DEFAULT);
  const int rc = uv_loop_close(&loop_);
  loop_open_ = rc != 0;
  if (rc != 0) return Status::Internal(std::string("event loop did not close cleanly: ") + uv_strerror(rc));
  DYNKV_LOG(kInfo) << "node " << config_.node_id << " stopped";
  return Status::Ok();
}

Node::~Node() {
  if (loop_open_) {
    // Start() failed half-way, or Run() never ran: close what was opened.
    if (membership_) membership_->Stop();
    if (handoff_) handoff_->Stop();
    if (peer_server_) peer_server_->Shutdown();
    if (peer_pool_) peer_pool_->Close();
    if (worker_) worker_->Stop();
    if (server_) server_->Shutdown();
    completions_.Close();
    for (void* handle : {static_cast<void*>(&sigterm_), static_cast<void*>(&sigint_),
                         static_cast<void*>(&sweep_timer_), static_cast<void*>(&reap_timer_)}) {
      if (AsHandle(handle)->loop == &loop_) CloseHandle(handle);
    }
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }
}

}  // namespace dynkv::node
