#include "node/services.h"

#include <memory>
#include <utility>

#include "common/log.h"

namespace dynkv::node {

namespace {

constexpr size_t kReapBatchRecords = 1000;

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

// Peer requests go to the replica service (replication), the handoff driver
// (hint batches), the transfer driver (range streams) or the membership (gossip).
class NodeServices::PeerDispatch final : public net::PeerRequestHandler {
 public:
  PeerDispatch(quorum::ReplicaService& replicas, handoff::HandoffDriver& handoff,
               handoff::TransferDriver& transfers, antientropy::AntiEntropyDriver& anti_entropy,
               Membership& membership)
      : replicas_(replicas),
        handoff_(handoff),
        transfers_(transfers),
        anti_entropy_(anti_entropy),
        membership_(membership) {}
  void Handle(const peer::PeerRequest& request, Reply reply) override {
    if (replicas_.Handle(request, reply) || handoff_.Handle(request, reply) ||
        transfers_.Handle(request, reply) || anti_entropy_.Handle(request, reply) ||
        membership_.Handle(request, reply)) {
      return;
    }
    reply(net::PeerErrorResponse(Status::InvalidArgument("unknown peer operation")));
  }

 private:
  quorum::ReplicaService& replicas_;
  handoff::HandoffDriver& handoff_;
  handoff::TransferDriver& transfers_;
  antientropy::AntiEntropyDriver& anti_entropy_;
  Membership& membership_;
};

// The failure detector's verdicts re-plan the requests waiting on a peer
// (quorum/coordinator.h: gray failures).
class NodeServices::DownListener final : public gossip::MembershipListener {
 public:
  explicit DownListener(quorum::Coordinator& coordinator) : coordinator_(coordinator) {}
  void OnDown(const std::string& node_id) override { coordinator_.OnPeerDown(node_id); }
  void OnLeave(const std::string& node_id) override { coordinator_.OnPeerDown(node_id); }

 private:
  quorum::Coordinator& coordinator_;
};

// The status a node starts with: a change of its own under way goes on.
gossip::NodeStatus StartStatus(const Identity& identity) {
  if (identity.tokens.empty() || identity.movement == "join") return gossip::NodeStatus::kJoining;
  if (identity.movement == "replace") return gossip::NodeStatus::kReplacing;
  if (identity.movement == "leave") return gossip::NodeStatus::kLeaving;
  return gossip::NodeStatus::kNormal;
}

NodeServices::NodeServices(const Config& config, Env& env) : config_(config), env_(env) {}

Result<std::unique_ptr<NodeServices>> NodeServices::Open(const Config& config, Env& env) {
  std::unique_ptr<NodeServices> services(new NodeServices(config, env));
  DYNKV_RETURN_IF_ERROR(services->OpenStorage());
  DYNKV_RETURN_IF_ERROR(services->OpenMembership());
  services->OpenServing();
  return services;
}

NodeServices::~NodeServices() {
  StopDrivers();
  StopStorage();
}

// A node with no other seeds has nobody to learn a ring from.
bool NodeServices::IsAlone() const {
  for (const net::HostPort& seed : config_.seeds) {
    const std::string address = seed.ToString();
    if (address != config_.peer_address.ToString() && address != config_.AdvertisedPeer().ToString()) return false;
  }
  return true;
}

Status NodeServices::OpenStorage() {
  auto engine = storage::OpenLevelDbEngine(config_.storage);
  if (!engine.ok()) return engine.status();
  engine_ = std::move(*engine);
  auto identity =
      LoadOrCreateIdentity(*engine_, config_.node_id, config_.data_dir, env_.clock().NowMs(), env_.Random());
  if (!identity.ok()) return identity.status();
  identity_ = std::move(*identity);
  if (identity_.tokens.empty() && IsAlone()) {
    // First start of a node that names no other seed: nobody else can own
    // part of the ring yet, so it is a cluster of one, takes its tokens now
    // and serves at once.
    first_start_alone_ = true;
    auto tokens = ring::AllocateTokens(ring::Ring(), config_.node_id, config_.membership.vnodes);
    if (!tokens.ok()) return tokens.status();
    DYNKV_RETURN_IF_ERROR(StoreTokens(*engine_, *tokens));
    identity_.tokens = std::move(*tokens);
  }
  keeper_ = std::make_unique<antientropy::TreeKeeper>(config_.data_dir + "/antientropy.tree");
  if (Status loaded = keeper_->Load(); !loaded.ok() && loaded.code() != Code::kNotFound) {
    DYNKV_LOG(kWarn) << "anti-entropy tree checkpoint not used (the tree is rebuilt): " << loaded.ToString();
  }
  engine_->set_change_observer(keeper_.get());
  worker_ = env_.StartStorage(*engine_);
  const auto mode = config_.replication.last_write_wins ? quorum::ConflictMode::kLastWriteWins
                                                        : quorum::ConflictMode::kSiblings;
  replica_ = std::make_unique<quorum::LocalReplica>(
      *worker_, env_.clock(), identity_.actor,
      quorum::ReplicaLimits{config_.limits.max_siblings, config_.limits.max_object_bytes}, mode,
      [node_id = config_.node_id](storage::Engine& engine, uint64_t random) {
        return RenewEpoch(engine, node_id, random);
      },
      std::make_shared<quorum::MintCounter>(identity_.mint_lease, [engine = engine_.get()](uint64_t lease) {
        return StoreMintLease(*engine, lease);
      }));
  return Status::Ok();
}

MembershipOptions MembershipOptionsFor(const Config& config, const Identity& identity, bool alone_at_first) {
  const MembershipConfig& m = config.membership;
  MembershipOptions options;
  gossip::LocalNode& self = options.driver.self;
  self.node_id = config.node_id;
  self.generation = identity.generation;
  self.client_address = config.AdvertisedClient().ToString();
  self.peer_address = config.AdvertisedPeer().ToString();
  self.tokens = identity.tokens;
  self.datacenter = m.datacenter;
  self.rack = m.rack;
  self.replication_digest = ring::ReplicationDigest(config.replication.n, config.replication.datacenters);
  // A node that already owns tokens rejoins as it was.
  self.status = StartStatus(identity);
  gossip::GossipOptions& gossip = options.driver.gossip;
  gossip.cluster_name = m.cluster_name;
  gossip.interval_ms = m.gossip_interval_ms;
  gossip.failure_detector.phi_threshold = m.phi_threshold;
  gossip.forget_left_ms = m.forget_left_ms;
  gossip.max_digests = m.max_digests;
  for (const net::HostPort& seed : config.seeds) {
    // The node's own listen.peer among the seeds, when it advertises
    // another: itself, which the gossiper knows by the advertised one.
    if (config.advertise_peer && seed.ToString() == config.peer_address.ToString()) continue;
    gossip.seeds.push_back(seed.ToString());
  }
  options.ring.vnodes = m.vnodes;
  options.ring.replication_n = config.replication.n;
  options.ring.datacenters = config.replication.datacenters;
  // Serving at once is safe only for a node that cannot have peers yet: no
  // seeds at all, or its first start with only itself as seed. Restarted, a
  // node whose seeds name only itself may have had peers and has forgotten
  // their tokens: serving now would use a ring of its own tokens alone (N=1;
  // found by the chaos run's rolling restart), so it waits to hear them.
  if (config.seeds.empty() || alone_at_first) options.ring.join_delay_rounds = 0;
  options.replication_n = config.replication.n;
  return options;
}

Status NodeServices::OpenMembership() {
  MembershipOptions options = MembershipOptionsFor(config_, identity_, first_start_alone_);
  // The movement record goes first: a node that dies between the two
  // writes restarts joining, never NORMAL on ranges it never received.
  auto persist = [this](const std::vector<uint64_t>& tokens, const gossip::MovementRecord& movement,
                        std::function<void(Status)> done) {
    worker_->Run([this, tokens, movement, done = std::move(done)](storage::Engine& engine) {
      Status status = StoreMovement(engine, movement);
      if (status.ok()) status = StoreTokens(engine, tokens);
      env_.Post([done, status] { done(status); });
    });
  };
  auto persist_movement = [this](const gossip::MovementRecord& movement, std::function<void(Status)> done) {
    worker_->Run([this, movement, done = std::move(done)](storage::Engine& engine) {
      Status status = StoreMovement(engine, movement);
      env_.Post([done, status] { done(status); });
    });
  };
  auto membership =
      Membership::Create(env_, std::move(options), std::move(persist), std::move(persist_movement));
  if (!membership.ok()) return membership.status();
  membership_ = std::move(*membership);
  return Status::Ok();
}

void NodeServices::OpenServing() {
  handoff_ =
      std::make_unique<handoff::HandoffDriver>(env_, *worker_, *replica_, *membership_, config_.handoff,
                                               config_.node_id);
  membership_->SetBeforeLeave([this](std::function<void()> go) { handoff_->HandOverAll(std::move(go)); });
  membership_->AddListener(handoff_.get());
  handoff::TransferOptions transfer_options;
  transfer_options.max_bytes_per_sec = config_.handoff.stream_max_bytes_per_sec;
  transfer_options.transfer_limit = config_.handoff.transfer_limit;
  transfer_options.cleanup_delay_ms = std::max<int64_t>(transfer_options.cleanup_delay_ms, 2 * config_.request_timeout_ms);
  transfers_ = std::make_unique<handoff::TransferDriver>(env_, *worker_, *replica_, *membership_, transfer_options);
  membership_->SetTransfers(transfers_.get());
  quorum::CoordinatorOptions coordinator_options;
  coordinator_options.self_id = config_.node_id;
  coordinator_options.datacenter = config_.membership.datacenter;
  coordinator_options.n = config_.replication.n;
  coordinator_options.default_r = config_.replication.r;
  coordinator_options.default_w = config_.replication.w;
  coordinator_options.sloppy_quorum = config_.replication.sloppy_quorum;
  coordinator_options.hinted_writes_count = config_.replication.hinted_writes_count;
  coordinator_options.default_timeout_ms = config_.request_timeout_ms;
  coordinator_options.latency.failover_min_ms = config_.replication.failover_min_ms;
  coordinator_options.latency.failover_max_ms = config_.replication.failover_max_ms;
  coordinator_options.latency.max_pending_per_peer = config_.replication.max_pending_per_peer;
  coordinator_ =
      std::make_unique<quorum::Coordinator>(env_, *replica_, *membership_, *handoff_, coordinator_options);
  down_listener_ = std::make_unique<DownListener>(*coordinator_);
  membership_->AddListener(down_listener_.get());
  replica_service_ = std::make_unique<quorum::ReplicaService>(*replica_, *handoff_);

  api::ServiceOptions service_options;
  service_options.node_id = config_.node_id;
  service_options.version = kVersion;
  service_options.max_key_bytes = config_.limits.max_key_bytes;
  service_options.max_value_bytes = config_.limits.max_value_bytes;
  service_options.max_pending_requests = config_.limits.max_pending_requests;
  service_options.default_timeout_ms = config_.request_timeout_ms;
  service_ = std::make_unique<api::ClientService>(*coordinator_, *engine_, env_, service_options);
  service_->SetClusterAdmin(membership_.get());
  service_->AddStatsSource([this](std::map<std::string, double>* values) { membership_->FillStats(values); });
  service_->AddStatsSource([this](std::map<std::string, double>* values) { handoff_->FillStats(values); });
  service_->AddStatsSource([this](std::map<std::string, double>* values) { transfers_->FillStats(values); });
  OpenAntiEntropy();
  peer_dispatch_ =
      std::make_unique<PeerDispatch>(*replica_service_, *handoff_, *transfers_, *anti_entropy_, *membership_);
}

void NodeServices::OpenAntiEntropy() {
  antientropy::AntiEntropyOptions options;
  options.interval_ms = config_.anti_entropy.interval_ms;
  options.max_bytes_per_sec = config_.anti_entropy.max_bytes_per_sec;
  options.rebuild_interval_ms = config_.anti_entropy.rebuild_interval_ms;
  options.propagation_delay_ms = config_.handoff.hint_window_ms;
  options.exchange.request_timeout_ms = std::max<uint32_t>(config_.request_timeout_ms, 10'000);
  options.self_id = config_.node_id;
  anti_entropy_ = std::make_unique<antientropy::AntiEntropyDriver>(env_, *worker_, *keeper_, *replica_,
                                                                  *membership_, options);
  service_->AddStatsSource([this](std::map<std::string, double>* values) { anti_entropy_->FillStats(values); });
  // What a node receives when the ring changes is compared with the other replicas.
  transfers_->SetCompare([this](const std::string& peer, std::vector<handoff::TransferDriver::Range> ranges,
                                std::function<void(Status)> done) {
    std::vector<antientropy::RingRange> rings;
    for (const auto& [start, end] : ranges) rings.push_back({start, end});
    anti_entropy_->CompareNow(peer, rings, std::move(done));
  });
  service_->SetRepair([this](bool start, dynkv::client::RepairResponse* out) {
    if (start) anti_entropy_->StartRepair();
    anti_entropy_->FillRepair(out);
  });
}

net::PeerRequestHandler& NodeServices::peer_handler() { return *peer_dispatch_; }

void NodeServices::SetOnStop(std::function<void()> on_stop) { membership_->SetOnStop(std::move(on_stop)); }

Status NodeServices::Start() {
  DYNKV_RETURN_IF_ERROR(handoff_->Start());
  DYNKV_RETURN_IF_ERROR(transfers_->Start());
  DYNKV_RETURN_IF_ERROR(anti_entropy_->Start());
  DYNKV_RETURN_IF_ERROR(membership_->Start());
  StartReap();
  return Status::Ok();
}

std::string NodeServices::NotServingReason() const {
  if (!membership_->Ready()) return "not ready: it has not heard the cluster yet (started moments ago)";
  switch (membership_->gossiper().self().status) {
    case gossip::NodeStatus::kNormal:
      return "";
    case gossip::NodeStatus::kJoining:
      return "joining: its ranges are streaming in (dynkv transfers)";
    case gossip::NodeStatus::kReplacing:
      return "joining (replacing): its ranges are streaming back in (dynkv transfers)";
    case gossip::NodeStatus::kLeaving:
      return "leaving: its ranges are moving to other nodes";
    default:
      return "left the cluster";
  }
}

void NodeServices::StartReap() {
  auto on_reap = [this] {
    storage::StorageWorker* worker = worker_.get();
    auto cursor = std::make_shared<std::string>();  // touched only on the worker thread
    const int64_t now = env_.clock().NowMs();
    // With anti-entropy on, a tombstone goes once every replica peer has
    // exchanged with this node since it was written (docs/OPERATIONS.md).
    const int64_t grace = config_.anti_entropy.interval_ms > 0
                              ? std::max<int64_t>(0, now - anti_entropy_->TombstoneSafeBefore())
                              : config_.tombstone_grace_ms;
    worker->Run([worker, cursor, now, grace](storage::Engine& engine) {
      ReapBatch(worker, cursor, now, grace, engine);
    });
  };
  auto reap = env_.StartTimer(config_.reap_interval_ms, config_.reap_interval_ms, std::move(on_reap));
  if (!reap.ok()) {
    DYNKV_LOG(kWarn) << "expiry scans disabled: " << reap.status().ToString();
    return;
  }
  reap_timer_ = std::move(*reap);
}

void NodeServices::StopDrivers() {
  if (drivers_stopped_) return;
  drivers_stopped_ = true;
  if (membership_) membership_->Stop();
  if (handoff_) handoff_->Stop();
  if (transfers_) transfers_->Stop();
  if (anti_entropy_) anti_entropy_->Stop();
  reap_timer_.reset();
}

void NodeServices::StopStorage(bool checkpoint) {
  if (!worker_) return;
  if (checkpoint && keeper_) {
    // Queued last, so the tree it saves holds every write before it.
    worker_->Run([keeper = keeper_.get()](storage::Engine&) {
      if (Status saved = keeper->Save(); !saved.ok())
        DYNKV_LOG(kWarn) << "anti-entropy tree not saved (the next start rebuilds it): " << saved.ToString();
    });
  }
  worker_->Stop();
}

}  // namespace dynkv::node
